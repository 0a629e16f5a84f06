"""Record each person's body motion to a BVH file (p0.bvh, p1.bvh, ...).

Crash safety, the point of this module:
- The header is written when the recorder opens, with `Frames:` followed by a
  fixed-width, space-padded count field ("Frames: 42        "): whitespace
  tokenising readers (Blender, PyPI `bvh`, bvhio) read it as 42, and the field
  can be rewritten in place without moving the frame lines.
- Frames wait in memory and reach the file at a flush (every `flush_every`
  frames, default one second of frames, and on close) as ONE `os.write` of
  whole lines, immediately followed by an in-place rewrite of the count. Plain
  file descriptors are used on purpose: a buffered Python file would spill
  partial lines to disk whenever its buffer fills.
- So a process killed between flushes leaves a file holding exactly the flushed
  frames, with a matching count. Only a kill landing between those two syscalls
  of one flush can leave more lines than `Frames:` says (readers then ignore the
  extra lines); `fsync=True` also protects against power loss, at a disk-latency
  cost per flush.

Poses are turned into channels at flush time, one vectorised batch per person,
so `send` on the emitter's thread stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dyad.models.pose import pose_to_bvh_channels, rest_pose
from dyad.models.skeleton import Skeleton, format_bvh_hierarchy
from dyad.runtime.frames import FrameBundle, Sink

FRAMES_FIELD_WIDTH = 10  # room for 9,999,999,999 frames (over 10 years at 30 fps)


def _write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    view = memoryview(data)
    while view:
        done = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[done:]
        offset = None if offset is None else offset + done


class _Track:
    """One person's file: header at open, frame lines appended at each flush."""

    def __init__(self, path: Path, head: str, tail: str, fsync: bool) -> None:
        self.path = path
        self.fsync = fsync
        self.count_offset = len(head.encode("utf-8"))
        self.frames = 0
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        _write_all(self.fd, (head + self._count_field() + tail).encode("utf-8"))

    def _count_field(self) -> str:
        return f"{self.frames:<{FRAMES_FIELD_WIDTH}d}"

    def append(self, lines: list[str]) -> None:
        _write_all(self.fd, ("\n".join(lines) + "\n").encode("utf-8"))
        self.frames += len(lines)
        _write_all(self.fd, self._count_field().encode("ascii"), offset=self.count_offset)
        if self.fsync:
            os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class BvhRecorder(Sink):
    """Sink that writes `p{person}.bvh` per person from `FrameBundle`s."""

    name = "bvh"
    is_recorder = True  # the session gives recorders a deep queue: a disk stall must not lose frames

    def __init__(
        self,
        out_dir: Path,
        skeleton: Skeleton,
        fps: int,
        people: int = 2,
        flush_every: int | None = None,
        fsync: bool = False,
        decimals: int = 6,
    ) -> None:
        if fps <= 0 or people <= 0:
            raise ValueError(f"BvhRecorder needs fps > 0 and people > 0 (got fps={fps}, people={people})")
        self.skeleton = skeleton
        self.fps = int(fps)
        self.people = int(people)
        self.flush_every = max(1, int(flush_every if flush_every is not None else fps))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.paths = tuple(out_dir / f"p{i}.bvh" for i in range(self.people))
        head = format_bvh_hierarchy(skeleton) + "MOTION\nFrames: "
        tail = f"\nFrame Time: {1.0 / self.fps:.10f}\n"
        self._tracks = [_Track(path, head, tail, fsync) for path in self.paths]
        self._row_format = " ".join([f"%.{decimals}f"] * skeleton.channel_count)
        root, rotations = rest_pose(skeleton)
        # A person missing from a bundle holds their last pose (rest until the first one).
        self._last = [(root, rotations)] * self.people
        self._pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(self.people)]
        self.frames = 0  # frames received
        self._closed = False

    @property
    def flushed_frames(self) -> int:
        return self._tracks[0].frames

    def send(self, bundle: FrameBundle) -> None:
        if self._closed:
            raise RuntimeError("BvhRecorder.send after close")
        if bundle.fps != self.fps:
            raise ValueError(f"bundle {bundle.index} is at {bundle.fps} fps, the recording at {self.fps}")
        current = list(self._last)
        for pose in bundle.people:
            if not 0 <= pose.person < self.people:
                raise ValueError(f"bundle {bundle.index}: person {pose.person} outside 0..{self.people - 1}")
            if pose.joint_rotations.shape != (self.skeleton.num_joints, 3):
                raise ValueError(
                    f"bundle {bundle.index}: person {pose.person} has rotations {pose.joint_rotations.shape}, "
                    f"the skeleton needs ({self.skeleton.num_joints}, 3)"
                )
            current[pose.person] = (pose.root_position, pose.joint_rotations)
        self._last = current
        for person, pending in enumerate(self._pending):
            pending.append(current[person])
        self.frames += 1
        if len(self._pending[0]) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write pending frames to every file and rewrite the counts."""
        for track, pending in zip(self._tracks, self._pending):
            if not pending:
                continue
            roots = np.stack([p[0] for p in pending])
            rotations = np.stack([p[1] for p in pending])
            channels = pose_to_bvh_channels(self.skeleton, roots, rotations)
            track.append([self._row_format % tuple(row) for row in channels.tolist()])
            pending.clear()

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            for track in self._tracks:
                track.close()

    def __enter__(self) -> BvhRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

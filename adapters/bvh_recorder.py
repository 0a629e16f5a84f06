"""Record each person's body motion to a BVH file (p0.bvh, p1.bvh, ...).

Crash safety, the point of this module:
- The header is written when the recorder opens, with `Frames:` followed by a
  fixed-width, space-padded count field ("Frames: 42        "): whitespace
  tokenising readers (Blender, PyPI `bvh`, bvhio) read it as 42, and the field
  can be rewritten in place without moving the frame lines.
- Frames wait in memory and reach the file at a flush (every `flush_every`
  frames, default one second of frames, and on close) as ONE `os.write` of
  whole lines, immediately followed by an in-place rewrite of the count
  (`dyad.adapters.line_file`: plain descriptors, files created exclusively).
- A flush the disk refuses (full, `ulimit -f`) rolls every person's file back to
  the previous flush and stops the recording: the files stay whole, with
  matching counts, and `stats()` says why and how many frames were not recorded.
- So a process killed between flushes leaves a file holding exactly the flushed
  frames, with a matching count. Only a kill landing between those two syscalls
  of one flush can leave more lines than `Frames:` says (readers then ignore the
  extra lines); `fsync=True` also protects against power loss, at a disk-latency
  cost per flush.

Poses are turned into channels at flush time, one vectorised batch per person,
so `send` on the emitter's thread stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dyad.adapters.line_file import LineFile, RecordingStopped
from dyad.models.pose import pose_to_bvh_channels, rest_pose
from dyad.models.skeleton import Skeleton, format_bvh_hierarchy
from dyad.runtime.frames import FrameBundle, Sink

FRAMES_FIELD_WIDTH = 10  # room for 9,999,999,999 frames (over 10 years at 30 fps)


class _Track:
    """One person's file: header at open, frame lines appended at each flush."""

    def __init__(self, path: Path, head: str, tail: str, fsync: bool) -> None:
        self.path = path
        self.fsync = fsync
        self.count_offset = len(head.encode("utf-8"))
        self.frames = 0
        self.file = LineFile(path, (head + self._count_field() + tail).encode("utf-8"))

    def _count_field(self) -> str:
        return f"{self.frames:<{FRAMES_FIELD_WIDTH}d}"

    def append(self, lines: list[str]) -> None:
        self.file.append(("\n".join(lines) + "\n").encode("utf-8"))
        self.frames += len(lines)
        self.file.write_at(self.count_offset, self._count_field().encode("ascii"))
        if self.fsync:
            self.file.fsync()

    def rollback(self, size: int, frames: int) -> None:
        """Back to an earlier whole state: `size` bytes holding `frames` frames."""
        self.file.rollback(size)
        self.frames = frames
        try:
            self.file.write_at(self.count_offset, self._count_field().encode("ascii"))
        except OSError:
            pass  # shrinking cannot fail over a size limit; an I/O error leaves the count of the larger state

    def close(self) -> None:
        self.file.close()


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
        self.stopped: str | None = None  # why recording stopped (disk full, file-size limit); files stay whole
        self.frames_not_recorded = 0
        self._closed = False

    @property
    def flushed_frames(self) -> int:
        return self._tracks[0].frames

    def send(self, bundle: FrameBundle) -> None:
        if self._closed:
            raise RuntimeError("BvhRecorder.send after close")
        if self.stopped is not None:
            self.frames_not_recorded += 1
            return
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
        """Write pending frames to every file and rewrite the counts. If any file cannot take them
        (disk full, file-size limit), every file goes back to the last flush, so the people's files
        keep the same frames, and recording stops: RecordingStopped says why."""
        if self.stopped is not None or not self._pending[0]:
            return
        before = [(track.file.size, track.frames) for track in self._tracks]
        pending_frames = len(self._pending[0])
        try:
            for track, pending in zip(self._tracks, self._pending):
                roots = np.stack([p[0] for p in pending])
                rotations = np.stack([p[1] for p in pending])
                channels = pose_to_bvh_channels(self.skeleton, roots, rotations)
                track.append([self._row_format % tuple(row) for row in channels.tolist()])
        except RecordingStopped as error:
            for track, (size, frames) in zip(self._tracks, before):
                track.rollback(size, frames)
            self.stopped = str(error.strerror)
            self.frames_not_recorded += pending_frames
            raise
        finally:
            for pending in self._pending:
                pending.clear()

    def stats(self) -> dict:
        return {"frames_recorded": self.flushed_frames, "stopped": self.stopped, "frames_not_recorded": self.frames_not_recorded}

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        except RecordingStopped:
            pass  # counted in stats(); the files are whole
        finally:
            self._closed = True
            for track in self._tracks:
                track.close()

    def __enter__(self) -> BvhRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Live Link Face CSV recordings: write p0_face.csv, p1_face.csv; read any export.

Layout (as the Live Link Face app exports):
    Timecode,BlendShapeCount,EyeBlinkLeft,...,RightEyeRoll
    00:00:00:01.000,61,0.0000000000,...
The timecode is HH:MM:SS:FF.mmm: frame FF within the second at the recording's
fps, then thousandths of a frame; it counts from the first recorded frame,
using each frame's audio capture time (`audio_ns`), so frames are stamped by
when their audio happened, not by when they were sent.

We WRITE the 61 columns in dyad's canonical order (`LIVE_LINK_NAMES`: Unreal's
EARFaceBlendShape order, ... JawForward, JawLeft, JawRight, ... MouthLeft,
MouthRight ...). Real exports list JawRight,JawLeft and MouthRight,MouthLeft the
other way round, so the READER never trusts positions: it maps by header name.

Rows wait in memory and are written once per `flush_every` frames (default one
second) as a single `os.write` of whole lines, so a killed process leaves only
complete rows; a flush the disk refuses leaves both files at the previous flush
and stops the recording (`dyad.adapters.line_file`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dyad.adapters.line_file import LineFile, RecordingStopped
from dyad.models.arkit import LIVE_LINK_NAMES, NUM_LIVE_LINK, map_by_name
from dyad.runtime.frames import FrameBundle, Sink

HEADER = "Timecode,BlendShapeCount," + ",".join(LIVE_LINK_NAMES)
_META_COLUMNS = ("timecode", "blendshapecount")


def timecode(elapsed_ns: int, fps: int) -> str:
    """HH:MM:SS:FF.mmm for a time since the start (hours wrap at 24 like SMPTE)."""
    # integer maths, rounded to the nearest thousandth of a frame, so that
    # t0 + k/fps in whole nanoseconds lands exactly on frame k
    milli = (max(0, int(elapsed_ns)) * fps * 1000 + 500_000_000) // 1_000_000_000
    frame, sub = divmod(milli, 1000)
    seconds, ff = divmod(frame, fps)
    minutes, ss = divmod(seconds, 60)
    hours, mm = divmod(minutes, 60)
    return f"{hours % 24:02d}:{mm:02d}:{ss:02d}:{ff:02d}.{sub:03d}"


class LiveLinkCsvRecorder(Sink):
    """Sink that writes `p{person}_face.csv` per person from `FrameBundle`s."""

    name = "livelink_csv"
    is_recorder = True  # the session gives recorders a deep queue: a disk stall must not lose frames

    def __init__(
        self, out_dir: Path, fps: int, people: int = 2, flush_every: int | None = None, fsync: bool = False
    ) -> None:
        if fps <= 0 or people <= 0:
            raise ValueError(f"LiveLinkCsvRecorder needs fps > 0 and people > 0 (got {fps}, {people})")
        self.fps = int(fps)
        self.people = int(people)
        self.flush_every = max(1, int(flush_every if flush_every is not None else fps))
        self.fsync = fsync
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.paths = tuple(out_dir / f"p{i}_face.csv" for i in range(self.people))
        self._files: list[LineFile] = []
        try:
            for path in self.paths:
                self._files.append(LineFile(path, (HEADER + "\n").encode("ascii")))
        except BaseException:
            for file in self._files:
                file.close()
            raise
        self._values_format = ",".join(["%.10f"] * NUM_LIVE_LINK)
        self._last = [np.zeros(NUM_LIVE_LINK)] * self.people  # held for a person missing from a bundle
        self._pending: list[list[str]] = [[] for _ in range(self.people)]
        self._first_ns: int | None = None
        self.frames = 0
        self.rows_recorded = 0
        self.stopped: str | None = None  # why recording stopped (disk full, file-size limit); files stay whole
        self.frames_not_recorded = 0
        self._closed = False

    def send(self, bundle: FrameBundle) -> None:
        if self._closed:
            raise RuntimeError("LiveLinkCsvRecorder.send after close")
        if self.stopped is not None:
            self.frames_not_recorded += 1
            return
        if bundle.fps != self.fps:
            raise ValueError(f"bundle {bundle.index} is at {bundle.fps} fps, the recording at {self.fps}")
        if self._first_ns is None:
            self._first_ns = bundle.audio_ns
        for pose in bundle.people:
            if not 0 <= pose.person < self.people:
                raise ValueError(f"bundle {bundle.index}: person {pose.person} outside 0..{self.people - 1}")
            if pose.face.shape != (NUM_LIVE_LINK,):
                raise ValueError(f"bundle {bundle.index}: face has shape {pose.face.shape}, need ({NUM_LIVE_LINK},)")
            self._last[pose.person] = pose.face
        stamp = timecode(bundle.audio_ns - self._first_ns, self.fps)
        for person, pending in enumerate(self._pending):
            values = self._values_format % tuple(self._last[person].tolist())
            pending.append(f"{stamp},{NUM_LIVE_LINK},{values}")
        self.frames += 1
        if len(self._pending[0]) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write pending rows to both files; if either refuses them, both go back to the last flush
        and recording stops (RecordingStopped says why)."""
        if self.stopped is not None or not self._pending[0]:
            return
        before = [file.size for file in self._files]
        rows = len(self._pending[0])
        try:
            for file, pending in zip(self._files, self._pending):
                file.append(("\n".join(pending) + "\n").encode("ascii"))
                if self.fsync:
                    file.fsync()
            self.rows_recorded += rows
        except RecordingStopped as error:
            for file, size in zip(self._files, before):
                file.rollback(size)
            self.stopped = str(error.strerror)
            self.frames_not_recorded += rows
            raise
        finally:
            for pending in self._pending:
                pending.clear()

    def stats(self) -> dict:
        return {"frames_recorded": self.rows_recorded, "stopped": self.stopped, "frames_not_recorded": self.frames_not_recorded}

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        except RecordingStopped:
            pass  # counted in stats(); the files are whole
        finally:
            self._closed = True
            for file in self._files:
                file.close()

    def __enter__(self) -> LiveLinkCsvRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_livelink_csv(path: str | Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Read a Live Link Face CSV -> (shape names as in the file's header, values [N, 61]).

    Columns are matched BY HEADER NAME and returned in the canonical order of
    `dyad.models.arkit`; names the file lacks are 0. Bad files raise ValueError
    naming the file and line."""
    source = str(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{source}:1: empty file, expected a 'Timecode,BlendShapeCount,...' header")
    header = [h.strip() for h in rows[0]]
    if "timecode" not in [h.lower() for h in header]:
        raise ValueError(f"{source}:1: header has no Timecode column")
    columns = [i for i, h in enumerate(header) if h and h.lower() not in _META_COLUMNS]
    names = tuple(header[i] for i in columns)
    data = np.zeros((len(rows) - 1, len(columns)), dtype=np.float32)
    count = 0
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header) or any(row[i].strip() for i in range(len(header), len(row))):
            raise ValueError(f"{source}:{line}: {len(row)} cells for {len(header)} header columns")
        try:
            data[count] = [float(row[i]) for i in columns]
        except ValueError:
            raise ValueError(f"{source}:{line}: a blendshape value is not a number") from None
        count += 1
    try:
        values = map_by_name(names, data[:count])
    except ValueError as exc:
        raise ValueError(f"{source}:1: {exc}") from None
    return names, values

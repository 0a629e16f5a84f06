"""Per-frame timing recorder: `frames.csv`, one row per emitted frame.

Columns: index, audio_ns (capture time of the frame's audio), target_ns (contracted
send time), send_ns (actual), latency_ms (send - capture), fallback (1 = deadline
miss), speaking_p0, speaking_p1. This is what researchers plot and what the offline
renderer draws as the latency strip. Flushed once per second of frames as whole rows, like the other
recorders, so an interrupted (even killed) session keeps every row up to the last flush.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dyad.adapters.line_file import LineFile, RecordingStopped
from dyad.runtime.frames import FrameBundle, Sink

COLUMNS = ("index", "audio_ns", "target_ns", "send_ns", "latency_ms", "fallback", "speaking_p0", "speaking_p1")


class TimingRecorder(Sink):
    name = "frames_csv"
    is_recorder = True  # deep queue in the session: a disk stall must not lose rows

    def __init__(self, out_dir: Path, fps: int, flush_every: int | None = None) -> None:
        self.path = Path(out_dir) / "frames.csv"
        # A plain descriptor and one os.write of whole rows per flush, as the other recorders:
        # a buffered file could spill half a row to disk just before a kill -9.
        self._file = LineFile(self.path, (",".join(COLUMNS) + "\r\n").encode("ascii"))  # the csv module's line ending
        self._flush_every = max(1, flush_every or fps)
        self._pending: list[str] = []
        self.rows = 0
        self.rows_recorded = 0
        self.stopped: str | None = None  # why recording stopped (disk full, file-size limit); the file stays whole
        self.frames_not_recorded = 0

    def send(self, bundle: FrameBundle) -> None:
        if self.stopped is not None:
            self.frames_not_recorded += 1
            return
        speaking = ",".join(f"{pose.speaking:.3f}" for pose in bundle.people)
        self._pending.append(
            f"{bundle.index},{bundle.audio_ns},{bundle.target_ns},{bundle.send_ns},{bundle.latency_ns / 1e6:.3f},{int(bundle.fallback)},{speaking}\r\n"
        )
        self.rows += 1
        if len(self._pending) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if self.stopped is not None or not self._pending:
            return
        try:
            self._file.append("".join(self._pending).encode("ascii"))
            self.rows_recorded += len(self._pending)
        except RecordingStopped as error:
            self.stopped = str(error.strerror)
            self.frames_not_recorded += len(self._pending)
            raise
        finally:
            self._pending.clear()

    def stats(self) -> dict:
        return {"frames_recorded": self.rows_recorded, "stopped": self.stopped, "frames_not_recorded": self.frames_not_recorded}

    def close(self) -> None:
        if self._file.fd >= 0:
            try:
                self.flush()
            except RecordingStopped:
                pass  # counted in stats(); the file is whole
            self._file.close()


def read_timing_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a `frames.csv` by name (int64 for indices and times, float64 otherwise)."""
    with open(path, newline="", encoding="ascii") as handle:
        rows = list(csv.DictReader(handle))
    integer = {"index", "audio_ns", "target_ns", "send_ns", "fallback"}
    return {
        name: np.array([row[name] for row in rows], dtype=np.int64 if name in integer else np.float64) for name in COLUMNS
    }

"""Per-frame timing recorder: `frames.csv`, one row per emitted frame.

Columns: index, audio_ns (capture time of the frame's audio), target_ns (contracted
send time), send_ns (actual), latency_ms (send - capture), fallback (1 = deadline
miss), speaking_p0, speaking_p1. This is what researchers plot and what the offline
renderer draws as the latency strip. Flushed once per second of frames, like the
other recorders, so an interrupted session keeps every row up to the last flush.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dyad.runtime.frames import FrameBundle

COLUMNS = ("index", "audio_ns", "target_ns", "send_ns", "latency_ms", "fallback", "speaking_p0", "speaking_p1")


class TimingRecorder:
    name = "frames_csv"
    is_recorder = True  # deep queue in the session: a disk stall must not lose rows

    def __init__(self, out_dir: Path, fps: int, flush_every: int | None = None) -> None:
        self.path = Path(out_dir) / "frames.csv"
        self._file = open(self.path, "w", newline="", encoding="ascii")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._file.flush()
        self._flush_every = max(1, flush_every or fps)
        self.rows = 0

    def send(self, bundle: FrameBundle) -> None:
        speaking = [f"{pose.speaking:.3f}" for pose in bundle.people]
        self._writer.writerow(
            [bundle.index, bundle.audio_ns, bundle.target_ns, bundle.send_ns, f"{bundle.latency_ns / 1e6:.3f}", int(bundle.fallback), *speaking]
        )
        self.rows += 1
        if self.rows % self._flush_every == 0:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_timing_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a `frames.csv` by name (int64 for indices and times, float64 otherwise)."""
    with open(path, newline="", encoding="ascii") as handle:
        rows = list(csv.DictReader(handle))
    integer = {"index", "audio_ns", "target_ns", "send_ns", "fallback"}
    return {
        name: np.array([row[name] for row in rows], dtype=np.int64 if name in integer else np.float64) for name in COLUMNS
    }

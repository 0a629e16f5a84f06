"""Measurements every session keeps: per-stage time per hop, end-to-end latency per frame, counters.

Series store every value (8 bytes each: a two-hour session at 30 fps is
~1.7 MB per series) so percentiles are exact, not sampled.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

import numpy as np


def summarize_ms(values: np.ndarray, decimals: int = 4) -> dict:
    """count, mean, p50, p95, p99 and max of a series of milliseconds (`{"count": 0}` when empty)."""
    if values.size == 0:
        return {"count": 0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    stats = {"mean": values.mean(), "p50": p50, "p95": p95, "p99": p99, "max": values.max()}
    return {"count": int(values.size), **{name: round(float(v), decimals) for name, v in stats.items()}}


class Series:
    """An append-only series of durations in nanoseconds."""

    def __init__(self) -> None:
        self._values = array("d")

    def add(self, value_ns: float) -> None:
        self._values.append(float(value_ns))

    def __len__(self) -> int:
        return len(self._values)

    def values_ms(self) -> np.ndarray:
        return np.array(self._values, dtype=np.float64) / 1e6

    def summary_ms(self) -> dict:
        return summarize_ms(self.values_ms())


class SessionStats:
    """Per-stage timings, end-to-end latency and event counters for one session (thread-safe)."""

    def __init__(self) -> None:
        self.stages: dict[str, Series] = {}
        self.latency = Series()  # send time - capture time of the frame's audio
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def series(self, name: str) -> Series:
        with self._lock:
            return self.stages.setdefault(name, Series())

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a block with the wall clock; compute cost is real even on a simulated session clock."""
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            self.series(name).add(time.perf_counter_ns() - start)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def summary(self) -> dict:
        with self._lock:
            stages = dict(self.stages)
            counters = dict(self.counters)
        return {
            "stage_ms": {name: series.summary_ms() for name, series in stages.items()},
            "latency_ms": self.latency.summary_ms(),
            "counters": counters,
        }

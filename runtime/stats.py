"""Measurements every session keeps: per-stage time per hop, end-to-end latency per frame, counters.

Series are bounded histograms (`dyad.runtime.histogram`): fixed memory however long a
session runs, count, mean and max exact, p50/p95/p99 within 0.25 %. Benchmarks that need
every value (per-hop breakdowns, CDF plots) ask for them with `keep_values=True`.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from dyad.runtime.histogram import Histogram


def summarize_ms(values: np.ndarray, decimals: int = 4) -> dict:
    """count, mean, p50, p95, p99 and max of a series of milliseconds (`{"count": 0}` when empty)."""
    if values.size == 0:
        return {"count": 0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    stats = {"mean": values.mean(), "p50": p50, "p95": p95, "p99": p99, "max": values.max()}
    return {"count": int(values.size), **{name: round(float(v), decimals) for name, v in stats.items()}}


def summarize_histogram_ms(histogram: Histogram, decimals: int = 4) -> dict:
    """The same keys as summarize_ms, from a bounded histogram of nanoseconds."""
    if histogram.count == 0:
        return {"count": 0}
    p50, p95, p99 = histogram.percentiles([50, 95, 99])
    stats = {"mean": histogram.total / histogram.count, "p50": p50, "p95": p95, "p99": p99, "max": histogram.maximum}
    return {"count": histogram.count, **{name: round(v / 1e6, decimals) for name, v in stats.items()}}


class Series:
    """A series of durations in nanoseconds: a bounded histogram, plus every value when asked (benchmarks)."""

    def __init__(self, keep_values: bool = False) -> None:
        self.histogram = Histogram()
        self._values = array("d") if keep_values else None

    def add(self, value_ns: float) -> None:
        self.histogram.add(float(value_ns))
        if self._values is not None:
            self._values.append(float(value_ns))

    def __len__(self) -> int:
        return self.histogram.count

    def values_ms(self) -> np.ndarray:
        """Every value, in order (only for a series that keeps them)."""
        if self._values is None:
            raise RuntimeError("this series keeps a histogram only: create its SessionStats with keep_values=True")
        return np.array(self._values, dtype=np.float64) / 1e6

    def summary_ms(self) -> dict:
        return summarize_histogram_ms(self.histogram)


class SessionStats:
    """Per-stage timings, end-to-end latency and event counters for one session (thread-safe)."""

    def __init__(self, keep_values: bool = False) -> None:
        self.keep_values = keep_values
        self.stages: dict[str, Series] = {}
        self.latency = Series(keep_values)  # send time - capture time of the frame's audio
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def series(self, name: str) -> Series:
        with self._lock:
            series = self.stages.get(name)
            if series is None:
                series = self.stages[name] = Series(self.keep_values)
            return series

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

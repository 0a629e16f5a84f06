"""The session clock: integer nanoseconds, monotonic.

Real-time and offline runs share one code path; only the clock differs. The
simulated clock never sleeps: `sleep_until` jumps time forward, so an offline
run goes as fast as compute allows and is deterministic.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def sleep_until(self, target_ns: int, stop: threading.Event | None = None) -> None: ...


class MonotonicClock:
    """Wall clock for live and real-time replay sessions (time.monotonic_ns)."""

    # Sleep in one go up to this margin before the target, then spin briefly:
    # OS sleeps overshoot by ~0.1-1 ms, which would show up as emit jitter.
    _SPIN_NS = 1_000_000

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, target_ns: int, stop: threading.Event | None = None) -> None:
        while True:
            remaining = target_ns - time.monotonic_ns()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return
            if remaining > self._SPIN_NS:
                seconds = (remaining - self._SPIN_NS) / 1e9
                if stop is not None:
                    stop.wait(seconds)
                else:
                    time.sleep(seconds)
            else:
                time.sleep(0)


class SimulatedClock:
    """A clock that only moves when told to: offline runs are bit-identical."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, target_ns: int) -> None:
        if target_ns > self._now:
            self._now = target_ns

    def sleep_until(self, target_ns: int, stop: threading.Event | None = None) -> None:
        self.advance_to(target_ns)

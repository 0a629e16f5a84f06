"""A cap on log lines per source: a flood from any logger (ours or a library's) cannot swamp the log or the CPU.

Libraries log through loggers we do not control (python-osc warns through the
root logger for every odd bundle element it meets). Each logger name may emit
`burst` records per `window_s`; the rest of the window's records are dropped
and counted, and the first record after the window says how many were dropped.
The health logger is exempt: it is already periodic.
"""

from __future__ import annotations

import logging
import threading
import time

EXEMPT = ("dyad.health",)


class LogCap(logging.Filter):
    def __init__(self, burst: int = 20, window_s: float = 60.0, clock=time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # logger -> (window start, passed, dropped)
        self._lock = threading.Lock()
        self.dropped_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in EXEMPT:
            return True
        now = self._clock()
        with self._lock:
            start, passed, dropped = self._windows.get(record.name, (now, 0, 0))
            if now - start >= self.window_s:
                if dropped:  # say what the last window hid, on the first line of the new one
                    record.msg = f"{record.msg} [{dropped} earlier lines of {record.name} suppressed]"
                start, passed, dropped = now, 0, 0
            if passed >= self.burst:
                self._windows[record.name] = (start, passed, dropped + 1)
                self.dropped_total += 1
                return False
            self._windows[record.name] = (start, passed + 1, dropped)
            return True

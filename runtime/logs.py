"""Structured logs: one line per event with its level, as text or JSON; and the periodic health summary.

`--log-format json` writes one JSON object per line:
    {"ts": "2025-01-01T12:00:00.123Z", "level": "WARNING", "logger": "dyad.sinks", "msg": "...", ...}
with any structured fields of the event (`extra={"event": ..., "health": {...}}`) merged in
and a traceback, if any, as one escaped string, so a log shipper never splits an event.
`--log-format text` keeps the classic `time LEVEL logger: message`, newlines escaped too.

Health (`dyad.health`, INFO, every `health_interval_s` of session time): what an operator
watches: frames sent, latency p95 and max over the last interval and over the session,
deadline misses, late and skipped frames, dropped audio, animator errors, and per sink
frames sent, dropped and failed. It is logged whatever --log-level says (only ERROR hides it).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Callable

from dyad.runtime.histogram import Histogram
from dyad.runtime.log_cap import LogCap
from dyad.runtime.session_report import SessionReport

HEALTH_LOGGER = "dyad.health"
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        event.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str, separators=(",", ":"))


class OneLineFormatter(logging.Formatter):
    """The text format, with newlines (tracebacks, odd messages) escaped: one event, one line."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


def configure_logging(level: str = "WARNING", fmt: str = "text", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(LogCap())  # no logger, ours or a library's, may flood the log
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Health is an operator's summary, not debug chatter: shown at the default WARNING level too.
    logging.getLogger(HEALTH_LOGGER).setLevel(logging.INFO if logging.getLevelName(level) <= logging.WARNING else level)


class HealthReporter:
    """Logs a health summary of a session every `interval_s` of session time (wall or simulated)."""

    def __init__(self, snapshot: Callable[[], SessionReport], interval_s: float) -> None:
        self._snapshot = snapshot
        self._interval_ns = int(interval_s * 1e9)
        self._next_ns: int | None = None
        self._latency_from: Histogram | None = None  # the latency histogram as the current interval began
        self._log = logging.getLogger(HEALTH_LOGGER)

    def maybe_report(self, now_ns: int) -> dict | None:
        if self._interval_ns <= 0:
            return None
        if self._next_ns is None:
            self._next_ns = now_ns + self._interval_ns
            return None
        if now_ns < self._next_ns:
            return None
        self._next_ns += self._interval_ns * max(1, (now_ns - self._next_ns) // self._interval_ns + 1)
        return self.report()

    def report(self) -> dict:
        snapshot = self._snapshot()
        health = snapshot.health(self._latency_from)
        self._latency_from = snapshot.latency
        c = health
        self._log.info(
            "health: frames=%d latency p95=%.1fms (interval %.1fms) misses=%d late=%d skipped=%d dropped_audio=%.3fs animator_errors=%d sinks=%s",
            c["frames"], c["latency_p95_ms"], c["interval_latency_p95_ms"], c["deadline_misses"], c["late_frames"],
            c["skipped_frames"], c["dropped_audio_s"], c["animator_errors"],
            ",".join(f"{n}:{s['sent']}/{s['dropped']}/{s['errors']}" for n, s in c["sinks"].items()) or "-",
            extra={"event": "health", "health": health},
        )  # fmt: skip
        return health

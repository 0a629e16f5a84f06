"""One snapshot of a session's state, and every way it is shown.

The live status line, the periodic health log, session.json and the CLI's closing line
all render a SessionReport taken by `Session.report()`, so each number is read from the
session's parts in one place and means the same wherever it appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from dyad.runtime.histogram import Histogram
from dyad.runtime.stats import summarize_histogram_ms

NAN = float("nan")


@dataclass(frozen=True)
class SessionReport:
    fps: int
    sample_rate: int
    frames: int  # frames sent per person so far (the emitter's next index)
    latency: Histogram  # every sent frame's send time - capture time (ns), a bounded copy
    counters: Mapping[str, int]  # the session's event counters (misses, drops, errors, ...)
    late_frames: int  # frames the scheduler delivered after the emitter had closed them
    sinks: Mapping[str, dict]  # per sink: sent, dropped, errors and the sink's own counters
    speaking: tuple[float, ...]  # VAD probability of each person at the newest finished frame

    @property
    def deadline_misses(self) -> int:
        return self.counters.get("deadline_misses", 0)

    @property
    def skipped_frames(self) -> int:
        return self.counters.get("skipped_frames", 0)

    @property
    def animator_errors(self) -> int:
        return self.counters.get("animator_errors", 0)

    @property
    def dropped_audio_samples(self) -> int:
        return self.counters.get("dropped_audio_samples", 0)

    @property
    def dropped_audio_s(self) -> float:
        return self.dropped_audio_samples / self.sample_rate

    def latency_summary(self) -> dict:
        return summarize_histogram_ms(self.latency)

    def status_line(self) -> str:
        """The live status line (stderr, once a second)."""
        latency = self.latency_summary()
        speaking = "".join("#" if v > 0.5 else "." for v in self.speaking)
        return (
            f"t={self.frames / self.fps:6.1f}s frames={self.frames} "
            f"latency p95={latency.get('p95', NAN):.1f}ms misses={self.deadline_misses} "
            f"dropped_audio={self.dropped_audio_samples} speaking[A,B]={speaking}"
        )

    def health(self, since: Histogram | None = None) -> dict:
        """The health log's fields; the interval's latency covers the frames sent after `since` was taken."""
        recent = self.latency if since is None else self.latency.since(since)
        return {
            "frames": self.frames,
            "latency_p95_ms": _p95(self.latency),
            "interval_latency_p95_ms": _p95(recent),
            "interval_latency_max_ms": round(recent.maximum / 1e6, 3) if recent.count else NAN,
            "deadline_misses": self.deadline_misses,
            "late_frames": self.late_frames,
            "skipped_frames": self.skipped_frames,
            "dropped_audio_s": round(self.dropped_audio_s, 3),
            "animator_errors": self.animator_errors,
            "sinks": {name: {k: stats.get(k, 0) for k in ("sent", "dropped", "errors")} for name, stats in self.sinks.items()},
        }

    def closing_line(self, out_dir: Path | None = None) -> str:
        """What `dyad run` and `dyad demo` print when the session ends."""
        latency = self.latency_summary()
        return (
            f"dyad: {self.frames} frames per person at {self.fps} fps, "
            f"latency p50={_ms(latency, 'p50')} p95={_ms(latency, 'p95')} p99={_ms(latency, 'p99')}, "
            f"deadline misses {self.deadline_misses}, dropped audio {self.dropped_audio_s:.3f} s"
            + (f", recordings in {out_dir}" if out_dir else "")
        )


def _ms(summary: dict, key: str) -> str:
    return f"{summary[key]:.1f} ms" if key in summary else "n/a"  # no frames, no percentiles


def _p95(latency: Histogram) -> float:
    return round(latency.percentiles([95])[0] / 1e6, 3) if latency.count else NAN

"""Prometheus text for `GET /metrics`: the server's sessions, frames, misses, latency, batches and compute.

Gathered at scrape time from what the sessions and the batcher already measure (no second
bookkeeping on the hot path), through prometheus_client's collector interface. Per-session
series carry a `session` label; ended sessions stay until the host forgets them.

Latency buckets come from each session's bounded log histogram (runtime/histogram.py), whose
bucket edges lie within 0.5 % of the Prometheus bucket bounds (a value that close to a bound
may be counted just above it).
"""

from __future__ import annotations

import math
import threading

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from dyad.runtime.histogram import FLOOR_NS, RATIO, Histogram

LATENCY_BOUNDS_S = (0.02, 0.04, 0.06, 0.08, 0.09, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 1.0)
BATCH_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
COMPUTE_BOUNDS_S = (0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.067, 0.1, 0.2, 0.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def cumulative_buckets(histogram: Histogram, bounds_s: tuple[float, ...]) -> list[tuple[str, float]]:
    """(le, count of samples <= le) for each bound and +Inf, from the session's log histogram (values in ns)."""
    below_zero = int(histogram.negative.sum())
    cumulative = np.cumsum(histogram.positive)
    out = []
    for bound in bounds_s:
        ns = bound * 1e9
        last = 0 if ns < FLOOR_NS else int(math.log(ns / FLOOR_NS) / math.log(RATIO))  # buckets wholly at or below
        out.append((repr(float(bound)), float(below_zero + cumulative[min(last, len(cumulative) - 1)])))
    out.append(("+Inf", float(histogram.count)))
    return out


class _Tally:
    """A histogram fed by the batcher's thread (batch sizes, compute per call), read at scrape time."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            index = next((i for i, b in enumerate(self.bounds) if value <= b), len(self.bounds))
            self.counts[index] += 1
            self.total += value

    def buckets(self) -> tuple[list[tuple[str, float]], float]:
        with self._lock:
            running, out = 0, []
            for bound, count in zip((*self.bounds, math.inf), self.counts):
                running += count
                out.append(("+Inf" if bound == math.inf else repr(float(bound)), float(running)))
            return out, self.total


class ServeMetrics:
    def __init__(self, host) -> None:
        self.host = host
        self.batch_sizes = _Tally(BATCH_BOUNDS)
        self.batch_compute = _Tally(COMPUTE_BOUNDS_S)
        if host.model is not None:
            host.model.batcher.add_listener(self._on_batch)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def _on_batch(self, record) -> None:
        self.batch_sizes.add(record.dyads)
        self.batch_compute.add(record.compute_ms / 1000.0)

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self):
        hosted = self.host.sessions()
        states = GaugeMetricFamily("dyad_sessions", "Sessions by state", labels=["state"])
        for state in ("running", "ended", "failed"):
            states.add_metric([state], sum(1 for h in hosted if h.state == state))
        yield states
        yield GaugeMetricFamily("dyad_capacity_sessions", "Sessions admitted at most (measured capacity; +Inf: unbounded)",
                                value=self.host.capacity.sessions)  # fmt: skip
        yield CounterMetricFamily("dyad_sessions_refused", "Sessions refused at capacity", value=self.host.refused)
        frames = CounterMetricFamily("dyad_frames", "Frames sent per session", labels=["session"])
        misses = CounterMetricFamily("dyad_deadline_misses", "Frames not ready by their send time (fallback sent)", labels=["session"])
        dropped = CounterMetricFamily("dyad_dropped_audio_seconds", "Audio dropped per session", labels=["session"])
        steps = GaugeMetricFamily("dyad_steps", "DDIM steps the session samples with now", labels=["session"])
        latency = HistogramMetricFamily("dyad_frame_latency_seconds", "Send time minus audio capture time per frame", labels=["session"])
        for h in hosted:
            report = h.session.report()
            frames.add_metric([h.id], report.frames)
            misses.add_metric([h.id], report.deadline_misses)
            dropped.add_metric([h.id], report.dropped_audio_s)
            if hasattr(h.session.animator, "steps"):
                steps.add_metric([h.id], h.session.animator.steps)
            latency.add_metric([h.id], cumulative_buckets(report.latency, LATENCY_BOUNDS_S), report.latency.total / 1e9)
        yield from (frames, misses, dropped, steps, latency)
        sizes, total = self.batch_sizes.buckets()
        yield HistogramMetricFamily("dyad_batch_dyads", "Dyads per batched model call (one call per denoiser per step)",
                                    buckets=sizes, sum_value=total)  # fmt: skip
        compute, total = self.batch_compute.buckets()
        yield HistogramMetricFamily("dyad_batch_compute_seconds", "Compute of one batched hop (all steps, all its dyads)",
                                    buckets=compute, sum_value=total)  # fmt: skip


def health_lines(host) -> str:
    """One health line per session: the same line `dyad run` prints as its status."""
    return "".join(f"{h.id} {h.state} {h.session.report().status_line()}\n" for h in host.sessions())

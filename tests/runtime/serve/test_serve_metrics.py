"""Prometheus latency buckets from a session's log histogram: counts at each bound, as the raw values give them."""

from __future__ import annotations

import numpy as np

from dyad.runtime.histogram import Histogram
from dyad.runtime.serve.metrics import LATENCY_BOUNDS_S, cumulative_buckets


def test_latency_buckets_count_the_frames_at_or_below_each_bound():
    values_s = np.random.default_rng(1).uniform(0.0, 0.6, 2000)
    bounds = np.array(LATENCY_BOUNDS_S)
    # A value within one log bucket (0.5 %) of a bound may fall on either side of it: those are left out.
    values_s = values_s[np.all(np.abs(values_s[:, None] - bounds) > 0.006 * bounds, axis=1)]
    histogram = Histogram()
    for v in values_s:
        histogram.add(v * 1e9)
    histogram.add(-2e6)  # a frame sent before its audio was captured counts below every bound
    buckets = dict(cumulative_buckets(histogram, LATENCY_BOUNDS_S))
    for bound in LATENCY_BOUNDS_S:
        assert buckets[repr(float(bound))] == 1 + np.sum(values_s <= bound)
    assert buckets["+Inf"] == len(values_s) + 1

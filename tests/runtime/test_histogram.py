"""The bounded timing histogram: fixed memory, percentiles within the stated 0.25 % of numpy's."""

from __future__ import annotations

import numpy as np

from dyad.runtime.histogram import BUCKETS, RELATIVE_ERROR, Histogram
from dyad.runtime.stats import SessionStats


def close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= RELATIVE_ERROR * abs(expected) + 1_000.0 + 1e-9


def test_percentiles_match_numpy_within_the_stated_error():
    rng = np.random.default_rng(0)
    samples = {
        "latency": 150e6 + rng.gamma(2.0, 1e6, 20_000),
        "compute": rng.lognormal(np.log(5e6), 0.8, 20_000),
        "lateness": rng.normal(0, 300e6, 5_000),  # word lateness: negative when a word arrives early
        "tiny": rng.uniform(0, 3_000, 1_000),
        "few": np.array([42e6, 7e6, 150e6]),
    }
    for name, values in samples.items():
        histogram = Histogram()
        for value in values:
            histogram.add(float(value))
        expected = np.percentile(values, [50, 95, 99], method="inverted_cdf")
        for q, got, want in zip((50, 95, 99), histogram.percentiles([50, 95, 99]), expected):
            assert close(got, want), (name, q, got, want)
        assert histogram.count == values.size and histogram.maximum == values.max() and histogram.minimum == values.min()
        assert abs(histogram.total / histogram.count - values.mean()) < 1e-6 * abs(values).max()


def test_memory_does_not_grow_with_samples():
    histogram = Histogram()
    for value in np.linspace(1e3, 1e9, 200_000):
        histogram.add(float(value))
    assert histogram.positive.nbytes + histogram.negative.nbytes == 2 * 8 * BUCKETS < 70_000
    histogram.add(float("nan"))  # ignored, not poisoning every percentile
    assert histogram.count == 200_000


def test_interval_since_a_copy():
    histogram = Histogram()
    for value in (10e6, 20e6, 30e6):
        histogram.add(value)
    earlier = histogram.copy()
    for value in (200e6, 210e6):
        histogram.add(value)
    recent = histogram.since(earlier)
    assert recent.count == 2
    assert close(recent.percentiles([50])[0], 200e6) and close(recent.maximum, 210e6)


def test_session_stats_summary_keys_and_values_kept_only_when_asked():
    stats = SessionStats()
    for ms in range(1, 101):
        stats.latency.add(ms * 1e6)
    summary = stats.summary()["latency_ms"]
    assert summary["count"] == 100 and summary["max"] == 100.0 and abs(summary["mean"] - 50.5) < 1e-9
    assert abs(summary["p50"] - 50.0) <= 0.13 and abs(summary["p99"] - 99.0) <= 0.25
    kept = SessionStats(keep_values=True)
    kept.series("mel").add(2e6)
    assert kept.series("mel").values_ms().tolist() == [2.0]

"""A bounded histogram of durations: fixed memory however long a session runs, percentiles within a stated error.

Buckets are logarithmic: bucket i >= 1 holds magnitudes in
[FLOOR_NS * RATIO**(i-1), FLOOR_NS * RATIO**i), bucket 0 everything below FLOOR_NS,
the last bucket everything above the ceiling. A percentile is the sample at that
rank (the inverted-CDF definition: the smallest value with at least q % of the
samples at or below it), reported as its bucket's geometric centre, clamped to
the exact minimum and maximum. Stated error: within RELATIVE_ERROR (0.25 %) of
that sample, or FLOOR_NS (1 µs) for magnitudes below it, for values from 1 µs to
about 1000 s. Count, sum (so the mean), minimum and maximum are exact.
Negative values (a word that arrived before it was spoken) get mirrored buckets.
Memory: two arrays of BUCKETS int64, 66 KB, whatever the number of samples.
"""

from __future__ import annotations

import math

import numpy as np

FLOOR_NS = 1_000.0
RATIO = 1.005
RELATIVE_ERROR = math.sqrt(RATIO) - 1  # half a bucket, geometrically: 0.25 %
BUCKETS = 1 + math.ceil(math.log(1e12 / FLOOR_NS) / math.log(RATIO))  # up to 1000 s
_LOG_RATIO = math.log(RATIO)


def _bucket(magnitude: float) -> int:
    if magnitude < FLOOR_NS:
        return 0
    return min(BUCKETS - 1, 1 + int(math.log(magnitude / FLOOR_NS) / _LOG_RATIO))


def _centre(bucket: int) -> float:
    if bucket == 0:
        return 0.0
    return FLOOR_NS * RATIO ** (bucket - 0.5)


_CENTRES = np.array([_centre(i) for i in range(BUCKETS)])
_VALUES = np.concatenate([-_CENTRES[:0:-1], [0.0], _CENTRES[1:]])  # bucket centres in _ordered_counts order


class Histogram:
    def __init__(self) -> None:
        self.positive = np.zeros(BUCKETS, dtype=np.int64)  # bucket 0 also holds exact zeros
        self.negative = np.zeros(BUCKETS, dtype=np.int64)  # magnitudes of values below -FLOOR_NS .. 0
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return  # a NaN duration is a bug upstream; it must not poison every percentile
        if value < 0:
            self.negative[_bucket(-value)] += 1
        else:
            self.positive[_bucket(value)] += 1
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def copy(self) -> Histogram:
        other = Histogram()
        other.positive, other.negative = self.positive.copy(), self.negative.copy()
        other.count, other.total, other.minimum, other.maximum = self.count, self.total, self.minimum, self.maximum
        return other

    def since(self, earlier: Histogram) -> Histogram:
        """The samples added after `earlier` (a copy of this histogram); min and max are bucket bounds."""
        delta = Histogram()
        delta.positive, delta.negative = self.positive - earlier.positive, self.negative - earlier.negative
        delta.count, delta.total = self.count - earlier.count, self.total - earlier.total
        if delta.count:
            used = np.nonzero(delta._ordered_counts())[0]
            delta.minimum, delta.maximum = float(_VALUES[used[0]]), float(_VALUES[used[-1]])
        return delta

    def _ordered_counts(self) -> np.ndarray:
        """Counts from the most negative bucket to the largest positive one."""
        return np.concatenate([self.negative[:0:-1], self.negative[:1] + self.positive[:1], self.positive[1:]])

    def percentiles(self, qs: list[float]) -> list[float]:
        """The sample at rank ceil(q/100 * count) for each q, within the stated error; NaN when empty."""
        if self.count == 0:
            return [math.nan] * len(qs)
        cumulative = np.cumsum(self._ordered_counts())
        values = _VALUES
        out = []
        for q in qs:
            rank = max(1, math.ceil(q / 100 * self.count))
            index = int(np.searchsorted(cumulative, rank))
            out.append(float(min(max(values[index], self.minimum), self.maximum)))
        return out

"""One networked voice on the session's sample clock: sender timing mapped once, a bounded jitter buffer.

A `VoiceLane` takes packets of one person's audio (mono float32 at the session rate) stamped
with the SENDER's timing (`sender_ns`: the capture time of the packet's first sample on the
sender's own clock, from an RTP timestamp or a WebSocket header). The first packet maps the
sender's clock onto the session's absolute sample index, once: it is taken to have been
captured one packet duration before it arrived. Every later packet is placed by its own
timestamp relative to that first one, so network jitter moves arrival times but never the
position of a sample.

The buffer covers the `capacity` samples from the playout cursor on (a ring). Drop rule, in
order, every case counted in samples (or packets) and never raised:
  absurd      a packet placed more than `resync_samples` from the playout cursor (a garbage
              timestamp, a sender restart) is dropped; RESYNC_AFTER such packets in a row
              re-map the sender's clock from the current packet's arrival (`resyncs`).
  late        samples placed before the playout cursor were already played out as silence:
              dropped (`late_samples`).
  overflow    samples placed beyond cursor + capacity (a sender running ahead) are dropped,
              newest first (`overflow_samples`); what is buffered is never touched.
  duplicate   samples whose place is already filled keep the first arrival (`duplicate_samples`).
A packet that starts before the newest one seen is `reordered` and still used. Samples that never
arrive by the time the cursor passes them are played as silence (`gap_samples`).

Following the sender's clock: two crystals never agree (100 ppm is 6 ms a minute), and the first
packet may have been unusually late. So each packet's lag (where its arrival says it should start
minus where its timestamp puts it) is watched; the smallest lag over SLIP_WINDOW packets is the
path's floor, free of jitter. When that floor is more than `slip_samples` away from zero, the
mapping moves by it (`clock_slips`, `slipped_samples` signed): later leaves a short gap of
silence, earlier a short overlap kept once. Between slips, samples follow the timestamps exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESYNC_AFTER = 3  # absurd packets in a row that mean the sender's clock really moved
SLIP_WINDOW = 100  # packets (2 s of 20 ms packets) over which the smallest lag is the path's floor


@dataclass
class LaneCounts:
    packets: int = 0
    samples: int = 0  # received, before any drop
    late_samples: int = 0
    overflow_samples: int = 0
    duplicate_samples: int = 0
    absurd_packets: int = 0
    absurd_samples: int = 0
    reordered_packets: int = 0
    resyncs: int = 0
    gap_samples: int = 0  # played out as silence while the lane was active
    clock_slips: int = 0
    slipped_samples: int = 0  # signed: > 0 the mapping moved later (the sender's clock runs slow)

    def dropped(self) -> int:
        return self.late_samples + self.overflow_samples + self.absurd_samples


class VoiceLane:
    """One person's bounded jitter buffer; not thread-safe (the source holds the lock)."""

    def __init__(self, rate: int, capacity: int, resync_samples: int, slip_samples: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"a voice lane needs capacity >= 1 sample, got {capacity}")
        self.rate = rate
        self.capacity = capacity
        self.resync_samples = resync_samples
        self.slip_samples = rate // 100 if slip_samples is None else slip_samples  # 10 ms
        self._lag_floor: int | None = None
        self._lag_seen = 0
        self.counts = LaneCounts()
        self._buf = np.zeros(capacity, np.float32)
        self._filled = np.zeros(capacity, bool)
        self._origin: tuple[int, int] | None = None  # (sender_ns, session index) of the mapping
        self._newest_start = 0  # start index of the newest packet placed
        self._newest_end = 0  # the furthest index any placed packet reached
        self._absurd_run = 0
        self.last_arrival_ns: int | None = None

    @property
    def mapped(self) -> bool:
        return self._origin is not None

    def index_of(self, sender_ns: int) -> int:
        """Session sample index of a sender time, by the mapping (nearest sample)."""
        sender0, index0 = self._origin
        return index0 + ((sender_ns - sender0) * self.rate + 500_000_000) // 1_000_000_000

    def map_sender(self, sender_ns: int, index: int) -> None:
        self._origin = (sender_ns, index)

    def write(self, samples: np.ndarray, sender_ns: int, arrival_index: int, cursor: int, arrival_ns: int) -> None:
        """Place one packet. `arrival_index` is where a packet captured one duration ago would start."""
        n = int(samples.shape[0])
        self.counts.packets += 1
        self.counts.samples += n
        self.last_arrival_ns = arrival_ns
        if n == 0:
            return
        if self._origin is None:
            self.map_sender(sender_ns, arrival_index)
        start = self.index_of(sender_ns)
        if abs(start - cursor) > self.resync_samples:
            self._absurd_run += 1
            if self._absurd_run < RESYNC_AFTER:
                self.counts.absurd_packets += 1
                self.counts.absurd_samples += n
                return
            self.counts.resyncs += 1
            self.map_sender(sender_ns, arrival_index)
            self._newest_start = self._newest_end = 0
            self._lag_floor, self._lag_seen = None, 0
            start = arrival_index
        self._absurd_run = 0
        start = self._follow(start, arrival_index)
        if start < self._newest_start:
            self.counts.reordered_packets += 1
        self._newest_start = max(self._newest_start, start)
        self._newest_end = max(self._newest_end, start + n)
        self._place(samples, start, cursor)

    def _follow(self, start: int, arrival_index: int) -> int:
        """Watch the lag floor; move the mapping by it when it left the allowed band. Returns the new start."""
        lag = arrival_index - start
        self._lag_floor = lag if self._lag_floor is None else min(self._lag_floor, lag)
        self._lag_seen += 1
        if self._lag_seen < SLIP_WINDOW:
            return start
        floor, self._lag_floor, self._lag_seen = self._lag_floor, None, 0
        if abs(floor) <= self.slip_samples:
            return start
        sender0, index0 = self._origin
        self._origin = (sender0, index0 + floor)
        self.counts.clock_slips += 1
        self.counts.slipped_samples += floor
        self._newest_start = min(self._newest_start, start + floor)  # an earlier mapping is not a reorder
        return start + floor

    def _place(self, samples: np.ndarray, start: int, cursor: int) -> None:
        end = start + samples.shape[0]
        if start < cursor:
            late = min(end, cursor) - start
            self.counts.late_samples += late
            samples, start = samples[late:], cursor
        limit = cursor + self.capacity
        if end > limit:
            over = end - max(start, limit)
            self.counts.overflow_samples += over
            samples, end = samples[: samples.shape[0] - over], end - over
        if start >= end:
            return
        slots = np.arange(start, end) % self.capacity
        fresh = ~self._filled[slots]
        self.counts.duplicate_samples += int(slots.shape[0] - np.count_nonzero(fresh))
        self._buf[slots[fresh]] = samples[fresh]
        self._filled[slots[fresh]] = True

    def contiguous_end(self, cursor: int) -> int:
        """The first index at or after `cursor` with no sample yet."""
        if self._newest_end <= cursor:
            return cursor
        slots = np.arange(cursor, self._newest_end) % self.capacity
        holes = np.flatnonzero(~self._filled[slots])
        return cursor + (int(holes[0]) if holes.size else slots.shape[0])

    def take(self, cursor: int, n: int, active: bool) -> np.ndarray:
        """Samples [cursor, cursor + n), silence where none arrived; frees their slots."""
        slots = np.arange(cursor, cursor + n) % self.capacity
        have = self._filled[slots]
        out = np.where(have, self._buf[slots], np.float32(0.0)).astype(np.float32, copy=False)
        if active and self.mapped:
            self.counts.gap_samples += int(n - np.count_nonzero(have))
        self._filled[slots] = False
        return out

    def reset(self) -> None:
        """The sender went away: the next packet (a new peer) maps its own clock afresh."""
        self._origin = None
        self._lag_floor, self._lag_seen = None, 0
        self._newest_start = self._newest_end = 0
        self._absurd_run = 0
        self.last_arrival_ns = None

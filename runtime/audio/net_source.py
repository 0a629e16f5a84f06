"""Voices that arrive over the network (WebRTC tracks, WebSocket PCM) as one AudioSource.

Producers (a server's event loop, any thread) call `push(person, samples, rate, sender_ns)`
with one person's mono audio and the sender's capture time of its first sample; `end(person)`
when that person's track stops or their peer vanishes. Each person has a `VoiceLane`
(dyad.runtime.audio.voice_lane): the sender's clock mapped once onto the session's sample
clock, then followed, and a bounded jitter buffer with a written-down, counted drop rule.

The session clock starts with the first packet from anyone: t0 is its capture time (arrival
minus its duration). From then on `read()` plays out both people in step, sample index by
sample index, and never stops: chunk capture times are exactly t0 + start / rate. Playout of
sample i happens at the earliest of
  * every ACTIVE person (a packet within `stall_ms`) has sample i (no waiting at all), or
  * wall time t0 + i / rate + `playout_ms` (the jitter allowance): what has not arrived is
    played as silence and counted,
and never before its capture time (a sender running faster than real time waits in the buffer).
A person nobody sends for is silence. So the session keeps its fixed delay D and its frame
indices whatever the network does; network trouble shows up as counted silence.

No process-global state: a server hosting many sessions makes one source per session.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from dyad.runtime.audio.source import SESSION_CHANNELS, sanitize
from dyad.runtime.audio.voice_lane import VoiceLane
from dyad.runtime.clock import Clock, MonotonicClock
from dyad.runtime.frames import AudioChunk

log = logging.getLogger(__name__)

NS = 1_000_000_000
MAX_RATE = 192_000


class NetworkAudioSource:
    """Two people's voices from network senders, played out on the session's absolute clock."""

    channels = SESSION_CHANNELS

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        block_ms: float = 10.0,
        playout_ms: float = 40.0,
        capacity_ms: float = 2000.0,
        resync_ms: float = 3000.0,
        stall_ms: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.clock: Clock = clock or MonotonicClock()
        self.block = max(1, round(self.sample_rate * block_ms / 1000))
        self.playout_ns = int(playout_ms * 1e6)
        self.stall_ns = int(stall_ms * 1e6)
        capacity = max(self.block, round(self.sample_rate * capacity_ms / 1000))
        resync = round(self.sample_rate * resync_ms / 1000)
        self.lanes = [VoiceLane(self.sample_rate, capacity, resync) for _ in range(SESSION_CHANNELS)]
        self._cond = threading.Condition()
        self._t0_ns: int | None = None
        self._cursor = 0
        self._closed = False
        self._ended = [False, False]
        self.counts = {"bad_packets": 0, "resampled_packets": 0, "sanitised_samples": 0, "clipped_samples": 0, "senders_ended": 0}
        self._logged: set[str] = set()

    # --- producer side (any thread) ------------------------------------------------------
    def push(self, person: int, samples: np.ndarray, rate: int, sender_ns: int) -> bool:
        """One packet of `person`'s mono audio; False (counted, logged once) when it is unusable."""
        why = _refusal(person, samples, rate, sender_ns)
        if why is not None:
            self._count_once("bad_packets", f"network audio packet refused: {why}")
            return False
        clean, bad, clipped = sanitize(np.asarray(samples, np.float32).reshape(-1))
        if rate != self.sample_rate:
            clean = _resample(clean, rate, self.sample_rate)
            self.counts["resampled_packets"] += 1
        now = self.clock.now_ns()
        duration = clean.shape[0] * NS // self.sample_rate
        with self._cond:
            self.counts["sanitised_samples"] += bad
            self.counts["clipped_samples"] += clipped
            if self._t0_ns is None:
                self._t0_ns = now - duration
            arrival_index = (now - duration - self._t0_ns) * self.sample_rate // NS
            self._ended[person] = False
            self.lanes[person].write(clean, sender_ns, arrival_index, self._cursor, now)
            self._cond.notify_all()
        return True

    def end(self, person: int, reason: str = "") -> None:
        """`person`'s sender is gone (track ended, peer vanished): silence until a new one maps afresh."""
        with self._cond:
            if not 0 <= person < SESSION_CHANNELS or self._ended[person]:
                return
            self._ended[person] = True
            self.counts["senders_ended"] += 1
            self.lanes[person].reset()
            self._cond.notify_all()
        log.info("person %d's network audio ended%s", person, f": {reason}" if reason else "")

    def _count_once(self, counter: str, message: str) -> None:
        with self._cond:
            self.counts[counter] += 1
            first = counter not in self._logged
            self._logged.add(counter)
        if first:
            log.warning("%s (further ones are counted in session.json)", message)

    # --- AudioSource --------------------------------------------------------------------
    def start(self) -> None:
        """Nothing to open: the server that feeds `push` runs on its own."""

    @property
    def finished(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def t0_ns(self) -> int | None:
        return self._t0_ns

    def read(self, timeout_s: float) -> AudioChunk | None:
        deadline = self.clock.now_ns() + int(max(timeout_s, 0.0) * 1e9)
        with self._cond:
            while not self._closed:
                now = self.clock.now_ns()
                end = self._playable_end(now)
                if end > self._cursor:
                    return self._take(end)
                wake = self._next_deadline_ns()
                limit = deadline if wake is None else min(deadline, wake)
                if now >= deadline:
                    return None
                self._cond.wait(max(0.0005, (limit - now) / 1e9))
        return None

    def _active(self, lane: VoiceLane, now: int) -> bool:
        return lane.last_arrival_ns is not None and now - lane.last_arrival_ns <= self.stall_ns

    def _playable_end(self, now: int) -> int:
        """Where playout may go to now: whole blocks only, never past the capture clock."""
        if self._t0_ns is None:
            return self._cursor
        rate, cursor = self.sample_rate, self._cursor
        now_index = (now - self._t0_ns) * rate // NS
        by_deadline = (now - self.playout_ns - self._t0_ns) * rate // NS
        active = [lane for lane in self.lanes if self._active(lane, now)]
        complete = min((lane.contiguous_end(cursor) for lane in active), default=cursor)
        end = min(max(complete, by_deadline), now_index)
        if end - cursor < self.block and by_deadline < cursor + self.block:
            return cursor  # wait for a whole block (or its deadline)
        return end

    def _next_deadline_ns(self) -> int | None:
        if self._t0_ns is None:
            return None
        return self._t0_ns + (self._cursor + self.block) * NS // self.sample_rate + self.playout_ns

    def _take(self, end: int) -> AudioChunk:
        now = self.clock.now_ns()
        n = end - self._cursor
        columns = [lane.take(self._cursor, n, self._active(lane, now)) for lane in self.lanes]
        chunk = AudioChunk(self._cursor, np.stack(columns, axis=1), self.sample_rate, self._t0_ns + self._cursor * NS // self.sample_rate)
        self._cursor = end
        return chunk

    def stats(self) -> dict:
        with self._cond:
            lanes = [dict(vars(lane.counts)) for lane in self.lanes]
            counts = dict(self.counts)
        return {
            "dropped_samples": sum(lane.counts.dropped() for lane in self.lanes),
            "sanitised_samples": counts["sanitised_samples"],
            "clipped_samples": counts["clipped_samples"],
            "overflows": sum(lane["overflow_samples"] > 0 for lane in lanes),
            "resampled_from": None,
            "played_samples": self._cursor,
            "playout_ms": self.playout_ns / 1e6,
            **counts,
            "people": lanes,
        }


def _refusal(person: int, samples: np.ndarray, rate: int, sender_ns: int) -> str | None:
    if person not in (0, 1):
        return f"person {person} is not 0 or 1"
    if not 1000 <= rate <= MAX_RATE:
        return f"sample rate {rate} is not 1000..{MAX_RATE}"
    if not isinstance(sender_ns, int) or abs(sender_ns) >= 2**63:
        return f"capture time {sender_ns!r} is not a 64-bit integer of ns"
    if np.ndim(samples) != 1:
        return f"samples must be mono (1-D), got shape {np.shape(samples)}"
    return None


def _resample(samples: np.ndarray, rate: int, out_rate: int) -> np.ndarray:
    """One packet on its own (no state across packets: a lost or reordered packet cannot smear into others)."""
    import soxr

    return soxr.resample(samples, rate, out_rate, quality="QQ").astype(np.float32, copy=False)

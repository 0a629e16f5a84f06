"""The network voice source: sender timing mapped once, the jitter buffer's drop rule, playout on the absolute clock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dyad.runtime.audio.net_source import NetworkAudioSource
from dyad.runtime.audio.voice_lane import RESYNC_AFTER, VoiceLane

RATE = 16000
NS = 1_000_000_000
PACKET = 320  # 20 ms


def ramp(start: int, n: int = PACKET) -> np.ndarray:
    """Samples whose value says which sample they are: any misplacement shows."""
    return (np.arange(start, start + n) % 1000 / 1000.0).astype(np.float32)


def sender_ns(sample: int) -> int:
    return 5_000_000_000_000 + sample * NS // RATE  # the sender's own clock has its own epoch


def test_packets_land_by_their_timestamp_whatever_order_they_arrive_in():
    lane = VoiceLane(RATE, capacity=RATE, resync_samples=3 * RATE)
    order = [0, 2, 1, 3, 3, 5]  # a reorder, a duplicate, a loss (4)
    for k in order:
        lane.write(ramp(k * PACKET), sender_ns(k * PACKET), arrival_index=0 if k == 0 else 999, cursor=0, arrival_ns=k)
    assert lane.counts.reordered_packets == 1
    assert lane.counts.duplicate_samples == PACKET
    assert lane.contiguous_end(0) == 4 * PACKET  # packet 4 never came
    out = lane.take(0, 6 * PACKET, active=True)
    assert np.array_equal(out[: 4 * PACKET], ramp(0, 4 * PACKET))
    assert not out[4 * PACKET : 5 * PACKET].any()
    assert np.array_equal(out[5 * PACKET :], ramp(5 * PACKET))
    assert lane.counts.gap_samples == PACKET


def test_late_overflowing_and_absurd_packets_are_dropped_and_counted_then_a_moved_clock_is_followed():
    lane = VoiceLane(RATE, capacity=4 * PACKET, resync_samples=RATE)
    lane.write(ramp(0), sender_ns(0), arrival_index=100, cursor=0, arrival_ns=0)  # maps sender 0 -> index 100
    assert lane.contiguous_end(100) == 100 + PACKET
    lane.take(0, 100 + PACKET, active=True)
    lane.write(ramp(0), sender_ns(0), arrival_index=0, cursor=100 + PACKET, arrival_ns=0)  # already played
    assert lane.counts.late_samples == PACKET
    lane.write(ramp(0, 6 * PACKET), sender_ns(PACKET), arrival_index=0, cursor=100 + PACKET, arrival_ns=0)
    assert lane.counts.overflow_samples == 2 * PACKET  # only capacity (4 packets) past the cursor is kept
    for k in range(RESYNC_AFTER):  # a sender whose clock jumped an hour
        lane.write(ramp(0), sender_ns(3600 * RATE + k * PACKET), arrival_index=5000 + k * PACKET, cursor=100 + PACKET, arrival_ns=0)
    assert lane.counts.absurd_packets == RESYNC_AFTER - 1
    assert lane.counts.resyncs == 1
    assert lane.index_of(sender_ns(3600 * RATE + RESYNC_AFTER * PACKET)) == 5000 + RESYNC_AFTER * PACKET


def test_playout_is_contiguous_on_the_absolute_clock_and_an_absent_person_is_silence():
    source = NetworkAudioSource(sample_rate=RATE, playout_ms=400)  # generous: a loaded test machine sleeps late
    assert source.read(0.02) is None  # nobody has sent anything: the session clock has not started
    t_send = time.monotonic_ns()
    chunks, pushed = [], 0
    while pushed < 10 * PACKET:
        source.push(0, ramp(pushed), RATE, sender_ns(pushed))
        pushed += PACKET
        time.sleep(0.02)
        while (chunk := source.read(0)) is not None:
            chunks.append(chunk)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and sum(c.frames for c in chunks) < 10 * PACKET:
        if (chunk := source.read(0.05)) is not None:
            chunks.append(chunk)
    t0 = source.t0_ns
    assert t_send - NS // 10 < t0 < t_send  # the first packet was captured one packet before it arrived
    position = 0
    for chunk in chunks:
        assert chunk.start_sample == position
        assert chunk.capture_ns == t0 + position * NS // RATE
        position = chunk.end_sample
    audio = np.concatenate([c.samples for c in chunks])
    assert np.array_equal(audio[: 10 * PACKET, 0], ramp(0, 10 * PACKET))
    assert not audio[:, 1].any()
    stats = source.stats()
    assert stats["people"][0]["packets"] == 10 and stats["dropped_samples"] == 0


def test_bad_packets_are_refused_and_counted_not_raised():
    source = NetworkAudioSource(sample_rate=RATE)
    assert not source.push(2, ramp(0), RATE, 0)
    assert not source.push(0, ramp(0), 10, 0)
    assert not source.push(0, np.zeros((4, 2), np.float32), RATE, 0)
    assert source.push(0, np.full(PACKET, np.nan, np.float32), RATE, 0)
    assert source.push(1, ramp(0, 960), 48000, 0)  # another rate is resampled
    stats = source.stats()
    assert stats["bad_packets"] == 3 and stats["sanitised_samples"] == PACKET and stats["resampled_packets"] == 1
    assert stats["people"][1]["samples"] == PACKET


@pytest.mark.parametrize("person", [0, 1])
def test_a_sender_that_ends_leaves_silence_and_a_new_one_maps_its_own_clock(person):
    source = NetworkAudioSource(sample_rate=RATE, playout_ms=20)
    source.push(person, ramp(0), RATE, sender_ns(0))
    source.end(person, "test")
    source.push(person, ramp(0), RATE, 42)  # a new sender with a clock near zero: no resync, no absurd count
    lane = source.stats()["people"][person]
    assert lane["absurd_packets"] == 0 and lane["resyncs"] == 0 and source.stats()["senders_ended"] == 1


@pytest.mark.parametrize("ppm", [-2000, 2000])
def test_a_sender_clock_that_drifts_is_followed_by_counted_slips_not_lost_as_late(ppm):
    """A crystal off by `ppm` (exaggerated 20x) for 60 s: without following it, every packet after the
    first few seconds would land outside the playout allowance and be dropped."""
    lane = VoiceLane(RATE, capacity=2 * RATE, resync_samples=3 * RATE)
    playout = 640  # 40 ms
    for k in range(3000):  # 60 s of 20 ms packets, arriving exactly in real time
        arrival_index = k * PACKET
        sender_time = sender_ns(int(k * PACKET * (1 + ppm / 1e6)))
        cursor = max(0, arrival_index + PACKET - playout)
        lane.write(ramp(0), sender_time, arrival_index, cursor, arrival_ns=k)
    counts = lane.counts
    assert counts.clock_slips >= 5 and np.sign(counts.slipped_samples) == -np.sign(ppm)
    assert counts.late_samples == 0 and counts.overflow_samples == 0 and counts.absurd_packets == 0
    assert abs(counts.slipped_samples) == pytest.approx(abs(ppm) / 1e6 * 3000 * PACKET, abs=2 * lane.slip_samples)

"""The emitter's contract: exact pacing, each index once and in order, misses replaced and counted."""

from __future__ import annotations

import threading

import numpy as np

from dyad.runtime.clock import MonotonicClock, SimulatedClock
from dyad.runtime.emitter import Emitter
from dyad.runtime.animate.fallback import Fallback
from dyad.runtime.frame_store import FrameStore
from dyad.runtime.frames import PersonPose
from dyad.runtime.stats import SessionStats

FPS = 30
BUDGET_NS = 150_000_000


def _people(value: float) -> tuple[PersonPose, ...]:
    return tuple(
        PersonPose(person=p, root_position=np.full(3, value), joint_rotations=np.full((4, 3), value), face=np.full(61, value))
        for p in range(2)
    )


def _emitter(clock, store: FrameStore, sent: list):
    neutral = lambda index: _people(0.0)  # noqa: E731 - the silent target of the fallback
    return Emitter(FPS, BUDGET_NS, store, Fallback(neutral, ease=0.5), sent.append, clock, SessionStats())


def test_send_times_are_exact_and_never_drift_over_two_hours():
    clock = SimulatedClock(0)
    store = FrameStore(history_frames=16)
    sent: list = []
    emitter = _emitter(clock, store, sent)
    t0 = 123_456_789
    emitter.start(t0)
    k = 2 * 3600 * FPS  # two hours of frames
    assert emitter.audio_ns(k) == t0 + 2 * 3600 * 1_000_000_000
    assert emitter.target_ns(k) - emitter.audio_ns(k) == BUDGET_NS
    emitter.set_end(90)
    for index in range(90):
        store.put(index, _people(float(index)))
    emitter.emit_until(2**62, advance=clock.advance_to)
    assert [b.index for b in sent] == list(range(90))
    assert all(b.send_ns == b.target_ns == t0 + b.index * 1_000_000_000 // FPS + BUDGET_NS for b in sent)
    assert not any(b.fallback for b in sent)
    assert sent[-1].people[0].root_position[0] == 89.0


def test_missing_frames_get_eased_fallback_and_late_frames_are_refused():
    clock = SimulatedClock(0)
    store = FrameStore(history_frames=16)
    sent: list = []
    emitter = _emitter(clock, store, sent)
    emitter.start(0)
    emitter.set_end(6)
    store.put(0, _people(1.0))
    store.put(1, _people(1.0))
    store.put_hint(3, _people(0.2))
    emitter.emit_until(emitter.target_ns(4), advance=clock.advance_to)  # frames 0..4, 2..4 missing
    assert [b.fallback for b in sent] == [False, False, True, True, True]
    assert emitter._stats.counters["deadline_misses"] == 3
    # frame 2 eases from the last pose (1.0) halfway toward the silent target (0.0)
    assert sent[2].people[0].joint_rotations[0, 0] == 0.5
    # frame 3 eases toward the hint and takes the hint's face directly (lips follow the voice)
    assert np.isclose(sent[3].people[0].joint_rotations[0, 0], 0.5 + 0.5 * (0.2 - 0.5))
    assert sent[3].people[0].face[0] == np.float32(0.2)
    # a frame delivered after its index was closed is refused, never sent twice
    assert store.put(3, _people(9.0)) is False
    assert store.late_frames == 1
    store.put(5, _people(5.0))
    emitter.emit_until(2**62, advance=clock.advance_to)
    assert [b.index for b in sent] == list(range(6))
    assert sent[5].fallback is False


def test_realtime_loop_sends_on_time_without_waiting_for_frames():
    clock = MonotonicClock()
    store = FrameStore(history_frames=16)
    sent: list = []
    emitter = _emitter(clock, store, sent)
    stop = threading.Event()
    emitter.start(clock.now_ns())
    emitter.set_end(15)  # half a second, nothing ever delivered
    thread = threading.Thread(target=emitter.run, args=(stop,))
    thread.start()
    thread.join(5.0)
    assert not thread.is_alive()
    assert [b.index for b in sent] == list(range(15))
    assert all(b.fallback for b in sent)
    lateness_ms = np.array([(b.send_ns - b.target_ns) / 1e6 for b in sent])
    assert lateness_ms.min() >= 0.0
    assert np.median(lateness_ms) < 5.0  # loose: a shared 2-core machine

"""The emitter: frame k leaves at capture(t_k) + D, on a timeline that never drifts.

t_k = t0 + k * 1e9 / fps in integer nanoseconds, computed from k each time
(never accumulated), so pacing cannot drift. Each index is taken exactly once
and in order; a frame the scheduler has not delivered by then is replaced by
the fallback and counted as a deadline miss. Sending hands the bundle to
non-blocking sink queues, so a slow receiver never holds the emitter.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from dyad.runtime.clock import Clock
from dyad.runtime.animate.fallback import Fallback
from dyad.runtime.frame_store import FrameStore
from dyad.runtime.frames import FrameBundle
from dyad.runtime.stats import SessionStats

NS_PER_S = 1_000_000_000


class Emitter:
    def __init__(
        self,
        fps: int,
        budget_ns: int,
        store: FrameStore,
        fallback: Fallback,
        send: Callable[[FrameBundle], None],
        clock: Clock,
        stats: SessionStats,
    ) -> None:
        self.fps = fps
        self.budget_ns = budget_ns
        self._store = store
        self._fallback = fallback
        self._send = send
        self._clock = clock
        self._stats = stats
        self._emit_cost = stats.series("emit")  # wall time of one emit_next: fallback, bundle, hand-off to the sinks
        self._t0: int | None = None
        self._end: int | None = None  # total frame count, once the input has ended
        self._last = None
        self.next_index = 0
        self.started = threading.Event()

    # -- timeline -------------------------------------------------------------
    def start(self, t0_ns: int) -> None:
        """Anchor the timeline at the capture time of audio sample 0."""
        if self._t0 is None:
            self._t0 = t0_ns
            self.started.set()

    def set_budget_ns(self, budget_ns: int) -> None:
        """Change D while running (a control message). Send times stay t_k + D for the current D and
        indices stay contiguous: a shorter D sends the frames it makes due at once (a catch-up burst),
        a longer D makes the emitter wait the difference. No index is skipped or sent twice."""
        self.budget_ns = int(budget_ns)
        self._stats.count("budget_changes")

    def set_end(self, total_frames: int) -> None:
        self._end = total_frames

    @property
    def end(self) -> int | None:
        return self._end

    def audio_ns(self, index: int) -> int:
        assert self._t0 is not None, "emitter not started"
        return self._t0 + index * NS_PER_S // self.fps

    def target_ns(self, index: int) -> int:
        return self.audio_ns(index) + self.budget_ns

    def done(self) -> bool:
        return self._end is not None and self.next_index >= self._end

    # -- sending --------------------------------------------------------------
    def emit_next(self) -> FrameBundle:
        began = time.perf_counter_ns()
        index = self.next_index
        frame, hint = self._store.take(index)
        fallback = frame is None
        if fallback:
            frame = self._fallback.frame(index, self._last, hint)
            self._stats.count("deadline_misses")
        bundle = FrameBundle(
            index=index,
            audio_ns=self.audio_ns(index),
            target_ns=self.target_ns(index),
            send_ns=self._clock.now_ns(),
            fps=self.fps,
            people=frame,
            fallback=fallback,
        )
        self._send(bundle)
        self._store.record_sent(index, frame)
        self._stats.latency.add(bundle.latency_ns)
        self._stats.count("frames_sent")
        self._last = frame
        self.next_index = index + 1
        self._emit_cost.add(time.perf_counter_ns() - began)
        return bundle

    def emit_until(self, now_ns: int, advance: Callable[[int], None] | None = None) -> int:
        """Send every frame whose send time is at or before `now_ns` (offline driver).

        `advance(target)` moves a simulated clock to each frame's send time first,
        so send stamps equal targets exactly.
        """
        sent = 0
        while self._t0 is not None and not self.done() and self.target_ns(self.next_index) <= now_ns:
            if advance is not None:
                advance(self.target_ns(self.next_index))
            self.emit_next()
            sent += 1
        return sent

    def run(self, stop: threading.Event) -> None:
        """Real-time loop: sleep to each frame's send time, send, repeat; never waits on the scheduler."""
        while not stop.is_set() and not self.started.wait(0.05):
            pass
        while not stop.is_set() and not self.done():
            self._clock.sleep_until(self.target_ns(self.next_index), stop)
            if stop.is_set():
                break
            if self.target_ns(self.next_index) > self._clock.now_ns():
                continue  # the budget grew while sleeping: sleep on to the new send time
            self.emit_next()

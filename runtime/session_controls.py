"""What control input may change in a running session, behind one facade.

Control listeners (dyad.runtime.io) never reach into the session's parts: the hub acts
on these bindings only. Each change is one call: the controls state is replaced whole
(the next window sees all of it), the budget goes through the emitter's own setter.
"""

from __future__ import annotations

from typing import Callable

from dyad.runtime.animate.animator import Animator
from dyad.runtime.clock import Clock
from dyad.runtime.emitter import Emitter
from dyad.runtime.frames import ControlState
from dyad.runtime.io.control import ControlBindings, check_budget
from dyad.runtime.io.recording import Recording
from dyad.runtime.scheduler import Scheduler


class SessionControls:
    def __init__(self, scheduler: Scheduler, emitter: Emitter, recording: Recording, clock: Clock,
                 stop: Callable[[], None], floor_ms: float, animator: Animator | None = None) -> None:  # fmt: skip
        self._scheduler = scheduler
        self._emitter = emitter
        self._recording = recording
        self._clock = clock
        self._stop = stop
        self._floor_ms = floor_ms  # hop + lookahead + audio buffering: no budget may go below it
        self._animator = animator

    def state(self) -> ControlState:
        return self._scheduler.controls

    def set_state(self, state: ControlState) -> None:
        self._scheduler.set_controls(state)

    def set_budget_ms(self, ms: float) -> None:
        self._emitter.set_budget_ns(check_budget(ms, self._floor_ms))
        if self._animator is not None:  # its step policy plans against what the budget leaves for compute
            self._animator.budget_changed(ms - self._floor_ms)

    def record(self, on: bool) -> None:
        self._recording.start() if on else self._recording.stop()

    def stop(self) -> None:
        self._stop()

    def now_ns(self) -> int:
        return self._clock.now_ns()

    def bindings(self) -> ControlBindings:
        """What the control hub applies messages to."""
        return ControlBindings(
            get_state=self.state,
            set_state=self.set_state,
            set_budget_ms=self.set_budget_ms,
            record=self.record,
            stop=self.stop,
            now_ns=self.now_ns,
            latency=self.latency,
        )

    def latency(self) -> tuple[float, float, int]:
        """(D in ms as it is now, the floor no budget may go under, frames per second)."""
        return self._emitter.budget_ns / 1e6, self._floor_ms, self._emitter.fps

"""Step adaptation over a long session: the decision log is bounded, and a budget change over control
reaches the step policy's allowance (through the session's real control bindings)."""

from __future__ import annotations

from dyad.runtime.config import SessionConfig
from dyad.runtime.io.control import Command
from dyad.runtime.animate.procedural import ProceduralAnimator
from dyad.runtime.session import Session
from dyad.runtime.animate.step_policy import MAX_DECISIONS_KEPT, StepPolicy
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from dyad.models.skeleton import load_default_skeleton
from session_fixtures import write_dialogue


def test_an_oscillating_load_keeps_a_bounded_decision_log():
    policy = StepPolicy(8, allowance_ms=40.0, patience=4)
    frame = 0
    for _ in range(2000):  # overload (halve), then calm long enough to double again, over and over
        for compute in (60.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0):
            frame += 2
            policy.observe(frame, compute)
    report = policy.report()
    assert report["decisions_total"] > 2 * MAX_DECISIONS_KEPT
    assert len(report["decisions"]) == MAX_DECISIONS_KEPT
    assert report["decisions"][-1]["frame"] <= frame and report["decisions"][0]["frame"] > 2


def test_a_smaller_allowance_lowers_steps_sooner():
    policy = StepPolicy(4, allowance_ms=40.0)
    assert policy.observe(2, 25.0) is None  # 25 ms fits a 40 ms allowance
    policy.set_allowance(20.0)
    decision = policy.observe(4, 25.0)
    assert decision is not None and decision.steps_to == 2 and decision.allowance_ms == 20.0


class BudgetAwareAnimator(ProceduralAnimator):
    """The procedural animator plus the learned animator's budget hook, to see what the binding passes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allowances: list[float] = []

    def budget_changed(self, allowance_ms: float) -> None:
        self.allowances.append(allowance_ms)


def test_budget_message_reaches_the_animators_allowance(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=1.0)
    config = SessionConfig(offline=True, seconds=1.0)
    animator = BudgetAwareAnimator(load_default_skeleton(), fps=30, seed=0)
    session = Session(config, WavReplaySource(open_wav_inputs([wav]), seconds=1.0, realtime=False), animator=animator)
    try:
        session.control.apply(Command("budget", ms=200.0))
        session.control.apply(Command("budget", ms=50.0))  # below the floor: refused, the allowance untouched
    finally:
        session.run()
    floor = config.minimum_budget_ms()
    assert animator.allowances == [200.0 - floor]
    assert session.emitter.budget_ns == 200_000_000

"""The step-adaptation policy, fed measured-looking hop times (no clocks involved)."""

from __future__ import annotations

import pytest

from dyad.runtime.animate.step_policy import StepPolicy


def feed(policy: StepPolicy, times_ms: list[float], start: int = 0) -> list:
    return [d for k, t in enumerate(times_ms) if (d := policy.observe(start + 2 * k, t)) is not None]


def test_sustained_overload_halves_steps_down_to_the_floor_with_reasons():
    policy = StepPolicy(max_steps=8, allowance_ms=40.0)
    decisions = []
    for hop in range(30):  # a hop costs 26 ms + 1.25 ms per step: 36 ms at 8 steps, 31 at 4, 28.5 at 2
        decisions += feed(policy, [26.0 + 1.25 * policy.steps], start=2 * hop)
    assert [(d.steps_from, d.steps_to) for d in decisions] == [(8, 4), (4, 2)]  # 28.5 ms is under 75 % of 40
    assert policy.steps == 2
    assert all("median of 3 hops above 75%" in d.reason and d.allowance_ms == 40.0 for d in decisions)
    assert decisions[0].compute_ms == pytest.approx(36.0) and decisions[0].frame == 4
    assert policy.report()["decisions"][1]["steps_to"] == 2


def test_one_hop_over_the_whole_allowance_lowers_at_once_and_steps_never_go_below_min():
    policy = StepPolicy(max_steps=4, allowance_ms=40.0, min_steps=2)
    (decision,) = feed(policy, [10.0, 55.0])
    assert (decision.steps_from, decision.steps_to, decision.frame) == (4, 2, 2)
    assert decision.reason == "one hop overran the allowance"
    assert feed(policy, [90.0] * 10) == [] and policy.steps == 2


def test_steps_come_back_only_after_patience_when_the_projection_is_cheap():
    policy = StepPolicy(max_steps=8, allowance_ms=40.0, patience=20)
    feed(policy, [50.0])  # a spike: 8 -> 4, raising blocked for 20 hops
    assert policy.steps == 4
    assert feed(policy, [5.0] * 19) == []  # held
    (up,) = feed(policy, [5.0] * 1)
    assert (up.steps_from, up.steps_to) == (4, 8) and "stays below 40%" in up.reason
    assert up.compute_ms == pytest.approx(10.0)


def test_no_raise_when_doubling_would_come_near_the_budget():
    policy = StepPolicy(max_steps=8, allowance_ms=40.0, patience=10)
    feed(policy, [50.0])
    assert feed(policy, [9.0] * 50) == []  # 9 ms x 2 = 18 ms > 40 % of 40 ms: stays at 4 steps
    assert policy.steps == 4


def test_bad_step_bounds_are_refused():
    with pytest.raises(ValueError):
        StepPolicy(max_steps=2, allowance_ms=40.0, min_steps=3)

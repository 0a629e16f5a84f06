"""How the learned animator trades sampling steps for time when compute nears the budget.

The compute allowance is what the latency contract leaves for compute:
budget - (hop + lookahead + audio buffering). The animator's own share is a
fraction of it (`high`), because the front end, the procedural hint and transport
need the rest.

Policy, one decision at a time, each recorded with its reason:
- lower: when the median of the last `react` hops exceeds `high` x allowance, or
  one hop alone overruns the whole allowance, halve the steps (down to `min_steps`);
- raise: after `patience` hops at the current steps, when even the slowest of them
  times the step ratio would stay under `low` x allowance, double the steps (up
  to the configured `max_steps`). A lowering blocks raising for `patience` hops,
  so the count does not oscillate.
- failure: a hop that raised (a model exception, out of GPU memory) halves the
  steps at once and blocks raising for `patience` hops, like a lowering.
Offline sessions do not adapt to timing: compute takes no simulated time there
and their frames must be bit-identical from run to run (a failure still lowers).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class StepDecision:
    frame: int  # first new frame of the hop whose timing triggered the decision
    steps_from: int
    steps_to: int
    reason: str
    compute_ms: float  # the measure the rule compared (median or slowest hop, ms)
    allowance_ms: float


MAX_DECISIONS_KEPT = 256


class StepPolicy:
    def __init__(
        self,
        max_steps: int,
        allowance_ms: float,
        min_steps: int = 1,
        high: float = 0.75,
        low: float = 0.4,
        react: int = 3,
        patience: int = 60,
    ) -> None:
        if not 1 <= min_steps <= max_steps:
            raise ValueError(f"steps must satisfy 1 <= min_steps <= max_steps, got {min_steps}, {max_steps}")
        self.max_steps = max_steps
        self.min_steps = min_steps
        self.steps = max_steps
        self.allowance_ms = allowance_ms
        self.high, self.low, self.react, self.patience = high, low, react, patience
        # The latest decisions only: an oscillating load must not grow memory for hours. All are counted.
        self.decisions: deque[StepDecision] = deque(maxlen=MAX_DECISIONS_KEPT)
        self.decisions_total = 0
        self._recent: deque[float] = deque(maxlen=patience)
        self._hold = 0  # hops before a raise may be considered

    def observe(self, frame: int, compute_ms: float) -> StepDecision | None:
        """Record one hop's compute time; return the decision it caused, if any."""
        self._recent.append(compute_ms)
        self._hold = max(0, self._hold - 1)
        recent = list(self._recent)[-self.react :]
        median = sorted(recent)[len(recent) // 2]
        if self.steps > self.min_steps and (compute_ms > self.allowance_ms or (len(recent) == self.react and median > self.high * self.allowance_ms)):
            measure, why = (compute_ms, "one hop overran the allowance") if compute_ms > self.allowance_ms else (median, f"median of {self.react} hops above {self.high:.0%} of the allowance")
            return self._change(frame, max(self.min_steps, self.steps // 2), why, measure)
        if self.steps < self.max_steps and self._hold == 0 and len(self._recent) == self.patience:
            target = min(self.max_steps, self.steps * 2)
            projected = max(self._recent) * target / self.steps
            if projected < self.low * self.allowance_ms:
                return self._change(frame, target, f"slowest of {self.patience} hops x {target}/{self.steps} stays below {self.low:.0%} of the allowance", projected)
        return None

    def after_failure(self, frame: int, reason: str) -> StepDecision | None:
        """A hop failed: the next one runs with half the steps (None when already at the minimum)."""
        if self.steps <= self.min_steps:
            return None
        return self._change(frame, max(self.min_steps, self.steps // 2), reason, 0.0)

    def _change(self, frame: int, steps: int, reason: str, measure_ms: float) -> StepDecision:
        decision = StepDecision(frame, self.steps, steps, reason, round(measure_ms, 3), round(self.allowance_ms, 3))
        if steps < self.steps:
            self._hold = self.patience
        self.steps = steps
        self._recent.clear()
        self.decisions.append(decision)
        self.decisions_total += 1
        return decision

    def set_allowance(self, allowance_ms: float) -> None:
        """The budget changed (a control message): adapt against the new allowance from the next hop."""
        self.allowance_ms = allowance_ms
        self._recent.clear()  # hops timed against the old allowance say nothing about raising now

    def report(self) -> dict:
        return {
            "steps_now": self.steps,
            "max_steps": self.max_steps,
            "min_steps": self.min_steps,
            "allowance_ms": round(self.allowance_ms, 3),
            "thresholds": {"lower_above": self.high, "raise_below": self.low, "react_hops": self.react, "patience_hops": self.patience},
            "decisions": [asdict(d) for d in self.decisions],  # the latest MAX_DECISIONS_KEPT
            "decisions_total": self.decisions_total,
        }

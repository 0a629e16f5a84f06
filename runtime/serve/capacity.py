"""How many sessions this server admits: measured, never guessed.

In order of preference:
  --capacity N                 the operator's number
  --capacity-file FILE         what `dyad bench serve` measured (whole sessions at zero misses),
                               used only if it was measured for this model and step count
  a calibration at start       the shared model's batched compute per hop for 1, 2, 4, ... dyads
                               until it no longer fits the hop and the budget's compute allowance
                               (it leaves out each session's front end: the benchmark's number is
                               the better one)
A server with no learned model and none of the above admits without a bound, and says so.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError

CALIBRATION_HOPS = 6


@dataclass(frozen=True)
class Capacity:
    sessions: float  # math.inf: unbounded
    source: str  # where the number comes from, said in refusals and at start


def compute_limit_ms(session: SessionConfig) -> float:
    """What one hop's compute may take: the hop itself (or hops queue up) and the budget's allowance."""
    t = session.timing
    return min(t.hop_frames / t.fps * 1000.0, t.budget_ms - session.minimum_budget_ms())


def capacity_from_file(path: Path, model: str, steps: int) -> Capacity:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        summary = data["summary"]
        sessions = int(summary["sessions_at_zero_misses"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DyadError(f"--capacity-file {path}: not a `dyad bench serve` result ({type(error).__name__}: {error})") from None
    measured_for = (str(data.get("model")), int(data.get("steps", -1)))
    if measured_for != (model, steps):
        raise DyadError(f"--capacity-file {path}: measured for model {measured_for[0]} at {measured_for[1]} steps, "
                        f"this server runs {model} at {steps} steps; measure again with dyad bench serve")  # fmt: skip
    return Capacity(sessions, f"measured by dyad bench serve on {data.get('device', 'this machine')}: {path}")


def calibrate(model, session: SessionConfig, max_sessions: int = 256) -> Capacity:
    """Double the batch until the p90 batched compute per hop exceeds the limit; the last one that fit."""
    from dyad.runtime.serve.silent_window import silent_inputs

    limit = compute_limit_ms(session)
    inputs = silent_inputs(model.template, session)
    generator, steps = model.template.generator, model.config.steps

    def p90_ms(n: int) -> float:
        times = []
        for _ in range(CALIBRATION_HOPS + 1):  # the first call of a new batch size warms up, uncounted
            began = time.perf_counter()
            generator.generate_batch([inputs] * n, steps, list(range(n)))
            times.append((time.perf_counter() - began) * 1000.0)
        return float(np.percentile(times[1:], 90))

    # timed on a thread with the batcher's torch thread count: the figure the live batches will see
    with ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(model.config.cpu_threads,)) as worker:
        fits, n = 0, 1
        while n <= max_sessions and worker.submit(p90_ms, n).result() <= limit:
            fits, n = n, n * 2
    return Capacity(fits if fits else 1, f"calibrated at start: {fits} dyads' batched compute per hop fits {limit:.1f} ms "
                                        f"at {steps} steps (front ends not included)")  # fmt: skip


def unbounded() -> Capacity:
    return Capacity(math.inf, "no learned model and no --capacity: not bounded")

"""The learned body's run-time filter: chosen on synthetic held-out data, and the one the animator uses."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from dyad.benchmarks.body_filter_bench import CANDIDATES, choose, motion_stats
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.animate.learned_config import LearnedConfig

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_the_animator_uses_the_setting_the_bench_chose():
    """Every committed body-filter result chose the learned animator's default filter and anchor."""
    results = sorted(RESULTS.glob("*/body_filter.json"))
    if not results:
        pytest.skip("no body_filter.json under benchmarks/results (dyad bench body-filter writes one)")
    default = LearnedConfig(Path("model"))
    for path in results:
        chosen = json.loads(path.read_text(encoding="utf-8"))["chosen"]
        assert chosen["smoothing"] == (None if default.smoothing is None else asdict(default.smoothing)), path
        assert chosen["anchor"] == (None if default.anchor is None else asdict(default.anchor)), path
        assert chosen["setting"] in [name for name, _, _ in CANDIDATES]


def test_choice_weighs_energy_and_seams_together():
    rows = [
        {"setting": "still", "speed_mean_ratio": 0.3, "speed_p95_ratio": 0.3, "seam_ratio": 1.0},
        {"setting": "jittery", "speed_mean_ratio": 1.0, "speed_p95_ratio": 1.0, "seam_ratio": 20.0},
        {"setting": "balanced", "speed_mean_ratio": 0.8, "speed_p95_ratio": 0.9, "seam_ratio": 1.5},
    ]
    assert choose(rows)["setting"] == "balanced"


def test_motion_stats_see_hop_seams():
    """A wrist that jumps at every 4th frame (a hop of 4) has its jerk on the joins; a smooth one has little."""
    skeleton = load_default_skeleton()
    frames = 120
    roots = np.zeros((1, frames, 3))
    rotations = np.zeros((1, frames, skeleton.num_joints, 3))
    elbow = skeleton.index("RightForeArm")
    rotations[0, :, elbow, 1] = 0.3 * np.sin(2 * np.pi * np.arange(frames) / 30)  # a smooth 1 Hz swing
    smooth = motion_stats(skeleton, roots, rotations, 30, hop=4, first_new=0)
    rotations[0, :, elbow, 1] += 0.05 * (np.arange(frames) // 4 % 2)  # each hop lands 0.05 rad off the last
    seamed = motion_stats(skeleton, roots, rotations, 30, hop=4, first_new=0)
    assert smooth["speed"].mean() > 0
    # a step spreads over three jerk samples (1, 2, 1): the middle one, on the join, is the largest
    assert seamed["jerk"][:, seamed["joins"]].mean() > 2 * seamed["jerk"][:, ~seamed["joins"]].mean()
    assert seamed["jerk"][:, seamed["joins"]].mean() > 3 * smooth["jerk"][:, smooth["joins"]].mean()

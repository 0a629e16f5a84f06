"""The learned animator's two causal clean-ups: the One-Euro hop-seam filter and the root anchor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dyad.models.pose import apply_yaw, yaw_of
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState
from dyad.runtime.animate.learned_config import LearnedConfig
from dyad.runtime.animate.motion_filter import OneEuroConfig, smooth_new_frames
from dyad.runtime.animate.procedural import Placement
from dyad.runtime.animate.root_anchor import AnchorConfig, anchor_roots

FPS = 30


def _stitch(truth: np.ndarray, hop_error: float, smooth: bool, context: int = 8, hop: int = 2, seed: int = 0) -> np.ndarray:
    """Play a hop-wise sampler: every hop's new frames are the truth plus that hop's own offset."""
    rng = np.random.default_rng(seed)
    sent = truth[:context].copy()
    while len(sent) < len(truth):
        start = len(sent)
        new = truth[start : start + hop] + rng.normal(0, hop_error, truth.shape[1])
        window = np.concatenate([sent[-context:], new])
        if smooth:
            new = smooth_new_frames(window, context, FPS, OneEuroConfig(), np.ones(truth.shape[1]))
        sent = np.concatenate([sent, new])
    return sent


def _jerk(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, n=3, axis=0)).mean())


def test_one_euro_removes_hop_seams_but_keeps_the_motion():
    t = np.arange(300) / FPS
    truth = np.stack([np.sin(2 * np.pi * 0.5 * t), 0.5 * np.sin(2 * np.pi * 1.3 * t)], axis=1)
    raw = _stitch(truth, 0.05, smooth=False)
    smooth = _stitch(truth, 0.05, smooth=True)
    assert _jerk(smooth) < 0.5 * _jerk(raw)  # the seams are what the filter removes
    # the price is lag, bounded: the smoothed motion matches the truth best 1-2 frames late (33-67 ms)
    errors = [np.abs(smooth[20 + lag :] - truth[20 : len(truth) - lag]).mean() for lag in range(6)]
    assert 1 <= int(np.argmin(errors)) <= 2
    lag = int(np.argmin(errors))
    assert np.corrcoef(smooth[20 + lag :, 1], truth[20 : len(truth) - lag, 1])[0, 1] > 0.98  # the shape is kept


def test_one_euro_follows_fast_motion_more_closely_than_slow_motion():
    # the cutoff rises with speed: a fast ramp lags by fewer frames than a slow one
    def lag_frames(rate: float) -> float:
        ramp = (np.arange(40) * rate / FPS)[:, None]
        out = smooth_new_frames(ramp, 8, FPS, OneEuroConfig(), np.ones(1))
        return float((ramp[-1, 0] - out[-1, 0]) / (rate / FPS))

    assert lag_frames(20.0) < 0.5 * lag_frames(0.2)


def test_one_euro_leaves_a_steady_pose_and_cold_starts_alone():
    steady = np.full((10, 3), 0.7)
    assert np.allclose(smooth_new_frames(steady, 8, FPS, OneEuroConfig(), np.ones(3)), 0.7)
    cold = np.random.default_rng(1).normal(size=(10, 3))
    assert np.array_equal(smooth_new_frames(cold, 0, FPS, OneEuroConfig(), np.ones(3)), cold)


def _standing(frames: int, bias_cm: float, yaw_bias: float) -> tuple[np.ndarray, np.ndarray]:
    """Both people at their placement, facing each other, with a per-frame drift in x and yaw."""
    placement = Placement()
    roots = np.zeros((2, frames, 3))
    rotations = np.zeros((2, frames, 3))
    for p, (x, z) in enumerate(placement.positions):
        roots[p, :, 0] = x + bias_cm * np.arange(frames)
        roots[p, :, 1] = 95.0
        roots[p, :, 2] = z
        rotations[p] = apply_yaw(math.pi / 2 * (1 if p == 0 else -1) + yaw_bias * np.arange(frames), np.zeros((frames, 3)))
    return roots, rotations


def test_anchor_stops_drift_of_standing_people_and_keeps_them_facing():
    roots, rotations = _standing(300, bias_cm=2.0, yaw_bias=0.01)
    fixed_roots, fixed_rot = anchor_roots(roots, rotations, ControlState(), Placement(), AnchorConfig())
    assert np.abs(roots[0, -1, 0] - roots[0, 0, 0]) > 500  # the raw deltas drift 6 m
    home = np.array(Placement().positions)
    assert np.abs(fixed_roots[:, -1, [0, 2]] - home).max() < 2.0 / 0.15 + 1e-6  # bounded by bias / pull
    yaw = yaw_of(fixed_rot[:, -1])
    assert abs(math.remainder(yaw[0] - math.pi / 2, 2 * math.pi)) < 0.1 and abs(math.remainder(yaw[1] + math.pi / 2, 2 * math.pi)) < 0.1
    assert np.array_equal(fixed_roots[:, 0], roots[:, 0]) and np.allclose(fixed_rot[:, 0], rotations[:, 0])  # the sent frame stays
    assert np.allclose(fixed_roots[..., 1], roots[..., 1])  # height is the model's


def test_anchor_lets_walkers_walk_abreast_and_fixes_only_their_lane():
    frames, speed = 120, 3.0
    roots, rotations = _standing(frames, 0.0, 0.0)
    rotations[:] = 0.0  # heading +Z (forward_yaw 0)
    roots[0, :, 2] += speed * np.arange(frames)
    roots[1, :, 2] += (speed - 0.5) * np.arange(frames)  # the second walker falls behind
    roots[1, :, 0] += 1.0 * np.arange(frames)  # and drifts sideways
    walking = ControlState(actions=("walk", "walk"), facing=True)
    fixed, _ = anchor_roots(roots, rotations, walking, Placement(), AnchorConfig())
    assert fixed[0, -1, 2] > 0.8 * speed * frames and fixed[1, -1, 2] > 0.8 * speed * frames  # they still walk
    assert abs(fixed[0, -1, 2] - fixed[1, -1, 2]) < 0.2 * abs(roots[0, -1, 2] - roots[1, -1, 2])  # abreast
    assert abs(fixed[1, -1, 0] - Placement().positions[1][0]) < 10.0  # back in the lane


def test_bad_clean_up_settings_are_refused_with_the_field_named():
    with pytest.raises(DyadError, match="position_pull"):
        LearnedConfig("m", anchor=AnchorConfig(position_pull=1.5)).validate()
    with pytest.raises(DyadError, match="positive cutoffs"):
        LearnedConfig("m", smoothing=OneEuroConfig(min_cutoff_hz=0.0)).validate()

"""Keeps a learned dyad where the session placed it: a causal pull of each root toward its anchor.

The body model predicts root motion as per-frame deltas (dx, dz, dyaw), which the
animator integrates. Any small bias integrates into drift: before this correction
the bundled model's two people wandered metres apart within a minute of standing
conversation. The session, not the model, owns where the two people are (the
controls' actions and facing, the `Placement`), so every new frame keeps the
model's own step and then moves a share of the remaining way to the anchor:

- standing or sitting: toward the placed position; walking: sideways toward the
  walking lane and along the track toward the partner, so walkers stay side by side;
- heading: toward the partner when the controls say facing (and not walking),
  else along `Placement.forward_yaw`.

With the default pull (15 % per frame, about 0.2 s time constant at 30 fps) the
model's gestures, weight shifts and steps show, and no error outlives a second.
The correction uses only the last sent frame and the new ones, so it is causal
and deterministic like the rest of the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dyad.models.pose import apply_yaw, remove_yaw, yaw_of
from dyad.runtime.frames import ControlState
from dyad.runtime.animate.procedural import Placement


@dataclass(frozen=True)
class AnchorConfig:
    position_pull: float = 0.15  # share of the remaining distance closed per frame
    yaw_pull: float = 0.15

    def validate(self) -> AnchorConfig:
        for name in ("position_pull", "yaw_pull"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"root anchor {name} must be within 0..1, got {getattr(self, name)}")
        return self


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _target_yaw(p: int, xz: np.ndarray, controls: ControlState, placement: Placement) -> float:
    d = xz[1 - p] - xz[p]
    if controls.facing and controls.actions[p] != "walk" and float(d @ d) > 1.0:
        return math.atan2(d[0], d[1])
    return placement.forward_yaw


def _target_xz(p: int, xz: np.ndarray, controls: ControlState, placement: Placement) -> np.ndarray:
    home = np.asarray(placement.positions[p], dtype=np.float64)
    if controls.actions[p] != "walk":
        return home
    forward = np.array([math.sin(placement.forward_yaw), math.cos(placement.forward_yaw)])
    side = np.array([forward[1], -forward[0]])
    along = float(xz[p] @ forward)
    if controls.actions[1 - p] == "walk":
        along = 0.5 * (along + float(xz[1 - p] @ forward))  # walkers keep abreast
    return side * float(home @ side) + forward * along


def anchor_roots(roots: np.ndarray, root_rotations: np.ndarray, controls: ControlState, placement: Placement, config: AnchorConfig) -> tuple[np.ndarray, np.ndarray]:
    """roots [2, 1 + N, 3], root_rotations [2, 1 + N, 3] (exp-map): frame 0 is the last sent one and
    stays; frames 1.. keep their own steps and turns, pulled toward the anchors. Returns new arrays."""
    roots = np.array(roots, dtype=np.float64)
    yaw_in = np.unwrap(yaw_of(root_rotations), axis=-1)
    tilt = remove_yaw(root_rotations)
    xz_in = roots[..., [0, 2]]
    xz_out, yaw_out = xz_in.copy(), yaw_in.copy()
    for k in range(1, roots.shape[1]):
        stepped_xz = xz_out[:, k - 1] + (xz_in[:, k] - xz_in[:, k - 1])
        for p in (0, 1):
            target = _target_xz(p, stepped_xz, controls, placement)
            xz_out[p, k] = stepped_xz[p] + config.position_pull * (target - stepped_xz[p])
        for p in (0, 1):
            stepped_yaw = yaw_out[p, k - 1] + (yaw_in[p, k] - yaw_in[p, k - 1])
            target_yaw = _target_yaw(p, xz_out[:, k], controls, placement)
            yaw_out[p, k] = stepped_yaw + config.yaw_pull * _wrap(target_yaw - stepped_yaw)
    roots[..., 0], roots[..., 2] = xz_out[..., 0], xz_out[..., 1]
    return roots, apply_yaw(yaw_out, tilt)

"""The body model's representation of a pose sequence, split into lower and upper body (numpy only).

Lower features per frame: root height, (dx, dz, dyaw) from the previous frame in its
ground-projected heading frame (`pose.root_to_deltas`, as in Listen-Denoise-Action),
the root's tilt (its rotation with the heading removed, exp-map) and one exp-map per
lower joint. Upper features: one exp-map per upper joint. Which joint goes where is a
`BodySplit`: data stored in the model's config, checked against the skeleton.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dyad.models.pose import apply_yaw, deltas_to_root, remove_yaw, root_to_deltas, yaw_of
from dyad.models.skeleton import Skeleton

DEFAULT_LOWER_JOINTS = (
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
    "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase",
)  # fmt: skip
ROOT_FEATURES = ("height", "dx", "dz", "dyaw", "tilt_x", "tilt_y", "tilt_z")
DELTA_COLUMNS = slice(1, 4)  # dx, dz, dyaw: unknown for a window's first frame (its predecessor is outside)


@dataclass(frozen=True)
class BodySplit:
    """Joint names of the lower and upper networks; together every joint but the root, once."""

    lower: tuple[str, ...]
    upper: tuple[str, ...]

    @classmethod
    def default(cls, skeleton: Skeleton) -> BodySplit:
        lower = tuple(n for n in DEFAULT_LOWER_JOINTS if n in skeleton.joint_names)
        upper = tuple(n for n in skeleton.joint_names[1:] if n not in lower)
        return cls(lower, upper)

    @property
    def lower_dim(self) -> int:
        return len(ROOT_FEATURES) + 3 * len(self.lower)

    @property
    def upper_dim(self) -> int:
        return 3 * len(self.upper)

    def check(self, skeleton: Skeleton) -> None:
        """ValueError naming the first joint that is unknown, repeated, the root, or left out."""
        names = skeleton.joint_names
        seen: set[str] = set()
        for name in self.lower + self.upper:
            if name not in names:
                raise ValueError(f"body split names joint {name!r}, which the skeleton does not have")
            if name == names[0]:
                raise ValueError(f"body split lists the root {name!r}: the root is always part of the lower features")
            if name in seen:
                raise ValueError(f"body split lists joint {name!r} twice")
            seen.add(name)
        missing = [n for n in names[1:] if n not in seen]
        if missing:
            raise ValueError(f"body split leaves out joint {missing[0]!r} ({len(missing)} joints in all)")


def encode_body(
    skeleton: Skeleton, split: BodySplit, root_positions: np.ndarray, rotations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(root_positions [..., T, 3], rotations [..., T, J, 3]) -> (lower [..., T, Dl], upper [..., T, Du]).

    Row 0's deltas are zero: the frame before the sequence is unknown."""
    root_positions = np.asarray(root_positions, dtype=np.float64)
    rotations = np.asarray(rotations, dtype=np.float64)
    yaw = np.unwrap(yaw_of(rotations[..., 0, :]), axis=-1)
    height, deltas = root_to_deltas(root_positions, yaw)
    tilt = remove_yaw(rotations[..., 0, :])
    lead = rotations.shape[:-2]
    legs = rotations[..., skeleton.joint_subset(split.lower), :].reshape(lead + (-1,))
    lower = np.concatenate([height[..., None], deltas, tilt, legs], axis=-1)
    upper = rotations[..., skeleton.joint_subset(split.upper), :].reshape(lead + (-1,))
    return lower, upper


def decode_body(
    skeleton: Skeleton,
    split: BodySplit,
    lower: np.ndarray,
    upper: np.ndarray,
    start_position_xz: np.ndarray,
    start_yaw: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `encode_body`: frame 0 is placed at (start xz, start yaw), later frames follow
    the deltas -> (root_positions [..., T, 3], rotations [..., T, J, 3])."""
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    positions, yaw = deltas_to_root(lower[..., 0], lower[..., DELTA_COLUMNS], start_position_xz, start_yaw)
    lead = lower.shape[:-1]
    rotations = np.zeros(lead + (skeleton.num_joints, 3))
    rotations[..., 0, :] = apply_yaw(yaw, lower[..., 4:7])
    rotations[..., skeleton.joint_subset(split.lower), :] = lower[..., 7:].reshape(lead + (-1, 3))
    rotations[..., skeleton.joint_subset(split.upper), :] = upper.reshape(lead + (-1, 3))
    return positions, rotations

"""The pose representation every part of dyad agrees on (numpy only).

Units and axes: template units (centimetres for the dyad template), Y up, the
character faces +Z at yaw 0 and its left side is +X. Angles are radians except
in BVH channels, which are degrees.

A pose is `root_position [..., 3]` (global, where the root joint is) plus
`rotations [..., J, 3]`: one local exponential map (axis-angle) per joint in
the skeleton's joint order. Row 0 is the root's global orientation; row j > 0
rotates joint j's children relative to its parent, exactly like the BVH
channels of that joint (R_j = product of its rotation channels in listed order).

Root trajectory for the body model (as in Listen-Denoise-Action): height plus
per-frame deltas (dx, dz, dyaw) expressed in the ground-projected heading frame
of the previous frame, integrated back into a global trajectory.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dyad.models.rotations import (
    axis_angle_to_matrix,
    elementary_matrix,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler,
    wrap_angle,
)
from dyad.models.skeleton import POSITION_CHANNELS, Skeleton

_Y = 1  # up axis


def rest_pose(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """(root_position [3], rotations [J, 3]): the hierarchy's rest pose.

    The root sits at its OFFSET, which for the dyad template puts the feet on y = 0."""
    return np.array(skeleton.offsets[0], dtype=np.float64), np.zeros((skeleton.num_joints, 3))


def global_transforms(
    skeleton: Skeleton, root_position: np.ndarray, rotations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(positions [..., J, 3], global rotation matrices [..., J, 3, 3])."""
    rotations = np.asarray(rotations, dtype=np.float64)
    root_position = np.asarray(root_position, dtype=np.float64)
    if rotations.shape[-2:] != (skeleton.num_joints, 3):
        raise ValueError(f"rotations must be [..., {skeleton.num_joints}, 3], got {rotations.shape}")
    local = axis_angle_to_matrix(rotations)
    lead = np.broadcast_shapes(rotations.shape[:-2], root_position.shape[:-1])
    positions = np.zeros(lead + (skeleton.num_joints, 3))
    world = np.zeros(lead + (skeleton.num_joints, 3, 3))
    # The root's position channels are absolute (its OFFSET is only the rest placement).
    positions[..., 0, :] = root_position
    world[..., 0, :, :] = local[..., 0, :, :]
    for j in range(1, skeleton.num_joints):
        p = skeleton.parents[j]
        positions[..., j, :] = positions[..., p, :] + world[..., p, :, :] @ skeleton.offsets[j]
        world[..., j, :, :] = world[..., p, :, :] @ local[..., j, :, :]
    return positions, world


def forward_kinematics(skeleton: Skeleton, root_position: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Global joint positions [..., J, 3] in template units."""
    return global_transforms(skeleton, root_position, rotations)[0]


def end_site_positions(skeleton: Skeleton, root_position: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Global End Site positions [..., E, 3], in joint order of the joints that own one."""
    positions, world = global_transforms(skeleton, root_position, rotations)
    owners = [j for j, site in enumerate(skeleton.end_sites) if site is not None]
    sites = np.array([skeleton.end_sites[j] for j in owners], dtype=np.float64)
    return positions[..., owners, :] + (world[..., owners, :, :] @ sites[:, :, None])[..., 0]


@lru_cache(maxsize=32)
def _channel_layout(skeleton: Skeleton) -> tuple:
    """Where each joint's values live in a motion row, grouped so conversions run vectorised.

    Returns (rotation groups, position columns): one group per distinct rotation
    order, (order, joint indices [n], columns [n, 3] in that order's axis order),
    and for position channels (joint, axis, column) triples."""
    groups: dict[str, tuple[list[int], list[list[int]]]] = {}
    positions: list[tuple[int, int, int]] = []
    for j, chans in enumerate(skeleton.channels):
        start = skeleton.channel_starts[j]
        order = skeleton.rotation_order(j)
        if order:
            joints, columns = groups.setdefault(order, ([], []))
            joints.append(j)
            columns.append([start + chans.index(f"{axis}rotation") for axis in order])
        positions += [(j, POSITION_CHANNELS.index(c), start + n) for n, c in enumerate(chans) if c in POSITION_CHANNELS]
    rotation_groups = tuple((o, np.array(js), np.array(cs)) for o, (js, cs) in groups.items())
    return rotation_groups, tuple(positions)


def pose_to_bvh_channels(skeleton: Skeleton, root_position: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """BVH motion values [..., C] (degrees), in file channel order.

    Joints appear in depth-first (file) order and each joint's values follow its
    declared channel order. Position channels of non-root joints get the joint's
    OFFSET, since readers like Blender treat position channels as absolute."""
    rotations = np.asarray(rotations, dtype=np.float64)
    root_position = np.asarray(root_position, dtype=np.float64)
    if rotations.shape[-2:] != (skeleton.num_joints, 3):
        raise ValueError(f"rotations must be [..., {skeleton.num_joints}, 3], got {rotations.shape}")
    lead = np.broadcast_shapes(rotations.shape[:-2], root_position.shape[:-1])
    out = np.zeros(lead + (skeleton.channel_count,))
    groups, positions = _channel_layout(skeleton)
    for order, joints, columns in groups:
        matrices = axis_angle_to_matrix(rotations[..., joints, :])
        out[..., columns] = np.degrees(matrix_to_euler(matrices, order))
    for joint, axis, column in positions:
        out[..., column] = root_position[..., axis] if joint == 0 else skeleton.offsets[joint, axis]
    return out


def bvh_channels_to_pose(skeleton: Skeleton, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `pose_to_bvh_channels`: values [..., C] -> (root_position [..., 3], rotations [..., J, 3]).

    A root without position channels sits at its OFFSET; joints without
    rotation channels get the identity."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[-1] != skeleton.channel_count:
        raise ValueError(f"expected {skeleton.channel_count} channel values, got {values.shape[-1]}")
    lead = values.shape[:-1]
    root_position = np.broadcast_to(skeleton.offsets[0], lead + (3,)).copy()
    rotations = np.zeros(lead + (skeleton.num_joints, 3))
    groups, positions = _channel_layout(skeleton)
    for order, joints, columns in groups:
        angles = np.radians(values[..., columns])
        rotations[..., joints, :] = matrix_to_axis_angle(euler_to_matrix(angles, order))
    for joint, axis, column in positions:
        if joint == 0:
            root_position[..., axis] = values[..., column]
    return root_position, rotations


def yaw_matrix(yaw: np.ndarray) -> np.ndarray:
    """Rotation about +Y by `yaw` radians, [...] -> [..., 3, 3]."""
    return elementary_matrix(_Y, np.asarray(yaw, dtype=np.float64))


def yaw_of(rotation: np.ndarray) -> np.ndarray:
    """Heading (radians, about +Y) of axis-angle rotations [..., 3] -> [...].

    The heading is where the rotated forward axis (+Z) points once projected on
    the ground: yaw = atan2(f_x, f_z). When forward is (nearly) vertical, the
    rotated left axis (+X) is projected instead, so lying poses still get a heading."""
    m = axis_angle_to_matrix(np.asarray(rotation, dtype=np.float64))
    fx, fz = m[..., 0, 2], m[..., 2, 2]
    lx, lz = m[..., 0, 0], m[..., 2, 0]
    # Ry(yaw) maps +X to (cos, 0, -sin): the left axis gives yaw = atan2(-l_z, l_x).
    vertical = np.hypot(fx, fz) < 1e-6
    return np.where(vertical, np.arctan2(-lz, lx), np.arctan2(fx, fz))


def remove_yaw(rotation: np.ndarray) -> np.ndarray:
    """Root rotation with its heading taken out: Ry(-yaw) @ R, as axis-angle [..., 3]."""
    rotation = np.asarray(rotation, dtype=np.float64)
    yaw = yaw_of(rotation)
    return matrix_to_axis_angle(yaw_matrix(-yaw) @ axis_angle_to_matrix(rotation))


def apply_yaw(yaw: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Put a heading back: Ry(yaw) @ R, as axis-angle [..., 3]."""
    return matrix_to_axis_angle(yaw_matrix(yaw) @ axis_angle_to_matrix(rotation))


def root_to_deltas(positions: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global root trajectory -> (height [..., T], deltas [..., T, 3]).

    deltas[t] = (dx, dz, dyaw): the ground motion from frame t-1 to t, expressed
    in frame t-1's heading frame (dz forward, dx to the character's left), and
    the heading change wrapped to [-pi, pi). deltas[0] is zero; the start
    position and yaw are what `deltas_to_root` needs to put it back."""
    positions = np.asarray(positions, dtype=np.float64)
    yaw = np.asarray(yaw, dtype=np.float64)
    step = np.diff(positions, axis=-2)  # [..., T-1, 3]
    c, s = np.cos(yaw[..., :-1]), np.sin(yaw[..., :-1])
    # Ry(-yaw) applied to the world step (x, z): local = (c x - s z, s x + c z)
    dx = c * step[..., 0] - s * step[..., 2]
    dz = s * step[..., 0] + c * step[..., 2]
    dyaw = wrap_angle(np.diff(yaw, axis=-1))
    deltas = np.zeros(positions.shape)
    deltas[..., 1:, :] = np.stack([dx, dz, dyaw], axis=-1)
    return positions[..., _Y].copy(), deltas


def deltas_to_root(
    height: np.ndarray, deltas: np.ndarray, start_position_xz: np.ndarray, start_yaw: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate (height [..., T], deltas [..., T, 3]) -> (positions [..., T, 3], yaw [..., T]).

    Frame 0 is placed at `start_position_xz` ([..., 2] as (x, z)) with `start_yaw`;
    deltas[0] is ignored. The returned yaw is continuous (not wrapped)."""
    height = np.asarray(height, dtype=np.float64)
    deltas = np.asarray(deltas, dtype=np.float64)
    start_xz = np.asarray(start_position_xz, dtype=np.float64)
    steps = deltas.copy()
    steps[..., 0, :] = 0.0
    yaw = np.asarray(start_yaw, dtype=np.float64)[..., None] + np.cumsum(steps[..., 2], axis=-1)
    # each step is rotated by the heading of the frame before it
    prev = np.concatenate([yaw[..., :1], yaw[..., :-1]], axis=-1)
    c, s = np.cos(prev), np.sin(prev)
    wx = c * steps[..., 0] + s * steps[..., 1]
    wz = -s * steps[..., 0] + c * steps[..., 1]
    positions = np.zeros(deltas.shape)
    positions[..., 0] = start_xz[..., 0:1] + np.cumsum(wx, axis=-1)
    positions[..., 1] = height
    positions[..., 2] = start_xz[..., 1:2] + np.cumsum(wz, axis=-1)
    return positions, yaw

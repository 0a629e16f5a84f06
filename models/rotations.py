"""Rotation conversions in numpy, vectorised over any leading dimensions.

Conventions (all right-handed, active rotations, column vectors: v' = R @ v):
- axis-angle / exponential map: [..., 3], direction = axis, norm = angle (radians).
- quaternion: [..., 4] as (x, y, z, w), scalar last (like scipy and Unity/VMC).
  Quaternions returned here have w >= 0.
- matrix: [..., 3, 3].
- Euler: an order string of three distinct axes, e.g. "ZXY", read the way BVH
  channels are: the listed order is the product order, so channels
  "Zrotation Xrotation Yrotation" with angles (a, b, c) mean
  R = Rz(a) @ Rx(b) @ Ry(c) (intrinsic rotations, scipy's upper-case "ZXY").
  Angles come in the listed order.

Every function is safe at angle 0 (series expansions) and near pi
(quaternions chosen by Shepperd's method, angles from atan2).
"""

from __future__ import annotations

import numpy as np

_AXES = "XYZ"
# Below this angle the series expansions are exact to double precision.
_SMALL = 1e-6


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: [..., 3] -> [..., 3, 3]."""
    v = _as_float(axis_angle)
    theta2 = np.sum(v * v, axis=-1)
    theta = np.sqrt(theta2)
    small = theta < _SMALL
    safe = np.where(small, 1.0, theta)
    # sin(t)/t and (1-cos t)/t^2, replaced by their Taylor series near 0
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    k = skew(v)
    eye = np.broadcast_to(np.eye(3, dtype=v.dtype), k.shape)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrix: skew(a) @ b == cross(a, b)."""
    v = _as_float(v)
    zero = np.zeros_like(v[..., 0])
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    rows = (
        np.stack([zero, -z, y], axis=-1),
        np.stack([z, zero, -x], axis=-1),
        np.stack([-y, x, zero], axis=-1),
    )
    return np.stack(rows, axis=-2)


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> (x, y, z, w) with w >= 0 (Shepperd: divide by the largest term)."""
    m = _as_float(matrix)
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Four candidate (unnormalised) quaternions, each accurate when its own
    # diagonal term dominates; pick the best one per rotation.
    cands = np.stack(
        [
            np.stack([1 + 2 * m[..., 0, 0] - trace, m[..., 1, 0] + m[..., 0, 1],
                      m[..., 2, 0] + m[..., 0, 2], m[..., 2, 1] - m[..., 1, 2]], axis=-1),
            np.stack([m[..., 1, 0] + m[..., 0, 1], 1 + 2 * m[..., 1, 1] - trace,
                      m[..., 2, 1] + m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0]], axis=-1),
            np.stack([m[..., 2, 0] + m[..., 0, 2], m[..., 2, 1] + m[..., 1, 2],
                      1 + 2 * m[..., 2, 2] - trace, m[..., 1, 0] - m[..., 0, 1]], axis=-1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                      m[..., 1, 0] - m[..., 0, 1], 1 + trace], axis=-1),
        ],
        axis=-2,
    )  # fmt: skip
    decision = np.stack([m[..., 0, 0], m[..., 1, 1], m[..., 2, 2], trace], axis=-1)
    choice = np.argmax(decision, axis=-1)
    q = np.take_along_axis(cands, choice[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """(x, y, z, w) [..., 4] -> [..., 3, 3]; the quaternion is normalised first."""
    q = _as_float(quaternion)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = (
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=-1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=-1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=-1),
    )
    return np.stack(rows, axis=-2)


def axis_angle_to_quaternion(axis_angle: np.ndarray) -> np.ndarray:
    """[..., 3] -> (x, y, z, w); w >= 0 for angles up to pi."""
    v = _as_float(axis_angle)
    theta2 = np.sum(v * v, axis=-1)
    theta = np.sqrt(theta2)
    small = theta < _SMALL
    safe = np.where(small, 1.0, theta)
    scale = np.where(small, 0.5 - theta2 / 48.0, np.sin(0.5 * safe) / safe)  # sin(t/2)/t
    return np.concatenate([v * scale[..., None], np.cos(0.5 * theta)[..., None]], axis=-1)


def quaternion_to_axis_angle(quaternion: np.ndarray) -> np.ndarray:
    """(x, y, z, w) -> [..., 3] with angle in [0, pi]."""
    q = _as_float(quaternion)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., 3:4] < 0, -q, q)  # the short way round
    xyz, w = q[..., :3], q[..., 3]
    n = np.linalg.norm(xyz, axis=-1)
    small = n < _SMALL
    angle = 2.0 * np.arctan2(n, w)
    # angle / n -> 2 / w as n -> 0 (w -> 1 there, so no division by zero)
    scale = np.where(small, 2.0 / w, angle / np.where(small, 1.0, n))
    return xyz * scale[..., None]


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> [..., 3] (via the quaternion, which stays accurate near pi)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def _parse_order(order: str) -> tuple[int, int, int]:
    axes = order.upper()
    if len(axes) != 3 or set(axes) != set(_AXES):
        raise ValueError(f"Euler order must name X, Y and Z once each (e.g. 'ZXY'), got {order!r}")
    return _AXES.index(axes[0]), _AXES.index(axes[1]), _AXES.index(axes[2])


def elementary_matrix(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation by `angle` (radians, [...]) about coordinate axis 0=X, 1=Y, 2=Z."""
    angle = _as_float(angle)
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3), dtype=angle.dtype)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    return m


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Angles [..., 3] (radians, listed order) -> R = R_order[0] @ R_order[1] @ R_order[2]."""
    axes = _parse_order(order)
    angles = _as_float(angles)
    m = elementary_matrix(axes[0], angles[..., 0])
    m = m @ elementary_matrix(axes[1], angles[..., 1])
    return m @ elementary_matrix(axes[2], angles[..., 2])


def matrix_to_euler(matrix: np.ndarray, order: str) -> np.ndarray:
    """[..., 3, 3] -> angles [..., 3] (radians, listed order), middle angle in [-pi/2, pi/2].

    At gimbal lock (middle angle +-pi/2) the third angle is set to 0 and the
    first one carries the whole remaining rotation, so the matrix is still exact.
    """
    i, j, k = _parse_order(order)
    m = _as_float(matrix)
    # +1 for cyclic orders (XYZ, YZX, ZXY), -1 for the others
    s = 1.0 if (j - i) % 3 == 1 else -1.0
    cos_b = np.hypot(m[..., i, i], m[..., i, j])
    beta = np.arctan2(s * m[..., i, k], cos_b)
    alpha = np.arctan2(-s * m[..., j, k], m[..., k, k])
    gamma = np.arctan2(-s * m[..., i, j], m[..., i, i])
    locked = cos_b < 1e-9
    # With gamma = 0, R = R_i(alpha) R_j(beta), and column j of R is R_i(alpha) e_j.
    alpha_locked = np.arctan2(s * m[..., k, j], m[..., j, j])
    alpha = np.where(locked, alpha_locked, alpha)
    gamma = np.where(locked, 0.0, gamma)
    return np.stack([alpha, beta, gamma], axis=-1)


def axis_angle_to_euler(axis_angle: np.ndarray, order: str, degrees: bool = False) -> np.ndarray:
    angles = matrix_to_euler(axis_angle_to_matrix(axis_angle), order)
    return np.degrees(angles) if degrees else angles


def euler_to_axis_angle(angles: np.ndarray, order: str, degrees: bool = False) -> np.ndarray:
    angles = np.radians(_as_float(angles)) if degrees else angles
    return matrix_to_axis_angle(euler_to_matrix(angles, order))


def euler_degrees_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    return euler_to_matrix(np.radians(_as_float(angles_deg)), order)


def matrix_to_euler_degrees(matrix: np.ndarray, order: str) -> np.ndarray:
    return np.degrees(matrix_to_euler(matrix, order))


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wrap radians into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi

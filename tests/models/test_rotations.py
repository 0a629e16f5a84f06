"""dyad.models.rotations against scipy's Rotation as an independent reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dyad.models import rotations as rot

ORDERS = ["".join(p) for p in itertools.permutations("XYZ")]
TOL = 1e-12


@pytest.fixture(scope="module")
def random_rotations() -> Rotation:
    return Rotation.random(2000, random_state=7)


def canonical(q: np.ndarray) -> np.ndarray:
    return np.where(q[..., 3:4] < 0, -q, q)


def test_axis_angle_to_matrix_matches_scipy(random_rotations: Rotation) -> None:
    got = rot.axis_angle_to_matrix(random_rotations.as_rotvec())
    np.testing.assert_allclose(got, random_rotations.as_matrix(), atol=TOL)


def test_matrix_to_axis_angle_matches_scipy(random_rotations: Rotation) -> None:
    got = rot.matrix_to_axis_angle(random_rotations.as_matrix())
    np.testing.assert_allclose(got, random_rotations.as_rotvec(), atol=1e-10)


def test_quaternions_match_scipy(random_rotations: Rotation) -> None:
    quat = canonical(random_rotations.as_quat())  # scipy is (x, y, z, w) too
    np.testing.assert_allclose(rot.matrix_to_quaternion(random_rotations.as_matrix()), quat, atol=TOL)
    np.testing.assert_allclose(rot.quaternion_to_matrix(quat), random_rotations.as_matrix(), atol=TOL)
    np.testing.assert_allclose(rot.axis_angle_to_quaternion(random_rotations.as_rotvec()), quat, atol=TOL)
    np.testing.assert_allclose(rot.quaternion_to_axis_angle(quat), random_rotations.as_rotvec(), atol=1e-10)
    # q and -q are the same rotation
    np.testing.assert_allclose(rot.quaternion_to_axis_angle(-quat), random_rotations.as_rotvec(), atol=1e-10)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_to_matrix_is_listed_product_order(order: str) -> None:
    rng = np.random.default_rng(3)
    angles = rng.uniform(-np.pi, np.pi, size=(500, 3))
    # scipy's upper-case sequence = intrinsic = R_a @ R_b @ R_c in listed order
    expected = Rotation.from_euler(order, angles).as_matrix()
    np.testing.assert_allclose(rot.euler_to_matrix(angles, order), expected, atol=TOL)
    # and spelled out with elementary rotations, as BVH readers do
    axis = {"X": 0, "Y": 1, "Z": 2}
    r = [rot.elementary_matrix(axis[a], angles[:, n]) for n, a in enumerate(order)]
    np.testing.assert_allclose(rot.euler_to_matrix(angles, order), r[0] @ r[1] @ r[2], atol=TOL)


@pytest.mark.parametrize("order", ORDERS)
def test_matrix_to_euler_matches_scipy(order: str, random_rotations: Rotation) -> None:
    got = rot.matrix_to_euler(random_rotations.as_matrix(), order)
    np.testing.assert_allclose(got, random_rotations.as_euler(order), atol=1e-9)
    np.testing.assert_allclose(rot.euler_to_matrix(got, order), random_rotations.as_matrix(), atol=TOL)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("middle", [np.pi / 2, -np.pi / 2, np.pi / 2 - 1e-10, -np.pi / 2 + 1e-12])
def test_gimbal_lock_still_reproduces_the_matrix(order: str, middle: float) -> None:
    angles = np.array([[0.4, middle, -1.1], [-2.5, middle, 3.0], [0.0, middle, 0.0]])
    matrix = rot.euler_to_matrix(angles, order)
    back = rot.matrix_to_euler(matrix, order)
    assert np.all(np.isfinite(back))
    np.testing.assert_allclose(rot.euler_to_matrix(back, order), matrix, atol=1e-9)
    np.testing.assert_allclose(back[:, 1], middle, atol=1e-5)


@pytest.mark.parametrize("angle", [0.0, 1e-300, 1e-12, 1e-8, 1e-6, 1.0000001e-6, 1e-4])
def test_small_angles_are_exact(angle: float) -> None:
    axis = np.array([0.6, -0.48, 0.64])  # unit
    v = axis * angle
    np.testing.assert_allclose(rot.axis_angle_to_matrix(v), Rotation.from_rotvec(v).as_matrix(), atol=1e-15)
    np.testing.assert_allclose(rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(v)), v, atol=1e-15)
    np.testing.assert_allclose(rot.axis_angle_to_quaternion(v), Rotation.from_rotvec(v).as_quat(), atol=1e-15)
    np.testing.assert_allclose(rot.quaternion_to_axis_angle(rot.axis_angle_to_quaternion(v)), v, atol=1e-15)


@pytest.mark.parametrize(
    "axis", [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [-1, 2, 0.5], [0, -1, 1e-9]]
)
@pytest.mark.parametrize("angle", [np.pi, np.pi - 1e-9, np.pi - 1e-5, np.pi - 0.01])
def test_angles_near_pi(axis: list[float], angle: float) -> None:
    v = np.asarray(axis, dtype=float) / np.linalg.norm(axis) * angle
    matrix = rot.axis_angle_to_matrix(v)
    np.testing.assert_allclose(matrix, Rotation.from_rotvec(v).as_matrix(), atol=1e-12)
    back = rot.matrix_to_axis_angle(matrix)
    # at exactly pi, v and -v are the same rotation
    assert np.linalg.norm(back - v) < 1e-6 or np.linalg.norm(back + v) < 1e-6
    np.testing.assert_allclose(rot.axis_angle_to_matrix(back), matrix, atol=1e-12)
    quat = rot.matrix_to_quaternion(matrix)
    np.testing.assert_allclose(np.linalg.norm(quat), 1.0, atol=1e-14)
    np.testing.assert_allclose(rot.quaternion_to_matrix(quat), matrix, atol=1e-12)


def test_identity_everywhere() -> None:
    eye = np.eye(3)
    np.testing.assert_array_equal(rot.axis_angle_to_matrix(np.zeros(3)), eye)
    np.testing.assert_allclose(rot.matrix_to_axis_angle(eye), np.zeros(3), atol=0)
    np.testing.assert_allclose(rot.matrix_to_quaternion(eye), [0, 0, 0, 1], atol=0)
    for order in ORDERS:
        np.testing.assert_allclose(rot.matrix_to_euler(eye, order), np.zeros(3), atol=0)


def test_leading_dimensions_broadcast() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2, 3, 4, 3))
    matrix = rot.axis_angle_to_matrix(v)
    assert matrix.shape == (2, 3, 4, 3, 3)
    assert rot.matrix_to_quaternion(matrix).shape == (2, 3, 4, 4)
    assert rot.matrix_to_euler(matrix, "ZXY").shape == (2, 3, 4, 3)
    assert rot.euler_to_matrix(np.zeros((0, 3)), "XYZ").shape == (0, 3, 3)
    flat = Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix().reshape(2, 3, 4, 3, 3)
    np.testing.assert_allclose(matrix, flat, atol=TOL)


def test_float32_input_keeps_float32_and_precision() -> None:
    v = np.array([[0.3, -0.2, 0.1]], dtype=np.float32)
    matrix = rot.axis_angle_to_matrix(v)
    assert matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, Rotation.from_rotvec(v.astype(float)).as_matrix(), atol=1e-6)


def test_degree_helpers() -> None:
    deg = np.array([30.0, -45.0, 120.0])
    expected = Rotation.from_euler("ZXY", deg, degrees=True).as_matrix()
    np.testing.assert_allclose(rot.euler_degrees_to_matrix(deg, "ZXY"), expected, atol=TOL)
    np.testing.assert_allclose(rot.matrix_to_euler_degrees(expected, "ZXY"), deg, atol=1e-9)
    aa = rot.euler_to_axis_angle(deg, "ZXY", degrees=True)
    np.testing.assert_allclose(aa, Rotation.from_euler("ZXY", deg, degrees=True).as_rotvec(), atol=1e-12)
    np.testing.assert_allclose(rot.axis_angle_to_euler(aa, "ZXY", degrees=True), deg, atol=1e-9)


def test_lower_case_order_and_bad_orders() -> None:
    angles = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(rot.euler_to_matrix(angles, "zxy"), rot.euler_to_matrix(angles, "ZXY"))
    for bad in ["ZXZ", "XY", "XYZW", "ABC"]:
        with pytest.raises(ValueError):
            rot.euler_to_matrix(angles, bad)


def test_wrap_angle() -> None:
    np.testing.assert_allclose(rot.wrap_angle(np.array([0.0, 3 * np.pi / 2, -3 * np.pi / 2, 7.0])),
                               [0.0, -np.pi / 2, np.pi / 2, 7.0 - 2 * np.pi])  # fmt: skip

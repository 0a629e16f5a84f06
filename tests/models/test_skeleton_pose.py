"""Skeleton template, BVH hierarchy parsing/writing, forward kinematics, channels, root deltas."""

from __future__ import annotations

from pathlib import Path

import bvh as pypi_bvh
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dyad.models import pose
from dyad.models.skeleton import (
    Skeleton,
    format_bvh_hierarchy,
    load_default_skeleton,
    parse_bvh_hierarchy,
    read_bvh,
    write_bvh,
)

ASSET = Path(__file__).resolve().parents[2] / "models" / "assets" / "humanoid.bvh"
FINGERS = [f"Hand{f}{k}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in (1, 2, 3)]
ARM = ["Shoulder", "Arm", "ForeArm", "Hand"] + FINGERS
LEG = ["UpLeg", "Leg", "Foot", "ToeBase"]
EXPECTED_NAMES = (
    ["Hips", "Spine", "Spine1", "Spine2", "Neck", "Head"]
    + [f"Left{n}" for n in ARM]
    + [f"Right{n}" for n in ARM]
    + [f"Left{n}" for n in LEG]
    + [f"Right{n}" for n in LEG]
)


@pytest.fixture(scope="module")
def skeleton() -> Skeleton:
    return load_default_skeleton()


def random_pose(skeleton: Skeleton, rng: np.random.Generator, lead: tuple[int, ...] = ()) -> tuple:
    rotations = Rotation.random(int(np.prod(lead, dtype=int)) * skeleton.num_joints, random_state=rng).as_rotvec()
    root = rng.normal(0.0, 30.0, size=lead + (3,)) + [0.0, 95.0, 0.0]
    return root, rotations.reshape(lead + (skeleton.num_joints, 3))


def test_template_joints_and_channels(skeleton: Skeleton) -> None:
    assert skeleton.num_joints == 52
    assert list(skeleton.joint_names) == EXPECTED_NAMES
    assert skeleton.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    assert all(c == ("Zrotation", "Xrotation", "Yrotation") for c in skeleton.channels[1:])
    assert skeleton.channel_count == 6 + 51 * 3
    assert skeleton.rotation_order(0) == "ZXY" and skeleton.rotation_order(17) == "ZXY"
    parent = lambda name: skeleton.joint_names[skeleton.parents[skeleton.index(name)]]  # noqa: E731
    assert parent("Spine") == parent("LeftUpLeg") == parent("RightUpLeg") == "Hips"
    assert parent("Neck") == parent("LeftShoulder") == parent("RightShoulder") == "Spine2"
    assert parent("LeftHandIndex1") == "LeftHand" and parent("RightHandPinky3") == "RightHandPinky2"
    assert parent("RightToeBase") == "RightFoot"
    # End Sites exactly at the leaves
    for i in range(skeleton.num_joints):
        assert (skeleton.end_sites[i] is not None) == (len(skeleton.children(i)) == 0), skeleton.joint_names[i]


def test_template_geometry(skeleton: Skeleton) -> None:
    root, rotations = pose.rest_pose(skeleton)
    joints = pose.forward_kinematics(skeleton, root, rotations)
    sites = pose.end_site_positions(skeleton, root, rotations)
    at = lambda name: joints[skeleton.index(name)]  # noqa: E731
    assert 90.0 <= at("Hips")[1] <= 100.0 and skeleton.rest_root_height == pytest.approx(at("Hips")[1])
    assert min(joints[:, 1].min(), sites[:, 1].min()) == pytest.approx(0.0, abs=1e-9)  # feet on the floor
    assert 160.0 <= sites[:, 1].max() <= 190.0  # adult height
    assert at("LeftHand")[0] > 50.0 and at("RightHand")[0] < -50.0  # left is +X, arms out (T-pose)
    assert at("LeftHand")[1] == pytest.approx(at("LeftArm")[1])
    assert at("LeftToeBase")[2] > at("LeftFoot")[2] + 5.0  # facing +Z
    assert at("LeftHandThumb3")[2] > at("LeftHand")[2]
    mirror = joints * [-1.0, 1.0, 1.0]
    for i, name in enumerate(skeleton.joint_names):
        if name.startswith("Left"):
            np.testing.assert_allclose(mirror[skeleton.index("Right" + name[4:])], joints[i])


def test_template_imports_in_pypi_bvh(skeleton: Skeleton) -> None:
    parsed = pypi_bvh.Bvh(ASSET.read_text())
    assert parsed.get_joints_names() == list(skeleton.joint_names)
    assert parsed.nframes == 1 and len(parsed.frames) == 1
    assert parsed.frame_time == pytest.approx(1 / 30, rel=1e-6)
    for name in ("Hips", "LeftHandPinky3", "RightToeBase"):
        np.testing.assert_allclose(parsed.joint_offset(name), skeleton.offsets[skeleton.index(name)])
        assert tuple(parsed.joint_channels(name)) == skeleton.channels[skeleton.index(name)]
    # the single frame is the rest pose: root at its rest place, no rotation
    values = np.array(parsed.frames[0], dtype=float)
    np.testing.assert_allclose(values[:3], skeleton.offsets[0])
    assert not values[3:].any()


def test_template_matches_bvhio_forward_kinematics(skeleton: Skeleton, tmp_path: Path) -> None:
    bvhio = pytest.importorskip("bvhio")
    rng = np.random.default_rng(1)
    root, rotations = random_pose(skeleton, rng, (3,))
    path = tmp_path / "random.bvh"
    write_bvh(path, skeleton, 1 / 30, pose.pose_to_bvh_channels(skeleton, root, rotations))
    hierarchy = bvhio.readAsHierarchy(str(path))
    expected = pose.forward_kinematics(skeleton, root, rotations)
    for frame in range(3):
        hierarchy.loadPose(frame, recursive=True)
        layout = hierarchy.layout()
        assert [j.Name for j, _, _ in layout] == list(skeleton.joint_names)
        got = np.array([list(j.PositionWorld) for j, _, _ in layout])
        np.testing.assert_allclose(got, expected[frame], atol=1e-3)  # bvhio computes in float32


def test_hierarchy_round_trip(skeleton: Skeleton) -> None:
    again = parse_bvh_hierarchy(format_bvh_hierarchy(skeleton))
    assert again.joint_names == skeleton.joint_names
    assert again.parents == skeleton.parents
    assert again.channels == skeleton.channels
    assert again.end_sites == skeleton.end_sites
    np.testing.assert_array_equal(again.offsets, skeleton.offsets)
    assert format_bvh_hierarchy(again) == format_bvh_hierarchy(skeleton)


def test_skeleton_helpers(skeleton: Skeleton) -> None:
    assert skeleton.index("Head") == 5
    with pytest.raises(KeyError):
        skeleton.index("Tail")
    legs = skeleton.joint_subset(["LeftUpLeg", "LeftLeg", "Hips"])
    assert legs.tolist() == [44, 45, 0]
    with pytest.raises(ValueError, match="Tail"):
        skeleton.joint_subset(["Hips", "Tail"])
    assert [skeleton.joint_names[c] for c in skeleton.children(0)] == ["Spine", "LeftUpLeg", "RightUpLeg"]
    assert skeleton.channel_starts[:3] == (0, 6, 9)
    assert not skeleton.offsets.flags.writeable


@pytest.mark.parametrize("side, sign", [("Left", 1.0), ("Right", -1.0)])
def test_fk_arm_raised_puts_hand_above_shoulder(skeleton: Skeleton, side: str, sign: float) -> None:
    root, rotations = pose.rest_pose(skeleton)
    # the arm points along +-X; abduction of 90 deg is a rotation about +-Z
    rotations[skeleton.index(f"{side}Arm")] = [0.0, 0.0, sign * np.pi / 2]
    joints = pose.forward_kinematics(skeleton, root, rotations)
    shoulder, elbow, hand = (joints[skeleton.index(f"{side}{n}")] for n in ("Arm", "ForeArm", "Hand"))
    np.testing.assert_allclose(elbow, shoulder + [0.0, 28.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(hand, shoulder + [0.0, 54.0, 0.0], atol=1e-9)
    # the other arm did not move
    other = "Right" if side == "Left" else "Left"
    rest = pose.forward_kinematics(skeleton, *pose.rest_pose(skeleton))
    np.testing.assert_allclose(joints[skeleton.index(f"{other}Hand")], rest[skeleton.index(f"{other}Hand")])


def test_fk_root_rotation_and_translation(skeleton: Skeleton) -> None:
    root, rotations = pose.rest_pose(skeleton)
    rotations[0] = [0.0, np.pi / 2, 0.0]  # turn left: facing +Z -> +X
    joints = pose.forward_kinematics(skeleton, np.array([10.0, 95.0, -5.0]), rotations)
    toe, foot = joints[skeleton.index("LeftToeBase")], joints[skeleton.index("LeftFoot")]
    assert toe[0] - foot[0] == pytest.approx(12.0)
    np.testing.assert_allclose(joints[0], [10.0, 95.0, -5.0])
    # batched FK equals frame-by-frame FK
    rng = np.random.default_rng(2)
    roots, rots = random_pose(skeleton, rng, (2, 3))
    batched = pose.forward_kinematics(skeleton, roots, rots)
    single = pose.forward_kinematics(skeleton, roots[1, 2], rots[1, 2])
    np.testing.assert_allclose(batched[1, 2], single)


def test_channels_known_answer(skeleton: Skeleton) -> None:
    root, rotations = pose.rest_pose(skeleton)
    spine = skeleton.index("Spine")
    rotations[spine] = [0.0, 0.0, np.radians(30.0)]
    values = pose.pose_to_bvh_channels(skeleton, root, rotations)
    start = skeleton.channel_starts[spine]
    np.testing.assert_allclose(values[start : start + 3], [30.0, 0.0, 0.0], atol=1e-12)  # Z X Y
    np.testing.assert_allclose(values[:3], root)


def test_channels_round_trip(skeleton: Skeleton) -> None:
    rng = np.random.default_rng(4)
    root, rotations = random_pose(skeleton, rng, (20,))
    values = pose.pose_to_bvh_channels(skeleton, root, rotations)
    assert values.shape == (20, skeleton.channel_count)
    root2, rotations2 = pose.bvh_channels_to_pose(skeleton, values)
    np.testing.assert_allclose(root2, root)
    np.testing.assert_allclose(rotations2, rotations, atol=1e-9)  # all angles < pi here
    np.testing.assert_allclose(pose.pose_to_bvh_channels(skeleton, root2, rotations2), values, atol=1e-9)
    with pytest.raises(ValueError):
        pose.bvh_channels_to_pose(skeleton, values[:, :-1])


def test_channels_file_round_trip_and_frame_time(skeleton: Skeleton, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    root, rotations = random_pose(skeleton, rng, (4,))
    path = tmp_path / "take.bvh"
    write_bvh(path, skeleton, 1 / 120, pose.pose_to_bvh_channels(skeleton, root, rotations))
    read_skeleton, frame_time, motion = read_bvh(path)
    assert frame_time == pytest.approx(1 / 120, rel=1e-7)
    assert motion.shape == (4, skeleton.channel_count)
    root2, rotations2 = pose.bvh_channels_to_pose(read_skeleton, motion)
    np.testing.assert_allclose(
        pose.forward_kinematics(read_skeleton, root2, rotations2),
        pose.forward_kinematics(skeleton, root, rotations),
        atol=1e-4,  # six decimals of degrees
    )


def random_walk(rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    yaw = np.cumsum(rng.normal(0.0, 0.15, frames)) + 2.5  # turns through +-pi several times
    speed = np.abs(rng.normal(2.0, 1.0, frames))
    side = rng.normal(0.0, 0.5, frames)
    x = np.cumsum(speed * np.sin(yaw) + side * np.cos(yaw))
    z = np.cumsum(speed * np.cos(yaw) - side * np.sin(yaw))
    height = 95.0 + rng.normal(0.0, 2.0, frames)
    return np.stack([x, height, z], axis=-1), yaw


def test_root_deltas_round_trip(skeleton: Skeleton) -> None:
    rng = np.random.default_rng(6)
    positions, yaw = random_walk(rng, 600)
    wrapped = (yaw + np.pi) % (2 * np.pi) - np.pi
    height, deltas = pose.root_to_deltas(positions, wrapped)
    assert height.shape == (600,) and deltas.shape == (600, 3)
    assert np.all(np.abs(deltas[:, 2]) <= np.pi)
    back, back_yaw = pose.deltas_to_root(height, deltas, positions[0, [0, 2]], wrapped[0])
    np.testing.assert_allclose(back, positions, atol=1e-8)
    np.testing.assert_allclose(back_yaw, yaw - yaw[0] + wrapped[0], atol=1e-9)
    # batched over people
    both = np.stack([positions, positions + [100.0, 0.0, 0.0]])
    h2, d2 = pose.root_to_deltas(both, np.stack([wrapped, wrapped]))
    p2, _ = pose.deltas_to_root(h2, d2, both[:, 0, [0, 2]], np.array([wrapped[0], wrapped[0]]))
    np.testing.assert_allclose(p2, both, atol=1e-8)


def test_root_deltas_are_in_the_heading_frame() -> None:
    # facing +X (yaw = pi/2) and stepping +X is a pure forward step; a turn shows in dyaw
    positions = np.array([[0.0, 90.0, 0.0], [3.0, 91.0, 0.0], [3.0, 91.0, 2.0]])
    yaw = np.array([np.pi / 2, np.pi / 2, np.pi])
    height, deltas = pose.root_to_deltas(positions, yaw)
    np.testing.assert_allclose(height, [90.0, 91.0, 91.0])
    np.testing.assert_allclose(deltas[1], [0.0, 3.0, 0.0], atol=1e-12)
    # second step (+Z world) while still facing +X is to the character's right (-X local)
    np.testing.assert_allclose(deltas[2], [-2.0, 0.0, np.pi / 2], atol=1e-12)


def test_yaw_helpers() -> None:
    rng = np.random.default_rng(8)
    yaw = rng.uniform(-np.pi, np.pi, 100)
    tilt = rng.uniform(-0.6, 0.6, (100, 2))
    # heading about Y, then a moderate pitch/roll in the body frame
    rotations = Rotation.from_euler("YXZ", np.column_stack([yaw, tilt])).as_rotvec()
    np.testing.assert_allclose(pose.yaw_of(np.outer(yaw, [0.0, 1.0, 0.0])), yaw, atol=1e-12)
    forward = Rotation.from_rotvec(rotations).apply([0, 0, 1])
    np.testing.assert_allclose(pose.yaw_of(rotations), np.arctan2(forward[:, 0], forward[:, 2]), atol=1e-12)
    flat = pose.remove_yaw(rotations)
    np.testing.assert_allclose(pose.yaw_of(flat), 0.0, atol=1e-12)
    back = pose.apply_yaw(pose.yaw_of(rotations), flat)
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), Rotation.from_rotvec(rotations).as_matrix(), atol=1e-12)
    # lying face up (forward points up): heading comes from the left axis
    lying = Rotation.from_euler("YX", [0.7, -np.pi / 2]).as_rotvec()
    assert pose.yaw_of(lying) == pytest.approx(0.7)


BAD_FILES = {
    "missing_brace": ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n"
                      "MOTION\nFrames: 0\nFrame Time: 0.1\n", "end of hierarchy"),
    "bad_offset": ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 zero 0\n CHANNELS 0\n}\nMOTION\nFrames: 0\nFrame Time: 0.1\n",
                   ":4:"),
    "bad_channel": ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Wrotation\n}\n"
                    "MOTION\nFrames: 0\nFrame Time: 0.1\n", ":5:"),
    "short_frame": ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n}\n"
                    "MOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 5\n", ":11:"),
    "frames_mismatch": ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n}\n"
                        "MOTION\nFrames: 3\nFrame Time: 0.1\n1 2 3\n", ":8:"),
    "no_frame_time": ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 0\n}\nMOTION\nFrames: 0\nFrame Rate: 30\n",
                      ":9:"),
    "no_motion": ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 0\n}\n", "MOTION"),
    "not_bvh": ("hello world\n", ":1:"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_raise_one_line_value_error(tmp_path: Path, case: str) -> None:
    text, where = BAD_FILES[case]
    path = tmp_path / f"{case}.bvh"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_bvh(path)
    message = str(info.value)
    assert str(path) in message and where in message and "\n" not in message


def test_good_minimal_file_and_name_in_hierarchy_errors(tmp_path: Path) -> None:
    path = tmp_path / "ok.bvh"
    path.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n"
                    " End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 2\nFrame Time: 0.008333\n"
                    "1 2 3\n4 5 6\n\n")  # fmt: skip
    skeleton, frame_time, motion = read_bvh(path)
    assert skeleton.joint_names == ("Hips",) and skeleton.end_sites == ((0.0, 1.0, 0.0),)
    assert frame_time == pytest.approx(0.008333) and motion.tolist() == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match=r"^hierarchy\.txt:3:"):
        parse_bvh_hierarchy("HIERARCHY\nROOT Hips\nOFFSET 0 0 0\n", source="hierarchy.txt")


MIXED = """HIERARCHY
ROOT Pelvis
{
  OFFSET 1 2 3
  CHANNELS 6 Zrotation Xposition Yrotation Yposition Xrotation Zposition
  JOINT Chest
  {
    OFFSET 0 10 1
    CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
    JOINT Fixed
    {
      OFFSET 3 0 0
      CHANNELS 0
      JOINT Tip
      {
        OFFSET 0 0 4
        CHANNELS 3 Yrotation Zrotation Xrotation
        End Site
        {
          OFFSET 1 1 1
        }
      }
    }
  }
}
"""


def test_mixed_orders_positions_and_fixed_joints(tmp_path: Path) -> None:
    skeleton = parse_bvh_hierarchy(MIXED)
    assert [skeleton.rotation_order(i) for i in range(4)] == ["ZYX", "XYZ", "", "YZX"]
    assert skeleton.channel_count == 15 and skeleton.channel_starts == (0, 6, 12, 12)
    rng = np.random.default_rng(10)
    root = rng.normal(size=(5, 3))
    rotations = Rotation.random(20, random_state=rng).as_rotvec().reshape(5, 4, 3) * 0.8
    rotations[:, 2] = 0.0  # a joint without channels cannot rotate
    values = pose.pose_to_bvh_channels(skeleton, root, rotations)
    np.testing.assert_allclose(values[:, [1, 3, 5]], root)  # root position channels, wherever declared
    np.testing.assert_allclose(values[:, 6:9], np.broadcast_to([0.0, 10.0, 1.0], (5, 3)))  # the Chest OFFSET
    expected = Rotation.from_rotvec(rotations[:, 0]).as_euler("ZYX", degrees=True)
    np.testing.assert_allclose(values[:, [0, 2, 4]], expected[:, [0, 1, 2]], atol=1e-9)
    root2, rotations2 = pose.bvh_channels_to_pose(skeleton, values)
    np.testing.assert_allclose(root2, root)
    np.testing.assert_allclose(rotations2, rotations, atol=1e-9)
    bvhio = pytest.importorskip("bvhio")
    path = tmp_path / "mixed.bvh"
    write_bvh(path, skeleton, 0.01, values)
    hierarchy = bvhio.readAsHierarchy(str(path))
    expected_positions = pose.forward_kinematics(skeleton, root, rotations)
    for frame in range(5):
        hierarchy.loadPose(frame, recursive=True)
        got = np.array([list(j.PositionWorld) for j, _, _ in hierarchy.layout()])
        np.testing.assert_allclose(got, expected_positions[frame], atol=1e-4)


def test_non_numeric_frame_value_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "nan.bvh"
    path.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n}\n"
                    "MOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n4 five 6\n")  # fmt: skip
    with pytest.raises(ValueError, match=r"nan\.bvh:11: .*not a number"):
        read_bvh(path)

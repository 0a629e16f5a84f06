"""Inter-X loader on motions written as the official preprocessing reads them: (T, 21, 3) poses, betas (1, 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dyad.models.interact import DatasetError
from dyad.models.interx import BODY_JOINTS, hand_joints, load_interx
from dyad.models.pose import forward_kinematics
from dyad.models.skeleton import load_default_skeleton
from tests.dataset_fixtures import write_interx_motion


def test_interx_maps_smplx_joints_at_30_fps(tmp_path: Path) -> None:
    truth = write_interx_motion(tmp_path / "motions" / "G001T000A000R000")
    dataset = load_interx(tmp_path)
    (take,) = dataset.takes
    skeleton = load_default_skeleton()
    assert take.frames == 60 and take.face is None and dataset.layout == "interx"  # 240 frames at 120 fps -> 60 at 30 fps
    assert "1 of 1 takes without face data and audio" in dataset.report[-1]
    p1 = truth["P1"]
    np.testing.assert_allclose(take.rotations[0, :, 0], p1["root_orient"][::4])
    knee = BODY_JOINTS.index("LeftLeg")  # SMPL-X joint 4, left_knee
    np.testing.assert_allclose(take.rotations[0, :, skeleton.index("LeftLeg")], p1["pose_body"][::4, knee])
    thumb = hand_joints("Right").index("RightHandThumb2")
    np.testing.assert_allclose(take.rotations[0, :, skeleton.index("RightHandThumb2")], p1["pose_rhand"][::4, thumb])
    # metres -> centimetres, and the feet rest on the ground
    np.testing.assert_allclose(np.diff(take.roots[0, :, 0]), 0.2 * 4, atol=1e-9)
    feet = skeleton.joint_subset(["LeftToeBase", "RightToeBase", "LeftFoot", "RightFoot"])
    assert forward_kinematics(skeleton, take.roots[1], take.rotations[1])[:, feet, 1].min() == pytest.approx(0.0, abs=1e-6)


def test_a_pickled_gender_is_never_unpickled_and_the_motion_still_loads(tmp_path: Path) -> None:
    write_interx_motion(tmp_path / "motions" / "G001T000A001R000", pickled_gender=True)
    assert load_interx(tmp_path).takes[0].frames == 60


def test_interx_bad_files_are_named(tmp_path: Path) -> None:
    write_interx_motion(tmp_path / "motions" / "M1")
    np.savez(tmp_path / "motions" / "M1" / "P2.npz", trans=np.zeros((4, 3)))
    with pytest.raises(DatasetError, match=r"M1/P2\.npz: not an Inter-X SMPL-X npz \(missing root_orient, pose_body"):
        load_interx(tmp_path)
    arrays = dict(np.load(tmp_path / "motions" / "M1" / "P1.npz"))
    arrays["pose_lhand"] = arrays["pose_lhand"][:, :12]
    np.savez(tmp_path / "motions" / "M1" / "P2.npz", **arrays)
    with pytest.raises(DatasetError, match=r"P2\.npz: pose_lhand has shape \(240, 12, 3\), expected \(240, 15, 3\)"):
        load_interx(tmp_path)

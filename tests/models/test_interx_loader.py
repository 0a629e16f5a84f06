"""Inter-X loader on SMPL-X npz fixtures written here: 120 -> 30 fps, joints mapped onto the template."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dyad.models.interact import DatasetError
from dyad.models.interx import BODY_JOINTS, hand_joints, load_interx
from dyad.models.pose import forward_kinematics
from dyad.models.skeleton import load_default_skeleton


def write_motion(folder: Path, frames: int = 240, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    out = {}
    for person in ("P1", "P2"):
        arrays = {
            "root_orient": 0.2 * rng.standard_normal((frames, 3)),
            "pose_body": 0.2 * rng.standard_normal((frames, 63)),
            "pose_lhand": 0.2 * rng.standard_normal((frames, 45)),
            "pose_rhand": 0.2 * rng.standard_normal((frames, 45)),
            "trans": np.cumsum(0.002 * np.ones((frames, 3)), axis=0),
            "betas": np.zeros(10),
            "gender": np.array("neutral"),
        }
        np.savez(folder / f"{person}.npz", **arrays)
        out[person] = arrays
    return out


def test_interx_maps_smplx_joints_at_30_fps(tmp_path: Path) -> None:
    truth = write_motion(tmp_path / "motions" / "G001T000A000R000")
    dataset = load_interx(tmp_path)
    (take,) = dataset.takes
    skeleton = load_default_skeleton()
    assert take.frames == 60 and take.face is None  # 240 frames at 120 fps -> 60 at 30 fps
    p1 = truth["P1"]
    np.testing.assert_allclose(take.rotations[0, :, 0], p1["root_orient"][::4])
    knee = BODY_JOINTS.index("LeftLeg")  # SMPL-X joint 4, left_knee
    np.testing.assert_allclose(take.rotations[0, :, skeleton.index("LeftLeg")], p1["pose_body"][::4, 3 * knee : 3 * knee + 3])
    thumb = hand_joints("Right").index("RightHandThumb2")
    np.testing.assert_allclose(take.rotations[0, :, skeleton.index("RightHandThumb2")], p1["pose_rhand"][::4, 3 * thumb : 3 * thumb + 3])
    # metres -> centimetres, and the feet rest on the ground
    np.testing.assert_allclose(np.diff(take.roots[0, :, 0]), 0.2 * 4, atol=1e-9)
    feet = skeleton.joint_subset(["LeftToeBase", "RightToeBase", "LeftFoot", "RightFoot"])
    assert forward_kinematics(skeleton, take.roots[1], take.rotations[1])[:, feet, 1].min() == pytest.approx(0.0, abs=1e-6)


def test_interx_bad_file_is_named(tmp_path: Path) -> None:
    write_motion(tmp_path / "motions" / "M1")
    np.savez(tmp_path / "motions" / "M1" / "P2.npz", trans=np.zeros((4, 3)))
    with pytest.raises(DatasetError, match=r"M1/P2\.npz: not an Inter-X SMPL-X npz"):
        load_interx(tmp_path)

"""Inter-X loader: SMPL-X two-person motion (no audio) -> template body sequences at 30 fps (numpy only).

    ROOT/motions/<id>/P1.npz, P2.npz   root_orient (N, 3), pose_body (N, 21, 3), pose_lhand (N, 15, 3),
                                       pose_rhand (N, 15, 3), trans (N, 3) metres, betas (1, 10), gender (a
                                       string); 120 fps, Y up (github.com/liangxuy/Inter-X: README, and
                                       preprocess/1_prepare_data.py, which reads these keys and shapes,
                                       keeps every 4th frame and puts the lowest joint at y = 0)

Betas and gender are not applied (the official preprocessing ignores them too); a pickled
`gender` member is never unpickled.

Joint mapping. SMPL-X body pose is 21 joints in axis-angle, each relative to its
parent, in SMPL-X's rest T-pose; the template's rest is also a T-pose with the same
axes (Y up, facing +Z, the character's left at +X), so a local rotation carries over
unchanged when the joint plays the same role:

    pelvis (root_orient) -> Hips       spine1/2/3 -> Spine/Spine1/Spine2   neck -> Neck, head -> Head
    L/R hip, knee, ankle, foot -> L/R UpLeg, Leg, Foot, ToeBase
    L/R collar, shoulder, elbow, wrist -> L/R Shoulder, Arm, ForeArm, Hand
    hands (15 per side, index/middle/pinky/ring/thumb x 3) -> L/R Hand{Index,Middle,Pinky,Ring,Thumb}{1,2,3}

SMPL-X's jaw and eyes have no template joint and are dropped. Bone lengths differ
(betas are not applied): rotations are kept, and the root is placed from `trans`
(metres -> template centimetres) with its height shifted so the feet touch the
ground (lowest foot joint over the sequence at y = 0). Frames are decimated from
120 to 30 fps. `up_axis="z"` turns a Z-up world into the template's Y-up world.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dyad.models.arkit import NUM_LIVE_LINK
from dyad.models.interact import Dataset, DatasetError, Take
from dyad.models.pose import forward_kinematics
from dyad.models.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from dyad.models.skeleton import Skeleton, load_default_skeleton

SOURCE_FPS = 120
BODY_JOINTS = (
    "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot", "Spine2",
    "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm", "RightArm",
    "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
)  # fmt: skip  # SMPL-X body joints 1..21 in order
FINGERS = ("Index", "Middle", "Pinky", "Ring", "Thumb")  # SMPL-X hand joint order
KEYS = ("root_orient", "pose_body", "pose_lhand", "pose_rhand", "trans")
_Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z) Z-up -> (x, z, -y)


def hand_joints(side: str) -> tuple[str, ...]:
    return tuple(f"{side}Hand{finger}{k}" for finger in FINGERS for k in (1, 2, 3))


_SHAPES = {"root_orient": (3,), "pose_body": (21, 3), "pose_lhand": (15, 3), "pose_rhand": (15, 3), "trans": (3,)}


def _read(path: Path) -> dict[str, np.ndarray]:
    """The pose arrays of one person, as published: (T, 21, 3) body, (T, 15, 3) hands, betas (1, 10)."""
    try:
        with np.load(path, allow_pickle=False) as data:  # numeric members only: a pickled `gender` is never unpickled
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in KEYS}
            betas = np.asarray(data["betas"]) if "betas" in data.files else None
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(f"{path}: not an Inter-X SMPL-X npz ({error})") from None
    n = len(arrays["trans"])
    for key, shape in _SHAPES.items():
        flat = (n, int(np.prod(shape)))
        if arrays[key].shape == flat and len(shape) == 2:
            arrays[key] = arrays[key].reshape((n,) + shape)  # flattened by another tool: same values, same order
        if arrays[key].shape != (n,) + shape:
            raise DatasetError(f"{path}: {key} has shape {arrays[key].shape}, expected {(n,) + shape}")
        if not np.isfinite(arrays[key]).all():
            raise DatasetError(f"{path}: {key} holds NaN or infinite values")
    if betas is not None and betas.size != 10:
        raise DatasetError(f"{path}: betas has shape {betas.shape}, expected (1, 10)")
    return arrays


def smplx_to_template(arrays: dict[str, np.ndarray], skeleton: Skeleton, up_axis: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """(roots [N, 3] cm, rotations [N, J, 3]) at the source rate; joints SMPL-X lacks stay at rest."""
    n = len(arrays["trans"])
    rotations = np.zeros((n, skeleton.num_joints, 3))
    root = arrays["root_orient"]
    trans = arrays["trans"] * 100.0
    if up_axis == "z":
        root = matrix_to_axis_angle(_Z_UP_TO_Y_UP @ axis_angle_to_matrix(root))
        trans = trans @ _Z_UP_TO_Y_UP.T
    rotations[:, 0] = root
    body = arrays["pose_body"]
    for k, name in enumerate(BODY_JOINTS):
        if name in skeleton.joint_names:
            rotations[:, skeleton.index(name)] = body[:, k]
    for side, key in (("Left", "pose_lhand"), ("Right", "pose_rhand")):
        hand = arrays[key]
        for k, name in enumerate(hand_joints(side)):
            if name in skeleton.joint_names:
                rotations[:, skeleton.index(name)] = hand[:, k]
    roots = trans.copy()
    feet = skeleton.joint_subset([j for j in ("LeftToeBase", "RightToeBase", "LeftFoot", "RightFoot") if j in skeleton.joint_names])
    lowest = forward_kinematics(skeleton, roots, rotations)[:, feet, 1].min()
    roots[:, 1] -= lowest  # feet on the ground: SMPL-X's pelvis offset depends on betas, which are not applied
    return roots, rotations


def load_interx(root: str | Path, fps: int = 30, up_axis: str = "y", skeleton: Skeleton | None = None) -> Dataset:
    """Every `motions/<id>` pair as a body-only Take (no face, no audio) on the template skeleton."""
    root = Path(root)
    skeleton = skeleton or load_default_skeleton()
    folder = root / "motions"
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no motions/ folder (not an Inter-X layout)")
    if SOURCE_FPS % fps:
        raise DatasetError(f"Inter-X is {SOURCE_FPS} fps: {fps} fps is not a whole divisor")
    takes, report = [], []
    for item in sorted(p for p in folder.iterdir() if p.is_dir()):
        paths = (item / "P1.npz", item / "P2.npz")
        for path in paths:
            if not path.is_file():
                raise DatasetError(f"{path}: missing (each Inter-X motion has P1.npz and P2.npz)")
        people = [smplx_to_template(_read(p), skeleton, up_axis) for p in paths]
        lengths = [len(r) for r, _ in people]
        frames = min(lengths)
        if lengths[0] != lengths[1]:
            report.append(f"{item.name}: P1 {lengths[0]} frames, P2 {lengths[1]}: trimmed to {frames}")
        step = SOURCE_FPS // fps
        roots = np.stack([r[:frames:step] for r, _ in people])
        rotations = np.stack([q[:frames:step] for _, q in people])
        takes.append(Take(item.name, ("P1", "P2"), fps, roots, rotations, None, np.zeros(NUM_LIVE_LINK, bool), (), 0, None,
                          {"source": "Inter-X"}))  # fmt: skip
    if not takes:
        raise DatasetError(f"{folder}: no motions")
    report.append(f"{len(takes)} of {len(takes)} takes without face data and audio (Inter-X is motion only)")
    return Dataset(skeleton, tuple(takes), tuple(report), "interx")

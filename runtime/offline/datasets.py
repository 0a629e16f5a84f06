"""Datasets as `dyad train` and `dyad data check` options describe them: format detection, the
named face column order, loading, the lip fine-tune split and the checks that stop training on
nothing (`runtime/cli/data.py` declares the options)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyad.runtime.errors import DyadError


def data_format(args: argparse.Namespace, folder: Path) -> str:
    if args.format != "auto":
        return args.format
    return "interx" if (folder / "motions").is_dir() else "interact"


def face_columns(args: argparse.Namespace) -> tuple[str, ...] | None:
    from dyad.models.interact_layout import read_face_columns

    return None if args.face_columns is None else read_face_columns(args.face_columns)


def load_dataset(args: argparse.Namespace, folder: Path):
    """The dataset under `folder` as the options describe; DatasetError (a ValueError) names what is wrong."""
    from dyad.models.interact import load_interact
    from dyad.models.interx import load_interx

    if data_format(args, folder) == "interx":
        return load_interx(folder, up_axis=args.interx_up)
    return load_interact(folder, max_mismatch_s=args.max_mismatch_s, layout=args.layout, face_columns=face_columns(args),
                         bvh_units=args.bvh_units)  # fmt: skip


def lip_split(args: argparse.Namespace):
    """(train, val) lip fine-tune sequences from DIR/lip_acc/; DyadError when there is nothing to train on."""
    from tqdm import tqdm

    from dyad.models.lip_acc import load_lip_acc
    from dyad.runtime.offline.lip_data import build_lip_sequences

    if data_format(args, args.data) == "interx":
        raise DyadError("Inter-X has no audio or face: it trains the body model only")
    try:
        lips = load_lip_acc(args.data, face_columns=face_columns(args), max_mismatch_s=args.max_mismatch_s)
        with tqdm(total=len(lips.takes), desc="lip features", unit="take") as bar:
            sequences, report = build_lip_sequences(lips, args.data / "features", max_mismatch_s=args.max_mismatch_s,
                                                    progress=lambda done, _: bar.update(done - bar.n))  # fmt: skip
    except ValueError as error:
        raise DyadError(f"{error} (training not started)") from None
    for line in report:
        print(f"dyad: data: {line}")
    print(f"dyad: data: {len(sequences)} lip_acc takes ({sum(s.frames for s in sequences) / 30 / 60:.1f} min) from {lips.folder}")
    if len(sequences) <= args.val_takes:
        raise DyadError(f"{lips.folder}: {len(sequences)} lip_acc takes, need more than --val-takes {args.val_takes}")
    return sequences[: -args.val_takes], sequences[-args.val_takes :]


def require_faces(kind: str, folder: Path, takes) -> None:
    """Face training on takes without faces would train on nothing: stop, naming the folder."""
    if kind == "face" and not any(t.face is not None for t in takes):
        raise DyadError(f"{folder}: no take has face data that can be read (see `dyad data check {folder}`); face training not started")


def require_leg_joints(kind: str, folder: Path, skeleton) -> None:
    """The body model splits legs from the rest by joint name; a BVH naming them otherwise would train a scrambled split."""
    from dyad.models.body_repr import DEFAULT_LOWER_JOINTS

    missing = [j for j in DEFAULT_LOWER_JOINTS if j not in skeleton.joint_names]
    if kind == "body" and missing:
        raise DyadError(f"{folder}: the BVH skeleton has no joint named {', '.join(missing)}: the lower-body split needs "
                        f"all of {', '.join(DEFAULT_LOWER_JOINTS)}; body training not started")  # fmt: skip

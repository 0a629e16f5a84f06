"""What `dyad data check` prints: found (files, headers, tables), will use (per training kind), cannot read."""

from __future__ import annotations

import argparse
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np

from dyad.models.body_repr import DEFAULT_LOWER_JOINTS


def _tables(db: Path) -> str:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return "; ".join(f"{n}({', '.join(r[1] for r in conn.execute(f'PRAGMA table_info({n})'))})" for n in names)
    except sqlite3.Error as error:
        return f"unreadable ({error})"


def _wavs(folder: Path) -> str:
    import soundfile

    kinds: Counter = Counter()
    for path in sorted(folder.glob("*.wav")):
        try:
            info = soundfile.info(str(path))
            kinds[f"{info.samplerate} Hz {info.channels} ch {info.subtype}"] += 1
        except RuntimeError:
            kinds["unreadable"] += 1
    return ", ".join(f"{n} x {k}" for k, n in kinds.most_common()) or "none"


def _faces(folder: Path) -> str:
    npy, csv = sorted(folder.glob("*.npy")), sorted(folder.glob("*.csv"))
    parts = []
    if npy:
        shapes = Counter(str(np.load(p, mmap_mode="r", allow_pickle=False).shape[1:]) for p in npy)
        parts.append(f"{len(npy)} .npy (columns {', '.join(shapes)})")
    if csv:
        parts.append(f"{len(csv)} .csv with named columns")
    return ", ".join(parts) or "none"


def _found_interact(folder: Path) -> list[str]:
    from dyad.models.interact_layout import detect_layout

    try:
        layout = detect_layout(folder)
    except ValueError as error:
        return [f"cannot read: {error}"]
    lines = [f"found: InterAct {layout.name} layout in {folder}",
             f"found: {len(list(layout.bvh_dir.glob('*.bvh')))} BVH files in {layout.bvh_dir.name}/",
             f"found: WAVs in {layout.wav_dir.name}/: {_wavs(layout.wav_dir)}"]  # fmt: skip
    if layout.face_dir is not None and layout.face_dir.is_dir():
        lines.append(f"found: faces in face_arkit/: {_faces(layout.face_dir)}")
    for db in ("scenarios.db", "actors.db"):
        path = layout.meta_dir / db
        lines.append(f"found: {db}: {_tables(path)}" if path.is_file() else f"cannot read: {path} missing")
    for other in ("face_ict", "face_ict_templates", "bvhs_retarget", "body_renders"):
        if (folder / other).is_dir():
            lines.append(f"found: {other}/ (not read: dyad trains on bvhs/, face_arkit/, wav/ and lip_acc/)")
    return lines


def _lip_lines(args: argparse.Namespace, folder: Path) -> list[str]:
    from dyad.models.lip_acc import load_lip_acc
    from dyad.runtime.offline.datasets import face_columns

    if not (folder / "lip_acc").is_dir():
        return ["face-lip: no lip_acc/ folder: the lip fine-tune cannot be trained from this folder"]
    try:
        lips = load_lip_acc(folder, face_columns=face_columns(args), max_mismatch_s=args.max_mismatch_s)
    except ValueError as error:
        return [f"cannot read: {error}"]
    minutes = sum(t.frames for t in lips.takes) / 30 / 60
    actors = ", ".join(sorted({t.actor for t in lips.takes}))
    wav = lips.takes[0].wav
    return [f"will use for face-lip: {len(lips.takes)} lip_acc takes ({minutes:.1f} min, actor {actors}; audio like {wav.relative_to(folder)})",
            *[f"note: {line}" for line in lips.report]]  # fmt: skip


def check(args: argparse.Namespace, folder: Path) -> tuple[list[str], bool]:
    """(lines to print, whether the body model can be trained from `folder`)."""
    from dyad.runtime.offline.datasets import data_format, load_dataset

    if not folder.is_dir():
        return [f"cannot read: {folder} is not a folder"], False
    fmt = data_format(args, folder)
    lines = _found_interact(folder) if fmt == "interact" else [f"found: Inter-X motions/ with {len(list((folder / 'motions').iterdir()))} entries"]
    try:
        dataset = load_dataset(args, folder)
    except ValueError as error:
        return [*lines, f"cannot read: {error}"], False
    takes = dataset.takes
    minutes = sum(t.frames for t in takes) / takes[0].fps / 60
    skeleton = dataset.skeleton
    legs = [j for j in DEFAULT_LOWER_JOINTS if j in skeleton.joint_names]
    lines.append(f"will use for body: {len(takes)} takes ({minutes:.1f} min, BVH in {dataset.bvh_units}) on a {skeleton.num_joints}-joint skeleton "
                 f"(root {skeleton.joint_names[0]}; {len(legs)} of {len(DEFAULT_LOWER_JOINTS)} leg joints named as the lower-body split expects)")  # fmt: skip
    with_face = sum(t.face is not None for t in takes)
    lines.append(f"will use for face: {with_face} of {len(takes)} takes with face data" + ("" if with_face else " (face training would refuse)"))
    lines += [f"note: {line}" for line in dataset.report]
    if fmt == "interact":
        lines += _lip_lines(args, folder)
    return lines, True

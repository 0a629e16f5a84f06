"""Small dataset folders written to the published specs (the sources are named in the loaders' docstrings).

InterAct (dataset card): `bvhs/<date>_<actor>_<scenario>.bvh`, `face_arkit/<stem>.npy` of
shape (N, 51) with no header, `wav/<stem>.wav`, `scenarios.db` with `scenarios(id INTEGER,
relationship_id, primary_emotion_id, character_setup, scenario)`, `relationships` and
`emotions`, `actors.db` with `actors(actor_id TEXT, gender)` and `sessions(date, male_id,
female_id)`, and `lip_acc/` (actor 006 reading the lines of `lip_acc_sentences.txt`). The
older release: `InterAct_Public/Raw_Body_Motions_BVH`, `Raw_Audios_WAV`.

Inter-X (its preprocess/1_prepare_data.py): `motions/<id>/P1.npz, P2.npz` with
`pose_body (T, 21, 3)`, `pose_lhand`/`pose_rhand (T, 15, 3)`, `root_orient`, `trans (T, 3)`,
`betas (1, 10)`, `gender` a string; 120 fps.

What the card leaves open is a parameter here (face column order, BVH units, WAV encoding),
so the tests can show the loader refusing to guess.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

from dyad.models.arkit import ARKIT_NAMES
from dyad.models.pose import pose_to_bvh_channels
from dyad.models.skeleton import load_default_skeleton, write_bvh

SHAPES_51 = tuple(n for n in ARKIT_NAMES if n != "TongueOut")
DATE = "20231119"


def face_order(seed: int = 3) -> tuple[str, ...]:
    """A column order unlike the canonical one, in ARKit's own spelling: loaders must map by the names given."""
    order = np.random.default_rng(seed).permutation(len(SHAPES_51))
    return tuple(SHAPES_51[i][0].lower() + SHAPES_51[i][1:] for i in order)


def _metadata(root: Path, scenarios: list[int], pairs: list[tuple[str, str]]) -> None:
    with sqlite3.connect(root / "scenarios.db") as db:
        db.execute("CREATE TABLE relationships (id INTEGER PRIMARY KEY, name VARCHAR)")
        db.execute("CREATE TABLE emotions (id INTEGER PRIMARY KEY, name VARCHAR)")
        db.execute("CREATE TABLE scenarios (id INTEGER PRIMARY KEY, relationship_id INTEGER, primary_emotion_id INTEGER, "
                   "character_setup TEXT, scenario TEXT)")  # fmt: skip
        db.execute("INSERT INTO relationships VALUES (3, 'boss / subordinate')")
        db.execute("INSERT INTO emotions VALUES (7, 'amusement')")
        db.executemany("INSERT INTO scenarios VALUES (?, 3, 7, 'an office', 'a talk')", [(s,) for s in scenarios])
    with sqlite3.connect(root / "actors.db") as db:
        db.execute("CREATE TABLE actors (actor_id TEXT, gender TEXT)")
        db.execute("CREATE TABLE sessions (date TEXT, male_id TEXT, female_id TEXT)")
        actors = sorted({a for pair in pairs for a in pair} | {"006"})
        db.executemany("INSERT INTO actors VALUES (?, ?)", [(a, "male" if int(a) % 2 else "female") for a in actors])
        db.executemany("INSERT INTO sessions VALUES (?, ?, ?)", [(DATE, *pair) for pair in pairs])


def _speechlike(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)  # syllable-rate bursts
    return (0.2 * envelope * np.sin(2 * np.pi * (140 + 40 * rng.random()) * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def write_take(folders: dict[str, Path], scenario: int, actors: tuple[str, str], seconds: float = 2.0, body_fps: int = 30,
               face_frames: int | None = None, units: str = "cm", wav_rate: int = 48000, seed: int = 0) -> dict:  # fmt: skip
    """One take (two actors) into folders {"bvh", "wav", "face" (optional)}; returns the ground truth per actor."""
    skeleton = load_default_skeleton()
    scale = {"cm": 1.0, "m": 0.01}[units]
    file_skeleton = replace(skeleton, offsets=skeleton.offsets * scale,
                            end_sites=tuple(None if e is None else tuple(np.asarray(e) * scale) for e in skeleton.end_sites))  # fmt: skip
    rng = np.random.default_rng(seed)
    frames, truth = int(seconds * body_fps), {}
    for k, actor in enumerate(actors):
        stem = f"{DATE}_{actor}_{scenario:03d}"
        rotations = 0.1 * rng.standard_normal((frames, skeleton.num_joints, 3))
        roots = np.tile([0.0, skeleton.rest_root_height, 50.0 * k], (frames, 1)) + np.linspace(0, 10, frames)[:, None] * [1, 0, 0]
        write_bvh(folders["bvh"] / f"{stem}.bvh", file_skeleton, 1.0 / body_fps, pose_to_bvh_channels(file_skeleton, roots * scale, rotations))
        values = rng.uniform(0, 1, (face_frames or int(seconds * 30), 51)).astype(np.float32)
        if "face" in folders:
            np.save(folders["face"] / f"{stem}.npy", values)  # (N, 51), no header
        soundfile.write(folders["wav"] / f"{stem}.wav", _speechlike(seconds, wav_rate, seed + k), wav_rate, subtype="PCM_24")
        truth[actor] = {"roots": roots[:: body_fps // 30], "rotations": rotations[:: body_fps // 30], "face": values}
    return truth


def write_lip_acc(root: Path, sentences: int = 3, seconds: float = 2.0, seed: int = 9) -> dict[str, np.ndarray]:
    """lip_acc/: actor 006 reading lines of lip_acc_sentences.txt; faces in face_arkit/, audio in wav/."""
    folder = root / "lip_acc"
    (folder / "face_arkit").mkdir(parents=True)
    (folder / "wav").mkdir()
    (folder / "face_ict").mkdir()
    lines = [f"Sentence number {k + 1} is read with care." for k in range(sentences)]
    (folder / "lip_acc_sentences.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rng, truth = np.random.default_rng(seed), {}
    for k in range(1, sentences + 1):
        stem = f"20231201_006_{k:03d}"
        values = rng.uniform(0, 1, (int(seconds * 30), 51)).astype(np.float32)
        np.save(folder / "face_arkit" / f"{stem}.npy", values)
        np.save(folder / "face_ict" / f"{stem}.npy", rng.uniform(0, 1, (int(seconds * 30), 55)))  # ICT: must not be read as ARKit
        soundfile.write(folder / "wav" / f"{stem}.wav", _speechlike(seconds, 48000, seed + k), 48000, subtype="PCM_24")
        truth[stem] = values
    return truth


def write_interact(root: Path, takes: int = 1, lip: bool = False, **take_options) -> dict:
    """The current release: bvhs/, face_arkit/, face_ict/, wav/, both databases, and lip_acc/ when asked."""
    folders = {"bvh": root / "bvhs", "face": root / "face_arkit", "wav": root / "wav"}
    for path in [*folders.values(), root / "face_ict"]:
        path.mkdir(parents=True, exist_ok=True)
    truth, pairs = {}, [("001", "002"), ("003", "004"), ("005", "002")]
    for k in range(takes):
        truth[51 + k] = write_take(folders, 51 + k, pairs[k % len(pairs)], seed=k, **take_options)
    _metadata(root, [51 + k for k in range(takes)], pairs[:takes])
    if lip:
        truth["lip"] = write_lip_acc(root)
    return truth


def write_interact_older(root: Path) -> dict:
    """The older release's folder names (no face folder known for it)."""
    public = root / "InterAct_Public"
    folders = {"bvh": public / "Raw_Body_Motions_BVH", "wav": public / "Raw_Audios_WAV"}
    for path in folders.values():
        path.mkdir(parents=True)
    truth = write_take(folders, 51, ("001", "002"))
    _metadata(public, [51], [("001", "002")])
    return truth


def write_interx_motion(folder: Path, frames: int = 240, seed: int = 0, pickled_gender: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    out = {}
    for person in ("P1", "P2"):
        arrays = {
            "root_orient": 0.2 * rng.standard_normal((frames, 3)),
            "pose_body": 0.2 * rng.standard_normal((frames, 21, 3)),
            "pose_lhand": 0.2 * rng.standard_normal((frames, 15, 3)),
            "pose_rhand": 0.2 * rng.standard_normal((frames, 15, 3)),
            "trans": np.cumsum(0.002 * np.ones((frames, 3)), axis=0),
            "betas": rng.standard_normal((1, 10)),
            "gender": np.array("male", dtype=object) if pickled_gender else np.array("female"),
        }
        np.savez(folder / f"{person}.npz", **arrays)
        out[person] = arrays
    return out

"""InterAct-layout loader on small fixtures written here in the real formats (BVH, CSV, WAV, SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile

from dyad.models.arkit import LIVE_LINK_NAMES, index_of
from dyad.models.interact import DatasetError, load_interact
from dyad.models.pose import pose_to_bvh_channels
from dyad.models.skeleton import load_default_skeleton, write_bvh

SHAPES_51 = [n for n in LIVE_LINK_NAMES[:52] if n != "TongueOut"]


def _arkit_name(name: str) -> str:
    return name[0].lower() + name[1:]  # ARKit's own spelling: the loader maps by name, not position


def write_fixture(root: Path, seconds: float = 2.0, body_fps: int = 120, wav_rate: int = 16000, face_frames: int | None = None) -> dict:
    skeleton = load_default_skeleton()
    rng = np.random.default_rng(0)
    frames = int(seconds * body_fps)
    for sub in ("bvhs", "face_arkit", "wav"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    truth = {}
    for p, actor in enumerate(("A07", "A02")):
        stem = f"20240501_{actor}_S12"
        rotations = 0.1 * rng.standard_normal((frames, skeleton.num_joints, 3))
        roots = np.tile([0.0, skeleton.rest_root_height, 0.0], (frames, 1)) + np.linspace(0, 10, frames)[:, None] * [1, 0, 0]
        write_bvh(root / "bvhs" / f"{stem}.bvh", skeleton, 1.0 / body_fps, pose_to_bvh_channels(skeleton, roots, rotations))
        n_face = face_frames or int(seconds * 30)
        values = rng.uniform(0, 1, (n_face, 51)).round(4)
        order = rng.permutation(51)
        header = ["Timecode"] + [_arkit_name(SHAPES_51[i]) for i in order]
        rows = [",".join(header)] + [f"00:00:00:{k:02d}," + ",".join(str(values[k, i]) for i in order) for k in range(n_face)]
        (root / "face_arkit" / f"{stem}.csv").write_text("\n".join(rows) + "\n")
        soundfile.write(root / "wav" / f"{stem}.wav", np.zeros(int(seconds * wav_rate), np.int16), wav_rate, subtype="PCM_16")
        truth[actor] = (roots[:: body_fps // 30], rotations[:: body_fps // 30], values)
    with sqlite3.connect(root / "scenarios.db") as db:
        db.execute("CREATE TABLE scenarios (id TEXT, relationship TEXT, emotion TEXT)")
        db.execute("INSERT INTO scenarios VALUES ('S12', 'friends', 'happy')")
    with sqlite3.connect(root / "actors.db") as db:
        db.execute("CREATE TABLE actors (id TEXT, name TEXT)")
        db.executemany("INSERT INTO actors VALUES (?, ?)", [("A02", "Bo"), ("A07", "Al")])
    return truth


def test_loads_interact_layout_by_name_at_30_fps(tmp_path: Path) -> None:
    truth = write_fixture(tmp_path)
    dataset = load_interact(tmp_path)
    (take,) = dataset.takes
    assert take.name == "20240501_S12" and take.actors == ("A02", "A07")  # person 0: the lower actor id
    assert take.frames == 60 and take.fps == 30  # 120 fps BVH decimated, frame time read from the file
    roots, _, values = truth["A02"]
    np.testing.assert_allclose(take.roots[0], roots, atol=1e-4)
    for column, name in enumerate(SHAPES_51):
        np.testing.assert_allclose(take.face[0, :, index_of(name)], values[:, column], atol=1e-6)
    assert not take.face_valid[index_of("TongueOut")] and take.face_valid[index_of("JawOpen")]
    assert take.metadata["scenario"]["relationship"] == "friends"
    assert take.sample_rate == 16000 and dataset.report == ()


def test_trims_small_mismatch_and_reports_it(tmp_path: Path) -> None:
    write_fixture(tmp_path, face_frames=57)
    dataset = load_interact(tmp_path)
    assert dataset.takes[0].frames == 57
    assert "trimmed to 57 frames" in dataset.report[0] and "face_arkit/20240501_A02_S12.csv 57" in dataset.report[0]


def test_refuses_large_mismatch_naming_files(tmp_path: Path) -> None:
    write_fixture(tmp_path, face_frames=30)
    with pytest.raises(DatasetError, match=r"disagree by 1\.00 s.*face_arkit/20240501_A07_S12.csv 30"):
        load_interact(tmp_path)


def test_corrupt_bvh_is_named(tmp_path: Path) -> None:
    write_fixture(tmp_path)
    path = tmp_path / "bvhs" / "20240501_A07_S12.bvh"
    path.write_text(path.read_text().replace("MOTION", "MOTON", 1))
    with pytest.raises(DatasetError, match=r"20240501_A07_S12\.bvh: corrupt BVH"):
        load_interact(tmp_path)


def test_missing_metadata_is_named(tmp_path: Path) -> None:
    write_fixture(tmp_path)
    (tmp_path / "scenarios.db").unlink()
    with pytest.raises(DatasetError, match=r"scenarios\.db: metadata database missing"):
        load_interact(tmp_path)
    other = tmp_path / "other"
    write_fixture(other)
    with sqlite3.connect(other / "actors.db") as db:
        db.execute("DELETE FROM actors WHERE id = 'A07'")
    with pytest.raises(DatasetError, match=r"actors\.db: no row for actor 'A07' \(used by 20240501_A07_S12\.bvh\)"):
        load_interact(other)


def test_wav_at_another_rate_is_named(tmp_path: Path) -> None:
    write_fixture(tmp_path)
    soundfile.write(tmp_path / "wav" / "20240501_A07_S12.wav", np.zeros(2 * 44100, np.int16), 44100, subtype="PCM_16")
    with pytest.raises(DatasetError, match=r"20240501_A07_S12\.wav: 44100 Hz, but 20240501_A02_S12\.wav is 16000 Hz"):
        load_interact(tmp_path)

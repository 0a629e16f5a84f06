"""InterAct loader on folders written to the published dataset card (tests/dataset_fixtures.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile

from dyad.models.arkit import index_of
from dyad.models.interact import DatasetError, load_interact
from dyad.models.interact_layout import read_face_columns
from dyad.models.lip_acc import load_lip_acc
from dyad.models.skeleton import load_default_skeleton
from tests.dataset_fixtures import DATE, face_order, write_interact, write_interact_older


def test_published_layout_loads_bodies_and_counts_faces_it_may_not_read(tmp_path: Path) -> None:
    truth = write_interact(tmp_path, takes=2)
    dataset = load_interact(tmp_path)
    first = dataset.takes[0]
    assert first.name == f"{DATE}_051" and first.actors == ("001", "002") and first.frames == 60
    np.testing.assert_allclose(first.roots[1], truth[51]["002"]["roots"], atol=1e-4)
    assert first.sample_rate == 48000 and dataset.bvh_units == "cm" and dataset.layout == "current"
    # the column order of face_arkit/*.npy is not published: no face is guessed, and the report says so
    assert all(t.face is None for t in dataset.takes)
    assert "2 of 2 takes without face data" in dataset.report[-1] and "--face-columns" in dataset.report[-1]
    meta = first.metadata
    assert meta["scenario"]["id"] == 51 and meta["scenario"]["relationship"] == "boss / subordinate"
    assert meta["scenario"]["emotion"] == "amusement" and [a["gender"] for a in meta["actors"]] == ["male", "female"]
    assert not any("session pair" in line for line in dataset.report)


def test_takes_are_checked_against_the_recorded_session_pairs(tmp_path: Path) -> None:
    write_interact(tmp_path)
    with sqlite3.connect(tmp_path / "actors.db") as db:
        db.execute("UPDATE sessions SET female_id = '004'")
    (note,) = [line for line in load_interact(tmp_path).report if "session pair" in line]
    assert note == f"{DATE}_051: actors 001 and 002 are not a session pair of {DATE} in actors.db (001 and 004)"


def test_named_face_columns_map_npy_faces_by_name(tmp_path: Path) -> None:
    truth = write_interact(tmp_path)
    order = face_order()
    (tmp_path / "columns.txt").write_text("\n".join(order) + "\n")
    dataset = load_interact(tmp_path, face_columns=read_face_columns(tmp_path / "columns.txt"))
    (take,) = dataset.takes
    values = truth[51]["001"]["face"]
    for column, name in enumerate(order):
        np.testing.assert_allclose(take.face[0, :, index_of(name)], values[:60, column], atol=1e-6)
    assert not take.face_valid[index_of("TongueOut")] and take.face_valid[index_of("JawOpen")]
    assert not any("without face data" in line for line in dataset.report)


def test_face_column_lists_are_checked(tmp_path: Path) -> None:
    order = list(face_order())
    with pytest.raises(DatasetError, match="names 50 shapes"):
        read_face_columns(",".join(order[:50]))
    with pytest.raises(DatasetError, match="named twice"):
        read_face_columns(",".join(order[:50] + order[:1]))
    with pytest.raises(DatasetError, match="HeadYaw is a head/eye angle"):
        read_face_columns(",".join(order[:50] + ["HeadYaw"]))
    write_interact(tmp_path)
    np.save(tmp_path / "face_arkit" / f"{DATE}_001_051.npy", np.zeros((60, 52), np.float32))
    with pytest.raises(DatasetError, match=r"001_051\.npy: shape \(60, 52\)"):
        load_interact(tmp_path, face_columns=tuple(face_order()))


def test_older_release_folder_names(tmp_path: Path) -> None:
    truth = write_interact_older(tmp_path)
    dataset = load_interact(tmp_path)
    assert dataset.layout == "older" and dataset.takes[0].face is None
    np.testing.assert_allclose(dataset.takes[0].rotations[0], truth["001"]["rotations"], atol=1e-6)
    assert "the older release has no ARKit face folder" in dataset.report[-1]
    write_interact(tmp_path)  # both releases in one folder: which one is meant must be said
    with pytest.raises(DatasetError, match="choose --layout current or older"):
        load_interact(tmp_path)
    assert load_interact(tmp_path, layout="current").layout == "current"


def test_bvh_units_are_inferred_from_the_skeleton_and_checked(tmp_path: Path) -> None:
    truth = write_interact(tmp_path, units="m")
    dataset = load_interact(tmp_path)
    assert dataset.bvh_units == "m"
    np.testing.assert_allclose(dataset.takes[0].roots[0], truth[51]["001"]["roots"], atol=1e-3)  # back in cm
    np.testing.assert_allclose(dataset.skeleton.offsets, load_default_skeleton().offsets, atol=1e-6)
    with pytest.raises(DatasetError, match="--bvh-units cm, but the skeleton spans"):
        load_interact(tmp_path, bvh_units="cm")


def test_a_skeleton_that_is_not_y_up_is_refused(tmp_path: Path) -> None:
    write_interact(tmp_path)
    for path in (tmp_path / "bvhs").glob("*.bvh"):
        lines = path.read_text().splitlines()
        out = []
        for line in lines:  # swap Y and Z of every OFFSET: a Z-up skeleton
            parts = line.split()
            if parts[:1] == ["OFFSET"]:
                x, y, z = parts[1:4]
                line = line[: line.index("OFFSET")] + f"OFFSET {x} {z} {y}"
            out.append(line)
        path.write_text("\n".join(out) + "\n")
    with pytest.raises(DatasetError, match="not Y-up"):
        load_interact(tmp_path)


def test_trims_small_mismatch_and_refuses_large_naming_files(tmp_path: Path) -> None:
    write_interact(tmp_path, face_frames=57)
    columns = tuple(face_order())
    dataset = load_interact(tmp_path, face_columns=columns)
    assert dataset.takes[0].frames == 57
    assert "trimmed to 57 frames" in dataset.report[0] and f"face_arkit/{DATE}_001_051.npy 57" in dataset.report[0]
    other = tmp_path / "other"
    write_interact(other, face_frames=30)
    with pytest.raises(DatasetError, match=rf"disagree by 1\.00 s.*face_arkit/{DATE}_001_051\.npy 30"):
        load_interact(other, face_columns=columns)


def test_corrupt_bvh_and_missing_metadata_are_named(tmp_path: Path) -> None:
    write_interact(tmp_path)
    path = tmp_path / "bvhs" / f"{DATE}_002_051.bvh"
    text = path.read_text()
    path.write_text(text.replace("MOTION", "MOTON", 1))
    with pytest.raises(DatasetError, match=rf"{DATE}_002_051\.bvh: corrupt BVH"):
        load_interact(tmp_path)
    path.write_text(text)
    with sqlite3.connect(tmp_path / "actors.db") as db:
        db.execute("DELETE FROM actors WHERE actor_id = '002'")
    with pytest.raises(DatasetError, match=rf"actors\.db: no row for actor '002' \(used by {DATE}_002_051\.bvh\)"):
        load_interact(tmp_path)
    (tmp_path / "scenarios.db").unlink()
    with pytest.raises(DatasetError, match=r"scenarios\.db: metadata database missing"):
        load_interact(tmp_path)


def test_wav_at_another_rate_is_named(tmp_path: Path) -> None:
    write_interact(tmp_path)
    soundfile.write(tmp_path / "wav" / f"{DATE}_002_051.wav", np.zeros(2 * 44100, np.int16), 44100, subtype="PCM_16")
    with pytest.raises(DatasetError, match=rf"{DATE}_002_051\.wav: 44100 Hz, but {DATE}_001_051\.wav is 48000 Hz"):
        load_interact(tmp_path)


def test_lip_acc_is_one_actor_reading_sentences(tmp_path: Path) -> None:
    truth = write_interact(tmp_path, lip=True)["lip"]
    with pytest.raises(DatasetError, match="ARKit column order is not published"):
        load_lip_acc(tmp_path)
    order = face_order()
    lips = load_lip_acc(tmp_path, face_columns=read_face_columns(",".join(order)))
    assert [t.name for t in lips.takes] == sorted(truth) and {t.actor for t in lips.takes} == {"006"}
    second = lips.takes[1]
    assert second.sentence == "Sentence number 2 is read with care." and second.wav.parent.name == "wav"
    jaw = order.index("jawOpen")
    np.testing.assert_allclose(second.face[:, index_of("JawOpen")], truth[second.name][:, jaw], atol=1e-6)

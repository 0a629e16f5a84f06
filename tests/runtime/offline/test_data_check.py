"""`dyad data check` and `dyad train` on folders in the published layouts: what is read, counted and refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dyad.models.model_dir import load_model_dir
from dyad.runtime.cli.main import main
from tests.dataset_fixtures import face_order, write_interact, write_interx_motion


@pytest.fixture(scope="module")
def interact(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("interact")
    write_interact(root, takes=3, lip=True)
    (root / "columns.txt").write_text("\n".join(face_order()) + "\n")
    return root


def test_check_says_what_it_found_uses_and_cannot_read(interact: Path, capsys) -> None:
    assert main(["data", "check", str(interact)]) == 0
    out = capsys.readouterr().out
    assert "found: InterAct current layout" in out and "found: 6 BVH files in bvhs/" in out
    assert "6 x 48000 Hz 1 ch PCM_24" in out and "6 .npy (columns (51,))" in out
    assert "actors(actor_id, gender)" in out and "sessions(date, male_id, female_id)" in out
    assert "found: face_ict/ (not read" in out
    assert "will use for body: 3 takes" in out and "BVH in cm" in out and "8 of 8 leg joints" in out
    assert "will use for face: 0 of 3 takes with face data (face training would refuse)" in out
    assert "note: 3 of 3 takes without face data" in out and "--face-columns FILE" in out
    assert "cannot read: " in out and "lip_acc/face_arkit/20231201_006_001.npy: ARKit column order is not published" in out


def test_check_with_named_face_columns(interact: Path, capsys) -> None:
    assert main(["data", "check", str(interact), "--face-columns", str(interact / "columns.txt")]) == 0
    out = capsys.readouterr().out
    assert "will use for face: 3 of 3 takes with face data\n" in out
    assert "will use for face-lip: 3 lip_acc takes (0.1 min, actor 006; audio like lip_acc/wav/20231201_006_001.wav)" in out


def test_check_refuses_what_cannot_be_trained_on(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["data", "check", str(tmp_path / "empty")]) == 2
    captured = capsys.readouterr()
    assert "cannot read: " in captured.out and "no bvhs/ folder" in captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith("dyad: error: ") and "nothing here can be trained on" in captured.err
    write_interx_motion(tmp_path / "interx" / "motions" / "G001T000A000R000")
    assert main(["data", "check", str(tmp_path / "interx")]) == 0
    out = capsys.readouterr().out
    assert "found: Inter-X motions/ with 1 entries" in out and "will use for body: 1 takes" in out


def test_face_training_without_readable_faces_stops_naming_the_folder(interact: Path, tmp_path: Path, capsys) -> None:
    assert main(["train", "face", "--data", str(interact), "--out", str(tmp_path / "m"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"dyad: error: {interact}: no take has face data" in err and "face training not started" in err
    assert not (tmp_path / "m").exists()


def test_body_training_refuses_a_skeleton_whose_legs_have_other_names(tmp_path: Path, capsys) -> None:
    write_interact(tmp_path, takes=2)
    for path in (tmp_path / "bvhs").glob("*.bvh"):
        path.write_text(path.read_text().replace("LeftUpLeg", "LHip"))
    assert main(["data", "check", str(tmp_path)]) == 0
    assert "7 of 8 leg joints named as the lower-body split expects" in capsys.readouterr().out
    assert main(["train", "body", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no joint named LeftUpLeg" in err and "body training not started" in err


def test_lip_fine_tune_from_lip_acc_is_what_the_swap_loads(interact: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "model"
    common = ["--data", str(interact), "--out", str(model), "--batch", "2", "--window", "12", "--val-takes", "1", "--steps", "2"]
    assert main(["train", "body", *common]) == 0
    assert "dyad: data: 3 of 3 takes without face data" in capsys.readouterr().out  # counted, never silent
    columns = ["--face-columns", str(interact / "columns.txt")]
    assert main(["train", "face-lip", *common]) == 2  # lip_acc faces are .npy too: their order must be named
    assert "20231201_006_001.npy: ARKit column order is not published" in capsys.readouterr().err
    assert main(["train", "face-lip", *common, *columns]) == 2  # the lip fine-tune starts from a base face model
    err = capsys.readouterr().err
    assert "face.safetensors" in err and "train `face` first" in err
    assert main(["train", "face", *common, *columns]) == 0
    assert main(["train", "face-lip", *common, *columns]) == 0
    assert "dyad: data: 3 lip_acc takes" in capsys.readouterr().out
    loaded = load_model_dir(model)
    assert loaded.face_weights == "swapped"
    from_lip = sorted(n for n, f in loaded.provenance.items() if f.endswith("face_lip.safetensors"))
    assert from_lip and all(n.startswith("denoiser.") for n in from_lip)
    base, lip = load_file(model / "face.safetensors"), load_file(model / "face_lip.safetensors")
    changed = [n for n in from_lip if not torch.equal(base[n], lip[n])]
    assert changed  # the lip_acc steps moved the denoiser, and those are the weights the swap loads
    state = loaded.face.state_dict()
    assert all(torch.equal(state[n], lip[n]) for n in changed)


def test_eval_scores_published_interact_with_and_without_named_face_columns(interact: Path, tmp_path: Path, capsys) -> None:
    import json
    import math

    plain, named = tmp_path / "plain.json", tmp_path / "named.json"
    assert main(["eval", "--data", str(interact), "--takes", "1", "--out", str(plain)]) == 0
    assert "1 of 1 takes without face data: their lip metrics are not scored" in capsys.readouterr().err
    mean = json.loads(plain.read_text())[0]["mean"]
    assert math.isnan(mean["lip_max_sq"]) and math.isfinite(mean["jerk"])
    assert main(["eval", "--data", str(interact), "--takes", "1", "--face-columns", str(interact / "columns.txt"), "--out", str(named)]) == 0
    named_mean = json.loads(named.read_text())[0]["mean"]
    assert math.isfinite(named_mean["lip_max_sq"]) and named_mean["jerk"] == mean["jerk"]


def test_eval_refuses_inter_x_in_one_line(tmp_path: Path, capsys) -> None:
    write_interx_motion(tmp_path / "motions" / "G001T000A000R000")
    assert main(["eval", "--data", str(tmp_path)]) == 2
    assert "Inter-X has no audio or face" in capsys.readouterr().err

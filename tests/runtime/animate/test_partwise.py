"""Face and body from different animators: the model folder's per-part default and the flags that override it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.errors import DyadError
from dyad.runtime.animate.partwise import PartwiseAnimator, resolve_parts
from dyad.runtime.animate.procedural import ProceduralAnimator
from session_fixtures import write_dialogue
from test_learned_animator import dyad, load, window

SKELETON = load_default_skeleton()


@pytest.mark.parametrize("face, body", [("procedural", "learned"), ("learned", "procedural")])
def test_each_part_comes_from_its_animator(model_dir, face, body):
    learned, procedural = load(model_dir), ProceduralAnimator(SKELETON, fps=30)
    w = window()
    mixed = PartwiseAnimator(load(model_dir), ProceduralAnimator(SKELETON, fps=30), face, body).animate(w)
    expected = {"learned": learned.animate(w), "procedural": procedural.animate(w)}
    for p in (0, 1):
        for k, pose in enumerate(mixed[p]):
            face_src, body_src = expected[face][p][k], expected[body][p][k]
            assert np.array_equal(pose.face[:52], face_src.face[:52])
            assert np.array_equal(pose.face[52:], body_src.face[52:])  # head and eye angles go with the body
            assert np.array_equal(pose.joint_rotations, body_src.joint_rotations)
            assert np.array_equal(pose.root_position, body_src.root_position)
    assert not np.array_equal(expected["learned"][0][0].face[:52], expected["procedural"][0][0].face[:52])


def _with_parts(folder: Path, parts) -> Path:
    manifest = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(manifest | {"parts": parts, "parts_why": "measured"}))
    return folder


def test_manifest_parts_and_overrides(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"format": "dyad.model"}))
    assert resolve_parts(tmp_path, None, None) == ({"face": "learned", "body": "learned"}, "")
    _with_parts(tmp_path, {"face": "procedural"})
    assert resolve_parts(tmp_path, None, None) == ({"face": "procedural", "body": "learned"}, "measured")
    assert resolve_parts(tmp_path, "learned", None)[0] == {"face": "learned", "body": "learned"}
    _with_parts(tmp_path, {"face": "clever"})
    with pytest.raises(DyadError, match="parts.face must be one of learned, procedural"):
        resolve_parts(tmp_path, None, None)


def test_cli_runs_what_the_folder_says_per_part(tmp_path, model_dir):
    import shutil

    wav = write_dialogue(tmp_path / "dialogue.wav", seconds=1.5)
    folder = _with_parts(Path(shutil.copytree(model_dir, tmp_path / "model")), {"face": "procedural", "body": "learned"})
    args = ["run", "--wav", str(wav), "--offline", "--quiet", "--model", str(folder), "--steps", "1"]
    ran = dyad(*args, "--out", str(tmp_path / "a"))
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((tmp_path / "a" / "session.json").read_text())
    assert summary["animator_report"]["parts"] == {"face": "procedural", "body": "learned"}
    _with_parts(folder, {"face": "procedural", "body": "procedural"})
    ran = dyad("--log-level", "INFO", *args, "--out", str(tmp_path / "b"))  # the choice is said at INFO
    assert ran.returncode == 0 and "face and body run the procedural animator" in ran.stderr
    assert json.loads((tmp_path / "b" / "session.json").read_text())["animator"] == "procedural"
    ran = dyad(*args, "--out", str(tmp_path / "c"), "--body-animator", "learned")
    assert json.loads((tmp_path / "c" / "session.json").read_text())["animator_report"]["parts"] == {"face": "procedural", "body": "learned"}

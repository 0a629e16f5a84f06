"""The learned animator behind the Animator contract: batching, inputs, backends, sessions, adaptation, load-time errors, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.frames import AnimationWindow, PersonFeatures
from dyad.runtime.config import MelConfig, SessionConfig, TimingConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState, PersonPose
from dyad.runtime.animate.learned_animator import initial_placement, load_learned_animator
from dyad.runtime.animate.learned_config import LearnedConfig
from dyad.runtime.animate.procedural import Placement
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from model_fixtures import WAV2VEC_DIM, WORD_DIM, tiny_model_dir
from session_fixtures import write_dialogue

SKELETON = load_default_skeleton()
OFFLINE = SessionConfig(offline=True, status_interval_s=0.0)


@pytest.fixture(scope="module")
def dialogue_wav(tmp_path_factory) -> Path:
    return write_dialogue(tmp_path_factory.mktemp("audio") / "dialogue.wav", seconds=3.0)


def window(context: int = 8, new: int = 2, seed: int = 0, speech: bool = True, **feature_changes) -> AnimationWindow:
    rng = np.random.default_rng(seed)
    t = context + new

    def person() -> PersonFeatures:
        extra = {"wav2vec": rng.normal(size=(t, WAV2VEC_DIM)), "words": rng.normal(size=(t, WORD_DIM)), "no_text": np.zeros(t)} if speech else {}
        fields = {"mel": rng.normal(-10, 3, (t, 80)), "rms_db": np.full(t, -30.0), "vad": rng.uniform(size=t), **extra}
        return PersonFeatures(**{k: np.asarray(v, np.float32) for k, v in {**fields, **feature_changes}.items()})

    xz, yaw = initial_placement(Placement(), ControlState())
    poses = []
    for p in (0, 1):
        rotations = np.zeros((SKELETON.num_joints, 3))
        rotations[0, 1] = yaw[p]
        poses.append(tuple(PersonPose(p, (xz[p, 0] + 0.5 * k, 95.0, xz[p, 1]), rotations, np.full(61, 0.1)) for k in range(context)))
    return AnimationWindow(100, context, new, 0, 30, (person(), person()), (poses[0], poses[1]), ControlState())


def load(model_dir: Path, session: SessionConfig = OFFLINE, **changes):
    return load_learned_animator(LearnedConfig(model_dir, **{"steps": 2, **changes}), session, SKELETON)


def test_one_call_animates_both_people_with_batched_denoiser_calls(model_dir):
    animator = load(model_dir)
    calls: list[tuple[str, tuple]] = []
    for name, fn in list(animator.generator.denoisers.items()):
        animator.generator.denoisers[name] = lambda *a, fn=fn, name=name: calls.append((name, tuple(a[0].shape))) or fn(*a)
    w = window()
    p0, p1 = animator.animate(w)
    assert [p.person for p in p0] == [0, 0] and [p.person for p in p1] == [1, 1]
    # per hop and per step: one lower, one upper call with both people on the person axis, one face call with both as rows
    assert calls == [("lower", (1, 2, 10, 31))] * 2 + [("upper", (1, 2, 10, 129))] * 2 + [("face", (2, 10, 61))] * 2
    for pose, last in zip((p0[0], p1[0]), (w.context[0][-1], w.context[1][-1])):
        assert pose.joint_rotations.shape == (52, 3) and np.isfinite(pose.joint_rotations).all()
        assert 0.0 <= pose.face[:52].min() and pose.face[:52].max() <= 1.0 and np.abs(pose.face[52:]).max() <= 1.0
        assert np.linalg.norm(pose.root_position[[0, 2]] - last.root_position[[0, 2]]) < 5.0  # continues from the context
    assert p0[1].speaking == pytest.approx(float(w.features[0].vad[9]))


def test_absent_speech_features_run_on_zeros_and_bad_values_are_counted(model_dir):
    animator = load(model_dir)
    cold = window(context=0, speech=False)
    p0, _ = animator.animate(cold)  # no context, no Wav2Vec2, no words
    xz, _ = initial_placement(Placement(), ControlState())
    assert np.allclose(p0[0].root_position[[0, 2]], xz[0])  # a cold start stands at the initial placement
    mel = window().features[0].mel.copy()
    mel[3, :5] = np.nan
    poses = animator.animate(window(mel=mel))
    assert all(np.isfinite(p.joint_rotations).all() for p in poses[0] + poses[1])
    assert animator.report()["counters"] == {"nonfinite_mel_values": 10}  # 5 per person
    with pytest.raises(ValueError, match="wav2vec features have 7 dimensions"):
        animator.animate(window(wav2vec=np.zeros((10, 7))))


def test_torch_and_onnx_backends_agree_and_runs_are_deterministic(model_dir):
    torch_poses = load(model_dir).animate(window(seed=3))
    again = load(model_dir).animate(window(seed=3))
    onnx_poses = load(model_dir, backend="onnx").animate(window(seed=3))
    for a, b, c in zip(torch_poses[0] + torch_poses[1], again[0] + again[1], onnx_poses[0] + onnx_poses[1]):
        assert np.array_equal(a.joint_rotations, b.joint_rotations) and np.array_equal(a.face, b.face)
        np.testing.assert_allclose(c.joint_rotations, a.joint_rotations, atol=1e-3)
        np.testing.assert_allclose(c.root_position, a.root_position, atol=1e-2)


def run_session(wav: Path, animator, offline: bool = True, seconds: float = 3.0):
    config = SessionConfig(offline=offline, seconds=seconds, status_interval_s=0.0)
    source = WavReplaySource(open_wav_inputs([wav]), block_ms=10, seconds=seconds, realtime=not offline)
    return Session(config, source, animator=animator, keep_frames=True).run()


@pytest.mark.slow
def test_offline_learned_sessions_are_bit_identical(model_dir, dialogue_wav):
    runs = [run_session(dialogue_wav, load(model_dir)) for _ in range(2)]
    assert runs[0].frames == 90 and runs[0].summary["animator"] == "learned"
    assert runs[0].summary["counters"].get("animator_errors", 0) == 0
    for a, b in zip(runs[0].bundles, runs[1].bundles):
        assert not a.fallback
        for pa, pb in zip(a.people, b.people):
            assert np.array_equal(pa.joint_rotations, pb.joint_rotations) and np.array_equal(pa.face, pb.face)
            assert np.array_equal(pa.root_position, pb.root_position)
    report = runs[0].summary["animator_report"]
    assert report["steps"] == {"steps_now": 2, "adapt": False, "why": "offline session: frames must be bit-identical"}
    assert report["trained"] is False and report["face_weights"] == "swapped"


@pytest.mark.realtime
def test_live_session_lowers_steps_when_compute_nears_the_budget(model_dir, dialogue_wav):
    session = SessionConfig(offline=False, status_interval_s=0.0)
    animator = load(model_dir, session, steps=8)
    for name, fn in list(animator.generator.denoisers.items()):  # make every denoiser call cost at least 3 ms
        animator.generator.denoisers[name] = lambda *a, fn=fn: (time.sleep(0.003), fn(*a))[1]
    summary = run_session(dialogue_wav, animator, offline=False, seconds=2.0).summary
    steps = summary["animator_report"]["steps"]
    assert steps["decisions"], steps  # 8 steps x 3 nets x >= 3 ms >= 72 ms per hop, over the allowance (D - floor)
    first = steps["decisions"][0]
    assert (first["steps_from"], first["steps_to"]) == (8, 4) and first["compute_ms"] > first["allowance_ms"] * 0.75
    assert steps["steps_now"] < 8 and steps["allowance_ms"] == pytest.approx(session.timing.budget_ms - session.minimum_budget_ms(), abs=1e-3)


def test_problems_are_refused_at_load_time_not_mid_session(model_dir, tmp_path):
    cases = [
        (dict(session=replace(OFFLINE, timing=TimingConfig(fps=25, budget_ms=200))), "runs at 30 fps, the session at 25"),
        (dict(session=replace(OFFLINE, mel=MelConfig(n_mels=64))), "takes 80 mel bands, the session makes 64"),
        (dict(steps=9), "--steps must be 1..8"),
        (dict(face_weights="newest"), "--face-weights must be one of"),
        (dict(model_dir=tmp_path / "nothing"), "model folder not found"),
    ]
    for kwargs, needle in cases:
        session = kwargs.pop("session", OFFLINE)
        folder = kwargs.pop("model_dir", model_dir)
        with pytest.raises(DyadError, match=needle):
            load(folder, session, **kwargs)
    animator = load(model_dir)
    with pytest.raises(DyadError, match="takes 12-dim Wav2Vec2 features, the encoder gives 768"):
        animator.check_features(wav2vec_dim=768, words_dim=WORD_DIM)
    with pytest.raises(DyadError, match="takes 16-dim word features, the BERT encoder gives 384"):
        animator.check_features(wav2vec_dim=None, words_dim=384)
    bare = tiny_model_dir(tmp_path / "bare")
    with pytest.raises(DyadError, match="no ONNX export"):
        load(bare, backend="onnx")
    if not __import__("torch").cuda.is_available():
        with pytest.raises(DyadError, match="--device cuda: torch sees 0 CUDA devices"):
            load(bare, device="cuda")
        with pytest.raises(DyadError, match="could not start CUDAExecutionProvider"):
            load(model_dir, backend="onnx", device="cuda")
    (bare / "face_lip.safetensors").unlink()
    with pytest.raises(DyadError, match="lip checkpoint not found, needed for face_weights 'swapped'"):
        load(bare)


def dyad(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "dyad.runtime.cli", *args], capture_output=True, text=True, timeout=180, env=env)


@pytest.mark.slow
def test_cli_writes_an_untrained_model_and_runs_a_session_on_onnx(tmp_path, dialogue_wav):
    folder, out = tmp_path / "model", tmp_path / "out"
    made = dyad("model", "init", "--out", str(folder), "--tiny")
    assert made.returncode == 0, made.stderr
    assert "untrained" in made.stdout and (folder / "onnx" / "export.json").is_file()
    ran = dyad("run", "--wav", str(dialogue_wav), "--offline", "--seconds", "2", "--quiet", "--out", str(out),
               "--model", str(folder), "--steps", "1", "--backend", "onnx")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((out / "session.json").read_text())
    assert summary["animator"] == "learned" and summary["frames"] == {"p0": 60, "p1": 60}
    assert summary["animator_report"]["config"]["backend"] == "onnx"
    (folder / "face_lip.safetensors").unlink()
    refused = dyad("run", "--wav", str(dialogue_wav), "--offline", "--model", str(folder))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert [line for line in refused.stderr.splitlines() if line.startswith("dyad: error:")] == [
        f"dyad: error: {folder / 'face_lip.safetensors'}: lip checkpoint not found, needed for face_weights 'swapped'"
    ]

"""The model benchmarks on tiny models and a few hops: the files and keys they write, the batched path they time,
the latency arithmetic of the anchors, and their one-line errors. No timing is asserted: CI never fails on a number."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dyad.runtime.config import TimingConfig
from dyad.benchmarks import model_benches
from dyad.benchmarks.anchors_bench import frame_latencies
from dyad.benchmarks.bench_common import REPORT_KEYS
from dyad.benchmarks.hop_timing import WindowShape, WindowStream, random_features
from dyad.benchmarks.session_latency import device_name
from dyad.models.diffusion import randn
from dyad.models.generator import DyadGenerator, DyadInputs
from dyad.models.model_dir import init_model_dir, load_model_dir
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.frames import AnimationWindow
from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.animate.learned_animator import LearnedAnimator
from dyad.runtime.animate.learned_config import LearnedConfig
from model_fixtures import WAV2VEC_DIM, tiny_body, tiny_face

PNG = b"\x89PNG\r\n\x1a\n"
SCHEDULES = {"ours", "audio2face3d", "diffsheg", "lda"}


@pytest.fixture(scope="module")
def eval_model_dir(tmp_path_factory) -> Path:
    # `dyad eval` sessions turn the transcripts into 384-dim BERT word vectors: a tiny model that takes them
    return init_model_dir(tmp_path_factory.mktemp("model") / "tiny384", load_default_skeleton(), tiny=True, word_dim=384, wav2vec_dim=WAV2VEC_DIM)


def run(name: str, *argv: str) -> dict:
    parser = argparse.ArgumentParser()
    getattr(model_benches, f"add_{name}_args")(parser)
    args = parser.parse_args(list(argv))
    assert getattr(model_benches, f"run_{name}")(args) == 0
    out = Path(args.out)
    png = (out / f"{name}.png").read_bytes()
    assert png[:8] == PNG and len(png) > 5000
    report = json.loads((out / f"{name}.json").read_text())
    assert all(key in report for key in REPORT_KEYS)
    assert report["benchmark"] == name and report["device"] == device_name()
    assert report["rows"] and isinstance(report["summary"], dict) and isinstance(report["not_measured"], list)
    return report


# -- the batched generator -------------------------------------------------------------------------------------------


def _inputs(rng: np.random.Generator, body, face, frames: int = 10, context: int = 8) -> DyadInputs:
    split, face_dim = body.config.split, len(face.config.face_names)

    def known(dim: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros((2, frames, dim))
        mask[:, :context] = 1.0
        return rng.normal(size=(2, frames, dim)) * scale, mask

    lower_k, lower_m = known(split.lower_dim, 0.1)
    lower_k[..., 0] += body.config.rest_root_height
    upper_k, upper_m = known(split.upper_dim, 0.1)
    face_k, face_m = known(face_dim, 0.1)
    return DyadInputs(
        mel=rng.normal(-10, 3, (2, frames, body.config.mel_dim)).astype(np.float32),
        words=rng.normal(size=(2, frames, body.config.word_dim)).astype(np.float32), no_text=np.zeros((2, frames), np.float32),
        actions=rng.integers(0, 3, (2, frames)), placement=rng.normal(size=(2, 4)),
        wav2vec=rng.normal(size=(2, frames, face.config.wav2vec_dim)).astype(np.float32),
        speakers=rng.integers(0, face.config.speakers, 2), facing=bool(rng.integers(2)),
        lower_known=lower_k, lower_mask=lower_m, upper_known=upper_k, upper_mask=upper_m, face_known=face_k, face_mask=face_m,
    )  # fmt: skip


def test_generate_batch_equals_separate_generate_calls():
    body, face = tiny_body(), tiny_face()
    generator = DyadGenerator(body, face)
    rng = np.random.default_rng(3)
    inputs = [_inputs(rng, body, face, context=c) for c in (8, 0, 5)]
    seeds = [11, 2**40 + 7, 11]  # a repeated seed on other inputs must still give that dyad its own result
    alone = [generator.generate(i, 3, s) for i, s in zip(inputs, seeds)]
    together = generator.generate_batch(inputs, 3, seeds)
    assert len(together) == 3
    for a, b in zip(alone, together):
        for part in ("lower", "upper", "face"):
            x, y = getattr(a, part), getattr(b, part)
            assert x.shape == y.shape
            np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-5)
    assert not np.allclose(together[0].face, together[2].face)  # dyads do not leak into each other
    with pytest.raises(ValueError, match="one seed per dyad"):
        generator.generate_batch(inputs, 3, seeds[:2])


def test_a_list_of_generators_draws_each_chunk_as_its_own_call():
    draws = randn((6, 4), [torch.Generator().manual_seed(s) for s in (1, 2, 3)])
    for i, seed in enumerate((1, 2, 3)):
        assert torch.equal(draws[2 * i : 2 * i + 2], torch.randn((2, 4), generator=torch.Generator().manual_seed(seed)))
    with pytest.raises(ValueError, match="equal chunks"):
        randn((5, 4), [torch.Generator(), torch.Generator()])


def test_animate_batch_gives_each_window_the_poses_of_animate(model_dir):
    models = load_model_dir(model_dir)
    session = SessionConfig(offline=True, status_interval_s=0.0)
    animator = LearnedAnimator(models, load_default_skeleton(), LearnedConfig(model_dir, steps=2, adapt=False), 30)
    streams = [WindowStream(WindowShape(), random_features(animator, seed=i), session.controls) for i in range(3)]
    for _ in range(2):  # a cold window, then one with context
        windows = [s.next() for s in streams]
        batched = animator.animate_batch(windows)
        for stream, window, people in zip(streams, windows, batched):
            alone = animator.animate(window)
            for mine, theirs in zip(people[0] + people[1], alone[0] + alone[1]):
                np.testing.assert_allclose(mine.joint_rotations, theirs.joint_rotations, atol=1e-5)
                np.testing.assert_allclose(mine.face, theirs.face, atol=1e-5)
            stream.push(people)


# -- the four benchmarks ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_steps_reports_compute_and_quality_on_a_generated_heldout_corpus(eval_model_dir, tmp_path):
    report = run("steps", "--model", str(eval_model_dir), "--hops", "2", "--steps", "1,2", "--minutes", "0.1", "--takes", "1", "--out", str(tmp_path))
    assert [row["steps"] for row in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["hops"] == 2 and row["hop_ms_p99"] >= row["hop_ms_p50"] > 0
        assert {"lip_max_sq", "beat_align", "lip_mse", "jerk"} <= set(row) and row["takes"] == 1
    assert "generated" in report["data"]
    assert report["summary"]["table"].count("\n") == 3 and "lip_max_sq" in report["summary"]["table"]


def test_backends_compare_outputs_and_list_what_this_machine_cannot_run(model_dir, tmp_path):
    report = run("backends", "--model", str(model_dir), "--hops", "2", "--backends", "torch,onnx,tensorrt", "--out", str(tmp_path))
    rows = {row["label"]: row for row in report["rows"]}
    assert {"torch@cpu", "onnx@cpu"} <= set(rows)
    assert rows["torch@cpu"]["ratio_p50_vs_torch_eager"] == 1.0 and rows["torch@cpu"]["max_abs_diff"]["face"] == 0.0
    assert rows["onnx@cpu"]["ratio_p99_vs_torch_eager"] > 0
    assert max(rows["onnx@cpu"]["max_abs_diff"].values()) < 1e-3  # the same windows and seeds: the same poses
    if not torch.cuda.is_available():
        assert {m.split(":")[0] for m in report["not_measured"]} == {"torch@cuda", "onnx@cuda", "tensorrt@cuda"}
        assert all("CUDA" in m for m in report["not_measured"])


def test_anchors_compare_all_four_schedules_on_the_same_audio(model_dir, tmp_path):
    report = run("anchors", "--model", str(model_dir), "--hops", "3", "--out", str(tmp_path))
    rows = {row["schedule"]: row for row in report["rows"]}
    assert set(rows) == SCHEDULES
    assert (rows["ours"]["context_frames"], rows["ours"]["new_frames"], rows["ours"]["steps"]) == (8, TimingConfig().hop_frames, 4)
    assert [rows[n]["steps"] for n in ("audio2face3d", "diffsheg", "lda")] == [2, 25, 150]
    for name in SCHEDULES - {"ours"}:
        assert set(rows[name]["latency_ratio_vs_ours"]) == {"p50", "p99", "max"}
        assert set(report["summary"]["ratios_vs_ours"][name]) == {"p50", "p99", "max"}
    for row in rows.values():
        frames = 3 * TimingConfig().hop_frames  # three hops
        assert row["frames"] == frames and row["latency_ms"]["count"] == frames and row["compute_ms_per_audio_s"] > 0
    assert isinstance(report["summary"]["meets_target"], bool) and "pipeline delay" in report["summary"]["included"]


def test_concurrency_doubles_the_dyads_and_states_its_criterion(model_dir, tmp_path):
    report = run("concurrency", "--model", str(model_dir), "--hops", "2", "--max-dyads", "4", "--out", str(tmp_path))
    dyads = [row["dyads"] for row in report["rows"]]
    assert dyads == [1, 2, 4][: len(dyads)]
    summary = report["summary"]
    assert summary["sessions_per_device"] in (0, *dyads) and "p99" in summary["criterion"]
    hop_ms = TimingConfig().hop_frames / TimingConfig().fps * 1000
    assert summary["limit_ms"] == pytest.approx(min(hop_ms, summary["compute_allowance_ms"]), abs=1e-3)


def test_latency_per_frame_follows_the_schedule():
    """Two windows of 2 new frames at 30 fps, 10 ms and 100 ms of compute, 5 ms pipeline delay."""
    windows = [AnimationWindow(0, 0, 2, 0, 30, None, ((), ()), None), AnimationWindow(0, 2, 2, 0, 30, None, ((), ()), None)]
    plain, queued = frame_latencies(windows, np.array([10.0, 100.0]), 30, 5.0)
    frame = 1000.0 / 30
    np.testing.assert_allclose(plain, [2 * frame + 15, frame + 15, 2 * frame + 105, frame + 105])
    np.testing.assert_allclose(queued, plain)  # the first window finished long before the second could start
    # 100 ms for the first window: the second, ready at 4 frames, starts only when the first is done (2 frames + 100 ms)
    _, slow = frame_latencies(windows, np.array([100.0, 10.0]), 30, 0.0)
    np.testing.assert_allclose(slow[2:], [110.0, 110.0 - frame])


@pytest.mark.parametrize(
    "name, argv, message",
    [
        ("steps", ["--steps", "0"], "--steps must be 1..1000"),
        ("steps", ["--steps", "two"], "whole numbers"),
        ("backends", ["--backends", "torch,warp"], "unknown 'warp'"),
        ("concurrency", ["--backend", "jax"], "unknown 'jax'"),
        ("concurrency", ["--hops", "0"], "--hops must be at least 1"),
        ("anchors", ["--device", "tpu"], "--device must be cpu, cuda or cuda:N"),
    ],
)
def test_bad_options_are_one_line_errors(name, argv, message, tmp_path):
    parser = argparse.ArgumentParser()
    getattr(model_benches, f"add_{name}_args")(parser)
    with pytest.raises(DyadError) as error:
        getattr(model_benches, f"run_{name}")(parser.parse_args([*argv, "--model", str(tmp_path), "--out", str(tmp_path / "out")]))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()

"""Wav2Vec2 from local folders (both layouts) and its streaming use on the absolute sample clock.

The checkpoints are tiny random models written to tmp folders by the real
save paths. Streaming is compared with encoding the whole utterance at once,
both resampled to 30 fps at the same absolute times:
- an encoder whose receptive field is local (no transformer layer, positional
  convolution of +-4 frames) must match to float precision once the
  configured context and lookahead cover that field: this checks the window
  arithmetic, the stride-grid alignment and the time resampling exactly;
- a 2-layer transformer attends to its whole window, so bounded context can
  only approximate it: the error is stated and must shrink as the context and
  the lookahead grow. The cost per hop is printed and recorded (record_property).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dyad.models.local_checkpoints import CheckpointError
from dyad.models.wav2vec2 import TORCHAUDIO_CONFIG, TORCHAUDIO_WEIGHTS, load_wav2vec2
from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frontend.features import frame_start_sample
from dyad.runtime.speech.speech_features import SpeechFeatures
from dyad.runtime.config import SpeechFeaturesConfig
from dyad.runtime.stats import SessionStats
from session_fixtures import dialogue
import tiny_checkpoints

RATE, FPS = 16000, 30
NO_VAD = (np.zeros(0, np.int64), np.zeros((0, 2), np.float32))


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return dialogue(4.0)  # [n, 2]: real espeak-ng speech, both people, with bleed


@pytest.fixture(scope="module")
def local_folder(tmp_path_factory):
    return tiny_checkpoints.hf_wav2vec2(tmp_path_factory.mktemp("w2v_local"), layers=0, pos_kernel=8)


@pytest.fixture(scope="module")
def transformer_folder(tmp_path_factory):
    return tiny_checkpoints.hf_wav2vec2(tmp_path_factory.mktemp("w2v_2layer"), layers=2, pos_kernel=16)


def stream(folder, audio: np.ndarray, context_ms: float, lookahead_ms: float, block: int = 160, device: str = "cpu"):
    """Push audio block by block through the session's Wav2Vec2 path; return ([T, 2, D] at 30 fps, stats)."""
    speech = SpeechFeaturesConfig(wav2vec2=str(folder), wav2vec2_context_ms=context_ms, wav2vec2_lookahead_ms=lookahead_ms, device=device)
    stats = SessionStats()
    features = SpeechFeatures(SessionConfig(speech=speech), stats, threaded_asr=False)
    out: list[np.ndarray] = []
    for pos in range(0, len(audio), block):
        features.push(audio[pos : pos + block], *NO_VAD, next_frame=len(out))
        while features.ready(len(out)):
            out.append(features.take(len(out))["wav2vec"])
    end_frame = len(audio) * FPS // RATE
    features.finish(end_frame)
    while len(out) < end_frame:
        out.append(features.take(len(out))["wav2vec"])
    return np.stack(out), stats


def whole_utterance(folder, audio: np.ndarray, frames: int) -> np.ndarray:
    """Encode everything at once, then interpolate to animation-frame centres (independent of the runtime code)."""
    encoder = load_wav2vec2(folder)
    whole = encoder.encode(audio.T)  # [2, F, D]
    g = encoder.geometry
    encoder_centres = np.arange(whole.shape[1]) * g.stride + g.receptive_field / 2
    frame_centres = np.array([(frame_start_sample(j, RATE, FPS) + frame_start_sample(j + 1, RATE, FPS)) / 2 for j in range(frames)])
    return np.stack(
        [np.stack([np.interp(frame_centres, encoder_centres, whole[p, :, d]) for d in range(whole.shape[2])], axis=1) for p in range(2)],
        axis=1,
    ).astype(np.float32)


def test_both_layouts_load_and_encode_at_50_hz(tmp_path, transformer_folder, audio):
    folder, model = tiny_checkpoints.torchaudio_wav2vec2(tmp_path / "ta")
    torchaudio_encoder = load_wav2vec2(folder)
    hf_encoder = load_wav2vec2(transformer_folder)
    for encoder, layout in ((torchaudio_encoder, "torchaudio"), (hf_encoder, "huggingface")):
        assert encoder.layout == layout and encoder.dim == 32
        assert (encoder.geometry.stride, encoder.geometry.receptive_field) == (320, 400)
        out = encoder.encode(audio[:RATE].T)
        assert out.shape == (2, 49, 32) and np.isfinite(out).all()
    # the loaded torchaudio weights are the saved ones: same output as the in-memory model
    with torch.inference_mode():
        reference, _ = model(torch.from_numpy(audio[:RATE].T.copy()))
    np.testing.assert_allclose(torchaudio_encoder.encode(audio[:RATE].T), reference.numpy(), atol=1e-5)
    spec = json.loads((folder / TORCHAUDIO_CONFIG).read_text())
    assert spec["format"] == "torchaudio.wav2vec2" and spec["params"]["encoder_num_layers"] == 2


def test_streaming_equals_whole_utterance_when_context_and_lookahead_cover_the_receptive_field(local_folder, audio):
    # Positional convolution reaches 4 encoder frames (80 ms) each way: 100 ms of context and lookahead cover it.
    streamed, stats = stream(local_folder, audio, context_ms=100.0, lookahead_ms=100.0)
    frames = len(streamed)
    assert frames == 4 * FPS
    reference = whole_utterance(local_folder, audio, frames)
    inner = slice(0, frames - 4)  # the last 130 ms have no real audio to their right in either computation
    np.testing.assert_allclose(streamed[inner], reference[inner], atol=1e-4, rtol=1e-4)
    # without lookahead, frames at each window's right edge see padding instead of the future
    edge, _ = stream(local_folder, audio, context_ms=100.0, lookahead_ms=0.0)
    assert np.abs(edge[inner] - reference[inner]).max() > 1e-2
    hops = stats.series("wav2vec2")
    assert len(hops) >= frames // 2 - 1  # one encoder call per 2-frame hop, never the whole history


def relative_error(streamed: np.ndarray, reference: np.ndarray, inner: slice) -> float:
    return float(np.linalg.norm(streamed[inner] - reference[inner]) / np.linalg.norm(reference[inner]))


def test_bounded_context_approximates_a_transformer_encoder_and_states_its_cost(transformer_folder, audio, record_property):
    reference = None
    errors, costs = {}, {}
    for context_ms, lookahead_ms in ((0.0, 40.0), (250.0, 40.0), (250.0, 1000.0), (1000.0, 0.0)):
        streamed, stats = stream(transformer_folder, audio, context_ms=context_ms, lookahead_ms=lookahead_ms)
        if reference is None:
            reference = whole_utterance(transformer_folder, audio, len(streamed))
        inner = slice(FPS // 2, len(streamed) - FPS // 2)  # away from the utterance's edges
        key = f"context{int(context_ms)}ms_lookahead{int(lookahead_ms)}ms"
        errors[key] = round(relative_error(streamed, reference, inner), 4)
        costs[key] = stats.series("wav2vec2").summary_ms()
        record_property(f"wav2vec2_tiny_2layer_{key}_relative_error", errors[key])
        record_property(f"wav2vec2_tiny_2layer_{key}_ms_per_hop", costs[key])
    print(f"\nWav2Vec2 streaming, tiny 2-layer random model: relative L2 error {errors}\ncost per hop (ms) {costs}")
    # Stated tolerance: 2 % relative L2 with 250 ms of context and 1 s of lookahead. The
    # attention sees its whole window, so both more past and more future bring it closer.
    assert errors["context250ms_lookahead1000ms"] < 0.02
    assert errors["context250ms_lookahead40ms"] < errors["context0ms_lookahead40ms"]
    assert errors["context250ms_lookahead1000ms"] < errors["context250ms_lookahead40ms"]
    # The defaults (1 s context, no lookahead) trade this error for latency; stated, bounded loosely.
    assert errors["context1000ms_lookahead0ms"] < 0.3


def test_resampling_is_by_absolute_time_for_any_chunking(local_folder, audio):
    a, _ = stream(local_folder, audio[: 2 * RATE], context_ms=100.0, lookahead_ms=100.0, block=160)
    b, _ = stream(local_folder, audio[: 2 * RATE], context_ms=100.0, lookahead_ms=100.0, block=1999)
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_streaming_matches_cpu(local_folder, audio):
    cpu, _ = stream(local_folder, audio[: 2 * RATE], 100.0, 100.0)
    cuda, _ = stream(local_folder, audio[: 2 * RATE], 100.0, 100.0, device="cuda")
    np.testing.assert_allclose(cuda, cpu, atol=1e-3)


def test_cuda_request_without_cuda_is_a_clear_error(local_folder):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(CheckpointError, match="CUDA is not available"):
        load_wav2vec2(local_folder, device="cuda")


def _one_line(error: Exception, *needles: str) -> None:
    message = str(error)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_bad_checkpoint_folders_give_one_line_errors(tmp_path, transformer_folder):
    cases = {}
    cases["missing"] = tmp_path / "nope"
    (tmp_path / "file.bin").write_bytes(b"x")
    cases["a file"] = tmp_path / "file.bin"
    (tmp_path / "empty").mkdir()
    cases["empty"] = tmp_path / "empty"
    corrupt_config = tmp_path / "corrupt_config"
    corrupt_config.mkdir()
    (corrupt_config / "config.json").write_bytes(b"\xff\xfe not json")
    cases["corrupt config"] = corrupt_config
    wrong = tmp_path / "wrong_arch"
    wrong.mkdir()
    (wrong / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    cases["wrong architecture"] = wrong
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for item in transformer_folder.iterdir():
        data = item.read_bytes()
        (truncated / item.name).write_bytes(data[: len(data) // 3] if item.suffix == ".safetensors" else data)
    cases["truncated weights"] = truncated
    for name, folder in cases.items():
        with pytest.raises(CheckpointError) as caught:
            load_wav2vec2(folder)
        _one_line(caught.value, folder.name)
    with pytest.raises(CheckpointError, match="'bert' model, expected wav2vec2"):
        load_wav2vec2(wrong)


def test_bad_torchaudio_folders_give_one_line_errors(tmp_path):
    folder, _ = tiny_checkpoints.torchaudio_wav2vec2(tmp_path / "ta")
    spec = json.loads((folder / TORCHAUDIO_CONFIG).read_text())
    # weights of another shape
    spec_wide = dict(spec, params=dict(spec["params"], encoder_ff_interm_features=48))
    (folder / TORCHAUDIO_CONFIG).write_text(json.dumps(spec_wide))
    with pytest.raises(CheckpointError) as caught:
        load_wav2vec2(folder)
    _one_line(caught.value, "cannot load", folder.name)
    # unknown parameter, wrong format tag, missing weights
    (folder / TORCHAUDIO_CONFIG).write_text(json.dumps(dict(spec, params=dict(spec["params"], colour="blue"))))
    with pytest.raises(CheckpointError, match="bad params"):
        load_wav2vec2(folder)
    (folder / TORCHAUDIO_CONFIG).write_text(json.dumps(dict(spec, format="something.else")))
    with pytest.raises(CheckpointError, match="torchaudio.wav2vec2"):
        load_wav2vec2(folder)
    (folder / TORCHAUDIO_CONFIG).write_text(json.dumps(spec))
    (folder / TORCHAUDIO_WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match="model.pt"):
        load_wav2vec2(folder)


def test_session_config_turns_checkpoint_errors_into_dyad_errors(tmp_path):
    config = SessionConfig(speech=SpeechFeaturesConfig(wav2vec2=str(tmp_path / "absent")))
    with pytest.raises(DyadError, match="Wav2Vec2 folder not found"):
        SpeechFeatures(config, SessionStats(), threaded_asr=False)

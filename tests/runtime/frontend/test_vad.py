"""Silero VAD through ONNX Runtime, both people batched, on espeak-ng speech."""

from __future__ import annotations

import numpy as np
import pytest

from dyad.runtime.errors import DyadError
from dyad.runtime.frontend.vad import WINDOW, DyadVad, VadConfig
from speech_fixtures import espeak_available, synthesize

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

SR = 16000
SPEECH_AT = 8000  # the utterance starts here, after half a second of silence


@pytest.fixture(scope="module")
def vad() -> DyadVad:
    return DyadVad()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    clip = synthesize("Good morning! How was your trip to the mountains last week?", "en-us+m3", SR)
    return clip * (0.1 / np.sqrt(np.mean(clip**2)))


def _two_channels(channel0: np.ndarray, channel1: np.ndarray) -> np.ndarray:
    return np.stack([channel0, channel1], axis=1).astype(np.float32)


def _speech_track(speech: np.ndarray, total: int) -> np.ndarray:
    track = np.zeros(total, np.float32)
    track[SPEECH_AT : SPEECH_AT + speech.shape[0]] = speech
    return track


def _windows_inside(starts: np.ndarray, begin: int, end: int) -> np.ndarray:
    return (starts >= begin) & (starts + WINDOW <= end)


def _voiced_windows(track: np.ndarray, count: int) -> np.ndarray:
    """Windows where the voice is above -35 dBFS: pauses between words are not speech."""
    rms = np.sqrt(np.mean(track[: count * WINDOW].reshape(count, WINDOW) ** 2, axis=1))
    return rms > 10 ** (-35 / 20)


def test_speech_high_silence_and_noise_low(vad, speech):
    total = speech.shape[0] + 2 * SPEECH_AT
    noise = np.random.default_rng(0).standard_normal(total).astype(np.float32) * 0.003  # -50 dBFS
    vad.reset()
    track = _speech_track(speech, total)
    result = vad.push(_two_channels(track, noise))
    assert len(result) == total // WINDOW
    np.testing.assert_array_equal(result.starts, np.arange(len(result)) * WINDOW)
    in_speech = _voiced_windows(track, len(result))
    leading_silence = _windows_inside(result.starts, 0, SPEECH_AT)
    speech_probs, noise_probs = result.probs[:, 0], result.probs[:, 1]
    print(f"\nspeech windows mean p={speech_probs[in_speech].mean():.2f}, "
          f"silence max p={speech_probs[leading_silence].max():.3f}, noise max p={noise_probs.max():.3f}")
    assert in_speech.sum() > 40
    assert speech_probs[in_speech].mean() > 0.85
    assert np.mean(speech_probs[in_speech] > 0.5) > 0.85
    assert speech_probs[leading_silence].max() < 0.1
    assert noise_probs.max() < 0.2


def test_people_are_independent_in_the_batch(vad, speech):
    total = speech.shape[0] + 2 * SPEECH_AT
    track = _speech_track(speech, total)
    vad.reset()
    with_silence = vad.push(_two_channels(track, np.zeros(total)))
    vad.reset()
    swapped = vad.push(_two_channels(np.zeros(total), track))
    vad.reset()
    other = synthesize("The weather stayed clear and we walked every day.", "en-gb+f4", SR)
    both = vad.push(_two_channels(track, np.resize(other * 0.5, total)))
    # A person's probability depends on that person's audio only.
    np.testing.assert_allclose(with_silence.probs[:, 0], swapped.probs[:, 1], atol=1e-5)
    np.testing.assert_allclose(with_silence.probs[:, 0], both.probs[:, 0], atol=1e-5)
    assert with_silence.probs[:, 1].max() < 0.1
    assert both.probs[:, 1].max() > 0.9


def test_chunk_size_does_not_change_output(vad, speech):
    audio = _two_channels(speech, speech[::-1].copy())
    vad.reset()
    whole = vad.push(audio)
    vad.reset(start_sample=0)
    rng = np.random.default_rng(5)
    starts, probs, pos = [], [], 0
    while pos < audio.shape[0]:
        size = int(rng.integers(0, 1300))
        part = vad.push(audio[pos : pos + size])
        starts.append(part.starts)
        probs.append(part.probs)
        pos += size
    assert vad.pending == audio.shape[0] % WINDOW
    np.testing.assert_array_equal(np.concatenate(starts), whole.starts)
    np.testing.assert_array_equal(np.concatenate(probs), whole.probs)


def test_reset_sets_clock_origin_and_clears_state(vad, speech):
    audio = _two_channels(speech, speech)
    vad.reset()
    first = vad.push(audio)
    vad.reset(start_sample=48_000)
    again = vad.push(audio)
    np.testing.assert_array_equal(again.starts, first.starts + 48_000)
    np.testing.assert_array_equal(again.probs, first.probs)


def test_missing_model_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "silero_vad.onnx"
    with pytest.raises(DyadError, match="nowhere"):
        DyadVad(VadConfig(model_path=str(path)))


def test_corrupt_model_names_the_path(tmp_path):
    path = tmp_path / "broken_vad.onnx"
    path.write_bytes(b"this is not an onnx model" * 40)
    with pytest.raises(DyadError, match="broken_vad.onnx") as info:
        DyadVad(VadConfig(model_path=str(path)))
    assert "\n" not in str(info.value)


def test_bad_input_shape_is_reported(vad):
    with pytest.raises(DyadError, match=r"\[n, 2\]"):
        vad.push(np.zeros(512, np.float32))

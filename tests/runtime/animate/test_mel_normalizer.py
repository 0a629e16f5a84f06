"""Per-person running log-mel normalisation onto the training speech statistics."""

from __future__ import annotations

import numpy as np
import pytest

from dyad.runtime.frames import AnimationWindow, PersonFeatures
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState
from dyad.runtime.animate.mel_normalizer import REFERENCE_FILE, MelReference, RunningMelNormalizer, load_reference, reference_from_features

M = 8


def stream(frames: int, seed: int, offset: float, spread: float):
    """A louder, wider voice than the reference: speech frames around offset, every 4th frame silent."""
    rng = np.random.default_rng(seed)
    mel = offset + spread * rng.standard_normal((frames, M))
    vad = np.ones(frames)
    vad[::4] = 0.0
    mel[::4] = -23.0  # silence
    return mel.astype(np.float32), vad.astype(np.float32)


def windows(mel, vad, hop=2, context=8):
    for start in range(0, len(mel) - hop + 1, hop):
        first = max(0, start - context)
        f = PersonFeatures(mel[first : start + hop], np.where(vad[first : start + hop] > 0, -20.0, -100.0).astype(np.float32), vad[first : start + hop])
        yield AnimationWindow(first, start - first, hop, 0, 30, (f, f), ((), ()), ControlState())


def test_a_louder_voice_is_mapped_onto_the_reference_and_silence_stays_below():
    ref = MelReference(np.full(M, -6.0), np.full(M, 2.0), 1000)
    mel, vad = stream(30 * 40, 0, offset=4.0, spread=4.0)  # 10 units (natural log) louder, twice as wide
    norm = RunningMelNormalizer(ref, fps=30, time_constant_s=4.0)
    mapped = [norm(w)[0].mel[-2:] for w in windows(mel, vad)]
    tail = np.concatenate(mapped[-150:])  # the last 10 s
    speech = np.concatenate([vad[-300:]]) > 0
    assert abs(tail[speech].mean() - ref.mean[0]) < 0.5
    assert abs(tail[speech].std() - ref.std[0]) < 0.5
    assert tail[~speech].mean() < tail[speech].mean() - 5 * ref.std[0]  # a quiet frame stays quiet
    assert norm.speech_frames[0] == int((vad > 0).sum())  # each frame counted once, though windows overlap


def test_same_input_same_output_and_reference_round_trip(tmp_path):
    mel, vad = stream(300, 1, offset=-2.0, spread=3.0)
    ref = reference_from_features(mel, vad, np.where(vad > 0, -20.0, -100.0))
    (tmp_path / REFERENCE_FILE).write_text(ref.to_json("test"))
    loaded = load_reference(tmp_path)
    assert np.allclose(loaded.mean, ref.mean) and loaded.frames == ref.frames
    runs = [[RunningMelNormalizer(loaded, 30)(w)[1].mel for w in windows(mel, vad)] for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_bad_reference_is_one_clear_error(tmp_path):
    (tmp_path / REFERENCE_FILE).write_text('{"mean": [0, 1], "std": [1, -1], "frames": 3}')
    with pytest.raises(DyadError, match="std > 0"):
        load_reference(tmp_path)
    (tmp_path / REFERENCE_FILE).write_text("not json")
    with pytest.raises(DyadError, match="not a mel reference"):
        load_reference(tmp_path)
    assert load_reference(tmp_path / "none") is None
    with pytest.raises(DyadError, match="at least 100 speech frames"):
        reference_from_features(np.zeros((10, M)), np.ones(10), np.zeros(10))

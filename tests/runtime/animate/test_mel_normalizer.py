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


def test_live_windows_and_a_training_stream_are_mapped_identically():
    """Training maps a whole sequence with `map_stream`, the session maps overlapping windows with
    lookahead: every frame must get the same value either way (causal, per frame)."""
    ref = MelReference(np.full(M, -6.0), np.full(M, 2.0), 1000)
    mel, vad = stream(400, 2, offset=1.0, spread=3.0)
    rms = np.where(vad > 0, -20.0, -100.0).astype(np.float32)
    whole = RunningMelNormalizer(ref, 30).map_stream(mel, vad, rms)
    live, hop, context, lookahead = RunningMelNormalizer(ref, 30), 2, 8, 3
    seen = {}
    for start in range(0, len(mel) - hop - lookahead + 1, hop):
        first = max(0, start - context)
        stop = start + hop + lookahead
        f = PersonFeatures(mel[first:stop], rms[first:stop], vad[first:stop])
        window = AnimationWindow(first, start - first, hop, lookahead, 30, (f, f), ((), ()), ControlState())
        out = live(window)[0].mel
        for k in range(len(out)):
            seen.setdefault(first + k, []).append(out[k])
    for frame, values in seen.items():
        assert all(np.array_equal(v, whole[frame]) for v in values), frame  # context, new and lookahead alike


def test_training_sequences_are_normalised_by_the_run_time_code():
    from dyad.models.train import Sequence
    from dyad.runtime.offline.train_data import normalize_sequences, sequences_reference

    mel0, vad0 = stream(1500, 3, offset=2.0, spread=3.0)
    mel1, vad1 = stream(1500, 4, offset=-9.0, spread=1.0)  # a quiet, narrow partner
    rms = np.stack([np.where(v > 0, -20.0, -100.0) for v in (vad0, vad1)]).astype(np.float32)
    empty = np.zeros((2, 1500, 0), np.float32)
    seq = Sequence("s", np.stack([mel0, mel1]), None, None, np.zeros((2, 1500), np.int64), np.zeros((2, 1500, 4), np.float32), empty, empty,
                   None, np.ones(61, bool), None, np.array([0, 1]), np.zeros(1500, bool), vad=np.stack([vad0, vad1]), rms_db=rms)  # fmt: skip
    ref = sequences_reference([seq])
    [out] = normalize_sequences([seq], ref, 30)
    for p, (mel, vad) in enumerate(((mel0, vad0), (mel1, vad1))):
        assert np.array_equal(out.mel[p], RunningMelNormalizer(ref, 30).map_stream(mel, vad, rms[p], person=p))
    tail = [out.mel[p, -300:][v[-300:] > 0].mean() for p, v in enumerate((vad0, vad1))]
    assert abs(tail[0] - tail[1]) < 1.0  # 11 units apart raw, the two voices meet after 50 s

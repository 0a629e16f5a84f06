"""Voice augmentation of a corpus: deterministic by seed, timing kept sample for sample, everything else copied."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from dyad.runtime.offline.augmentation import VoiceAugment, apply, augment_corpus
from dyad.runtime.errors import DyadError

RATE = 16000


def corpus(folder):
    """A minimal corpus folder: two actor WAVs (clicks on a tone) and a motion file to be copied."""
    (folder / "wav").mkdir(parents=True)
    (folder / "bvhs").mkdir()
    (folder / "bvhs" / "a.bvh").write_text("HIERARCHY\n")
    t = np.arange(2 * RATE) / RATE
    for k, name in enumerate(("20250101_001_001.wav", "20250101_002_001.wav")):
        x = 0.1 * np.sin(2 * np.pi * (200 + 50 * k) * t) * (t % 0.5 < 0.2)
        sf.write(folder / "wav" / name, x, RATE, subtype="PCM_16")
    (folder / "features").mkdir()  # a stale cache must not be copied
    return folder


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path):
    data = corpus(tmp_path / "data")
    augment_corpus(data, tmp_path / "a", seed=3)
    augment_corpus(data, tmp_path / "b", seed=3)
    augment_corpus(data, tmp_path / "c", seed=4)
    for name in ("20250101_001_001.wav", "20250101_002_001.wav"):
        assert (tmp_path / "a" / "wav" / name).read_bytes() == (tmp_path / "b" / "wav" / name).read_bytes()
        assert (tmp_path / "a" / "wav" / name).read_bytes() != (tmp_path / "c" / "wav" / name).read_bytes()
        assert sf.info(tmp_path / "a" / "wav" / name).frames == sf.info(data / "wav" / name).frames
    assert (tmp_path / "a" / "bvhs" / "a.bvh").read_text() == "HIERARCHY\n"
    assert not (tmp_path / "a" / "features").exists()
    chains = json.loads((tmp_path / "a" / "augmentation.json").read_text())
    assert chains["seed"] == 3 and len(chains["files"]) == 2
    gains = [f["gain_db"] for f in chains["files"]]  # one take: both mics set up alike
    assert abs(gains[0] - gains[1]) <= 4.0 and all(-20.0 <= g <= 8.0 for g in gains)


def test_timing_is_kept_and_the_gain_is_the_drawn_one():
    rng = np.random.default_rng(0)
    x = np.zeros(RATE)
    x[4000:6000] = 0.2 * rng.standard_normal(2000)  # a burst: where it starts is the timing
    aug = VoiceAugment(gain_db=-12.0, tilt_db_per_octave=3.0, band_hz=3400.0, wet_db=-15.0, rt60_s=0.3, snr_db=40.0)
    y = apply(x, RATE, aug, np.random.default_rng(1))
    assert len(y) == len(x)
    lags = np.arange(-200, 201)
    xc = [np.dot(x[1000:15000], np.roll(y, -lag)[1000:15000]) for lag in lags]
    assert abs(lags[int(np.argmax(np.abs(xc)))]) <= 2  # no delay: phoneme timing still holds
    level = lambda s: 10 * np.log10(np.mean(s[4000:6000] ** 2))  # noqa: E731
    assert level(y) - level(x) == pytest.approx(-12.0, abs=4.0)  # tilt and band limit move it a little
    spectrum = np.abs(np.fft.rfft(y[4000:6000]))
    assert spectrum[np.fft.rfftfreq(2000, 1 / RATE) > 4500].mean() < 0.05 * spectrum.mean()  # 3.4 kHz band limit


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(DyadError, match="has no wav/ folder"):
        augment_corpus(tmp_path, tmp_path / "out", 0)
    data = corpus(tmp_path / "data")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(DyadError, match="exists and is not empty"):
        augment_corpus(data, tmp_path / "full", 0)


def test_pitch_shift_moves_the_pitch_and_keeps_length_and_timing():
    from dyad.runtime.offline.augmentation import pitch_shift

    t = np.arange(RATE) / RATE
    x = 0.3 * np.sin(2 * np.pi * 200.0 * t) * ((t > 0.4) & (t < 0.7))  # a 200 Hz burst from 0.4 s to 0.7 s
    y = pitch_shift(x, RATE, 700.0)  # seven semitones up: 200 Hz * 2**(7/12) = 299.7 Hz
    assert len(y) == len(x)
    seg = y[int(0.45 * RATE) : int(0.65 * RATE)]
    freqs = np.fft.rfftfreq(len(seg), 1 / RATE)
    assert freqs[np.argmax(np.abs(np.fft.rfft(seg * np.hanning(len(seg)))))] == pytest.approx(299.7, abs=8.0)
    envelope = np.convolve(np.abs(y), np.ones(160) / 160, mode="same")
    on = np.flatnonzero(envelope > 0.5 * envelope.max())
    assert abs(on[0] / RATE - 0.4) < 0.03 and abs(on[-1] / RATE - 0.7) < 0.03  # the burst stays where it was
    assert np.array_equal(pitch_shift(x, RATE, 0.0), x)


def test_both_mics_of_a_take_share_one_pitch_shift(tmp_path):
    data = corpus(tmp_path / "data")
    chains = augment_corpus(data, tmp_path / "a", seed=5)
    assert chains[0]["pitch_cents"] == chains[1]["pitch_cents"]  # each mic carries the partner's bleed too
    assert all(-500.0 <= c["pitch_cents"] <= 500.0 for c in chains)

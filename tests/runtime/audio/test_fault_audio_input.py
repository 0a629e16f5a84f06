"""Bad audio never breaks a session: NaN/inf, clipping, DC offset, minutes of silence, odd rates and channel counts.

Each case runs a real offline session on a WAV file written in the test and checks
that every frame is there, every value is finite, and the defect is counted where
it can be (NaN/inf replaced, values clipped), and that non-speech (silence, DC) is
not animated as speech.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from session_fixtures import dialogue

RATE = 16000


def run_offline(path, seconds: float):
    wav = open_wav_inputs([path])
    config = SessionConfig(offline=True, seconds=seconds, status_interval_s=0.0)
    result = Session(config, WavReplaySource(wav, seconds=seconds, realtime=False), keep_frames=True).run()
    frames = int(round(seconds * 30))
    assert [b.index for b in result.bundles] == list(range(frames))
    for bundle in result.bundles:
        for pose in bundle.people:
            assert np.isfinite(pose.face).all() and np.isfinite(pose.joint_rotations).all() and np.isfinite(pose.root_position).all()
    return result, wav


def speaking(result) -> np.ndarray:
    return np.array([[pose.speaking for pose in b.people] for b in result.bundles])


def test_nan_inf_and_clipping_are_replaced_clipped_and_counted(tmp_path):
    audio = dialogue(2.0) * 4.0  # far over full scale
    audio[100:200, 0] = np.nan
    audio[300:310, 1] = np.inf
    audio[400:405, 1] = -np.inf
    sf.write(tmp_path / "bad.wav", audio, RATE, subtype="FLOAT")
    result, wav = run_offline(tmp_path / "bad.wav", 2.0)
    source = result.summary["source"]
    assert source["sanitised_samples"] == 115
    assert source["clipped_samples"] > 1000
    assert speaking(result).max() > 0.5  # the (clipped) speech still animates


@pytest.mark.slow
def test_dc_offset_and_minutes_of_silence_are_not_speech(tmp_path):
    seconds = 65.0  # over a minute: long enough for any adaptive state (VAD, separation) to settle on nothing
    silence = np.zeros((int(seconds * RATE), 2), np.float32)
    silence[: 10 * RATE] += 0.4  # ten seconds of a large DC offset first
    sf.write(tmp_path / "quiet.wav", silence, RATE, subtype="FLOAT")
    result, _ = run_offline(tmp_path / "quiet.wav", seconds)
    assert speaking(result).max() < 0.5
    assert result.summary["deadline_misses"] == 0


def test_dc_offset_on_speech_still_animates_speech(tmp_path):
    sf.write(tmp_path / "dc.wav", np.clip(dialogue(2.0) * 0.5 + 0.3, -1, 1), RATE, subtype="FLOAT")
    result, _ = run_offline(tmp_path / "dc.wav", 2.0)
    assert speaking(result)[:, 0].max() > 0.5


@pytest.mark.parametrize(("rate", "channels"), [(8000, 2), (44100, 6), (96000, 3)])
def test_other_rates_and_channel_counts(tmp_path, rate, channels):
    import soxr

    audio = soxr.resample(dialogue(2.0), RATE, rate)
    extra = np.random.default_rng(0).uniform(-0.1, 0.1, (audio.shape[0], channels - 2)).astype(np.float32)
    sf.write(tmp_path / "odd.wav", np.concatenate([audio, extra], axis=1), rate, subtype="PCM_16")
    result, wav = run_offline(tmp_path / "odd.wav", 2.0)
    assert wav.source_rates == (rate,) and result.summary["source"]["resampled_from"] == (rate,)
    assert any(f"{channels} channels" in note for note in wav.notes) if channels > 2 else True
    assert speaking(result)[:, 0].max() > 0.5


def test_a_mono_file_for_two_people_is_one_clear_error(tmp_path):
    sf.write(tmp_path / "mono.wav", dialogue(1.0)[:, 0], RATE)
    with pytest.raises(DyadError, match="mono"):
        open_wav_inputs([tmp_path / "mono.wav"])

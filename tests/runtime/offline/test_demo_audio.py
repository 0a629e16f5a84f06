"""The bundled demo dialogue: the shipped asset, and the script that regenerates it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from dyad.runtime.offline.demo_audio import SCRIPT, default_demo_path, read_transcript, transcript_path


@pytest.fixture(scope="module")
def asset():
    path = default_demo_path()
    assert path.exists(), f"missing bundled demo {path}"
    return path


def test_asset_is_16k_stereo_pcm_of_half_a_minute_or_more(asset):
    info = soundfile.info(asset)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 2, "PCM_16", "WAV")
    assert 30.0 <= info.duration <= 60.0
    assert asset.stat().st_size < 2_500_000


def test_transcript_parses_and_both_people_talk_with_overlap(asset):
    utterances = read_transcript(transcript_path(asset))
    duration = soundfile.info(asset).duration
    assert [(u.person, u.text) for u in utterances] == [(line.person, line.text) for line in SCRIPT]
    assert {u.person for u in utterances} == {0, 1}
    assert all(0.0 <= u.start_s < u.end_s <= duration for u in utterances)
    zero, one = [u for u in utterances if u.person == 0], [u for u in utterances if u.person == 1]
    overlaps = [(a, b) for a in zero for b in one if a.start_s < b.end_s and b.start_s < a.end_s]
    assert len(overlaps) >= 3  # backchannels and one interruption
    for u in utterances:
        assert u.text.strip() and "\t" not in u.text


def test_each_mic_hears_its_own_person_louder(asset):
    audio, rate = soundfile.read(asset, dtype="float64")
    utterances = read_transcript(transcript_path(asset))
    spans = {p: [(u.start_s, u.end_s) for u in utterances if u.person == p] for p in (0, 1)}
    for u in utterances:
        partner_busy = any(a < u.end_s and u.start_s < b for a, b in spans[1 - u.person])
        if partner_busy or u.end_s - u.start_s < 1.0:
            continue  # only clean single-talker stretches
        segment = audio[int(u.start_s * rate) : int(u.end_s * rate)]
        level = 10.0 * np.log10(np.mean(segment**2, axis=0))
        assert 5.0 < level[u.person] - level[1 - u.person] < 12.0  # partner bleed at about -9 dB
    silence = audio[: int(0.3 * rate)]
    assert 10.0 * np.log10(np.mean(silence**2)) < -50.0  # a little noise, not none
    assert np.mean(silence**2) > 0.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_regenerating_is_deterministic_and_matches_the_asset(tmp_path, asset):
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run / "demo.wav"
        cmd = [sys.executable, "-m", "dyad.runtime.offline.demo_audio", "--out", str(out), "--lines", "4"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        outputs.append((out.read_bytes(), transcript_path(out).read_text(encoding="utf-8")))
    assert outputs[0] == outputs[1]
    # The asset was made from this script (times depend on the espeak-ng version, the words do not).
    regenerated = [row.split("\t")[::3] for row in outputs[0][1].splitlines()]
    shipped = [[str(u.person), u.text] for u in read_transcript(transcript_path(asset))]
    assert regenerated == shipped[:4]
    info = soundfile.info(tmp_path / "a" / "demo.wav")
    assert (info.samplerate, info.channels) == (16000, 2)

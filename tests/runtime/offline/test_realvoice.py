"""Real-voice evaluation: dev dialogues from real recordings, forced-alignment lip targets, scoring end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from realvoice_fixtures import REALVOICE, needs_realvoice
from session_fixtures import run_dyad

from dyad.runtime.errors import DyadError

RATE = 16000


@needs_realvoice
def test_forced_alignment_of_a_real_recording_follows_the_words_and_the_voice():
    """PocketSphinx's packaged English model aligns the JFK line; its phones must sit on the voice's energy."""
    from dyad.runtime.offline.forced_align import ARPABET_TO_ESPEAK, align
    from dyad.runtime.offline.realvoice_dialogues import load_clips
    from dyad.runtime.offline.realvoice_eval import frame_levels

    clip = load_clips(REALVOICE)["jfk_44k1_mono.wav"]
    phones = align(clip.audio, clip.text)
    speech = [p for p in phones if p.phone in ARPABET_TO_ESPEAK]
    assert len(speech) >= 60  # 22 words
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(phones, phones[1:]))  # in order, no overlap
    assert phones[-1].end_s <= len(clip.audio) / RATE + 0.02
    assert [p.phone for p in speech[:5]] == ["AE", "N", "D", "S", "OW"]  # "and so"
    # independent check: aligned speech phones are loud, aligned silences quiet (100 frames per second)
    level = 20 * np.log10(frame_levels(clip.audio, len(clip.audio) * 100 // RATE, 100) + 1e-9)
    in_speech = np.zeros(len(level), bool)
    for p in speech:
        in_speech[int(p.start_s * 100) : int(p.end_s * 100)] = True
    assert np.median(level[in_speech]) - np.median(level[~in_speech]) > 15.0


def test_forced_alignment_refuses_unknown_words_and_empty_text():
    from dyad.runtime.offline.forced_align import align

    with pytest.raises(DyadError, match="lacks zzxqv"):
        align(np.zeros(RATE, np.float32), "hello zzxqv")
    with pytest.raises(DyadError, match="at least one word"):
        align(np.zeros(RATE, np.float32), " ,. ")


@needs_realvoice
def test_dev_dialogues_are_deterministic_and_keep_the_truth():
    from dyad.runtime.offline.realvoice_dialogues import build_dialogues, load_clips

    a, b = build_dialogues(REALVOICE, seed=0, only=2), build_dialogues(REALVOICE, seed=0, only=2)
    other = build_dialogues(REALVOICE, seed=1, only=1)
    assert [d.name for d in a] == [d.name for d in b]
    assert all(np.array_equal(x.mics, y.mics) and np.array_equal(x.clean, y.clean) for x, y in zip(a, b))
    assert not np.array_equal(a[0].mics, other[0].mics)
    d = a[0]
    # each mic = own clean voice + the partner's voice at the stated bleed, + a noise floor
    bleed = d.mics - d.clean
    for own in (0, 1):
        ratio = 10 * np.log10(np.sum(bleed[:, own].astype(np.float64) ** 2) / np.sum(d.clean[:, 1 - own].astype(np.float64) ** 2))
        assert abs(ratio - d.bleed_db) < 1.5  # the room filter has unit energy; speech is not white, so within ~1 dB
    # placements hold the clips' own samples: the truth of who speaks when
    clips = load_clips(REALVOICE)
    p = d.placements[0]
    piece = clips[p.clip].audio[p.clip_start : p.clip_end] * 10 ** (d.gains_db[p.person] / 20)
    assert np.allclose(d.clean[p.at : p.at + len(piece), p.person], piece, atol=1e-6)
    assert {q.person for q in d.placements} == {0, 1}


def test_missing_or_empty_folder_is_one_clear_error(tmp_path):
    from dyad.runtime.offline.realvoice_dialogues import build_dialogues

    with pytest.raises(DyadError, match="does not exist"):
        build_dialogues(tmp_path / "nope")
    with pytest.raises(DyadError, match="at least two WAV files"):
        build_dialogues(tmp_path)


@needs_realvoice
def test_evaluation_end_to_end_on_one_dialogue():
    """The procedural animator through offline sessions: its mouth follows the own voice, and the scores say so."""
    from dyad.runtime.offline.realvoice_eval import PERSON_METRICS, evaluate_real

    result = evaluate_real(REALVOICE, "procedural", lambda session: None, only=1)
    assert result["dialogues"] == 1 and set(result["mean"]) == set(PERSON_METRICS)
    people = next(iter(result["per_dialogue"].values()))["people"]
    assert all(row["jaw_corr"] > 0.5 for row in people)
    assert all(row["attribution_ratio"] > 2.0 for row in people)
    assert all(0.0 < row["lip_max_sq"] < 0.2 for row in people)  # both clips have transcripts
    assert all(row["wrist_speed_p95"] > row["wrist_speed_mean"] > 0.0 for row in people)
    json.dumps(result)  # the bench writes it as JSON


def test_attribution_ratio_and_correlation_definitions():
    from dyad.runtime.offline.realvoice_eval import _corr, attribution

    jaw = np.array([0.05, 0.05, 0.4, 0.5, 0.1, 0.1])
    alone = np.array([0, 0, 1, 1, 0, 0], bool)
    partner = np.array([0, 0, 0, 0, 1, 1], bool)
    silent = np.array([1, 1, 0, 0, 0, 0], bool)
    out = attribution(jaw, alone, partner, silent)
    assert out["attribution_ratio"] == pytest.approx(0.45 / 0.1)
    assert out["attribution_ratio_above_rest"] == pytest.approx(0.40 / 0.05)
    assert _corr(np.arange(5.0), np.arange(5.0) * 2) == pytest.approx(1.0)
    assert _corr(np.ones(5), np.arange(5.0)) == 0.0


def test_cli_real_eval_bad_input_is_one_line(tmp_path):
    for args, message in ((("eval", "--real", str(tmp_path / "none")), "does not exist"),
                          (("eval",), "give exactly one of --data DIR"),
                          (("bench", "realvoice", "--real", str(tmp_path), "--model", "procedural-x"), "model folder not found")):  # fmt: skip
        ran = run_dyad(*args)
        assert ran.returncode == 2 and "Traceback" not in ran.stderr, ran.stderr
        errors = [line for line in ran.stderr.splitlines() if line.startswith("dyad: error:")]
        assert len(errors) == 1 and message in errors[0]

"""Talker attribution from both mics: a partner 2 dB (or 3, 10, 20 dB) quieter on my mic must not open my mouth.

Real voices from ../shared/realvoice are mixed into two mics (each hears the partner through a
room filter, delayed); the clean tracks say who speaks when. The listener's mouth is read from
an offline session's frames, as a receiver would see them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from realvoice_fixtures import REALVOICE, needs_realvoice

from dyad.runtime.frontend.attribution import AttributionConfig, TalkerAttribution
from dyad.runtime.errors import DyadError
from dyad.runtime.frontend.separation import StreamingSeparator

RATE = 16000


@pytest.fixture(scope="module")
def voices():
    from dyad.runtime.offline.realvoice_dialogues import load_clips

    clips = load_clips(REALVOICE)
    return clips["jfk_44k1_mono.wav"].audio[: 4 * RATE], clips["librispeech_2412-153948-0000.wav"].audio[: 4 * RATE]


def mixture(voices, bleed_db: float, delay_ms: float = 3.0, turns: int = 2, hot_db: float = 0.0):
    """Person 0 talks for 4 s, then person 1 for 4 s (and again, for `turns` turns); each mic hears the
    other person at bleed_db; mic 0 records everything hot_db louder (a gain mismatch)."""
    from dyad.runtime.offline.realvoice_dialogues import room_filter

    n = len(voices[0])
    clean = np.zeros((turns * n + RATE // 2, 2))
    for turn in range(turns):
        clean[turn * n : (turn + 1) * n, turn % 2] = voices[turn % 2]
    rng = np.random.default_rng(1)
    mics = clean.copy()
    for own, partner in ((0, 1), (1, 0)):
        mics[:, own] += 10 ** (bleed_db / 20) * np.convolve(clean[:, partner], room_filter(rng, 0.3, delay_ms))[: len(clean)]
    mics[:, 0] *= 10 ** (hot_db / 20)
    return mics.astype(np.float32), clean, n


def run_attribution(mics: np.ndarray, config: AttributionConfig | None = None) -> tuple[np.ndarray, np.ndarray, TalkerAttribution]:
    """(gated output, speaking probability per sample, the attribution) over the whole mixture, in 10 ms chunks."""
    separator, attribution = StreamingSeparator(), TalkerAttribution(config)
    out, probability = [], []
    for i in range(0, len(mics), 160):
        out.append(attribution.push(mics[i : i + 160], separator.push(mics[i : i + 160])))
        probability.append(attribution.probability_samples)
    return np.concatenate(out), np.concatenate(probability), attribution


def gated(mics: np.ndarray, config: AttributionConfig | None = None) -> np.ndarray:
    return run_attribution(mics, config)[0]


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


@needs_realvoice
@pytest.mark.parametrize("bleed_db", [-3.0, -10.0])
def test_partner_voice_is_suppressed_and_own_voice_passes(voices, bleed_db):
    mics, clean, n = mixture(voices, bleed_db)
    out = gated(mics)
    for own, mine, theirs in ((0, slice(0, n), slice(n, 2 * n)), (1, slice(n, 2 * n), slice(0, n))):
        reference = level_db(clean[mine, own])
        assert abs(level_db(out[mine, own]) - reference) < 2.0  # own speech passes
        # the partner's voice on my channel, relative to the partner's own level: it arrived at bleed_db
        assert level_db(out[theirs, own]) - level_db(clean[theirs, 1 - own]) < bleed_db - 15.0
    # the canceller alone (it adapts only while the partner is clearly louder at their own mic) leaves far more
    ungated = gated(mics, AttributionConfig(enabled=False))
    if bleed_db == -3.0:
        assert level_db(ungated[n : 2 * n, 0]) - level_db(out[n : 2 * n, 0]) > 8.0


def second_round(n: int) -> tuple[tuple[int, slice, slice], ...]:
    """(person, while alone, while only the partner talks) in turns 3 and 4, after a round to learn on."""
    return (0, slice(2 * n, 3 * n), slice(3 * n, 4 * n)), (1, slice(3 * n, 4 * n), slice(2 * n, 3 * n))


@needs_realvoice
@pytest.mark.parametrize("bleed_db, delay_ms", [(-2.0, 0.0), (-3.0, 0.0), (-3.0, 3.0), (-6.0, 5.0), (-10.0, 3.0), (-20.0, 8.0)])
def test_listener_is_gated_from_minus_2_to_minus_20_db(voices, bleed_db, delay_ms):
    """Two lavaliers 2 dB apart in one room (no delay) up to a headset 20 dB apart: while only the partner
    talks the listener's probability stays low and the partner's voice leaves that channel; own speech passes."""
    mics, clean, n = mixture(voices, bleed_db, delay_ms, turns=4)
    out, probability, _ = run_attribution(mics)
    for own, mine, theirs in second_round(n):
        assert probability[mine, own].mean() > 0.6
        assert probability[theirs, own].mean() < 0.15
        assert level_db(out[mine, own]) - level_db(clean[mine, own]) > -4.0
        assert level_db(out[theirs, own]) - level_db(clean[theirs, 1 - own]) < bleed_db - 15.0


@needs_realvoice
def test_adaptive_decision_learns_the_geometry_and_is_deterministic(voices):
    """The learned inter-mic difference: centred on 0 dB for mics of equal gain, on +6 dB when mic 0 is
    6 dB hotter; both people taught it; the same input gives bit-identical output."""
    mics, _, _ = mixture(voices, -10.0, 3.0, turns=4)
    first, p1, a1 = run_attribution(mics)
    second, p2, a2 = run_attribution(mics)
    assert np.array_equal(first, second) and np.array_equal(p1, p2) and a1.report() == a2.report()
    report = a1.report()
    assert min(report["learned_blocks"]) > 50
    assert abs(report["midpoint_db"]) < 1.5 and report["gap_db"] > 12.0
    hot = run_attribution(mixture(voices, -10.0, 3.0, turns=4, hot_db=6.0)[0])[2].report()
    assert 4.0 < hot["midpoint_db"] < 8.0 and abs(hot["gap_db"] - report["gap_db"]) < 3.0


@needs_realvoice
def test_mic_gain_mismatch_is_no_worse_than_the_fixed_decision(voices):
    """Mic 0 6 dB hotter, partner 10 dB down: the learned midpoint gates the partner at least as well as the
    fixed 0 dB one did, and own speech still passes."""
    mics, clean, n = mixture(voices, -10.0, 3.0, turns=4, hot_db=6.0)
    adaptive, fixed = gated(mics), gated(mics, AttributionConfig(adaptive=False))
    gain = np.array([10 ** (6.0 / 20), 1.0])
    for own, mine, theirs in second_round(n):
        assert level_db(adaptive[mine, own]) - level_db(gain[own] * clean[mine, own]) > -2.0
        partner = level_db(gain[own] * clean[theirs, 1 - own])
        assert level_db(adaptive[theirs, own]) - partner < min(level_db(fixed[theirs, own]) - partner + 1.0, -35.0)


@needs_realvoice
def test_double_talk_keeps_both_voices(voices):
    a, b = voices
    clean = np.stack([a, b], axis=1).astype(np.float64)
    mics = clean + 10 ** (-6 / 20) * clean[:, ::-1]
    out = gated(mics.astype(np.float32))
    for p in (0, 1):
        assert level_db(out[RATE:, p]) - level_db(clean[RATE:, p]) > -8.0


@needs_realvoice
@pytest.mark.parametrize("delay_ms", [3.0, 0.0])
def test_listener_mouth_stays_near_rest_in_a_session(voices, delay_ms):
    """The whole pipeline at -3 dB, with and without an inter-mic delay: the listener's JawOpen while only the
    partner speaks stays at the silent rest value, which is closed."""
    from dyad.runtime.offline.realvoice_eval import run_dialogue
    from dyad.runtime.offline.realvoice_dialogues import Dialogue

    mics, clean, n = mixture(voices, -3.0, delay_ms)
    dialogue = Dialogue("mix", mics, clean.astype(np.float32), (), -3.0, delay_ms, (0.0, 0.0))
    jaw = {}
    for enabled in (True, False):
        changes = {"attribution": AttributionConfig(enabled=enabled)}
        _, _, face = run_dialogue(dialogue, lambda session: None, config_changes=changes)
        jaw[enabled] = face[0, :, 17]  # JawOpen of person 0
    fps = 30
    own, partner, quiet = slice(fps // 2, 4 * fps), slice(4 * fps + fps // 2, 8 * fps), slice(8 * fps + 5, None)
    rest = float(np.median(jaw[True][quiet]))
    assert rest < 0.02  # the procedural face rests closed
    assert jaw[True][own].mean() - rest > 0.1  # speaking: the mouth moves
    assert jaw[True][partner].mean() - rest < 0.02  # listening: near rest
    assert jaw[False][partner].mean() - rest > 0.05  # and it is attribution that keeps it there


def test_bad_config_is_one_clear_error():
    with pytest.raises(DyadError, match="attribution.share_speaking"):
        AttributionConfig(share_silent=0.7, share_speaking=0.6).validate()
    with pytest.raises(DyadError, match="attribution.fft"):
        replace(AttributionConfig(), fft=500).validate()


@needs_realvoice
def test_bundled_learned_face_keeps_the_listener_near_rest_at_minus_3_db(voices):
    """The bundled learned face obeys the same attribution: at -3 dB bleed the listener's JawOpen stays near
    its silent rest while only the partner speaks, for both people (one listens first, the other second)."""
    from dyad.models.bundled import DEFAULT_MODEL_DIR
    from dyad.models.model_dir import load_model_dir
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.animate.learned_animator import LearnedAnimator
    from dyad.runtime.animate.learned_config import LearnedConfig
    from dyad.runtime.offline.realvoice_dialogues import Dialogue
    from dyad.runtime.offline.realvoice_eval import run_dialogue

    mics, clean, n = mixture(voices, -3.0)
    dialogue = Dialogue("mix", mics, clean.astype(np.float32), (), -3.0, 3.0, (0.0, 0.0))
    skeleton = load_default_skeleton()

    def learned(session):
        config = replace(LearnedConfig(DEFAULT_MODEL_DIR, adapt=False), steps=2)
        return LearnedAnimator(load_model_dir(DEFAULT_MODEL_DIR, None), skeleton, config, session.timing.fps, session.seed)

    _, _, face = run_dialogue(dialogue, learned)
    fps = 30
    turns = (slice(fps // 2, 4 * fps), slice(4 * fps + fps // 2, 8 * fps))  # person 0 talks, then person 1
    quiet = slice(8 * fps + 5, None)
    for p in (0, 1):
        jaw = face[p, :, 17]
        rest = float(np.median(jaw[quiet]))
        assert jaw[turns[p]].mean() - rest > 0.05  # speaking: the mouth moves
        assert jaw[turns[1 - p]].mean() - rest < 0.03  # listening to a partner only 3 dB quieter: near rest

"""Talker attribution from both mics: a partner 3 dB (or 10 dB) quieter on my mic must not open my mouth.

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


def mixture(voices, bleed_db: float, delay_ms: float = 3.0):
    """Person 0 talks for 4 s, then person 1 for 4 s; each mic hears the other person at bleed_db."""
    from dyad.runtime.offline.realvoice_dialogues import room_filter

    a, b = voices
    n = len(a)
    clean = np.zeros((2 * n + RATE // 2, 2))
    clean[:n, 0], clean[n : 2 * n, 1] = a, b
    rng = np.random.default_rng(1)
    mics = clean.copy()
    for own, partner in ((0, 1), (1, 0)):
        mics[:, own] += 10 ** (bleed_db / 20) * np.convolve(clean[:, partner], room_filter(rng, 0.3, delay_ms))[: len(clean)]
    return mics.astype(np.float32), clean, n


def gated(mics: np.ndarray, config: AttributionConfig | None = None) -> np.ndarray:
    separator, attribution = StreamingSeparator(), TalkerAttribution(config)
    out = [attribution.push(mics[i : i + 160], separator.push(mics[i : i + 160])) for i in range(0, len(mics), 160)]
    return np.concatenate(out)


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


@needs_realvoice
def test_double_talk_keeps_both_voices(voices):
    a, b = voices
    clean = np.stack([a, b], axis=1).astype(np.float64)
    mics = clean + 10 ** (-6 / 20) * clean[:, ::-1]
    out = gated(mics.astype(np.float32))
    for p in (0, 1):
        assert level_db(out[RATE:, p]) - level_db(clean[RATE:, p]) > -8.0


@needs_realvoice
def test_listener_mouth_stays_near_rest_in_a_session(voices):
    """The whole pipeline: the listener's JawOpen while only the partner speaks stays at the silent rest value."""
    from dyad.runtime.offline.realvoice_eval import run_dialogue
    from dyad.runtime.offline.realvoice_dialogues import Dialogue

    mics, clean, n = mixture(voices, -3.0)
    dialogue = Dialogue("mix", mics, clean.astype(np.float32), (), -3.0, 3.0, (0.0, 0.0))
    jaw = {}
    for enabled in (True, False):
        changes = {"attribution": AttributionConfig(enabled=enabled)}
        _, _, face = run_dialogue(dialogue, lambda session: None, config_changes=changes)
        jaw[enabled] = face[0, :, 17]  # JawOpen of person 0
    fps = 30
    own, partner, quiet = slice(fps // 2, 4 * fps), slice(4 * fps + fps // 2, 8 * fps), slice(8 * fps + 5, None)
    rest = float(np.median(jaw[True][quiet]))
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

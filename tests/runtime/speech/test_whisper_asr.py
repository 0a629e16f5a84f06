"""Local Whisper ASR with word timestamps, on a sliding window over VAD speech, through a tiny random checkpoint on disk.

The checkpoint (tests/tiny_checkpoints.py) has its own byte-level BPE tokenizer
written here, alignment heads for word timing, and may only emit a handful of
whole words, so its (meaningless) transcripts are readable words. It runs
through the real loading path and the transformers ASR pipeline.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from dyad.models.local_checkpoints import CheckpointError
from dyad.models.whisper_asr import WhisperWordRecognizer
from dyad.runtime.stats import SessionStats
from dyad.runtime.speech.whisper_words import VadSegmenter, WhisperASR
from session_fixtures import dialogue
import tiny_checkpoints

RATE = 16000
WINDOW = 512


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory):
    return tiny_checkpoints.whisper(tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def recognizer(whisper_folder) -> WhisperWordRecognizer:
    return WhisperWordRecognizer.load(whisper_folder)


def test_tiny_whisper_gives_timed_words_for_a_batch_of_segments(recognizer, record_property):
    audio = dialogue(3.0)
    segments = [audio[:, 0], audio[: 2 * RATE, 1]]
    start = time.perf_counter()
    results = recognizer.transcribe(segments)
    record_property("whisper_tiny_ms_per_batch_of_2", round((time.perf_counter() - start) * 1000, 1))
    assert len(results) == 2
    for words, segment in zip(results, segments):
        duration = len(segment) / RATE
        assert words, "the tiny model always says something"
        assert {w.text for w in words} <= set(tiny_checkpoints.WHISPER_WORDS)
        for word in words:
            assert 0.0 <= word.start_s <= word.end_s <= duration
        assert [w.start_s for w in words] == sorted(w.start_s for w in words)


def _vad_track(pattern: list[tuple[float, float]], seconds: float) -> np.ndarray:
    """Per-window probabilities for person 0: (from_s, prob) steps; person 1 silent."""
    windows = int(seconds * RATE) // WINDOW
    probs = np.zeros((windows, 2), np.float32)
    for from_s, prob in pattern:
        probs[int(from_s * RATE) // WINDOW :, 0] = prob
    return probs


def test_segmenter_opens_closes_with_hysteresis_cuts_long_speech_and_skips_blips():
    seg = VadSegmenter(2, WINDOW, min_silence=int(0.3 * RATE), max_segment=int(2.0 * RATE), min_speech=int(0.25 * RATE))
    # speech 0.5..1.5 s with a dip to 0.4 (above the 0.35 off threshold), a 0.1 s blip at 2.0 s, 5 s of speech from 3 s
    probs = _vad_track([(0.5, 0.9), (1.0, 0.4), (1.2, 0.9), (1.5, 0.1), (2.0, 0.9), (2.1, 0.1), (3.0, 0.9), (8.0, 0.0)], 9.0)
    starts = np.arange(len(probs)) * WINDOW
    spans = seg.push(starts, probs)
    seconds = [(p, round(a / RATE, 2), round(b / RATE, 2)) for p, a, b in spans]
    on_grid = lambda t: round((int(t * RATE) // WINDOW) * WINDOW / RATE, 2)  # noqa: E731 (VAD windows are 32 ms)
    assert seconds[0] == (0, on_grid(0.5), on_grid(1.5))  # one segment despite the dip; ends with the last voiced window
    assert [s[0] for s in seconds] == [0, 0, 0, 0]
    assert [round(b - a, 1) for _, a, b in seconds[1:3]] == [2.0, 2.0]  # long speech cut at 2 s
    assert seg.too_short == 1  # the blip


def test_whisper_asr_slides_a_window_over_open_speech_and_commits_by_agreement_inline_and_threaded(recognizer):
    audio = dialogue(4.0)
    probs = _vad_track([(0.5, 0.9), (2.6, 0.05)], 4.0)  # 2.1 s of speech: windows at ~1.5 s and ~2.5 s, the last at close
    for threaded in (False, True):
        stats = SessionStats()
        asr = WhisperASR(recognizer, stats, threaded=threaded, min_silence_s=0.3, max_segment_s=15.0, vad_window=WINDOW)
        lines = []
        for w in range(len(probs)):
            block = audio[w * WINDOW : (w + 1) * WINDOW]
            asr.advance(block, np.array([w * WINDOW]), probs[w : w + 1], audio_end_sample=(w + 1) * WINDOW)
            lines += asr.drain(limit=8)
        deadline = time.monotonic() + 30
        while threaded and time.monotonic() < deadline and stats.series("asr.whisper").summary_ms()["count"] < stats.counters["asr_windows"]:
            time.sleep(0.05)
        lines += asr.drain(limit=8)
        asr.close()
        assert stats.counters["asr_segments"] == 1  # one stretch of speech closed
        assert stats.counters["asr_windows"] == 3 == stats.series("asr.whisper").summary_ms()["count"]  # two open windows + the closing one
        assert lines and all(line.person == 0 for line in lines)
        words = [w for line in lines for w in line.words]
        # word times are absolute: inside the padded speech 0.4..2.9 s, in order, never overlapping
        assert 0.4 <= words[0].start_s and words[-1].end_s <= 2.9
        assert all(a.end_s <= b.start_s + 1e-9 for a, b in zip(words, words[1:]))
        assert stats.counters["transcript_lines_accepted"] == len(lines)


def test_bad_whisper_folders_give_one_line_errors(tmp_path):
    no_heads = tiny_checkpoints.whisper(tmp_path / "no_heads", alignment_heads=False)
    with pytest.raises(CheckpointError, match="alignment_heads"):
        WhisperWordRecognizer.load(no_heads)
    no_tokenizer = tiny_checkpoints.whisper(tmp_path / "no_tokenizer", processor=False)
    with pytest.raises(CheckpointError) as caught:
        WhisperWordRecognizer.load(no_tokenizer)
    assert "tokenizer or feature extractor missing" in str(caught.value) and "\n" not in str(caught.value)
    wrong = tiny_checkpoints.hf_wav2vec2(tmp_path / "wav2vec2", layers=0, pos_kernel=8)
    with pytest.raises(CheckpointError, match="'wav2vec2' model, expected whisper"):
        WhisperWordRecognizer.load(wrong)
    with pytest.raises(CheckpointError, match="not found"):
        WhisperWordRecognizer.load(tmp_path / "absent")

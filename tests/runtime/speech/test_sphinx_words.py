"""The live PocketSphinx recogniser: real decoder, real recordings, its worker process, drop rule and start errors."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from dyad.runtime.errors import DyadError
from dyad.runtime.frontend.vad import DyadVad
from dyad.runtime.offline.asr_eval import load_16k, recognise
from dyad.runtime.offline.word_error import word_errors
from dyad.runtime.speech.sphinx_stream import SphinxSettings, SphinxStream, model_files, word_text
from dyad.runtime.speech.sphinx_words import SphinxASR, to_int16
from dyad.runtime.stats import SessionStats
from realvoice_fixtures import REALVOICE, needs_realvoice
from session_fixtures import run_dyad

RATE = 16000
SPEAKER_A = "fasterwhisper_stereoL_spkA.wav"  # 5 s of read speech, its transcript in transcripts.json


def _reference(name: str) -> str:
    return json.loads((REALVOICE / "transcripts.json").read_text())[name]["text"]


@needs_realvoice
def test_recogniser_on_a_real_recording_gives_words_on_the_absolute_clock_and_a_bounded_wer():
    audio = load_16k(REALVOICE / SPEAKER_A)
    lead = np.zeros(3 * RATE, np.float32)  # three seconds of silence first: times must count them
    committed = recognise(np.concatenate([lead, audio]))
    words = [c.word for c in committed]
    assert len(words) >= 8
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and all(a.end_s <= b.start_s + 1e-9 for a, b in zip(words, words[1:]))
    assert 3.0 <= words[0].start_s and words[-1].end_s <= 3.0 + len(audio) / RATE + 0.05
    assert all(c.committed_s >= c.word.end_s for c in committed)  # a word is known only after it was said
    # measured 0.47 with the streaming commit (0.12 with one whole-utterance decode): a loose bound
    wer = word_errors(_reference(SPEAKER_A), " ".join(w.text for w in words)).wer
    assert wer < 0.7, (wer, [w.text for w in words])


def test_fillers_and_alternate_pronunciations_are_cleaned():
    assert [word_text(t) for t in ("<s>", "</s>", "<sil>", "[NOISE]", "+BREATH+", "excuse(2)", "don't")] == [
        None, None, None, None, None, "excuse", "don't",
    ]  # fmt: skip


@needs_realvoice
def test_a_gap_in_the_sample_clock_ends_the_utterance_and_no_word_spans_it():
    audio = load_16k(REALVOICE / SPEAKER_A)
    stream = SphinxStream(0, SphinxSettings())
    vad = DyadVad()
    words = []
    block, gap_at, gap = 256, 2 * RATE, RATE  # one second of audio never arrives (dropped upstream)
    for start in range(0, len(audio), block):
        chunk = audio[start : start + block]
        windows = vad.push(np.stack([chunk, chunk * 0], axis=1))
        if gap_at <= start < gap_at + gap:
            continue
        words += stream.feed(start, to_int16(chunk), windows.starts, windows.probs[:, 0])
    words += stream.finish()
    assert stream.gaps == 1 and stream.utterances >= 2
    assert not any(w.start_s < gap_at / RATE < w.end_s or gap_at / RATE < w.start_s < (gap_at + gap) / RATE - 0.05 for w in words)
    assert any(w.start_s >= (gap_at + gap) / RATE for w in words)  # it heard speech again after the gap


@needs_realvoice
def test_worker_process_that_falls_behind_drops_its_oldest_audio_and_never_blocks_the_caller():
    audio = load_16k(REALVOICE / "librispeech_2412-153948-0000.wav")  # 11.7 s, pushed at once: far faster than real time
    stats = SessionStats()
    asr = SphinxASR(SphinxSettings(max_backlog_s=1.0), stats, threaded=True)
    vad = DyadVad()
    calls, lines = [], []
    try:
        for start in range(0, len(audio), 256):
            chunk = np.stack([audio[start : start + 256]] * 2, axis=1)
            windows = vad.push(chunk)
            began = time.perf_counter()
            asr.advance(chunk, windows.starts, windows.probs, start + len(chunk))
            calls.append(time.perf_counter() - began)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stats.counters["asr_samples_decoded"] + stats.counters["asr_audio_dropped_samples"] < len(audio):
            time.sleep(0.05)
        lines += asr.drain(1000)
    finally:
        asr.close()
    dropped, decoded = stats.counters["asr_audio_dropped_samples"], stats.counters["asr_samples_decoded"]
    assert dropped > 0 and stats.counters["asr_audio_dropped_blocks"] > 0
    assert dropped + decoded == len(audio)  # every sample was either decoded or dropped and counted
    assert np.median(calls) < 0.005  # the caller only copies and queues
    assert stats.series("asr.sphinx_cpu_per_hop").summary_ms()["count"] > 0


def test_a_recogniser_that_cannot_start_is_one_error_line(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        model_files(tmp_path / "absent")
    half = tmp_path / "half"
    half.mkdir()
    (half / "words.dict").write_text("hello HH AH L OW\n")
    with pytest.raises(ValueError, match="lacks an acoustic model folder .*a .lm.bin"):
        model_files(half)
    for threaded in (False, True):
        with pytest.raises(DyadError, match="speech recogniser sphinx cannot start: model folder .* lacks") as caught:
            SphinxASR(SphinxSettings(model=str(half)), SessionStats(), threaded=threaded)
        assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_cli_bad_recogniser_model_is_one_error_line(tmp_path):
    from session_fixtures import write_dialogue

    wav = write_dialogue(tmp_path / "d.wav", 1.0)
    result = run_dyad("run", "--wav", str(wav), "--quiet", "--seconds", "1", "--asr", f"sphinx:{tmp_path / 'nothing'}")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dyad: error:")]
    assert "Traceback" not in result.stderr and len(lines) == 1
    assert "speech recogniser sphinx cannot start" in lines[0] and "not found" in lines[0]


@needs_realvoice
def test_live_session_with_sphinx_puts_recognised_words_on_frames(tmp_path):
    """A real-time session (wall clock, recogniser process) on two real voices: words reach frames, counted in session.json."""
    import soundfile as sf

    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
    from dyad.runtime.config import SessionConfig, SpeechFeaturesConfig
    from dyad.runtime.session import Session

    a, b = load_16k(REALVOICE / SPEAKER_A), load_16k(REALVOICE / "fasterwhisper_stereoR_spkB.wav")
    seconds = 7.0
    mics = np.zeros((int(seconds * RATE), 2), np.float32)
    mics[: len(a), 0] = a[: len(mics)]
    mics[int(3.5 * RATE) : int(3.5 * RATE) + len(b), 1] = b[: len(mics) - int(3.5 * RATE)]
    wav = tmp_path / "two.wav"
    sf.write(wav, mics, RATE, subtype="PCM_16")
    config = SessionConfig(seconds=seconds, out_dir=tmp_path / "out", speech=SpeechFeaturesConfig(bert="default", asr="sphinx"), status_interval_s=0)
    source = WavReplaySource(open_wav_inputs([wav]), block_ms=10, seconds=seconds, realtime=True)
    session = Session(config, source)
    assert session.speech.source.name == "sphinx" and session.speech.encoding is not None  # threaded: its own process
    session.run()
    report = json.loads((tmp_path / "out" / "session.json").read_text())
    words = report["speech_features"]["words"]
    counters = report["counters"]
    assert words["source"] == "sphinx" and words["placement"] == "arrival"
    assert words["words_received"] >= 5 and words["words_reached_frames"] >= 3
    assert words["words_reached_frames"] == counters["words_reached_frames"] <= words["words_received"]
    assert words["word_lateness_after_end_ms"]["count"] == words["words_received"]
    assert counters["asr_samples_decoded"] > 0 and report["stage_ms"]["asr.sphinx_cpu_per_hop"]["count"] > 0

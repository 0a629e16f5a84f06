"""Whole sessions with the learned speech features on: Wav2Vec2 (tiny, on disk), MiniLM word features, ASR sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.assets import demo_audio_path, demo_transcript_path
from dyad.runtime.config import SessionConfig
from dyad.runtime.frames import TranscriptLine
from dyad.runtime.animate.animator import Animator
from dyad.runtime.animate.procedural import ProceduralAnimator
from dyad.runtime.session import Session
from dyad.runtime.config import SpeechFeaturesConfig
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from session_fixtures import write_dialogue
import tiny_checkpoints

FPS = 30


class RecordingAnimator(Animator):
    """The procedural animator, keeping a copy of every window's features."""

    name = "recording"

    def __init__(self) -> None:
        self.inner = ProceduralAnimator(load_default_skeleton(), fps=FPS, seed=0)
        self.windows = []

    def animate(self, window):
        self.windows.append(window)
        return self.inner.animate(window)


@pytest.fixture(scope="module")
def wav2vec2_folder(tmp_path_factory) -> Path:
    return tiny_checkpoints.hf_wav2vec2(tmp_path_factory.mktemp("w2v"), layers=2)


def run(wav: Path, seconds: float, speech: SpeechFeaturesConfig, offline: bool = True, out: Path | None = None, feed=None, during=None):
    config = SessionConfig(offline=offline, seconds=seconds, out_dir=out, speech=speech, status_interval_s=0)
    source = WavReplaySource(open_wav_inputs([wav]), block_ms=10, seconds=seconds, realtime=not offline)
    animator = RecordingAnimator()
    session = Session(config, source, animator=animator, keep_frames=True)
    if feed is not None:
        session.speech.add_feed(lambda: feed(session))
    helper = threading.Thread(target=during, args=(session,)) if during else None
    if helper:
        helper.start()
    result = session.run()
    if helper:
        helper.join(10)
    return result, animator.windows


def per_frame(windows, name: str) -> dict[int, np.ndarray]:
    """Frame index -> [people, ...] values, checking every window that saw the frame saw the same values."""
    seen: dict[int, np.ndarray] = {}
    for window in windows:
        values = np.stack([getattr(p, name) for p in window.features], axis=1)
        for row, frame in enumerate(range(window.first_frame, window.first_frame + window.context_frames + window.new_frames)):
            if frame in seen:
                np.testing.assert_array_equal(seen[frame], values[row], err_msg=f"{name} of frame {frame} was rewritten")
            else:
                seen[frame] = values[row]
    return seen


@pytest.mark.slow
def test_offline_session_feeds_wav2vec2_and_words_to_the_animator_without_changing_its_output(wav2vec2_folder, tmp_path):
    host_line = TranscriptLine(1, "I am listening quietly", 1.0, 2.5)
    sent = []

    def host_feed(session):  # a host transcript that reaches the session when the audio is at 1.8 s
        if not sent and session.frontend.next_sample >= int(1.8 * 16000):
            sent.append(session.timeline.ready_until)
            return [host_line]
        return []

    speech = SpeechFeaturesConfig(wav2vec2=str(wav2vec2_folder), bert="default", asr=f"file:{demo_transcript_path()}")
    result, windows = run(demo_audio_path(), 4.0, speech, out=tmp_path / "on", feed=host_feed)
    summary = json.loads((tmp_path / "on" / "session.json").read_text())
    assert summary["frames"] == {"p0": 120, "p1": 120} and summary["deadline_misses"] == 0
    for stage in ("wav2vec2", "bert"):
        assert summary["stage_ms"][stage]["count"] > 0, stage
    assert summary["stage_ms"]["wav2vec2"]["count"] >= 55  # one encoder call per 2-frame hop
    features = summary["speech_features"]
    assert features["wav2vec2"]["dim"] == 32 and features["words"]["dim"] == 384 and features["words"]["source"] == "file"
    assert set(features["warmup_ms"]) == {"wav2vec2", "bert"}
    counters = summary["counters"]
    assert counters["transcript_lines_accepted"] == 3  # 2 demo lines start before 4 s, plus the host line
    assert counters["words_late_partly"] + counters["words_late_wholly"] >= 1  # the host line came late
    assert "words_late_dropped" not in counters  # arrival placement: late words are shifted, not lost

    wav2vec = per_frame(windows, "wav2vec")  # also checks no frame is ever rewritten
    words = per_frame(windows, "words")
    no_text = per_frame(windows, "no_text")
    assert len(wav2vec) == 120 and wav2vec[90].shape == (2, 32) and words[90].shape == (2, 384)
    assert not np.allclose(wav2vec[30][0], wav2vec[30][1])  # each person's own voice
    # "Hey! So how was the Lake District?" (person 0, 0.5..2.63 s): words on its frames, none before
    assert no_text[5][0] == 1.0 and not words[5][0].any()
    assert all(no_text[f][0] == 0.0 and words[f][0].any() for f in range(16, 78))
    # the host line for person 1 (1.0..2.5 s) is only on frames finished after it arrived
    arrival = sent[0]
    assert 40 <= arrival <= 54
    assert all(no_text[f][1] == 1.0 for f in range(30, arrival))
    assert all(no_text[f][1] == 0.0 for f in range(arrival, 74))

    # the procedural animator ignores the new streams: its output is bit-identical with them off
    off, _ = run(demo_audio_path(), 4.0, SpeechFeaturesConfig(), out=tmp_path / "off")
    for name in ("p0.bvh", "p1.bvh", "p0_face.csv", "p1_face.csv"):
        assert (tmp_path / "on" / name).read_bytes() == (tmp_path / "off" / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.realtime
def test_realtime_session_takes_host_transcripts_from_other_threads(tmp_path):
    """Lines submitted while the session runs, directly and through the control hub's queue; bad ones are counted."""

    def host(session):
        session.emitter.started.wait(10)
        now = session.frontend.next_sample / 16000
        assert session.submit_transcript(TranscriptLine(0, "so what did you think", now + 0.3, now + 1.2))
        assert not session.submit_transcript(TranscriptLine(5, "nobody", now, now + 1))
        assert not session.submit_transcript(TranscriptLine(0, b"\xff\xfe", now + 1.3, now + 1.5))
        session.control.transcripts.put(TranscriptLine(1, "honestly I loved it", now + 0.5, now + 1.5))

    wav = write_dialogue(tmp_path / "d.wav", 3.0)
    result, windows = run(wav, 3.0, SpeechFeaturesConfig(bert="default"), offline=False, out=tmp_path / "out", during=host)
    summary = result.summary
    assert summary["frames"] == {"p0": 90, "p1": 90}
    counters = summary["counters"]
    assert counters["transcript_lines_accepted"] == 2
    assert counters["transcript_rejected.unknown_person"] == 1 and counters["transcript_rejected.not_utf8"] == 1
    assert counters["words_received"] == 5 + 4 and counters.get("words_on_time", 0) >= 5
    no_text = per_frame(windows, "no_text")
    assert min(no_text[f][0] for f in no_text) == 0.0 and min(no_text[f][1] for f in no_text) == 0.0
    print(f"\nrealtime session with MiniLM word features: deadline misses {summary['deadline_misses']}, bert {summary['stage_ms']['bert']}")


@pytest.mark.slow
def test_whisper_words_arrive_from_a_sliding_window_and_are_measured(tmp_path):
    whisper = tiny_checkpoints.whisper(tmp_path / "whisper")
    speech = SpeechFeaturesConfig(bert="default", asr=f"whisper:{whisper}", asr_min_silence_ms=200.0)
    result, _ = run(demo_audio_path(), 4.0, speech)  # person 0 speaks 0.5..2.6 s: one segment closes at ~2.8 s
    summary = result.summary
    counters = summary["counters"]
    # windows are transcribed while the speech is still open, not only once it closes
    assert counters["asr_windows"] > counters["asr_segments"] >= 1
    assert summary["stage_ms"]["asr.whisper"]["count"] == counters["asr_windows"]
    assert counters["words_received"] >= 1 and counters["words_reached_frames"] >= 1
    words = summary["speech_features"]["words"]
    assert words["word_lateness_ms"]["count"] == words["word_lateness_after_end_ms"]["count"] == counters["words_received"]
    assert summary["speech_features"]["words"]["source"] == "whisper"


def dyad(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "dyad.runtime.cli", *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_features_command_dumps_every_stream(tmp_path, wav2vec2_folder):
    out = tmp_path / "streams.npz"
    result = dyad(
        "features", str(demo_audio_path()), "--seconds", "3", "--out", str(out),
        "--wav2vec2", str(wav2vec2_folder), "--asr", f"file:{demo_transcript_path()}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "90 frames" in result.stdout
    data = np.load(out)
    assert data["mel"].shape == (90, 2, 80) and data["vad"].shape == (90, 2) and data["rms_db"].shape == (90, 2)
    assert data["wav2vec2_self"].shape == (90, 2, 32) and data["bert"].shape == (90, 2, 384) and data["no_text"].shape == (90, 2)
    np.testing.assert_array_equal(data["wav2vec2_partner"][:, 0], data["wav2vec2_self"][:, 1])
    assert np.all((data["bert"] != 0).any(axis=2) == (data["no_text"] == 0))
    words = json.loads(str(data["words_json"]))
    assert words[0]["text"] == "Hey!" and words[0]["person"] == 0
    assert json.loads(str(data["stage_ms_json"]))["wav2vec2"]["count"] > 0


@pytest.mark.slow
def test_bad_speech_inputs_are_one_line_errors(tmp_path, wav2vec2_folder):
    wav = write_dialogue(tmp_path / "d.wav", 1.0)
    for flags, needle in (
        (["--wav2vec2", str(tmp_path / "nope")], "Wav2Vec2 folder not found"),
        (["--bert", str(wav2vec2_folder)], "'wav2vec2' model, expected bert"),
        (["--asr", "carrier-pigeon"], "speech.asr"),
        (["--asr", f"file:{tmp_path / 'missing.txt'}"], "transcript file not found"),
    ):
        result = dyad("run", "--wav", str(wav), "--offline", "--quiet", *flags)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("dyad: error:")]
        assert len(lines) == 1 and needle in lines[0], result.stderr

"""One SessionReport snapshot renders the status line, the health log fields, session.json's numbers and the CLI's closing line."""

from __future__ import annotations

import json

import numpy as np

from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from dyad.runtime.config import SessionConfig
from dyad.runtime.histogram import Histogram
from dyad.runtime.session import Session
from dyad.runtime.session_report import SessionReport
from session_fixtures import write_dialogue


def histogram(latency_ms) -> Histogram:
    latency = Histogram()
    for value in latency_ms:
        latency.add(value * 1e6)
    return latency


def report(latency_ms, **counters) -> SessionReport:
    sinks = {"bvh": {"sent": 5, "dropped": 1, "errors": 0, "last_error": None, "bytes": 10}}
    return SessionReport(30, 16000, len(latency_ms), histogram(latency_ms), counters, 2, sinks, (0.9, 0.1))


def test_status_line_shows_time_frames_p95_misses_drops_and_who_speaks():
    # p95 is the 19th of 20 samples (rank ceil(0.95 n)), read from a histogram within 0.25 %
    line = report([100.0] * 18 + [200.0] * 2, deadline_misses=3, dropped_audio_samples=160).status_line()
    assert line.startswith("t=   0.7s frames=20 latency p95=")
    assert line.endswith("ms misses=3 dropped_audio=160 speaking[A,B]=#.")
    assert abs(float(line.split("p95=")[1].split("ms")[0]) - 200.0) <= 0.5


def test_health_interval_covers_only_the_frames_since_the_last_report():
    earlier = histogram([10.0] * 10)  # what the health log held at its last report
    health = report([10.0] * 10 + [50.0] * 10, skipped_frames=4).health(since=earlier)
    assert abs(health["interval_latency_p95_ms"] - 50.0) <= 0.125 and abs(health["interval_latency_max_ms"] - 50.0) <= 0.125
    whole = report([10.0] * 19 + [50.0]).health(since=histogram([10.0] * 19))
    assert abs(whole["interval_latency_max_ms"] - 50.0) <= 0.125 and abs(whole["latency_p95_ms"] - 10.0) <= 0.025
    assert abs(health["latency_p95_ms"] - 50.0) <= 0.125 and health["skipped_frames"] == 4 and health["late_frames"] == 2
    assert health["sinks"] == {"bvh": {"sent": 5, "dropped": 1, "errors": 0}}
    empty = report([]).health()
    assert np.isnan(empty["latency_p95_ms"]) and np.isnan(empty["interval_latency_max_ms"])


def test_closing_line_and_session_json_agree_on_one_snapshot(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=2.0)
    config = SessionConfig(offline=True, seconds=2.0, status_interval_s=0.0, out_dir=tmp_path / "out")
    result = Session(config, WavReplaySource(open_wav_inputs([wav]), seconds=2.0, realtime=False)).run()
    saved = json.loads((tmp_path / "out" / "session.json").read_text())
    final = result.report
    assert final.frames == result.frames == saved["frames"]["p0"] == 60
    assert final.latency_summary() == saved["latency_ms"] and final.sinks.keys() == saved["sinks"].keys()
    p50 = saved["latency_ms"]["p50"]
    assert final.closing_line(config.out_dir) == (
        f"dyad: 60 frames per person at 30 fps, latency p50={p50:.1f} ms p95={saved['latency_ms']['p95']:.1f} ms "
        f"p99={saved['latency_ms']['p99']:.1f} ms, deadline misses {saved['deadline_misses']}, "
        f"dropped audio {saved['dropped_audio']['seconds']:.3f} s, recordings in {config.out_dir}"
    )

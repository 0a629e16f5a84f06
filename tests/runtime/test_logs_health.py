"""Structured logs (one line per event, with its level) and the periodic health summary."""

from __future__ import annotations

import pytest

import io
import json
import logging
import os
import subprocess
import sys

from dyad.runtime.config import SessionConfig
from dyad.runtime.logs import configure_logging
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from session_fixtures import write_dialogue


def test_json_format_is_one_object_per_line_with_level_fields_and_traceback():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", "json", stream)
        logging.getLogger("dyad.test").warning("sink %s failed\nsecond line", "osc", extra={"event": "sink_error", "errors": 3})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("dyad.test").exception("hop failed")
        logging.getLogger("dyad.test").debug("hidden at INFO")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("dyad.health").setLevel(logging.NOTSET)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "dyad.test" and first["msg"] == "sink osc failed\nsecond line"
    assert first["event"] == "sink_error" and first["errors"] == 3 and first["ts"].endswith("Z")
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exc"]


@pytest.mark.realtime
def test_health_summary_every_interval_with_latency_misses_drops_and_sink_errors(tmp_path, caplog):
    wav = write_dialogue(tmp_path / "d.wav", seconds=2.0)
    config = SessionConfig(seconds=2.0, status_interval_s=0.0, health_interval_s=0.5, sinks=("osc://127.0.0.1:9",))
    with caplog.at_level(logging.INFO, logger="dyad.health"):
        Session(config, WavReplaySource(open_wav_inputs([wav]), seconds=2.0, realtime=True)).run()
    reports = [r.health for r in caplog.records if r.name == "dyad.health"]
    assert 2 <= len(reports) <= 5
    last = reports[-1]
    assert {"latency_p95_ms", "interval_latency_p95_ms", "deadline_misses", "dropped_audio_s", "late_frames", "skipped_frames"} <= set(last)
    budget = config.timing.budget_ms
    assert last["frames"] > reports[0]["frames"] and budget - 10 < last["latency_p95_ms"] < budget + 50
    assert last["sinks"]["osc:9"]["errors"] > 0  # nobody listens on port 9: per-sink errors show up


@pytest.mark.slow
def test_cli_json_logs_carry_health_lines(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=3.0)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    run = subprocess.run(
        [sys.executable, "-m", "dyad.runtime.cli", "--log-format", "json", "run", "--wav", str(wav), "--offline", "--quiet", "--health-s", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    health = [e for e in events if e.get("event") == "health"]
    assert len(health) >= 2 and all(e["level"] == "INFO" and e["logger"] == "dyad.health" for e in health)
    assert all(line.startswith("{") for line in run.stderr.splitlines() if line.strip())  # nothing but JSON events

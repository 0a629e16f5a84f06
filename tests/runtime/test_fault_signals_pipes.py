"""Signals and closed pipes against a real `dyad run` subprocess.

- SIGHUP (the terminal closed) mid-session ends it like SIGTERM: exit 0, session.json
  written, every recording holding the same frames.
- SIGINT or SIGTERM during start-up (here 3 s in; loading the bundled model takes
  longer than that on this machine) is a one-line message and exit 0, no traceback,
  and no recording folder is created.
- stdout and stderr into a real pipe whose reader goes away after one line
  (`dyad ... 2>&1 | head -1`): the session runs to its end and writes everything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from session_fixtures import write_dialogue
from test_fault_process import FPS, recorded_frames, start_run, wait_for_flushes

pytestmark = pytest.mark.realtime


def test_sighup_ends_the_session_like_sigterm(tmp_path):
    process, out = start_run(tmp_path)
    try:
        wait_for_flushes(process, out, FPS)
        process.send_signal(signal.SIGHUP)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    n = json.loads((out / "session.json").read_text())["frames"]["p0"]
    assert FPS <= n < 20 * FPS
    assert recorded_frames(out) == dict.fromkeys(("p0.bvh", "p1.bvh", "p0_face.csv", "p1_face.csv", "frames.csv"), n)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_during_start_up_exits_cleanly(tmp_path, signum):
    wav = write_dialogue(tmp_path / "d.wav", seconds=5.0)
    out = tmp_path / "out"
    process = subprocess.Popen(
        # The learned networks and MiniLM take several seconds to load and warm up: the signal lands inside that.
        [sys.executable, "-m", "dyad.runtime.cli", "run", "--wav", str(wav), "--out", str(out), "--quiet",
         "--face-animator", "learned", "--body-animator", "learned", "--bert", "default"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(3.0)
        assert process.poll() is None
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.strip() == f"dyad: stopped by {signal.Signals(signum).name} during start-up"
    assert not out.exists()


def test_a_closed_pipe_does_not_end_the_session(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=4.0)
    out = tmp_path / "out"
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "dyad.runtime.cli", "run", "--wav", str(wav), "--out", str(out), "--model", "procedural"],
        stdout=write_end, stderr=write_end,  # 2>&1 into one real pipe
    )  # fmt: skip
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as reader:
            first = reader.readline()  # `| head -1`
        assert first  # the reader saw a line, then went away
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0
    summary = json.loads((out / "session.json").read_text())
    assert summary["frames"]["p0"] == 4 * FPS  # the whole input, not cut short
    assert recorded_frames(out) == dict.fromkeys(("p0.bvh", "p1.bvh", "p0_face.csv", "p1_face.csv", "frames.csv"), 4 * FPS)

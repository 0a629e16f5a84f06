"""Nothing lost: SIGINT, SIGTERM and kill -9 sent to a real `dyad run --out DIR` subprocess mid-session.

Recordings are read back with independent parsers: PyPI `bvh` for the BVH files,
the csv module for the Live Link Face and timing CSVs.
- SIGINT / SIGTERM: a clean end. session.json is written, and a recording of N
  frames (N from session.json) holds exactly N frames in every file.
- kill -9: no chance to clean up. Every file still parses; each holds whole
  flushes only (recorders flush once a second = 30 frames), the BVH `Frames:`
  count matches its frame lines, and frames.csv indices run 0..n-1 without a gap.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bvh import Bvh

from session_fixtures import write_dialogue

pytestmark = pytest.mark.realtime  # real-time sessions or streams on the wall clock

FPS = 30


def start_run(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    wav = write_dialogue(tmp_path / "d.wav", seconds=20.0)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "dyad.runtime.cli", "run", "--wav", str(wav), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    return process, out


def wait_for_flushes(process: subprocess.Popen, out: Path, frames: int, timeout_s: float = 60) -> None:
    """Until p0.bvh says it holds at least `frames` frames (the recorders are running and flushing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        bvh = out / "p0.bvh"
        if bvh.exists() and bvh_frames_field(bvh) >= frames:
            return
        time.sleep(0.1)
    raise AssertionError("the session never flushed its recordings")


def bvh_frames_field(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("Frames:"):
            return int(line.split()[1])
    return -1


def parse_bvh(path: Path) -> int:
    mocap = Bvh(path.read_text())
    lines = len(mocap.frames)
    assert lines == mocap.nframes, f"{path.name}: {lines} frame lines, header says {mocap.nframes}"
    assert all(len(frame) == len(mocap.frames[0]) for frame in mocap.frames)
    return lines


def csv_rows(path: Path, columns: int) -> list[list[str]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert all(len(row) == columns for row in rows[1:]), f"{path.name}: a row is cut short"
    for row in rows[1:]:
        [float(cell) for cell in row[1:]]  # every value parses as a number
    return rows[1:]


def recorded_frames(out: Path) -> dict[str, int]:
    counts = {name: parse_bvh(out / name) for name in ("p0.bvh", "p1.bvh")}
    counts |= {name: len(csv_rows(out / name, 63)) for name in ("p0_face.csv", "p1_face.csv")}
    timing = csv_rows(out / "frames.csv", 8)
    assert [int(row[0]) for row in timing] == list(range(len(timing)))  # contiguous frame indices
    counts["frames.csv"] = len(timing)
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_session_cleanly_with_complete_recordings(tmp_path, signum):
    process, out = start_run(tmp_path)
    try:
        wait_for_flushes(process, out, FPS)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    summary = json.loads((out / "session.json").read_text())
    n = summary["frames"]["p0"]
    assert FPS <= n < 20 * FPS  # stopped mid-session, not at the end of the audio
    assert recorded_frames(out) == dict.fromkeys(("p0.bvh", "p1.bvh", "p0_face.csv", "p1_face.csv", "frames.csv"), n)
    assert f"{n} frames per person" in stdout


@pytest.mark.slow
def test_kill_9_leaves_files_that_parse_with_every_flushed_frame(tmp_path):
    process, out = start_run(tmp_path)
    try:
        wait_for_flushes(process, out, 2 * FPS)
        time.sleep(0.45)  # land somewhere between two flushes
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "session.json").exists()  # no clean-up ran
    counts = recorded_frames(out)
    assert all(count >= 2 * FPS and count % FPS == 0 for count in counts.values()), counts  # whole flushes only

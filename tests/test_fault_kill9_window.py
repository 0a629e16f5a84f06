"""kill -9 at random moments of a fast offline run (hundreds of flushes a second, so kills land inside flushes):
every BVH's `Frames:` count matches its frame lines and every file ends in a whole line, each time.

Inside the process a flush is two writes (lines, then the count); the crash guardian
(`dyad.runtime.crash_repair`), a separate process, finishes the job after the kill.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from session_fixtures import write_dialogue
from test_fault_process import csv_rows, parse_bvh


def test_random_kill_9_never_leaves_a_count_that_disagrees(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=120.0)
    rng = random.Random(7)
    checked = 0
    for attempt in range(4):
        out = tmp_path / f"out{attempt}"
        process = subprocess.Popen(
            [sys.executable, "-m", "dyad.runtime.cli", "run", "--wav", str(wav), "--offline", "--model", "procedural",
             "--quiet", "--out", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not (out / "p0.bvh").exists() or (out / "p0.bvh").stat().st_size < 100_000:  # recording is under way
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.5))
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            process.kill()
        if process.returncode != -signal.SIGKILL:
            continue  # it finished first: nothing to check on this try
        time.sleep(1.0)  # the guardian notices the closed pipe and repairs in milliseconds
        for name in ("p0.bvh", "p1.bvh"):
            assert parse_bvh(out / name) > 0  # asserts Frames: == lines
        for name in ("p0_face.csv", "p1_face.csv"):
            csv_rows(out / name, 63)
        csv_rows(out / "frames.csv", 8)
        for path in out.iterdir():
            assert path.read_bytes().endswith(b"\n"), path.name
        checked += 1
    assert checked >= 3

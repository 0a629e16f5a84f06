"""kill -9 between the two writes of a flush (frame lines written, `Frames:` count not yet rewritten).

That window is too narrow to hit by killing at random moments, so a child process puts
its recording into exactly that state, the state a kill inside the window leaves (a
real BvhRecorder flushed with 60 frames, then 30 more frame lines written by the recorder's
own file object without the count), and sends itself SIGKILL. Without the crash
guardian the file then holds more lines than its count (checked first, in the same
child, as the reproduction); with it, the count matches the lines shortly after the kill.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from test_fault_process import parse_bvh

CHILD = r"""
import os, signal, sys
from pathlib import Path
from dyad.adapters.bvh_recorder import BvhRecorder
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.io.crash_repair import CrashGuardian

out = Path(sys.argv[1])
guardian = CrashGuardian() if sys.argv[2] == "guarded" else None
recorder = BvhRecorder(out, load_default_skeleton(), fps=30)
track = recorder._tracks[0]
from dyad.models.pose import rest_pose
root, rotations = rest_pose(load_default_skeleton())
for pending in recorder._pending:
    pending.extend([(root, rotations)] * 60)
recorder.flush()  # 60 frames, count 60
rows = open(out / "p0.bvh").read().splitlines()[-30:]
track.file.append(("\n".join(rows) + "\n").encode())  # the next flush's lines ... and the kill lands here
os.kill(os.getpid(), signal.SIGKILL)
"""


def run_child(tmp_path, mode: str):
    out = tmp_path / mode
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    child = subprocess.run([sys.executable, str(script), str(out), mode], capture_output=True, text=True, timeout=60)
    assert child.returncode == -9, child.stderr
    return out / "p0.bvh"


def frames_field_and_lines(path) -> tuple[int, int]:
    text = path.read_text()
    count = int(text.split("Frames:")[1].split()[0])
    lines = len(text.split("Frame Time:")[1].splitlines()) - 1
    return count, lines


def test_without_the_guardian_the_window_leaves_more_lines_than_the_count(tmp_path):
    assert frames_field_and_lines(run_child(tmp_path, "bare")) == (60, 90)  # the reported failure


def test_the_guardian_repairs_the_count_after_kill_9_in_the_window(tmp_path):
    path = run_child(tmp_path, "guarded")
    deadline = time.monotonic() + 10
    while frames_field_and_lines(path) != (90, 90):
        assert time.monotonic() < deadline, frames_field_and_lines(path)
        time.sleep(0.05)
    assert parse_bvh(path) == 90  # an independent parser agrees

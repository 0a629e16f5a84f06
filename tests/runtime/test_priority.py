"""A live session's own threads (audio, processing, emitter) run ahead of batch work; nothing else is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dyad.runtime.priority import threads_started_with_priority

SCRIPT = """
import json, os, sys, threading
from dyad.runtime.cli.main import main
seen = {}
original = threading.Thread.run
def run(self):
    seen[self.name] = os.getpriority(os.PRIO_PROCESS, 0)  # Linux: this thread's own nice value
    return original(self)
threading.Thread.run = run
status = main(["demo", "--seconds", "1", "--quiet", "--bert", "none", "--out", sys.argv[1]])
print(json.dumps({"status": status, "threads": seen, "main": os.getpriority(os.PRIO_PROCESS, 0)}))
"""


def test_the_session_threads_get_the_priority_and_the_rest_of_the_process_keeps_its_own(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "rec")], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    priority = json.loads((tmp_path / "rec" / "session.json").read_text())["priority"]
    session_threads = {result["threads"][name] for name in ("processing", "emitter", "dyad-wav-replay")}
    if priority["applied"]:
        assert priority["nice"] == -10 and session_threads == {-10}
    else:  # an unprivileged user: the session still runs, and says why
        assert "not permitted" in priority["why"] and session_threads == {result["main"]}
    assert result["main"] == os.getpriority(os.PRIO_PROCESS, 0)  # the starting thread took its old value back
    assert {n for name, n in result["threads"].items() if name.startswith("sink-")} == {result["main"]}


def test_no_change_is_asked_for_nice_zero():
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with threads_started_with_priority(0) as report:
        assert os.getpriority(os.PRIO_PROCESS, 0) == before
    assert report == {"nice": before, "applied": False, "why": f"not asked (timing.nice 0, already {before})"}

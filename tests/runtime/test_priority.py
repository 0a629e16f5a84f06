"""A live session's threads run ahead of batch work while it runs; the process's other threads get their values back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dyad.runtime.priority import session_priority

SCRIPT = """
import json, os, sys, threading
from dyad.runtime.cli.main import main
import time
seen = {}
original = threading.Thread.run
def run(self):
    time.sleep(0.3)  # the session is live by then (threads started before it, e.g. sink workers, included)
    seen[self.name] = os.getpriority(os.PRIO_PROCESS, 0)  # Linux: this thread's own nice value
    return original(self)
threading.Thread.run = run
status = main(["demo", "--seconds", "2", "--quiet", "--out", sys.argv[1]])
print(json.dumps({"status": status, "threads": seen, "main": os.getpriority(os.PRIO_PROCESS, 0)}))
"""


def test_every_session_thread_gets_the_priority_and_the_process_gets_its_own_back(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "rec")], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    priority = json.loads((tmp_path / "rec" / "session.json").read_text())["priority"]
    # the hop, the emitter, the audio, and the threads sharing their interpreter lock (sinks, word encoder)
    names = {"processing", "emitter", "dyad-wav-replay", "bert-words", "sink-bvh", "sink-frames_csv"}
    assert names <= set(result["threads"])
    session_threads = {result["threads"][name] for name in names}
    if priority["applied"]:
        assert priority["nice"] == -10 and session_threads == {-10}
    else:  # an unprivileged user: the session still runs, and says why
        assert "not permitted" in priority["why"] and session_threads == {result["main"]}
    assert result["main"] == os.getpriority(os.PRIO_PROCESS, 0)  # the main thread took its old value back


def test_no_change_is_asked_for_nice_zero():
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with session_priority(0) as report:
        assert os.getpriority(os.PRIO_PROCESS, 0) == before
    assert report == {"nice": before, "applied": False, "why": f"not asked (timing.nice 0, already {before})"}

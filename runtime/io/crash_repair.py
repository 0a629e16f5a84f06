"""A guardian process that makes recordings whole after a `kill -9`.

A recorder flush is two writes: the frame lines, then the BVH `Frames:` count
rewritten in place. A process killed between the two (a window of one
system call, longer if another thread holds the GIL then) leaves more lines
than the count says. No ordering of two writes closes that window from inside
the process, so a tiny separate process watches from outside: the session
tells it (over a pipe) each recording file it creates. If the pipe closes
without the session's "finished" mark, the session died; the guardian then
cuts every file back to its last whole line and rewrites each BVH count to
the number of frame lines. It runs in its own session (terminal signals do
not reach it), imports nothing but the standard library, and exits at once
after a clean end.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

GUARDIAN = r"""
import os, signal, sys

FIELD_WIDTH = 10

def whole_lines(path):
    with open(path, "r+b") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            handle.truncate(end)
            data = data[:end]
        if not path.endswith(".bvh"):
            return
        motion = data.find(b"\nMOTION\n")
        field = data.find(b"\nFrames: ", motion) + len(b"\nFrames: ")
        frame_time = data.find(b"\nFrame Time:", field)
        if motion < 0 or field < len(b"\nFrames: ") or frame_time < 0:
            return
        first = data.find(b"\n", frame_time + 1) + 1
        frames = data.count(b"\n", first)
        handle.seek(field)
        handle.write(str(frames).ljust(FIELD_WIDTH).encode("ascii")[:FIELD_WIDTH])

for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, signal.SIG_IGN)
paths, finished = [], False
for line in sys.stdin.buffer:
    text = line.rstrip(b"\n").decode("utf-8", "surrogateescape")
    if text == ".":
        finished = True
    elif text.startswith("+"):
        paths.append(text[1:])
if not finished:
    for path in paths:
        try:
            whole_lines(path)
        except OSError:
            pass
"""


class CrashGuardian:
    """Start with the session; `finish()` at a clean end. Registers every LineFile created meanwhile."""

    def __init__(self) -> None:
        from dyad.adapters import line_file  # the CLI wires runtime to adapters; this module only hooks in

        self._hooks = line_file.created_hooks
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", GUARDIAN], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._hooks.append(self._register)

    def _register(self, path: Path) -> None:
        with self._lock:
            try:
                self._process.stdin.write(b"+" + str(Path(path).resolve()).encode("utf-8", "surrogateescape") + b"\n")
                self._process.stdin.flush()
            except (OSError, ValueError):
                pass  # no guardian: the files are still whole up to the last flush, as before

    def finish(self) -> None:
        """The session ended cleanly: the guardian exits without touching anything."""
        if self._register in self._hooks:
            self._hooks.remove(self._register)
        with self._lock:
            try:
                self._process.stdin.write(b".\n")
                self._process.stdin.close()
            except (OSError, ValueError):
                pass
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()

"""Where the time goes: a sampling profile of a callable, every thread, as a text table.

py-spy is used when it is installed and may attach to this process (it samples
from outside, so it does not take the GIL and skips idle threads). Otherwise a
sampler thread inside the process reads `sys._current_frames()` every 10 ms;
stacks whose innermost frame is a known wait (sleep, queue get, lock, select)
count as idle and are left out. Both give folded stacks, summarised the same
way: per thread, and per function by self samples (running) and total samples
(on the stack). torch's own profiler is not used: it sees only the thread that
started it, and the learned animator runs on a thread of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")
Stack = tuple[str, ...]  # (thread, outermost frame, ..., innermost frame)
SAMPLE_S = 0.01
# Innermost frames that mean "blocked" (the native wait below them is invisible from Python; a pool
# thread whose innermost Python frame is `_worker` sits in its queue's get).
IDLE_LEAVES = {"wait", "sleep", "sleep_until", "select", "poll", "get", "acquire", "_wait_for_tstate_lock", "join", "recv", "recvfrom", "accept", "_worker"}
# Frames on nearly every stack that say nothing about where time goes, left out of the "total" table.
PLUMBING = {"Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run", "_worker", "_WorkItem.run", "Module._wrapped_call_impl",
            "Module._call_impl", "context_decorator.<locals>.decorate_context", "_bootstrap", "_bootstrap_inner", "run", "<module>"}  # fmt: skip


def _function(frame: str) -> str:
    """`Class.method (file.py)` -> `Class.method`."""
    return frame.split(" (", 1)[0]


def is_idle(stack: Stack) -> bool:
    return len(stack) < 2 or _function(stack[-1]).rpartition(".")[2] in IDLE_LEAVES


@dataclass(frozen=True)
class Profile:
    method: str  # "py-spy" | "in-process sampler"
    stacks: Counter  # Stack -> samples
    seconds: float


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")  # a venv's own copy first
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile_call(fn: Callable[[], T]) -> tuple[T, Profile]:
    """Run `fn` under py-spy if it can attach, else under the in-process sampler."""
    spy = _py_spy()
    if spy is not None:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "stacks.txt"
            command = [spy, "record", "--pid", str(os.getpid()), "--rate", "100", "--format", "raw", "--threads", "--nonblocking", "-o", str(out)]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)  # attaching fails fast (no ptrace permission): then fall back
            if process.poll() is None:
                return _stop_spy(fn, process, out)
    return _sampled(fn)


def _stop_spy(fn: Callable[[], T], process: subprocess.Popen, out: Path) -> tuple[T, Profile]:
    began = time.monotonic()
    try:
        result = fn()
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
        process.communicate(timeout=60)
    seconds = time.monotonic() - began
    return result, Profile("py-spy", parse_folded(out.read_text()) if out.exists() else Counter(), seconds)


def parse_folded(text: str) -> Counter:
    """py-spy raw output, `thread (id): name;frame (file:line);... count`, to stacks without line numbers."""
    stacks: Counter = Counter()
    for line in text.splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        frames = tuple(re.sub(r":\d+\)$", ")", frame) for frame in body.split(";"))
        if not is_idle(frames):
            stacks[frames] += int(count)
    return stacks


def _sampled(fn: Callable[[], T]) -> tuple[T, Profile]:
    stacks: Counter = Counter()
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(stacks, done), name="hotspots-sampler", daemon=True)
    began = time.monotonic()
    sampler.start()
    try:
        result = fn()
    finally:
        done.set()
        sampler.join()
    return result, Profile("in-process sampler", stacks, time.monotonic() - began)


def _sample(stacks: Counter, done: threading.Event) -> None:
    me = threading.get_ident()
    while not done.wait(SAMPLE_S):
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            frames = []
            while frame is not None:
                code = frame.f_code
                frames.append(f"{getattr(code, 'co_qualname', code.co_name)} ({Path(code.co_filename).name})")
                frame = frame.f_back
            stack = (f"thread {names.get(ident, ident)}", *reversed(frames))
            if not is_idle(stack):
                stacks[stack] += 1


def render(profile: Profile, title: str, rows: int = 30) -> str:
    """Per-thread share of busy samples, then the top functions by self and by total samples."""
    total = sum(profile.stacks.values())
    lines = [title, f"method: {profile.method}; {total} busy samples over {profile.seconds:.1f} s (idle waits left out)", ""]
    if total == 0:
        return "\n".join(lines + ["no samples"]) + "\n"
    threads, selfs, inclusive = Counter(), Counter(), Counter()
    for stack, count in profile.stacks.items():
        threads[stack[0]] += count
        if len(stack) > 1:
            selfs[stack[-1]] += count
        for frame in set(stack[1:]):
            if _function(frame) not in PLUMBING:
                inclusive[frame] += count
    for heading, counter in (("thread", threads), ("function, self (running)", selfs), ("function, total (on the stack)", inclusive)):
        lines += [f"{'samples':>8} {'share':>7}  {heading}"]
        lines += [f"{count:8d} {100 * count / total:6.1f}%  {name}" for name, count in counter.most_common(rows)]
        lines.append("")
    return "\n".join(lines)

"""Scheduling priority of a live session: all its threads ahead of batch jobs on the same cores.

A live session is the foreground task of its machine; a training run or a build beside it
must not make it miss frames. Every thread of the process gets the priority, not only the
hop and the emitter: they share one interpreter lock, and a sink worker or the word encoder
holding it while the scheduler preempts it for a batch job would stall the hop behind it
(priority inversion). Linux keeps a nice value per thread and a new thread inherits its
creator's, so threads started during the session have it too. When the session ends the
threads that existed before it take their old values back (a test runner, an embedding
host). Raising priority needs CAP_SYS_NICE or an RLIMIT_NICE allowance; without either the
session runs at the priority it was given, and session.json says so.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger("dyad.session")


def _threads() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: one value for the process
        return [0]


def _set(tid: int, nice: int) -> bool:
    try:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True
    except ProcessLookupError:  # the thread ended meanwhile
        return False


@contextmanager
def session_priority(nice: int) -> Iterator[dict]:
    """Every thread of the process at nice value `nice` (< 0 raises priority) inside the block; yields what happened."""
    before = {tid: os.getpriority(os.PRIO_PROCESS, tid) for tid in _threads()}
    current = os.getpriority(os.PRIO_PROCESS, 0)
    report: dict = {"nice": current, "applied": False}
    if nice >= 0 or nice >= current:
        report["why"] = f"not asked (timing.nice {nice}, already {current})"
    else:
        try:
            changed = sum(_set(tid, nice) for tid in before)
            report.update(nice=nice, applied=True, threads=changed)
        except PermissionError:
            report["why"] = "not permitted (needs CAP_SYS_NICE or an RLIMIT_NICE allowance)"
            log.info("session threads stay at nice %d: %s", current, report["why"])
    try:
        yield report
    finally:
        if report["applied"]:
            for tid, value in before.items():  # lowering a priority is always allowed
                _set(tid, value)

"""Scheduling priority of a live session: its audio, hop and emitter threads ahead of batch jobs on the same cores.

A live session is the foreground task of its machine; a training run or a build beside it
must not make it miss frames. Linux keeps a nice value per thread and a new thread inherits
its creator's: the thread that starts the session's threads lowers its own nice value, starts
them, and takes its old value back, so exactly those threads run ahead (the rest of the
process, e.g. a test runner, is left as it was). Raising priority needs CAP_SYS_NICE or an
RLIMIT_NICE allowance; without either the threads run at the priority they were given, and
session.json says so.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger("dyad.session")


@contextmanager
def threads_started_with_priority(nice: int) -> Iterator[dict]:
    """Threads started inside the block get nice value `nice` (< 0 raises priority); yields what happened."""
    before = os.getpriority(os.PRIO_PROCESS, 0)  # Linux: the calling thread's own value
    report: dict = {"nice": before, "applied": False}
    if nice >= 0 or nice >= before:
        report["why"] = f"not asked (timing.nice {nice}, already {before})"
    else:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
            report.update(nice=nice, applied=True)
        except PermissionError:
            report["why"] = "not permitted (needs CAP_SYS_NICE or an RLIMIT_NICE allowance)"
            log.info("session threads stay at nice %d: %s", before, report["why"])
    try:
        yield report
    finally:
        if report["applied"]:
            os.setpriority(os.PRIO_PROCESS, 0, before)  # lowering one's own priority is always allowed

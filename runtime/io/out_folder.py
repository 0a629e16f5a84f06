"""The `--out` folder of a run: chosen before anything is opened, never holding two runs, session.json written whole.

A run never writes over an earlier one. When `--out DIR` already holds a
recording (any of the files a run writes, or a take folder), this run records
into the first free `DIR-002`, `DIR-003`, ... and says so. A name that exists
but is not a regular file (a FIFO, a folder called session.json) counts as
taken too, so nothing hangs on it or fails after recording. The recorders
create their files exclusively (`dyad.adapters.line_file`), so even a race
cannot truncate a take. session.json goes to a temporary name and is renamed
into place: a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from dyad.runtime.errors import DyadError

RECORDING_NAMES = ("p0.bvh", "p1.bvh", "p0_face.csv", "p1_face.csv", "frames.csv", "session.json")
MAX_RUNS = 999
_TAKE = re.compile(r"take\d{3}$")


def holds_recording(folder: Path) -> bool:
    """Whether `folder` holds (part of) a recording, or something in the way of one."""
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        return False
    except OSError as error:
        raise DyadError(f"output folder '{folder}': {error.strerror or error}") from None
    return any(name in names for name in RECORDING_NAMES) or any(_TAKE.match(name) for name in names)


def choose_out_dir(out: Path) -> tuple[Path, str | None]:
    """The folder this run records into, and a note when it is not `out` itself. Creates nothing."""
    if out.exists() and not out.is_dir():
        raise DyadError(f"output folder '{out}' exists and is not a folder")
    if not holds_recording(out):
        return out, None
    for number in range(2, MAX_RUNS + 1):
        candidate = out.with_name(f"{out.name}-{number:03d}")
        if candidate.exists() and not candidate.is_dir():
            continue
        if not holds_recording(candidate):
            return candidate, f"'{out}' already holds a recording; this run records into '{candidate}'"
    raise DyadError(f"output folder '{out}' and {MAX_RUNS - 1} numbered folders beside it all hold recordings")


def write_session_json(folder: Path, summary: dict) -> Path:
    """Write summary to folder/session.json atomically; DyadError (naming the file) if it cannot."""
    target = folder / "session.json"
    temporary = folder / f".session.json.{os.getpid()}.tmp"
    data = json.dumps(summary, indent=2).encode("utf-8")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise DyadError(f"cannot write '{target}': {error.strerror or error} (the recordings beside it are complete)") from None
    return target

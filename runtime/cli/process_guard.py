"""What the outside world can do to a running `dyad` process: signals and closed output pipes.

Signals. SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) all mean
"stop cleanly". During start-up (loading models, opening devices, up to a few
seconds) they raise StartupInterrupted, which the CLI turns into a one-line
message and exit status 0; once the session runs they call its stop(), and it
closes its recordings and writes session.json.

Pipes. `dyad demo | head -1` closes stdout early, `2>&1 | head` stderr too. A
status or summary line that cannot be written is dropped (the stream is
pointed at /dev/null so the interpreter's own final flush cannot fail either);
the session goes on and its files and session.json are written as usual.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable, TextIO

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class StartupInterrupted(BaseException):
    """A stop signal arrived before the session was running (BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_startup_interrupted(signum: int, _frame) -> None:
    raise StartupInterrupted(signum)


def stop_signals_interrupt_startup() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_startup_interrupted)


def stop_signals_call(stop: Callable[[], None]) -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop())


def write_line(text: str, stream: TextIO | None = None) -> bool:
    """Print one line and flush; False (and the stream silenced) if its reader has gone."""
    stream = stream or sys.stdout
    try:
        print(text, file=stream, flush=True)
        return True
    except (BrokenPipeError, ValueError, OSError):  # ValueError: the stream was already closed
        silence(stream)
        return False


def silence(stream: TextIO) -> None:
    """Point a stream whose reader has gone at /dev/null: later writes and the exit-time flush succeed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass

"""The control hub: applies commands from every control listener to the session, one at a time.

Listeners (dyad.runtime.io.control_listeners) decode and validate messages
(dyad.runtime.io.control) and hand commands here; what does not apply is counted
and ignored, so control input is never fatal. What a command does to a running
session is the session's to say (dyad.runtime.session_controls.SessionControls).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import replace

from dyad.runtime.config import NetworkPolicy
from dyad.runtime.frames import TranscriptLine
from dyad.runtime.io.control import LOGGED_PROBLEMS, PROBLEMS, Command, ControlBindings, TranscriptQueue
from dyad.runtime.io.control_listeners import open_listener

log = logging.getLogger("dyad.control")


class ControlHub:
    """Applies control messages from any number of listeners, one at a time."""

    def __init__(self, bindings: ControlBindings, urls: tuple[str, ...] = (), wait_start: bool = False,
                 policy: NetworkPolicy | None = None) -> None:  # fmt: skip
        self.bindings = bindings
        self.policy = policy or NetworkPolicy()  # listeners check their bind address and senders against it
        self.transcripts = TranscriptQueue()
        self.started = threading.Event()
        if not wait_start:
            self.started.set()
        self.counts: Counter[str] = Counter()
        self.last_problem: str | None = None
        self._lock = threading.Lock()
        self.listeners: list = []
        try:
            for url in urls:
                self.listeners.append(open_listener(url, self))
        except BaseException:
            self.close()
            raise

    # -- messages -------------------------------------------------------------
    def problem(self, category: str, message: str) -> None:
        """Count a message that was not applied: 'malformed', 'unknown' or 'rejected'."""
        with self._lock:
            self.counts["received"] += 1
            self.counts[category] += 1
            problems = sum(self.counts[k] for k in PROBLEMS)
            if problems <= LOGGED_PROBLEMS and self.last_problem != message:
                log.warning("control message %s: %s", category, message)
            self.last_problem = message

    def apply(self, command: Command) -> None:
        try:
            self._apply(command)
        except Exception as error:  # ValueError: refused by the session; anything else: still never fatal
            self.problem("rejected", f"{command.kind}: {error}")
            return
        with self._lock:
            self.counts["received"] += 1
            self.counts[f"applied.{command.kind}"] += 1

    def _apply(self, command: Command) -> None:
        b = self.bindings
        if command.kind in ("action", "facing"):
            with self._lock:  # read-modify-write of the frozen state, one listener at a time
                state = b.get_state()
                if command.kind == "action":
                    actions = list(state.actions)
                    actions[command.person] = command.action
                    state = replace(state, actions=tuple(actions))
                else:
                    state = replace(state, facing=command.flag)
                b.set_state(state)
        elif command.kind == "transcript":
            line = TranscriptLine(command.person, command.text, command.start, command.end, received_ns=b.now_ns())
            self.transcripts.put(line)
        elif command.kind == "budget":
            b.set_budget_ms(command.ms)
        elif command.kind == "record":
            b.record(command.flag)
        elif command.flag and command.kind == "start":
            self.started.set()
        elif command.flag and command.kind == "stop":
            self.started.set()  # a session waiting for start ends at once
            b.stop()

    # -- lifecycle ------------------------------------------------------------
    def wait_for_start(self, stop: threading.Event) -> None:
        """Block until a start message (or a stop) arrives; returns at once without --wait-start."""
        if not self.started.is_set():
            log.warning("waiting for a control 'start' message")
        while not self.started.wait(0.05) and not stop.is_set():
            pass

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()

    def summary(self) -> dict:
        with self._lock:
            counts = dict(self.counts)
        return {
            "listeners": [listener.url for listener in self.listeners],
            "received": counts.pop("received", 0),
            "malformed": counts.pop("malformed", 0),
            "unknown": counts.pop("unknown", 0),
            "rejected": counts.pop("rejected", 0),
            "refused_sender": counts.pop("refused_sender", 0),
            "applied": {k.split(".", 1)[1]: v for k, v in sorted(counts.items())},
            "last_problem": self.last_problem,
            "transcripts": {"received": self.transcripts.received, "dropped": self.transcripts.dropped},
        }

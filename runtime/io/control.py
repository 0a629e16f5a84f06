"""Control input: a host app steers a running session over OSC or ZeroMQ.

Messages (OSC address under the prefix, default /dyad; ZeroMQ: one JSON object per message):

  OSC                                   ZeroMQ JSON                                              effect
  /dyad/action i person, s action       {"type":"action","person":0,"action":"sit"}              sit | walk | stand, per person
  /dyad/facing i 0|1                    {"type":"facing","facing":true}                          people face each other (1) or stand side by side (0)
  /dyad/transcript i person, s text,    {"type":"transcript","person":1,"text":"hi",             words heard, timed in seconds on the session's
                   f start, f end        "start":1.2,"end":1.6}                                   audio clock; queued for the speech features
  /dyad/start                           {"type":"start"}                                         begin a session started with --wait-start
  /dyad/stop                            {"type":"stop"}                                          end the session cleanly (files closed, session.json)
  /dyad/record i 1|0                    {"type":"record","on":true}                              start / stop a recording take in --out
  /dyad/budget f ms                     {"type":"budget","ms":200}                               change the latency budget D
  /dyad/latency                         {"type":"latency"}                                       ask for D: over OSC the reply goes back to the
                                                                                                 sender, /dyad/latency f D_ms, f floor_ms, i fps

OSC numbers may be ints, floats or T/F; /dyad/start and /dyad/stop with a false
argument (a button release) do nothing. Anything else (unknown address or type,
wrong arguments, bytes that are not OSC or JSON, a budget below the pipeline's
floor, `record` without --out) is counted in session.json and ignored: control
input is never fatal. Listeners bind to loopback; another interface needs --allow-remote
and --allow-from (dyad.runtime.io.net_policy). Sizes are bounded: a datagram or JSON
message of at most MAX_MESSAGE_BYTES, transcript text of at most MAX_TEXT_CHARS.
No message names a file: `record` only starts and stops takes inside --out.
ZeroMQ uses a PULL socket that BINDS the URL's endpoint: host apps connect a
PUSH socket (no subscription to set up, so no message is lost at connect).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from dyad.models.actions import ACTIONS
from dyad.runtime.config import MAX_BUDGET_MS
from dyad.runtime.frames import ControlState, TranscriptLine

MAX_MESSAGE_BYTES = 65536  # one UDP datagram's worth; larger ZeroMQ messages are refused by the socket
MAX_TEXT_CHARS = 4096  # a transcript line, not a document
PROBLEMS = ("malformed", "unknown", "rejected", "refused_sender")
LOGGED_PROBLEMS = 20  # then problems are only counted: a flood of bad messages cannot flood the log
# Field names per kind, in OSC argument order.
FIELDS: dict[str, tuple[str, ...]] = {
    "action": ("person", "action"),
    "facing": ("facing",),
    "transcript": ("person", "text", "start", "end"),
    "start": (),
    "stop": (),
    "record": ("on",),
    "budget": ("ms",),
    "latency": (),
}


class MalformedControl(ValueError):
    """A known message with bad arguments, or bytes that do not decode."""


class UnknownControl(ValueError):
    """A well-formed message this session does not know."""


@dataclass(frozen=True)
class Command:
    kind: str  # a key of FIELDS
    person: int = 0
    action: str = ""
    flag: bool = True  # facing / record on / start-stop pressed
    text: str = ""
    start: float = 0.0
    end: float = 0.0
    ms: float = 0.0


def _number(kind: str, name: str, value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        try:
            number = float(value)  # an int beyond float range (JSON allows any) overflows here
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise MalformedControl(f"{kind}: '{name}' must be a finite number, got {_short(value)}")


def _person(kind: str, value: object) -> int:
    number = _number(kind, "person", value)
    if number not in (0.0, 1.0):
        raise MalformedControl(f"{kind}: 'person' must be 0 or 1, got {_short(value)}")
    return int(number)


def build_command(kind: str, fields: dict) -> Command:
    """Validate one message's fields; raises MalformedControl / UnknownControl."""
    if kind not in FIELDS:
        raise UnknownControl(f"unknown control message {_short(kind)}")
    if kind in ("start", "stop"):
        return Command(kind, flag=bool(_number(kind, "on", fields.get("on", True))))
    if kind == "latency":
        return Command(kind)
    missing = [name for name in FIELDS[kind] if name not in fields]
    if missing:
        raise MalformedControl(f"{kind}: missing '{missing[0]}'")
    if kind == "action":
        action = fields["action"]
        if not isinstance(action, str) or action.strip().lower() not in ACTIONS:
            raise MalformedControl(f"action: 'action' must be one of {', '.join(ACTIONS)}, got {_short(action)}")
        return Command(kind, person=_person(kind, fields["person"]), action=action.strip().lower())
    if kind in ("facing", "record"):
        return Command(kind, flag=bool(_number(kind, FIELDS[kind][0], fields[FIELDS[kind][0]])))
    if kind == "budget":
        return Command(kind, ms=_number(kind, "ms", fields["ms"]))
    text = fields["text"]
    if not isinstance(text, str):
        raise MalformedControl(f"transcript: 'text' must be a string, got {_short(text)}")
    if len(text) > MAX_TEXT_CHARS:
        raise MalformedControl(f"transcript: 'text' has {len(text)} characters, at most {MAX_TEXT_CHARS}")
    start, end = _number(kind, "start", fields["start"]), _number(kind, "end", fields["end"])
    if not 0.0 <= start <= end:
        raise MalformedControl(f"transcript: needs 0 <= start <= end, got start={start} end={end}")
    return Command(kind, person=_person(kind, fields["person"]), text=text, start=start, end=end)


def parse_osc(address: str, args: list, prefix: str = "/dyad") -> Command:
    if not address.startswith(prefix + "/"):
        raise UnknownControl(f"OSC address {_short(address)} is not under '{prefix}/'")
    kind = address[len(prefix) + 1 :]
    names = FIELDS.get(kind)
    if names is None:
        raise UnknownControl(f"unknown OSC address {_short(address)}")
    if kind in ("start", "stop"):
        names = ("on",)
    if len(args) > len(names) or (kind not in ("start", "stop") and len(args) < len(names)):
        raise MalformedControl(f"{address}: expected {len(names)} argument(s) ({', '.join(names)}), got {len(args)}")
    return build_command(kind, dict(zip(names, args)))


def _short(value: object) -> str:
    """A value for an error message, cut so a huge argument cannot flood the log."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_json(payload: bytes) -> Command:
    import json

    if len(payload) > MAX_MESSAGE_BYTES:
        raise MalformedControl(f"message of {len(payload)} bytes, at most {MAX_MESSAGE_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except RecursionError:  # deeply nested arrays: the parser's own stack gives out
        raise MalformedControl("JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedControl(f"not a JSON message: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedControl("a JSON control message must be an object with a string 'type'")
    return build_command(data["type"], {k: v for k, v in data.items() if k != "type"})


class TranscriptQueue:
    """Bounded, thread-safe queue of TranscriptLine; when full the OLDEST line is dropped and counted."""

    def __init__(self, capacity: int = 1024) -> None:
        self._lines: deque[TranscriptLine] = deque()
        self._capacity = capacity
        self._ready = threading.Condition()
        self.received = 0
        self.dropped = 0

    def put(self, line: TranscriptLine) -> None:
        with self._ready:
            if len(self._lines) >= self._capacity:
                self._lines.popleft()
                self.dropped += 1
            self._lines.append(line)
            self.received += 1
            self._ready.notify_all()

    def drain(self) -> list[TranscriptLine]:
        """Every queued line, oldest first; the queue is empty afterwards."""
        with self._ready:
            lines = list(self._lines)
            self._lines.clear()
            return lines

    def wait(self, timeout_s: float) -> bool:
        """Block until a line is queued (True) or the timeout passes (False)."""
        with self._ready:
            return self._ready.wait_for(lambda: bool(self._lines), timeout_s)

    def __len__(self) -> int:
        return len(self._lines)


@dataclass(frozen=True)
class ControlBindings:
    """What control messages act on; the session provides these (tests can provide their own)."""

    get_state: Callable[[], ControlState]
    set_state: Callable[[ControlState], None]
    set_budget_ms: Callable[[float], None]  # raises ValueError when the budget is not possible
    record: Callable[[bool], None]  # raises ValueError when recording cannot start / stop
    stop: Callable[[], None]
    now_ns: Callable[[], int]
    latency: Callable[[], tuple[float, float, int]] = lambda: (0.0, 0.0, 0)  # (D ms, floor ms, fps): what a latency query hears


def check_budget(ms: float, floor_ms: float) -> int:
    """Budget in ns for a control change; ValueError if it cannot hold the pipeline or is absurd."""
    if not floor_ms < ms <= MAX_BUDGET_MS:
        raise ValueError(f"budget {ms:g} ms must be above {floor_ms:.1f} ms (hop + lookahead + buffering) and at most {MAX_BUDGET_MS:g} ms")
    return int(round(ms * 1e6))


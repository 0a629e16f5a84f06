"""Byte-level mutation of well-formed control messages on both transports (hypothesis).

Valid OSC datagrams and ZeroMQ JSON messages are taken from the real encoders
(python-osc's builder, json.dumps) and then damaged byte by byte: bytes flipped,
inserted, deleted, the packet cut or repeated. Every damaged message must be
either applied or counted as a problem, exactly once, quickly, and never raise.
"""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyad.runtime.io.control_listeners import OscListener, ZmqListener, _dispatch
from test_control_fuzz import hub_with_bindings
from test_osc_datagram import message

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_OSC = [
    message("/dyad/action", 0, "sit"),
    message("/dyad/transcript", 1, "hello there", 0.5, 1.0),
    message("/dyad/budget", 200.0),
    message("/dyad/stop"),
    b"#bundle\0" + b"\0" * 7 + b"\1" + len(message("/dyad/facing", 1)).to_bytes(4, "big") + message("/dyad/facing", 1),
]
VALID_JSON = [
    json.dumps(m).encode()
    for m in (
        {"type": "action", "person": 0, "action": "walk"},
        {"type": "transcript", "person": 1, "text": "hi", "start": 1.2, "end": 1.6},
        {"type": "budget", "ms": 200},
        {"type": "record", "on": True},
    )
]


@st.composite
def mutated(draw, originals):
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "cut":
            data = data[:at]
        elif op == "repeat":
            data = data + data[: draw(st.integers(0, 64))]
    return bytes(data)


def counted_exactly_once(decode) -> None:
    hub, _ = hub_with_bindings()
    started = time.monotonic()
    _dispatch(hub, decode)  # must never raise
    summary = hub.summary()
    applied = sum(summary["applied"].values())
    problems = summary["malformed"] + summary["unknown"] + summary["rejected"]
    assert summary["received"] >= 1 and applied + problems == summary["received"]
    assert time.monotonic() - started < 2.0


@FUZZ
@given(data=mutated(VALID_OSC))
def test_damaged_osc_datagrams(data):
    listener = OscListener.__new__(OscListener)  # the decoder only: no socket needed
    listener.prefix = "/dyad"
    counted_exactly_once(lambda: listener._decode(data))


@FUZZ
@given(data=mutated(VALID_JSON), extra_frames=st.lists(st.binary(max_size=16), max_size=2))
def test_damaged_zeromq_messages(data, extra_frames):
    counted_exactly_once(lambda: ZmqListener._decode([data, *extra_frames]))

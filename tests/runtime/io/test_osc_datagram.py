"""OSC datagrams are checked before python-osc parses them.

The datagram from the fault report (a bundle whose element size is -8) sent python-osc
1.10 into an endless loop inside the control listener. Here it goes to a real listener
on a real UDP socket, and a `/dyad/stop` after it must still be obeyed. Hypothesis then
builds structurally malformed bundles byte by byte (random element sizes, nesting, cut
and padded strings): every one is either refused by the checker or parsed by python-osc,
and well-formed packets from python-osc's own builder always pass.
"""

from __future__ import annotations

import logging
import socket
import struct
import subprocess
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from dyad.runtime.io.control_listeners import OscListener
from dyad.runtime.log_cap import LogCap
from dyad.runtime.io.osc_datagram import BadDatagram, check_datagram
from engine_receivers import free_port
from test_control_fuzz import hub_with_bindings

REPORTED = b"#bundle\0" + b"\0" * 8 + b"\xff\xff\xff\xf8" + b"x" * 8  # the datagram of the report's command, byte for byte
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def test_python_osc_alone_never_returns_on_the_reported_datagram():
    """The original failure, kept as evidence that the check is needed: python-osc loops on it."""
    code = f"from pythonosc.osc_packet import OscPacket; OscPacket({REPORTED!r})"
    try:
        subprocess.run([sys.executable, "-c", code], timeout=3, capture_output=True)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError("python-osc returned: this python-osc no longer loops (the check is still right)")


def test_reported_datagram_is_refused_and_the_listener_still_obeys_stop():
    hub, applied = hub_with_bindings()
    port = free_port()
    listener = OscListener(f"osc://127.0.0.1:{port}", hub)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.sendto(REPORTED, ("127.0.0.1", port))
        udp.sendto(message("/dyad/stop"), ("127.0.0.1", port))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and applied["stop"] == 0:
            time.sleep(0.02)
    finally:
        udp.close()
        listener.close()
    summary = hub.summary()
    assert applied["stop"] == 1
    assert summary["malformed"] == 1 and summary["received"] == 2
    assert "element size -8" in summary["last_problem"] or "element size -8" in str(hub.counts)


def test_checker_names_what_is_wrong():
    for data, why in [
        (REPORTED, "element size -8"),
        (b"#bundle\0" + b"\0" * 8 + struct.pack(">i", 0), "element size 0"),
        (b"#bundle\0" + b"\0" * 8 + struct.pack(">i", 4096) + b"/a\0\0", "within"),
        (b"/dyad/stop\0\0,i\0\0", "cut off"),
        (b"/dyad\0\0\0,x\0\0", "unsupported type tag"),
        (b"/dyad/stop\0\0,\0\0\0" + b"\0" * 4, "bytes after"),
        (b"/abc", "no terminating NUL"),
        (b"nope", "neither"),
    ]:
        try:
            check_datagram(data)
        except BadDatagram as error:
            assert why in str(error), (data, str(error))
        else:
            raise AssertionError(f"{data!r} was accepted")
    nested = message("/dyad/stop")
    for _ in range(12):
        nested = b"#bundle\0" + b"\0" * 8 + struct.pack(">i", len(nested)) + nested
    try:
        check_datagram(nested)
    except BadDatagram as error:
        assert "nested" in str(error)
    else:
        raise AssertionError("12-deep bundle accepted")


ARGS = st.lists(
    st.one_of(st.integers(-(2**31), 2**31 - 1), st.floats(width=32, allow_nan=False), st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=20),
              st.booleans(), st.binary(min_size=1, max_size=20)),
    max_size=5,
)  # fmt: skip


@FUZZ
@given(args=ARGS, depth=st.integers(0, 3))
def test_everything_python_osc_builds_passes(args, depth):
    data = message("/dyad/transcript", *args)
    for _ in range(depth):
        bundle = OscBundleBuilder(IMMEDIATELY)
        bundle.add_content(OscBundle(data) if data.startswith(b"#") else OscMessage(data))
        data = bundle.build().dgram
    check_datagram(data)
    assert OscPacket(data).messages[0].message.address == "/dyad/transcript"


ELEMENT = st.one_of(
    st.builds(lambda a: message("/dyad/stop") if a else message("/dyad/budget", 200.0), st.booleans()),
    st.binary(max_size=24),
)


@st.composite
def malformed_bundles(draw, depth=0):
    """A bundle built byte by byte: element sizes drawn independently of the element bytes."""
    parts = [b"#bundle\0", draw(st.binary(min_size=8, max_size=8))]
    for _ in range(draw(st.integers(0, 4))):
        element = draw(malformed_bundles(depth + 1)) if depth < 3 and draw(st.booleans()) else draw(ELEMENT)
        honest = draw(st.booleans())
        size = len(element) if honest else draw(st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([-8, -4, -1, 0, 1, 3, 4096])))
        parts += [struct.pack(">i", size), element]
    data = b"".join(parts)
    return data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


@FUZZ
@given(data=malformed_bundles())
def test_structured_malformed_bundles_are_refused_or_parse(data):
    hub, _ = hub_with_bindings()
    listener = OscListener.__new__(OscListener)  # the decoder only: no socket needed
    listener.prefix = "/dyad"
    started = time.monotonic()
    try:
        check_datagram(data)
    except BadDatagram:
        pass
    else:
        OscPacket(data)  # the checker's promise: python-osc parses what it lets through (and returns)
    from dyad.runtime.io.control_listeners import _dispatch

    _dispatch(hub, lambda: listener._decode(data))
    assert hub.summary()["received"] >= 1
    assert time.monotonic() - started < 2.0


def test_a_library_log_flood_is_capped():
    now = [0.0]
    cap = LogCap(burst=20, window_s=60.0, clock=lambda: now[0])
    records = [logging.LogRecord("root", logging.WARNING, __file__, 1, "Could not identify content type", None, None) for _ in range(50_000)]
    passed = sum(cap.filter(record) for record in records)
    assert passed == 20 and cap.dropped_total == 49_980
    now[0] = 61.0
    late = logging.LogRecord("root", logging.WARNING, __file__, 1, "again", None, None)
    assert cap.filter(late) and "49980 earlier lines of root suppressed" in late.getMessage()
    other = logging.LogRecord("dyad.health", logging.INFO, __file__, 1, "health", None, None)
    assert cap.filter(other)

"""Control input under attack: fuzzed parsers (hypothesis), real listeners fed garbage, sender allowlists,
loopback-only binds, bounded sizes, and no path outside --out.

Every parser path is fuzzed: OSC address + arguments, raw OSC datagrams (random and
truncated real packets), raw ZeroMQ payloads (random bytes, JSON documents of any
shape, and well-formed messages with wrong types, huge strings, NaN, huge ints,
unknown persons). The property: a parser returns a Command or raises one of the two
control errors, and the hub counts every input exactly once, never raising.
"""

from __future__ import annotations

import json
import math
import socket
import time

import pytest
import zmq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.io.control import (
    FIELDS,
    MAX_TEXT_CHARS,
    Command,
    ControlBindings,
    MalformedControl,
    UnknownControl,
    check_budget,
    parse_json,
    parse_osc,
)
from dyad.runtime.io.control_hub import ControlHub
from dyad.runtime.io.control_listeners import OscListener, ZmqListener, _dispatch
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState
from dyad.runtime.config import NetworkPolicy
from dyad.runtime.io.recording import Recording
from dyad.runtime.io.sinks import SinkSet, sink_from_url
from engine_receivers import free_port

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = sorted(FIELDS)
NASTY_NUMBERS = st.one_of(
    st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats(allow_nan=True, allow_infinity=True), st.booleans()
)
NASTY_TEXT = st.one_of(st.text(max_size=50), st.just("x" * (MAX_TEXT_CHARS + 1)), st.sampled_from(["sit", "walk", "stand", "../../etc/passwd", ""]))
VALUES = st.one_of(NASTY_NUMBERS, NASTY_TEXT, st.none(), st.binary(max_size=20), st.lists(st.integers(), max_size=3))
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


def hub_with_bindings(record=None) -> tuple[ControlHub, dict]:
    applied: dict = {"state": ControlState(), "budget": [], "record": [], "stop": 0}

    def set_state(state):
        applied["state"] = state

    def record_default(on):
        raise ValueError("no --out folder to record into")

    bindings = ControlBindings(
        get_state=lambda: applied["state"],
        set_state=set_state,
        set_budget_ms=lambda ms: applied["budget"].append(check_budget(ms, 105.0)),
        record=record or record_default,
        stop=lambda: applied.__setitem__("stop", applied["stop"] + 1),
        now_ns=time.monotonic_ns,
    )
    return ControlHub(bindings), applied


def assert_command_or_control_error(call) -> Command | None:
    try:
        command = call()
    except (MalformedControl, UnknownControl):
        return None
    assert isinstance(command, Command) and command.kind in FIELDS
    for value in (command.start, command.end, command.ms):
        assert math.isfinite(value)
    assert command.person in (0, 1) and len(command.text) <= MAX_TEXT_CHARS
    return command


def counted_once(hub: ControlHub, decode) -> None:
    before = hub.summary()["received"]
    _dispatch(hub, decode)  # must never raise
    assert hub.summary()["received"] >= before + 1


@FUZZ
@given(kind=st.one_of(st.sampled_from(KINDS), st.text(max_size=30)), args=st.lists(VALUES, max_size=6))
def test_osc_address_and_arguments(kind, args):
    assert_command_or_control_error(lambda: parse_osc(f"/dyad/{kind}", args))


@FUZZ
@given(kind=st.sampled_from(KINDS), fields=st.dictionaries(st.sampled_from(["person", "action", "facing", "text", "start", "end", "on", "ms", "path"]), VALUES))
def test_json_messages_with_wrong_types_huge_values_and_unknown_persons(kind, fields):
    safe = {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in fields.items()}
    payload = json.dumps({"type": kind, **safe}).encode()  # NaN and Infinity go out as JSON's NaN / Infinity
    assert_command_or_control_error(lambda: parse_json(payload))
    hub, _ = hub_with_bindings()
    counted_once(hub, lambda: [parse_json(payload)])


@FUZZ
@given(document=JSON_VALUES)
def test_json_documents_of_any_shape(document):
    payload = json.dumps(document).encode()
    assert_command_or_control_error(lambda: parse_json(payload))


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_on_both_transports(data):
    hub, _ = hub_with_bindings()
    counted_once(hub, lambda: ZmqListener._decode([data]))
    listener = OscListener.__new__(OscListener)  # the decoder only: no socket needed
    listener.prefix = "/dyad"
    counted_once(hub, lambda: listener._decode(data))


def osc_packet(address: str, args: list, bundle: bool) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    message = builder.build()
    if not bundle:
        return message.dgram
    wrapper = OscBundleBuilder(IMMEDIATELY)
    wrapper.add_content(message)
    return wrapper.build().dgram


@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    args=st.lists(st.one_of(st.integers(-(2**31), 2**31 - 1), st.floats(width=32), st.text(max_size=40), st.booleans()), max_size=5),
    bundle=st.booleans(),
    cut=st.integers(min_value=0, max_value=400),
)
def test_truncated_osc_packets(kind, args, bundle, cut):
    try:
        data = osc_packet(f"/dyad/{kind}", args, bundle)
    except UnicodeDecodeError:
        # python-osc's builder pads non-ASCII strings by characters, not bytes, and then fails to
        # re-parse its own datagram: no packet to truncate (random bytes are covered above)
        assume(False)
    listener = OscListener.__new__(OscListener)
    listener.prefix = "/dyad"
    hub, _ = hub_with_bindings()
    counted_once(hub, lambda: listener._decode(data[: min(cut, len(data))]))


def test_deep_nesting_and_oversize_messages_are_malformed():
    with pytest.raises(MalformedControl, match="nested"):
        parse_json(b"[" * 50_000)
    with pytest.raises(MalformedControl, match="at most"):
        parse_json(b'{"type":"stop","pad":"' + b"x" * 70_000 + b'"}')
    with pytest.raises(MalformedControl, match="characters"):
        parse_osc("/dyad/transcript", [0, "x" * (MAX_TEXT_CHARS + 1), 0.0, 1.0])
    with pytest.raises(MalformedControl, match="finite"):
        parse_json(b'{"type":"budget","ms":' + b"9" * 400 + b"}")


def test_real_listeners_survive_garbage_and_still_obey(tmp_path):
    hub, applied = hub_with_bindings()
    osc_port, zmq_port = free_port(), free_port(socket.SOCK_STREAM)
    osc = OscListener(f"osc://127.0.0.1:{osc_port}", hub)
    pull = ZmqListener(f"zmq://tcp://127.0.0.1:{zmq_port}", hub)
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{zmq_port}")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    garbage = [b"", b"\x00" * 7, b"/dyad/action\x00\x00\x00\x00,is", b"#bundle\x00" + b"\xff" * 30, b"x" * 60_000,
               osc_packet("/dyad/budget", [float("nan")], False), osc_packet("/dyad/action", [7, "sit"], False)]  # fmt: skip
    try:
        for data in garbage:
            udp.sendto(data, ("127.0.0.1", osc_port))
            push.send(data)
        push.send(b'{"type":"transcript","person":1,"text":"hi","start":NaN,"end":1}')
        udp.sendto(osc_packet("/dyad/stop", [], False), ("127.0.0.1", osc_port))
        push.send(b'{"type":"facing","facing":false}')
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and hub.summary()["received"] < 2 * len(garbage) + 3:
            time.sleep(0.05)
    finally:
        udp.close()
        push.close(0)
        context.term()
        osc.close()
        pull.close()
    summary = hub.summary()
    assert summary["received"] == 2 * len(garbage) + 3
    assert summary["applied"] == {"facing": 1, "stop": 1} and applied["stop"] == 1 and applied["state"].facing is False
    assert summary["malformed"] + summary["unknown"] + summary["rejected"] == 2 * len(garbage) + 1


def test_binding_beyond_loopback_needs_the_flag_and_control_needs_an_allowlist():
    hub, _ = hub_with_bindings()
    with pytest.raises(DyadError, match="--allow-remote"):
        OscListener("osc://0.0.0.0:9000", hub)
    hub.policy = NetworkPolicy(allow_remote=True)
    with pytest.raises(DyadError, match="--allow-from"):
        ZmqListener("zmq://tcp://*:5560", hub)
    skeleton = load_default_skeleton()
    for url in ("bvhstream://0.0.0.0:7001", "zmq://tcp://*:5556", "view://0.0.0.0:8765"):
        with pytest.raises(DyadError, match="--allow-remote") as error:
            sink_from_url(url, skeleton)
        assert url in str(error.value)


def test_allowlist_drops_other_senders_on_both_transports():
    """Senders on 127.0.0.1 and 127.0.0.2 (both loopback); only 127.0.0.2 is allowed."""
    hub, applied = hub_with_bindings()
    hub.policy = NetworkPolicy(allow_from=("127.0.0.2",))
    osc_port, zmq_port = free_port(), free_port(socket.SOCK_STREAM)
    osc = OscListener(f"osc://127.0.0.1:{osc_port}", hub)
    pull = ZmqListener(f"zmq://tcp://127.0.0.1:{zmq_port}", hub)
    context = zmq.Context()
    try:
        for source in ("127.0.0.1", "127.0.0.2"):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((source, 0))
            udp.sendto(osc_packet("/dyad/action", [0, "sit"], False), ("127.0.0.1", osc_port))
            udp.close()
            push = context.socket(zmq.PUSH)
            push.connect(f"tcp://{source}:0;127.0.0.1:{zmq_port}")  # connect from this source address
            push.send(json.dumps({"type": "action", "person": 1, "action": "walk"}).encode())
            time.sleep(0.3)
            push.close(0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and hub.summary()["applied"].get("action", 0) < 2:
            time.sleep(0.05)
    finally:
        context.term()
        osc.close()
        pull.close()
    summary = hub.summary()
    assert summary["applied"] == {"action": 2} and applied["state"].actions == ("sit", "walk")
    assert summary["refused_sender"] >= 2  # one datagram, at least one refused ZeroMQ handshake


def test_no_control_message_reaches_a_path_outside_the_output_folder(tmp_path):
    out = tmp_path / "out"
    recording = Recording(out, load_default_skeleton(), 30, at_start=False)
    recording.first_take()
    sinks = SinkSet([], 30, block_when_full=False)
    recording.attach(sinks)
    hub, _ = hub_with_bindings(record=lambda on: recording.start() if on else recording.stop())
    hostile = [
        {"type": "record", "on": True, "path": "/tmp/evil", "dir": "../../x", "file": "../p0.bvh"},
        {"type": "record", "on": "../../outside"},
        {"type": "record", "on": False},
        {"type": "record", "on": 1, "take": "../../../etc"},
        {"type": "record", "on": 0},
        {"type": "../record", "on": 1},
        {"type": "transcript", "person": 0, "text": "../../etc/passwd", "start": 0, "end": 1},
    ]
    for message in hostile:
        _dispatch(hub, lambda m=message: [parse_json(json.dumps(m).encode())])
    _dispatch(hub, lambda: [parse_osc("/dyad/record", ["/etc/passwd"])])
    sinks.close()
    created = {p for p in tmp_path.rglob("*")}
    assert created and all(p == out or out in p.parents for p in created)
    assert recording.takes == [str(out), str(out / "take002")]

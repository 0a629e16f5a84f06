"""The transports of control input: an OSC UDP listener and a ZeroMQ PULL listener, one thread each.

`--control osc://127.0.0.1:9000[?prefix=/dyad]` and `--control zmq://tcp://127.0.0.1:5560`.
Each listener decodes, validates (`dyad.runtime.control`) and hands commands to
the hub; whatever does not decode is counted there and dropped.
"""

from __future__ import annotations

import socket
import threading

from dyad.runtime.control import ControlBindings, MalformedControl, UnknownControl, check_budget, parse_json, parse_osc
from dyad.runtime.endpoints import parse_endpoint, zmq_endpoint
from dyad.runtime.errors import DyadError

POLL_S = 0.2  # how soon a listener notices close()
MAX_DATAGRAM = 65536


def _dispatch(hub, decode) -> None:
    """Run one decode step; every failure becomes a counted problem, never an exception."""
    try:
        commands = decode()
    except MalformedControl as error:
        hub.problem("malformed", str(error))
        return
    except UnknownControl as error:
        hub.problem("unknown", str(error))
        return
    for command in commands:
        hub.apply(command)


class OscListener:
    def __init__(self, url: str, hub) -> None:
        endpoint = parse_endpoint(url, "control")
        unknown = sorted(set(endpoint.options) - {"prefix"})
        if unknown:
            raise endpoint.error(f"unknown option '{unknown[0]}' (known: prefix)")
        if len(endpoint.ports) != 1:
            raise endpoint.error("needs one port")
        self.url = url
        self.prefix = "/" + endpoint.options.get("prefix", "/dyad").strip("/")
        self._hub = hub
        try:
            family = socket.getaddrinfo(endpoint.host, endpoint.ports[0], type=socket.SOCK_DGRAM)[0][0]
            self._socket = socket.socket(family, socket.SOCK_DGRAM)
            self._socket.bind((endpoint.host, endpoint.ports[0]))
        except OSError as error:
            raise endpoint.error(f"cannot listen: {error.strerror or error}") from None
        self._socket.settimeout(POLL_S)
        self.port = self._socket.getsockname()[1]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"control-osc-{self.port}", daemon=True)
        self._thread.start()

    def _decode(self, data: bytes) -> list:
        from pythonosc.osc_packet import OscPacket, ParseError

        try:
            messages = OscPacket(data).messages
        except ParseError as error:
            raise MalformedControl(f"not an OSC packet ({len(data)} bytes): {error}") from None
        commands = []
        for timed in messages:  # a bundle: every message is checked before any is applied
            commands.append(parse_osc(timed.message.address, list(timed.message.params), self.prefix))
        return commands

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                data = self._socket.recv(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            _dispatch(self._hub, lambda: self._decode(data))

    def close(self) -> None:
        self._closing.set()
        self._thread.join(2 * POLL_S + 1)
        self._socket.close()


class ZmqListener:
    def __init__(self, url: str, hub) -> None:
        import zmq

        self.url = url
        self.endpoint = zmq_endpoint(url, "control")
        self._hub = hub
        self._socket = zmq.Context.instance().socket(zmq.PULL)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, 1 << 20)  # a control message is small; refuse floods
        try:
            self._socket.bind(self.endpoint)
        except zmq.ZMQError as error:
            self._socket.close(0)
            raise DyadError(f"control '{url}': cannot listen on {self.endpoint}: {error}") from None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="control-zmq", daemon=True)
        self._thread.start()

    @staticmethod
    def _decode(parts: list[bytes]) -> list:
        if len(parts) != 1:
            raise MalformedControl(f"expected one JSON frame per message, got {len(parts)} frames")
        return [parse_json(parts[0])]

    def _run(self) -> None:
        import zmq

        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        while not self._closing.is_set():
            if not dict(poller.poll(int(POLL_S * 1000))):
                continue
            parts = self._socket.recv_multipart(zmq.NOBLOCK)
            _dispatch(self._hub, lambda: self._decode(parts))

    def close(self) -> None:
        self._closing.set()
        self._thread.join(2 * POLL_S + 1)
        self._socket.close(0)


def open_listener(url: str, hub) -> OscListener | ZmqListener:
    scheme = url.partition("://")[0]
    if scheme == "osc":
        return OscListener(url, hub)
    if scheme == "zmq":
        return ZmqListener(url, hub)
    raise DyadError(f"control '{url}': unknown scheme '{scheme}' (supported: osc, zmq)")


def session_bindings(session) -> ControlBindings:
    """Bind control messages to a Session: the scheduler's controls, the emitter's budget, recording, stop."""
    scheduler = session.scheduler
    floor_ms = session.config.minimum_budget_ms()

    def set_state(state) -> None:
        scheduler.controls = state  # one attribute store: the next window sees the whole new state

    def set_budget_ms(ms: float) -> None:
        session.emitter.set_budget_ns(check_budget(ms, floor_ms))

    def record(on: bool) -> None:
        session.recording.start() if on else session.recording.stop()

    return ControlBindings(
        get_state=lambda: scheduler.controls,
        set_state=set_state,
        set_budget_ms=set_budget_ms,
        record=record,
        stop=session.stop,
        now_ns=session.clock.now_ns,
    )

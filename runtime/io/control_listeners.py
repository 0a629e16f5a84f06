"""The transports of control input: an OSC UDP listener and a ZeroMQ PULL listener, one thread each.

`--control osc://127.0.0.1:9000[?prefix=/dyad]` and `--control zmq://tcp://127.0.0.1:5560`.
Each listener decodes, validates (`dyad.runtime.io.control`) and hands commands to
the hub; whatever does not decode is counted there and dropped. Nothing a sender
does ends a listener's thread: any exception while decoding is a counted problem.
Both check the bind address and the sender allowlist of the hub's NetworkPolicy:
OSC drops datagrams from other addresses itself, ZeroMQ refuses their connections
through a ZAP handler (pyzmq's authenticator, NULL mechanism + address allowlist).
"""

from __future__ import annotations

import socket
import threading

import logging

from dyad.runtime.io.control import (
    MAX_MESSAGE_BYTES,
    MalformedControl,
    UnknownControl,
    parse_json,
    parse_osc,
)
from dyad.runtime.io.endpoints import parse_endpoint, zmq_endpoint
from dyad.runtime.io.net_policy import check_bind, sender_allowed, zmq_bind_host
from dyad.runtime.io.osc_datagram import BadDatagram, check_datagram
from dyad.runtime.errors import DyadError

log = logging.getLogger("dyad.control")

POLL_S = 0.2  # how soon a listener notices close()


def _dispatch(hub, decode) -> list:
    """Run one decode step and apply what it gave (returned); every failure becomes a counted problem, never an exception."""
    try:
        commands = decode()
    except MalformedControl as error:
        hub.problem("malformed", str(error))
        return []
    except UnknownControl as error:
        hub.problem("unknown", str(error))
        return []
    except Exception as error:  # a decoder bug must not end the listener: count it like bad input
        hub.problem("malformed", f"undecodable ({type(error).__name__}: {str(error)[:80]})")
        return []
    for command in commands:
        hub.apply(command)
    return commands


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
        check_bind(hub.policy, endpoint.host, url, "control")
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

        try:  # python-osc trusts bundle element sizes (a negative one never returns): check the bytes first
            check_datagram(data)
        except BadDatagram as error:
            raise MalformedControl(f"not an OSC packet ({len(data)} bytes): {str(error)[:120]}") from None
        try:
            messages = OscPacket(data).messages
        except (ParseError, ValueError, IndexError, TypeError, UnicodeError) as error:  # truncated or garbage bytes
            raise MalformedControl(f"not an OSC packet ({len(data)} bytes): {str(error)[:80]}") from None
        if not messages:  # an empty (or cut-off) bundle carries nothing to apply; still counted
            raise MalformedControl(f"OSC bundle with no messages ({len(data)} bytes)")
        commands = []
        for timed in messages:  # a bundle: every message is checked before any is applied
            commands.append(parse_osc(timed.message.address, list(timed.message.params), self.prefix))
        return commands

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                data, sender = self._socket.recvfrom(MAX_MESSAGE_BYTES)
            except TimeoutError:
                continue
            except OSError:
                return
            if not sender_allowed(self._hub.policy, sender[0]):
                self._hub.problem("refused_sender", f"datagram from {sender[0]}, not in --allow-from")
                continue
            if any(c.kind == "latency" for c in _dispatch(self._hub, lambda: self._decode(data))):
                self._reply_latency(sender)

    def _reply_latency(self, sender) -> None:
        """Tell the asker D (and the floor and fps), so a host can delay its audio by exactly D."""
        from pythonosc.osc_message_builder import OscMessageBuilder

        budget_ms, floor_ms, fps = self._hub.bindings.latency()
        message = OscMessageBuilder(address=f"{self.prefix}/latency")
        for value, kind in ((budget_ms, "f"), (floor_ms, "f"), (fps, "i")):
            message.add_arg(value, kind)
        try:
            self._socket.sendto(message.build().dgram, sender)
        except OSError as error:  # the asker went away: nothing to tell, the session goes on
            self._hub.problem("rejected", f"latency: cannot reply to {sender[0]}: {error.strerror or error}")

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
        host = zmq_bind_host(self.endpoint)
        if host is not None:
            check_bind(hub.policy, host, url, "control")
        # An allowlist needs its own context: the ZAP handler serves every socket of one context.
        self._context = zmq.Context() if hub.policy.allow_from else zmq.Context.instance()
        self._auth = _start_authenticator(self._context, hub) if hub.policy.allow_from else None
        self._socket = self._context.socket(zmq.PULL)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # a control message is small; the peer is cut off
        if self._auth is not None:
            self._socket.zap_domain = b"dyad-control"  # NULL mechanism consults ZAP only with a domain set
        try:
            self._socket.bind(self.endpoint)
        except zmq.ZMQError as error:
            self._close_socket()
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
            try:
                parts = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                continue
            _dispatch(self._hub, lambda: self._decode(parts))

    def _close_socket(self) -> None:
        self._socket.close(0)
        if self._auth is not None:
            self._auth.stop()
            self._context.term()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(2 * POLL_S + 1)
        self._close_socket()


def _start_authenticator(context, hub):
    """pyzmq's ZAP handler on `context`, allowing only --allow-from; each refusal is counted."""
    from zmq.auth.thread import ThreadAuthenticator

    class CountingAuthenticator(ThreadAuthenticator):
        def _send_zap_reply(self, request_id, status_code, status_text, user_id="anonymous"):
            if status_code != b"200":
                hub.problem("refused_sender", f"ZeroMQ connection refused: {status_text!r}")
            return super()._send_zap_reply(request_id, status_code, status_text, user_id)

    auth = CountingAuthenticator(context, log=logging.getLogger("dyad.control.zap"))
    auth.start()
    auth.allow(*hub.policy.allow_from)
    return auth


def open_listener(url: str, hub) -> OscListener | ZmqListener:
    scheme = url.partition("://")[0]
    if scheme == "osc":
        return OscListener(url, hub)
    if scheme == "zmq":
        return ZmqListener(url, hub)
    raise DyadError(f"control '{url}': unknown scheme '{scheme}' (supported: osc, zmq)")

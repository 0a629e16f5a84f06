"""Independent receivers for the engine sink tests: none of them imports dyad's encoders.

- VMC: liblo's `oscdump` (Debian liblo-tools), a separate C program, one line per message.
- Plain OSC: python-osc's own UDP server.
- Live Link Face: a decoder written here from the published v6 layout (../shared/PROTOCOLS.md).
- Live BVH: a raw TCP client; the lines are turned into BVH files for PyPI parsers.
- ZeroMQ: a plain SUB socket.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import zmq


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OscDump:
    """`oscdump -L PORT` writing to a file; `messages()` parses its lines."""

    def __init__(self, port: int, path: Path) -> None:
        self.port = port
        self.path = path
        self._out = open(path, "w")
        self._process = subprocess.Popen(["oscdump", "-L", str(port)], stdout=self._out, stderr=subprocess.STDOUT)
        _wait_udp_bound(port)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(5)
        self._out.close()

    def messages(self) -> list[tuple[str, str, list]]:
        """(address, type tags, values) per line; s -> str, i -> int, f -> float."""
        out = []
        for line in self.path.read_text().splitlines():
            tokens = line.split()
            if len(tokens) < 2 or not tokens[1].startswith("/"):
                continue  # liblo diagnostics
            tags = tokens[2] if len(tokens) > 2 else ""
            values: list = []
            for tag, token in zip(tags, tokens[3:]):
                values.append(token.strip('"') if tag == "s" else int(token) if tag == "i" else float(token))
            out.append((tokens[1], tags, values))
        return out


def _wait_udp_bound(port: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return  # taken: the receiver is listening
        time.sleep(0.02)
    raise RuntimeError(f"nothing bound UDP port {port}")


class UdpCollector:
    """Receives raw datagrams on loopback in a thread, in arrival order."""

    def __init__(self, port: int = 0) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.socket.bind(("127.0.0.1", port))
        self.socket.settimeout(0.1)
        self.port = self.socket.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.socket.recv(65536))
            except TimeoutError:
                continue

    def stop(self) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join(2)
        self.socket.close()


def decode_live_link(packet: bytes) -> dict:
    """Live Link Face v6, big-endian, from PROTOCOLS.md; strict: any leftover or missing byte fails."""
    offset = 0

    def take(fmt: str):
        nonlocal offset
        values = struct.unpack_from(fmt, packet, offset)
        offset += struct.calcsize(fmt)
        return values

    def string() -> str:
        nonlocal offset
        (length,) = take(">i")
        text = packet[offset : offset + length].decode("utf-8")
        offset += length
        return text

    (version,) = take(">B")
    device, subject = string(), string()
    frame, sub_frame, numerator, denominator = take(">ifii")
    (count,) = take(">B")
    values = take(f">{count}f")
    assert offset == len(packet), f"{len(packet) - offset} bytes left over"
    return {
        "version": version, "device": device, "subject": subject, "frame": frame, "sub_frame": sub_frame,
        "rate": (numerator, denominator), "count": count, "values": values,
    }  # fmt: skip


class PythonOscServer:
    """python-osc's BlockingOSCUDPServer on loopback: one thread, so messages keep arrival order."""

    def __init__(self) -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        self.messages: list[tuple[str, tuple]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.append((address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        time.sleep(0.2)
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(2)


class TcpLineClient:
    """Connects to the live BVH server and keeps everything it reads."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.socket.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            self.chunks.append(data)

    def text(self, timeout_s: float = 5.0) -> str:
        self._thread.join(timeout_s)  # the server closes the connection when the session ends
        return b"".join(self.chunks).decode("ascii")


class ZmqSubscriber:
    def __init__(self, port: int) -> None:
        self.socket = zmq.Context.instance().socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, 100000)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(f"tcp://127.0.0.1:{port}")
        self.messages: list[list[bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        while not self._stop.is_set():
            if dict(poller.poll(100)):
                self.messages.append(self.socket.recv_multipart())

    def stop(self) -> None:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join(2)
        self.socket.close(0)

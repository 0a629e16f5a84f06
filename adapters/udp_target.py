"""The UDP transport shared by the UDP sinks (Live Link Face, VMC, plain OSC)."""

from __future__ import annotations

import socket


class UdpTarget:
    """A CONNECTED, non-blocking UDP socket to one receiver.

    Connected on purpose: the OS then reports "nobody listens" (ICMP port
    unreachable) as a refused later send, so a closed port shows up as counted
    send errors instead of silence. Non-blocking: a full buffer is an error,
    never a stall. Every datagram of a batch is tried; one OSError per batch
    (with a stable text, so the sink's worker logs it once) marks the frame failed.
    """

    def __init__(self, host: str, port: int) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self.target = f"{host}:{port}"
        self.socket = socket.socket(family, kind, proto)
        self.socket.setblocking(False)
        self.socket.connect(address)
        self.sent = 0
        self.errors = 0
        self.last_error: str | None = None

    def send_all(self, datagrams: list[bytes]) -> None:
        errors = self.errors
        for datagram in datagrams:
            try:
                self.socket.send(datagram)
                self.sent += 1
            except OSError as error:
                self.errors += 1
                self.last_error = f"{self.target}: {error.strerror or error}"
        if self.errors > errors:
            raise OSError(f"send to {self.last_error}")

    def stats(self) -> dict:
        return {"datagrams_sent": self.sent, "send_errors": self.errors, "last_send_error": self.last_error}

    def close(self) -> None:
        self.socket.close()

"""The viewer's WebSocket answers only its own page: real `websockets` clients with foreign Origins are refused,
a request whose Host is a foreign name (DNS rebinding) is refused, and the page's own origin is served."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dyad.adapters.view_server import ViewServer
from dyad.models.skeleton import load_default_skeleton
from engine_receivers import free_port

pytestmark = pytest.mark.slow


@pytest.fixture()
def view():
    server = ViewServer("127.0.0.1", free_port(socket.SOCK_STREAM), load_default_skeleton(), fps=30)
    yield server
    server.close()


async def first_message(url: str, **options) -> dict:
    async with connect(url, open_timeout=5, **options) as websocket:
        return json.loads(await asyncio.wait_for(websocket.recv(), 5))


def test_foreign_origins_are_refused_and_the_page_origin_is_served(view):
    url = f"ws://127.0.0.1:{view.port}/stream"
    for origin in ("http://evil.example", "https://127.0.0.1.evil.example", "null", f"http://localhost:{view.port + 1}"):
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(first_message(url, origin=origin))
        assert refused.value.response.status_code == 403
    hello = asyncio.run(first_message(url, origin=f"http://127.0.0.1:{view.port}"))
    assert hello["type"] != "frame" and "joint_names" in json.dumps(hello)
    assert asyncio.run(first_message(url))  # no Origin at all: not a browser, no web page behind it
    assert view.stats()["refused_requests"] == 4


def raw_get(port: int, host: str, path: str = "/") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    return reply


def test_dns_rebinding_host_names_are_refused(view):
    for host in (f"rebind.attacker.example:{view.port}", "127.0.0.1:1", "127.0.0.1"):
        assert raw_get(view.port, host).startswith(b"HTTP/1.1 403")
        assert raw_get(view.port, host, "/stream").startswith(b"HTTP/1.1 403")
    for host in (f"127.0.0.1:{view.port}", f"localhost:{view.port}"):
        assert raw_get(view.port, host).startswith(b"HTTP/1.1 200")

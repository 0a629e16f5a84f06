"""Who may talk to the viewer: the page it served, and nothing a foreign web page can reach.

A browser lets any web page open a WebSocket to 127.0.0.1, and DNS rebinding lets
a foreign page's own host name resolve to 127.0.0.1. So every request is checked:

- Host must name this server by address: an IP literal or `localhost`, with the
  port the viewer listens on. A rebinding attack arrives with its own domain
  name in Host and is refused.
- A WebSocket handshake that carries Origin (every browser sends it) must come
  from the same origin as the page: `http://` + that Host. A page from anywhere
  else is refused. Tools that send no Origin (scripts, tests) are not browsers
  and cannot be steered by a web page, so they may connect.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def _host_and_port(authority: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(f"//{authority}")
        return (parts.hostname or ""), parts.port
    except ValueError:
        return None


def _names_this_machine(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def refusal(host_header: str | None, origin: str | None, port: int, websocket: bool) -> str | None:
    """Why the request must be refused, or None when it may go on."""
    parsed = _host_and_port(host_header or "")
    if parsed is None or not _names_this_machine(parsed[0]) or parsed[1] != port:
        return f"Host {host_header!r} is not this viewer (use http://127.0.0.1:{port}/)"
    if websocket and origin is not None and origin.rstrip("/").lower() != f"http://{host_header}".lower():
        return f"Origin {origin!r} is not this viewer's page"
    return None

"""Live browser viewer: an HTTP + WebSocket server on one local port.

GET /            the viewer page (adapters/viewer/index.html, viewer.js)
GET /vendor/...  three.js (ES module build), installed from the npm registry into adapters/viewer/node_modules
WS  /stream      a `skeleton` message on connect, then one `frame` message per frame

Each client has a one-slot mailbox: a browser that falls behind skips to the
newest frame instead of building a queue, and never slows the session (the
sink's `send` only hands the frame to the server's event loop).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import threading
from http import HTTPStatus
from pathlib import Path

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from dyad.adapters.local_origin import refusal
from dyad.adapters.sink_spec import SinkSpec, SinkTarget
from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.models.skeleton import Skeleton
from dyad.runtime.frames import FrameBundle, Sink

DEFAULT_PORT = 8765

VIEWER_DIR = Path(__file__).resolve().parent / "viewer"
THREE_BUILD = VIEWER_DIR / "node_modules" / "three" / "build"
THREE_FILES = ("three.module.js", "three.core.js")  # the ES module and the core it imports
STREAM_PATH = "/stream"


def skeleton_message(skeleton: Skeleton, fps: int) -> str:
    return json.dumps(
        {
            "type": "skeleton",
            "fps": fps,
            "joint_names": list(skeleton.joint_names),
            "parents": list(skeleton.parents),
            "offsets": np.round(skeleton.offsets, 4).tolist(),
            "face_names": list(LIVE_LINK_NAMES),
        }
    )


def frame_message(bundle: FrameBundle) -> str:
    people = [
        {
            "person": pose.person,
            "root": np.round(pose.root_position, 3).tolist(),
            "rotations": np.round(pose.joint_rotations.reshape(-1), 5).tolist(),
            "face": np.round(pose.face, 4).tolist(),
            "speaking": round(float(pose.speaking), 3),
        }
        for pose in bundle.people
    ]
    return json.dumps(
        {
            "type": "frame",
            "index": bundle.index,
            "fps": bundle.fps,
            "latency_ms": round(bundle.latency_ns / 1e6, 3),
            "late_ms": round((bundle.send_ns - bundle.target_ns) / 1e6, 3),
            "fallback": bundle.fallback,
            "people": people,
        },
        separators=(",", ":"),
    )


class _Client:
    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.mailbox: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self.skipped = 0

    def offer(self, message: str) -> None:
        if self.mailbox.full():
            self.mailbox.get_nowait()
            self.skipped += 1
        self.mailbox.put_nowait(message)


class ViewServer(Sink):
    """Sink that serves the viewer page and streams frames to every connected browser."""

    name = "view"

    def __init__(self, host: str, port: int, skeleton: Skeleton, fps: int) -> None:
        self.host = host
        self._hello = skeleton_message(skeleton, fps)
        self._clients: set[_Client] = set()
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.frames_offered = 0
        self.refused = 0  # requests refused for their Host or Origin
        self.port = port
        self._thread = threading.Thread(target=self._run, args=(host, port), name="view-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise OSError(f"cannot serve the viewer on {host}:{port}: {self._error}") from self._error
        self.port = self._server.sockets[0].getsockname()[1] if self._server else port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    # -- server thread ---------------------------------------------------------
    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        async def start() -> Server:
            return await serve(self._handle, host, port, process_request=self._http, max_size=2**16, ping_interval=None, close_timeout=1)

        try:
            self._server = self._loop.run_until_complete(start())
        except Exception as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        why = refusal(request.headers.get("Host"), request.headers.get("Origin"), self.port, websocket=path == STREAM_PATH)
        if why is not None:  # a foreign web page, or DNS rebinding: nothing here is for it
            self.refused += 1
            return _text_response(HTTPStatus.FORBIDDEN, why)
        if path == STREAM_PATH:
            return None  # carry on with the WebSocket handshake
        if path in ("/", "/index.html"):
            return _file_response(VIEWER_DIR / "index.html")
        if path == "/viewer.js":
            return _file_response(VIEWER_DIR / "viewer.js")
        name = path.removeprefix("/vendor/")
        if path.startswith("/vendor/") and name in THREE_FILES:
            if not (THREE_BUILD / name).exists():
                return _text_response(HTTPStatus.NOT_FOUND, f"three.js is not installed: run `npm ci --prefix {VIEWER_DIR}` (./dev.sh does)")
            return _file_response(THREE_BUILD / name)
        return _text_response(HTTPStatus.NOT_FOUND, "not found")

    async def _handle(self, connection: ServerConnection) -> None:
        client = _Client(connection)
        self._clients.add(client)
        try:
            await connection.send(self._hello)
            while True:
                await connection.send(await client.mailbox.get())
        except Exception:  # a browser closing its tab is normal, not an error
            pass
        finally:
            self._clients.discard(client)

    def _broadcast(self, message: str) -> None:
        for client in list(self._clients):
            client.offer(message)

    # -- sink API (any thread) -------------------------------------------------
    @property
    def clients(self) -> int:
        return len(self._clients)

    def stats(self) -> dict:
        return {"clients": self.clients, "refused_requests": self.refused}

    def send(self, bundle: FrameBundle) -> None:
        self.frames_offered += 1
        if self._clients:
            self._loop.call_soon_threadsafe(self._broadcast, frame_message(bundle))

    def close(self) -> None:
        if self._server is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                future.result(10)
            except Exception:
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        """Close the listener and every connection, and let their tasks finish before the loop stops."""
        self._server.close()
        # A handler waits on its mailbox, not its socket: with no frames flowing it would never notice
        # the close, so the handlers are cancelled before waiting for the server.
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()


def _file_response(path: Path) -> Response:
    body = path.read_bytes()
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        kind = "text/javascript"
    headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))), ("Cache-Control", "no-cache")])
    return Response(HTTPStatus.OK, "OK", headers, body)


def _text_response(status: HTTPStatus, text: str) -> Response:
    body = text.encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return Response(status, status.phrase, headers, body)



def _build(target: SinkTarget, skeleton: Skeleton, fps: int) -> ViewServer:
    return ViewServer(target.host, target.port, skeleton, fps)


SINK = SinkSpec(
    scheme="view", usage="view://HOST:PORT", purpose="the live browser viewer (`dyad view`)",
    build=_build, default_port=DEFAULT_PORT, listens=True, port_note=f"default {DEFAULT_PORT}",
)  # fmt: skip

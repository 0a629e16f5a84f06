"""The server's HTTP/JSON API and /metrics, on one loopback port (aiohttp, on its own thread).

  POST   /sessions        JSON body (session_spec.py) -> 201 the session; 400 bad request; 503 at capacity
  GET    /sessions        every session the host knows (running, ended, failed)
  GET    /sessions/<id>   one session, with its health line and summary once ended
  DELETE /sessions/<id>   stop it; answers once its files and session.json are written
  GET    /metrics         Prometheus text (metrics.py)
  GET    /health          one line per session

Loopback only unless --allow-remote; --allow-from limits who may call; a request from another
site's page (a foreign Host or Origin) is refused, as for the viewer and the voice server.
"""

from __future__ import annotations

import asyncio
import json
import logging

from dyad.runtime.config import NetworkPolicy, SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.io.loop_thread import LoopThread
from dyad.runtime.io.net_policy import sender_allowed
from dyad.runtime.serve.host import AdmissionRefused, SessionHost
from dyad.runtime.serve.metrics import CONTENT_TYPE, ServeMetrics, health_lines
from dyad.runtime.serve.session_spec import parse_session_spec

log = logging.getLogger("dyad.serve")
MAX_BODY = 64 * 1024


class ServeApi:
    def __init__(self, host: SessionHost, base: SessionConfig, address: str, port: int, policy: NetworkPolicy) -> None:
        self.host, self.base, self.policy = host, base, policy
        self.metrics = ServeMetrics(host)
        self.address = address
        self._server_thread = LoopThread("serve-api")
        self._loop = self._server_thread.loop
        self._runner = None
        error = self._server_thread.start(lambda: self._start(port))
        if error is not None:
            raise DyadError(f"cannot serve the API on {address}:{port}: {error}")
        self.port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._server_thread.stop(10)

    # -- server thread ------------------------------------------------------------
    async def _start(self, port: int) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard()])
        app.router.add_post("/sessions", self._create)
        app.router.add_get("/sessions", self._list)
        app.router.add_get("/sessions/{id}", self._get)
        app.router.add_delete("/sessions/{id}", self._delete)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address, port).start()

    def _guard(self):
        from aiohttp import web

        from dyad.adapters.local_origin import refusal

        @web.middleware
        async def guard(request, handler):
            if not sender_allowed(self.policy, request.remote or ""):
                return _error(403, f"{request.remote} is not in --allow-from")
            if not self.policy.allow_remote:
                why = refusal(request.headers.get("Host"), request.headers.get("Origin"), self.port, websocket=request.method != "GET")
                if why is not None:
                    return _error(403, why)
            return await handler(request)

        return guard

    # -- handlers -------------------------------------------------------------------
    async def _create(self, request):
        try:
            body = json.loads(await request.text())
        except (ValueError, UnicodeDecodeError) as error:
            return _error(400, f"the body is not JSON: {error}")
        try:
            spec = parse_session_spec(body, self.base)
            hosted = await asyncio.get_running_loop().run_in_executor(None, self.host.create, spec)
        except AdmissionRefused as error:
            return _error(503, str(error))
        except DyadError as error:
            return _error(400, str(error))
        log.info("session %s started (%s)", hosted.id, hosted.inputs)
        return _json(201, hosted.describe())

    async def _list(self, request):
        return _json(200, {"sessions": [h.describe() for h in self.host.sessions()], "capacity": _capacity(self.host)})

    def _find(self, request):
        try:
            return self.host.get(request.match_info["id"])
        except KeyError:
            return None

    async def _get(self, request):
        hosted = self._find(request)
        if hosted is None:
            return _error(404, f"no session {request.match_info['id']}")
        return _json(200, {**hosted.describe(), "summary": hosted.summary})

    async def _delete(self, request):
        hosted = self._find(request)
        if hosted is None:
            return _error(404, f"no session {request.match_info['id']}")
        await asyncio.get_running_loop().run_in_executor(None, self.host.end, hosted.id)
        return _json(200, hosted.describe())

    async def _metrics(self, request):
        from aiohttp import web

        text = await asyncio.get_running_loop().run_in_executor(None, self.metrics.text)
        return web.Response(body=text, headers={"Content-Type": CONTENT_TYPE})

    async def _health(self, request):
        from aiohttp import web

        return web.Response(text=health_lines(self.host), content_type="text/plain")


def _capacity(host: SessionHost) -> dict:
    sessions = host.capacity.sessions
    return {"sessions": sessions if sessions != float("inf") else None, "source": host.capacity.source, "refused": host.refused}


def _json(status: int, payload: dict):
    from aiohttp import web

    return web.Response(status=status, text=json.dumps(payload, default=str) + "\n", content_type="application/json")


def _error(status: int, message: str):
    return _json(status, {"error": f"dyad: error: {message}"})

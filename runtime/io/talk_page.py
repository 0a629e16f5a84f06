"""The talk page: the live viewer (adapters/viewer) with talk.js, which sends the microphones over WHIP
and draws the frames that come back on the `dyad-frames` data channel instead of the viewer's WebSocket."""

from __future__ import annotations

from pathlib import Path

TALK_SCRIPTS = '<script>window.dyadExternalFrames = true;</script>\n<script type="module" src="/talk.js"></script>\n'


def _viewer_dir() -> Path:
    from dyad.adapters.view_server import VIEWER_DIR

    return VIEWER_DIR


def talk_html() -> str:
    """The viewer's page with the talk script in front of the viewer's own."""
    page = (_viewer_dir() / "index.html").read_text()
    marker = '<script type="module" src="/viewer.js"></script>'
    if marker not in page:
        raise RuntimeError(f"the viewer page no longer loads {marker}")
    return page.replace(marker, TALK_SCRIPTS + marker).replace("<title>dyad live view</title>", "<title>dyad talk</title>")


def add_talk_routes(app) -> None:
    from aiohttp import web

    from dyad.adapters.view_server import THREE_BUILD, THREE_FILES

    viewer = _viewer_dir()

    async def page(request):
        return web.Response(text=talk_html(), content_type="text/html", headers={"Cache-Control": "no-cache"})

    def script(path: Path):
        async def handler(request):
            if not path.exists():
                return web.Response(status=404, text=f"{path.name} is not installed: run `npm ci --prefix {viewer}` (./dev.sh does)")
            return web.Response(body=path.read_bytes(), content_type="text/javascript", headers={"Cache-Control": "no-cache"})

        return handler

    app.router.add_get("/", page)
    app.router.add_get("/index.html", page)
    app.router.add_get("/viewer.js", script(viewer / "viewer.js"))
    app.router.add_get("/talk.js", script(viewer / "talk.js"))
    for name in THREE_FILES:
        app.router.add_get(f"/vendor/{name}", script(THREE_BUILD / name))

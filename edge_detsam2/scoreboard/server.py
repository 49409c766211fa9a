"""The scoreboard's web side (aiohttp): one page, a snapshot, and a Server-Sent Events stream.

Routes:

- ``GET /``: the page (``static/index.html``; plain JavaScript, no download at run time).
- ``GET /api/snapshot``: every table as the hub knows it (JSON).
- ``GET /api/stream``: Server-Sent Events. The first message is the snapshot, then one
  message per change (event, state, stats, availability, camera, broker up/down). Each page
  has a bounded queue; a page that cannot keep up is disconnected and its browser reconnects
  (``EventSource`` does that by itself) and starts again from a fresh snapshot.
- ``GET /healthz``: ``{"broker_online": ...}`` for a reverse proxy or a monitor.

The server binds to ``127.0.0.1:8080`` by default; README "Scoreboard" says how to expose it
behind a reverse proxy. It has no login of its own and no write path: it only shows what the
broker says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from importlib import resources
from typing import Any

from edge_detsam2.config import AppConfig
from edge_detsam2.daemon.broker import host_port
from edge_detsam2.errors import EdgeDetSam2Error, UsageError
from edge_detsam2.scoreboard.hub import ScoreboardHub, Update

logger = logging.getLogger(__name__)

STATIC = ("index.html", "scoreboard.js", "scoreboard.css")
_TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css"}
QUEUE = 2000  # updates buffered per page before it is dropped (it reconnects with a snapshot)
KEEPALIVE_S = 15.0


def _static(name: str) -> bytes:
    return resources.files("edge_detsam2.scoreboard").joinpath("static", name).read_bytes()


class ScoreboardServer:
    """The hub plus the aiohttp app; ``serve_forever()`` (the CLI) or ``start()``/``stop()`` (a thread)."""

    def __init__(self, cfg: AppConfig, *, bind: str | None = None) -> None:
        self.cfg = cfg
        self.host, self.port = host_port(bind or cfg.scoreboard.bind, "--bind", "127.0.0.1:8080")
        sb = cfg.scoreboard
        client_id = sb.client_id or f"edge-detsam2-scoreboard-{socket.gethostname()}-{self.port}"
        self.hub = ScoreboardHub(cfg.mqtt, history=sb.history, client_id=client_id)
        self._pages: set[asyncio.Queue[Update | None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    # -- the app ---------------------------------------------------------------------------
    def app(self) -> Any:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._file)
        app.router.add_get("/api/snapshot", self._snapshot)
        app.router.add_get("/api/stream", self._stream)
        app.router.add_get("/healthz", self._health)
        return app

    async def _page(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")

    async def _file(self, request: Any) -> Any:
        from aiohttp import web

        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=_static(name), content_type=_TYPES[name.rsplit(".", 1)[-1]], charset="utf-8")

    def _snapshot_dict(self) -> Update:
        snap = self.hub.snapshot()
        snap["default_table"] = self.cfg.table.id
        snap["prefix"] = self.hub.prefix
        return snap

    async def _snapshot(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(self._snapshot_dict())

    async def _health(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"broker_online": self.hub.broker_online, "pages": len(self._pages)})

    async def _stream(self, request: Any) -> Any:
        from aiohttp import web

        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await resp.prepare(request)
        queue: asyncio.Queue[Update | None] = asyncio.Queue(maxsize=QUEUE)
        self._pages.add(queue)  # before the snapshot: no change can fall between the two
        try:
            await resp.write(_sse(self._snapshot_dict()))
            while True:
                try:
                    update = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if update is None:  # too slow, or the server stops: the browser reconnects
                    break
                await resp.write(_sse(update))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._pages.discard(queue)
        return resp

    def _broadcast(self, update: Update) -> None:  # on the event loop
        for queue in list(self._pages):
            try:
                queue.put_nowait(update)
            except asyncio.QueueFull:
                logger.warning("a scoreboard page fell %d updates behind; it reconnects with a snapshot", QUEUE)
                self._pages.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    # -- running ---------------------------------------------------------------------------
    async def _main(self) -> None:
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        loop = self._loop

        def forward(update: Update) -> None:  # paho's thread -> the event loop
            loop.call_soon_threadsafe(self._broadcast, update)

        self.hub.add_listener(forward)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError as exc:
                raise UsageError(
                    f"--bind {self.host}:{self.port}: cannot listen ({exc.strerror}); choose another host:port"
                ) from None
            # off the event loop: a refused login is a config error (exit 2), a broker that is down is retried
            await asyncio.get_running_loop().run_in_executor(None, self.hub.start, 3.0)
            logger.info("scoreboard at %s (broker %s:%d)", self.url, self.cfg.mqtt.host, self.cfg.mqtt.port)
            self._started.set()
            await self._stop.wait()
        finally:
            for queue in list(self._pages):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
            self.hub.close()
            await runner.cleanup()

    def serve_forever(self) -> None:
        """Block until SIGINT/SIGTERM."""
        import signal

        async def main() -> None:
            task = asyncio.create_task(self._main())
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop)
            await task

        asyncio.run(main())

    def request_stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def start(self, timeout_s: float = 10.0) -> None:
        """Serve from a background thread (the demo); raises what a failed start raised."""

        def run() -> None:
            try:
                asyncio.run(self._main())
            except BaseException as exc:  # handed to the caller of start()
                self._error = exc
                self._started.set()

        self._thread = threading.Thread(target=run, name="scoreboard", daemon=True)
        self._thread.start()
        self._started.wait(timeout_s)
        if self._error is not None:
            raise self._error
        if not self._started.is_set():
            raise EdgeDetSam2Error(f"scoreboard did not start within {timeout_s:.0f} s")

    def stop(self) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _sse(update: Update) -> bytes:
    return b"data: " + json.dumps(update, separators=(",", ":")).encode() + b"\n\n"


__all__ = ["ScoreboardServer"]

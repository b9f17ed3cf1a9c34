"""``GET /metrics`` and ``GET /healthz`` on their own loopback listener, for sessions without a
webhook listener (a desktop or headless session that receives no signals still wants to be
scraped and health-checked). With a webhook listener the same routes are served there instead.

Only these two routes exist here: nothing that accepts a signal or an order.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

__all__ = ["OpsListener", "OpsListenerError"]

log = logging.getLogger(__name__)


class OpsListenerError(RuntimeError):
    """The listener cannot start (the message names the address and the reason)."""


class OpsListener:
    def __init__(self, ops: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.ops = ops  # terminal.ops.Ops
        self.host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._started = 0.0
        self.requests = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def health_payload(self) -> dict[str, Any]:
        return {"ok": True, "uptime_s": round(time.monotonic() - self._started, 3), "url": self.url}

    async def start(self) -> None:
        if self._runner is not None:
            raise OpsListenerError("the ops listener is already started")
        app = web.Application(middlewares=[self._count])
        for method, path, handler in self.ops.routes(self.health_payload):
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OpsListenerError(
                f"cannot serve /metrics and /healthz on {self.host}:{self._port}: {exc.strerror or exc}"
            ) from None
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runner = runner
        self._started = time.monotonic()
        log.info("ops listener (/metrics, /healthz) at %s", self.url)

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        return await handler(request)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

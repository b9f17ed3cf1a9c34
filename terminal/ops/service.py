"""One App's operations surface: its metrics registry, correlation tracking, and the
``GET /metrics`` and ``GET /healthz`` routes on the embedded webhook listener (or, without one,
on their own loopback listener: ``terminal.ops.listener``).

Build it before the strategy host subscribes to the bus (``Automation.__init__`` does), so the
correlation id is set before the host spawns the intent tasks that inherit it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from terminal.ops.correlation import CorrelationTracker
from terminal.ops.feeds import feed_statuses
from terminal.ops.health import HealthPolicy, HealthReport, evaluate
from terminal.ops.metrics import build_registry

__all__ = ["Ops", "OpsConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpsConfig:
    health: HealthPolicy = field(default_factory=HealthPolicy)
    # /metrics names strategies, order counts and trading state; the listener may face the
    # internet (MarketRaker must reach it), so by default only loopback clients may scrape.
    metrics_remote: bool = False
    # Without a webhook listener, serve /metrics and /healthz on their own listener here
    # (port 0: a free one); None: not at all. With a webhook listener they are served there.
    listen_host: str = "127.0.0.1"
    listen_port: int | None = None


class Ops:
    def __init__(self, app: Any, config: OpsConfig | None = None) -> None:
        self.app = app
        self.config = config or OpsConfig()
        self.correlation = CorrelationTracker(app.bus)
        self.registry, self.orders = build_registry(app)
        self.scrapes = 0

    # ------------------------------------------------------------------ readings
    def metrics_text(self) -> bytes:
        return generate_latest(self.registry)

    def health(self) -> HealthReport:
        app = self.app
        oms = app.oms
        auto = app.automation
        return evaluate(
            mode=str(app.config.mode),
            trading_state=oms.risk.state if oms is not None else None,
            feeds=feed_statuses(app.adapters.values(), app.engine.feed_statuses()),
            armed=[f"{k}={a.state}" for k, a in auto.host.armed.items()] if auto is not None else [],
            journal_ok=self._journal_ok(),
            policy=self.config.health,
        )

    def _journal_ok(self) -> bool:
        journal = self.app.journal
        if journal is None:
            return False
        try:
            journal.schema_version  # noqa: B018 - a one-row PRAGMA: does the file answer at all
        except Exception as exc:
            log.warning("health: the journal does not answer (%s)", type(exc).__name__)
            return False
        return True

    # ------------------------------------------------------------------ routes
    def install(self, server: Any) -> None:
        """Serve /metrics and /healthz on ``server`` (a ``WebhookServer`` not yet started)."""
        for method, path, handler in self.routes(server.health_payload):
            server.add_route(method, path, handler)

    def routes(self, listener_health: Callable[[], dict[str, Any]]) -> list[tuple[str, str, Any]]:
        """(method, path, handler) of /metrics and /healthz; ``listener_health`` is the serving
        listener's own part of the health payload (its uptime, request counts)."""
        return [("GET", "/metrics", self._metrics), ("GET", "/healthz", self._make_healthz(listener_health))]

    async def _metrics(self, request: web.Request) -> web.Response:
        if not self.config.metrics_remote and not _is_loopback(request.remote):
            return web.json_response(
                {"ok": False, "error": "metrics are served to loopback clients only"}, status=403
            )
        self.scrapes += 1
        body = self.metrics_text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _make_healthz(self, listener_health: Callable[[], dict[str, Any]]) -> Any:
        async def healthz(request: web.Request) -> web.Response:
            payload = listener_health()  # the listener's uptime and request counts
            report = self.health()
            payload.update(report.as_json())
            return web.Response(
                text=json.dumps(payload, default=str),
                status=report.http_status,
                content_type="application/json",
            )

        return healthz

    def close(self) -> None:
        self.correlation.close()
        self.orders.close()


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False

"""The listener's route hook (real aiohttp server, real journal) and the order observer."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from terminal.bus import EventBus
from terminal.model import Order, OrderStatus, OrderType, Side, Venue
from terminal.ops.metrics import OrderObserver
from terminal.ops.service import _is_loopback
from terminal.signals.server import WebhookConfig, WebhookError, WebhookServer
from terminal.storage.journal import Journal
from terminal.trading.oms import OrderChanged
from tests.signals.support import public_pem


async def test_added_routes_are_served_and_healthz_can_be_replaced(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.sqlite3")
    server = WebhookServer(WebhookConfig(marketraker_key=public_pem()), bus=EventBus(), journal=journal)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="m 1\n")

    async def healthz(request: web.Request) -> web.Response:
        payload = server.health_payload()
        return web.json_response({**payload, "ok": False}, status=503)

    server.add_route("get", "/metrics", metrics)
    server.add_route("GET", "/healthz", healthz)
    with pytest.raises(WebhookError, match="already added"):
        server.add_route("GET", "/metrics", metrics)
    with pytest.raises(WebhookError, match="webhook path"):
        server.add_route("GET", "/signal/x", metrics)
    with pytest.raises(WebhookError, match="webhook path"):
        server.add_route("POST", "/marketraker/notification", metrics)
    await server.start()
    try:
        with pytest.raises(WebhookError, match="before the webhook listener starts"):
            server.add_route("GET", "/late", metrics)
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/metrics") as resp:
                assert resp.status == 200 and await resp.text() == "m 1\n"
            async with http.get(server.url + "/healthz") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["ok"] is False and "uptime_s" in body
            async with http.post(server.marketraker_url, data=b"{}") as resp:
                assert resp.status == 401  # the webhook routes are untouched
            async with http.get(server.url + "/nope") as resp:
                assert resp.status == 404
        assert (
            sum(server.counts.values()) == 2
        )  # webhook 401 + the 404; /metrics and /healthz are not webhooks
    finally:
        await server.stop()
        journal.close()


def order(cid: str, status: OrderStatus) -> Order:
    return Order(cid, Venue.BINANCE_USDM, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal(1), status=status)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_order_observer_latency_and_transitions() -> None:
    bus, registry = EventBus(), CollectorRegistry()
    t = [100.0]
    observer = OrderObserver(bus, registry, clock=lambda: t[0])
    bus.publish(OrderChanged(order("a", OrderStatus.PENDING_NEW)))
    bus.publish(OrderChanged(order("b", OrderStatus.PENDING_NEW)))
    t[0] = 100.040
    bus.publish(OrderChanged(order("a", OrderStatus.NEW)))
    bus.publish(OrderChanged(order("a", OrderStatus.FILLED)))  # not a second ack
    bus.publish(OrderChanged(order("a", OrderStatus.FILLED)))  # a repeat: counted once
    t[0] = 100.3
    bus.publish(OrderChanged(order("b", OrderStatus.REJECTED)))  # the venue refused it
    bus.publish(OrderChanged(order("c", OrderStatus.REJECTED)))  # refused locally: never sent
    v = {"venue": "binance_usdm"}
    assert sample(registry, "terminal_order_ack_seconds_count", **v, outcome="accepted") == 1
    assert sample(registry, "terminal_order_ack_seconds_sum", **v, outcome="accepted") == pytest.approx(0.040)
    assert sample(registry, "terminal_order_ack_seconds_bucket", **v, outcome="accepted", le="0.05") == 1
    assert sample(registry, "terminal_order_ack_seconds_bucket", **v, outcome="accepted", le="0.025") == 0
    assert sample(registry, "terminal_order_ack_seconds_count", **v, outcome="rejected") == 1
    assert sample(registry, "terminal_orders_total", **v, status="FILLED") == 1
    assert sample(registry, "terminal_orders_total", **v, status="REJECTED") == 2
    assert sample(registry, "terminal_orders_total", **v, status="PENDING_NEW") == 2
    observer.close()
    bus.publish(OrderChanged(order("d", OrderStatus.PENDING_NEW)))
    assert sample(registry, "terminal_orders_total", **v, status="PENDING_NEW") == 2


def test_two_registries_do_not_collide() -> None:
    """Per-App registries: a second App in the process registers the same names freely."""
    a = OrderObserver(EventBus(), CollectorRegistry())
    b = OrderObserver(EventBus(), CollectorRegistry())
    assert a.latency is not b.latency


@pytest.mark.parametrize(
    ("remote", "ok"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.0.0.5", False),
        ("203.0.113.9", False),
        (None, False),
        ("x", False),
    ],
)
def test_metrics_are_loopback_only_by_default(remote: str | None, ok: bool) -> None:
    assert _is_loopback(remote) is ok

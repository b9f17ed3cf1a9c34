"""CorrelationTracker on a real bus: ids from the context, from order reasons, per fill."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from terminal.bus import EventBus
from terminal.model import Fill, Order, OrderStatus, OrderType, Side, Venue
from terminal.ops import CorrelationTracker, use_correlation
from terminal.ops.logs import CorrelationFilter
from terminal.trading.oms import OrderChanged
from terminal.venues.events import FillEvent

V = Venue.BYBIT_LINEAR


def order(cid: str, reason: str | None = None) -> Order:
    return Order(
        cid,
        V,
        "BTCUSDT",
        Side.BUY,
        OrderType.MARKET,
        Decimal(1),
        status=OrderStatus.PENDING_NEW,
        reason=reason,
    )


def fill(cid: str, trade: str) -> FillEvent:
    return FillEvent(Fill(V, "BTCUSDT", cid, "v1", trade, Side.BUY, Decimal(100), Decimal(1), 0))


def test_ids_follow_orders_to_their_fills(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    tracker = CorrelationTracker(bus)
    caplog.handler.addFilter(CorrelationFilter())
    with caplog.at_level(logging.INFO, logger="terminal.correlation"):
        with use_correlation("sig-1"):
            bus.publish(OrderChanged(order("t-a")))  # placed while handling signal sig-1
        bus.publish(OrderChanged(order("t-b", reason="momentum [signal mr-9] entry")))  # after a restart
        bus.publish(OrderChanged(order("t-c", reason="manual")))
        for ev in (fill("t-a", "1"), fill("t-a", "1"), fill("t-b", "2"), fill("t-c", "3"), fill("t-x", "4")):
            bus.publish(ev)
    assert [tracker.for_order(c) for c in ("t-a", "t-b", "t-c")] == ["sig-1", "mr-9", "t-c"]
    fills = [
        (r.getMessage().split()[1], r.correlation_id)
        for r in caplog.records
        if r.getMessage().startswith("fill")
    ]
    # one line per trade (the repeat is dropped); an unknown order's fill uses its own id
    assert fills == [("t-a", "sig-1"), ("t-b", "mr-9"), ("t-c", "t-c"), ("t-x", "t-x")]
    tracker.close()
    bus.publish(OrderChanged(order("t-d")))
    assert tracker.for_order("t-d") is None

"""Account state: balance/position snapshot vs delta semantics, live PnL from mark, orders view."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from terminal.bus import EventBus
from terminal.engine import Engine
from terminal.model import (
    Balance,
    Fill,
    MarkPrice,
    Order,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    Side,
    Venue,
)
from terminal.venues.events import (
    BalancesEvent,
    FillEvent,
    MarkPriceEvent,
    OrderReport,
    PositionsEvent,
    ReportSource,
)

pytestmark = pytest.mark.timeout(10)

F = Venue.BINANCE_USDM
S = Venue.BINANCE_SPOT


def make() -> tuple[EventBus, Engine]:
    bus = EventBus()
    return bus, Engine(bus)


def test_balance_snapshot_replaces_and_delta_updates() -> None:
    bus, eng = make()
    bus.publish(
        BalancesEvent(S, (Balance("USDT", D(1000)), Balance("BTC", D(1)), Balance("ETH", D(0))), True, 1)
    )
    assert set(eng.balances(S)) == {"USDT", "BTC"}  # zero balances are not kept
    v = eng.versions().balances
    bus.publish(BalancesEvent(S, (Balance("USDT", D(900), D(100)),), False, 2))
    bal = eng.balances(S)
    assert bal["USDT"] == Balance("USDT", D(900), D(100)) and bal["BTC"].free == 1  # delta keeps BTC
    assert eng.versions().balances == v + 1
    bus.publish(BalancesEvent(S, (Balance("BTC", D(0)),), False, 3))  # delta to zero removes
    assert set(eng.balances(S)) == {"USDT"}
    bus.publish(BalancesEvent(S, (Balance("SOL", D(5)),), True, 4))  # snapshot: USDT now zero
    assert set(eng.balances(S)) == {"SOL"}
    bus.publish(BalancesEvent(F, (Balance("USDT", D(7)),), True, 5))  # venues are separate
    assert set(eng.balances(S)) == {"SOL"} and eng.balances(F)["USDT"].free == 7


def test_positions_snapshot_delta_and_unrealized_pnl_from_mark() -> None:
    bus, eng = make()
    long_btc = Position(F, "BTCUSDT", qty=D("0.5"), entry_price=D(60000), updated_at=10)
    short_eth = Position(F, "ETHUSDT", qty=D(-2), entry_price=D(3000), updated_at=10)
    bus.publish(PositionsEvent(F, (long_btc, short_eth), True, 10))
    assert {p.symbol for p in eng.positions(F)} == {"BTCUSDT", "ETHUSDT"}
    assert all(p.unrealized_pnl == 0 for p in eng.positions())  # no mark yet

    bus.publish(MarkPriceEvent(MarkPrice(F, "BTCUSDT", D(61000), ts=20)))
    bus.publish(MarkPriceEvent(MarkPrice(F, "ETHUSDT", D(2900), ts=20)))
    pnl = {p.symbol: p.unrealized_pnl for p in eng.positions(F)}
    assert pnl == {"BTCUSDT": D(500), "ETHUSDT": D(200)}

    # A delta for BTC (older than our mark, no mark of its own) gets the latest mark applied.
    bus.publish(
        PositionsEvent(F, (Position(F, "BTCUSDT", qty=D(1), entry_price=D(60500), updated_at=15),), False, 15)
    )
    pnl = {p.symbol: p.unrealized_pnl for p in eng.positions(F)}
    assert pnl == {"BTCUSDT": D(500), "ETHUSDT": D(200)}

    bus.publish(PositionsEvent(F, (Position(F, "ETHUSDT", qty=D(0)),), False, 30))  # flat in a delta
    assert {p.symbol for p in eng.positions(F)} == {"BTCUSDT"}
    hedge = Position(F, "SOLUSDT", side=PositionSide.SHORT, qty=D(3), entry_price=D(150), updated_at=40)
    bus.publish(PositionsEvent(F, (hedge,), True, 40))  # snapshot: BTC flat now
    (only,) = eng.positions(F)
    assert only.symbol == "SOLUSDT" and only.side is PositionSide.SHORT
    bus.publish(MarkPriceEvent(MarkPrice(F, "SOLUSDT", D(140), ts=50)))
    assert eng.positions(F)[0].unrealized_pnl == D(30)


def _order(status: OrderStatus, filled: str = "0") -> Order:
    return Order(
        "c1",
        S,
        "BTCUSDT",
        Side.BUY,
        OrderType.LIMIT,
        D(1),
        D(100),
        status=status,
        venue_order_id="9",
        filled_qty=D(filled),
    )


def test_orders_view_follows_reports_and_ignores_stale_ones() -> None:
    bus, eng = make()
    bus.publish(OrderReport(_order(OrderStatus.NEW), ReportSource.REST, 1))
    bus.publish(OrderReport(_order(OrderStatus.PARTIALLY_FILLED, "0.4"), ReportSource.STREAM, 2))
    bus.publish(OrderReport(_order(OrderStatus.NEW), ReportSource.STREAM, 1))  # late duplicate
    (o,) = eng.orders()
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == D("0.4")
    assert eng.orders(open_only=True) == (o,)
    bus.publish(OrderReport(_order(OrderStatus.FILLED, "1"), ReportSource.STREAM, 3))
    assert eng.orders(open_only=True) == () and eng.orders()[0].status is OrderStatus.FILLED

    fill = Fill(S, "BTCUSDT", "c1", "9", "t1", Side.BUY, D(100), D("0.4"), 2)
    bus.publish(FillEvent(fill))
    bus.publish(FillEvent(fill, ReportSource.RECONCILE))  # the same trade again
    assert eng.fills() == (fill,)

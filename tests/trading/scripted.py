"""A scripted in-process venue for the OMS ordering tests.

Used ONLY where exact interleavings of REST answers and stream events must be forced (which
socket timing cannot do reliably); everything else runs against the simulator with the real
adapters. It implements the VenueAdapter ABC with one instrument and scripted answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal

from terminal.market.orderbook import LocalBook
from terminal.model import (
    Balance,
    Candle,
    FeedStatus,
    Fill,
    Instrument,
    InstrumentKind,
    Order,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
    Venue,
)
from terminal.venues.base import Capabilities, VenueAdapter, VenueConfig
from terminal.venues.errors import OrderNotFound
from terminal.venues.events import EventSink, OrderReport, ReportSource

VENUE = Venue.BINANCE_SPOT
SYM = "BTCUSDT"

INSTRUMENT = Instrument(
    venue=VENUE,
    symbol=SYM,
    base="BTC",
    quote="USDT",
    kind=InstrumentKind.SPOT,
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    min_notional=Decimal("5"),
)


def report(
    order: Order, status: OrderStatus, filled: str = "0", source=ReportSource.STREAM, ts: int = 1
) -> OrderReport:
    return OrderReport(
        dataclasses.replace(order, status=status, filled_qty=Decimal(filled), venue_order_id="42"), source, ts
    )


class ScriptedAdapter(VenueAdapter):
    """``on_place`` decides what ``place_order`` does (return a report or raise)."""

    capabilities = Capabilities(
        order_types=frozenset({OrderType.LIMIT, OrderType.MARKET}), time_in_force=frozenset(TimeInForce)
    )

    def __init__(self, emit: EventSink = lambda e: None) -> None:
        super().__init__(VenueConfig(VENUE, base_url="http://scripted.invalid"), emit)
        self.instruments = {SYM: INSTRUMENT}
        self.placed: list[Order] = []
        self.venue_orders: dict[str, OrderReport] = {}
        self.on_place: Callable[[Order], Awaitable[OrderReport]] | None = None

    async def place_order(self, order: Order) -> OrderReport:
        self.placed.append(order)
        assert self.on_place is not None
        return await self.on_place(order)

    async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None:
        return self.venue_orders.get(client_id)

    async def cancel_order(self, symbol: str, client_id: str) -> OrderReport:
        rep = self.venue_orders.get(client_id)
        if rep is None or rep.order.is_terminal:
            raise OrderNotFound(VENUE, "Unknown order sent.", code=-2011)
        return report(rep.order, OrderStatus.CANCELED, str(rep.order.filled_qty), ReportSource.REST)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        return [r for r in self.venue_orders.values() if not r.order.is_terminal]

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def watch_market(self, symbol: str, **kw: object) -> None: ...  # type: ignore[override]
    async def unwatch_market(self, symbol: str) -> None: ...
    def book(self, symbol: str) -> LocalBook | None:
        return None

    def feeds(self) -> Mapping[str, FeedStatus]:
        return {}

    async def fetch_candles(self, symbol: str, interval: str, **kw: object) -> list[Candle]:  # type: ignore[override]
        return []

    async def watch_user(self) -> None: ...
    async def fetch_balances(self) -> list[Balance]:
        return []

    async def fetch_positions(self) -> list[Position]:
        return []

    async def fetch_fills(self, symbol: str, *, since_ms: int | None = None) -> Sequence[Fill]:  # type: ignore[override]
        return []

"""Typed events that venue adapters emit (and the engine, OMS and UI consume).

Adapters know the wire; everything downstream sees only these. One event per wire message
at most; the engine keeps state, the UI reads coalesced snapshots (no Qt signal per tick).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import msgspec

from terminal.model import (
    Balance,
    Candle,
    FeedStatus,
    Fill,
    MarkPrice,
    Order,
    OrderUpdate,
    Position,
    Ticker,
    Trade,
    Venue,
)

__all__ = [
    "BalancesEvent",
    "BookTickerEvent",
    "BookUpdated",
    "CandleEvent",
    "EventSink",
    "FeedEvent",
    "FillEvent",
    "MarkPriceEvent",
    "OrderReport",
    "PositionsEvent",
    "PublicTradeEvent",
    "ReportSource",
    "StreamKind",
    "TickerEvent",
    "VenueEvent",
]


class StreamKind(StrEnum):
    MARKET = "market"
    USER = "user"


class ReportSource(StrEnum):
    REST = "rest"  # the response to our own request
    STREAM = "stream"  # the user-data stream
    RECONCILE = "reconcile"  # a poll after a reconnect/restart


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A stream's health changed (connecting/live/stale/reconnecting/resyncing)."""

    status: FeedStatus
    kind: StreamKind
    symbol: str | None = None  # market streams: the symbol, when the stream serves one


class BookUpdated(msgspec.Struct, frozen=True, gc=False):
    """The adapter's local book for ``symbol`` changed; read it with ``adapter.book(symbol)``.

    Carrying no levels keeps the hot path cheap; consumers that want levels take a snapshot.
    ``resynced`` is True for the first update after a (re)sync from a fresh snapshot.

    A frozen msgspec Struct rather than a frozen dataclass: one is built per applied diff, and
    the Struct's C constructor costs ~50 ns against ~700 ns for the dataclass's per-field
    ``object.__setattr__`` (bench/book_ingest.py). Still typed and immutable; ``gc=False``
    because it holds only an enum, a str, ints and a bool.
    """

    venue: Venue
    symbol: str
    update_id: int
    event_ms: int  # venue event time (0 when the venue gives none)
    # Local receive time on the time.perf_counter_ns clock (monotonic, arbitrary origin): the
    # time SupervisedStream read the frame, or when the adapter applied a REST snapshot.
    # Compare it only with other perf_counter_ns readings (latency); wall-clock times for
    # display are FeedStatus's ms fields.
    recv_ns: int
    resynced: bool = False


@dataclass(frozen=True, slots=True)
class CandleEvent:
    """A candle update; ``candle.closed`` is True exactly once per bar, when the venue says so."""

    candle: Candle


@dataclass(frozen=True, slots=True)
class PublicTradeEvent:
    trade: Trade


@dataclass(frozen=True, slots=True)
class TickerEvent:
    """24 h ticker (last, change, volume)."""

    ticker: Ticker


@dataclass(frozen=True, slots=True)
class BookTickerEvent:
    venue: Venue
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class MarkPriceEvent:
    mark: MarkPrice


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The venue's view of one order, from a REST answer, the user stream, or a reconcile poll.

    ``order`` is complete (symbol, side, type, quantities, status, cumulative fill, venue id),
    so the OMS can adopt orders it did not place (e.g. from the venue's web UI).
    """

    order: Order
    source: ReportSource
    ts: int  # ms, venue event time

    def update(self) -> OrderUpdate:
        """The order-state facts of this report, for ``Order.apply``."""
        o = self.order
        return OrderUpdate(
            client_id=o.client_id,
            status=o.status,
            ts=self.ts,
            venue_order_id=o.venue_order_id,
            filled_qty=o.filled_qty,
            avg_price=o.avg_price,
            reason=o.reason,
        )


@dataclass(frozen=True, slots=True)
class FillEvent:
    fill: Fill
    source: ReportSource = ReportSource.STREAM


@dataclass(frozen=True, slots=True)
class BalancesEvent:
    """Balances; ``snapshot`` True = the complete set (assets missing are zero), else a delta."""

    venue: Venue
    balances: tuple[Balance, ...]
    snapshot: bool
    ts: int


@dataclass(frozen=True, slots=True)
class PositionsEvent:
    """Positions; ``snapshot`` True = the complete set (symbols missing are flat), else changed ones."""

    venue: Venue
    positions: tuple[Position, ...]
    snapshot: bool
    ts: int


VenueEvent = (
    FeedEvent
    | BookUpdated
    | CandleEvent
    | PublicTradeEvent
    | TickerEvent
    | BookTickerEvent
    | MarkPriceEvent
    | OrderReport
    | FillEvent
    | BalancesEvent
    | PositionsEvent
)

EventSink = Callable[[VenueEvent], None]

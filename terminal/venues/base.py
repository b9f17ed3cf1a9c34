"""The one interface every venue (and the paper broker) implements.

An adapter is constructed from a ``VenueConfig`` (which network: live, testnet, or a base URL
such as the local simulator: the same code path) and an ``EventSink``. It then:

* ``start()``: syncs the clock, loads instruments and filters;
* ``watch_market(symbol)``: supervised streams for book, trades, candles, tickers, which emit
  typed events (``terminal.venues.events``) into the sink and keep a local ``LocalBook``;
* ``watch_user()``: the private stream (orders, fills, balances, positions);
* actions: place/cancel/query orders, fetch balances, positions, fills, candles.

Orders handed to ``place_order`` carry the client order id the OMS already journaled; the
adapter validates them against the instrument's filters (``FilterRejected``, never sent) and
maps venue answers to ``OrderReport`` or to the error types in ``terminal.venues.errors``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from terminal.market.orderbook import LocalBook
from terminal.model import (
    Balance,
    Candle,
    FeedStatus,
    Fill,
    Instrument,
    Order,
    OrderType,
    Position,
    TimeInForce,
    Venue,
)
from terminal.venues.errors import FilterRejected, UnknownSymbol
from terminal.venues.events import EventSink, OrderReport

__all__ = [
    "ApiCredentials",
    "Capabilities",
    "Network",
    "VenueAdapter",
    "VenueConfig",
]


class Network(StrEnum):
    LIVE = "live"
    TESTNET = "testnet"
    CUSTOM = "custom"  # ``base_url``: the local simulator (demo mode, tests)


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    """An API key pair, held in memory only (loaded from the OS keyring or the simulator).

    ``repr`` shows neither part in full, so a logged config or a traceback leaks nothing.
    """

    key: str = field(repr=False)
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"ApiCredentials(key={self.key[:4]}…, secret=***)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class VenueConfig:
    venue: Venue
    network: Network = Network.CUSTOM
    base_url: str | None = None  # http://127.0.0.1:PORT for Network.CUSTOM; ws URLs derive from it
    credentials: ApiCredentials | None = None  # None: market data only
    recv_window_ms: int = 5000
    request_timeout_s: float = 10.0
    stale_after_s: float = 10.0  # per-stream staleness watchdog
    book_depth: int = 500  # REST snapshot depth for book sync (Binance caps at client.SNAPSHOT_LEVELS)

    def __post_init__(self) -> None:
        if self.network is Network.CUSTOM and not self.base_url:
            raise ValueError("Network.CUSTOM needs base_url (e.g. the simulator's http://127.0.0.1:PORT)")

    @property
    def ws_base_url(self) -> str | None:
        if self.base_url is None:
            return None
        return "ws" + self.base_url.removeprefix("http")


@dataclass(frozen=True, slots=True)
class Capabilities:
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    reduce_only: bool = False
    post_only: bool = True
    leverage: bool = False
    hedge_mode: bool = False
    oco: bool = False
    positions: bool = False  # derivatives: the venue reports positions
    candle_intervals: tuple[str, ...] = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d", "1w")


class VenueAdapter(ABC):
    """Base class for Binance Spot, Binance USDⓈ-M, Bybit (spot/linear) and the paper broker."""

    venue: Venue
    capabilities: Capabilities

    def __init__(self, config: VenueConfig, emit: EventSink) -> None:
        self.config = config
        self.venue = config.venue
        self._emit = emit
        self.instruments: dict[str, Instrument] = {}

    # ------------------------------------------------------------------ lifecycle
    @abstractmethod
    async def start(self) -> None:
        """Sync the clock and load instruments; raises ``VenueError`` if the venue is unreachable."""

    @abstractmethod
    async def close(self) -> None:
        """Stop every stream and release sessions; idempotent."""

    # ------------------------------------------------------------------ reference data
    def instrument(self, symbol: str) -> Instrument:
        try:
            return self.instruments[symbol]
        except KeyError:
            raise UnknownSymbol(self.venue, f"unknown symbol {symbol}") from None

    def check_order(self, order: Order) -> None:
        """Raise ``FilterRejected`` (naming the filter) if ``order`` breaks the instrument's filters.

        Call with prices already rounded to tick and quantities down to step; what still fails
        here (below min qty/notional, out of range) must never reach the venue.
        """
        inst = self.instrument(order.symbol)
        violations = inst.validate(
            order.side,
            order.type,
            order.price,
            order.qty,
            stop_price=order.stop_price,
            reference_price=self.reference_price(order.symbol),
        )
        if violations:
            raise FilterRejected(self.venue, order.symbol, violations)

    def reference_price(self, symbol: str) -> Decimal | None:
        """Mid of the local book if watched (enables the notional check for market orders)."""
        book = self.book(symbol)
        if book is None or not book.is_live:
            return None
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return None
        return (bid.price + ask.price) / 2

    # ------------------------------------------------------------------ market data
    @abstractmethod
    async def watch_market(
        self,
        symbol: str,
        *,
        book: bool = True,
        trades: bool = True,
        candles: Sequence[str] = ("1m",),
        tickers: bool = True,
    ) -> None:
        """Start (or extend) supervised market streams for ``symbol``; returns once subscribed."""

    @abstractmethod
    async def unwatch_market(self, symbol: str) -> None: ...

    @abstractmethod
    def book(self, symbol: str) -> LocalBook | None:
        """The local order book kept in sync from the depth stream (None if not watched)."""

    @abstractmethod
    def feeds(self) -> Mapping[str, FeedStatus]:
        """Current status of every stream, keyed by stream id."""

    @abstractmethod
    async def fetch_candles(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        """REST backfill, oldest first; the still-forming bar (if included) has ``closed=False``."""

    # ------------------------------------------------------------------ account
    @abstractmethod
    async def watch_user(self) -> None:
        """Start the supervised private stream; returns once authenticated/subscribed."""

    @abstractmethod
    async def fetch_balances(self) -> list[Balance]: ...

    @abstractmethod
    async def fetch_positions(self) -> list[Position]:
        """Open positions (empty for spot)."""

    @abstractmethod
    async def fetch_fills(self, symbol: str, *, since_ms: int | None = None) -> list[Fill]: ...

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        raise NotImplementedError(f"{self.venue} has no leverage")

    # ------------------------------------------------------------------ orders
    @abstractmethod
    async def place_order(self, order: Order) -> OrderReport:
        """Send ``order`` (client id already journaled). Raises ``FilterRejected`` before sending,
        ``OrderRejected`` when refused, ``OutcomeUnknown`` when the outcome is unknown,
        ``RateLimited`` when the venue throttles us."""

    @abstractmethod
    async def cancel_order(self, symbol: str, client_id: str) -> OrderReport:
        """Cancel by client id; raises ``OrderNotFound`` if the venue does not know it (or it is closed)."""

    @abstractmethod
    async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None:
        """The venue's view of one order by client id; None if the venue never saw it."""

    @abstractmethod
    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]: ...

"""Paper trading: a venue's real public data, simulated orders and account.

``PaperBroker`` is a ``VenueAdapter``: the OMS and UI drive it exactly like a live venue and
receive the same events. Market data (instruments, books, streams, candles) comes from a real
adapter built *without credentials*; orders never leave the process, they are matched by
:class:`terminal.venues.paper_fills.PaperEngine` against that adapter's live local book.

The data adapter is built by the broker (``data_factory(sink)``) so the broker can stand in
its sink: every event is forwarded unchanged to the outer sink, and book moves, public trades
and mark prices additionally drive the paper fills.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from terminal.market.orderbook import LocalBook
from terminal.model import (
    Balance,
    Candle,
    FeedState,
    FeedStatus,
    Fill,
    Instrument,
    Order,
    Position,
    TimeInForce,
)
from terminal.venues.base import Capabilities, VenueAdapter
from terminal.venues.errors import OrderRejected
from terminal.venues.events import (
    BalancesEvent,
    BookUpdated,
    EventSink,
    FeedEvent,
    MarkPriceEvent,
    OrderReport,
    PositionsEvent,
    PublicTradeEvent,
    ReportSource,
    StreamKind,
    VenueEvent,
)
from terminal.venues.paper_fills import SUPPORTED_TYPES, PaperAccountConfig, PaperEngine

__all__ = ["PaperAccountConfig", "PaperBroker"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class PaperBroker(VenueAdapter):
    """Real public market data from ``data`` plus simulated fills and balances."""

    def __init__(
        self,
        data_factory: Callable[[EventSink], VenueAdapter],
        account: PaperAccountConfig,
        emit: EventSink,
        *,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        data = data_factory(self._on_data)
        if data.config.credentials is not None:
            # A paper account must be unable to place a real order, even by mistake.
            raise ValueError("PaperBroker needs a market-data adapter built without credentials")
        self.data = data
        super().__init__(data.config, emit)
        self._clock = clock_ms
        self.engine = PaperEngine(self.venue, account, emit, clock_ms=clock_ms, book_of=data.book)
        self._marks: set[str] = set()  # symbols with a venue mark price (else the mid is used)
        self._user_feed: FeedStatus | None = None
        derivative = data.capabilities.positions
        self.capabilities = Capabilities(
            order_types=SUPPORTED_TYPES & data.capabilities.order_types,
            time_in_force=frozenset(TimeInForce),
            reduce_only=derivative,
            post_only=True,
            leverage=derivative,
            hedge_mode=False,
            oco=False,
            positions=derivative,
            candle_intervals=data.capabilities.candle_intervals,
        )

    @property  # type: ignore[override]
    def instruments(self) -> dict[str, Instrument]:
        """The data adapter's instruments, whenever it (re)loads them."""
        return self.data.instruments

    @instruments.setter
    def instruments(self, value: dict[str, Instrument]) -> None:
        self.data.instruments = value

    # ------------------------------------------------------------------ the data sink
    def _on_data(self, ev: VenueEvent) -> None:
        """Forward first (the UI sees the move that caused a fill before the fill), then match."""
        self._emit(ev)
        cls = ev.__class__
        if cls is BookUpdated:
            sym = ev.symbol  # type: ignore[union-attr]
            if ev.resynced:  # type: ignore[union-attr]
                self.engine.on_resync(sym)
            self.engine.on_book(sym)
            if sym not in self._marks and self.engine.position(sym) is not None:
                mid = self.data.reference_price(sym)
                if mid is not None:
                    self.engine.on_mark(sym, mid)
        elif cls is PublicTradeEvent:
            self.engine.on_trade(ev.trade)  # type: ignore[union-attr]
        elif cls is MarkPriceEvent:
            mark = ev.mark  # type: ignore[union-attr]
            self._marks.add(mark.symbol)
            self.engine.on_mark(mark.symbol, mark.mark_price)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.data.start()

    async def close(self) -> None:
        await self.data.close()
        if self._user_feed is not None and self._user_feed.state is not FeedState.STOPPED:
            self._user_feed = self._user_feed.with_state(FeedState.STOPPED, self._clock())
            self._emit(FeedEvent(self._user_feed, StreamKind.USER))

    # ------------------------------------------------------------------ market data
    async def watch_market(
        self,
        symbol: str,
        *,
        book: bool = True,
        trades: bool = True,
        candles: Sequence[str] = ("1m",),
        tickers: bool = True,
    ) -> None:
        await self.data.watch_market(symbol, book=book, trades=trades, candles=candles, tickers=tickers)

    async def unwatch_market(self, symbol: str) -> None:
        await self.data.unwatch_market(symbol)

    def book(self, symbol: str) -> LocalBook | None:
        return self.data.book(symbol)

    def feeds(self) -> Mapping[str, FeedStatus]:
        out = dict(self.data.feeds())
        if self._user_feed is not None:
            out[self._user_feed.stream_id] = self._user_feed
        return out

    async def fetch_candles(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        return await self.data.fetch_candles(symbol, interval, start_ms=start_ms, end_ms=end_ms, limit=limit)

    # ------------------------------------------------------------------ account
    async def watch_user(self) -> None:
        """No socket: the paper account is local. Marks the user feed LIVE and sends snapshots."""
        now = self._clock()
        self._user_feed = FeedStatus(f"{self.venue}:paper-user", self.venue, FeedState.LIVE, since=now)
        self._emit(FeedEvent(self._user_feed, StreamKind.USER))
        self._emit(BalancesEvent(self.venue, tuple(self.engine.balances()), True, now))
        if self.capabilities.positions:
            self._emit(PositionsEvent(self.venue, tuple(self.engine.positions()), True, now))

    async def fetch_balances(self) -> list[Balance]:
        return self.engine.balances()

    async def fetch_positions(self) -> list[Position]:
        return self.engine.positions()

    async def fetch_fills(self, symbol: str, *, since_ms: int | None = None) -> list[Fill]:
        self.instrument(symbol)
        return self.engine.fills(symbol, since_ms)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        if not self.instrument(symbol).is_derivative:
            raise NotImplementedError(f"{symbol} is spot: no leverage")
        self.engine.set_leverage(symbol, leverage)

    # ------------------------------------------------------------------ orders
    async def place_order(self, order: Order) -> OrderReport:
        inst = self.instrument(order.symbol)
        if order.type not in self.capabilities.order_types:
            raise OrderRejected(self.venue, f"paper: {order.type} is not offered by {self.venue}")
        self.check_order(order)  # FilterRejected, exactly as the live adapter would
        return self.engine.place(order, inst)

    async def cancel_order(self, symbol: str, client_id: str) -> OrderReport:
        self.instrument(symbol)
        return self.engine.cancel(symbol, client_id)

    async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None:
        o = self.engine.order(client_id)
        if o is None or o.symbol != symbol:
            return None
        return OrderReport(o, ReportSource.REST, self._clock())

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        now = self._clock()
        return [OrderReport(o, ReportSource.REST, now) for o in self.engine.open_orders(symbol)]

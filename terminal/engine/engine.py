"""The engine: subscribes to the typed venue events and keeps the state the UI and strategies read.

Handlers run synchronously on the bus (the asyncio loop's thread) and only store: no I/O, no
Decimal snapshots on the hot path. Readers get immutable values (frozen dataclasses, tuples,
copied mappings) and a per-area ``version`` so a UI timer can skip what did not change.

Candle gaps are healed through REST: when a market stream is LIVE again after RECONNECTING /
STALE, or a live bar arrives with a hole (or an unclosed bar) before it, the series
is backfilled with the adapter's ``fetch_candles`` (or an injected callable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from terminal.bus import EventBus
from terminal.engine.account import AccountState
from terminal.engine.candles import CandleKey, CandleSeries
from terminal.engine.feeds import FeedsState, Recovery
from terminal.engine.market import MarketState, TopOfBook
from terminal.market.orderbook import LocalBook
from terminal.model import (
    Balance,
    Candle,
    FeedStatus,
    Fill,
    MarkPrice,
    Order,
    OrderBookSnapshot,
    Position,
    Ticker,
    Trade,
    Venue,
)
from terminal.venues.events import (
    BalancesEvent,
    BookTickerEvent,
    BookUpdated,
    CandleEvent,
    FeedEvent,
    FillEvent,
    MarkPriceEvent,
    OrderReport,
    PositionsEvent,
    PublicTradeEvent,
    TickerEvent,
)

if TYPE_CHECKING:
    from terminal.storage.history import HistoryStore

__all__ = ["BackfillFn", "Engine", "Versions"]

log = logging.getLogger(__name__)

# (venue, symbol, interval, start_ms, limit) -> bars oldest first (the adapter's fetch_candles)
BackfillFn = Callable[[Venue, str, str, int | None, int], Awaitable[list[Candle]]]

_MAX_PAGES = 20  # a backfill walks forward at most this many REST pages per run


class _HasMarket(Protocol):
    venue: Venue

    def book(self, symbol: str) -> LocalBook | None: ...

    async def fetch_candles(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Candle]: ...


@dataclass(frozen=True, slots=True)
class Versions:
    """Change counters per area; equal numbers mean nothing to redraw."""

    books: int
    trades: int
    tickers: int
    candles: int
    balances: int
    positions: int
    orders: int
    feeds: int


class Engine:
    def __init__(
        self,
        bus: EventBus,
        *,
        backfill: BackfillFn | None = None,
        max_bars: int = 5000,
        page_limit: int = 1000,
    ) -> None:
        self.bus = bus
        self.adapters: dict[Venue, _HasMarket] = {}
        self.market = MarketState(self._lookup_book)
        self.account = AccountState()
        self.feeds = FeedsState()
        self.candles: dict[CandleKey, CandleSeries] = {}
        self._backfill_fn = backfill
        self._max_bars = max_bars
        self._page_limit = page_limit
        self._backfills: dict[CandleKey, asyncio.Task[None]] = {}
        self._again: set[CandleKey] = set()
        self._history: dict[CandleKey, int] = {}  # bars of initial history per tracked series
        self.backfill_runs = 0
        self.backfill_errors = 0
        self._candles_version = 0
        # The local candle store the chart pages older history from (terminal.engine.history);
        # None: venue only. The App sets it where candles are the same on every run (not demo);
        # the engine owns it from then on and closes it.
        self.history_store: HistoryStore | None = None
        self._unsubscribe = [
            bus.subscribe(BookUpdated, self.market.on_book),
            bus.subscribe(PublicTradeEvent, self._on_trade),
            bus.subscribe(TickerEvent, self._on_ticker),
            bus.subscribe(BookTickerEvent, self.market.on_book_ticker),
            bus.subscribe(MarkPriceEvent, self._on_mark),
            bus.subscribe(CandleEvent, self._on_candle),
            bus.subscribe(FeedEvent, self._on_feed),
            bus.subscribe(BalancesEvent, self.account.on_balances),
            bus.subscribe(PositionsEvent, self.account.on_positions),
            bus.subscribe(OrderReport, self._on_order),
            bus.subscribe(FillEvent, self._on_fill),
        ]

    # ------------------------------------------------------------------ wiring
    def attach(self, adapter: _HasMarket) -> None:
        """Use ``adapter`` for its venue's books and candle backfill."""
        self.adapters[adapter.venue] = adapter
        self.market.set_book_lookup(self._lookup_book)

    def _lookup_book(self, venue: Venue, symbol: str) -> LocalBook | None:
        adapter = self.adapters.get(venue)
        return None if adapter is None else adapter.book(symbol)

    async def close(self) -> None:
        for unsub in self._unsubscribe:
            with contextlib.suppress(ValueError):
                unsub()
        self._unsubscribe.clear()
        tasks = list(self._backfills.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._backfills.clear()
        store, self.history_store = self.history_store, None
        if store is not None:
            store.close()

    # ------------------------------------------------------------------ handlers
    def _on_trade(self, ev: PublicTradeEvent) -> None:
        self.market.on_trade(ev.trade)

    def _on_ticker(self, ev: TickerEvent) -> None:
        self.market.on_ticker(ev.ticker)

    def _on_mark(self, ev: MarkPriceEvent) -> None:
        self.market.on_mark(ev.mark)
        self.account.on_mark(ev.mark)

    def _on_order(self, report: OrderReport) -> None:
        conflict = self.account.on_order(report)
        if conflict is not None:
            log.warning("order report kept out of the view (%s): %s", report.source, conflict)

    def _on_fill(self, ev: FillEvent) -> None:
        self.account.on_fill(ev.fill)

    def _on_candle(self, ev: CandleEvent) -> None:
        c = ev.candle
        series = self._series(CandleKey(c.venue, c.symbol, c.interval))
        merge = series.merge_live(c)
        if merge.accepted:
            self._candles_version += 1
        if merge.gap:
            self._schedule_backfill(series.key)

    def _on_feed(self, ev: FeedEvent) -> None:
        recovery = self.feeds.on_feed(ev)
        if recovery is not None:
            self._recover(recovery)

    def _recover(self, r: Recovery) -> None:
        for key in self.candles:
            if key.venue is r.venue and (r.symbol is None or key.symbol == r.symbol):
                self._schedule_backfill(key)

    # ------------------------------------------------------------------ candles
    def _series(self, key: CandleKey) -> CandleSeries:
        series = self.candles.get(key)
        if series is None:
            series = self.candles[key] = CandleSeries(key, self._max_bars)
        return series

    async def track_candles(
        self, venue: Venue, symbol: str, interval: str, history: int = 500
    ) -> CandleSeries:
        """Create the series and load ``history`` bars of REST history (live events merge in).

        A failed history fetch is logged, not raised: the series keeps its live bars and the
        next recovery or gap loads the history.
        """
        key = CandleKey(venue, symbol, interval)
        series = self._series(key)
        self._history[key] = min(history, self._page_limit)
        try:
            await self._load_history(key, series)
        except Exception:
            self.backfill_errors += 1
            log.exception("candle history failed for %s %s %s", venue, symbol, interval)
            return series
        if series.unclosed_before_last() or series.missing():
            self._schedule_backfill(key)  # live bars landed before the history did
        return series

    def is_tracked(self, venue: Venue, symbol: str, interval: str) -> bool:
        """Whether a candle series exists for this market and interval (``track_candles`` was
        asked, or live bars of it arrived): the chart asks before tracking one itself."""
        return CandleKey(venue, symbol, interval) in self.candles

    async def _load_history(self, key: CandleKey, series: CandleSeries) -> None:
        bars = await self._fetch(key, None, self._history.get(key, self._page_limit))
        if series.merge_backfill(bars):
            self._candles_version += 1
        series.history_loaded = True

    def _schedule_backfill(self, key: CandleKey) -> None:
        if self._fetcher() is None:
            log.warning("%s: candle gap but no backfill source", key)
            return
        task = self._backfills.get(key)
        if task is not None and not task.done():
            self._again.add(key)  # one more run once this one ends: the gap may be newer
            return
        self._backfills[key] = asyncio.get_running_loop().create_task(
            self._backfill(key), name=f"backfill:{key.venue}:{key.symbol}:{key.interval}"
        )

    async def _backfill(self, key: CandleKey) -> None:
        series = self.candles[key]
        while True:
            self._again.discard(key)
            self.backfill_runs += 1
            try:
                if not series.history_loaded and key in self._history:
                    await self._load_history(key, series)
                start = series.backfill_start_ms()
                for _ in range(_MAX_PAGES):
                    bars = await self._fetch(key, start, self._page_limit)
                    if series.merge_backfill(bars):
                        self._candles_version += 1
                    if len(bars) < self._page_limit or bars[-1].open_time == start:
                        break
                    start = bars[-1].open_time
            except asyncio.CancelledError:
                raise
            except Exception:
                # Not fatal: the next recovery or gap tries again; the chart shows the hole.
                self.backfill_errors += 1
                log.exception("candle backfill failed for %s %s %s", key.venue, key.symbol, key.interval)
            if key not in self._again:
                return

    def _fetcher(self) -> BackfillFn | None:
        if self._backfill_fn is not None:
            return self._backfill_fn
        return self._adapter_fetch if self.adapters else None

    async def _adapter_fetch(
        self, venue: Venue, symbol: str, interval: str, start_ms: int | None, limit: int
    ) -> list[Candle]:
        return await self.adapters[venue].fetch_candles(symbol, interval, start_ms=start_ms, limit=limit)

    async def _fetch(self, key: CandleKey, start_ms: int | None, limit: int) -> list[Candle]:
        fetch = self._fetcher()
        if fetch is None:
            return []
        return await fetch(key.venue, key.symbol, key.interval, start_ms, limit)

    async def wait_backfills(self) -> None:
        """Wait until no backfill is running (tests, orderly shutdown)."""
        while True:
            pending = [t for t in self._backfills.values() if not t.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    # ------------------------------------------------------------------ readers (immutable)
    def versions(self) -> Versions:
        m, a = self.market, self.account
        return Versions(
            books=m.books_version,
            trades=m.trades_version,
            tickers=m.tickers_version,
            candles=self._candles_version,
            balances=a.balances_version,
            positions=a.positions_version,
            orders=a.orders_version,
            feeds=self.feeds.version,
        )

    def top_of_book(self, venue: Venue, symbol: str) -> TopOfBook | None:
        return self.market.top_of_book(venue, symbol)

    def book_snapshot(self, venue: Venue, symbol: str, depth: int = 20) -> OrderBookSnapshot | None:
        return self.market.book_snapshot(venue, symbol, depth)

    def books(self) -> list[tuple[Venue, str]]:
        return list(self.market.books)

    def recent_trades(self, venue: Venue, symbol: str, n: int | None = None) -> tuple[Trade, ...]:
        return self.market.recent_trades(venue, symbol, n)

    def ticker(self, venue: Venue, symbol: str) -> Ticker | None:
        return self.market.tickers.get((venue, symbol))

    def mark(self, venue: Venue, symbol: str) -> MarkPrice | None:
        return self.market.marks.get((venue, symbol))

    def candle_bars(self, venue: Venue, symbol: str, interval: str) -> tuple[Candle, ...]:
        series = self.candles.get(CandleKey(venue, symbol, interval))
        return () if series is None else series.bars()

    def balances(self, venue: Venue) -> Mapping[str, Balance]:
        return MappingProxyType(dict(self.account.balances.get(venue, {})))

    def positions(self, venue: Venue | None = None) -> tuple[Position, ...]:
        return tuple(p for k, p in self.account.positions.items() if venue is None or k.venue is venue)

    def orders(self, venue: Venue | None = None, *, open_only: bool = False) -> tuple[Order, ...]:
        return tuple(
            o
            for (v, _), o in self.account.orders.items()
            if (venue is None or v is venue) and (not open_only or o.is_open)
        )

    def fills(self) -> tuple[Fill, ...]:
        return tuple(self.account.fills)

    def feed_statuses(self) -> Mapping[str, FeedStatus]:
        return MappingProxyType(dict(self.feeds.status))

"""Market state: per (venue, symbol) book reference and top of book, recent trades, tickers,
book tickers and mark price / funding.

The levels live in the adapter's ``LocalBook`` (kept in sync there); the engine keeps a
reference plus the last update's ids and times, and builds Decimal snapshots only when a reader
asks (UI rate), never per diff.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from terminal.market.orderbook import LocalBook
from terminal.model import MarkPrice, OrderBookSnapshot, Ticker, Trade, Venue
from terminal.venues.events import BookTickerEvent, BookUpdated

__all__ = ["BookEntry", "BookTicker", "MarketState", "TopOfBook"]

SymbolKey = tuple[Venue, str]
BookLookup = Callable[[Venue, str], LocalBook | None]


@dataclass(slots=True)
class BookEntry:
    """Mutable bookkeeping per book, written on every BookUpdated (cheap: two stores).

    ``last`` is the latest event itself: BookUpdated is immutable, so keeping it is safe and
    cheaper than copying its fields per diff; the fields read through the properties below.
    """

    book: LocalBook | None
    last: BookUpdated | None = None
    updates: int = 0
    resyncs: int = 0

    @property
    def update_id(self) -> int:
        return -1 if self.last is None else self.last.update_id

    @property
    def event_ms(self) -> int:
        """Venue event time of the latest update (0 before any)."""
        return 0 if self.last is None else self.last.event_ms

    @property
    def recv_ns(self) -> int:
        """perf_counter_ns receive time of the latest update (0 before any)."""
        return 0 if self.last is None else self.last.recv_ns


@dataclass(frozen=True, slots=True)
class TopOfBook:
    venue: Venue
    symbol: str
    bid: Decimal | None
    bid_qty: Decimal | None
    ask: Decimal | None
    ask_qty: Decimal | None
    update_id: int
    live: bool  # the local book is in sync (LIVE); otherwise prices are not to be trusted
    event_ms: int = 0

    @property
    def spread(self) -> Decimal | None:
        return None if self.bid is None or self.ask is None else self.ask - self.bid

    @property
    def mid(self) -> Decimal | None:
        return None if self.bid is None or self.ask is None else (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class BookTicker:
    venue: Venue
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    ts: int


class MarketState:
    def __init__(self, book_lookup: BookLookup | None = None, trades_per_symbol: int = 500) -> None:
        self._lookup = book_lookup
        self.books: dict[SymbolKey, BookEntry] = {}
        self.trades: dict[SymbolKey, deque[Trade]] = {}
        self.tickers: dict[SymbolKey, Ticker] = {}
        self.book_tickers: dict[SymbolKey, BookTicker] = {}
        self.marks: dict[SymbolKey, MarkPrice] = {}
        self._trades_max = trades_per_symbol
        self.books_version = 0
        self.trades_version = 0
        self.tickers_version = 0

    def set_book_lookup(self, lookup: BookLookup) -> None:
        self._lookup = lookup
        for (venue, symbol), entry in self.books.items():
            if entry.book is None:
                entry.book = lookup(venue, symbol)

    # ------------------------------------------------------------------ writers (hot path first)
    def on_book(self, ev: BookUpdated) -> None:
        entry = self.books.get((ev.venue, ev.symbol))
        if entry is None:
            book = self._lookup(ev.venue, ev.symbol) if self._lookup is not None else None
            entry = self.books[(ev.venue, ev.symbol)] = BookEntry(book)
        entry.last = ev
        entry.updates += 1
        if ev.resynced:
            entry.resyncs += 1
        self.books_version += 1

    def on_trade(self, trade: Trade) -> None:
        key = (trade.venue, trade.symbol)
        ring = self.trades.get(key)
        if ring is None:
            ring = self.trades[key] = deque(maxlen=self._trades_max)
        ring.append(trade)
        self.trades_version += 1

    def on_ticker(self, ticker: Ticker) -> None:
        self.tickers[(ticker.venue, ticker.symbol)] = ticker
        self.tickers_version += 1

    def on_book_ticker(self, ev: BookTickerEvent) -> None:
        self.book_tickers[(ev.venue, ev.symbol)] = BookTicker(
            ev.venue, ev.symbol, ev.bid, ev.bid_qty, ev.ask, ev.ask_qty, ev.ts
        )
        self.tickers_version += 1

    def on_mark(self, mark: MarkPrice) -> None:
        self.marks[(mark.venue, mark.symbol)] = mark
        self.tickers_version += 1

    # ------------------------------------------------------------------ readers
    def book(self, venue: Venue, symbol: str) -> LocalBook | None:
        entry = self.books.get((venue, symbol))
        if entry is not None and entry.book is not None:
            return entry.book
        return self._lookup(venue, symbol) if self._lookup is not None else None

    def book_snapshot(self, venue: Venue, symbol: str, depth: int = 20) -> OrderBookSnapshot | None:
        book = self.book(venue, symbol)
        return None if book is None else book.snapshot(depth)

    def top_of_book(self, venue: Venue, symbol: str) -> TopOfBook | None:
        book = self.book(venue, symbol)
        if book is None:
            return None
        entry = self.books.get((venue, symbol))
        bid, ask = book.best_bid(), book.best_ask()
        return TopOfBook(
            venue,
            symbol,
            None if bid is None else bid.price,
            None if bid is None else bid.qty,
            None if ask is None else ask.price,
            None if ask is None else ask.qty,
            book.update_id,
            book.is_live,
            entry.event_ms if entry is not None else book.ts,
        )

    def recent_trades(self, venue: Venue, symbol: str, n: int | None = None) -> tuple[Trade, ...]:
        ring = self.trades.get((venue, symbol))
        if not ring:
            return ()
        items = tuple(ring)
        return items if n is None else items[-n:]

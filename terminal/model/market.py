"""Market data: candles, trades, order book snapshots, tickers, mark price / funding.

Timestamps are epoch milliseconds (ints), as every venue sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from terminal.model._dec import ZERO, DecimalLike, to_decimal
from terminal.model.enums import Side, Venue

__all__ = [
    "BookLevel",
    "Candle",
    "FundingRate",
    "MarkPrice",
    "OrderBookSnapshot",
    "Ticker",
    "Trade",
]


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar.

    OHLCV are floats, not Decimal: candles feed charts (numpy arrays) and indicators, where
    Decimal would cost ~50x per operation and nothing is settled from them. Prices that go
    into orders come from the instrument's Decimal rounding, never from a candle.
    """

    venue: Venue
    symbol: str
    interval: str  # venue-neutral label: "1m", "5m", "1h", "1d"
    open_time: int  # ms, inclusive
    close_time: int  # ms, inclusive (Binance style: next open_time - 1)
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0  # base asset
    quote_volume: float = 0.0
    trades: int = 0
    closed: bool = False  # False while the bar is still forming

    @property
    def is_bullish(self) -> bool:
        return self.close >= self.open

    @property
    def range(self) -> float:
        return self.high - self.low

    def contains(self, ts_ms: int) -> bool:
        return self.open_time <= ts_ms <= self.close_time


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade print."""

    venue: Venue
    symbol: str
    trade_id: int | str  # Binance: int; Bybit: UUID string
    price: Decimal
    qty: Decimal
    taker_side: Side  # aggressor side; Binance's "m" (buyer is maker) -> SELL
    ts: int

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    qty: Decimal

    @classmethod
    def of(cls, price: DecimalLike, qty: DecimalLike) -> BookLevel:
        return cls(to_decimal(price, "price"), to_decimal(qty, "qty"))


@dataclass(frozen=True, slots=True)
class OrderBookSnapshot:
    """An immutable view of a book: bids best (highest) first, asks best (lowest) first.

    The live book keeps integer ticks for speed (terminal.market); this is what it hands to
    readers. Use :meth:`create` when the levels are not already sorted.
    """

    venue: Venue
    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts: int = 0
    last_update_id: int = 0

    @classmethod
    def create(
        cls,
        venue: Venue,
        symbol: str,
        bids: Iterable[BookLevel | tuple[DecimalLike, DecimalLike]],
        asks: Iterable[BookLevel | tuple[DecimalLike, DecimalLike]],
        *,
        ts: int = 0,
        last_update_id: int = 0,
    ) -> OrderBookSnapshot:
        """Build from unsorted levels; zero-quantity levels (deletions on the wire) are dropped."""
        b = [lv if isinstance(lv, BookLevel) else BookLevel.of(*lv) for lv in bids]
        a = [lv if isinstance(lv, BookLevel) else BookLevel.of(*lv) for lv in asks]
        b = sorted((lv for lv in b if lv.qty > 0), key=lambda lv: lv.price, reverse=True)
        a = sorted((lv for lv in a if lv.qty > 0), key=lambda lv: lv.price)
        return cls(venue, symbol, tuple(b), tuple(a), ts, last_update_id)

    @property
    def best_bid(self) -> BookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        return self.asks[0] if self.asks else None

    @property
    def spread(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price - self.bids[0].price

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.asks[0].price + self.bids[0].price) / 2

    @property
    def is_crossed(self) -> bool:
        """A crossed book means a missed update: the feed must resync."""
        s = self.spread
        return s is not None and s <= 0

    def depth(self, side: Side, levels: int | None = None) -> Decimal:
        """Total quantity on one side (bids for BUY), optionally over the top N levels."""
        book = self.bids if side is Side.BUY else self.asks
        return sum((lv.qty for lv in book[:levels]), ZERO)


@dataclass(frozen=True, slots=True)
class Ticker:
    """24h rolling statistics plus top of book."""

    venue: Venue
    symbol: str
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    open_24h: Decimal | None = None
    high_24h: Decimal | None = None
    low_24h: Decimal | None = None
    volume_24h: Decimal = ZERO  # base asset
    quote_volume_24h: Decimal = ZERO
    ts: int = 0

    @property
    def change_24h(self) -> Decimal | None:
        return None if self.open_24h is None else self.last - self.open_24h

    @property
    def change_pct_24h(self) -> Decimal | None:
        """Percent change over 24h (e.g. Decimal("2.5") for +2.5%); None without an open."""
        if self.open_24h is None or self.open_24h == 0:
            return None
        return (self.last - self.open_24h) / self.open_24h * 100


@dataclass(frozen=True, slots=True)
class MarkPrice:
    """Perpetual mark/index price with the current funding rate (Binance markPriceUpdate,
    Bybit tickers on linear)."""

    venue: Venue
    symbol: str
    mark_price: Decimal
    index_price: Decimal | None = None
    funding_rate: Decimal | None = None  # per funding interval, e.g. 0.0001 = 0.01%
    next_funding_time: int | None = None  # ms
    ts: int = 0

    @property
    def basis(self) -> Decimal | None:
        return None if self.index_price is None else self.mark_price - self.index_price


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A settled funding event (history)."""

    venue: Venue
    symbol: str
    rate: Decimal
    funding_time: int  # ms
    mark_price: Decimal | None = None

    def payment(self, signed_qty: Decimal, mark_price: Decimal | None = None) -> Decimal:
        """Funding paid by a position (positive = paid, longs pay when the rate is positive)."""
        price = mark_price if mark_price is not None else self.mark_price
        if price is None:
            raise ValueError("funding payment needs a mark price")
        return signed_qty * price * self.rate

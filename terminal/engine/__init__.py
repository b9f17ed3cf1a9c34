"""Engine state: books, candles, tickers, account and feeds, kept from the typed venue events."""

from terminal.engine.account import AccountState, PositionKey
from terminal.engine.candles import CandleKey, CandleSeries, LiveMerge, interval_ms
from terminal.engine.engine import BackfillFn, Engine, Versions
from terminal.engine.feeds import FeedsState, Recovery
from terminal.engine.market import BookEntry, BookTicker, MarketState, TopOfBook

__all__ = [
    "AccountState",
    "BackfillFn",
    "BookEntry",
    "BookTicker",
    "CandleKey",
    "CandleSeries",
    "Engine",
    "FeedsState",
    "LiveMerge",
    "MarketState",
    "PositionKey",
    "Recovery",
    "TopOfBook",
    "Versions",
    "interval_ms",
]

"""Market-data engines of the trading core (headless): local order books per (venue, symbol)."""

from terminal.market.orderbook import (
    ApplyResult,
    BinanceFuturesBookSync,
    BinanceSpotBookSync,
    BookState,
    BybitBookSync,
    DepthDiff,
    LocalBook,
    decode_binance_depth,
)

__all__ = [
    "ApplyResult",
    "BinanceFuturesBookSync",
    "BinanceSpotBookSync",
    "BookState",
    "BybitBookSync",
    "DepthDiff",
    "LocalBook",
    "decode_binance_depth",
]

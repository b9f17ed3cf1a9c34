"""Binance market-data wire -> model, shared by spot and USDⓈ-M futures.

Both venues send the same kline / trade / aggTrade / bookTicker / 24hrTicker shapes (futures
omits bid/ask in the 24h ticker, spot has no event time in bookTicker), so one parser per shape
serves both; ``parse_spot`` and ``parse_futures`` bind their venue. Stream events may arrive
still wrapped in the combined-stream envelope: it is stripped here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from terminal.model import Candle, Side, Ticker, Trade, Venue
from terminal.venues.events import BookTickerEvent

__all__ = [
    "agg_trade",
    "book_ticker",
    "dec",
    "kline",
    "opt_positive",
    "rest_agg_trade",
    "rest_book_ticker",
    "rest_kline",
    "rest_ticker_24h",
    "rest_trade",
    "ticker_24h",
    "trade",
    "unwrap",
]

_ZERO = Decimal(0)


def dec(value: Any) -> Decimal:
    """Wire number -> Decimal (``None``/"" are zero: Binance sends both for 'not applicable')."""
    if value is None or value == "":
        return _ZERO
    return Decimal(str(value))


def opt_positive(value: Any) -> Decimal | None:
    """A price that may be absent or zero (no bid yet) -> None."""
    d = dec(value)
    return d if d > 0 else None


def unwrap(msg: Mapping[str, Any]) -> Mapping[str, Any]:
    """Combined-stream frames wrap the event: ``{"stream": .., "data": {...}}``."""
    data = msg.get("data")
    return data if isinstance(data, Mapping) and "stream" in msg else msg


def _taker(buyer_is_maker: bool) -> Side:
    return Side.SELL if buyer_is_maker else Side.BUY


def kline(venue: Venue, msg: Mapping[str, Any]) -> Candle:
    """Stream ``kline`` event -> Candle; ``closed`` is exactly the venue's ``k.x``, nothing else."""
    msg = unwrap(msg)
    k = msg["k"]
    return Candle(
        venue=venue,
        symbol=k.get("s") or msg["s"],
        interval=k["i"],
        open_time=int(k["t"]),
        close_time=int(k["T"]),
        open=float(k["o"]),
        high=float(k["h"]),
        low=float(k["l"]),
        close=float(k["c"]),
        volume=float(k["v"]),
        quote_volume=float(k["q"]),
        trades=int(k["n"]),
        closed=k["x"] is True,
    )


def rest_kline(venue: Venue, row: Sequence[Any], symbol: str, interval: str, now_ms: int) -> Candle:
    """REST klines row -> Candle; closed once its close time is past ``now_ms`` (venue clock):
    REST carries no flag, and the last row may still be forming."""
    close_time = int(row[6])
    return Candle(
        venue=venue,
        symbol=symbol,
        interval=interval,
        open_time=int(row[0]),
        close_time=close_time,
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5]),
        quote_volume=float(row[7]),
        trades=int(row[8]),
        closed=close_time < now_ms,
    )


def trade(venue: Venue, msg: Mapping[str, Any]) -> Trade:
    """Stream ``trade`` -> Trade (``m`` buyer is maker -> the taker sold)."""
    msg = unwrap(msg)
    return Trade(
        venue, msg["s"], int(msg["t"]), dec(msg["p"]), dec(msg["q"]), _taker(msg["m"]), int(msg["T"])
    )


def agg_trade(venue: Venue, msg: Mapping[str, Any]) -> Trade:
    """Stream ``aggTrade`` -> Trade keyed by the aggregate id ``a``."""
    msg = unwrap(msg)
    return Trade(
        venue, msg["s"], int(msg["a"]), dec(msg["p"]), dec(msg["q"]), _taker(msg["m"]), int(msg["T"])
    )


def rest_trade(venue: Venue, row: Mapping[str, Any], symbol: str) -> Trade:
    """``trades`` / ``historicalTrades`` row."""
    return Trade(
        venue,
        symbol,
        int(row["id"]),
        dec(row["price"]),
        dec(row["qty"]),
        _taker(row["isBuyerMaker"]),
        int(row["time"]),
    )


def rest_agg_trade(venue: Venue, row: Mapping[str, Any], symbol: str) -> Trade:
    """``aggTrades`` row."""
    return Trade(venue, symbol, int(row["a"]), dec(row["p"]), dec(row["q"]), _taker(row["m"]), int(row["T"]))


def book_ticker(venue: Venue, msg: Mapping[str, Any]) -> BookTickerEvent:
    """Stream ``bookTicker``: transaction time ``T`` (futures), else event time, else 0 (spot
    sends neither)."""
    msg = unwrap(msg)
    return BookTickerEvent(
        venue=venue,
        symbol=msg["s"],
        bid=dec(msg["b"]),
        bid_qty=dec(msg["B"]),
        ask=dec(msg["a"]),
        ask_qty=dec(msg["A"]),
        ts=int(msg.get("T") or msg.get("E") or 0),
    )


def rest_book_ticker(venue: Venue, row: Mapping[str, Any]) -> BookTickerEvent:
    return BookTickerEvent(
        venue=venue,
        symbol=row["symbol"],
        bid=dec(row["bidPrice"]),
        bid_qty=dec(row["bidQty"]),
        ask=dec(row["askPrice"]),
        ask_qty=dec(row["askQty"]),
        ts=int(row.get("time") or 0),
    )


def ticker_24h(venue: Venue, msg: Mapping[str, Any]) -> Ticker:
    """Stream ``24hrTicker`` -> Ticker (futures sends no bid/ask in it: None then)."""
    msg = unwrap(msg)
    return Ticker(
        venue=venue,
        symbol=msg["s"],
        last=dec(msg["c"]),
        bid=opt_positive(msg.get("b")),
        ask=opt_positive(msg.get("a")),
        open_24h=dec(msg["o"]),
        high_24h=dec(msg["h"]),
        low_24h=dec(msg["l"]),
        volume_24h=dec(msg["v"]),
        quote_volume_24h=dec(msg["q"]),
        ts=int(msg["E"]),
    )


def rest_ticker_24h(venue: Venue, row: Mapping[str, Any]) -> Ticker:
    """``ticker/24hr`` row."""
    return Ticker(
        venue=venue,
        symbol=row["symbol"],
        last=dec(row["lastPrice"]),
        bid=opt_positive(row.get("bidPrice")),
        ask=opt_positive(row.get("askPrice")),
        open_24h=dec(row["openPrice"]),
        high_24h=dec(row["highPrice"]),
        low_24h=dec(row["lowPrice"]),
        volume_24h=dec(row["volume"]),
        quote_volume_24h=dec(row["quoteVolume"]),
        ts=int(row["closeTime"]),
    )

"""Bybit v5 wire JSON → domain model. Pure functions (plus one small merge state for tickers).

Everything here takes already-decoded JSON (dicts/lists) and returns model objects; no I/O.
Empty strings, ``null`` and ``"0"`` are Bybit's ways of saying "not set" for optional prices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from terminal.model import (
    Balance,
    Candle,
    Fill,
    Instrument,
    InstrumentKind,
    MarginMode,
    MarkPrice,
    Order,
    OrderBookSnapshot,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    Side,
    Ticker,
    TimeInForce,
    Trade,
    Venue,
)
from terminal.venues.events import OrderReport, ReportSource

__all__ = [
    "CATEGORY",
    "INTERVAL_MS",
    "TickerState",
    "bybit_interval",
    "category_of",
    "interval_label",
    "parse_balances",
    "parse_candle_rest",
    "parse_candle_ws",
    "parse_execution",
    "parse_instrument",
    "parse_instruments",
    "parse_order",
    "parse_orderbook_rest",
    "parse_position",
    "parse_public_trades",
    "parse_rest_klines",
    "parse_trade_rest",
    "venue_of",
    "wire_order_type",
    "wire_side",
    "wire_tif",
]

ZERO = Decimal(0)

CATEGORY: Mapping[Venue, str] = {Venue.BYBIT_SPOT: "spot", Venue.BYBIT_LINEAR: "linear"}
_VENUE_OF = {v: k for k, v in CATEGORY.items()}


def venue_of(category: str | None) -> Venue | None:
    """The venue a private-stream row belongs to (the unified account mixes categories)."""
    return _VENUE_OF.get(category or "")


def category_of(venue: Venue) -> str:
    try:
        return CATEGORY[venue]
    except KeyError:
        raise ValueError(f"{venue} is not a Bybit venue") from None


# ---------------------------------------------------------------- small helpers
def _dec(v: Any, default: Decimal = ZERO) -> Decimal:
    if v is None or v == "":
        return default
    return Decimal(str(v))


def _opt(v: Any) -> Decimal | None:
    """Optional price: None for missing, empty or zero."""
    if v is None or v == "":
        return None
    d = Decimal(str(v))
    return None if d == 0 else d


def _int(v: Any, default: int = 0) -> int:
    if v is None or v == "":
        return default
    return int(v)


def _side(v: str) -> Side:
    if v == "Buy":
        return Side.BUY
    if v == "Sell":
        return Side.SELL
    raise ValueError(f"unknown Bybit side {v!r}")


def wire_side(side: Side) -> str:
    return "Buy" if side is Side.BUY else "Sell"


# ---------------------------------------------------------------- intervals
# venue-neutral label -> Bybit kline interval
_INTERVALS: Mapping[str, str] = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "2h": "120",
    "4h": "240",
    "6h": "360",
    "12h": "720",
    "1d": "D",
    "1w": "W",
    "1M": "M",
}
_LABELS = {v: k for k, v in _INTERVALS.items()}
_MIN = 60_000
INTERVAL_MS: Mapping[str, int] = {
    "1": _MIN,
    "3": 3 * _MIN,
    "5": 5 * _MIN,
    "15": 15 * _MIN,
    "30": 30 * _MIN,
    "60": 60 * _MIN,
    "120": 120 * _MIN,
    "240": 240 * _MIN,
    "360": 360 * _MIN,
    "720": 720 * _MIN,
    "D": 1440 * _MIN,
    "W": 7 * 1440 * _MIN,
}


def bybit_interval(label: str) -> str:
    try:
        return _INTERVALS[label]
    except KeyError:
        raise ValueError(f"unsupported candle interval {label!r}") from None


def interval_label(wire: str) -> str:
    try:
        return _LABELS[str(wire)]
    except KeyError:
        raise ValueError(f"unknown Bybit kline interval {wire!r}") from None


# ---------------------------------------------------------------- instruments
def parse_instrument(venue: Venue, row: Mapping[str, Any]) -> Instrument:
    """One ``instruments-info`` row. Spot: step = ``basePrecision``, min notional = ``minOrderAmt``;
    linear: ``qtyStep``, ``minNotionalValue``, ``maxMktOrderQty``, price range from ``priceFilter``."""
    lot = row["lotSizeFilter"]
    price = row["priceFilter"]
    common = {
        "venue": venue,
        "symbol": row["symbol"],
        "base": row["baseCoin"],
        "quote": row["quoteCoin"],
        "tick_size": _dec(price["tickSize"]),
        "min_qty": _dec(lot.get("minOrderQty")),
        "max_qty": _opt(lot.get("maxOrderQty")),
        "min_price": _dec(price.get("minPrice")),
        "max_price": _opt(price.get("maxPrice")),
    }
    if venue is Venue.BYBIT_SPOT:
        return Instrument(
            kind=InstrumentKind.SPOT,
            step_size=_dec(lot["basePrecision"]),
            min_notional=_dec(lot.get("minOrderAmt")),
            max_notional=_opt(lot.get("maxOrderAmt")),
            **common,
        )
    return Instrument(
        kind=InstrumentKind.LINEAR_PERPETUAL,
        step_size=_dec(lot["qtyStep"]),
        market_max_qty=_opt(lot.get("maxMktOrderQty")),
        min_notional=_dec(lot.get("minNotionalValue")),
        **common,
    )


def parse_instruments(
    venue: Venue, result: Mapping[str, Any], *, trading_only: bool = True
) -> list[Instrument]:
    """Rows of an ``instruments-info`` result; linear keeps perpetuals only (no dated futures)."""
    out = []
    for row in result.get("list") or []:
        if trading_only and row.get("status", "Trading") != "Trading":
            continue
        if venue is Venue.BYBIT_LINEAR and row.get("contractType", "LinearPerpetual") != "LinearPerpetual":
            continue
        out.append(parse_instrument(venue, row))
    return out


# ---------------------------------------------------------------- public market data
def parse_orderbook_rest(venue: Venue, result: Mapping[str, Any]) -> OrderBookSnapshot:
    """``/v5/market/orderbook`` result ``{s, b, a, ts, u}`` (the stream's book is BybitBookSync's)."""
    return OrderBookSnapshot.create(
        venue,
        result["s"],
        result["b"],
        result["a"],
        ts=_int(result.get("ts")),
        last_update_id=_int(result.get("u")),
    )


def parse_public_trades(venue: Venue, msg: Mapping[str, Any]) -> list[Trade]:
    """A ``publicTrade.SYM`` frame: ``data:[{T,s,S,v,p,i,...}]``."""
    return [
        Trade(
            venue=venue,
            symbol=row["s"],
            trade_id=str(row["i"]),
            price=_dec(row["p"]),
            qty=_dec(row["v"]),
            taker_side=_side(row["S"]),
            ts=int(row["T"]),
        )
        for row in msg.get("data") or []
    ]


def parse_trade_rest(venue: Venue, row: Mapping[str, Any]) -> Trade:
    """One ``/v5/market/recent-trade`` row."""
    return Trade(
        venue=venue,
        symbol=row["symbol"],
        trade_id=str(row["execId"]),
        price=_dec(row["price"]),
        qty=_dec(row["size"]),
        taker_side=_side(row["side"]),
        ts=int(row["time"]),
    )


def parse_candle_ws(venue: Venue, symbol: str, row: Mapping[str, Any]) -> Candle:
    """One ``kline.I.SYM`` row; closed exactly when Bybit says ``confirm``."""
    return Candle(
        venue=venue,
        symbol=symbol,
        interval=interval_label(row["interval"]),
        open_time=int(row["start"]),
        close_time=int(row["end"]),
        open=float(row["open"]),
        high=float(row["high"]),
        low=float(row["low"]),
        close=float(row["close"]),
        volume=float(row["volume"]),
        quote_volume=float(row["turnover"]),
        closed=row["confirm"] is True,
    )


def parse_candle_rest(venue: Venue, symbol: str, wire_interval: str, row: list[Any], now_ms: int) -> Candle:
    """One ``/v5/market/kline`` row ``[start, open, high, low, close, volume, turnover]``.

    REST has no ``confirm``: a bar whose end lies in the (server) future is still forming.
    """
    start = int(row[0])
    end = start + INTERVAL_MS[wire_interval] - 1
    return Candle(
        venue=venue,
        symbol=symbol,
        interval=interval_label(wire_interval),
        open_time=start,
        close_time=end,
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5]),
        quote_volume=float(row[6]),
        closed=end < now_ms,
    )


def parse_rest_klines(
    venue: Venue, symbol: str, wire_interval: str, result: Mapping[str, Any], now_ms: int
) -> list[Candle]:
    """Bybit lists newest first; we return oldest first."""
    rows = result.get("list") or []
    return [parse_candle_rest(venue, symbol, wire_interval, r, now_ms) for r in reversed(rows)]


@dataclass(slots=True)
class TickerState:
    """Linear ``tickers.SYM`` sends a snapshot, then deltas with only the changed fields;
    this keeps the merged view so every event carries complete values."""

    venue: Venue
    symbol: str
    fields: dict[str, Any] = field(default_factory=dict)

    def apply(self, msg: Mapping[str, Any]) -> tuple[Ticker | None, MarkPrice | None]:
        data = msg.get("data") or {}
        if msg.get("type", "snapshot") == "snapshot":
            self.fields = dict(data)
        else:
            self.fields.update(data)
        ts = _int(msg.get("ts"))
        return self.ticker(ts), self.mark(ts)

    def ticker(self, ts: int) -> Ticker | None:
        f = self.fields
        last = _opt(f.get("lastPrice"))
        if last is None:
            return None
        return Ticker(
            venue=self.venue,
            symbol=self.symbol,
            last=last,
            bid=_opt(f.get("bid1Price")),
            ask=_opt(f.get("ask1Price")),
            open_24h=_opt(f.get("prevPrice24h")),
            high_24h=_opt(f.get("highPrice24h")),
            low_24h=_opt(f.get("lowPrice24h")),
            volume_24h=_dec(f.get("volume24h")),
            quote_volume_24h=_dec(f.get("turnover24h")),
            ts=ts,
        )

    def mark(self, ts: int) -> MarkPrice | None:
        f = self.fields
        mark = _opt(f.get("markPrice"))
        if mark is None or self.venue is Venue.BYBIT_SPOT:
            return None
        rate = f.get("fundingRate")
        return MarkPrice(
            venue=self.venue,
            symbol=self.symbol,
            mark_price=mark,
            index_price=_opt(f.get("indexPrice")),
            funding_rate=None if rate in (None, "") else Decimal(str(rate)),
            next_funding_time=_int(f.get("nextFundingTime")) or None,
            ts=ts,
        )


# ---------------------------------------------------------------- orders
_STATUS: Mapping[str, OrderStatus] = {
    "Created": OrderStatus.PENDING_NEW,  # accepted by the system, not yet matched
    "New": OrderStatus.NEW,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELED,
    "PartiallyFilledCanceled": OrderStatus.CANCELED,  # spot: filled in part, rest cancelled
    "Rejected": OrderStatus.REJECTED,
    "Untriggered": OrderStatus.UNTRIGGERED,
    "Triggered": OrderStatus.NEW,  # the conditional fired; it now works as a plain order
    "Deactivated": OrderStatus.CANCELED,  # a conditional/TP-SL cancelled before triggering
}
_TIF: Mapping[str, TimeInForce] = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "PostOnly": TimeInForce.POST_ONLY,
}
_WIRE_TIF = {v: k for k, v in _TIF.items()}
_POSITION_IDX = {0: PositionSide.BOTH, 1: PositionSide.LONG, 2: PositionSide.SHORT}
_TAKE_PROFIT_KINDS = frozenset({"TakeProfit", "PartialTakeProfit"})
_STOP_LOSS_KINDS = frozenset({"StopLoss", "PartialStopLoss"})


def order_status(wire: str) -> OrderStatus:
    try:
        return _STATUS[wire]
    except KeyError:
        raise ValueError(f"unknown Bybit orderStatus {wire!r}") from None


def wire_tif(tif: TimeInForce) -> str:
    return _WIRE_TIF[tif]


def wire_order_type(t: OrderType) -> str:
    return "Limit" if t.has_limit_price else "Market"


def _order_type(row: Mapping[str, Any]) -> OrderType:
    limit = row.get("orderType") == "Limit"
    stop_kind = row.get("stopOrderType")
    # Only a trigger price makes an order conditional: plain orders may still carry a
    # stopOrderType (documentation examples show "StopLoss" with triggerPrice "0").
    if _opt(row.get("triggerPrice")) is None:
        return OrderType.LIMIT if limit else OrderType.MARKET
    if stop_kind == "TrailingStop":
        return OrderType.TRAILING_STOP_MARKET
    if stop_kind in _TAKE_PROFIT_KINDS:
        take_profit = True
    elif stop_kind in _STOP_LOSS_KINDS:
        take_profit = False
    else:
        # A plain conditional ("Stop"): the trigger direction says which kind it is. A buy that
        # fires on a rise is a stop, on a fall an if-touched (take-profit) order; sells mirror.
        direction = _int(row.get("triggerDirection"))
        take_profit = direction in (1, 2) and (row.get("side") == "Buy") != (direction == 1)
    if take_profit:
        return OrderType.TAKE_PROFIT_LIMIT if limit else OrderType.TAKE_PROFIT_MARKET
    return OrderType.STOP_LIMIT if limit else OrderType.STOP_MARKET


def _reason(row: Mapping[str, Any]) -> str | None:
    reason = row.get("rejectReason") or ""
    if reason and reason != "EC_NoError":
        return str(reason)
    cancel = row.get("cancelType") or ""
    if row.get("orderStatus") in ("Cancelled", "PartiallyFilledCanceled", "Deactivated") and cancel not in (
        "",
        "UNKNOWN",
    ):
        return str(cancel)
    return None


def parse_order(venue: Venue, row: Mapping[str, Any], source: ReportSource) -> OrderReport:
    """A ``order`` stream row or an ``order/realtime|history`` row → ``OrderReport``.

    ``qty`` is in the base coin, except spot market buys sent with ``marketUnit=quoteCoin``
    (this adapter always sends ``baseCoin``).
    """
    tif = _TIF.get(row.get("timeInForce") or "GTC", TimeInForce.GTC)
    otype = _order_type(row)
    updated = _int(row.get("updatedTime"))
    filled = _dec(row.get("cumExecQty"))
    order = Order(
        client_id=row.get("orderLinkId") or "",
        venue=venue,
        symbol=row["symbol"],
        side=_side(row["side"]),
        type=otype,
        qty=_dec(row["qty"]),
        price=_opt(row.get("price")) if otype.has_limit_price else None,
        stop_price=_opt(row.get("triggerPrice")),
        tif=tif,
        reduce_only=bool(row.get("reduceOnly")),
        post_only=tif is TimeInForce.POST_ONLY,
        position_side=_POSITION_IDX.get(_int(row.get("positionIdx")), PositionSide.BOTH),
        status=order_status(row["orderStatus"]),
        venue_order_id=str(row["orderId"]),
        filled_qty=filled,
        avg_price=_opt(row.get("avgPrice")) if filled > 0 else None,
        created_at=_int(row.get("createdTime")),
        updated_at=updated,
        reason=_reason(row),
    )
    return OrderReport(order=order, source=source, ts=updated)


def parse_execution(
    venue: Venue, row: Mapping[str, Any], *, quote: str | None = None, base: str | None = None
) -> Fill | None:
    """An ``execution`` stream row or ``execution/list`` row → ``Fill``; None for non-trades
    (``Funding``, ``Settle``...). ``feeCurrency`` is used when given; otherwise linear fees are
    in the quote (settle) coin, and spot fees in what was received (base on buys, quote on sells)."""
    exec_type = row.get("execType", "Trade")
    if exec_type not in ("Trade", "AdlTrade", "BustTrade", "BlockTrade", "MovePosition"):
        return None
    side = _side(row["side"])
    fee_asset = row.get("feeCurrency") or ""
    if not fee_asset:
        if venue is Venue.BYBIT_SPOT:
            fee_asset = (base if side is Side.BUY else quote) or ""
        else:
            fee_asset = quote or ""
    pnl = row.get("execPnl", row.get("closedPnl"))
    return Fill(
        venue=venue,
        symbol=row["symbol"],
        client_id=row.get("orderLinkId") or "",
        venue_order_id=str(row["orderId"]),
        trade_id=str(row["execId"]),
        side=side,
        price=_dec(row["execPrice"]),
        qty=_dec(row["execQty"]),
        ts=_int(row.get("execTime")),
        fee=_dec(row["execFee"]),
        fee_asset=fee_asset,
        is_maker=row.get("isMaker") is True,
        realized_pnl=None if pnl in (None, "") else Decimal(str(pnl)),
    )


# ---------------------------------------------------------------- account
def parse_position(venue: Venue, row: Mapping[str, Any]) -> Position:
    """``position`` stream row or ``position/list`` row. One-way (``positionIdx`` 0): signed qty,
    negative for ``side: Sell``; hedge legs (1 long, 2 short): non-negative qty per leg."""
    pside = _POSITION_IDX.get(_int(row.get("positionIdx")), PositionSide.BOTH)
    size = _dec(row.get("size"))
    if pside is PositionSide.BOTH and row.get("side") == "Sell":
        size = -size
    entry = _opt(row.get("avgPrice")) or _opt(row.get("entryPrice")) or ZERO
    return Position(
        venue=venue,
        symbol=row["symbol"],
        side=pside,
        qty=size,
        entry_price=entry if size != 0 else ZERO,
        mark_price=_opt(row.get("markPrice")),
        leverage=_opt(row.get("leverage")) or Decimal(1),
        margin_mode=MarginMode.ISOLATED if _int(row.get("tradeMode")) == 1 else MarginMode.CROSS,
        liquidation_price=_opt(row.get("liqPrice")),
        updated_at=_int(row.get("updatedTime")),
    )


def parse_balances(accounts: Iterable[Mapping[str, Any]]) -> list[Balance]:
    """``wallet`` stream data or ``wallet-balance`` result list → one ``Balance`` per coin.

    Unified account: total = ``walletBalance``; locked = spot order locks (``locked``) plus
    margin held for orders and positions (``totalOrderIM`` + ``totalPositionIM``), capped at the
    total (under a loss the margin can exceed the wallet); free = the rest.
    """
    out = []
    for acct in accounts:
        for c in acct.get("coin") or []:
            total = _dec(c.get("walletBalance"))
            held = _dec(c.get("locked")) + _dec(c.get("totalOrderIM")) + _dec(c.get("totalPositionIM"))
            locked = max(ZERO, min(held, total))
            out.append(Balance(asset=c["coin"], free=total - locked, locked=locked))
    return out

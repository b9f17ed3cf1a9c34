"""Binance spot wire JSON -> model types. Pure functions, no I/O.

Every function takes the already-decoded dict (``loads`` accepts bytes/str and unwraps the
combined-stream ``{"stream","data"}`` and user-stream ``{"subscriptionId","event"}`` envelopes).
Prices and quantities become exact Decimals (candles: floats, see ``Candle``).

Mapping notes:
* closedness of a streamed kline is ``k.x`` exactly; a REST kline is closed when its close time
  has passed on the venue clock (REST has no flag; the caller passes ``now_ms``);
* LIMIT_MAKER -> LIMIT + POST_ONLY; STOP_LOSS/TAKE_PROFIT -> STOP_MARKET/TAKE_PROFIT_MARKET,
  *_LIMIT -> STOP_LIMIT/TAKE_PROFIT_LIMIT; TIF GTX -> POST_ONLY, GTD -> GTC (our model has no
  GTD; the order rests like GTC until the venue expires it and says so);
* status EXPIRED_IN_MATCH (self-trade prevention) -> EXPIRED; PENDING_NEW (an order-list leg
  accepted but not yet working) -> UNTRIGGERED;
* an executionReport yields a Fill when ``x`` is TRADE (or CALCULATED, a liquidation fill)
  with ``l > 0`` and ``L > 0``: Binance sends TRADE reports with l or L of 0 that are no
  executions (see the ``trade_l_zero*`` fixtures).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from terminal.model import (
    Balance,
    Candle,
    Fill,
    Instrument,
    InstrumentKind,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Ticker,
    TimeInForce,
    Trade,
    Venue,
)
from terminal.venues.binance import parse_market as M
from terminal.venues.binance.client import instrument_from_binance
from terminal.venues.events import BalancesEvent, BookTickerEvent, OrderReport, ReportSource

__all__ = [
    "BalanceDelta",
    "ExecutionReport",
    "ListStatus",
    "account_balances",
    "account_position",
    "agg_trade",
    "balance_update",
    "book_ticker",
    "execution_report",
    "instruments",
    "kline",
    "list_status",
    "loads",
    "my_trade",
    "order_response",
    "order_type_to_wire",
    "rest_agg_trade",
    "rest_book_ticker",
    "rest_kline",
    "rest_ticker_24h",
    "rest_trade",
    "ticker_24h",
    "trade",
]

VENUE = Venue.BINANCE_SPOT
ZERO = Decimal(0)

_TYPES: Mapping[str, OrderType] = {
    "LIMIT": OrderType.LIMIT,
    "LIMIT_MAKER": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    "STOP_LOSS": OrderType.STOP_MARKET,
    "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT,
    "TAKE_PROFIT": OrderType.TAKE_PROFIT_MARKET,
    "TAKE_PROFIT_LIMIT": OrderType.TAKE_PROFIT_LIMIT,
}
_TYPES_OUT: Mapping[OrderType, str] = {
    OrderType.LIMIT: "LIMIT",
    OrderType.MARKET: "MARKET",
    OrderType.STOP_MARKET: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}
_TIF: Mapping[str, TimeInForce] = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "GTX": TimeInForce.POST_ONLY,
    "GTD": TimeInForce.GTC,
}
_STATUS: Mapping[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.UNTRIGGERED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.PENDING_CANCEL,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
_FILL_EXEC_TYPES = frozenset({"TRADE", "CALCULATED"})


def loads(raw: bytes | str | Mapping[str, Any]) -> Any:
    """Decode a frame and strip the combined-stream / user-stream envelope."""
    msg: Any = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    if isinstance(msg, Mapping):
        if "event" in msg and "subscriptionId" in msg:
            return msg["event"]
        if "data" in msg and "stream" in msg:
            return msg["data"]
    return msg


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


_opt_positive = M.opt_positive


def order_type_to_wire(order_type: OrderType, post_only: bool) -> str:
    """Model type -> Binance spot ``type`` (LIMIT + post-only -> LIMIT_MAKER)."""
    if order_type is OrderType.LIMIT and post_only:
        return "LIMIT_MAKER"
    try:
        return _TYPES_OUT[order_type]
    except KeyError:
        raise ValueError(f"Binance spot has no {order_type} orders") from None


def _type_tif(wire_type: str, wire_tif: str | None) -> tuple[OrderType, TimeInForce, bool]:
    otype = _TYPES[wire_type]
    if wire_type == "LIMIT_MAKER":
        return otype, TimeInForce.POST_ONLY, True
    tif = _TIF.get(wire_tif or "GTC", TimeInForce.GTC)
    return otype, tif, tif is TimeInForce.POST_ONLY


# ---------------------------------------------------------------------- market data


# The shapes are shared with USDⓈ-M futures (parse_market); these bind the spot venue.
def kline(msg: Mapping[str, Any]) -> Candle:
    """Stream ``kline`` event -> Candle; ``closed`` is ``k.x``, nothing else."""
    return M.kline(VENUE, msg)


def rest_kline(row: list[Any], symbol: str, interval: str, now_ms: int) -> Candle:
    """``GET /api/v3/klines`` row -> Candle, closed once its close time is past ``now_ms``."""
    return M.rest_kline(VENUE, row, symbol, interval, now_ms)


def trade(msg: Mapping[str, Any]) -> Trade:
    return M.trade(VENUE, msg)


def agg_trade(msg: Mapping[str, Any]) -> Trade:
    return M.agg_trade(VENUE, msg)


def rest_trade(row: Mapping[str, Any], symbol: str) -> Trade:
    """``GET /api/v3/trades`` / ``historicalTrades`` row."""
    return M.rest_trade(VENUE, row, symbol)


def rest_agg_trade(row: Mapping[str, Any], symbol: str) -> Trade:
    return M.rest_agg_trade(VENUE, row, symbol)


def book_ticker(msg: Mapping[str, Any]) -> BookTickerEvent:
    """Stream ``bookTicker`` (spot has no event time; 0 then)."""
    return M.book_ticker(VENUE, msg)


def rest_book_ticker(row: Mapping[str, Any]) -> BookTickerEvent:
    return M.rest_book_ticker(VENUE, row)


def ticker_24h(msg: Mapping[str, Any]) -> Ticker:
    return M.ticker_24h(VENUE, msg)


def rest_ticker_24h(row: Mapping[str, Any]) -> Ticker:
    """``GET /api/v3/ticker/24hr`` row."""
    return M.rest_ticker_24h(VENUE, row)


def instruments(exchange_info: Mapping[str, Any], *, trading_only: bool = True) -> dict[str, Instrument]:
    """``exchangeInfo`` -> instruments by symbol (only TRADING symbols unless told otherwise)."""
    out: dict[str, Instrument] = {}
    for info in exchange_info.get("symbols", ()):
        if trading_only and info.get("status") != "TRADING":
            continue
        out[info["symbol"]] = instrument_from_binance(info, VENUE, InstrumentKind.SPOT)
    return out


# ---------------------------------------------------------------------- orders and fills


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """One ``executionReport``: the order's state, and the execution it reports, if any."""

    report: OrderReport
    fill: Fill | None
    exec_type: str  # x: NEW, TRADE, CANCELED, REJECTED, EXPIRED, TRADE_PREVENTION, ...


def _avg(cum_quote: Any, cum_qty: Decimal) -> Decimal | None:
    if cum_qty <= 0 or cum_quote is None:
        return None
    quote = _d(cum_quote)
    return quote / cum_qty if quote > 0 else None


def _order(
    *,
    client_id: str,
    symbol: str,
    side: str,
    wire_type: str,
    wire_tif: str | None,
    qty: Any,
    price: Any,
    stop_price: Any,
    status: str,
    order_id: Any,
    filled: Decimal,
    cum_quote: Any,
    created: int,
    updated: int,
    reason: str | None,
) -> Order:
    otype, tif, post_only = _type_tif(wire_type, wire_tif)
    q = _d(qty)
    if q <= 0:  # a quoteOrderQty market order states no base quantity: what filled is the size
        q = filled if filled > 0 else Decimal(0)
    return Order(
        client_id=client_id,
        venue=VENUE,
        symbol=symbol,
        side=Side(side),
        type=otype,
        qty=q,
        price=_opt_positive(price) if otype.has_limit_price else None,
        stop_price=_opt_positive(stop_price) if otype.is_conditional else None,
        tif=tif,
        post_only=post_only,
        status=_STATUS[status],
        venue_order_id=str(order_id),
        filled_qty=filled,
        avg_price=_avg(cum_quote, filled),
        created_at=created,
        updated_at=updated,
        reason=reason,
    )


def execution_report(msg: Mapping[str, Any]) -> ExecutionReport:
    """``executionReport`` -> OrderReport (+ Fill for a real execution).

    The client id is ``C`` (the original id) when set (cancels carry the cancel request's id in
    ``c``), else ``c``. ``r`` (reject reason) other than NONE becomes ``reason``.
    """
    filled = _d(msg["z"])
    reject = msg.get("r")
    client_id = msg.get("C") or msg["c"]
    ts = int(msg.get("E") or msg.get("T") or 0)
    order = _order(
        client_id=client_id,
        symbol=msg["s"],
        side=msg["S"],
        wire_type=msg["o"],
        wire_tif=msg.get("f"),
        qty=msg["q"],
        price=msg.get("p"),
        stop_price=msg.get("P"),
        status=msg["X"],
        order_id=msg["i"],
        filled=filled,
        cum_quote=msg.get("Z"),
        created=int(msg.get("O") or ts),
        updated=int(msg.get("T") or ts),
        reason=reject if reject and reject != "NONE" else None,
    )
    report = OrderReport(order=order, source=ReportSource.STREAM, ts=ts)
    fill = None
    last_qty, last_price = _d(msg["l"]), _d(msg["L"])
    if msg["x"] in _FILL_EXEC_TYPES and last_qty > 0 and last_price > 0:
        fee_asset = msg.get("N")
        fill = Fill(
            venue=VENUE,
            symbol=msg["s"],
            client_id=client_id,
            venue_order_id=str(msg["i"]),
            trade_id=str(msg["t"]),
            side=Side(msg["S"]),
            price=last_price,
            qty=last_qty,
            ts=int(msg.get("T") or ts),
            fee=_d(msg.get("n") or "0"),
            fee_asset=fee_asset or "",
            is_maker=bool(msg.get("m")),
        )
    return ExecutionReport(report, fill, msg["x"])


def order_response(
    row: Mapping[str, Any], source: ReportSource = ReportSource.REST
) -> tuple[OrderReport, list[Fill]]:
    """REST order JSON (POST FULL/RESULT/ACK, GET order, openOrders, allOrders, DELETE) ->
    OrderReport, plus the fills a FULL response lists (taker executions at placement)."""
    filled = _d(row.get("executedQty", "0"))
    ts = int(row.get("transactTime") or row.get("updateTime") or row.get("time") or 0)
    client_id = row.get("origClientOrderId") or row["clientOrderId"]
    symbol = row["symbol"]
    order = _order(
        client_id=client_id,
        symbol=symbol,
        side=row["side"],
        wire_type=row["type"],
        wire_tif=row.get("timeInForce"),
        qty=row["origQty"],
        price=row.get("price"),
        stop_price=row.get("stopPrice"),
        status=row["status"],
        order_id=row["orderId"],
        filled=filled,
        cum_quote=row.get("cummulativeQuoteQty"),
        created=int(row.get("time") or row.get("transactTime") or 0),
        updated=ts,
        reason=None,
    )
    fills = [
        Fill(
            venue=VENUE,
            symbol=symbol,
            client_id=client_id,
            venue_order_id=str(row["orderId"]),
            trade_id=str(f["tradeId"]),
            side=Side(row["side"]),
            price=_d(f["price"]),
            qty=_d(f["qty"]),
            ts=ts,
            fee=_d(f.get("commission") or "0"),
            fee_asset=f.get("commissionAsset") or "",
            is_maker=False,  # fills in the placement answer are the order taking liquidity
        )
        for f in row.get("fills") or ()
    ]
    return OrderReport(order=order, source=source, ts=ts), fills


def my_trade(row: Mapping[str, Any], client_id: str = "") -> Fill:
    """``GET /api/v3/myTrades`` row -> Fill. The venue omits the client id: the caller maps
    ``orderId`` -> client id (e.g. from allOrders) and passes it."""
    return Fill(
        venue=VENUE,
        symbol=row["symbol"],
        client_id=client_id,
        venue_order_id=str(row["orderId"]),
        trade_id=str(row["id"]),
        side=Side.BUY if row["isBuyer"] else Side.SELL,
        price=_d(row["price"]),
        qty=_d(row["qty"]),
        ts=int(row["time"]),
        fee=_d(row.get("commission") or "0"),
        fee_asset=row.get("commissionAsset") or "",
        is_maker=bool(row["isMaker"]),
    )


# ---------------------------------------------------------------------- balances


def _balances(rows: Iterable[Mapping[str, Any]], asset: str, free: str, locked: str) -> tuple[Balance, ...]:
    return tuple(Balance(r[asset], _d(r[free]), _d(r[locked])) for r in rows)


def account_balances(account: Mapping[str, Any], *, nonzero: bool = False) -> list[Balance]:
    """``GET /api/v3/account`` -> balances (the complete set)."""
    out = list(_balances(account.get("balances", ()), "asset", "free", "locked"))
    return [b for b in out if b.total != 0] if nonzero else out


def account_position(msg: Mapping[str, Any]) -> BalancesEvent:
    """``outboundAccountPosition``: the assets that changed, with absolute values (a delta set)."""
    return BalancesEvent(
        venue=VENUE,
        balances=_balances(msg.get("B", ()), "a", "f", "l"),
        snapshot=False,
        ts=int(msg.get("E") or msg.get("u") or 0),
    )


@dataclass(frozen=True, slots=True)
class BalanceDelta:
    """``balanceUpdate``: a deposit/withdrawal/transfer amount (not a balance)."""

    asset: str
    delta: Decimal
    ts: int  # clear time


def balance_update(msg: Mapping[str, Any]) -> BalanceDelta:
    return BalanceDelta(msg["a"], _d(msg["d"]), int(msg.get("T") or msg.get("E") or 0))


@dataclass(frozen=True, slots=True)
class ListStatus:
    """``listStatus`` (OCO etc.): the list's state; the legs' own executionReports carry the orders."""

    symbol: str
    list_id: int
    contingency: str  # "OCO"
    list_status: str  # l: RESPONSE / EXEC_STARTED / ALL_DONE
    list_order_status: str  # L: EXECUTING / ALL_DONE / REJECT
    list_client_id: str
    orders: tuple[tuple[str, str], ...]  # (venue order id, client id)
    ts: int


def list_status(msg: Mapping[str, Any]) -> ListStatus:
    return ListStatus(
        symbol=msg["s"],
        list_id=int(msg["g"]),
        contingency=msg["c"],
        list_status=msg["l"],
        list_order_status=msg["L"],
        list_client_id=msg["C"],
        orders=tuple((str(o["i"]), o["c"]) for o in msg.get("O", ())),
        ts=int(msg.get("T") or msg.get("E") or 0),
    )

"""Binance USDⓈ-M Futures wire JSON -> model types. Pure functions, no I/O.

Conventions (see PROTOCOLS.md §6 and the fixtures under shared/fixtures/exchange-payloads):

- Conditional orders (STOP*, TAKE_PROFIT*) live on the algo service until they trigger. Their
  ``venue_order_id`` is ``"algo:<algoId>"`` for their whole life: ORDER_TRADE_UPDATE of a
  triggered order names its algo parent in ``si``, so the OMS sees one id per client id
  (``Order.apply`` refuses a changed venue id). Plain orders use ``orderId``.
- An unknown status or type raises ``ValueError``: a silently wrong order state costs money.
- Binance ``GTD`` maps to GTC (the terminal has no GTD; the venue still enforces the date).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from terminal.model import (
    Balance,
    Candle,
    Fill,
    FundingRate,
    Instrument,
    InstrumentKind,
    MarginMode,
    MarkPrice,
    Order,
    OrderBookSnapshot,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    Ticker,
    TimeInForce,
    Trade,
    Venue,
)
from terminal.model.account import Position
from terminal.venues.binance import parse_market as M
from terminal.venues.events import (
    BalancesEvent,
    BookTickerEvent,
    OrderReport,
    PositionsEvent,
    ReportSource,
)

__all__ = [
    "ALGO_PREFIX",
    "STATUS_FROM_WIRE",
    "TIF_TO_WIRE",
    "TYPE_TO_WIRE",
    "UserUpdate",
    "algo_venue_id",
    "parse_account_update",
    "parse_account_v2",
    "parse_agg_trade",
    "parse_algo_order",
    "parse_algo_update",
    "parse_balance",
    "parse_book_ticker",
    "parse_depth_snapshot",
    "parse_exchange_info",
    "parse_funding_rate",
    "parse_kline",
    "parse_kline_row",
    "parse_mark_price",
    "parse_order",
    "parse_order_trade_update",
    "parse_position_risk",
    "parse_premium_index",
    "parse_rest_agg_trade",
    "parse_rest_book_ticker",
    "parse_rest_ticker",
    "parse_rest_trade",
    "parse_symbol_config",
    "parse_ticker",
    "parse_ticker_price",
    "parse_trade",
    "parse_user_trade",
]

VENUE = Venue.BINANCE_USDM
ZERO = Decimal(0)
ALGO_PREFIX = "algo:"

TYPE_FROM_WIRE: dict[str, OrderType] = {
    "LIMIT": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    "STOP": OrderType.STOP_LIMIT,
    "STOP_MARKET": OrderType.STOP_MARKET,
    "TAKE_PROFIT": OrderType.TAKE_PROFIT_LIMIT,
    "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET,
    "TRAILING_STOP_MARKET": OrderType.TRAILING_STOP_MARKET,
}
TYPE_TO_WIRE: dict[OrderType, str] = {v: k for k, v in TYPE_FROM_WIRE.items()}
TIF_FROM_WIRE: dict[str, TimeInForce] = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "GTX": TimeInForce.POST_ONLY,
    "GTD": TimeInForce.GTC,
}
TIF_TO_WIRE: dict[TimeInForce, str] = {
    TimeInForce.GTC: "GTC",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
    TimeInForce.POST_ONLY: "GTX",
}
STATUS_FROM_WIRE: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
# Liquidation/ADL statuses describe an order the venue executed for us: status follows the fill.
_FORCED_STATUSES = frozenset({"NEW_INSURANCE", "NEW_ADL"})
# ALGO_UPDATE / algo order status -> order status while the order waits on the algo service.
_ALGO_STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.UNTRIGGERED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.NEW,
}


# ----------------------------------------------------------------------------- helpers


# Wire number -> Decimal (None/"" -> 0) and "absent or zero -> None", as for spot.
D = M.dec
_opt_price = M.opt_positive


def _side(x: str) -> Side:
    return Side(x)


def _pos_side(x: str | None) -> PositionSide:
    return PositionSide(x or "BOTH")


def _order_type(wire: str) -> OrderType:
    try:
        return TYPE_FROM_WIRE[wire]
    except KeyError:
        raise ValueError(f"unknown Binance futures order type {wire!r}") from None


def _status(wire: str, filled: Decimal, qty: Decimal) -> OrderStatus:
    if wire in _FORCED_STATUSES:
        return OrderStatus.FILLED if filled >= qty else OrderStatus.PARTIALLY_FILLED
    try:
        return STATUS_FROM_WIRE[wire]
    except KeyError:
        raise ValueError(f"unknown Binance futures order status {wire!r}") from None


def algo_venue_id(algo_id: int | str) -> str:
    return f"{ALGO_PREFIX}{algo_id}"


unwrap = M.unwrap  # the combined-stream envelope, stripped the same way for both venues


# ----------------------------------------------------------------------------- reference data


def parse_exchange_info(body: Mapping[str, Any]) -> list[Instrument]:
    """Tradable perpetuals with their filters (delivery contracts and halted symbols skipped)."""
    out: list[Instrument] = []
    for s in body["symbols"]:
        if s.get("status") != "TRADING" or s.get("contractType", "PERPETUAL") != "PERPETUAL":
            continue
        f = {x["filterType"]: x for x in s.get("filters", ())}
        price, lot = f.get("PRICE_FILTER", {}), f.get("LOT_SIZE", {})
        mlot, notional, pct = f.get("MARKET_LOT_SIZE", {}), f.get("MIN_NOTIONAL", {}), f.get("PERCENT_PRICE")
        max_price = _opt_price(price.get("maxPrice"))
        out.append(
            Instrument(
                venue=VENUE,
                symbol=s["symbol"],
                base=s["baseAsset"],
                quote=s["quoteAsset"],
                kind=InstrumentKind.LINEAR_PERPETUAL,
                tick_size=D(price["tickSize"]),
                step_size=D(lot["stepSize"]),
                min_qty=D(lot.get("minQty")),
                max_qty=_opt_price(lot.get("maxQty")),
                market_max_qty=_opt_price(mlot.get("maxQty")),
                min_notional=D(notional.get("notional")),
                min_price=D(price.get("minPrice")),
                max_price=max_price,
                percent_price_up=D(pct["multiplierUp"]) if pct else None,
                percent_price_down=D(pct["multiplierDown"]) if pct else None,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class SymbolConfig:
    symbol: str
    leverage: Decimal
    margin_mode: MarginMode


def parse_symbol_config(row: Mapping[str, Any]) -> SymbolConfig:
    """``GET /fapi/v1/symbolConfig`` entry (leverage and margin type per symbol)."""
    mode = MarginMode.ISOLATED if str(row["marginType"]).upper() == "ISOLATED" else MarginMode.CROSS
    return SymbolConfig(row["symbol"], D(row["leverage"]), mode)


# ----------------------------------------------------------------------------- market data


# The shapes are shared with spot (parse_market); these bind the futures venue.
def parse_kline(msg: Mapping[str, Any]) -> Candle:
    """A ``kline`` stream event; ``closed`` is exactly the venue's ``k.x``."""
    return M.kline(VENUE, msg)


def parse_kline_row(symbol: str, interval: str, row: Sequence[Any], now_ms: int) -> Candle:
    """A REST kline array; a bar whose close time is not yet past ``now_ms`` is still forming."""
    return M.rest_kline(VENUE, row, symbol, interval, now_ms)


def parse_agg_trade(msg: Mapping[str, Any]) -> Trade:
    return M.agg_trade(VENUE, msg)


def parse_trade(msg: Mapping[str, Any]) -> Trade:
    return M.trade(VENUE, msg)


def parse_rest_trade(symbol: str, row: Mapping[str, Any]) -> Trade:
    """``/fapi/v1/trades`` (and historicalTrades) row."""
    return M.rest_trade(VENUE, row, symbol)


def parse_rest_agg_trade(symbol: str, row: Mapping[str, Any]) -> Trade:
    return M.rest_agg_trade(VENUE, row, symbol)


def parse_book_ticker(msg: Mapping[str, Any]) -> BookTickerEvent:
    return M.book_ticker(VENUE, msg)


def parse_rest_book_ticker(row: Mapping[str, Any]) -> BookTickerEvent:
    return M.rest_book_ticker(VENUE, row)


def parse_ticker(msg: Mapping[str, Any]) -> Ticker:
    """``24hrTicker`` stream event (futures sends no bid/ask in it)."""
    return M.ticker_24h(VENUE, msg)


def parse_rest_ticker(row: Mapping[str, Any]) -> Ticker:
    return M.rest_ticker_24h(VENUE, row)


def parse_ticker_price(row: Mapping[str, Any]) -> Ticker:
    return Ticker(venue=VENUE, symbol=row["symbol"], last=D(row["price"]), ts=int(row.get("time", 0)))


def parse_mark_price(msg: Mapping[str, Any]) -> MarkPrice:
    """``markPriceUpdate``: mark ``p``, index ``i``, funding rate ``r``, next funding ``T``."""
    msg = unwrap(msg)
    return MarkPrice(
        venue=VENUE,
        symbol=msg["s"],
        mark_price=D(msg["p"]),
        index_price=D(msg["i"]) if msg.get("i") else None,
        funding_rate=D(msg["r"]) if msg.get("r") not in (None, "") else None,
        next_funding_time=int(msg["T"]) if msg.get("T") else None,
        ts=int(msg["E"]),
    )


def parse_premium_index(row: Mapping[str, Any]) -> MarkPrice:
    return MarkPrice(
        venue=VENUE,
        symbol=row["symbol"],
        mark_price=D(row["markPrice"]),
        index_price=D(row["indexPrice"]),
        funding_rate=D(row["lastFundingRate"]) if row.get("lastFundingRate") not in (None, "") else None,
        next_funding_time=int(row["nextFundingTime"]) or None,
        ts=int(row["time"]),
    )


def parse_funding_rate(row: Mapping[str, Any]) -> FundingRate:
    mark = row.get("markPrice")
    return FundingRate(
        VENUE, row["symbol"], D(row["fundingRate"]), int(row["fundingTime"]), D(mark) if mark else None
    )


def parse_depth_snapshot(symbol: str, body: Mapping[str, Any]) -> OrderBookSnapshot:
    return OrderBookSnapshot.create(
        VENUE,
        symbol,
        body["bids"],
        body["asks"],
        ts=int(body.get("E", 0) or 0),
        last_update_id=int(body["lastUpdateId"]),
    )


# ----------------------------------------------------------------------------- orders


def _order(
    *,
    client_id: str,
    symbol: str,
    side: str,
    type_: OrderType,
    qty: Decimal,
    price: Any,
    stop_price: Any,
    tif: str | None,
    reduce_only: bool,
    position_side: str | None,
    status: OrderStatus,
    venue_order_id: str,
    filled: Decimal,
    avg: Any,
    created: int,
    updated: int,
    reason: str | None = None,
) -> Order:
    tif_ = TIF_FROM_WIRE.get(tif or "GTC", TimeInForce.GTC)
    return Order(
        client_id=client_id,
        venue=VENUE,
        symbol=symbol,
        side=_side(side),
        type=type_,
        qty=qty,
        price=_opt_price(price) if type_.has_limit_price else None,
        stop_price=_opt_price(stop_price) if type_.is_conditional else None,
        tif=tif_,
        reduce_only=bool(reduce_only),
        post_only=tif_ is TimeInForce.POST_ONLY,
        position_side=_pos_side(position_side),
        status=status,
        venue_order_id=venue_order_id,
        filled_qty=filled,
        avg_price=_opt_price(avg),
        created_at=created,
        updated_at=updated,
        reason=reason,
    )


def parse_order(body: Mapping[str, Any], source: ReportSource = ReportSource.REST) -> OrderReport:
    """``/fapi/v1/order`` answers (POST/GET/DELETE), ``openOrders`` and ``allOrders`` rows."""
    qty, filled = D(body["origQty"]), D(body["executedQty"])
    type_ = _order_type(body.get("origType") or body["type"])
    updated = int(body.get("updateTime") or body.get("time") or 0)
    order = _order(
        client_id=body["clientOrderId"],
        symbol=body["symbol"],
        side=body["side"],
        type_=type_,
        qty=qty,
        price=body.get("price"),
        stop_price=body.get("stopPrice"),
        tif=body.get("timeInForce"),
        reduce_only=body.get("reduceOnly", False),
        position_side=body.get("positionSide"),
        status=_status(body["status"], filled, qty),
        venue_order_id=str(body["orderId"]),
        filled=filled,
        avg=body.get("avgPrice"),
        created=int(body.get("time") or updated),
        updated=updated,
    )
    return OrderReport(order, source, updated)


def _algo_status(wire: str, filled: Decimal, qty: Decimal) -> OrderStatus:
    if wire == "FINISHED":
        # The spawned order's own terminal state arrives via ORDER_TRADE_UPDATE; this is the summary.
        return OrderStatus.FILLED if qty > 0 and filled >= qty else OrderStatus.CANCELED
    try:
        return _ALGO_STATUS[wire]
    except KeyError:
        raise ValueError(f"unknown Binance algo order status {wire!r}") from None


def parse_algo_order(body: Mapping[str, Any], source: ReportSource = ReportSource.REST) -> OrderReport:
    """``POST/GET /fapi/v1/algoOrder`` and ``openAlgoOrders`` rows (a conditional order)."""
    qty = D(body["quantity"])
    filled = ZERO
    updated = int(body.get("updateTime") or body.get("createTime") or 0)
    order = _order(
        client_id=body["clientAlgoId"],
        symbol=body["symbol"],
        side=body["side"],
        type_=_order_type(body.get("orderType") or body["type"]),
        qty=qty,
        price=body.get("price"),
        stop_price=body.get("triggerPrice"),
        tif=body.get("timeInForce"),
        reduce_only=body.get("reduceOnly", False),
        position_side=body.get("positionSide"),
        status=_algo_status(body["algoStatus"], filled, qty),
        venue_order_id=algo_venue_id(body["algoId"]),
        filled=filled,
        avg=body.get("actualPrice"),
        created=int(body.get("createTime") or updated),
        updated=updated,
    )
    return OrderReport(order, source, updated)


@dataclass(frozen=True, slots=True)
class UserUpdate:
    """What one ORDER_TRADE_UPDATE means: the order's new state and, for executions, the fill."""

    report: OrderReport | None
    fill: Fill | None


def parse_order_trade_update(msg: Mapping[str, Any]) -> UserUpdate:
    """``ORDER_TRADE_UPDATE`` -> order report (+ fill for TRADE/CALCULATED executions).

    A liquidation placeholder with zero quantity carries no order and no fill: both None.
    """
    msg = unwrap(msg)
    o = msg["o"]
    qty, filled, last_qty = D(o["q"]), D(o["z"]), D(o["l"])
    ts = int(o.get("T") or msg["E"])
    algo_id = int(o.get("si") or 0)
    venue_id = algo_venue_id(algo_id) if algo_id else str(o["i"])
    report = None
    if qty > 0:
        order = _order(
            client_id=o["c"],
            symbol=o["s"],
            side=o["S"],
            type_=_order_type(o.get("ot") or o["o"]),
            qty=qty,
            price=o.get("p"),
            stop_price=o.get("sp"),
            tif=o.get("f"),
            reduce_only=o.get("R", False),
            position_side=o.get("ps"),
            status=_status(o["X"], filled, qty),
            venue_order_id=venue_id,
            filled=filled,
            avg=o.get("ap"),
            created=ts,
            updated=ts,
            reason=o["x"] if o["x"] in ("EXPIRED", "REJECTED", "CALCULATED") else None,
        )
        report = OrderReport(order, ReportSource.STREAM, ts)
    fill = None
    if o["x"] in ("TRADE", "CALCULATED") and last_qty > 0:
        fill = Fill(
            venue=VENUE,
            symbol=o["s"],
            client_id=o["c"],
            venue_order_id=venue_id,
            trade_id=str(o["t"]),
            side=_side(o["S"]),
            price=D(o["L"]),
            qty=last_qty,
            ts=ts,
            fee=D(o.get("n")),
            fee_asset=o.get("N") or "",
            is_maker=bool(o.get("m", False)),
            position_side=_pos_side(o.get("ps")),
            realized_pnl=D(o["rp"]) if o.get("rp") not in (None, "") else None,
        )
    return UserUpdate(report, fill)


def parse_algo_update(msg: Mapping[str, Any]) -> OrderReport:
    """``ALGO_UPDATE``: a conditional order's life on the algo service."""
    msg = unwrap(msg)
    o = msg["o"]
    qty, filled = D(o["q"]), D(o.get("aq"))
    ts = int(msg.get("T") or msg["E"])
    order = _order(
        client_id=o["caid"],
        symbol=o["s"],
        side=o["S"],
        type_=_order_type(o["o"]),
        qty=qty,
        price=o.get("p"),
        stop_price=o.get("tp"),
        tif=o.get("f"),
        reduce_only=o.get("R", False),
        position_side=o.get("ps"),
        status=_algo_status(o["X"], filled, qty),
        venue_order_id=algo_venue_id(o["aid"]),
        filled=filled,
        avg=o.get("ap"),
        created=ts,
        updated=ts,
        reason=o.get("rm") or None,
    )
    return OrderReport(order, ReportSource.STREAM, ts)


def parse_user_trade(row: Mapping[str, Any], client_id: str = "") -> Fill:
    """``/fapi/v1/userTrades`` row. The venue omits the client id: callers that know the
    order id -> client id mapping pass it in (else "")."""
    return Fill(
        venue=VENUE,
        symbol=row["symbol"],
        client_id=client_id,
        venue_order_id=str(row["orderId"]),
        trade_id=str(row["id"]),
        side=_side(row["side"]),
        price=D(row["price"]),
        qty=D(row["qty"]),
        ts=int(row["time"]),
        fee=D(row["commission"]),
        fee_asset=row.get("commissionAsset", ""),
        is_maker=bool(row.get("maker", False)),
        position_side=_pos_side(row.get("positionSide")),
        realized_pnl=D(row.get("realizedPnl")),
    )


# ----------------------------------------------------------------------------- account


def _position(
    *,
    symbol: str,
    amt: Decimal,
    side: str | None,
    entry: Decimal,
    mark: Decimal | None,
    leverage: Decimal | None,
    mode: MarginMode,
    liq: Decimal | None,
    realized: Decimal = ZERO,
    ts: int = 0,
) -> Position:
    ps = _pos_side(side)
    return Position(
        venue=VENUE,
        symbol=symbol,
        side=ps,
        # one-way: signed; hedge legs: Binance shows SHORT legs negative, the model wants >= 0
        qty=amt if ps is PositionSide.BOTH else abs(amt),
        entry_price=entry if amt else ZERO,
        mark_price=mark,
        leverage=leverage if leverage and leverage > 0 else Decimal(1),
        margin_mode=mode,
        liquidation_price=liq,
        realized_pnl=realized,
        updated_at=ts,
    )


def _mode_of(row: Mapping[str, Any]) -> MarginMode:
    if "marginType" in row:
        return MarginMode.ISOLATED if str(row["marginType"]).lower() == "isolated" else MarginMode.CROSS
    if "isolated" in row:
        return MarginMode.ISOLATED if row["isolated"] else MarginMode.CROSS
    return MarginMode.ISOLATED if D(row.get("isolatedWallet")) > 0 else MarginMode.CROSS


def parse_position_risk(row: Mapping[str, Any], config: SymbolConfig | None = None) -> Position:
    """``/fapi/v2|v3/positionRisk`` row. v3 has no leverage/marginType: ``config`` (symbolConfig)
    supplies them; without it, leverage is derived from notional / position initial margin."""
    amt = D(row["positionAmt"])
    leverage: Decimal | None = D(row["leverage"]) if row.get("leverage") else None
    mode = _mode_of(row)
    if config is not None:
        leverage, mode = config.leverage, config.margin_mode
    elif leverage is None and D(row.get("positionInitialMargin")) > 0:
        leverage = (abs(D(row["notional"])) / D(row["positionInitialMargin"])).to_integral_value()
    liq = D(row.get("liquidationPrice"))
    return _position(
        symbol=row["symbol"],
        amt=amt,
        side=row.get("positionSide"),
        entry=D(row["entryPrice"]),
        mark=D(row["markPrice"]) if row.get("markPrice") else None,
        leverage=leverage,
        mode=mode,
        liq=liq if liq > 0 else None,
        ts=int(row.get("updateTime") or 0),
    )


def parse_balance(row: Mapping[str, Any]) -> Balance:
    """``/fapi/v2|v3/balance`` row: free = available, locked = the rest of the wallet balance."""
    wallet = D(row["balance"])
    free = D(row["availableBalance"])
    return Balance(row["asset"], free, wallet - free)


def parse_account_v2(body: Mapping[str, Any]) -> tuple[list[Balance], list[Position]]:
    """``/fapi/v2/account``: assets (free = available) and the non-flat positions."""
    balances = [
        Balance(a["asset"], D(a["availableBalance"]), D(a["walletBalance"]) - D(a["availableBalance"]))
        for a in body.get("assets", ())
    ]
    positions = []
    for p in body.get("positions", ()):
        amt = D(p["positionAmt"])
        if amt == 0:
            continue
        entry = D(p["entryPrice"])
        upnl = D(p.get("unrealizedProfit"))
        positions.append(
            _position(
                symbol=p["symbol"],
                amt=amt,
                side=p.get("positionSide"),
                entry=entry,
                mark=entry + upnl / amt,
                leverage=D(p.get("leverage")),
                mode=_mode_of(p),
                liq=None,
                ts=int(p.get("updateTime") or 0),
            )
        )
    return balances, positions


def parse_account_update(
    msg: Mapping[str, Any], leverage: Mapping[str, Decimal] | None = None
) -> tuple[BalancesEvent, PositionsEvent]:
    """``ACCOUNT_UPDATE`` -> balance and position deltas (only what changed is listed).

    The stream carries the wallet balance only, so a balance is ``free=wb, locked=0`` (the
    same total as REST). Positions get mark = entry + upnl/qty (the stream has no mark) and
    the leverage the caller knows per symbol (the stream has none either).
    """
    msg = unwrap(msg)
    a = msg["a"]
    ts = int(msg.get("T") or msg["E"])
    balances = tuple(Balance(b["a"], D(b["wb"])) for b in a.get("B", ()))
    positions = []
    for p in a.get("P", ()):
        amt, entry = D(p["pa"]), D(p["ep"])
        mark = entry + D(p.get("up")) / amt if amt and entry else None
        positions.append(
            _position(
                symbol=p["s"],
                amt=amt,
                side=p.get("ps"),
                entry=entry,
                mark=mark,
                leverage=(leverage or {}).get(p["s"]),
                mode=MarginMode.ISOLATED if p.get("mt") == "isolated" else MarginMode.CROSS,
                liq=None,
                realized=D(p.get("cr")),
                ts=ts,
            )
        )
    return (
        BalancesEvent(VENUE, balances, snapshot=False, ts=ts),
        PositionsEvent(VENUE, tuple(positions), snapshot=False, ts=ts),
    )

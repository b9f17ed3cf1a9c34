"""Bybit v5 REST for the simulator, as pybit 5.17.0's ``HTTP`` calls and parses it.

Every answer is the v5 envelope ``{"retCode","retMsg","result","retExtInfo","time"}``.
Signed requests carry ``X-BAPI-API-KEY/-SIGN/-TIMESTAMP/-RECV-WINDOW``; the signature
is checked against the raw query (GET) or the raw body bytes (POST), exactly what
pybit signs. Refusals keep HTTP 200 and a non-zero retCode, as Bybit does; only the IP
limit (403) and server errors (5xx) change the HTTP status.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from terminal.model.enums import OrderType, PositionSide, Side, TimeInForce, Venue
from terminal.sim import bybit_format as fmt
from terminal.sim.bybit import BybitState, Category, deriv_info
from terminal.sim.bybit_format import LINEAR, SPOT, BybitError, OrderMeta, param_error
from terminal.sim.exchange import Credentials
from terminal.sim.faults import AFTER_PROCESSING, HttpFault, HttpFaultSpec, lose_response
from terminal.sim.instruments import NotAMultipleError, SimInstrument
from terminal.sim.orders import OrderRequest, RejectReason, SimOrder, SimReject, TriggerDirection

_SPOT_QUOTE_STEP = Decimal("0.00000001")  # quotePrecision of USDT spot pairs


# ---------------------------------------------------------------- request parameters


class Params:
    """Request parameters (query or JSON body) with Bybit's 10001 on bad values."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def text(self, key: str, required: bool = False, default: str = "") -> str:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise param_error(f"Missing some parameters that must be filled in, such as ({key})")
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def dec(self, key: str, required: bool = False) -> Decimal | None:
        text = self.text(key, required)
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise param_error(f"params error: {key} invalid") from None
        if not value.is_finite() or value < 0:
            raise param_error(f"params error: {key} invalid")
        return value

    def integer(self, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        text = self.text(key)
        if not text:
            return default
        try:
            value = int(text)
        except ValueError:
            raise param_error(f"params error: {key} invalid") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise param_error(f"params error: {key} invalid")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1") if value is not None else False


@dataclass(slots=True)
class Ctx:
    state: BybitState
    params: Params
    creds: Credentials | None

    @property
    def account(self) -> str:
        assert self.creds is not None
        return self.creds.account_id

    def category(self, allowed: tuple[str, ...] = (SPOT, LINEAR), default: str = "") -> Category:
        name = self.params.text("category", required=not default, default=default)
        cat = self.state.category(name)
        if cat is None or name not in allowed:
            raise param_error("Illegal category")
        return cat


def _instrument(cat: Category, symbol: str) -> SimInstrument:
    inst = cat.market.instruments.get(symbol)
    if inst is None:
        raise fmt.reject_error(cat.name, RejectReason.UNKNOWN_SYMBOL)
    return inst


def _page(items: list, params: Params, default: int, hi: int) -> tuple[list, str]:
    limit = params.integer("limit", default, 1, hi)
    start = params.integer("cursor", 0, 0)
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (str(start + limit) if more else "")


# ---------------------------------------------------------------- market data


def get_time(ctx: Ctx) -> dict:
    ns = time.time_ns()
    return {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}


def get_instruments(ctx: Ctx) -> dict:
    cat = ctx.category()
    symbol = ctx.params.text("symbol")
    insts = [i for s, i in cat.market.instruments.items() if not symbol or s == symbol]
    build = fmt.instrument_spot if cat.is_spot else fmt.instrument_linear
    return {"category": cat.name, "list": [build(i) for i in insts], "nextPageCursor": ""}


def get_orderbook(ctx: Ctx) -> dict:
    cat = ctx.category()
    inst = _instrument(cat, ctx.params.text("symbol", required=True))
    limit = ctx.params.integer("limit", 1 if cat.is_spot else 25, 1, 200 if cat.is_spot else 500)
    update_id, bids, asks = cat.market.depth(inst.symbol, limit)
    now = fmt.now_ms()
    return {
        "s": inst.symbol,
        "b": fmt.book_levels(inst, bids),
        "a": fmt.book_levels(inst, asks),
        "ts": now,
        "u": update_id,
        "seq": update_id,
        "cts": now,
    }


def get_kline(ctx: Ctx) -> dict:
    cat = ctx.category(default=LINEAR)
    inst = _instrument(cat, ctx.params.text("symbol", required=True))
    interval = ctx.params.text("interval", required=True)
    interval_ms = fmt.KLINE_INTERVALS.get(interval)
    if interval_ms is None:
        raise param_error("Invalid period!")
    limit = ctx.params.integer("limit", 200, 1, 1000)
    start = ctx.params.integer("start", 0) or None
    end = ctx.params.integer("end", 0) or None
    if start is None and interval_ms == 60_000:
        # newest minutes via an explicit start: the core's newest-N path builds every stored minute
        last = (end or cat.market.now_ms()) // 60_000 * 60_000
        bars = cat.market.klines(inst.symbol, interval_ms, last - (limit - 1) * 60_000, end, limit)
    elif start is None:
        bars = cat.market.klines(inst.symbol, interval_ms, None, end, limit)
    else:
        # Bybit answers the newest ``limit`` candles of [start, end]
        bars = cat.market.klines(inst.symbol, interval_ms, start, end, 1_000_000)[-limit:]
    return {
        "symbol": inst.symbol,
        "category": cat.name,
        "list": [fmt.kline_rest(inst, k) for k in reversed(bars)],
    }


def get_tickers(ctx: Ctx) -> dict:
    cat = ctx.category()
    symbol = ctx.params.text("symbol")
    if symbol:
        _instrument(cat, symbol)
    symbols = [symbol] if symbol else list(cat.market.instruments)
    out = []
    for s in symbols:
        inst = cat.market.instruments[s]
        t = cat.market.ticker_24h(s)
        if cat.is_spot:
            out.append(fmt.ticker_spot(inst, t, rest=True))
        else:
            out.append(fmt.ticker_linear(inst, t, deriv_info(cat, s, t), "", rest=True))
    return {"category": cat.name, "list": out}


def get_recent_trades(ctx: Ctx) -> dict:
    cat = ctx.category()
    inst = _instrument(cat, ctx.params.text("symbol", required=True))
    limit = ctx.params.integer("limit", 60 if cat.is_spot else 500, 1, 60 if cat.is_spot else 1000)
    trades = cat.market.recent_trades(inst.symbol, limit)
    return {
        "category": cat.name,
        "list": [fmt.recent_trade_rest(cat.name, inst, t) for t in reversed(trades)],
    }


# ---------------------------------------------------------------- orders


def _check_qty(cat: Category, inst: SimInstrument, qty: Decimal) -> None:
    if qty <= 0:
        raise fmt.reject_error(cat.name, RejectReason.LOT_SIZE)
    try:
        inst.lots(qty)
    except NotAMultipleError:
        raise fmt.reject_error(cat.name, RejectReason.LOT_SIZE) from None
    if qty < inst.min_qty:
        if cat.is_spot:
            raise BybitError(170136, "Order quantity exceeded lower limit.")
        raise param_error("The number of contracts exceeds minimum limit allowed")
    if qty > inst.max_qty:
        if cat.is_spot:
            raise BybitError(170135, "Order quantity exceeded upper limit.")
        raise param_error("The number of contracts exceeds maximum limit allowed")


def _check_price(cat: Category, inst: SimInstrument, price: Decimal, label: str = "price") -> None:
    try:
        inst.ticks(price)
    except NotAMultipleError:
        if cat.is_spot:
            raise BybitError(170134, "Order price has too many decimals.") from None
        raise param_error(f"params error: {label} invalid") from None
    if price <= 0:
        raise param_error(f"params error: {label} invalid")


def _position_side(cat: Category, params: Params) -> PositionSide:
    if cat.is_spot:
        return PositionSide.BOTH
    idx = params.integer("positionIdx", 0)
    if idx not in fmt.IDX_POSITION:
        raise param_error("params error: position idx invalid")
    return fmt.IDX_POSITION[idx]


def _trigger(
    cat: Category, inst: SimInstrument, params: Params, trigger: Decimal
) -> tuple[TriggerDirection, str]:
    _check_price(cat, inst, trigger, "triggerPrice")
    last = inst.price(cat.market.last_price[inst.symbol])
    raw = params.text("triggerDirection")
    if raw in ("1", "2"):
        direction = TriggerDirection.RISE if raw == "1" else TriggerDirection.FALL
    elif cat.is_spot:
        direction = TriggerDirection.RISE if trigger > last else TriggerDirection.FALL
    else:
        raise param_error("params error: TriggerDirection invalid")
    _check_not_triggered(inst, direction, trigger, last)
    kind = "tpslOrder" if params.text("orderFilter") == "tpslOrder" else "Stop"
    return direction, kind


def _check_not_triggered(
    inst: SimInstrument, direction: TriggerDirection, trigger: Decimal, last: Decimal
) -> None:
    t, c = inst.fmt_price_dec(trigger), inst.fmt_price_dec(last)
    if direction is TriggerDirection.RISE and trigger <= last:
        raise BybitError(110092, f"expect Rising, but trigger_price[{t}] <= current[{c}]??LastPrice")
    if direction is TriggerDirection.FALL and trigger >= last:
        raise BybitError(110093, f"expect Falling, but trigger_price[{t}] >= current[{c}]??LastPrice")


def _parse_create(ctx: Ctx, cat: Category) -> tuple[OrderRequest, OrderMeta]:
    p = ctx.params
    inst = _instrument(cat, p.text("symbol", required=True))
    side = fmt.WIRE_SIDE.get(p.text("side", required=True))
    if side is None:
        raise param_error("params error: side invalid")
    wire_type = p.text("orderType", required=True)
    if wire_type not in ("Market", "Limit"):
        raise param_error("params error: orderType invalid")
    market = wire_type == "Market"
    qty = p.dec("qty", required=True)
    assert qty is not None
    link = p.text("orderLinkId")
    if len(link) > 36:
        raise param_error("params error: orderLinkId too long")
    meta = OrderMeta(cat.name, ctx.state.last_price_str(cat, inst.symbol), link_id=link)
    req = OrderRequest(inst.symbol, side, OrderType.MARKET if market else OrderType.LIMIT, client_id=link)
    req.position_side = _position_side(cat, p)
    if market:
        req.tif = TimeInForce.IOC
    else:
        tif = fmt.WIRE_TIF.get(p.text("timeInForce", default="GTC"))
        if tif is None:
            raise param_error("params error: timeInForce invalid")
        req.tif = tif
        req.price = p.dec("price", required=True)
        assert req.price is not None
        _check_price(cat, inst, req.price)
    unit = p.text("marketUnit")
    if cat.is_spot and market and (unit == "quoteCoin" or (not unit and side is Side.BUY)):
        # Bybit spot market buys count qty in the quote coin unless told otherwise
        if side is Side.SELL:
            raise param_error("params error: marketUnit quoteCoin is for Buy orders")
        if qty != qty.quantize(_SPOT_QUOTE_STEP) or qty <= 0:
            raise BybitError(170137, "Order quantity has too many decimals.")
        req.quote_qty = qty
        meta.market_unit = "quoteCoin"
    else:
        _check_qty(cat, inst, qty)
        req.qty = qty
        if cat.is_spot and market:
            meta.market_unit = "baseCoin"
    trigger = p.dec("triggerPrice")
    if trigger:
        if req.quote_qty is not None:
            raise param_error("params error: conditional market buys take qty in baseCoin")
        req.trigger_direction, meta.stop_order_type = _trigger(cat, inst, p, trigger)
        req.stop_price = trigger
        req.type = OrderType.STOP_MARKET if market else OrderType.STOP_LIMIT
    for key in ("takeProfit", "stopLoss"):
        value = p.dec(key)
        if value:
            _check_price(cat, inst, value, key)
            if cat.is_spot:
                raise param_error(f"params error: {key} on spot orders is not supported by the simulator")
            setattr(meta, "take_profit" if key == "takeProfit" else "stop_loss", value)
    if not cat.is_spot and (p.flag("reduceOnly") or p.flag("closeOnTrigger")):
        opens_leg = (req.position_side is PositionSide.LONG and side is Side.BUY) or (
            req.position_side is PositionSide.SHORT and side is Side.SELL
        )
        if opens_leg:
            raise fmt.reject_error(cat.name, RejectReason.REDUCE_ONLY_REJECTED)
        # hedge legs reduce by side already; one-way mode needs the flag
        req.reduce_only = req.position_side is PositionSide.BOTH
    return req, meta


def _refusal(cat: Category, exc: SimReject, req: OrderRequest | None = None) -> BybitError:
    if exc.reason is RejectReason.WOULD_TRIGGER_IMMEDIATELY and req is not None and req.stop_price:
        inst = cat.market.instruments[req.symbol]
        last = inst.price(cat.market.last_price[req.symbol])
        try:
            _check_not_triggered(inst, req.trigger_direction or TriggerDirection.RISE, req.stop_price, last)
        except BybitError as err:
            return err
    if exc.reason is RejectReason.MODE_CHANGE_WITH_OPEN and "position" not in exc.detail:
        return BybitError(110028, "You have existing open orders, so position mode cannot be switched")
    return fmt.reject_error(cat.name, exc.reason, exc.detail)


def _ids(cat: Category, order: SimOrder, meta: OrderMeta) -> dict:
    return {"orderId": fmt.order_id_str(cat.name, order.order_id), "orderLinkId": meta.link_id}


def create_order(ctx: Ctx) -> dict:
    cat = ctx.category()
    req, meta = _parse_create(ctx, cat)
    try:
        order = ctx.state.submit(cat, ctx.account, req, meta)
    except SimReject as exc:
        if exc.reason is RejectReason.POST_ONLY_WOULD_TAKE:
            order = ctx.state.accept_and_cancel(cat, ctx.account, req, meta, "EC_PostOnlyWillTakeLiquidity")
        elif exc.reason is RejectReason.NO_LIQUIDITY:
            order = ctx.state.accept_and_cancel(cat, ctx.account, req, meta, "EC_NoImmediateQtyToFill")
        else:
            raise _refusal(cat, exc, req) from None
    return _ids(cat, order, meta)


def _target(ctx: Ctx, cat: Category) -> tuple[str, int | None, str | None]:
    p = ctx.params
    symbol = p.text("symbol", required=True)
    _instrument(cat, symbol)
    raw_id, link = p.text("orderId"), p.text("orderLinkId")
    if not raw_id and not link:
        raise param_error("params error: orderId or orderLinkId is required")
    oid = fmt.parse_order_id(cat.name, raw_id) if raw_id else None
    if raw_id and oid is None:
        raise fmt.reject_error(cat.name, RejectReason.UNKNOWN_ORDER)
    return symbol, oid, (link or None)


def cancel_order(ctx: Ctx) -> dict:
    cat = ctx.category()
    symbol, oid, link = _target(ctx, cat)
    try:
        order = cat.market.get_order(ctx.account, symbol, oid, link)
        meta = ctx.state.meta_of(cat, order)
        if order.status.is_open and meta.cancel_type == "UNKNOWN":
            meta.cancel_type = "CancelByUser"
        cat.market.cancel(ctx.account, symbol, order.order_id)
    except SimReject as exc:
        raise _refusal(cat, exc) from None
    return _ids(cat, order, meta)


def amend_order(ctx: Ctx) -> dict:
    cat = ctx.category()
    symbol, oid, link = _target(ctx, cat)
    inst = cat.market.instruments[symbol]
    p = ctx.params
    qty, price, trigger = p.dec("qty"), p.dec("price"), p.dec("triggerPrice")
    tp, sl = p.dec("takeProfit"), p.dec("stopLoss")
    if qty is None and price is None and trigger is None and tp is None and sl is None:
        raise param_error("The order remains unchanged as the parameters entered match the existing ones.")
    if qty is not None:
        _check_qty(cat, inst, qty)
    for label, value in (("price", price), ("triggerPrice", trigger)):
        if value is not None:
            _check_price(cat, inst, value, label)
    try:
        order = cat.market.get_order(ctx.account, symbol, oid, link)
        meta = ctx.state.meta_of(cat, order)
        if not order.status.is_open:
            raise (
                BybitError(110001, "order not exists or too late to replace")
                if not cat.is_spot
                else BybitError(170213, "Order does not exist.")
            )
        if tp is not None:
            meta.take_profit = tp
        if sl is not None:
            meta.stop_loss = sl
        if qty is not None or price is not None or trigger is not None:
            cat.market.amend(ctx.account, symbol, order.order_id, None, qty, price, trigger)
    except SimReject as exc:
        if exc.reason is RejectReason.UNKNOWN_ORDER and not cat.is_spot:
            raise BybitError(110001, "order not exists or too late to replace") from None
        raise _refusal(cat, exc) from None
    return _ids(cat, order, meta)


def cancel_all(ctx: Ctx) -> dict:
    cat = ctx.category()
    symbol = ctx.params.text("symbol") or None
    if symbol:
        _instrument(cat, symbol)
    elif not cat.is_spot and not (ctx.params.text("settleCoin") or ctx.params.text("baseCoin")):
        raise param_error("Missing some parameters that must be filled in, such as (symbol or settleCoin)")
    base = ctx.params.text("baseCoin")
    out = []
    for order in list(cat.market.open_orders(ctx.account, symbol)):
        if base and cat.market.instruments[order.symbol].base != base:
            continue
        meta = ctx.state.meta_of(cat, order)
        if meta.cancel_type == "UNKNOWN":
            meta.cancel_type = "CancelByUser"
        try:
            cat.market.cancel(ctx.account, order.symbol, order.order_id)
        except SimReject:
            continue
        out.append(_ids(cat, order, meta))
    return {"list": out, "success": "1"}


def _order_rows(ctx: Ctx, cat: Category, orders: list[SimOrder]) -> list[dict]:
    rows = []
    for order in orders:
        inst = cat.market.instruments[order.symbol]
        meta = ctx.state.meta_of(cat, order)
        rows.append(fmt.order_rest(inst, order, meta, ctx.state.shown_qty(cat, order)))
    return rows


def _filter_orders(ctx: Ctx, cat: Category, orders: list[SimOrder]) -> list[SimOrder]:
    p = ctx.params
    symbol = p.text("symbol")
    if symbol:
        _instrument(cat, symbol)
    raw_id, link = p.text("orderId"), p.text("orderLinkId")
    oid = fmt.parse_order_id(cat.name, raw_id) if raw_id else None
    base, settle = p.text("baseCoin"), p.text("settleCoin")
    out = []
    for o in orders:
        inst = cat.market.instruments[o.symbol]
        if symbol and o.symbol != symbol:
            continue
        if raw_id and o.order_id != oid:
            continue
        if link and ctx.state.meta_of(cat, o).link_id != link:
            continue
        if (base and inst.base != base) or (settle and inst.quote != settle):
            continue
        out.append(o)
    return out


def open_orders(ctx: Ctx) -> dict:
    cat = ctx.category()
    p = ctx.params
    open_only = p.integer("openOnly", 0, 0, 2)
    by_id = bool(p.text("orderId") or p.text("orderLinkId"))
    if by_id:
        orders = ctx.state.all_orders(cat, ctx.account)  # a known id is found in any state
    elif open_only == 0:
        orders = list(cat.market.open_orders(ctx.account))
    else:  # recent closed orders
        orders = [o for o in ctx.state.all_orders(cat, ctx.account) if not o.status.is_open][-500:]
    orders = _filter_orders(ctx, cat, orders)
    orders.sort(key=lambda o: (o.created_ms, o.order_id), reverse=True)
    page, cursor = _page(orders, p, 20, 50)
    return {"list": _order_rows(ctx, cat, page), "nextPageCursor": cursor, "category": cat.name}


def order_history(ctx: Ctx) -> dict:
    cat = ctx.category()
    p = ctx.params
    end = p.integer("endTime", 0) or fmt.now_ms()
    start = p.integer("startTime", 0) or end - 7 * 86_400_000
    status = p.text("orderStatus")
    orders = [o for o in ctx.state.all_orders(cat, ctx.account) if start <= o.updated_ms <= end]
    if not (p.text("orderId") or p.text("orderLinkId")):
        orders = [o for o in orders if not o.status.is_open]
    orders = _filter_orders(ctx, cat, orders)
    if status:
        orders = [o for o in orders if fmt.order_status(cat.name, o) == status]
    orders.sort(key=lambda o: (o.updated_ms, o.order_id), reverse=True)
    page, cursor = _page(orders, p, 20, 50)
    return {"list": _order_rows(ctx, cat, page), "nextPageCursor": cursor, "category": cat.name}


def executions(ctx: Ctx) -> dict:
    cat = ctx.category()
    p = ctx.params
    symbol = p.text("symbol")
    raw_id, link = p.text("orderId"), p.text("orderLinkId")
    oid = fmt.parse_order_id(cat.name, raw_id) if raw_id else None
    end = p.integer("endTime", 0) or fmt.now_ms()
    start = p.integer("startTime", 0) or end - 7 * 86_400_000
    rows = []
    for x in reversed(ctx.state.execs[cat.name]):
        f = x.fill
        order = cat.market.orders.get(f.order_id)
        if order is None or order.account_id != ctx.account:
            continue
        meta = ctx.state.meta_of(cat, order)
        if (
            (symbol and f.symbol != symbol)
            or (raw_id and f.order_id != oid)
            or (link and meta.link_id != link)
        ):
            continue
        if not start <= f.ts_ms <= end:
            continue
        rows.append((order, meta, x))
    page, cursor = _page(rows, p, 50, 100)
    out = [
        fmt.execution_rest(cat.market.instruments[x.fill.symbol], cat.name, order, meta, x)
        for order, meta, x in page
    ]
    return {"nextPageCursor": cursor, "category": cat.name, "list": out}


# ---------------------------------------------------------------- positions


def positions(ctx: Ctx) -> dict:
    cat = ctx.category(allowed=(LINEAR,))
    symbol = ctx.params.text("symbol")
    if symbol:
        _instrument(cat, symbol)
        snaps = cat.market.positions(ctx.account, symbol)
    else:
        if not (ctx.params.text("settleCoin") or ctx.params.text("baseCoin")):
            raise param_error(
                "Missing some parameters that must be filled in, such as (symbol or settleCoin)"
            )
        base = ctx.params.text("baseCoin")
        snaps = [
            s
            for s in cat.market.positions(ctx.account)
            if s.qty != 0 and (not base or cat.market.instruments[s.symbol].base == base)
        ]
    rows = []
    for s in snaps:
        inst = cat.market.instruments[s.symbol]
        extra = ctx.state.extra(ctx.account, s.symbol, s.position_side)
        rows.append(fmt.position_rest(inst, s, extra, cat.market.books[s.symbol].update_id))
    page, cursor = _page(rows, ctx.params, 20, 200)
    return {"list": page, "nextPageCursor": cursor, "category": cat.name}


def set_leverage(ctx: Ctx) -> dict:
    cat = ctx.category(allowed=(LINEAR,))
    symbol = _instrument(cat, ctx.params.text("symbol", required=True)).symbol
    buy = ctx.params.dec("buyLeverage", required=True)
    sell = ctx.params.dec("sellLeverage", required=True)
    if buy != sell:
        raise param_error("buy leverage must be equal to sell leverage")
    assert buy is not None
    if buy != buy.to_integral_value() or not 1 <= buy <= fmt.MAX_LEVERAGE:
        raise param_error(
            f"leverage invalid, the leverage must be an integer between 1 and {fmt.MAX_LEVERAGE}"
        )
    acct = ctx.state.account(ctx.account)
    if acct.leverage_of(symbol) == int(buy):
        raise BybitError(110043, "Set leverage not modified")
    try:
        cat.market.set_leverage(ctx.account, symbol, int(buy))
    except SimReject as exc:
        raise _refusal(cat, exc) from None
    ctx.state.push_positions(ctx.account, symbol)
    return {}


def switch_mode(ctx: Ctx) -> dict:
    cat = ctx.category(allowed=(LINEAR,))
    symbol, coin = ctx.params.text("symbol"), ctx.params.text("coin")
    if symbol:
        _instrument(cat, symbol)
    elif not coin:
        raise param_error("Missing some parameters that must be filled in, such as (symbol or coin)")
    mode = ctx.params.integer("mode", -1)
    if mode not in (0, 3):
        raise param_error("params error: mode invalid")
    hedge = mode == 3
    if ctx.state.account(ctx.account).hedge_mode == hedge:
        raise BybitError(110025, "Position mode is not modified")
    try:
        cat.market.set_hedge_mode(ctx.account, hedge)  # account-wide in the simulator
    except SimReject as exc:
        raise _refusal(cat, exc) from None
    return {}


def trading_stop(ctx: Ctx) -> dict:
    cat = ctx.category(allowed=(LINEAR,))
    p = ctx.params
    inst = _instrument(cat, p.text("symbol", required=True))
    if p.text("tpslMode", default="Full") != "Full":
        raise param_error("params error: only tpslMode Full is supported by the simulator")
    if p.dec("trailingStop"):
        raise param_error("params error: trailingStop is not supported by the simulator")
    side = _position_side(cat, p)
    acct = ctx.state.account(ctx.account)
    if acct.hedge_mode == (side is PositionSide.BOTH):
        raise fmt.reject_error(cat.name, RejectReason.POSITION_SIDE_MISMATCH)
    pos = acct.positions.get((inst.symbol, side))
    if pos is None or pos.qty == 0:
        raise param_error("can not set tp/sl/ts for zero position")
    tp, sl = p.dec("takeProfit"), p.dec("stopLoss")
    if tp is None and sl is None:
        raise param_error("params error: takeProfit or stopLoss is required")
    long = pos.qty > 0
    last = inst.price(cat.market.last_price[inst.symbol])
    wire_side = "Buy" if long else "Sell"
    for label, value, above in (("TakeProfit", tp, long), ("StopLoss", sl, not long)):
        if not value:
            continue
        _check_price(cat, inst, value, label)
        if (value <= last) if above else (value >= last):
            rel = "higher" if above else "lower"
            raise param_error(
                f"{label}:{inst.fmt_price_dec(value)} set for {wire_side} position should be {rel} than "
                f"base_price:{inst.fmt_price_dec(last)}??LastPrice"
            )
    try:
        ctx.state.set_trading_stop(ctx.account, inst.symbol, side, tp, sl)
    except SimReject as exc:
        raise _refusal(cat, exc) from None
    return {}


# ---------------------------------------------------------------- account


def wallet_balance(ctx: Ctx) -> dict:
    if ctx.params.text("accountType", required=True) != "UNIFIED":
        raise param_error("accountType only support UNIFIED")
    coins = {c for c in ctx.params.text("coin").split(",") if c}
    return {"list": [fmt.wallet_rest(ctx.state.coins(ctx.account, coins or None))]}


def fee_rate(ctx: Ctx) -> dict:
    cat = ctx.category(default=LINEAR)
    symbol = ctx.params.text("symbol")
    if symbol:
        _instrument(cat, symbol)
    fees = cat.market.fees
    rows = [
        {
            "symbol": s,
            "takerFeeRate": fmt.dstr(fees.taker),
            "makerFeeRate": fmt.dstr(fees.maker),
            "baseCoin": "",
        }
        for s in cat.market.instruments
        if not symbol or s == symbol
    ]
    return {"list": rows}


def account_info(ctx: Ctx) -> dict:
    return {
        "marginMode": "REGULAR_MARGIN",
        "updatedTime": "1697078946000",
        "unifiedMarginStatus": 5,
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
    }


# ---------------------------------------------------------------- dispatch


@dataclass(slots=True, frozen=True)
class Route:
    method: str
    signed: bool
    handler: Callable[[Ctx], dict]


ROUTES: dict[str, Route] = {
    "/v5/market/time": Route("GET", False, get_time),
    "/v5/market/instruments-info": Route("GET", False, get_instruments),
    "/v5/market/orderbook": Route("GET", False, get_orderbook),
    "/v5/market/kline": Route("GET", False, get_kline),
    "/v5/market/tickers": Route("GET", False, get_tickers),
    "/v5/market/recent-trade": Route("GET", False, get_recent_trades),
    "/v5/order/create": Route("POST", True, create_order),
    "/v5/order/amend": Route("POST", True, amend_order),
    "/v5/order/cancel": Route("POST", True, cancel_order),
    "/v5/order/cancel-all": Route("POST", True, cancel_all),
    "/v5/order/realtime": Route("GET", True, open_orders),
    "/v5/order/history": Route("GET", True, order_history),
    "/v5/execution/list": Route("GET", True, executions),
    "/v5/position/list": Route("GET", True, positions),
    "/v5/position/set-leverage": Route("POST", True, set_leverage),
    "/v5/position/switch-mode": Route("POST", True, switch_mode),
    "/v5/position/trading-stop": Route("POST", True, trading_stop),
    "/v5/account/wallet-balance": Route("GET", True, wallet_balance),
    "/v5/account/fee-rate": Route("GET", True, fee_rate),
    "/v5/account/info": Route("GET", True, account_info),
}


def _envelope(result: object, code: int = 0, msg: str = "OK") -> dict:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": fmt.now_ms()}


def _limit_headers(status: int = 19, reset_ms: int | None = None) -> dict[str, str]:
    return {
        "X-Bapi-Limit": "20",
        "X-Bapi-Limit-Status": str(status),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms if reset_ms is not None else fmt.now_ms()),
    }


def _json(body: dict, headers: dict[str, str] | None = None, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _authenticate(request: web.Request, state: BybitState, payload: str) -> Credentials:
    h = request.headers
    creds = state.exchange.credentials_for(h.get("X-BAPI-API-KEY"))
    if creds is None:
        raise BybitError(10003, "API key is invalid.")
    ts_text, recv_text = h.get("X-BAPI-TIMESTAMP", ""), h.get("X-BAPI-RECV-WINDOW", "5000")
    try:
        ts, recv_window = int(ts_text), int(recv_text)
    except ValueError:
        raise param_error("params error: X-BAPI-TIMESTAMP or X-BAPI-RECV-WINDOW invalid") from None
    server = fmt.now_ms()
    if not server - recv_window <= ts < server + 1000:
        raise _timestamp_error(ts, server, recv_window)
    prefix = f"{ts_text}{creds.api_key}{recv_text}"
    sign = h.get("X-BAPI-SIGN", "")
    for candidate in (payload, unquote(payload)):
        expected = hmac.new(
            creds.api_secret.encode(), (prefix + candidate).encode(), hashlib.sha256
        ).hexdigest()
        if hmac.compare_digest(expected, sign):
            return creds
    raise BybitError(10004, f"error sign! origin_string[{prefix}{payload}]")


def _timestamp_error(ts: int, server: int, recv_window: int) -> BybitError:
    return BybitError(
        10002,
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{ts}],server_timestamp[{server}],recv_window[{recv_window}]",
    )


def _fault_venue(params: dict[str, Any]) -> tuple[Venue, ...]:
    category = params.get("category")
    if category in fmt.CATEGORY_VENUE:
        return (fmt.CATEGORY_VENUE[category],)
    return (Venue.BYBIT_LINEAR, Venue.BYBIT_SPOT)


_LOST_KEY = web.RequestKey("sim_lost_response", HttpFaultSpec)


async def _apply_fault(
    request: web.Request, state: BybitState, route: Route, params: dict
) -> web.Response | None:
    spec = None
    for venue in _fault_venue(params):
        spec = state.exchange.faults.take_http(venue, route.signed, method=request.method, path=request.path)
        if spec is not None:
            break
    if spec is None:
        return None
    if spec.kind in AFTER_PROCESSING:
        request[_LOST_KEY] = spec  # applied by the handler once the request was processed
        return None
    if spec.kind is HttpFault.DELAY:
        await asyncio.sleep(spec.delay_s)
        return None
    if spec.kind is HttpFault.RATE_LIMIT:
        reset = fmt.now_ms() + spec.retry_after_s * 1000
        return _json(_envelope({}, 10006, "Too many visits!"), _limit_headers(0, reset))
    if spec.kind is HttpFault.IP_BAN:
        return web.Response(status=403, text="access too frequent", content_type="text/plain")
    if spec.kind is HttpFault.SERVER_ERROR:
        return web.Response(status=spec.status or 503, text="Service Unavailable", content_type="text/plain")
    # TIMESTAMP: the request's own timestamp, judged as too old
    ts = int(request.headers.get("X-BAPI-TIMESTAMP", "0") or 0)
    err = _timestamp_error(
        ts, fmt.now_ms() + 60_000, int(request.headers.get("X-BAPI-RECV-WINDOW", "5000") or 5000)
    )
    return _json(_envelope({}, err.code, err.msg), _limit_headers())


def _make_handler(state: BybitState):
    async def handle(request: web.Request) -> web.Response:
        response = await process(request)
        lost = request.get(_LOST_KEY)
        if lost is not None:
            await lose_response(request, lost)
        return response

    async def process(request: web.Request) -> web.Response:
        route = ROUTES[request.path]
        if request.method != route.method:
            return web.Response(status=405, text="Method Not Allowed")
        if route.method == "GET":
            payload = request.rel_url.raw_query_string
            raw: dict[str, Any] = dict(request.rel_url.query)
        else:
            body = await request.read()
            payload = body.decode("utf-8", errors="replace")
            try:
                raw = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                raw = None  # type: ignore[assignment]
        fault = await _apply_fault(request, state, route, raw if isinstance(raw, dict) else {})
        if fault is not None:
            return fault
        headers = _limit_headers() if route.signed else None
        try:
            if not isinstance(raw, dict):
                raise param_error("Request parameter error.")
            creds = _authenticate(request, state, payload) if route.signed else None
            result = route.handler(Ctx(state, Params(raw), creds))
        except BybitError as err:
            return _json(_envelope({}, err.code, err.msg), headers, err.http_status)
        return _json(_envelope(result), headers)

    return handle


def setup(app: web.Application, state: BybitState) -> None:
    handler = _make_handler(state)
    for path, route in ROUTES.items():
        app.router.add_route(route.method, path, handler)

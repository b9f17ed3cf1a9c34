"""Wire formatting for the simulated Binance USDⓈ-M Futures venue (REST bodies and stream payloads).

Pure functions of the core's objects; ``binance_futures`` does the routing and state.
Shapes follow the fixtures in ``shared/fixtures/exchange-payloads/binance`` and the
current official docs (see the conformance tests for the documented differences).

Ids: a conditional order lives in the core as one ``SimOrder``. Binance shows it as an
*algo order* (``algoId``) until it triggers, and then as a regular order (``orderId``)
spawned from it. We present ``algoId = ALGO_ID_BASE + core id`` and
``orderId = core id``, so both directions are a subtraction, with no extra state.
"""

from __future__ import annotations

from decimal import Decimal

from terminal.model.enums import OrderStatus, OrderType, PositionSide, TimeInForce
from terminal.sim.events import OrderEvent, PositionSnapshot, TradeEvent
from terminal.sim.instruments import SimInstrument
from terminal.sim.orders import ExecType, SimOrder

ALGO_ID_BASE = 1_000_000_000_000_000  # real algo ids look like 1000000033225453
ZERO = Decimal(0)

# Binance futures order type name <-> core type.
WIRE_TO_TYPE: dict[str, OrderType] = {
    "LIMIT": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    "STOP": OrderType.STOP_LIMIT,
    "STOP_MARKET": OrderType.STOP_MARKET,
    "TAKE_PROFIT": OrderType.TAKE_PROFIT_LIMIT,
    "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET,
    "TRAILING_STOP_MARKET": OrderType.TRAILING_STOP_MARKET,
}
TYPE_TO_WIRE: dict[OrderType, str] = {v: k for k, v in WIRE_TO_TYPE.items()}
WIRE_TO_TIF: dict[str, TimeInForce] = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "GTX": TimeInForce.POST_ONLY,
}
TIF_TO_WIRE: dict[TimeInForce, str] = {v: k for k, v in WIRE_TO_TIF.items()}

_STATUS: dict[OrderStatus, str] = {
    OrderStatus.PENDING_NEW: "NEW",
    OrderStatus.NEW: "NEW",
    OrderStatus.UNTRIGGERED: "NEW",
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.PENDING_CANCEL: "CANCELED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.REJECTED: "REJECTED",
    OrderStatus.EXPIRED: "EXPIRED",
}
_EXEC: dict[ExecType, str] = {
    ExecType.NEW: "NEW",
    ExecType.TRADE: "TRADE",
    ExecType.CANCELED: "CANCELED",
    ExecType.EXPIRED: "EXPIRED",
    ExecType.REJECTED: "REJECTED",
    ExecType.TRIGGERED: "NEW",  # the spawned order appears as NEW
    ExecType.AMENDED: "AMENDMENT",
}


# ---------------------------------------------------------------------------- numbers


def d8(x: Decimal) -> str:
    """Money amounts (balances, PnL, margins, fees): 8 fixed decimals, as Binance sends them."""
    return f"{x:.8f}"


def dtrim(x: Decimal, places: int = 8) -> str:
    """A derived price (entry, average, liquidation): rounded to ``places``, trailing zeros cut."""
    if not x:
        return "0"
    s = f"{x:.{places}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def dnum(x: Decimal) -> str:
    """A configured number (min notional, filter bounds) without exponent or trailing zeros."""
    s = format(x.normalize(), "f")
    return s


def quote_places(inst: SimInstrument) -> int:
    return inst.price_decimals + inst.qty_decimals


def fmt_quote(inst: SimInstrument, x: Decimal) -> str:
    return f"{x:.{quote_places(inst)}f}"


def position_amt(snap: PositionSnapshot) -> Decimal:
    """Binance shows hedge-mode SHORT legs with a negative amount."""
    if snap.position_side is PositionSide.SHORT and snap.qty > 0:
        return -snap.qty
    return snap.qty


# ---------------------------------------------------------------------------- orders


def is_algo(o: SimOrder) -> bool:
    return o.type.is_conditional


def shown_type(o: SimOrder) -> str:
    """What /order shows as ``type``: a triggered conditional order works as MARKET or LIMIT."""
    if o.type.is_conditional:
        return "LIMIT" if o.type.has_limit_price else "MARKET"
    return TYPE_TO_WIRE[o.type]


def status_of(o: SimOrder) -> str:
    return _STATUS[o.status]


def algo_status_of(o: SimOrder) -> str:
    if not o.triggered:
        if o.status in (OrderStatus.UNTRIGGERED, OrderStatus.NEW, OrderStatus.PENDING_NEW):
            return "NEW"
        return _STATUS[o.status]
    return "FINISHED" if o.status.is_terminal else "TRIGGERED"


def _avg(inst: SimInstrument, o: SimOrder) -> str:
    if not o.filled_qty:
        return f"{ZERO:.{inst.price_decimals}f}"
    return dtrim(o.avg_price)


def _price(inst: SimInstrument, x: Decimal) -> str:
    return inst.fmt_price_dec(x) if x else "0"


def order_json(inst: SimInstrument, o: SimOrder, *, query: bool) -> dict:
    """GET /order, openOrders, allOrders (``query``) or POST/DELETE /order responses."""
    out = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": status_of(o),
        "clientOrderId": o.client_id,
        "price": _price(inst, o.price),
        "avgPrice": _avg(inst, o),
        "origQty": inst.fmt_qty_dec(o.qty),
        "executedQty": inst.fmt_qty_dec(o.filled_qty),
    }
    if not query:
        out["cumQty"] = inst.fmt_qty_dec(o.filled_qty)
    out.update(
        {
            "cumQuote": fmt_quote(inst, o.filled_quote),
            "timeInForce": TIF_TO_WIRE[o.tif],
            "type": shown_type(o),
            "reduceOnly": o.reduce_only,
            "closePosition": o.close_position,
            "side": o.side.value,
            "positionSide": o.position_side.value,
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": TYPE_TO_WIRE[o.type],
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
        }
    )
    if query:
        out["time"] = o.working_ms or o.created_ms
    out["updateTime"] = o.updated_ms
    return out


def ack_json(inst: SimInstrument, o: SimOrder, ts_ms: int) -> dict:
    """newOrderRespType=ACK: the order as accepted, before any fill (status NEW)."""
    out = order_json(inst, o, query=False)
    zero_qty = inst.fmt_qty_dec(ZERO)
    out.update(
        status="NEW",
        avgPrice=f"{ZERO:.{inst.price_decimals}f}",
        executedQty=zero_qty,
        cumQty=zero_qty,
        cumQuote=fmt_quote(inst, ZERO),
        updateTime=ts_ms,
    )
    return out


def algo_json(inst: SimInstrument, o: SimOrder, *, query: bool) -> dict:
    """POST/DELETE-free algo order bodies: POST /algoOrder response, GET algoOrder/open/all."""
    out: dict = {
        "algoId": ALGO_ID_BASE + o.order_id,
        "clientAlgoId": o.client_id,
        "algoType": "CONDITIONAL",
        "orderType": TYPE_TO_WIRE[o.type],
        "symbol": o.symbol,
        "side": o.side.value,
        "positionSide": o.position_side.value,
        "timeInForce": TIF_TO_WIRE[o.tif],
        "quantity": inst.fmt_qty_dec(o.qty),
        "algoStatus": algo_status_of(o),
    }
    if query:
        out["actualOrderId"] = str(o.order_id) if o.triggered else ""
        out["actualPrice"] = dtrim(o.avg_price) if o.filled_qty else "0"
    out.update(
        {
            "triggerPrice": inst.fmt_price_dec(o.stop_price),
            "price": _price(inst, o.price),
            "icebergQuantity": None,
        }
    )
    if query:
        zero_p = f"{ZERO:.{inst.price_decimals}f}"
        out.update(
            tpTriggerPrice=zero_p, tpPrice=zero_p, slTriggerPrice=zero_p, slPrice=zero_p, tpOrderType=""
        )
    out.update(
        {
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": "CONTRACT_PRICE",
            "priceMatch": "NONE",
            "closePosition": o.close_position,
            "priceProtect": False,
            "reduceOnly": o.reduce_only,
            "activatePrice": "",
            "callbackRate": "",
            "createTime": o.created_ms,
            "updateTime": o.updated_ms,
            "triggerTime": o.working_ms if o.triggered else 0,
            "goodTillDate": 0,
        }
    )
    return out


def order_update_event(inst: SimInstrument, ev: OrderEvent) -> dict:
    """ORDER_TRADE_UPDATE (user data stream) for one core order event."""
    o = ev.order
    trade = ev.exec_type is ExecType.TRADE
    algo_id = ALGO_ID_BASE + o.order_id if o.type.is_conditional else 0
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": ev.ts_ms,
        "T": ev.ts_ms,
        "o": {
            "s": o.symbol,
            "c": o.client_id,
            "S": o.side.value,
            "o": shown_type(o),
            "f": TIF_TO_WIRE[o.tif],
            "q": inst.fmt_qty_dec(o.qty),
            "p": _price(inst, o.price),
            "ap": _avg(inst, o),
            "sp": "0",
            "x": _EXEC[ev.exec_type],
            "X": status_of(o),
            "i": o.order_id,
            "l": inst.fmt_qty_dec(ev.last_qty),
            "z": inst.fmt_qty_dec(o.filled_qty),
            "L": inst.fmt_price_dec(ev.last_price) if trade else f"{ZERO:.{inst.price_decimals}f}",
            "N": (ev.fee_asset or o.fee_asset or "USDT") if trade else None,
            "n": d8(ev.fee) if trade else None,
            "T": ev.ts_ms,
            "t": ev.trade_id if trade and ev.trade_id >= 0 else 0,
            "b": "0",
            "a": "0",
            "m": ev.is_maker if trade else False,
            "R": o.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": TYPE_TO_WIRE[o.type],
            "ps": o.position_side.value,
            "cp": o.close_position,
            "AP": "0",
            "cr": "0",
            "pP": False,
            "si": algo_id,
            "ss": 0,
            "rp": d8(ev.realized_pnl),
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
            "W": o.working_ms or o.created_ms,
        },
    }


def trade_lite_event(inst: SimInstrument, ev: OrderEvent) -> dict:
    o = ev.order
    return {
        "e": "TRADE_LITE",
        "E": ev.ts_ms,
        "T": ev.ts_ms,
        "s": o.symbol,
        "q": inst.fmt_qty_dec(o.qty),
        "p": _price(inst, o.price),
        "m": ev.is_maker,
        "c": o.client_id,
        "S": o.side.value,
        "L": inst.fmt_price_dec(ev.last_price),
        "l": inst.fmt_qty_dec(ev.last_qty),
        "t": ev.trade_id,
        "i": o.order_id,
    }


def algo_update_event(inst: SimInstrument, o: SimOrder, status: str, ts_ms: int, reason: str = "") -> dict:
    """ALGO_UPDATE for a conditional order (NEW, CANCELED, TRIGGERING, TRIGGERED, FINISHED, ...)."""
    body: dict = {
        "caid": o.client_id,
        "aid": ALGO_ID_BASE + o.order_id,
        "at": "CONDITIONAL",
        "o": TYPE_TO_WIRE[o.type],
        "s": o.symbol,
        "S": o.side.value,
        "ps": o.position_side.value,
        "f": TIF_TO_WIRE[o.tif],
        "q": inst.fmt_qty_dec(o.qty),
        "X": status,
        "ai": str(o.order_id) if o.triggered and status != "TRIGGERING" else "",
    }
    if status != "TRIGGERING":
        body["ap"] = dtrim(o.avg_price) if o.filled_qty else "0"
        body["aq"] = inst.fmt_qty_dec(o.filled_qty) if o.filled_qty else "0"
        body["act"] = shown_type(o) if o.triggered else "0"
    body.update(
        {
            "tp": inst.fmt_price_dec(o.stop_price),
            "p": _price(inst, o.price),
            "V": "EXPIRE_MAKER",
            "wt": "CONTRACT_PRICE",
            "pm": "NONE",
            "cp": o.close_position,
            "pP": False,
            "R": o.reduce_only,
            "tt": o.working_ms if o.triggered else 0,
            "gtd": 0,
        }
    )
    if reason:
        body["rm"] = reason
    return {"e": "ALGO_UPDATE", "T": ts_ms, "E": ts_ms, "o": body}


# ---------------------------------------------------------------------------- positions


def _isolated_margin(snap: PositionSnapshot) -> Decimal:
    """Binance's isolatedMargin = the isolated wallet plus the position's unrealized PnL."""
    return snap.isolated_margin + snap.unrealized_pnl if snap.isolated else ZERO


def position_v2(inst: SimInstrument, snap: PositionSnapshot, max_notional: Decimal) -> dict:
    amt = position_amt(snap)
    return {
        "symbol": snap.symbol,
        "positionAmt": inst.fmt_qty_dec(amt),
        "entryPrice": dtrim(snap.entry_price) if amt else "0.0",
        "breakEvenPrice": dtrim(snap.entry_price) if amt else "0.0",
        "markPrice": d8(snap.mark_price),
        "unRealizedProfit": d8(snap.unrealized_pnl),
        "liquidationPrice": dtrim(snap.liquidation_price),
        "leverage": str(snap.leverage),
        "maxNotionalValue": dnum(max_notional),
        "marginType": "isolated" if snap.isolated else "cross",
        "isolatedMargin": d8(_isolated_margin(snap)),
        "isAutoAddMargin": "false",
        "positionSide": snap.position_side.value,
        "notional": d8(amt * snap.mark_price),
        "isolatedWallet": d8(snap.isolated_margin) if snap.isolated else "0",
        "updateTime": snap.updated_ms,
    }


def position_v3(inst: SimInstrument, snap: PositionSnapshot, open_order_margin: Decimal) -> dict:
    amt = position_amt(snap)
    return {
        "symbol": snap.symbol,
        "positionSide": snap.position_side.value,
        "positionAmt": inst.fmt_qty_dec(amt),
        "entryPrice": dtrim(snap.entry_price) if amt else "0.0",
        "breakEvenPrice": dtrim(snap.entry_price) if amt else "0.0",
        "markPrice": d8(snap.mark_price),
        "unRealizedProfit": d8(snap.unrealized_pnl),
        "liquidationPrice": dtrim(snap.liquidation_price),
        "isolatedMargin": d8(_isolated_margin(snap)),
        "notional": d8(amt * snap.mark_price),
        "marginAsset": "USDT",
        "isolatedWallet": d8(snap.isolated_margin) if snap.isolated else "0",
        "initialMargin": d8(snap.initial_margin + open_order_margin),
        "maintMargin": d8(snap.maintenance_margin),
        "positionInitialMargin": d8(snap.initial_margin),
        "openOrderInitialMargin": d8(open_order_margin),
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": snap.updated_ms,
    }


def account_position_v2(snap: PositionSnapshot, max_notional: Decimal, open_order_margin: Decimal) -> dict:
    amt = position_amt(snap)
    return {
        "symbol": snap.symbol,
        "initialMargin": d8(snap.initial_margin + open_order_margin),
        "maintMargin": d8(snap.maintenance_margin),
        "unrealizedProfit": d8(snap.unrealized_pnl),
        "positionInitialMargin": d8(snap.initial_margin),
        "openOrderInitialMargin": d8(open_order_margin),
        "leverage": str(snap.leverage),
        "isolated": snap.isolated,
        "entryPrice": dtrim(snap.entry_price) if amt else "0.0",
        "maxNotional": dnum(max_notional),
        "bidNotional": "0",
        "askNotional": "0",
        "positionSide": snap.position_side.value,
        "positionAmt": dtrim(amt, 8) if amt else "0",
        "updateTime": snap.updated_ms,
    }


def account_position_v3(snap: PositionSnapshot) -> dict:
    amt = position_amt(snap)
    return {
        "symbol": snap.symbol,
        "positionSide": snap.position_side.value,
        "positionAmt": dtrim(amt, 8) if amt else "0",
        "unrealizedProfit": d8(snap.unrealized_pnl),
        "isolatedMargin": d8(_isolated_margin(snap)),
        "notional": d8(amt * snap.mark_price),
        "isolatedWallet": d8(snap.isolated_margin) if snap.isolated else "0",
        "initialMargin": d8(snap.initial_margin),
        "maintMargin": d8(snap.maintenance_margin),
        "updateTime": snap.updated_ms,
    }


def ws_position(inst: SimInstrument, snap: PositionSnapshot) -> dict:
    """One ``P`` entry of ACCOUNT_UPDATE."""
    amt = position_amt(snap)
    return {
        "s": snap.symbol,
        "pa": inst.fmt_qty_dec(amt),
        "ep": dtrim(snap.entry_price) if amt else "0",
        "bep": dtrim(snap.entry_price) if amt else "0",
        "cr": d8(snap.realized_pnl),
        "up": d8(snap.unrealized_pnl),
        "mt": "isolated" if snap.isolated else "cross",
        "iw": d8(snap.isolated_margin) if snap.isolated else "0",
        "ps": snap.position_side.value,
    }


# ---------------------------------------------------------------------------- market data


def trade_json(inst: SimInstrument, t: TradeEvent) -> dict:
    return {
        "id": t.trade_id,
        "price": inst.fmt_price(t.price_ticks),
        "qty": inst.fmt_qty(t.qty_lots),
        "quoteQty": fmt_quote(inst, inst.tick * t.price_ticks * inst.step * t.qty_lots),
        "time": t.ts_ms,
        "isBuyerMaker": t.taker_side.value == "SELL",
    }


def agg_trade_json(inst: SimInstrument, t: TradeEvent) -> dict:
    """REST aggTrades: one aggregate per trade, ids equal to the trade id (as the stream sends)."""
    return {
        "a": t.trade_id,
        "p": inst.fmt_price(t.price_ticks),
        "q": inst.fmt_qty(t.qty_lots),
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.ts_ms,
        "m": t.taker_side.value == "SELL",
    }


def agg_trade_event(inst: SimInstrument, t: TradeEvent, now_ms: int) -> dict:
    return {
        "e": "aggTrade",
        "E": now_ms,
        "a": t.trade_id,
        "s": t.symbol,
        "p": inst.fmt_price(t.price_ticks),
        "q": inst.fmt_qty(t.qty_lots),
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.ts_ms,
        "m": t.taker_side.value == "SELL",
        "st": 1,
    }


def trade_event(inst: SimInstrument, t: TradeEvent, now_ms: int) -> dict:
    return {
        "e": "trade",
        "E": now_ms,
        "T": t.ts_ms,
        "s": t.symbol,
        "t": t.trade_id,
        "p": inst.fmt_price(t.price_ticks),
        "q": inst.fmt_qty(t.qty_lots),
        "X": "MARKET",
        "m": t.taker_side.value == "SELL",
    }


def kline_row(inst: SimInstrument, k) -> list:
    """One REST kline array (``k`` is a core Kline)."""
    return [
        k.open_ms,
        inst.fmt_price(k.open),
        inst.fmt_price(k.high),
        inst.fmt_price(k.low),
        inst.fmt_price(k.close),
        inst.fmt_qty(k.volume),
        k.close_ms,
        fmt_quote(inst, k.quote_volume),
        k.trades,
        inst.fmt_qty(k.taker_buy_volume),
        fmt_quote(inst, k.taker_buy_quote),
        "0",
    ]


def kline_body(inst: SimInstrument, k, interval: str, with_symbol: bool = True) -> dict:
    body: dict = {"t": k.open_ms, "T": k.close_ms}
    if with_symbol:
        body["s"] = inst.symbol
    body.update(
        {
            "i": interval,
            "f": -1 if not k.trades else 0,
            "L": -1 if not k.trades else 0,
            "o": inst.fmt_price(k.open),
            "c": inst.fmt_price(k.close),
            "h": inst.fmt_price(k.high),
            "l": inst.fmt_price(k.low),
            "v": inst.fmt_qty(k.volume),
            "n": k.trades,
            "x": k.closed,
            "q": fmt_quote(inst, k.quote_volume),
            "V": inst.fmt_qty(k.taker_buy_volume),
            "Q": fmt_quote(inst, k.taker_buy_quote),
            "B": "0",
        }
    )
    return body


def ticker_24h_json(inst: SimInstrument, t) -> dict:
    change = t.last - t.open
    pct = (Decimal(change) * 100 / t.open).quantize(Decimal("0.001")) if t.open else Decimal("0.000")
    return {
        "symbol": t.symbol,
        "priceChange": inst.fmt_price(change),
        "priceChangePercent": f"{pct:.3f}",
        "weightedAvgPrice": inst.fmt_price_dec(t.weighted_avg) if t.weighted_avg else inst.fmt_price(t.last),
        "lastPrice": inst.fmt_price(t.last),
        "lastQty": inst.fmt_qty(t.last_qty),
        "openPrice": inst.fmt_price(t.open),
        "highPrice": inst.fmt_price(t.high),
        "lowPrice": inst.fmt_price(t.low),
        "volume": inst.fmt_qty(t.volume),
        "quoteVolume": fmt_quote(inst, t.quote_volume),
        "openTime": t.open_ms,
        "closeTime": t.close_ms,
        "firstId": t.first_trade_id,
        "lastId": t.last_trade_id,
        "count": t.trades,
    }


def ticker_24h_event(inst: SimInstrument, t, now_ms: int) -> dict:
    r = ticker_24h_json(inst, t)
    return {
        "e": "24hrTicker",
        "E": now_ms,
        "s": t.symbol,
        "p": r["priceChange"],
        "P": r["priceChangePercent"],
        "w": r["weightedAvgPrice"],
        "c": r["lastPrice"],
        "Q": r["lastQty"],
        "o": r["openPrice"],
        "h": r["highPrice"],
        "l": r["lowPrice"],
        "v": r["volume"],
        "q": r["quoteVolume"],
        "O": t.open_ms,
        "C": t.close_ms,
        "F": t.first_trade_id,
        "L": t.last_trade_id,
        "n": t.trades,
        "st": 1,
    }


def mini_ticker_event(inst: SimInstrument, t, now_ms: int) -> dict:
    return {
        "e": "24hrMiniTicker",
        "E": now_ms,
        "s": t.symbol,
        "c": inst.fmt_price(t.last),
        "o": inst.fmt_price(t.open),
        "h": inst.fmt_price(t.high),
        "l": inst.fmt_price(t.low),
        "v": inst.fmt_qty(t.volume),
        "q": fmt_quote(inst, t.quote_volume),
    }


def depth_levels(inst: SimInstrument, levels: list[tuple[int, int]]) -> list[list[str]]:
    fp, fq = inst.fmt_price, inst.fmt_qty
    return [[fp(p), fq(q)] for p, q in levels]

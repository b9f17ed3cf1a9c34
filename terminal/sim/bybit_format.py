"""Bybit v5 wire formatting for the simulator: ids, errors, and every REST/WS payload.

Pure functions over the core's state (SimOrder, FillRecord, PositionSnapshot, Kline...)
plus the protocol-level extras the core does not know about (``OrderMeta``,
``PositionExtra``). Key sets follow the payload fixtures in
``shared/fixtures/exchange-payloads/bybit/examples``; book prices and sizes use the
instrument's fixed decimals, money amounts are plain trimmed decimals as Bybit sends them.
"""

from __future__ import annotations

import time
import uuid
import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from terminal.model.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce, Venue
from terminal.sim.events import PositionSnapshot, TradeEvent
from terminal.sim.instruments import SimInstrument
from terminal.sim.klines import DAY_MS, MONTH, WEEK_MS, Kline
from terminal.sim.market import FillRecord, Ticker24h
from terminal.sim.orders import RejectReason, SimOrder

ZERO = Decimal(0)
SPOT = "spot"
LINEAR = "linear"
CATEGORY_VENUE = {SPOT: Venue.BYBIT_SPOT, LINEAR: Venue.BYBIT_LINEAR}
MAX_LEVERAGE = 100
FUNDING_INTERVAL_MIN = 480

KLINE_INTERVALS: dict[str, int] = {
    **{str(m): m * 60_000 for m in (1, 3, 5, 15, 30, 60, 120, 240, 360, 720)},
    "D": DAY_MS,
    "W": WEEK_MS,
    "M": MONTH,
}

SIDE_WIRE = {Side.BUY: "Buy", Side.SELL: "Sell"}
WIRE_SIDE = {"Buy": Side.BUY, "Sell": Side.SELL}
TIF_WIRE = {
    TimeInForce.GTC: "GTC",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
    TimeInForce.POST_ONLY: "PostOnly",
}
WIRE_TIF = {v: k for k, v in TIF_WIRE.items()}
POSITION_IDX = {PositionSide.BOTH: 0, PositionSide.LONG: 1, PositionSide.SHORT: 2}
IDX_POSITION = {v: k for k, v in POSITION_IDX.items()}
_MARKET_TYPES = (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


def now_ms() -> int:
    return int(time.time() * 1000)


def dstr(x: Decimal) -> str:
    """A money amount as Bybit spells it: plain decimal, no exponent, no trailing zeros."""
    if not x:
        return "0"
    s = format(x.normalize(), "f")
    return s


def rate_str(x: Decimal, places: int) -> str:
    return dstr(x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


# ---------------------------------------------------------------- ids
# Linear ids are UUIDs, spot ids long decimal numbers, as on the venue. Both encode the
# core's integer ids reversibly, so REST lookups need no table.


def order_id_str(category: str, oid: int) -> str:
    return str(oid) if category == SPOT else str(uuid.UUID(int=oid))


def parse_order_id(category: str, text: str) -> int | None:
    try:
        return int(text) if category == SPOT else uuid.UUID(text).int
    except (ValueError, AttributeError, TypeError):
        return None


def exec_id_str(category: str, order_id: int, trade_id: int) -> str:
    if category == SPOT:
        return str(order_id * 1_000_000_000 + trade_id % 1_000_000_000)
    return str(uuid.UUID(int=(order_id << 64) | trade_id))


def public_trade_id(category: str, symbol: str, trade_id: int) -> str:
    if category == SPOT:
        return str(2_290_000_000_000_000_000 + trade_id)
    return str(uuid.UUID(int=(zlib.crc32(symbol.encode()) << 64) | trade_id))


# ---------------------------------------------------------------- errors


class BybitError(Exception):
    """A refused request: rendered as the v5 envelope with ``code`` (HTTP 200 unless told)."""

    def __init__(self, code: int, msg: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def param_error(msg: str) -> BybitError:
    return BybitError(10001, msg)


# (linear code, linear msg), (spot code, spot msg)
_REJECTS: dict[RejectReason, tuple[tuple[int, str], tuple[int, str]]] = {
    RejectReason.UNKNOWN_SYMBOL: ((10001, "params error: symbol invalid"), (170121, "Invalid symbol.")),
    RejectReason.PRICE_FILTER: (
        (10001, "params error: price invalid"),
        (170134, "Order price has too many decimals."),
    ),
    RejectReason.LOT_SIZE: ((10001, "Qty invalid"), (170137, "Order quantity has too many decimals.")),
    RejectReason.MARKET_LOT_SIZE: (
        (10001, "The number of contracts exceeds maximum limit allowed"),
        (170135, "Order quantity exceeded upper limit."),
    ),
    RejectReason.MIN_NOTIONAL: (
        (110094, "Order does not meet minimum order value 5USDT"),
        (170140, "Order value exceeded lower limit."),
    ),
    RejectReason.MAX_NOTIONAL: (
        (10001, "Order value exceeded upper limit"),
        (170141, "Order value exceeded upper limit."),
    ),
    RejectReason.INSUFFICIENT_BALANCE: (
        (110007, "ab not enough for new order"),
        (170131, "Insufficient balance."),
    ),
    RejectReason.MARGIN_INSUFFICIENT: (
        (110007, "ab not enough for new order"),
        (170131, "Insufficient balance."),
    ),
    RejectReason.REDUCE_ONLY_REJECTED: (
        (110017, "current position is zero, cannot fix reduce-only order qty"),
        (10001, "reduceOnly is not supported for spot"),
    ),
    RejectReason.DUPLICATE_CLIENT_ID: (
        (110072, "OrderLinkedID is duplicate"),
        (170141, "Duplicate clientOrderId."),
    ),
    RejectReason.UNKNOWN_ORDER: (
        (110001, "order not exists or too late to cancel"),
        (170213, "Order does not exist."),
    ),
    RejectReason.INVALID_PARAMETER: ((10001, "params error"), (10001, "params error")),
    RejectReason.POSITION_SIDE_MISMATCH: (
        (10001, "position idx not match position mode"),
        (10001, "position idx not match position mode"),
    ),
    RejectReason.MODE_CHANGE_WITH_OPEN: (
        (110024, "You have an existing position, so position mode cannot be switched"),
        (10001, "params error"),
    ),
}


def reject_error(category: str, reason: RejectReason, detail: str = "") -> BybitError:
    linear, spot = _REJECTS.get(reason, ((10001, "params error"), (10001, "params error")))
    code, msg = spot if category == SPOT else linear
    if reason is RejectReason.INVALID_PARAMETER and detail:
        msg = f"params error: {detail}"
    return BybitError(code, msg)


# ---------------------------------------------------------------- protocol-level extras


@dataclass(slots=True)
class OrderMeta:
    """What Bybit shows about an order that the venue-neutral core does not track."""

    category: str
    last_price_on_created: str = ""
    link_id: str = ""  # orderLinkId as the user sent it ("" if none)
    stop_order_type: str = ""  # "", Stop, TakeProfit, StopLoss
    create_type: str = "CreateByUser"
    take_profit: Decimal = ZERO  # attached TP/SL (linear: becomes the position's on fill)
    stop_loss: Decimal = ZERO
    market_unit: str = ""  # spot market: baseCoin | quoteCoin
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"


@dataclass(slots=True)
class PositionExtra:
    """Per (account, symbol, side): realised PnL net of fees, position TP/SL orders."""

    cum_realised: Decimal = ZERO  # Bybit's cumRealisedPnl includes fees
    cur_realised: Decimal = ZERO
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO
    tp_order: int = 0
    sl_order: int = 0
    tpsl_long: bool = True  # direction of the position the TP/SL orders protect
    created_ms: int = 0


# ---------------------------------------------------------------- orders


def order_status(category: str, order: SimOrder, triggered_now: bool = False) -> str:
    st = order.status
    if triggered_now:
        return "Triggered"
    if st is OrderStatus.UNTRIGGERED:
        return "Untriggered"
    if st is OrderStatus.NEW:
        return "New"
    if st is OrderStatus.PARTIALLY_FILLED:
        return "PartiallyFilled"
    if st is OrderStatus.FILLED:
        return "Filled"
    if st is OrderStatus.REJECTED:
        return "Rejected"
    # CANCELED / EXPIRED
    if order.type.is_conditional and not order.triggered:
        return "Deactivated"
    if order.filled_qty > 0 and category == SPOT:
        return "PartiallyFilledCanceled"
    return "Cancelled"


def _order_type_wire(order: SimOrder) -> str:
    return "Market" if order.type in _MARKET_TYPES else "Limit"


def _trigger_direction(order: SimOrder) -> int:
    if order.trigger_direction is None:
        return 0
    return 1 if order.trigger_direction.value == "RISE" else 2


def _order_common(inst: SimInstrument, order: SimOrder, meta: OrderMeta, shown_qty: Decimal) -> dict:
    is_market = order.type in _MARKET_TYPES
    leaves = max(ZERO, shown_qty - order.filled_qty) if order.status.is_open else ZERO
    if meta.market_unit == "quoteCoin":
        qty_str = dstr(order.quote_qty)
        leaves_value = dstr(order.quote_qty - order.filled_quote) if order.status.is_open else "0"
    else:
        qty_str = inst.fmt_qty_dec(shown_qty)
        leaves_value = dstr(leaves * order.price) if order.price else "0"
    conditional = order.type.is_conditional
    return {
        "qty": qty_str,
        "price": "0" if is_market else inst.fmt_price_dec(order.price),
        "leavesQty": inst.fmt_qty_dec(leaves),
        "leavesValue": leaves_value,
        "cumExecQty": inst.fmt_qty_dec(order.filled_qty),
        "cumExecValue": dstr(order.filled_quote),
        "cumExecFee": dstr(order.fee_total),
        "avgPrice": inst.fmt_price_dec(order.avg_price) if order.filled_qty else "0",
        "timeInForce": "IOC" if is_market else TIF_WIRE[order.tif],
        "orderType": _order_type_wire(order),
        "stopOrderType": meta.stop_order_type,
        "triggerPrice": inst.fmt_price_dec(order.stop_price) if conditional and order.stop_price else "0",
        "takeProfit": inst.fmt_price_dec(meta.take_profit) if meta.take_profit else "0",
        "stopLoss": inst.fmt_price_dec(meta.stop_loss) if meta.stop_loss else "0",
        "tpTriggerBy": "LastPrice" if meta.take_profit else "",
        "slTriggerBy": "LastPrice" if meta.stop_loss else "",
        "triggerDirection": _trigger_direction(order),
        "triggerBy": "LastPrice" if conditional else "",
        "lastPriceOnCreated": meta.last_price_on_created,
        "reduceOnly": order.reduce_only or order.close_position,
        "closeOnTrigger": order.close_position,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "tpslMode": "Full" if (meta.take_profit or meta.stop_loss or order.close_position) else "UNKNOWN",
        "tpLimitPrice": "0",
        "slLimitPrice": "0",
        "placeType": "",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
        "cancelType": meta.cancel_type,
        "rejectReason": meta.reject_reason,
    }


def order_rest(inst: SimInstrument, order: SimOrder, meta: OrderMeta, shown_qty: Decimal) -> dict:
    """One element of /v5/order/realtime and /v5/order/history."""
    c = _order_common(inst, order, meta, shown_qty)
    return {
        "orderId": order_id_str(meta.category, order.order_id),
        "orderLinkId": meta.link_id,
        "blockTradeId": "",
        "symbol": order.symbol,
        "price": c["price"],
        "qty": c["qty"],
        "side": SIDE_WIRE[order.side],
        "isLeverage": "0",
        "positionIdx": POSITION_IDX[order.position_side],
        "orderStatus": order_status(meta.category, order),
        "cancelType": c["cancelType"],
        "rejectReason": c["rejectReason"],
        "avgPrice": c["avgPrice"],
        "leavesQty": c["leavesQty"],
        "leavesValue": c["leavesValue"],
        "cumExecQty": c["cumExecQty"],
        "cumExecValue": c["cumExecValue"],
        "cumExecFee": c["cumExecFee"],
        "timeInForce": c["timeInForce"],
        "orderType": c["orderType"],
        "stopOrderType": c["stopOrderType"],
        "orderIv": "",
        "triggerPrice": c["triggerPrice"],
        "takeProfit": c["takeProfit"],
        "stopLoss": c["stopLoss"],
        "tpTriggerBy": c["tpTriggerBy"],
        "slTriggerBy": c["slTriggerBy"],
        "triggerDirection": c["triggerDirection"],
        "triggerBy": c["triggerBy"],
        "lastPriceOnCreated": c["lastPriceOnCreated"],
        "reduceOnly": c["reduceOnly"],
        "closeOnTrigger": c["closeOnTrigger"],
        "smpType": c["smpType"],
        "smpGroup": c["smpGroup"],
        "smpOrderId": c["smpOrderId"],
        "tpslMode": c["tpslMode"],
        "tpLimitPrice": c["tpLimitPrice"],
        "slLimitPrice": c["slLimitPrice"],
        "placeType": c["placeType"],
        "createdTime": c["createdTime"],
        "updatedTime": c["updatedTime"],
    }


def order_ws(
    inst: SimInstrument, order: SimOrder, meta: OrderMeta, shown_qty: Decimal, triggered_now: bool = False
) -> dict:
    """One element of the private ``order`` topic."""
    c = _order_common(inst, order, meta, shown_qty)
    return {
        "category": meta.category,
        "symbol": order.symbol,
        "orderId": order_id_str(meta.category, order.order_id),
        "side": SIDE_WIRE[order.side],
        "orderType": c["orderType"],
        "cancelType": c["cancelType"],
        "price": c["price"],
        "qty": c["qty"],
        "orderIv": "",
        "timeInForce": c["timeInForce"],
        "orderStatus": order_status(meta.category, order, triggered_now),
        "orderLinkId": meta.link_id,
        "lastPriceOnCreated": c["lastPriceOnCreated"],
        "reduceOnly": c["reduceOnly"],
        "leavesQty": c["leavesQty"],
        "leavesValue": c["leavesValue"],
        "cumExecQty": c["cumExecQty"],
        "cumExecValue": c["cumExecValue"],
        "avgPrice": c["avgPrice"],
        "blockTradeId": "",
        "positionIdx": POSITION_IDX[order.position_side],
        "cumExecFee": c["cumExecFee"],
        "createdTime": c["createdTime"],
        "updatedTime": c["updatedTime"],
        "rejectReason": c["rejectReason"],
        "triggerPrice": c["triggerPrice"],
        "takeProfit": c["takeProfit"],
        "stopLoss": c["stopLoss"],
        "tpTriggerBy": c["tpTriggerBy"],
        "slTriggerBy": c["slTriggerBy"],
        "tpLimitPrice": c["tpLimitPrice"],
        "slLimitPrice": c["slLimitPrice"],
        "closeOnTrigger": c["closeOnTrigger"],
        "placeType": c["placeType"],
        "smpType": c["smpType"],
        "smpGroup": c["smpGroup"],
        "smpOrderId": c["smpOrderId"],
        "feeCurrency": order.fee_asset
        or (inst.base if meta.category == SPOT and order.side is Side.BUY else inst.quote),
        "triggerBy": c["triggerBy"],
        "stopOrderType": c["stopOrderType"],
        "triggerDirection": c["triggerDirection"],
        "tpslMode": c["tpslMode"],
        "createType": meta.create_type,
    }


# ---------------------------------------------------------------- executions


@dataclass(slots=True, frozen=True)
class ExecInfo:
    """One user fill with what the execution payloads need besides the FillRecord."""

    fill: FillRecord
    closed_size: Decimal
    mark_price: Decimal
    fee_rate: Decimal


def _exec_common(inst: SimInstrument, category: str, order: SimOrder, meta: OrderMeta, x: ExecInfo) -> dict:
    f = x.fill
    is_market = order.type in _MARKET_TYPES
    return {
        "symbol": f.symbol,
        "orderId": order_id_str(category, f.order_id),
        "orderLinkId": meta.link_id,
        "side": SIDE_WIRE[f.side],
        "orderPrice": "0" if is_market else inst.fmt_price_dec(order.price),
        "orderQty": inst.fmt_qty_dec(order.qty),
        "leavesQty": inst.fmt_qty_dec(max(ZERO, order.remaining) if order.status.is_open else ZERO),
        "orderType": _order_type_wire(order),
        "stopOrderType": meta.stop_order_type,
        "execFee": dstr(f.fee),
        "execId": exec_id_str(category, f.order_id, f.trade_id),
        "execPrice": inst.fmt_price_dec(f.price),
        "execQty": inst.fmt_qty_dec(f.qty),
        "execType": "Trade",
        "execValue": dstr(f.quote_qty),
        "execTime": str(f.ts_ms),
        "feeRate": dstr(x.fee_rate),
        "isMaker": f.is_maker,
        "markPrice": inst.fmt_price_dec(x.mark_price) if category == LINEAR else "",
        "closedSize": inst.fmt_qty_dec(x.closed_size) if category == LINEAR else "",
        "seq": f.trade_id,
    }


def execution_rest(inst: SimInstrument, category: str, order: SimOrder, meta: OrderMeta, x: ExecInfo) -> dict:
    c = _exec_common(inst, category, order, meta, x)
    return {
        "symbol": c["symbol"],
        "orderId": c["orderId"],
        "orderLinkId": c["orderLinkId"],
        "side": c["side"],
        "orderPrice": c["orderPrice"],
        "orderQty": c["orderQty"],
        "leavesQty": c["leavesQty"],
        "createType": meta.create_type,
        "orderType": c["orderType"],
        "stopOrderType": c["stopOrderType"],
        "execFee": c["execFee"],
        "execId": c["execId"],
        "execPrice": c["execPrice"],
        "execQty": c["execQty"],
        "execType": c["execType"],
        "execValue": c["execValue"],
        "execTime": c["execTime"],
        "feeCurrency": x.fill.fee_asset,
        "isMaker": c["isMaker"],
        "feeRate": c["feeRate"],
        "tradeIv": "",
        "markIv": "",
        "markPrice": c["markPrice"],
        "indexPrice": c["markPrice"],
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": c["closedSize"],
        "seq": c["seq"],
    }


def execution_ws(inst: SimInstrument, category: str, order: SimOrder, meta: OrderMeta, x: ExecInfo) -> dict:
    c = _exec_common(inst, category, order, meta, x)
    return {
        "category": category,
        "symbol": c["symbol"],
        "closedSize": c["closedSize"],
        "execFee": c["execFee"],
        "execId": c["execId"],
        "execPrice": c["execPrice"],
        "execQty": c["execQty"],
        "execType": c["execType"],
        "execValue": c["execValue"],
        "feeRate": c["feeRate"],
        "tradeIv": "",
        "markIv": "",
        "blockTradeId": "",
        "markPrice": c["markPrice"],
        "indexPrice": "",
        "underlyingPrice": "",
        "leavesQty": c["leavesQty"],
        "orderId": c["orderId"],
        "orderLinkId": c["orderLinkId"],
        "orderPrice": c["orderPrice"],
        "orderQty": c["orderQty"],
        "orderType": c["orderType"],
        "stopOrderType": c["stopOrderType"],
        "side": c["side"],
        "execTime": c["execTime"],
        "isLeverage": "0",
        "isMaker": c["isMaker"],
        "seq": c["seq"],
    }


def execution_fast_ws(category: str, x: ExecInfo, inst: SimInstrument, link_id: str) -> dict:
    f = x.fill
    return {
        "category": category,
        "symbol": f.symbol,
        "execId": exec_id_str(category, f.order_id, f.trade_id),
        "execPrice": inst.fmt_price_dec(f.price),
        "execQty": inst.fmt_qty_dec(f.qty),
        "orderId": order_id_str(category, f.order_id),
        "isMaker": f.is_maker,
        "orderLinkId": link_id,
        "side": SIDE_WIRE[f.side],
        "execTime": str(f.ts_ms),
        "seq": f.trade_id,
    }


# ---------------------------------------------------------------- positions


def _position_common(inst: SimInstrument, p: PositionSnapshot, extra: PositionExtra, seq: int) -> dict:
    size = abs(p.qty)
    if p.position_side is PositionSide.LONG:
        side = "Buy" if size else ""
    elif p.position_side is PositionSide.SHORT:
        side = "Sell" if size else ""
    else:
        side = "Buy" if p.qty > 0 else ("Sell" if p.qty < 0 else "")
    flat = size == 0
    return {
        "positionIdx": POSITION_IDX[p.position_side],
        "tradeMode": 1 if p.isolated else 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": p.symbol,
        "side": side,
        "size": inst.fmt_qty_dec(size),
        "entryPrice": inst.fmt_price_dec(p.entry_price) if not flat else "0",
        "leverage": str(p.leverage),
        "positionValue": dstr(size * p.entry_price),
        "positionBalance": dstr(p.isolated_margin) if p.isolated else "0",
        "markPrice": inst.fmt_price_dec(p.mark_price),
        "positionIM": dstr(p.initial_margin),
        "positionMM": dstr(p.maintenance_margin),
        "takeProfit": inst.fmt_price_dec(extra.take_profit) if extra.take_profit else "0",
        "stopLoss": inst.fmt_price_dec(extra.stop_loss) if extra.stop_loss else "0",
        "trailingStop": "0",
        "unrealisedPnl": dstr(p.unrealized_pnl),
        "cumRealisedPnl": dstr(extra.cum_realised),
        "curRealisedPnl": dstr(extra.cur_realised),
        "createdTime": str(extra.created_ms or p.updated_ms),
        "updatedTime": str(p.updated_ms),
        "tpslMode": "Full",
        "liqPrice": inst.fmt_price_dec(p.liquidation_price) if p.liquidation_price and not flat else "",
        "bustPrice": "",
        "positionStatus": "Normal",
        "adlRankIndicator": 0 if flat else 2,
        "autoAddMargin": 0,
        "leverageSysUpdatedTime": "",
        "mmrSysUpdatedTime": "",
        "seq": seq,
        "isReduceOnly": False,
        "openTime": extra.created_ms if not flat else 0,  # when the current position was opened
    }


_POSITION_REST_KEYS = (
    "positionIdx",
    "riskId",
    "riskLimitValue",
    "symbol",
    "side",
    "size",
    "avgPrice",
    "positionValue",
    "tradeMode",
    "positionStatus",
    "autoAddMargin",
    "adlRankIndicator",
    "leverage",
    "positionBalance",
    "markPrice",
    "liqPrice",
    "bustPrice",
    "positionMM",
    "positionIM",
    "tpslMode",
    "takeProfit",
    "stopLoss",
    "trailingStop",
    "unrealisedPnl",
    "curRealisedPnl",
    "cumRealisedPnl",
    "seq",
    "isReduceOnly",
    "mmrSysUpdatedTime",
    "leverageSysUpdatedTime",
    "createdTime",
    "updatedTime",
    "openTime",
)


_POSITION_WS_KEYS = (
    "positionIdx",
    "tradeMode",
    "riskId",
    "riskLimitValue",
    "symbol",
    "side",
    "size",
    "entryPrice",
    "sessionAvgPrice",
    "leverage",
    "positionValue",
    "positionBalance",
    "markPrice",
    "positionIM",
    "positionMM",
    "positionIMByMp",
    "positionMMByMp",
    "takeProfit",
    "stopLoss",
    "trailingStop",
    "unrealisedPnl",
    "cumRealisedPnl",
    "curRealisedPnl",
    "createdTime",
    "updatedTime",
    "tpslMode",
    "liqPrice",
    "bustPrice",
    "category",
    "positionStatus",
    "adlRankIndicator",
    "autoAddMargin",
    "leverageSysUpdatedTime",
    "mmrSysUpdatedTime",
    "seq",
    "isReduceOnly",
    "openTime",
)


def position_rest(inst: SimInstrument, p: PositionSnapshot, extra: PositionExtra, seq: int) -> dict:
    c = _position_common(inst, p, extra, seq)
    c["avgPrice"] = c["entryPrice"]
    return {k: c[k] for k in _POSITION_REST_KEYS}


def position_ws(inst: SimInstrument, p: PositionSnapshot, extra: PositionExtra, seq: int) -> dict:
    c = _position_common(inst, p, extra, seq)
    c["sessionAvgPrice"] = ""
    c["positionIMByMp"] = c["positionIM"]
    c["positionMMByMp"] = c["positionMM"]
    c["category"] = LINEAR
    return {k: c[k] for k in _POSITION_WS_KEYS}


# ---------------------------------------------------------------- wallet


@dataclass(slots=True, frozen=True)
class CoinState:
    coin: str
    wallet: Decimal  # free + locked
    locked: Decimal
    free: Decimal
    upnl: Decimal
    cum_realised: Decimal
    position_im: Decimal
    position_mm: Decimal
    order_im: Decimal
    usd_price: Decimal

    @property
    def equity(self) -> Decimal:
        return self.wallet + self.upnl

    @property
    def available(self) -> Decimal:
        return max(ZERO, self.free - self.position_im - self.order_im + min(ZERO, self.upnl))


@dataclass(slots=True, frozen=True)
class WalletTotals:
    equity: Decimal
    wallet: Decimal
    margin: Decimal
    available: Decimal
    upnl: Decimal
    im: Decimal
    mm: Decimal

    def rates(self) -> tuple[str, str]:
        if self.margin <= 0:
            return "0", "0"
        return rate_str(self.im / self.margin, 4), rate_str(self.mm / self.margin, 4)


def wallet_totals(coins: list[CoinState]) -> WalletTotals:
    equity = sum((c.equity * c.usd_price for c in coins), ZERO)
    wallet = sum((c.wallet * c.usd_price for c in coins), ZERO)
    upnl = sum((c.upnl * c.usd_price for c in coins), ZERO)
    im = sum(((c.position_im + c.order_im) * c.usd_price for c in coins), ZERO)
    mm = sum((c.position_mm * c.usd_price for c in coins), ZERO)
    margin = wallet + upnl
    return WalletTotals(equity, wallet, margin, max(ZERO, margin - im), upnl, im, mm)


def _q(x: Decimal) -> str:
    return dstr(x.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)) if x else "0"


def wallet_rest(coins: list[CoinState]) -> dict:
    t = wallet_totals(coins)
    im_rate, mm_rate = t.rates()
    return {
        "totalEquity": _q(t.equity),
        "accountIMRate": im_rate,
        "totalMarginBalance": _q(t.margin),
        "totalInitialMargin": _q(t.im),
        "accountType": "UNIFIED",
        "totalAvailableBalance": _q(t.available),
        "accountMMRate": mm_rate,
        "totalPerpUPL": _q(t.upnl),
        "totalWalletBalance": _q(t.wallet),
        "accountLTV": "0",
        "totalMaintenanceMargin": _q(t.mm),
        "coin": [
            {
                "availableToBorrow": "",
                "bonus": "0",
                "accruedInterest": "0",
                "availableToWithdraw": dstr(c.available),
                "totalOrderIM": dstr(c.order_im),
                "equity": dstr(c.equity),
                "totalPositionMM": dstr(c.position_mm),
                "usdValue": _q(c.equity * c.usd_price),
                "unrealisedPnl": dstr(c.upnl),
                "borrowAmount": "0",
                "totalPositionIM": dstr(c.position_im),
                "walletBalance": dstr(c.wallet),
                "cumRealisedPnl": dstr(c.cum_realised),
                "locked": dstr(c.locked),
                "collateralSwitch": True,
                "marginCollateral": True,
                "coin": c.coin,
                "spotBorrow": "0",
            }
            for c in coins
        ],
    }


def wallet_ws(coins: list[CoinState]) -> dict:
    t = wallet_totals(coins)
    im_rate, mm_rate = t.rates()
    return {
        "accountIMRate": im_rate,
        "accountMMRate": mm_rate,
        "accountLTV": "0",
        "totalEquity": _q(t.equity),
        "totalWalletBalance": _q(t.wallet),
        "totalMarginBalance": _q(t.margin),
        "totalAvailableBalance": _q(t.available),
        "totalPerpUpl": _q(t.upnl),
        "totalInitialMargin": _q(t.im),
        "totalMaintenanceMargin": _q(t.mm),
        "coin": [
            {
                "coin": c.coin,
                "equity": dstr(c.equity),
                "walletBalance": dstr(c.wallet),
                "availableToWithdraw": dstr(c.available),
                "availableToBorrow": "",
                "borrowAmount": "0",
                "accruedInterest": "0",
                "totalOrderIM": dstr(c.order_im),
                "totalPositionIM": dstr(c.position_im),
                "totalPositionMM": dstr(c.position_mm),
                "spotBorrow": "0",
            }
            for c in coins
        ],
    }


# ---------------------------------------------------------------- market data


def book_levels(inst: SimInstrument, levels: list[tuple[int, int]]) -> list[list[str]]:
    fp, fq = inst.fmt_price, inst.fmt_qty
    return [[fp(p), fq(q)] for p, q in levels]


def public_trade(category: str, inst: SimInstrument, t: TradeEvent, tick_dir: str) -> dict:
    out = {
        "T": t.ts_ms,
        "s": t.symbol,
        "S": SIDE_WIRE[t.taker_side],
        "v": inst.fmt_qty(t.qty_lots),
        "p": inst.fmt_price(t.price_ticks),
        "L": tick_dir,
        "i": public_trade_id(category, t.symbol, t.trade_id),
        "BT": False,
        "seq": t.trade_id,
    }
    if category == SPOT:
        del out["L"]
    return out


def recent_trade_rest(category: str, inst: SimInstrument, t: TradeEvent) -> dict:
    return {
        "execId": public_trade_id(category, t.symbol, t.trade_id),
        "symbol": t.symbol,
        "price": inst.fmt_price(t.price_ticks),
        "size": inst.fmt_qty(t.qty_lots),
        "side": SIDE_WIRE[t.taker_side],
        "time": str(t.ts_ms),
        "isBlockTrade": False,
    }


def kline_rest(inst: SimInstrument, k: Kline) -> list[str]:
    return [
        str(k.open_ms),
        dstr(inst.price(k.open)),
        dstr(inst.price(k.high)),
        dstr(inst.price(k.low)),
        dstr(inst.price(k.close)),
        dstr(inst.qty(k.volume)),
        dstr(k.quote_volume),
    ]


def kline_ws(inst: SimInstrument, k: Kline, interval: str, confirm: bool, ts: int) -> dict:
    return {
        "start": k.open_ms,
        "end": k.close_ms,
        "interval": interval,
        "open": dstr(inst.price(k.open)),
        "close": dstr(inst.price(k.close)),
        "high": dstr(inst.price(k.high)),
        "low": dstr(inst.price(k.low)),
        "volume": dstr(inst.qty(k.volume)),
        "turnover": dstr(k.quote_volume),
        "confirm": confirm,
        "timestamp": ts,
    }


def pct_change(open_: int, last: int, places: int) -> str:
    if not open_:
        return "0"
    return rate_str(Decimal(last - open_) / Decimal(open_), places)


@dataclass(slots=True, frozen=True)
class DerivInfo:
    mark: Decimal
    index: Decimal
    funding_rate: Decimal
    next_funding_ms: int
    open_interest: Decimal
    prev_1h: int  # ticks


def ticker_spot(inst: SimInstrument, t: Ticker24h, rest: bool) -> dict:
    out = {
        "symbol": t.symbol,
        "bid1Price": inst.fmt_price(t.best_bid) if t.best_bid else "",
        "bid1Size": inst.fmt_qty(t.best_bid_qty) if t.best_bid else "",
        "ask1Price": inst.fmt_price(t.best_ask) if t.best_ask else "",
        "ask1Size": inst.fmt_qty(t.best_ask_qty) if t.best_ask else "",
        "lastPrice": inst.fmt_price(t.last),
        "prevPrice24h": inst.fmt_price(t.open),
        "price24hPcnt": pct_change(t.open, t.last, 4),
        "highPrice24h": inst.fmt_price(t.high),
        "lowPrice24h": inst.fmt_price(t.low),
        "turnover24h": dstr(t.quote_volume),
        "volume24h": inst.fmt_qty(t.volume),
        "usdIndexPrice": inst.fmt_price(t.last),
    }
    if not rest:
        for k in ("bid1Price", "bid1Size", "ask1Price", "ask1Size"):
            del out[k]
    return out


def ticker_linear(inst: SimInstrument, t: Ticker24h, d: DerivInfo, tick_dir: str, rest: bool) -> dict:
    out = {
        "symbol": t.symbol,
        "lastPrice": inst.fmt_price(t.last),
        "indexPrice": inst.fmt_price_dec(d.index),
        "markPrice": inst.fmt_price_dec(d.mark),
        "prevPrice24h": inst.fmt_price(t.open),
        "price24hPcnt": pct_change(t.open, t.last, 6),
        "highPrice24h": inst.fmt_price(t.high),
        "lowPrice24h": inst.fmt_price(t.low),
        "prevPrice1h": inst.fmt_price(d.prev_1h),
        "openInterest": inst.fmt_qty_dec(d.open_interest),
        "openInterestValue": dstr((d.open_interest * d.mark).quantize(Decimal("0.01"))),
        "turnover24h": dstr(t.quote_volume),
        "volume24h": inst.fmt_qty(t.volume),
        "fundingRate": dstr(d.funding_rate),
        "nextFundingTime": str(d.next_funding_ms),
        "bid1Price": inst.fmt_price(t.best_bid) if t.best_bid else "",
        "bid1Size": inst.fmt_qty(t.best_bid_qty) if t.best_bid else "",
        "ask1Price": inst.fmt_price(t.best_ask) if t.best_ask else "",
        "ask1Size": inst.fmt_qty(t.best_ask_qty) if t.best_ask else "",
    }
    if rest:
        out.update(
            {
                "predictedDeliveryPrice": "",
                "basisRate": "",
                "basis": "",
                "deliveryFeeRate": "",
                "deliveryTime": "0",
                "fundingIntervalHour": "8",
            }
        )
    else:
        out = {
            "symbol": out["symbol"],
            "tickDirection": tick_dir,
            **{k: v for k, v in out.items() if k != "symbol"},
        }
        out["fundingIntervalHour"] = "8"
    return out


def instrument_spot(inst: SimInstrument) -> dict:
    return {
        "symbol": inst.symbol,
        "baseCoin": inst.base,
        "quoteCoin": inst.quote,
        "innovation": "0",
        "status": "Trading",
        "marginTrading": "utaOnly",
        "lotSizeFilter": {
            "basePrecision": dstr(inst.step),
            "quotePrecision": "0.00000001",
            "minOrderQty": dstr(inst.min_qty),
            "maxOrderQty": dstr(inst.max_qty),
            "minOrderAmt": dstr(inst.min_notional),
            "maxOrderAmt": dstr(inst.max_notional),
        },
        "priceFilter": {"tickSize": dstr(inst.tick)},
    }


def instrument_linear(inst: SimInstrument) -> dict:
    return {
        "symbol": inst.symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": inst.base,
        "quoteCoin": inst.quote,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(inst.price_decimals),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{MAX_LEVERAGE}.00", "leverageStep": "0.01"},
        "priceFilter": {
            "minPrice": inst.fmt_price_dec(inst.min_price),
            "maxPrice": inst.fmt_price_dec(inst.max_price),
            "tickSize": inst.fmt_price_dec(inst.tick),
        },
        "lotSizeFilter": {
            "maxOrderQty": inst.fmt_qty_dec(inst.max_qty),
            "minOrderQty": inst.fmt_qty_dec(inst.min_qty),
            "qtyStep": inst.fmt_qty_dec(inst.step),
            "postOnlyMaxOrderQty": inst.fmt_qty_dec(inst.max_qty),
            "maxMktOrderQty": inst.fmt_qty_dec(inst.market_max_qty),
            "minNotionalValue": dstr(inst.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": FUNDING_INTERVAL_MIN,
        "settleCoin": inst.quote,
    }

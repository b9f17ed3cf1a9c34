"""Binance Spot protocol server: ``/api/v3`` REST, market streams, ``/ws-api/v3`` user stream.

Serves everything python-binance 1.0.37's ``AsyncClient``/``BinanceSocketManager`` use
against ``exchange.markets[Venue.BINANCE_SPOT]``. Wire conventions: every price and
quantity has 8 decimals; errors are ``{"code":..,"msg":..}`` with Binance's HTTP status;
the user data stream is the WebSocket API subscription (``userDataStream.subscribe.signature``)
whose events arrive wrapped ``{"subscriptionId":N,"event":{...}}``.

Simplifications (documented): each trade is its own aggTrade (a = f = l = trade id); the
exchange has no iceberg, trailing-delta, SOR or self-trade-prevention features (fields are
sent with their neutral values).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from terminal.model.enums import OrderStatus, OrderType, Side, TimeInForce, Venue
from terminal.sim.binance_common import (
    KLINE_INTERVALS_MS,
    SPOT_DIALECT,
    SPOT_REJECTS,
    UNKNOWN_ORDER_ON_CANCEL,
    BinanceApiError,
    BinanceHttp,
    RequestCtx,
    Security,
    StreamEngine,
    StreamFormat,
    WeightLimiter,
    binance_ws_response,
    check_api_key,
    check_signature,
    check_timestamp,
    dumps,
    invalid_symbol,
    limit_param,
    mandatory,
    on_app_lifecycle,
    opt_decimal,
    opt_int,
    opt_str,
    param_decimal,
    param_side,
    param_str,
    parse_bool,
    reject_error,
    server_time_ms,
    stream_routes,
)
from terminal.sim.events import AccountEvent, BalanceDeltaEvent, OrderEvent, OrderListEvent, SimEvent
from terminal.sim.exchange import SimExchange
from terminal.sim.faults import HttpFault
from terminal.sim.instruments import SimInstrument
from terminal.sim.orders import ExecType, OrderList, OrderRequest, RejectReason, SimOrder, SimReject
from terminal.sim.wsconn import WsPeer

VENUE = Venue.BINANCE_SPOT
SPOT_WEIGHT_LIMIT = 6000
WS_API_PATH = "/ws-api/v3"

LIMITER_KEY = web.AppKey("binance_spot_limiter", WeightLimiter)
SERVER_KEY = web.AppKey("binance_spot_server", object)

_PRECISION = 8  # base/quote asset precision of every simulated spot symbol


def f8(x: Decimal) -> str:
    return f"{x:.8f}"


# =====================================================================================
# Order types: Binance spot names <-> core types
# =====================================================================================

_TYPES: dict[str, OrderType] = {
    "LIMIT": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    "LIMIT_MAKER": OrderType.LIMIT,
    "STOP_LOSS": OrderType.STOP_MARKET,
    "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT,
    "TAKE_PROFIT": OrderType.TAKE_PROFIT_MARKET,
    "TAKE_PROFIT_LIMIT": OrderType.TAKE_PROFIT_LIMIT,
}
_NAMES: dict[OrderType, str] = {
    OrderType.LIMIT: "LIMIT",
    OrderType.MARKET: "MARKET",
    OrderType.STOP_MARKET: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}
_TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}


def type_name(order: SimOrder) -> str:
    if order.type is OrderType.LIMIT and order.tif is TimeInForce.POST_ONLY:
        return "LIMIT_MAKER"
    return _NAMES.get(order.type, order.type.value)


def tif_name(order: SimOrder) -> str:
    return "GTC" if order.tif is TimeInForce.POST_ONLY else order.tif.value


def status_name(order: SimOrder) -> str:
    if order.status in (OrderStatus.UNTRIGGERED, OrderStatus.PENDING_NEW):
        return "NEW"
    return order.status.value


def is_working(order: SimOrder) -> bool:
    """On the book now (executionReport ``w``)."""
    return order.status.is_open and order.status is not OrderStatus.UNTRIGGERED


def has_worked(order: SimOrder) -> bool:
    """Not a stop order still waiting for its trigger (``isWorking``, ``workingTime``)."""
    return not order.type.is_conditional or order.triggered


def working_time(order: SimOrder) -> int:
    return order.working_ms if has_worked(order) else -1


# =====================================================================================
# Formatting
# =====================================================================================


def order_ack(order: SimOrder, now_ms: int) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.list_id,
        "clientOrderId": order.client_id,
        "transactTime": now_ms,
    }


def _order_state(order: SimOrder) -> dict[str, Any]:
    """The quantity/status block every spot order response shares."""
    return {
        "price": f8(order.price),
        "origQty": f8(order.qty),
        "executedQty": f8(order.filled_qty),
        "origQuoteOrderQty": f8(order.quote_qty),
        "cummulativeQuoteQty": f8(order.filled_quote),
        "status": status_name(order),
        "timeInForce": tif_name(order),
        "type": type_name(order),
        "side": order.side.value,
    }


def order_result(order: SimOrder, now_ms: int) -> dict[str, Any]:
    out = order_ack(order, now_ms)
    out.update(_order_state(order))
    if order.stop_price:
        out["stopPrice"] = f8(order.stop_price)
    out["workingTime"] = working_time(order)
    out["selfTradePreventionMode"] = "NONE"
    return out


def order_query(order: SimOrder) -> dict[str, Any]:
    """GET /order, openOrders, allOrders row."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.list_id,
        "clientOrderId": order.client_id,
        **_order_state(order),
        "stopPrice": f8(order.stop_price),
        "icebergQty": f8(Decimal(0)),
        "time": order.created_ms,
        "updateTime": order.updated_ms,
        "isWorking": has_worked(order),
        "workingTime": working_time(order),
        "selfTradePreventionMode": "NONE",
    }


def cancel_result(order: SimOrder, cancel_client_id: str, now_ms: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "symbol": order.symbol,
        "origClientOrderId": order.client_id,
        "orderId": order.order_id,
        "orderListId": order.list_id,
        "clientOrderId": cancel_client_id,
        "transactTime": now_ms,
        **_order_state(order),
    }
    if order.stop_price:
        out["stopPrice"] = f8(order.stop_price)
    out["selfTradePreventionMode"] = "NONE"
    return out


def list_status_type(ol: OrderList) -> str:
    return "EXEC_STARTED" if ol.status == "EXECUTING" else "ALL_DONE"


def order_list_summary(ol: OrderList, market: Any, now_ms: int) -> dict[str, Any]:
    return {
        "orderListId": ol.list_id,
        "contingencyType": "OCO",
        "listStatusType": list_status_type(ol),
        "listOrderStatus": ol.status,
        "listClientOrderId": ol.client_list_id,
        "transactionTime": now_ms,
        "symbol": ol.symbol,
        "orders": [
            {"symbol": ol.symbol, "orderId": oid, "clientOrderId": market.orders[oid].client_id}
            for oid in ol.order_ids
        ],
    }


def execution_report(ev: OrderEvent, cancel_client_id: str | None) -> dict[str, Any]:
    o = ev.order
    exec_type = {ExecType.TRIGGERED: "NEW", ExecType.AMENDED: "REPLACED"}.get(
        ev.exec_type, ev.exec_type.value
    )
    traded = ev.exec_type is ExecType.TRADE
    client_id, orig_client_id = o.client_id, ""
    if ev.exec_type is ExecType.CANCELED and cancel_client_id:
        client_id, orig_client_id = cancel_client_id, o.client_id
    out: dict[str, Any] = {
        "e": "executionReport",
        "E": ev.ts_ms,
        "s": o.symbol,
        "c": client_id,
        "S": o.side.value,
        "o": type_name(o),
        "f": tif_name(o),
        "q": f8(o.qty),
        "p": f8(o.price),
        "P": f8(o.stop_price),
        "F": f8(Decimal(0)),
        "g": o.list_id,
        "C": orig_client_id,
        "x": exec_type,
        "X": status_name(o),
        "r": "NONE",
        "i": o.order_id,
        "l": f8(ev.last_qty),
        "z": f8(o.filled_qty),
        "L": f8(ev.last_price),
        "n": f8(ev.fee) if traded else "0",
        "N": ev.fee_asset if traded and ev.fee_asset else None,
        "T": ev.ts_ms,
        "t": ev.trade_id if traded else -1,
        "I": 0,
        "w": is_working(o),
        "m": ev.is_maker if traded else False,
        "M": False,
        "O": o.created_ms,
        "Z": f8(o.filled_quote),
        "Y": f8(ev.last_qty * ev.last_price),
        "Q": f8(o.quote_qty),
    }
    if has_worked(o):
        out["W"] = o.working_ms
    out["V"] = "NONE"
    return out


def account_position(ev: AccountEvent) -> dict[str, Any]:
    return {
        "e": "outboundAccountPosition",
        "E": ev.ts_ms,
        "u": ev.ts_ms,
        "B": [{"a": b.asset, "f": f8(b.free), "l": f8(b.locked)} for b in ev.balances],
    }


def balance_update(ev: BalanceDeltaEvent) -> dict[str, Any]:
    return {"e": "balanceUpdate", "E": ev.ts_ms, "a": ev.asset, "d": f8(ev.delta), "T": ev.ts_ms}


def list_status(ev: OrderListEvent, market: Any) -> dict[str, Any]:
    ol = ev.order_list
    return {
        "e": "listStatus",
        "E": ev.ts_ms,
        "s": ol.symbol,
        "g": ol.list_id,
        "c": "OCO",
        "l": list_status_type(ol),
        "L": ol.status,
        "r": "NONE",
        "C": ol.client_list_id,
        "T": ev.ts_ms,
        "O": [{"s": ol.symbol, "i": oid, "c": market.orders[oid].client_id} for oid in ol.order_ids],
    }


# =====================================================================================
# Exchange info
# =====================================================================================


def symbol_info(inst: SimInstrument) -> dict[str, Any]:
    return {
        "symbol": inst.symbol,
        "status": "TRADING",
        "baseAsset": inst.base,
        "baseAssetPrecision": _PRECISION,
        "quoteAsset": inst.quote,
        "quotePrecision": _PRECISION,
        "quoteAssetPrecision": _PRECISION,
        "baseCommissionPrecision": _PRECISION,
        "quoteCommissionPrecision": _PRECISION,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": False,
        "ocoAllowed": True,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": f8(inst.min_price),
                "maxPrice": f8(inst.max_price),
                "tickSize": f8(inst.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": f8(inst.min_qty),
                "maxQty": f8(inst.max_qty),
                "stepSize": f8(inst.step),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": f8(Decimal(0)),
                "maxQty": f8(inst.market_max_qty),
                "stepSize": f8(Decimal(0)),
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": f8(inst.min_notional),
                "applyMinToMarket": True,
                "maxNotional": f8(inst.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": SPOT_WEIGHT_LIMIT},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


# =====================================================================================
# Weights
# =====================================================================================


def depth_weight(params: dict[str, str]) -> int:
    try:
        limit = int(params.get("limit") or 100)
    except ValueError:
        return 5
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def _symbols_weight(
    single: int, per_many: Callable[[int], int], all_: int
) -> Callable[[dict[str, str]], int]:
    def weight(params: dict[str, str]) -> int:
        if params.get("symbol"):
            return single
        raw = params.get("symbols")
        if raw:
            return per_many(raw.count(",") + 1)
        return all_

    return weight


def _ticker24_many(n: int) -> int:
    return 2 if n <= 20 else 40 if n <= 100 else 80


# =====================================================================================
# The server
# =====================================================================================


@dataclass(eq=False, slots=True)
class _UserSub:
    peer: WsPeer
    sub_id: int
    account_id: str


@dataclass(eq=False, slots=True)
class _WsApiConn:
    peer: WsPeer
    connected_ms: int
    next_sub: itertools.count = field(default_factory=itertools.count)
    subs: dict[int, _UserSub] = field(default_factory=dict)


class SpotServer:
    """Spot REST + streams + WebSocket API over one SimMarket."""

    def __init__(self, exchange: SimExchange, limiter: WeightLimiter | None = None) -> None:
        self.exchange = exchange
        self.limiter = limiter or WeightLimiter(SPOT_WEIGHT_LIMIT)
        self.http = BinanceHttp(exchange, VENUE, self.limiter, SPOT_REJECTS)
        self.streams = StreamEngine(exchange, VENUE, SPOT_DIALECT, StreamFormat())
        self.user_subs: dict[str, set[_UserSub]] = {}  # account id -> subscriptions
        self.ws_api_conns: set[_WsApiConn] = set()
        self._cancel_client_ids: dict[int, str] = {}  # order id -> client id of the cancel request
        self._order_times: dict[str, deque[float]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        exchange.faults.on_drop(self._on_drop)

    @property
    def market(self) -> Any:
        return self.exchange.markets[VENUE]

    # ---- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self.streams.start()
        if self._unsubscribe is None:
            self._unsubscribe = self.market.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.streams.stop()
        for conn in list(self.ws_api_conns):
            await conn.peer.close(1001, b"server shutdown")

    def _on_drop(self, venue: Venue | None, symbol: str | None) -> None:
        if venue in (None, VENUE) and symbol is None:
            for conn in list(self.ws_api_conns):
                conn.peer.drop()

    # ---- routes ------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        r = self.http.route
        p = "/api/v3"
        keyed, signed = Security.API_KEY, Security.SIGNED
        r(app, "GET", f"{p}/ping", self.ping, 1)
        r(app, "GET", f"{p}/time", self.time, 1)
        r(app, "GET", f"{p}/exchangeInfo", self.exchange_info, 20)
        r(app, "GET", f"{p}/depth", self.depth, depth_weight)
        r(app, "GET", f"{p}/trades", self.trades, 25)
        r(app, "GET", f"{p}/historicalTrades", self.trades, 25, keyed)
        r(app, "GET", f"{p}/aggTrades", self.agg_trades, 4)
        r(app, "GET", f"{p}/klines", self.klines, 2)
        r(app, "GET", f"{p}/uiKlines", self.klines, 2)
        r(app, "GET", f"{p}/ticker/24hr", self.ticker_24h, _symbols_weight(2, _ticker24_many, 80))
        r(app, "GET", f"{p}/ticker/price", self.ticker_price, _symbols_weight(2, lambda n: 4, 4))
        r(app, "GET", f"{p}/ticker/bookTicker", self.book_ticker, _symbols_weight(2, lambda n: 4, 4))
        r(app, "GET", f"{p}/avgPrice", self.avg_price, 2)
        r(app, "POST", f"{p}/order", self.new_order, 1, signed)
        r(app, "POST", f"{p}/order/test", self.test_order, 1, signed)
        r(app, "GET", f"{p}/order", self.get_order, 4, signed)
        r(app, "DELETE", f"{p}/order", self.cancel_order, 1, signed)
        r(app, "GET", f"{p}/openOrders", self.open_orders, _symbols_weight(6, lambda n: 80, 80), signed)
        r(app, "DELETE", f"{p}/openOrders", self.cancel_open_orders, 1, signed)
        r(app, "GET", f"{p}/allOrders", self.all_orders, 20, signed)
        r(app, "GET", f"{p}/account", self.account, 20, signed)
        r(app, "GET", f"{p}/myTrades", self.my_trades, 20, signed)
        r(app, "POST", f"{p}/orderList/oco", self.new_oco, 1, signed)
        r(app, "GET", f"{p}/orderList", self.get_order_list, 4, signed)
        r(app, "DELETE", f"{p}/orderList", self.cancel_order_list, 1, signed)
        r(app, "GET", f"{p}/openOrderList", self.open_order_lists, 6, signed)
        r(app, "GET", f"{p}/allOrderList", self.all_order_lists, 20, signed)
        r(app, "GET", f"{p}/rateLimit/order", self.order_rate, 40, signed)
        stream_routes(app, self.streams)
        app.router.add_get(WS_API_PATH, self.ws_api)

    # ---- helpers -----------------------------------------------------------------
    def _inst(self, params: dict[str, str]) -> SimInstrument:
        symbol = param_str(params, "symbol")
        inst = self.market.instruments.get(symbol)
        if inst is None:
            raise invalid_symbol()
        return inst

    def _symbols(self, params: dict[str, str]) -> list[str] | None:
        """``symbol=`` / ``symbols=["A","B"]`` / neither (None: all)."""
        if params.get("symbol"):
            return [self._inst(params).symbol]
        raw = params.get("symbols")
        if not raw:
            return None
        try:
            names = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BinanceApiError(
                -1100,
                "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.",
            ) from None
        if not isinstance(names, list) or not names:
            raise mandatory("symbols")
        for name in names:
            if name not in self.market.instruments:
                raise invalid_symbol()
        return [str(n) for n in names]

    @staticmethod
    def _one_or_many(symbols: list[str] | None, params: dict[str, str], rows: list[Any]) -> Any:
        return rows[0] if params.get("symbol") else rows

    def _all_symbols(self, symbols: list[str] | None) -> list[str]:
        return symbols if symbols is not None else list(self.market.instruments)

    # ---- general / market data ----------------------------------------------------
    async def ping(self, ctx: RequestCtx) -> Any:
        return {}

    async def time(self, ctx: RequestCtx) -> Any:
        return {"serverTime": ctx.now_ms}

    async def exchange_info(self, ctx: RequestCtx) -> Any:
        symbols = self._symbols(ctx.params)
        perms = ctx.params.get("permissions")
        insts = [self.market.instruments[s] for s in self._all_symbols(symbols)]
        if perms and "SPOT" not in perms:
            insts = []
        return {
            "timezone": "UTC",
            "serverTime": ctx.now_ms,
            "rateLimits": RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": [symbol_info(i) for i in insts],
        }

    async def depth(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        limit = limit_param(ctx.params, 100, 5000)
        uid, bids, asks = self.market.depth(inst.symbol, limit)
        fp, fq = inst.fmt_price, inst.fmt_qty
        return {
            "lastUpdateId": uid,
            "bids": [[fp(p), fq(q)] for p, q in bids],
            "asks": [[fp(p), fq(q)] for p, q in asks],
        }

    async def trades(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        limit = limit_param(ctx.params, 500, 1000)
        trades = self.market.recent_trades(inst.symbol, 1000)
        from_id = opt_int(ctx.params, "fromId")
        if from_id is not None:
            trades = [t for t in trades if t.trade_id >= from_id][:limit]
        else:
            trades = trades[-limit:]
        return [
            {
                "id": t.trade_id,
                "price": inst.fmt_price(t.price_ticks),
                "qty": inst.fmt_qty(t.qty_lots),
                "quoteQty": f8(inst.price(t.price_ticks) * inst.qty(t.qty_lots)),
                "time": t.ts_ms,
                "isBuyerMaker": t.taker_side is Side.SELL,
                "isBestMatch": True,
            }
            for t in trades
        ]

    async def agg_trades(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        limit = limit_param(ctx.params, 500, 1000)
        trades = self.market.recent_trades(inst.symbol, 1000)
        from_id = opt_int(ctx.params, "fromId")
        start = opt_int(ctx.params, "startTime")
        end = opt_int(ctx.params, "endTime")
        if from_id is not None:
            trades = [t for t in trades if t.trade_id >= from_id][:limit]
        elif start is not None or end is not None:
            lo = start if start is not None else 0
            hi = end if end is not None else 1 << 62
            trades = [t for t in trades if lo <= t.ts_ms <= hi][:limit]
        else:
            trades = trades[-limit:]
        return [
            {
                "a": t.trade_id,
                "p": inst.fmt_price(t.price_ticks),
                "q": inst.fmt_qty(t.qty_lots),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.ts_ms,
                "m": t.taker_side is Side.SELL,
                "M": True,
            }
            for t in trades
        ]

    async def klines(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        interval = param_str(ctx.params, "interval")
        interval_ms = KLINE_INTERVALS_MS.get(interval)
        if interval_ms is None or interval == "1s":
            raise BinanceApiError(-1120, "Invalid interval.")
        limit = limit_param(ctx.params, 500, 1000)
        start = opt_int(ctx.params, "startTime")
        end = opt_int(ctx.params, "endTime")
        rows = self.market.klines(inst.symbol, interval_ms, start, end, limit)
        fp, fq = inst.fmt_price, inst.fmt_qty
        return [
            [
                k.open_ms,
                fp(k.open),
                fp(k.high),
                fp(k.low),
                fp(k.close),
                fq(k.volume),
                k.close_ms,
                f8(k.quote_volume),
                k.trades,
                fq(k.taker_buy_volume),
                f8(k.taker_buy_quote),
                "0",
            ]
            for k in rows
        ]

    def _ticker_row(self, symbol: str, mini: bool) -> dict[str, Any]:
        inst = self.market.instruments[symbol]
        t = self.market.ticker_24h(symbol)
        fp, fq = inst.fmt_price, inst.fmt_qty
        change = t.last - t.open
        pct = Decimal(change * 100) / Decimal(t.open) if t.open else Decimal(0)
        row: dict[str, Any] = {"symbol": symbol}
        if not mini:
            row.update(
                {
                    "priceChange": fp(change),
                    "priceChangePercent": f"{pct:.3f}",
                    "weightedAvgPrice": f8(t.weighted_avg),
                    "prevClosePrice": fp(t.open),
                }
            )
        row["lastPrice"] = fp(t.last)
        if not mini:
            row.update(
                {
                    "lastQty": fq(t.last_qty),
                    "bidPrice": fp(t.best_bid),
                    "bidQty": fq(t.best_bid_qty),
                    "askPrice": fp(t.best_ask),
                    "askQty": fq(t.best_ask_qty),
                }
            )
        row.update(
            {
                "openPrice": fp(t.open),
                "highPrice": fp(t.high),
                "lowPrice": fp(t.low),
                "volume": fq(t.volume),
                "quoteVolume": f8(t.quote_volume),
                "openTime": t.open_ms,
                "closeTime": t.close_ms,
                "firstId": t.first_trade_id,
                "lastId": t.last_trade_id,
                "count": t.trades,
            }
        )
        return row

    async def ticker_24h(self, ctx: RequestCtx) -> Any:
        symbols = self._symbols(ctx.params)
        kind = ctx.params.get("type", "FULL")
        if kind not in ("FULL", "MINI"):
            raise BinanceApiError(
                -1100, "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'."
            )
        rows = [self._ticker_row(s, kind == "MINI") for s in self._all_symbols(symbols)]
        return self._one_or_many(symbols, ctx.params, rows)

    async def ticker_price(self, ctx: RequestCtx) -> Any:
        symbols = self._symbols(ctx.params)
        rows = []
        for s in self._all_symbols(symbols):
            inst = self.market.instruments[s]
            rows.append({"symbol": s, "price": inst.fmt_price(self.market.last_price_ticks(s))})
        return self._one_or_many(symbols, ctx.params, rows)

    async def book_ticker(self, ctx: RequestCtx) -> Any:
        symbols = self._symbols(ctx.params)
        rows = []
        for s in self._all_symbols(symbols):
            inst = self.market.instruments[s]
            book = self.market.books[s]
            bid = book.best_bid_level() or (0, 0)
            ask = book.best_ask_level() or (0, 0)
            rows.append(
                {
                    "symbol": s,
                    "bidPrice": inst.fmt_price(bid[0]),
                    "bidQty": inst.fmt_qty(bid[1]),
                    "askPrice": inst.fmt_price(ask[0]),
                    "askQty": inst.fmt_qty(ask[1]),
                }
            )
        return self._one_or_many(symbols, ctx.params, rows)

    async def avg_price(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        bars = self.market.klines(inst.symbol, 60_000, None, None, 5)
        volume = sum(k.volume for k in bars)
        if volume:
            price = sum((k.quote_volume for k in bars), Decimal(0)) / inst.qty(volume)
        else:
            price = inst.price(self.market.last_price_ticks(inst.symbol))
        close = bars[-1].close_ms if bars else ctx.now_ms
        return {"mins": 5, "price": f8(price), "closeTime": close}

    # ---- trading -----------------------------------------------------------------------
    def _count_order(self, ctx: RequestCtx) -> None:
        now = time.monotonic()
        times = self._order_times.setdefault(ctx.account_id, deque(maxlen=200_000))
        times.append(now)
        recent = sum(1 for t in reversed(times) if now - t <= 10) if len(times) < 1000 else len(times)
        ctx.headers["X-MBX-ORDER-COUNT-10S"] = str(recent)
        ctx.headers["X-MBX-ORDER-COUNT-1D"] = str(len(times))

    def parse_order(self, params: dict[str, str]) -> tuple[OrderRequest, str]:
        """The request as the core understands it, and the response type asked for."""
        inst = self._inst(params)
        side = param_side(params)
        raw_type = param_str(params, "type")
        otype = _TYPES.get(raw_type)
        if otype is None:
            raise BinanceApiError(-1116, "Invalid orderType.")
        qty = opt_decimal(params, "quantity", _PRECISION)
        quote_qty = opt_decimal(params, "quoteOrderQty", _PRECISION)
        price = opt_decimal(params, "price", _PRECISION)
        stop = opt_decimal(params, "stopPrice", _PRECISION)
        raw_tif = opt_str(params, "timeInForce")
        tif = TimeInForce.GTC
        needs_price = raw_type in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        needs_tif = raw_type in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        needs_stop = raw_type in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        if raw_type == "MARKET":
            if qty is None and quote_qty is None:
                raise BinanceApiError(
                    -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                )
            if qty is not None and quote_qty is not None:
                raise BinanceApiError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        else:
            if quote_qty is not None:
                raise BinanceApiError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
            if qty is None:
                raise mandatory("quantity")
        if needs_price and price is None:
            raise mandatory("price")
        if not needs_price and price is not None:
            raise BinanceApiError(-1106, "Parameter 'price' sent when not required.")
        if needs_stop and stop is None:
            raise mandatory("stopPrice")
        if not needs_stop and stop is not None:
            raise BinanceApiError(-1106, "Parameter 'stopPrice' sent when not required.")
        if needs_tif:
            if raw_tif is None:
                raise mandatory("timeInForce")
            if raw_tif not in _TIFS:
                raise BinanceApiError(-1115, "Invalid timeInForce.")
            tif = _TIFS[raw_tif]
        elif raw_tif is not None:
            raise BinanceApiError(-1106, "Parameter 'timeInForce' sent when not required.")
        if raw_type == "LIMIT_MAKER":
            tif = TimeInForce.POST_ONLY
        resp_type = params.get("newOrderRespType") or ("FULL" if raw_type in ("MARKET", "LIMIT") else "ACK")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceApiError(
                -1100,
                "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.",
            )
        client_id = params.get("newClientOrderId") or ""
        if len(client_id) > 36:
            raise BinanceApiError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
            )
        req = OrderRequest(
            symbol=inst.symbol,
            side=side,
            type=otype,
            qty=qty,
            quote_qty=quote_qty,
            price=price,
            stop_price=stop,
            tif=tif,
            client_id=client_id,
        )
        return req, resp_type

    async def new_order(self, ctx: RequestCtx) -> Any:
        req, resp_type = self.parse_order(ctx.params)
        if not req.client_id:
            req.client_id = _gen_client_id()
        self._count_order(ctx)
        order = self.market.submit(ctx.account_id, req)
        now = ctx.now_ms
        if resp_type == "ACK":
            return order_ack(order, now)
        out = order_result(order, now)
        if resp_type == "FULL":
            out["fills"] = self._taker_fills(ctx.account_id, order)
        return out

    def _taker_fills(self, account_id: str, order: SimOrder) -> list[dict[str, Any]]:
        """The fills of ``order`` at submission (newest fills are at the end of the list)."""
        out = []
        for fill in reversed(self.market.fills(account_id, order.symbol)):
            if fill.ts_ms < order.created_ms:
                break
            if fill.order_id == order.order_id:
                out.append(
                    {
                        "price": f8(fill.price),
                        "qty": f8(fill.qty),
                        "commission": f8(fill.fee),
                        "commissionAsset": fill.fee_asset,
                        "tradeId": fill.trade_id,
                    }
                )
        out.reverse()
        return out

    async def test_order(self, ctx: RequestCtx) -> Any:
        req, _ = self.parse_order(ctx.params)
        try:
            # Filters only (order/test does not check balances): the core's own filter rules.
            self.market.check_filters(req)
        except SimReject as rej:
            raise reject_error(rej, SPOT_REJECTS) from None
        if parse_bool(ctx.params, "computeCommissionRates"):
            fees = self.market.fees
            zero = f8(Decimal(0))
            return {
                "standardCommissionForOrder": {"maker": f8(fees.maker), "taker": f8(fees.taker)},
                "specialCommissionForOrder": {"maker": zero, "taker": zero},
                "taxCommissionForOrder": {"maker": zero, "taker": zero},
                "discount": {
                    "enabledForAccount": False,
                    "enabledForSymbol": False,
                    "discountAsset": "BNB",
                    "discount": "0.25000000",
                },
            }
        return {}

    def _find_args(self, params: dict[str, str]) -> tuple[int | None, str | None]:
        order_id = opt_int(params, "orderId")
        client_id = opt_str(params, "origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceApiError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        return order_id, client_id

    async def get_order(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        order_id, client_id = self._find_args(ctx.params)
        order = self.market.get_order(ctx.account_id, inst.symbol, order_id, client_id)
        return order_query(order)

    def _cancel(
        self, account_id: str, symbol: str, order_id: int | None, client_id: str | None, new_id: str
    ) -> SimOrder:
        """Cancel through the core; CANCELED reports of this call carry ``new_id`` as ``c``."""
        try:
            target = self.market.get_order(account_id, symbol, order_id, client_id)
        except SimReject as rej:
            raise reject_error(rej, SPOT_REJECTS, UNKNOWN_ORDER_ON_CANCEL) from None
        ids = [target.order_id]
        if target.list_id >= 0 and target.list_id in self.market.lists:
            ids = list(self.market.lists[target.list_id].order_ids)
        for oid in ids:
            self._cancel_client_ids[oid] = new_id
        try:
            return self.market.cancel(account_id, symbol, target.order_id)
        except SimReject as rej:
            raise reject_error(rej, SPOT_REJECTS, UNKNOWN_ORDER_ON_CANCEL) from None
        finally:
            for oid in ids:
                self._cancel_client_ids.pop(oid, None)

    async def cancel_order(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        order_id, client_id = self._find_args(ctx.params)
        new_id = ctx.params.get("newClientOrderId") or _gen_client_id()
        order = self._cancel(ctx.account_id, inst.symbol, order_id, client_id, new_id)
        return cancel_result(order, new_id, ctx.now_ms)

    async def cancel_open_orders(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        orders = self.market.open_orders(ctx.account_id, inst.symbol)
        if not orders:
            raise UNKNOWN_ORDER_ON_CANCEL.error()
        out: list[Any] = []
        done_lists: set[int] = set()
        for order in orders:
            if not order.status.is_open:
                continue
            if order.list_id >= 0:
                if order.list_id in done_lists:
                    continue
                done_lists.add(order.list_id)
                self._cancel(ctx.account_id, inst.symbol, order.order_id, None, _gen_client_id())
                out.append(self._list_report(self.market.lists[order.list_id], ctx.now_ms))
                continue
            new_id = _gen_client_id()
            self._cancel(ctx.account_id, inst.symbol, order.order_id, None, new_id)
            out.append(cancel_result(order, new_id, ctx.now_ms))
        return out

    async def open_orders(self, ctx: RequestCtx) -> Any:
        symbol = None
        if ctx.params.get("symbol"):
            symbol = self._inst(ctx.params).symbol
        return [order_query(o) for o in self.market.open_orders(ctx.account_id, symbol)]

    async def all_orders(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        limit = limit_param(ctx.params, 500, 1000)
        order_id = opt_int(ctx.params, "orderId")
        start = opt_int(ctx.params, "startTime")
        end = opt_int(ctx.params, "endTime")
        orders = sorted(self.market.all_orders(ctx.account_id, inst.symbol), key=lambda o: o.order_id)
        if order_id is not None:
            orders = [o for o in orders if o.order_id >= order_id][:limit]
        elif start is not None or end is not None:
            lo, hi = start or 0, end if end is not None else 1 << 62
            orders = [o for o in orders if lo <= o.created_ms <= hi][:limit]
        else:
            orders = orders[-limit:]
        return [order_query(o) for o in orders]

    async def account(self, ctx: RequestCtx) -> Any:
        acct = self.market.accounts.get(ctx.account_id)
        omit_zero = parse_bool(ctx.params, "omitZeroBalances")
        fees = self.market.fees
        balances = [
            {"asset": asset, "free": f8(b.free), "locked": f8(b.locked)}
            for asset, b in sorted(acct.balances.items())
            if not (omit_zero and b.free == 0 and b.locked == 0)
        ]
        return {
            "makerCommission": int(fees.maker * 10000),
            "takerCommission": int(fees.taker * 10000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": f8(fees.maker),
                "taker": f8(fees.taker),
                "buyer": f8(Decimal(0)),
                "seller": f8(Decimal(0)),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": ctx.now_ms,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": _uid(ctx.account_id),
        }

    async def my_trades(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        limit = limit_param(ctx.params, 500, 1000)
        order_id = opt_int(ctx.params, "orderId")
        from_id = opt_int(ctx.params, "fromId")
        start = opt_int(ctx.params, "startTime")
        end = opt_int(ctx.params, "endTime")
        fills = self.market.fills(ctx.account_id, inst.symbol)
        if order_id is not None:
            fills = [f for f in fills if f.order_id == order_id]
        if from_id is not None:
            fills = [f for f in fills if f.trade_id >= from_id][:limit]
        elif start is not None or end is not None:
            lo, hi = start or 0, end if end is not None else 1 << 62
            fills = [f for f in fills if lo <= f.ts_ms <= hi][:limit]
        else:
            fills = fills[-limit:]
        orders = self.market.orders
        return [
            {
                "symbol": f.symbol,
                "id": f.trade_id,
                "orderId": f.order_id,
                "orderListId": orders[f.order_id].list_id if f.order_id in orders else -1,
                "price": f8(f.price),
                "qty": f8(f.qty),
                "quoteQty": f8(f.quote_qty),
                "commission": f8(f.fee),
                "commissionAsset": f.fee_asset,
                "time": f.ts_ms,
                "isBuyer": f.side is Side.BUY,
                "isMaker": f.is_maker,
                "isBestMatch": True,
            }
            for f in fills
        ]

    async def order_rate(self, ctx: RequestCtx) -> Any:
        times = self._order_times.get(ctx.account_id, deque())
        now = time.monotonic()
        return [
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": 100,
                "count": sum(1 for t in times if now - t <= 10),
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "DAY",
                "intervalNum": 1,
                "limit": 200000,
                "count": len(times),
            },
        ]

    # ---- OCO -------------------------------------------------------------------------------
    async def new_oco(self, ctx: RequestCtx) -> Any:
        params = ctx.params
        inst = self._inst(params)
        side = param_side(params)
        qty = param_decimal(params, "quantity", _PRECISION)
        above, below = param_str(params, "aboveType"), param_str(params, "belowType")
        # The core's OCO: a LIMIT_MAKER leg on the profit side, a STOP_LOSS(_LIMIT) leg on the other.
        stop_leg, limit_leg = ("below", "above") if side is Side.SELL else ("above", "below")
        types = {"above": above, "below": below}
        if types[limit_leg] != "LIMIT_MAKER":
            raise BinanceApiError(-1106, f"Parameter '{limit_leg}Type' sent when not required.")
        if types[stop_leg] not in ("STOP_LOSS", "STOP_LOSS_LIMIT"):
            raise BinanceApiError(-1106, f"Parameter '{stop_leg}Type' sent when not required.")
        limit_price = param_decimal(params, f"{limit_leg}Price", _PRECISION)
        stop_price = param_decimal(params, f"{stop_leg}StopPrice", _PRECISION)
        stop_limit = None
        if types[stop_leg] == "STOP_LOSS_LIMIT":
            stop_limit = param_decimal(params, f"{stop_leg}Price", _PRECISION)
            tif = param_str(params, f"{stop_leg}TimeInForce")
            if tif not in _TIFS:
                raise BinanceApiError(-1115, "Invalid timeInForce.")
        resp_type = params.get("newOrderRespType") or "ACK"
        self._count_order(ctx)
        try:
            ol = self.market.submit_oco(
                ctx.account_id,
                inst.symbol,
                side,
                qty,
                limit_price,
                stop_price,
                stop_limit,
                client_list_id=params.get("listClientOrderId") or _gen_client_id(),
                limit_client_id=params.get(f"{limit_leg}ClientOrderId") or _gen_client_id(),
                stop_client_id=params.get(f"{stop_leg}ClientOrderId") or _gen_client_id(),
            )
        except SimReject as rej:
            if rej.reason is RejectReason.INVALID_PARAMETER:
                raise BinanceApiError(-2010, rej.detail or "Order rejected.") from None
            raise
        out = order_list_summary(ol, self.market, ctx.now_ms)
        reports = [order_result(self.market.orders[oid], ctx.now_ms) for oid in ol.order_ids]
        if resp_type == "ACK":
            reports = [order_ack(self.market.orders[oid], ctx.now_ms) for oid in ol.order_ids]
        out["orderReports"] = reports
        return out

    def _list_report(self, ol: OrderList, now_ms: int) -> dict[str, Any]:
        out = order_list_summary(ol, self.market, now_ms)
        out["orderReports"] = [
            cancel_result(self.market.orders[oid], self.market.orders[oid].client_id, now_ms)
            for oid in ol.order_ids
        ]
        return out

    def _find_list(self, ctx: RequestCtx) -> OrderList:
        list_id = opt_int(ctx.params, "orderListId")
        client = opt_str(ctx.params, "origClientOrderId") or opt_str(ctx.params, "listClientOrderId")
        if list_id is None and client is None:
            raise BinanceApiError(
                -1102, "Param 'origClientOrderId' or 'orderListId' must be sent, but both were empty/null!"
            )
        for ol in self.market.order_lists(ctx.account_id):
            if (list_id is not None and ol.list_id == list_id) or (
                list_id is None and ol.client_list_id == client
            ):
                return ol
        raise BinanceApiError(
            -2011 if ctx.request.method == "DELETE" else -2013,
            "Order list does not exist." if ctx.request.method != "DELETE" else "Unknown order list sent.",
        )

    async def get_order_list(self, ctx: RequestCtx) -> Any:
        ol = self._find_list(ctx)
        return order_list_summary(ol, self.market, ol.created_ms)

    async def cancel_order_list(self, ctx: RequestCtx) -> Any:
        inst = self._inst(ctx.params)
        ol = self._find_list(ctx)
        if ol.status == "ALL_DONE":
            raise BinanceApiError(-2011, "Unknown order list sent.")
        open_leg = next(oid for oid in ol.order_ids if self.market.orders[oid].status.is_open)
        self._cancel(
            ctx.account_id,
            inst.symbol,
            open_leg,
            None,
            ctx.params.get("newClientOrderId") or _gen_client_id(),
        )
        return self._list_report(ol, ctx.now_ms)

    async def open_order_lists(self, ctx: RequestCtx) -> Any:
        return [
            order_list_summary(ol, self.market, ol.created_ms)
            for ol in self.market.order_lists(ctx.account_id)
            if ol.status != "ALL_DONE"
        ]

    async def all_order_lists(self, ctx: RequestCtx) -> Any:
        return [
            order_list_summary(ol, self.market, ol.created_ms)
            for ol in self.market.order_lists(ctx.account_id)
        ]

    # ---- user data over the WebSocket API ------------------------------------------------
    def _on_event(self, ev: SimEvent) -> None:
        if not isinstance(ev, OrderEvent | AccountEvent | OrderListEvent | BalanceDeltaEvent):
            return
        subs = self.user_subs.get(ev.account_id)
        if not subs:
            return
        if isinstance(ev, OrderEvent):
            payload = execution_report(ev, self._cancel_client_ids.get(ev.order.order_id))
        elif isinstance(ev, AccountEvent):
            if not ev.balances:
                return
            payload = account_position(ev)
        elif isinstance(ev, OrderListEvent):
            payload = list_status(ev, self.market)
        else:
            payload = balance_update(ev)
        data = dumps(payload)
        for sub in subs:
            sub.peer.send('{"subscriptionId":' + str(sub.sub_id) + ',"event":' + data + "}")

    async def ws_api(self, request: web.Request) -> web.WebSocketResponse:
        ws = binance_ws_response(self.streams.ping_interval_s)
        await ws.prepare(request)
        peer = WsPeer(ws, f"{VENUE}:ws-api")
        peer.start()
        conn = _WsApiConn(peer, server_time_ms(self.exchange, VENUE))
        self.ws_api_conns.add(conn)
        ip = request.remote or "?"
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    peer.send(self._ws_api_request(conn, ip, msg.data))
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
        finally:
            self.ws_api_conns.discard(conn)
            for sub in list(conn.subs.values()):
                self._drop_sub(sub)
            if not peer.closed:
                await peer.close()
        return ws

    def _rate_limits(self, ip: str) -> list[dict[str, Any]]:
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.limiter.limit,
                "count": self.limiter.used(ip),
            }
        ]

    def _ws_api_request(self, conn: _WsApiConn, ip: str, text: str) -> str:
        req_id: Any = None
        try:
            try:
                req = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise BinanceApiError(-1000, "Invalid JSON request") from None
            if not isinstance(req, dict):
                raise BinanceApiError(-1000, "Invalid JSON request")
            req_id = req.get("id")
            method = req.get("method")
            params = req.get("params") or {}
            if not isinstance(method, str) or not isinstance(params, dict):
                raise BinanceApiError(
                    -1102, "Mandatory parameter 'method' was not sent, was empty/null, or malformed."
                )
            self.limiter.charge(ip, 2)
            result = self._ws_api_call(conn, method, {k: _ws_str(v) for k, v in params.items()})
            status = 200
            body: dict[str, Any] = {"id": req_id, "status": status, "result": result}
        except BinanceApiError as err:
            body = {"id": req_id, "status": err.http_status, "error": err.body()}
            if err.http_status in (418, 429):
                body["error"]["data"] = {
                    "retryAfter": int(time.time() * 1000) + 1000 * int(err.headers.get("Retry-After", "1"))
                }
        body["rateLimits"] = self._rate_limits(ip)
        return dumps(body)

    def _ws_api_call(self, conn: _WsApiConn, method: str, params: dict[str, str]) -> Any:
        now = server_time_ms(self.exchange, VENUE)
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now}
        if method == "session.status":
            return {
                "apiKey": None,
                "authorizedSince": None,
                "connectedSince": conn.connected_ms,
                "returnRateLimits": True,
                "serverTime": now,
                "userDataStream": bool(conn.subs),
            }
        if method == "userDataStream.subscribe.signature":
            account_id = self._verify_ws_signature(params, now)
            sub = _UserSub(conn.peer, next(conn.next_sub), account_id)
            conn.subs[sub.sub_id] = sub
            self.user_subs.setdefault(account_id, set()).add(sub)
            return {"subscriptionId": sub.sub_id}
        if method == "userDataStream.unsubscribe":
            raw = params.get("subscriptionId")
            if raw is None:
                for sub in list(conn.subs.values()):
                    self._drop_sub(sub)
                conn.subs.clear()
                return {}
            sub_id = opt_int(params, "subscriptionId")
            sub = conn.subs.pop(sub_id, None) if sub_id is not None else None
            if sub is None:
                raise BinanceApiError(-2, "Invalid subscription ID.")
            self._drop_sub(sub)
            return {}
        if method == "userDataStream.subscriptions":
            return [{"subscriptionId": s} for s in conn.subs]
        raise BinanceApiError(-1100, f"Unknown method: {method}")  # not served by the simulator

    def _verify_ws_signature(self, params: dict[str, str], now_ms: int) -> str:
        creds = check_api_key(self.exchange, params.get("apiKey"))
        ts_fault = self._take_ws_timestamp_fault()
        check_timestamp(params, now_ms, ts_fault)
        # WebSocket API payload: every parameter but signature, sorted by name, k=v joined by &.
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
        check_signature(creds.api_secret, payload, params.get("signature"))
        return creds.account_id

    def _take_ws_timestamp_fault(self) -> bool:
        faults = self.exchange.faults
        pending = any(
            s.kind is HttpFault.TIMESTAMP and s.venue in (None, VENUE) for s in getattr(faults, "_http", [])
        )
        if not pending:
            return False
        # Only a TIMESTAMP fault applies here; others wait for the HTTP request they target.
        spec = faults.take_http(VENUE, signed=True, kinds=frozenset({HttpFault.TIMESTAMP}))
        return spec is not None

    def _drop_sub(self, sub: _UserSub) -> None:
        subs = self.user_subs.get(sub.account_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.user_subs[sub.account_id]


def _ws_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_client_ids = itertools.count(1)


def _gen_client_id() -> str:
    # Binance generates 22-character ids; unique within the process is what matters here.
    return f"sim{next(_client_ids):019d}"


def _uid(account_id: str) -> int:
    return sum(ord(c) * 131**i for i, c in enumerate(account_id)) % 900_000_000 + 100_000_000


def setup(app: web.Application, exchange: SimExchange) -> None:
    server = SpotServer(exchange)
    server.routes(app)
    app[LIMITER_KEY] = server.limiter
    app[SERVER_KEY] = server
    on_app_lifecycle(app, server.start, server.stop)

"""Binance USDⓈ-M Futures on the simulator: ``/fapi`` REST, market streams and the user stream.

What python-binance 1.0.37 uses, at the paths it uses:

- REST under ``/fapi/v1``, ``/fapi/v2`` and ``/fapi/v3`` behind binance_common's pipeline
  (faults, 2400/min request weight, key/signature/timestamp checks). Conditional types
  (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET) live on ``/fapi/v1/algoOrder``
  (``algoType=CONDITIONAL``, ``triggerPrice``), as on the real venue since the algo-service
  migration; ``/fapi/v1/order`` refuses them with -4120.
- Market streams split by path like the real venue: ``/public/{ws,stream}`` carries depth
  and bookTicker, ``/market/{ws,stream}`` aggTrade, trade, markPrice, klines (incl.
  ``<pair>_perpetual@continuousKline_<i>``) and tickers. A stream asked for on the wrong
  path is accepted and stays silent.
- The user data stream on ``/private/ws?listenKey=K`` (python-binance's form) and
  ``/private/ws/K``: ORDER_TRADE_UPDATE, TRADE_LITE, ACCOUNT_UPDATE, ALGO_UPDATE,
  ACCOUNT_CONFIG_UPDATE and ``listenKeyExpired`` (60-minute life, or an injected
  ``StreamFault.EXPIRE_LISTEN_KEY``), after which the key's sockets stay silent.

Simplifications (the wire shapes stay the venue's):
- ``aggTrade`` (stream and REST) has one aggregate per trade, ``a = f = l = trade id``.
- Triggers fire on the last trade price; ``workingType=MARK_PRICE``, ``priceProtect``,
  ``priceMatch``, ``goodTillDate`` and self-trade-prevention parameters are accepted and
  ignored. TRAILING_STOP_MARKET is refused (-1116).
- ``fundingRate`` history repeats the current rate at past 8-hour settlements (the core
  keeps no history); leverage brackets are one ``maxNotionalValue`` per leverage;
  ``breakEvenPrice`` equals the entry price; ORDER_TRADE_UPDATE ``b``/``a`` are "0".
- Balances list USDT only (the only margin asset the simulator funds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from terminal.model.enums import MarginMode, OrderType, PositionSide, TimeInForce, Venue
from terminal.sim import binance_futures_format as fmt
from terminal.sim.binance_common import (
    FUTURES_REJECTS,
    KLINE_INTERVALS_MS,
    UNKNOWN_ORDER_ON_CANCEL,
    UNKNOWN_ORDER_ON_QUERY,
    ApiErr,
    BinanceApiError,
    BinanceHttp,
    BookTop,
    DepthDiff,
    DepthSnap,
    JsonObj,
    KlinePublisher,
    PeriodicPublisher,
    RequestCtx,
    Security,
    StreamDialect,
    StreamEngine,
    StreamFormat,
    StreamKind,
    StreamSpec,
    WeightLimiter,
    _Publisher,
    dumps,
    invalid_symbol,
    limit_param,
    mandatory,
    on_app_lifecycle,
    opt_decimal,
    opt_int,
    opt_str,
    param_decimal,
    param_int,
    param_side,
    param_str,
    parse_bool,
    stream_routes,
)
from terminal.sim.events import AccountEvent, OrderEvent, SimEvent, TradeEvent
from terminal.sim.exchange import SimExchange
from terminal.sim.faults import StreamFault
from terminal.sim.instruments import SimInstrument
from terminal.sim.orders import ExecType, OrderRequest, RejectReason, SimOrder, SimReject
from terminal.sim.wsconn import WsPeer

log = logging.getLogger(__name__)

VENUE = Venue.BINANCE_USDM
WEIGHT_LIMIT = 2400
LISTEN_KEY_TTL_S = 3600.0
_KEY_ALPHABET = string.ascii_letters + string.digits
QUOTE = "USDT"
ZERO = Decimal(0)

FUTURES_DIALECT = StreamDialect(
    depth_speeds=frozenset({100, 250, 500}),
    depth_default_ms=250,
    kline_intervals=frozenset(k for k in KLINE_INTERVALS_MS if k != "1s"),
    mark_price=True,
)
PUBLIC_KINDS = frozenset({StreamKind.DEPTH, StreamKind.PARTIAL_DEPTH, StreamKind.BOOK_TICKER})
MARKET_KINDS = frozenset(
    {
        StreamKind.TRADE,
        StreamKind.AGG_TRADE,
        StreamKind.KLINE,
        StreamKind.TICKER,
        StreamKind.MINI_TICKER,
        StreamKind.MARK_PRICE,
    }
)

# Futures-specific rows on top of binance_common's table.
REJECTS: dict[RejectReason, ApiErr] = dict(FUTURES_REJECTS)
NOT_ALGO_ENDPOINT = ApiErr(
    -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
)
CID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def futures_error(exc: SimReject, unknown: ApiErr = UNKNOWN_ORDER_ON_QUERY) -> BinanceApiError:
    """The venue error for a core refusal; ``unknown`` picks cancel (-2011) vs query (-2013)."""
    if exc.reason is RejectReason.UNKNOWN_ORDER:
        return unknown.error()
    row = REJECTS.get(exc.reason)
    if row is None:
        return BinanceApiError(-1000, "An unknown error occured while processing the request.")
    return row.error()


def check_bounds(inst: SimInstrument, req: OrderRequest) -> None:
    """Filter bounds with their specific codes (the core says PRICE_FILTER / LOT_SIZE for all)."""
    market_like = not req.type.has_limit_price
    max_qty = inst.market_max_qty if market_like else inst.max_qty
    if req.qty is not None and req.qty > max_qty:
        raise BinanceApiError(-4005, "Quantity greater than max quantity.")
    for price in (req.price, req.stop_price):
        if price is None:
            continue
        if price > inst.max_price:
            raise BinanceApiError(-4016, f"Limit price can't be higher than {inst.max_price}.")
        if price < inst.min_price:
            raise BinanceApiError(-4024, f"Limit price can't be lower than {inst.min_price}.")


def max_notional_for(leverage: int) -> Decimal:
    """A single-bracket stand-in for Binance's leverage brackets (cosmetic)."""
    return Decimal(500_000_000) / leverage if leverage else Decimal(0)


# =====================================================================================
# Stream payloads (futures shapes) and the path-split stream engine
# =====================================================================================


class FuturesStreamFormat(StreamFormat):
    def fmt_quote(self, inst: SimInstrument, value: Decimal) -> str:
        return fmt.fmt_quote(inst, value)

    def depth_diff(self, inst: SimInstrument, d: DepthDiff) -> JsonObj:
        return {
            "e": "depthUpdate",
            "E": d.event_ms,
            "T": d.event_ms,
            "s": d.symbol,
            "ps": d.symbol,
            "st": 1,
            "U": d.first_id,
            "u": d.final_id,
            "pu": d.prev_final_id,
            "b": d.bids,
            "a": d.asks,
        }

    def partial_depth(self, inst: SimInstrument, s: DepthSnap) -> JsonObj:
        return {
            "e": "depthUpdate",
            "E": s.event_ms,
            "T": s.event_ms,
            "s": s.symbol,
            "ps": s.symbol,
            "st": 1,
            "U": s.prev_update_id + 1,
            "u": s.update_id,
            "pu": s.prev_update_id,
            "b": s.bids,
            "a": s.asks,
        }

    def trade(self, inst: SimInstrument, ev: TradeEvent, now_ms: int) -> JsonObj:
        return fmt.trade_event(inst, ev, now_ms)

    def agg_trade(self, inst: SimInstrument, ev: TradeEvent, now_ms: int) -> JsonObj:
        return fmt.agg_trade_event(inst, ev, now_ms)

    def book_ticker(self, inst: SimInstrument, b: BookTop, now_ms: int) -> JsonObj:
        return {
            "e": "bookTicker",
            "u": b.update_id,
            "E": now_ms,
            "T": now_ms,
            "s": inst.symbol,
            "b": inst.fmt_price(b.bid),
            "B": inst.fmt_qty(b.bid_qty),
            "a": inst.fmt_price(b.ask),
            "A": inst.fmt_qty(b.ask_qty),
            "st": 1,
            "ps": inst.symbol,
        }

    def ticker(self, inst: SimInstrument, t: Any, now_ms: int) -> JsonObj:
        return fmt.ticker_24h_event(inst, t, now_ms)

    def mark_price(self, inst: SimInstrument, market: Any, now_ms: int) -> JsonObj | None:
        return mark_price_event(market, inst.symbol, now_ms)


def mark_price_event(market: Any, symbol: str, now_ms: int) -> JsonObj:
    mark = market.mark_price(symbol)
    return {
        "e": "markPriceUpdate",
        "E": now_ms,
        "s": symbol,
        "p": fmt.d8(mark),
        "i": fmt.d8(market.index_price(symbol)),
        "P": fmt.d8(mark),  # estimated settle price
        "r": fmt.d8(market.funding_rate(symbol)),
        "T": market.next_funding_ms(),
        "st": 1,
    }


_CONT_KLINE_RE = re.compile(r"^([a-z0-9]+)_perpetual@continuousKline_([0-9]+[mhdwM])$")
_ALL_MARKET = {
    "!markPrice@arr": (StreamKind.MARK_PRICE, 3000),
    "!markPrice@arr@1s": (StreamKind.MARK_PRICE, 1000),
    "!ticker@arr": (StreamKind.TICKER, 1000),
    "!miniTicker@arr": (StreamKind.MINI_TICKER, 1000),
    "!bookTicker": (StreamKind.BOOK_TICKER, 0),
}


class ContinuousKlinePublisher(KlinePublisher):
    def _send(self, inst: SimInstrument, k: Any, now_ms: int) -> None:
        first, last = self.engine.trade_ids(self.symbol, self.interval_ms, k.open_ms)
        body = fmt.kline_body(inst, k, self.interval, with_symbol=False)
        body["f"], body["L"] = first, last
        payload = {"e": "continuous_kline", "E": now_ms, "ps": inst.symbol, "ct": "PERPETUAL", "k": body}
        self.publish(dumps(payload))


class AllBookTickerPublisher(_Publisher):
    """``!bookTicker``: every symbol's best bid/ask as it changes."""

    poll_s = 0.02

    async def run(self) -> None:
        market = self.engine.market
        last: dict[str, tuple[int, int, int, int]] = {}
        while self.alive():
            await asyncio.sleep(self.poll_s)
            for symbol, book in market.books.items():
                if self.engine.stalled(symbol):
                    continue
                bid, ask = book.best_bid_level(), book.best_ask_level()
                if bid is None or ask is None:
                    continue
                top = (bid[0], bid[1], ask[0], ask[1])
                if last.get(symbol) == top:
                    continue
                last[symbol] = top
                inst = market.instruments[symbol]
                b = BookTop(book.update_id, *top)
                self.publish(dumps(self.engine.fmt.book_ticker(inst, b, market.now_ms())))


class FuturesStreamEngine(StreamEngine):
    """binance_common's engine plus the futures-only names (continuous klines, ``!`` streams)."""

    def parse(self, name: str) -> StreamSpec | None:
        if name.startswith("!"):
            entry = _ALL_MARKET.get(name)
            return StreamSpec(name, "", entry[0], speed_ms=entry[1]) if entry else None
        m = _CONT_KLINE_RE.match(name)
        if m is not None:
            symbol, interval = m.group(1).upper(), m.group(2)
            if symbol in self.market.instruments and interval in FUTURES_DIALECT.kline_intervals:
                return StreamSpec(name, symbol, StreamKind.KLINE, interval=interval)
            return None
        return super().parse(name)

    def _publisher_key(self, spec: StreamSpec):
        if spec.symbol == "":
            return self._all_market_key(spec)
        if spec.kind is StreamKind.KLINE and "@continuousKline_" in spec.name:
            s, i = spec.symbol, spec.interval
            return ("ckline", s, i), lambda: ContinuousKlinePublisher(self, s, i)
        return super()._publisher_key(spec)

    def _all_market_key(self, spec: StreamSpec):
        market = self.market
        if spec.kind is StreamKind.BOOK_TICKER:
            return ("allBookTicker",), lambda: AllBookTickerPublisher(self, "")

        def build() -> list[JsonObj]:
            now = market.now_ms()
            out: list[JsonObj] = []
            for s, inst in market.instruments.items():
                if self.stalled(s):
                    continue
                if spec.kind is StreamKind.MARK_PRICE:
                    out.append(mark_price_event(market, s, now))
                elif spec.kind is StreamKind.TICKER:
                    out.append(self.fmt.ticker(inst, market.ticker_24h(s), now))
                else:
                    out.append(self.fmt.mini_ticker(inst, market.ticker_24h(s), now))
            return out

        period = spec.speed_ms / 1000
        return ("all", spec.kind, spec.speed_ms), lambda: PeriodicPublisher(self, "", period, build)  # type: ignore[arg-type]


def _stream_routes(
    app: web.Application, engine: StreamEngine, prefix: str, kinds: frozenset[StreamKind]
) -> None:
    """``/{prefix}/ws/<a>/<b>`` and ``/{prefix}/stream?streams=``; other kinds stay silent."""
    stream_routes(app, engine, f"/{prefix}", allowed=lambda spec: spec.kind in kinds)


# =====================================================================================
# User data stream
# =====================================================================================


@dataclass(eq=False, slots=True)
class ListenKey:
    key: str
    account_id: str
    expires_at: float  # monotonic seconds
    alive: bool = True
    peers: set[WsPeer] = field(default_factory=set)


class UserStreams:
    """listenKeys, ``/private`` connections and the formatting of account events."""

    ping_interval_s = 180.0  # the venue pings every 3 minutes
    housekeeping_s = 0.1

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.keys: dict[str, ListenKey] = {}
        self.by_account: dict[str, ListenKey] = {}  # the account's live key
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        exchange.faults.on_drop(self._on_drop)

    @property
    def market(self) -> Any:
        return self.exchange.markets[VENUE]

    # ---- lifecycle ----
    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.market.subscribe(self._on_event)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._housekeeping())

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for lk in list(self.keys.values()):
            for peer in list(lk.peers):
                await peer.close(1001, b"server shutdown")

    # ---- listen keys ----
    def create(self, account_id: str) -> ListenKey:
        """Binance returns the account's live key (extended) if there is one."""
        lk = self.by_account.get(account_id)
        if lk is not None and lk.alive:
            lk.expires_at = time.monotonic() + LISTEN_KEY_TTL_S
            return lk
        key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(64))
        lk = ListenKey(key, account_id, time.monotonic() + LISTEN_KEY_TTL_S)
        self.keys[lk.key] = lk
        self.by_account[account_id] = lk
        return lk

    def live_key(self, account_id: str, key: str | None) -> ListenKey:
        lk = self.keys.get(key) if key else self.by_account.get(account_id)
        if lk is None or not lk.alive or lk.account_id != account_id:
            raise BinanceApiError(-1125, "This listenKey does not exist.")
        return lk

    def keepalive(self, account_id: str, key: str | None) -> ListenKey:
        lk = self.live_key(account_id, key)
        lk.expires_at = time.monotonic() + LISTEN_KEY_TTL_S
        return lk

    def close(self, account_id: str, key: str | None) -> None:
        lk = self.live_key(account_id, key)
        lk.alive = False
        self.by_account.pop(account_id, None)
        for peer in list(lk.peers):
            asyncio.get_running_loop().create_task(peer.close())
        lk.peers.clear()

    def expire(self, lk: ListenKey) -> None:
        """``listenKeyExpired`` to the key's sockets, then silence: the key is dead."""
        if not lk.alive:
            return
        lk.alive = False
        if self.by_account.get(lk.account_id) is lk:
            del self.by_account[lk.account_id]
        msg = dumps({"e": "listenKeyExpired", "E": self.market.now_ms(), "listenKey": lk.key})
        for peer in lk.peers:
            peer.send(msg)  # the sockets stay open (and tracked), but nothing follows

    async def _housekeeping(self) -> None:
        faults = self.exchange.faults
        while True:
            await asyncio.sleep(self.housekeeping_s)
            for key in [k for k, lk in self.keys.items() if not lk.alive and not lk.peers]:
                del self.keys[key]  # dead and nobody connected: forget it
            live = [lk for lk in self.keys.values() if lk.alive]
            if not live:
                continue
            if faults.pending_stream(VENUE, StreamFault.EXPIRE_LISTEN_KEY) and faults.take_stream(
                VENUE, StreamFault.EXPIRE_LISTEN_KEY
            ):
                for lk in live:
                    self.expire(lk)
                continue
            now = time.monotonic()
            for lk in live:
                if lk.expires_at <= now:
                    self.expire(lk)

    # ---- connections ----
    async def serve(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("listen_key") or request.query.get("listenKey", "")
        lk = self.keys.get(key)
        if lk is None or not lk.alive:
            # refused at the handshake: the client's connect fails with HTTP 400
            return BinanceApiError(-1125, "This listenKey does not exist.").to_response()
        ws = web.WebSocketResponse(heartbeat=self.ping_interval_s, autoping=True, max_msg_size=1 << 16)
        await ws.prepare(request)
        peer = WsPeer(ws, f"{VENUE}:private")
        peer.start()
        lk.peers.add(peer)
        try:
            async for msg in ws:  # the user stream takes no requests; just keep reading
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
        finally:
            lk.peers.discard(peer)
            if not peer.closed:
                await peer.close()
        return ws

    def _on_drop(self, venue: Venue | None, symbol: str | None) -> None:
        if venue not in (None, VENUE) or symbol is not None:
            return
        for lk in self.keys.values():
            for peer in list(lk.peers):
                peer.drop()
            lk.peers.clear()

    # ---- events ----
    def peers_of(self, account_id: str) -> set[WsPeer] | None:
        lk = self.by_account.get(account_id)
        if lk is None or not lk.alive or not lk.peers:
            return None
        return lk.peers

    def send(self, account_id: str, payload: JsonObj) -> None:
        peers = self.peers_of(account_id)
        if peers:
            data = dumps(payload)
            for peer in peers:
                peer.send(data)

    def _on_event(self, ev: SimEvent) -> None:
        if isinstance(ev, OrderEvent):
            if self.peers_of(ev.account_id):
                self._order_event(ev)
        elif isinstance(ev, AccountEvent) and self.peers_of(ev.account_id):
            self.send(ev.account_id, self.account_update(ev))

    def _order_event(self, ev: OrderEvent) -> None:
        o = ev.order
        inst = self.market.instruments[o.symbol]
        acct = ev.account_id
        if not o.type.is_conditional:
            if ev.exec_type is ExecType.TRADE:
                self.send(acct, fmt.trade_lite_event(inst, ev))
            self.send(acct, fmt.order_update_event(inst, ev))
            return
        # A conditional order: ALGO_UPDATE while it waits; after the trigger its spawned
        # order reports through ORDER_TRADE_UPDATE and the algo order finishes with it.
        if not o.triggered:
            status = {ExecType.NEW: "NEW", ExecType.CANCELED: "CANCELED", ExecType.EXPIRED: "EXPIRED"}.get(
                ev.exec_type
            )
            if status is not None:
                self.send(acct, fmt.algo_update_event(inst, o, status, ev.ts_ms))
            return
        if ev.exec_type is ExecType.TRIGGERED:
            self.send(acct, fmt.algo_update_event(inst, o, "TRIGGERING", ev.ts_ms))
            self.send(acct, fmt.algo_update_event(inst, o, "TRIGGERED", ev.ts_ms))
        elif ev.exec_type is ExecType.TRADE:
            self.send(acct, fmt.trade_lite_event(inst, ev))
        self.send(acct, fmt.order_update_event(inst, ev))
        if o.status.is_terminal:
            self.send(acct, fmt.algo_update_event(inst, o, "FINISHED", ev.ts_ms))

    def account_update(self, ev: AccountEvent) -> JsonObj:
        market = self.market
        acct = market.accounts.get(ev.account_id)
        balances = []
        for b in ev.balances:
            wallet = b.free + b.locked
            cross = wallet - isolated_wallets(market, acct) if b.asset == QUOTE else wallet
            balances.append({"a": b.asset, "wb": fmt.d8(wallet), "cw": fmt.d8(cross), "bc": "0"})
        positions = [fmt.ws_position(market.instruments[p.symbol], p) for p in ev.positions]
        return {
            "e": "ACCOUNT_UPDATE",
            "E": ev.ts_ms,
            "T": ev.ts_ms,
            "a": {"m": ev.reason, "B": balances, "P": positions},
        }


def isolated_wallets(market: Any, acct: Any) -> Decimal:
    total = ZERO
    for pos in acct.positions.values():
        if pos.qty != 0 and acct.margin_mode_of(pos.symbol) is MarginMode.ISOLATED:
            total += pos.isolated_margin
    return total


# =====================================================================================
# REST
# =====================================================================================


def _depth_weight(params: dict[str, str]) -> int:
    limit = opt_int(params, "limit", 500) or 500
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def _kline_weight(params: dict[str, str]) -> int:
    limit = opt_int(params, "limit", 500) or 500
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


@dataclass(slots=True)
class AccountTotals:
    wallet: Decimal
    upnl: Decimal
    cross_upnl: Decimal
    cross_wallet: Decimal
    position_im: Decimal
    order_im: Decimal
    maint: Decimal
    available: Decimal


class FuturesApi:
    """The ``/fapi`` endpoints; each returns a JSON-able body or raises BinanceApiError."""

    def __init__(self, exchange: SimExchange, users: UserStreams) -> None:
        self.exchange = exchange
        self.users = users

    @property
    def market(self) -> Any:
        return self.exchange.markets[VENUE]

    # ---- helpers ----
    def inst(self, params: dict[str, str]) -> SimInstrument:
        inst = self.market.instruments.get(param_str(params, "symbol"))
        if inst is None:
            raise invalid_symbol()
        return inst

    def opt_inst(self, params: dict[str, str]) -> SimInstrument | None:
        return self.inst(params) if params.get("symbol") else None

    def symbols(self, params: dict[str, str]) -> list[SimInstrument]:
        inst = self.opt_inst(params)
        return [inst] if inst else list(self.market.instruments.values())

    def order_margin(self, account_id: str, symbol: str | None = None) -> Decimal:
        """Initial margin held by open orders (the core's available-balance rule)."""
        market = self.market
        acct = market.accounts.get(account_id)
        total = ZERO
        for o in market.open_orders(account_id):
            if (symbol is None or o.symbol == symbol) and not (o.reduce_only or o.type.is_conditional):
                price = o.price or market.mark_price(o.symbol)
                total += o.remaining * price / acct.leverage_of(o.symbol)
        return total

    def totals(self, account_id: str) -> AccountTotals:
        market = self.market
        acct = market.accounts.get(account_id)
        wallet = acct.balance(QUOTE).total
        snaps = [s for s in market.positions(account_id) if s.qty != 0]
        upnl = sum((s.unrealized_pnl for s in snaps), ZERO)
        cross_upnl = sum((s.unrealized_pnl for s in snaps if not s.isolated), ZERO)
        return AccountTotals(
            wallet=wallet,
            upnl=upnl,
            cross_upnl=cross_upnl,
            cross_wallet=wallet - isolated_wallets(market, acct),
            position_im=sum((s.initial_margin for s in snaps), ZERO),
            order_im=self.order_margin(account_id),
            maint=sum((s.maintenance_margin for s in snaps), ZERO),
            available=market.available_balance(acct, QUOTE),
        )

    def find_algo(self, account_id: str, params: dict[str, str]) -> SimOrder:
        market = self.market
        algo_id = opt_int(params, "algoId")
        client_id = opt_str(params, "clientAlgoId")
        if algo_id is None and client_id is None:
            raise mandatory("algoId")
        order: SimOrder | None = None
        if algo_id is not None:
            order = market.orders.get(algo_id - fmt.ALGO_ID_BASE)
        else:
            for o in market.all_orders(account_id):
                if o.client_id == client_id and o.type.is_conditional:
                    order = o
        if order is None or order.account_id != account_id or not order.type.is_conditional:
            raise UNKNOWN_ORDER_ON_QUERY.error()
        return order

    def find_order(self, ctx: RequestCtx, unknown: ApiErr) -> SimOrder:
        """orderId / origClientOrderId of a regular (or triggered) order."""
        params = ctx.params
        inst = self.inst(params)
        order_id = opt_int(params, "orderId")
        client_id = opt_str(params, "origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceApiError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        try:
            order = self.market.get_order(ctx.account_id, inst.symbol, order_id, client_id)
        except SimReject as exc:
            raise futures_error(exc, unknown) from None
        if order.type.is_conditional and not order.triggered:
            raise unknown.error()  # still an algo order: not visible here
        return order

    # ---- general / market data ----
    async def ping(self, ctx: RequestCtx) -> JsonObj:
        return {}

    async def time(self, ctx: RequestCtx) -> JsonObj:
        return {"serverTime": ctx.now_ms}

    async def exchange_info(self, ctx: RequestCtx) -> JsonObj:
        return {
            "timezone": "UTC",
            "serverTime": ctx.now_ms,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": WEIGHT_LIMIT,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
                {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"},
                {"asset": "BNB", "marginAvailable": True, "autoAssetExchange": "-10"},
                {"asset": "ETH", "marginAvailable": True, "autoAssetExchange": "-5"},
            ],
            "symbols": [self._symbol_info(i) for i in self.market.instruments.values()],
        }

    @staticmethod
    def _symbol_info(i: SimInstrument) -> JsonObj:
        return {
            "symbol": i.symbol,
            "pair": i.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": i.base,
            "quoteAsset": i.quote,
            "marginAsset": i.quote,
            "pricePrecision": i.price_decimals,
            "quantityPrecision": i.qty_decimals,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "filters": [
                {
                    "minPrice": str(i.min_price),
                    "maxPrice": str(i.max_price),
                    "filterType": "PRICE_FILTER",
                    "tickSize": str(i.tick),
                },
                {
                    "stepSize": str(i.step),
                    "filterType": "LOT_SIZE",
                    "maxQty": fmt.dnum(i.max_qty),
                    "minQty": str(i.min_qty),
                },
                {
                    "stepSize": str(i.step),
                    "filterType": "MARKET_LOT_SIZE",
                    "maxQty": fmt.dnum(i.market_max_qty),
                    "minQty": str(i.min_qty),
                },
                {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
                {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
                {"notional": fmt.dnum(i.min_notional), "filterType": "MIN_NOTIONAL"},
                {
                    "multiplierDown": "0.9500",
                    "multiplierUp": "1.0500",
                    "multiplierDecimal": "4",
                    "filterType": "PERCENT_PRICE",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }

    async def depth(self, ctx: RequestCtx) -> JsonObj:
        inst = self.inst(ctx.params)
        limit = limit_param(ctx.params, 500, 1000)
        uid, bids, asks = self.market.depth(inst.symbol, limit)
        return {
            "lastUpdateId": uid,
            "E": ctx.now_ms,
            "T": ctx.now_ms,
            "bids": fmt.depth_levels(inst, bids),
            "asks": fmt.depth_levels(inst, asks),
        }

    async def trades(self, ctx: RequestCtx) -> list[JsonObj]:
        inst = self.inst(ctx.params)
        limit = limit_param(ctx.params, 500, 1000)
        return [fmt.trade_json(inst, t) for t in self.market.recent_trades(inst.symbol, limit)]

    async def agg_trades(self, ctx: RequestCtx) -> list[JsonObj]:
        p = ctx.params
        inst = self.inst(p)
        limit = limit_param(p, 500, 1000)
        from_id, start, end = opt_int(p, "fromId"), opt_int(p, "startTime"), opt_int(p, "endTime")
        trades = self.market.recent_trades(inst.symbol, 1000)
        if from_id is not None:
            trades = [t for t in trades if t.trade_id >= from_id]
        if start is not None:
            trades = [t for t in trades if t.ts_ms >= start]
        if end is not None:
            trades = [t for t in trades if t.ts_ms <= end]
        trades = trades[:limit] if (from_id is not None or start is not None) else trades[-limit:]
        return [fmt.agg_trade_json(inst, t) for t in trades]

    async def klines(self, ctx: RequestCtx) -> list[list]:
        p = ctx.params
        inst = self.inst(p)
        interval = param_str(p, "interval")
        if interval not in FUTURES_DIALECT.kline_intervals:
            raise BinanceApiError(-1120, "Invalid interval.")
        limit = limit_param(p, 500, 1500)
        bars = self.market.klines(
            inst.symbol, KLINE_INTERVALS_MS[interval], opt_int(p, "startTime"), opt_int(p, "endTime"), limit
        )
        return [fmt.kline_row(inst, k) for k in bars]

    async def premium_index(self, ctx: RequestCtx) -> JsonObj | list[JsonObj]:
        market = self.market
        out = []
        for inst in self.symbols(ctx.params):
            mark = market.mark_price(inst.symbol)
            out.append(
                {
                    "symbol": inst.symbol,
                    "markPrice": fmt.d8(mark),
                    "indexPrice": fmt.d8(market.index_price(inst.symbol)),
                    "estimatedSettlePrice": fmt.d8(mark),
                    "lastFundingRate": fmt.d8(market.funding_rate(inst.symbol)),
                    "interestRate": "0.00010000",
                    "nextFundingTime": market.next_funding_ms(),
                    "time": ctx.now_ms,
                }
            )
        return out[0] if ctx.params.get("symbol") else out

    async def funding_rate(self, ctx: RequestCtx) -> list[JsonObj]:
        """Funding history: the current rate at each past 8-hour settlement (the core keeps no history)."""
        p = ctx.params
        market = self.market
        limit = limit_param(p, 100, 1000)
        interval = market.funding_interval_ms
        end = opt_int(p, "endTime") or ctx.now_ms
        start = opt_int(p, "startTime")
        t = (min(end, market.next_funding_ms() - interval)) // interval * interval
        out: list[JsonObj] = []
        for inst in self.symbols(p):
            times = []
            tt = t
            while len(times) < limit and (start is None or tt >= start):
                times.append(tt)
                tt -= interval
            mark = fmt.d8(market.mark_price(inst.symbol))
            rate = fmt.d8(market.funding_rate(inst.symbol))
            out.extend(
                {"symbol": inst.symbol, "fundingRate": rate, "fundingTime": x, "markPrice": mark}
                for x in reversed(times)
            )
        return out[-limit:]

    async def ticker_24h(self, ctx: RequestCtx) -> JsonObj | list[JsonObj]:
        market = self.market
        out = [fmt.ticker_24h_json(i, market.ticker_24h(i.symbol)) for i in self.symbols(ctx.params)]
        return out[0] if ctx.params.get("symbol") else out

    async def ticker_price(self, ctx: RequestCtx) -> JsonObj | list[JsonObj]:
        market = self.market
        out = [
            {"symbol": i.symbol, "price": i.fmt_price(market.last_price_ticks(i.symbol)), "time": ctx.now_ms}
            for i in self.symbols(ctx.params)
        ]
        return out[0] if ctx.params.get("symbol") else out

    async def book_ticker(self, ctx: RequestCtx) -> JsonObj | list[JsonObj]:
        market = self.market
        out = []
        for i in self.symbols(ctx.params):
            book = market.books[i.symbol]
            bid = book.best_bid_level() or (0, 0)
            ask = book.best_ask_level() or (0, 0)
            out.append(
                {
                    "symbol": i.symbol,
                    "bidPrice": i.fmt_price(bid[0]),
                    "bidQty": i.fmt_qty(bid[1]),
                    "askPrice": i.fmt_price(ask[0]),
                    "askQty": i.fmt_qty(ask[1]),
                    "time": ctx.now_ms,
                    "lastUpdateId": book.update_id,
                }
            )
        return out[0] if ctx.params.get("symbol") else out

    # ---- orders ----
    def _position_side(self, params: dict[str, str]) -> PositionSide:
        raw = params.get("positionSide") or "BOTH"
        try:
            return PositionSide(raw)
        except ValueError:
            raise BinanceApiError(-4006, "Invalid position side.") from None

    def _tif(self, params: dict[str, str], required: bool) -> TimeInForce:
        raw = params.get("timeInForce")
        if not raw:
            if required:
                raise mandatory("timeInForce")
            return TimeInForce.GTC
        tif = fmt.WIRE_TO_TIF.get(raw)
        if tif is None:
            raise BinanceApiError(-1115, "Invalid timeInForce.")
        return tif

    def _client_id(self, params: dict[str, str], name: str) -> str:
        cid = params.get(name) or ""
        if cid and not CID_RE.match(cid):
            raise BinanceApiError(-4015, "Client order id is not valid.")
        return cid

    def _order_type(self, params: dict[str, str]) -> OrderType:
        typ = fmt.WIRE_TO_TYPE.get(param_str(params, "type"))
        if typ is None:
            raise BinanceApiError(-1116, "Invalid orderType.")
        return typ

    def _common_order(self, ctx: RequestCtx, inst: SimInstrument, typ: OrderType) -> OrderRequest:
        p = ctx.params
        side = param_side(p)
        ps = self._position_side(p)
        acct = self.market.accounts.get(ctx.account_id)
        reduce_only = parse_bool(p, "reduceOnly")
        if "reduceOnly" in p and acct.hedge_mode:
            raise BinanceApiError(-1106, "Parameter 'reduceOnly' sent when not required.")
        close_position = parse_bool(p, "closePosition")
        qty = opt_decimal(p, "quantity")
        if qty is None and not close_position:
            raise mandatory("quantity")
        if qty is not None and qty <= 0:
            raise BinanceApiError(-4003, "Quantity less than or equal to zero.")
        limit_like = typ.has_limit_price
        price = opt_decimal(p, "price")
        if limit_like and price is None:
            raise mandatory("price")
        if not limit_like and price is not None and price != 0:
            raise BinanceApiError(-1106, "Parameter 'price' sent when not required.")
        tif = self._tif(p, required=typ is OrderType.LIMIT)
        if tif is TimeInForce.POST_ONLY and not limit_like:
            raise BinanceApiError(-1106, "Parameter 'timeInForce' sent when not required.")
        return OrderRequest(
            symbol=inst.symbol,
            side=side,
            type=typ,
            qty=qty,
            price=price if limit_like else None,
            tif=tif,
            reduce_only=reduce_only,
            close_position=close_position,
            position_side=ps,
        )

    def _submit(self, ctx: RequestCtx, req: OrderRequest) -> SimOrder:
        check_bounds(self.market.instruments[req.symbol], req)
        try:
            return self.market.submit(ctx.account_id, req)
        except SimReject as exc:
            raise futures_error(exc) from None

    async def new_order(self, ctx: RequestCtx) -> JsonObj:
        p = ctx.params
        inst = self.inst(p)
        typ = self._order_type(p)
        if typ.is_conditional:
            raise NOT_ALGO_ENDPOINT.error()
        if parse_bool(p, "closePosition"):
            raise BinanceApiError(-1106, "Parameter 'closePosition' sent when not required.")
        req = self._common_order(ctx, inst, typ)
        req.client_id = self._client_id(p, "newClientOrderId")
        resp_type = p.get("newOrderRespType") or "ACK"
        if resp_type not in ("ACK", "RESULT"):
            raise BinanceApiError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
        order = self._submit(ctx, req)
        if resp_type == "RESULT":
            return fmt.order_json(inst, order, query=False)
        return fmt.ack_json(inst, order, order.created_ms)

    async def batch_orders(self, ctx: RequestCtx) -> list[JsonObj]:
        """Up to 5 orders; each answers with its order body or its own ``{code, msg}``."""
        raw = param_str(ctx.params, "batchOrders")
        try:
            items = orjson.loads(raw)
        except orjson.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
            raise BinanceApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        if len(items) > 5:
            raise BinanceApiError(-4176, "Number of orders in the batch exceeds the limit of 5.")
        out: list[JsonObj] = []
        for item in items:
            params = {k: _wire_value(v) for k, v in item.items() if v is not None}
            sub = RequestCtx(ctx.request, params, ctx.now_ms, ctx.creds)
            try:
                out.append(await self.new_order(sub))
            except BinanceApiError as err:
                out.append(err.body())
        return out

    async def modify_order(self, ctx: RequestCtx) -> JsonObj:
        p = ctx.params
        order = self.find_order(ctx, UNKNOWN_ORDER_ON_QUERY)
        inst = self.market.instruments[order.symbol]
        if param_side(p) is not order.side:
            raise BinanceApiError(-1102, "Param 'side' does not match the original order.")
        qty, price = param_decimal(p, "quantity"), param_decimal(p, "price")
        try:
            order = self.market.amend(ctx.account_id, order.symbol, order.order_id, qty=qty, price=price)
        except SimReject as exc:
            raise futures_error(exc) from None
        return fmt.order_json(inst, order, query=False)

    async def get_order(self, ctx: RequestCtx) -> JsonObj:
        order = self.find_order(ctx, UNKNOWN_ORDER_ON_QUERY)
        return fmt.order_json(self.market.instruments[order.symbol], order, query=True)

    async def open_order(self, ctx: RequestCtx) -> JsonObj:
        order = self.find_order(ctx, UNKNOWN_ORDER_ON_QUERY)
        if not order.status.is_open:
            raise BinanceApiError(-2013, "Order does not exist.")
        return fmt.order_json(self.market.instruments[order.symbol], order, query=True)

    async def cancel_order(self, ctx: RequestCtx) -> JsonObj:
        order = self.find_order(ctx, UNKNOWN_ORDER_ON_CANCEL)
        try:
            order = self.market.cancel(ctx.account_id, order.symbol, order.order_id)
        except SimReject as exc:
            raise futures_error(exc, UNKNOWN_ORDER_ON_CANCEL) from None
        return fmt.order_json(self.market.instruments[order.symbol], order, query=False)

    async def cancel_all(self, ctx: RequestCtx) -> JsonObj:
        inst = self.inst(ctx.params)
        for o in self.market.open_orders(ctx.account_id, inst.symbol):
            if not o.type.is_conditional or o.triggered:
                self.market.cancel(ctx.account_id, inst.symbol, o.order_id)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def open_orders(self, ctx: RequestCtx) -> list[JsonObj]:
        inst = self.opt_inst(ctx.params)
        market = self.market
        orders = market.open_orders(ctx.account_id, inst.symbol if inst else None)
        return [
            fmt.order_json(market.instruments[o.symbol], o, query=True)
            for o in orders
            if not o.type.is_conditional or o.triggered
        ]

    async def all_orders(self, ctx: RequestCtx) -> list[JsonObj]:
        p = ctx.params
        inst = self.inst(p)
        limit = limit_param(p, 500, 1000)
        order_id, start, end = opt_int(p, "orderId"), opt_int(p, "startTime"), opt_int(p, "endTime")
        orders = [
            o
            for o in self.market.all_orders(ctx.account_id, inst.symbol)
            if (not o.type.is_conditional or o.triggered)
            and (order_id is None or o.order_id >= order_id)
            and (start is None or o.created_ms >= start)
            and (end is None or o.created_ms <= end)
        ]
        orders.sort(key=lambda o: o.order_id)
        orders = orders[:limit] if order_id is not None else orders[-limit:]
        return [fmt.order_json(inst, o, query=True) for o in orders]

    async def user_trades(self, ctx: RequestCtx) -> list[JsonObj]:
        p = ctx.params
        inst = self.inst(p)
        limit = limit_param(p, 500, 1000)
        order_id, from_id = opt_int(p, "orderId"), opt_int(p, "fromId")
        start, end = opt_int(p, "startTime"), opt_int(p, "endTime")
        fills = [
            f
            for f in self.market.fills(ctx.account_id, inst.symbol)
            if (order_id is None or f.order_id == order_id)
            and (from_id is None or f.trade_id >= from_id)
            and (start is None or f.ts_ms >= start)
            and (end is None or f.ts_ms <= end)
        ]
        fills = fills[:limit] if from_id is not None else fills[-limit:]
        return [
            {
                "symbol": f.symbol,
                "id": f.trade_id,
                "orderId": f.order_id,
                "side": f.side.value,
                "price": inst.fmt_price_dec(f.price),
                "qty": inst.fmt_qty_dec(f.qty),
                "realizedPnl": fmt.d8(f.realized_pnl),
                "marginAsset": QUOTE,
                "quoteQty": fmt.fmt_quote(inst, f.quote_qty),
                "commission": fmt.d8(f.fee),
                "commissionAsset": f.fee_asset,
                "time": f.ts_ms,
                "positionSide": str(f.position_side),
                "buyer": f.side.value == "BUY",
                "maker": f.is_maker,
            }
            for f in fills
        ]

    # ---- algo (conditional) orders ----
    async def new_algo_order(self, ctx: RequestCtx) -> JsonObj:
        p = ctx.params
        inst = self.inst(p)
        algo_type = param_str(p, "algoType")
        if algo_type != "CONDITIONAL":
            raise BinanceApiError(-1116, "Invalid algoType.")
        typ = self._order_type(p)
        if not typ.is_conditional or typ is OrderType.TRAILING_STOP_MARKET:
            raise BinanceApiError(-1116, "Invalid orderType.")
        close_position = parse_bool(p, "closePosition")
        if close_position and typ.has_limit_price:
            raise BinanceApiError(-1106, "Parameter 'closePosition' sent when not required.")
        if close_position and "quantity" in p:
            raise BinanceApiError(-1106, "Parameter 'quantity' sent when not required.")
        req = self._common_order(ctx, inst, typ)
        req.stop_price = param_decimal(p, "triggerPrice")
        req.client_id = self._client_id(p, "clientAlgoId")
        order = self._submit(ctx, req)
        return fmt.algo_json(inst, order, query=False)

    async def get_algo_order(self, ctx: RequestCtx) -> JsonObj:
        order = self.find_algo(ctx.account_id, ctx.params)
        return fmt.algo_json(self.market.instruments[order.symbol], order, query=True)

    async def cancel_algo_order(self, ctx: RequestCtx) -> JsonObj:
        try:
            order = self.find_algo(ctx.account_id, ctx.params)
        except BinanceApiError:
            raise UNKNOWN_ORDER_ON_CANCEL.error() from None
        if order.triggered or not order.status.is_open:
            raise UNKNOWN_ORDER_ON_CANCEL.error()
        self.market.cancel(ctx.account_id, order.symbol, order.order_id)
        return {
            "algoId": fmt.ALGO_ID_BASE + order.order_id,
            "clientAlgoId": order.client_id,
            "code": "200",
            "msg": "success",
        }

    async def cancel_all_algo(self, ctx: RequestCtx) -> JsonObj:
        inst = self.inst(ctx.params)
        for o in self.market.open_orders(ctx.account_id, inst.symbol):
            if o.type.is_conditional and not o.triggered:
                self.market.cancel(ctx.account_id, inst.symbol, o.order_id)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def open_algo_orders(self, ctx: RequestCtx) -> list[JsonObj]:
        inst = self.opt_inst(ctx.params)
        market = self.market
        return [
            fmt.algo_json(market.instruments[o.symbol], o, query=True)
            for o in market.open_orders(ctx.account_id, inst.symbol if inst else None)
            if o.type.is_conditional and not o.triggered
        ]

    async def all_algo_orders(self, ctx: RequestCtx) -> list[JsonObj]:
        p = ctx.params
        inst = self.inst(p)
        limit = limit_param(p, 100, 100)
        orders = [o for o in self.market.all_orders(ctx.account_id, inst.symbol) if o.type.is_conditional]
        orders.sort(key=lambda o: o.order_id)
        return [fmt.algo_json(inst, o, query=True) for o in orders[-limit:]]

    # ---- account and positions ----
    async def balance(self, ctx: RequestCtx) -> list[JsonObj]:
        t = self.totals(ctx.account_id)
        acct = self.market.accounts.get(ctx.account_id)
        return [
            {
                "accountAlias": "SgsR" + ctx.account_id[:4],
                "asset": QUOTE,
                "balance": fmt.d8(t.wallet),
                "crossWalletBalance": fmt.d8(t.cross_wallet),
                "crossUnPnl": fmt.d8(t.cross_upnl),
                "availableBalance": fmt.d8(t.available),
                "maxWithdrawAmount": fmt.d8(max(ZERO, min(t.available, t.cross_wallet))),
                "marginAvailable": True,
                "updateTime": _last_update(acct),
            }
        ]

    def _assets(self, ctx: RequestCtx, t: AccountTotals) -> list[JsonObj]:
        acct = self.market.accounts.get(ctx.account_id)
        return [
            {
                "asset": QUOTE,
                "walletBalance": fmt.d8(t.wallet),
                "unrealizedProfit": fmt.d8(t.upnl),
                "marginBalance": fmt.d8(t.wallet + t.upnl),
                "maintMargin": fmt.d8(t.maint),
                "initialMargin": fmt.d8(t.position_im + t.order_im),
                "positionInitialMargin": fmt.d8(t.position_im),
                "openOrderInitialMargin": fmt.d8(t.order_im),
                "crossWalletBalance": fmt.d8(t.cross_wallet),
                "crossUnPnl": fmt.d8(t.cross_upnl),
                "availableBalance": fmt.d8(t.available),
                "maxWithdrawAmount": fmt.d8(max(ZERO, min(t.available, t.cross_wallet))),
                "marginAvailable": True,
                "updateTime": _last_update(acct),
            }
        ]

    def _totals_json(self, t: AccountTotals) -> JsonObj:
        return {
            "totalInitialMargin": fmt.d8(t.position_im + t.order_im),
            "totalMaintMargin": fmt.d8(t.maint),
            "totalWalletBalance": fmt.d8(t.wallet),
            "totalUnrealizedProfit": fmt.d8(t.upnl),
            "totalMarginBalance": fmt.d8(t.wallet + t.upnl),
            "totalPositionInitialMargin": fmt.d8(t.position_im),
            "totalOpenOrderInitialMargin": fmt.d8(t.order_im),
            "totalCrossWalletBalance": fmt.d8(t.cross_wallet),
            "totalCrossUnPnl": fmt.d8(t.cross_upnl),
            "availableBalance": fmt.d8(t.available),
            "maxWithdrawAmount": fmt.d8(max(ZERO, min(t.available, t.cross_wallet))),
        }

    async def account_v2(self, ctx: RequestCtx) -> JsonObj:
        t = self.totals(ctx.account_id)
        market = self.market
        positions = [
            fmt.account_position_v2(s, max_notional_for(s.leverage), self._order_margin_of(ctx.account_id, s))
            for s in market.positions(ctx.account_id)
        ]
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
            **self._totals_json(t),
            "assets": self._assets(ctx, t),
            "positions": positions,
        }

    async def account_v3(self, ctx: RequestCtx) -> JsonObj:
        t = self.totals(ctx.account_id)
        positions = [fmt.account_position_v3(s) for s in self._active_positions(ctx.account_id)]
        return {**self._totals_json(t), "assets": self._assets(ctx, t), "positions": positions}

    def _active_positions(self, account_id: str, symbol: str | None = None) -> list:
        """v3 lists only positions that are open or have open orders on their symbol."""
        market = self.market
        with_orders = {o.symbol for o in market.open_orders(account_id)}
        return [s for s in market.positions(account_id, symbol) if s.qty != 0 or s.symbol in with_orders]

    async def position_risk_v2(self, ctx: RequestCtx) -> list[JsonObj]:
        inst = self.opt_inst(ctx.params)
        market = self.market
        return [
            fmt.position_v2(market.instruments[s.symbol], s, max_notional_for(s.leverage))
            for s in market.positions(ctx.account_id, inst.symbol if inst else None)
        ]

    async def position_risk_v3(self, ctx: RequestCtx) -> list[JsonObj]:
        inst = self.opt_inst(ctx.params)
        market = self.market
        out = []
        for s in self._active_positions(ctx.account_id, inst.symbol if inst else None):
            out.append(
                fmt.position_v3(market.instruments[s.symbol], s, self._order_margin_of(ctx.account_id, s))
            )
        return out

    def _order_margin_of(self, account_id: str, snap: Any) -> Decimal:
        """A symbol's open-order margin, shown once per symbol (on BOTH, or on the LONG leg)."""
        if snap.position_side is PositionSide.SHORT:
            return ZERO
        return self.order_margin(account_id, snap.symbol)

    async def symbol_config(self, ctx: RequestCtx) -> list[JsonObj]:
        acct = self.market.accounts.get(ctx.account_id)
        out = []
        for i in self.symbols(ctx.params):
            lev = acct.leverage_of(i.symbol)
            out.append(
                {
                    "symbol": i.symbol,
                    "marginType": "ISOLATED"
                    if acct.margin_mode_of(i.symbol) is MarginMode.ISOLATED
                    else "CROSSED",
                    "isAutoAddMargin": False,
                    "leverage": lev,
                    "maxNotionalValue": fmt.dnum(max_notional_for(lev)),
                }
            )
        return out

    async def account_config(self, ctx: RequestCtx) -> JsonObj:
        acct = self.market.accounts.get(ctx.account_id)
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "dualSidePosition": acct.hedge_mode,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
        }

    async def commission_rate(self, ctx: RequestCtx) -> JsonObj:
        inst = self.inst(ctx.params)
        fees = self.market.fees
        return {
            "symbol": inst.symbol,
            "makerCommissionRate": fmt.dnum(fees.maker),
            "takerCommissionRate": fmt.dnum(fees.taker),
        }

    async def leverage(self, ctx: RequestCtx) -> JsonObj:
        p = ctx.params
        inst = self.inst(p)
        lev = param_int(p, "leverage")
        if not 1 <= lev <= 125:
            raise BinanceApiError(-4028, f"Leverage {lev} is not valid")
        self.market.set_leverage(ctx.account_id, inst.symbol, lev)
        self.users.send(
            ctx.account_id,
            {
                "e": "ACCOUNT_CONFIG_UPDATE",
                "E": ctx.now_ms,
                "T": ctx.now_ms,
                "ac": {"s": inst.symbol, "l": lev},
            },
        )
        return {"leverage": lev, "maxNotionalValue": fmt.dnum(max_notional_for(lev)), "symbol": inst.symbol}

    async def margin_type(self, ctx: RequestCtx) -> JsonObj:
        p = ctx.params
        inst = self.inst(p)
        raw = param_str(p, "marginType").upper()
        modes = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS, "CROSS": MarginMode.CROSS}
        mode = modes.get(raw)
        if mode is None:
            raise BinanceApiError(-1116, "Invalid marginType.")
        market = self.market
        acct = market.accounts.get(ctx.account_id)
        if acct.margin_mode_of(inst.symbol) is mode:
            raise BinanceApiError(-4046, "No need to change margin type.")
        if any(pos.qty != 0 and pos.symbol == inst.symbol for pos in acct.positions.values()):
            raise BinanceApiError(-4048, "Margin type cannot be changed if there exists position.")
        if market.open_orders(ctx.account_id, inst.symbol):
            raise BinanceApiError(-4047, "Margin type cannot be changed if there exists open orders.")
        market.set_margin_mode(ctx.account_id, inst.symbol, mode)
        return {"code": 200, "msg": "success"}

    async def get_position_mode(self, ctx: RequestCtx) -> JsonObj:
        return {"dualSidePosition": self.market.accounts.get(ctx.account_id).hedge_mode}

    async def set_position_mode(self, ctx: RequestCtx) -> JsonObj:
        hedge = parse_bool(ctx.params, "dualSidePosition")
        if "dualSidePosition" not in ctx.params:
            raise mandatory("dualSidePosition")
        market = self.market
        acct = market.accounts.get(ctx.account_id)
        if acct.hedge_mode is hedge:
            raise BinanceApiError(-4059, "No need to change position side.")
        if any(pos.qty != 0 for pos in acct.positions.values()):
            raise BinanceApiError(-4068, "Position side cannot be changed if there exists position.")
        if market.open_orders(ctx.account_id):
            raise BinanceApiError(-4067, "Position side cannot be changed if there exists open orders.")
        market.set_hedge_mode(ctx.account_id, hedge)
        return {"code": 200, "msg": "success"}

    # ---- user stream keys ----
    async def listen_key_new(self, ctx: RequestCtx) -> JsonObj:
        return {"listenKey": self.users.create(ctx.account_id).key}

    async def listen_key_keepalive(self, ctx: RequestCtx) -> JsonObj:
        return {"listenKey": self.users.keepalive(ctx.account_id, opt_str(ctx.params, "listenKey")).key}

    async def listen_key_close(self, ctx: RequestCtx) -> JsonObj:
        self.users.close(ctx.account_id, opt_str(ctx.params, "listenKey"))
        return {}


def _wire_value(v: Any) -> str:
    """A batch item's JSON value as the string a query parameter would carry."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _last_update(acct: Any) -> int:
    return max((p.updated_ms for p in acct.positions.values()), default=0)


# =====================================================================================
# Wiring
# =====================================================================================


@dataclass(slots=True)
class FuturesServer:
    """Handles to the running futures protocol server (tests reach it via ``app[FUTURES_KEY]``)."""

    api: FuturesApi
    users: UserStreams
    engine: FuturesStreamEngine
    http: BinanceHttp


FUTURES_KEY = web.AppKey("binance_futures", FuturesServer)


def _all_or_one(one: int, all_: int) -> Callable[[dict[str, str]], int]:
    return lambda params: one if params.get("symbol") else all_


def setup(app: web.Application, exchange: SimExchange) -> None:
    users = UserStreams(exchange)
    api = FuturesApi(exchange, users)
    http = BinanceHttp(exchange, VENUE, WeightLimiter(WEIGHT_LIMIT), rejects=REJECTS)
    engine = FuturesStreamEngine(exchange, VENUE, FUTURES_DIALECT, FuturesStreamFormat())
    app[FUTURES_KEY] = FuturesServer(api, users, engine, http)
    none, key, signed = Security.NONE, Security.API_KEY, Security.SIGNED
    v1, v2, v3 = "/fapi/v1", "/fapi/v2", "/fapi/v3"
    routes: list[tuple[str, str, Any, Any, Security]] = [
        ("GET", f"{v1}/ping", api.ping, 1, none),
        ("GET", f"{v1}/time", api.time, 1, none),
        ("GET", f"{v1}/exchangeInfo", api.exchange_info, 1, none),
        ("GET", f"{v1}/depth", api.depth, _depth_weight, none),
        ("GET", f"{v1}/trades", api.trades, 5, none),
        ("GET", f"{v1}/aggTrades", api.agg_trades, 20, none),
        ("GET", f"{v1}/klines", api.klines, _kline_weight, none),
        ("GET", f"{v1}/premiumIndex", api.premium_index, _all_or_one(1, 10), none),
        ("GET", f"{v1}/fundingRate", api.funding_rate, 1, none),
        ("GET", f"{v1}/ticker/24hr", api.ticker_24h, _all_or_one(1, 40), none),
        ("GET", f"{v1}/ticker/price", api.ticker_price, _all_or_one(1, 2), none),
        ("GET", f"{v2}/ticker/price", api.ticker_price, _all_or_one(1, 2), none),
        ("GET", f"{v1}/ticker/bookTicker", api.book_ticker, _all_or_one(2, 5), none),
        ("POST", f"{v1}/order", api.new_order, 1, signed),
        ("PUT", f"{v1}/order", api.modify_order, 1, signed),
        ("POST", f"{v1}/batchOrders", api.batch_orders, 5, signed),
        ("GET", f"{v1}/order", api.get_order, 1, signed),
        ("DELETE", f"{v1}/order", api.cancel_order, 1, signed),
        ("GET", f"{v1}/openOrder", api.open_order, 1, signed),
        ("GET", f"{v1}/openOrders", api.open_orders, _all_or_one(1, 40), signed),
        ("GET", f"{v1}/allOrders", api.all_orders, 5, signed),
        ("DELETE", f"{v1}/allOpenOrders", api.cancel_all, 1, signed),
        ("GET", f"{v1}/userTrades", api.user_trades, 5, signed),
        ("POST", f"{v1}/algoOrder", api.new_algo_order, 1, signed),
        ("GET", f"{v1}/algoOrder", api.get_algo_order, 1, signed),
        ("DELETE", f"{v1}/algoOrder", api.cancel_algo_order, 1, signed),
        ("DELETE", f"{v1}/algoOpenOrders", api.cancel_all_algo, 1, signed),
        ("GET", f"{v1}/openAlgoOrders", api.open_algo_orders, _all_or_one(1, 40), signed),
        ("GET", f"{v1}/allAlgoOrders", api.all_algo_orders, 5, signed),
        ("POST", f"{v1}/leverage", api.leverage, 1, signed),
        ("POST", f"{v1}/marginType", api.margin_type, 1, signed),
        ("GET", f"{v1}/positionSide/dual", api.get_position_mode, 30, signed),
        ("POST", f"{v1}/positionSide/dual", api.set_position_mode, 1, signed),
        ("GET", f"{v1}/symbolConfig", api.symbol_config, 5, signed),
        ("GET", f"{v1}/accountConfig", api.account_config, 5, signed),
        ("GET", f"{v1}/commissionRate", api.commission_rate, 20, signed),
        ("GET", f"{v2}/account", api.account_v2, 5, signed),
        ("GET", f"{v3}/account", api.account_v3, 5, signed),
        ("GET", f"{v2}/balance", api.balance, 5, signed),
        ("GET", f"{v3}/balance", api.balance, 5, signed),
        ("GET", f"{v2}/positionRisk", api.position_risk_v2, 5, signed),
        ("GET", f"{v3}/positionRisk", api.position_risk_v3, 5, signed),
        ("POST", f"{v1}/listenKey", api.listen_key_new, 1, key),
        ("PUT", f"{v1}/listenKey", api.listen_key_keepalive, 1, key),
        ("DELETE", f"{v1}/listenKey", api.listen_key_close, 1, key),
    ]
    for method, path, handler, weight, security in routes:
        http.route(app, method, path, handler, weight, security)

    _stream_routes(app, engine, "public", PUBLIC_KINDS)
    _stream_routes(app, engine, "market", MARKET_KINDS)
    app.router.add_get("/private/ws", users.serve)
    app.router.add_get("/private/ws/{listen_key}", users.serve)

    def start() -> None:
        engine.start()
        users.start()

    async def stop() -> None:
        await engine.stop()
        await users.stop()

    on_app_lifecycle(app, start, stop)

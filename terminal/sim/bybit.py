"""Bybit v5 protocol server of the simulator: spot + linear on one unified account.

``setup(app, exchange)`` wires the REST API (``bybit_rest``) and the public/private
WebSockets (``bybit_ws``) to one ``BybitState``: the protocol-level facts the
venue-neutral core does not keep (orderLinkId as sent, stopOrderType, position TP/SL,
realised PnL net of fees, PostOnly orders Bybit accepts and then cancels).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import web

from terminal.model.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce, Venue
from terminal.sim.accounts import SimAccount
from terminal.sim.bybit_format import (
    LINEAR,
    SPOT,
    ZERO,
    CoinState,
    DerivInfo,
    ExecInfo,
    OrderMeta,
    PositionExtra,
)
from terminal.sim.events import AccountEvent, OrderEvent, SimEvent
from terminal.sim.exchange import SimExchange
from terminal.sim.market import FillRecord, SimMarket, Ticker24h
from terminal.sim.orders import ExecType, OrderRequest, SimOrder, SimReject, TriggerDirection

log = logging.getLogger(__name__)

_SYNTHETIC_OID_BASE = 8_000_000_000  # ids of orders the core never saw (rejected PostOnly)


@dataclass(slots=True, frozen=True)
class Category:
    name: str  # "spot" | "linear"
    venue: Venue
    market: SimMarket

    @property
    def is_spot(self) -> bool:
        return self.name == SPOT


class PrivateSink:
    """What the private WebSocket hub implements; the state calls it after its own bookkeeping."""

    def on_order(self, cat: Category, ev: OrderEvent, meta: OrderMeta, ex: ExecInfo | None) -> None: ...
    def on_account(self, cat: Category, ev: AccountEvent) -> None: ...


class BybitState:
    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.cats: dict[str, Category] = {
            SPOT: Category(SPOT, Venue.BYBIT_SPOT, exchange.markets[Venue.BYBIT_SPOT]),
            LINEAR: Category(LINEAR, Venue.BYBIT_LINEAR, exchange.markets[Venue.BYBIT_LINEAR]),
        }
        self.meta: dict[tuple[str, int], OrderMeta] = {}
        self.synthetic: dict[str, dict[int, SimOrder]] = {SPOT: {}, LINEAR: {}}
        self.execs: dict[str, list[ExecInfo]] = {SPOT: [], LINEAR: []}
        self.pos_extra: dict[tuple[str, str, PositionSide], PositionExtra] = {}
        self.private: PrivateSink | None = None
        self._pending: OrderMeta | None = None
        self._next_synthetic = _SYNTHETIC_OID_BASE
        self._unsubscribe: list[Callable[[], None]] = []
        for cat in self.cats.values():
            self._unsubscribe.append(cat.market.subscribe(self._listener(cat)))

    def close(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()

    # ------------------------------------------------------------ lookups
    def category(self, name: str) -> Category | None:
        return self.cats.get(name)

    def meta_of(self, cat: Category, order: SimOrder) -> OrderMeta:
        meta = self.meta.get((cat.name, order.order_id))
        if meta is None:
            meta = self.meta[(cat.name, order.order_id)] = OrderMeta(cat.name)
        return meta

    def extra(self, account_id: str, symbol: str, side: PositionSide) -> PositionExtra:
        key = (account_id, symbol, side)
        ex = self.pos_extra.get(key)
        if ex is None:
            ex = self.pos_extra[key] = PositionExtra()
        return ex

    def account(self, account_id: str) -> SimAccount:
        return self.cats[LINEAR].market.accounts.get(account_id)

    def shown_qty(self, cat: Category, order: SimOrder) -> Decimal:
        """An untriggered position TP/SL (closePosition) shows the position's size."""
        if order.close_position and order.qty == 0 and order.status.is_open:
            pos = self.account(order.account_id).positions.get((order.symbol, order.position_side))
            return abs(pos.qty) if pos is not None else ZERO
        return order.qty

    def all_orders(self, cat: Category, account_id: str) -> list[SimOrder]:
        orders = cat.market.all_orders(account_id)
        orders.extend(o for o in self.synthetic[cat.name].values() if o.account_id == account_id)
        return orders

    # ------------------------------------------------------------ actions
    def submit(self, cat: Category, account_id: str, req: OrderRequest, meta: OrderMeta) -> SimOrder:
        """Submit through the core with ``meta`` attached to the order's first event."""
        self._pending = meta
        try:
            order = cat.market.submit(account_id, req)
        finally:
            self._pending = None
        self.meta[(cat.name, order.order_id)] = meta
        return order

    def accept_and_cancel(
        self, cat: Category, account_id: str, req: OrderRequest, meta: OrderMeta, reason: str
    ) -> SimOrder:
        """Bybit accepts what the core refuses outright (a PostOnly that would take) and
        cancels it at once: the caller gets an orderId, the order topic says why."""
        self._next_synthetic += 1
        now = cat.market.now_ms()
        order = SimOrder(
            order_id=self._next_synthetic,
            account_id=account_id,
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            tif=req.tif,
            qty=req.qty or ZERO,
            price=req.price or ZERO,
            stop_price=req.stop_price or ZERO,
            client_id=req.client_id or f"sim-{self._next_synthetic}",
            created_ms=now,
            updated_ms=now,
            status=OrderStatus.CANCELED,
            quote_qty=req.quote_qty or ZERO,
            reduce_only=req.reduce_only,
            position_side=req.position_side,
        )
        meta.reject_reason = reason
        self.meta[(cat.name, order.order_id)] = meta
        self.synthetic[cat.name][order.order_id] = order
        if self.private is not None:
            self.private.on_order(cat, OrderEvent(account_id, order, ExecType.CANCELED, now), meta, None)
        return order

    def set_trading_stop(
        self, account_id: str, symbol: str, side: PositionSide, tp: Decimal | None, sl: Decimal | None
    ) -> None:
        """Position TP/SL (tpslMode Full): one closePosition conditional order each; "0" clears."""
        cat = self.cats[LINEAR]
        extra = self.extra(account_id, symbol, side)
        for kind, price in (("TakeProfit", tp), ("StopLoss", sl)):
            if price is None:
                continue
            self._cancel_tpsl(cat, account_id, symbol, extra, kind, "CancelByUser")
            if price == 0:
                continue
            pos = self.account(account_id).position(symbol, side)
            long = pos.qty > 0 if side is PositionSide.BOTH else side is PositionSide.LONG
            rise = (kind == "TakeProfit") == long
            order_type = OrderType.TAKE_PROFIT_MARKET if kind == "TakeProfit" else OrderType.STOP_MARKET
            req = OrderRequest(
                symbol,
                Side.SELL if long else Side.BUY,
                order_type,
                stop_price=price,
                close_position=True,
                position_side=side,
                trigger_direction=TriggerDirection.RISE if rise else TriggerDirection.FALL,
            )
            meta = OrderMeta(LINEAR, self.last_price_str(cat, symbol), stop_order_type=kind)
            meta.create_type = f"CreateBy{kind}"
            order = self.submit(cat, account_id, req, meta)
            extra.tpsl_long = long
            if kind == "TakeProfit":
                extra.take_profit, extra.tp_order = price, order.order_id
            else:
                extra.stop_loss, extra.sl_order = price, order.order_id
        self._push_positions(cat, account_id, symbol)

    def _cancel_tpsl(
        self, cat: Category, account_id: str, symbol: str, extra: PositionExtra, kind: str, cancel_type: str
    ) -> None:
        oid = extra.tp_order if kind == "TakeProfit" else extra.sl_order
        if oid:
            order = cat.market.orders.get(oid)
            if order is not None and order.status.is_open:
                self.meta_of(cat, order).cancel_type = cancel_type
                try:
                    cat.market.cancel(account_id, symbol, oid)
                except SimReject:
                    pass
        if kind == "TakeProfit":
            extra.take_profit, extra.tp_order = ZERO, 0
        else:
            extra.stop_loss, extra.sl_order = ZERO, 0

    def _push_positions(self, cat: Category, account_id: str, symbol: str) -> None:
        if self.private is None:
            return
        snaps = tuple(cat.market.positions(account_id, symbol))
        self.private.on_account(cat, AccountEvent(account_id, (), snaps, "ADJUSTMENT", cat.market.now_ms()))

    def push_positions(self, account_id: str, symbol: str) -> None:
        self._push_positions(self.cats[LINEAR], account_id, symbol)

    @staticmethod
    def last_price_str(cat: Category, symbol: str) -> str:
        inst = cat.market.instruments[symbol]
        return inst.fmt_price(cat.market.last_price[symbol])

    # ------------------------------------------------------------ wallet
    def coins(self, account_id: str, only: set[str] | None = None) -> list[CoinState]:
        linear = self.cats[LINEAR].market
        spot = self.cats[SPOT].market
        acct = self.account(account_id)
        upnl = im = mm = ZERO
        for pos in acct.positions.values():
            if pos.qty != 0 and pos.symbol in linear.instruments:
                snap = linear.position_snapshot(acct, pos)
                upnl += snap.unrealized_pnl
                im += snap.initial_margin
                mm += snap.maintenance_margin
        order_im = ZERO
        for order in linear.open_orders(account_id):
            if not (order.reduce_only or order.close_position or order.type.is_conditional):
                price = order.price or linear.mark_price(order.symbol)
                order_im += order.remaining * price / acct.leverage_of(order.symbol)
        cum = sum((x.cum_realised for (a, _, _), x in self.pos_extra.items() if a == account_id), ZERO)
        out: list[CoinState] = []
        for asset, bal in sorted(acct.balances.items()):
            if only and asset not in only:
                continue
            if bal.total == 0 and asset != "USDT":
                continue
            usdt = asset == "USDT"
            sym = f"{asset}USDT"
            if usdt:
                usd = Decimal(1)
            elif sym in spot.instruments:
                usd = spot.instruments[sym].price(spot.last_price[sym])
            else:
                usd = ZERO
            out.append(
                CoinState(
                    asset,
                    bal.total,
                    bal.locked,
                    bal.free,
                    upnl if usdt else ZERO,
                    cum if usdt else ZERO,
                    im.quantize(Decimal("0.00000001")) if usdt else ZERO,
                    mm.quantize(Decimal("0.00000001")) if usdt else ZERO,
                    order_im.quantize(Decimal("0.00000001")) if usdt else ZERO,
                    usd,
                )
            )
        return out

    # ------------------------------------------------------------ core events
    def _listener(self, cat: Category) -> Callable[[SimEvent], None]:
        def listener(ev: SimEvent) -> None:
            if isinstance(ev, OrderEvent):
                self._on_order(cat, ev)
            elif isinstance(ev, AccountEvent):
                self._on_account(cat, ev)

        return listener

    def _on_order(self, cat: Category, ev: OrderEvent) -> None:
        order = ev.order
        key = (cat.name, order.order_id)
        meta = self.meta.get(key)
        if meta is None:
            # the order being submitted right now announces itself with NEW first
            if self._pending is not None and ev.exec_type is ExecType.NEW:
                meta, self._pending = self._pending, None
            else:
                meta = OrderMeta(cat.name)
            self.meta[key] = meta
        if ev.exec_type is ExecType.EXPIRED and meta.reject_reason == "EC_NoError":
            meta.reject_reason = _expiry_reason(order)
        elif ev.exec_type is ExecType.CANCELED and meta.cancel_type == "UNKNOWN":
            meta.cancel_type = "CancelByUser"
        if order.close_position and order.status.is_terminal:
            self._forget_tpsl(ev.account_id, order)
        ex: ExecInfo | None = None
        if ev.exec_type is ExecType.TRADE:
            ex = self._on_fill(cat, ev, meta)
        if self.private is not None:
            self.private.on_order(cat, ev, meta, ex)

    def _forget_tpsl(self, account_id: str, order: SimOrder) -> None:
        """However a position TP/SL order ends (filled, cancelled, cancel-all), the position
        stops showing it."""
        extra = self.pos_extra.get((account_id, order.symbol, order.position_side))
        if extra is None:
            return
        if extra.tp_order == order.order_id:
            extra.take_profit, extra.tp_order = ZERO, 0
        if extra.sl_order == order.order_id:
            extra.stop_loss, extra.sl_order = ZERO, 0

    def _on_fill(self, cat: Category, ev: OrderEvent, meta: OrderMeta) -> ExecInfo:
        order = ev.order
        market = cat.market
        closed = ZERO
        mark = ZERO
        if not cat.is_spot:
            mark = market.mark_price(order.symbol)
            pos = self.account(ev.account_id).positions.get((order.symbol, order.position_side))
            now_q = pos.qty if pos is not None else ZERO
            signed = ev.last_qty if order.side is Side.BUY else -ev.last_qty
            prev = now_q - signed  # the core updated the position before emitting
            if prev != 0 and (prev > 0) != (signed > 0):
                closed = min(abs(prev), ev.last_qty)
            extra = self.extra(ev.account_id, order.symbol, order.position_side)
            if prev == 0:
                extra.cur_realised = ZERO
                extra.created_ms = ev.ts_ms
            net = ev.realized_pnl - ev.fee
            extra.cum_realised += net
            extra.cur_realised += net
            if (meta.take_profit or meta.stop_loss) and order.filled_qty == ev.last_qty:
                self._later(
                    self.set_trading_stop,
                    ev.account_id,
                    order.symbol,
                    order.position_side,
                    meta.take_profit or None,
                    meta.stop_loss or None,
                )
        fill = FillRecord(
            ev.trade_id,
            order.order_id,
            order.client_id,
            order.symbol,
            order.side,
            ev.last_price,
            ev.last_qty,
            ev.last_price * ev.last_qty,
            ev.fee,
            ev.fee_asset,
            ev.is_maker,
            ev.realized_pnl,
            ev.ts_ms,
            order.position_side,
            order.type,
        )
        rate = market.fees.maker if ev.is_maker else market.fees.taker
        info = ExecInfo(fill, closed, mark, rate)
        self.execs[cat.name].append(info)
        return info

    def _on_account(self, cat: Category, ev: AccountEvent) -> None:
        for snap in ev.positions:
            extra = self.pos_extra.get((ev.account_id, snap.symbol, snap.position_side))
            if extra is not None and (extra.tp_order or extra.sl_order) and _tpsl_orphaned(snap.qty, extra):
                self._later(self._clear_tpsl, ev.account_id, snap.symbol, snap.position_side)
        if self.private is not None:
            self.private.on_account(cat, ev)

    def _clear_tpsl(self, account_id: str, symbol: str, side: PositionSide) -> None:
        """A closed (or reversed) position takes its TP/SL orders with it."""
        cat = self.cats[LINEAR]
        pos = self.account(account_id).positions.get((symbol, side))
        extra = self.extra(account_id, symbol, side)
        if not _tpsl_orphaned(pos.qty if pos is not None else ZERO, extra):
            return
        self._cancel_tpsl(cat, account_id, symbol, extra, "TakeProfit", "CancelByTpSlTsClear")
        self._cancel_tpsl(cat, account_id, symbol, extra, "StopLoss", "CancelByTpSlTsClear")

    @staticmethod
    def _later(fn: Callable[..., None], *args: object) -> None:
        """Run ``fn`` after the core has finished emitting (never re-enter it from a listener)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("bybit: no running loop, dropping deferred %s", getattr(fn, "__name__", fn))
            return

        def run() -> None:
            try:
                fn(*args)
            except SimReject as exc:
                log.info("bybit: deferred %s refused: %s", getattr(fn, "__name__", fn), exc)

        loop.call_soon(run)


def deriv_info(cat: Category, symbol: str, t: Ticker24h) -> DerivInfo:
    """Mark/index/funding/open interest of a linear symbol for the tickers."""
    market = cat.market
    inst = market.instruments[symbol]
    now = market.now_ms()
    hour = market.klines(symbol, 60_000, now - 3_600_000, None, 1)
    prev_1h = hour[0].open if hour else market.last_price[symbol]
    longs = sum(
        (p.qty for a in market.accounts for p in a.positions.values() if p.symbol == symbol and p.qty > 0),
        ZERO,
    )
    # No real open interest in a simulator: a steady share of the day's volume plus user longs.
    oi = inst.qty(t.volume // 4) + longs
    return DerivInfo(
        market.mark_price(symbol),
        market.index_price(symbol),
        market.funding_rate(symbol),
        market.next_funding_ms(),
        oi,
        prev_1h,
    )


def _tpsl_orphaned(qty: Decimal, extra: PositionExtra) -> bool:
    return qty == 0 or (qty > 0) != extra.tpsl_long


def _expiry_reason(order: SimOrder) -> str:
    if order.tif is TimeInForce.FOK:
        return "EC_CancelForNoFullFill"
    if order.type.is_conditional and order.close_position:
        return "EC_NoError"
    return "EC_NoImmediateQtyToFill"


STATE_KEY = web.AppKey("bybit_state", BybitState)


def setup(app: web.Application, exchange: SimExchange) -> None:
    from terminal.sim import bybit_rest, bybit_ws

    state = BybitState(exchange)
    app[STATE_KEY] = state
    bybit_rest.setup(app, state)
    bybit_ws.setup(app, state)

    async def on_cleanup(_: web.Application) -> None:
        state.close()

    app.on_cleanup.append(on_cleanup)

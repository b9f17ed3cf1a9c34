"""One simulated market (a venue's category): books, user orders, accounts, candles.

Venue-neutral: the protocol servers (binance_spot, binance_futures, bybit) parse the
wire into ``OrderRequest`` and format the ``SimEvent``s this emits. Everything runs
on one asyncio loop; nothing here awaits.

Money rules (tests recompute them the same way):
- spot fees are charged in the asset received (buy: base, sell: quote), derivatives
  fees in the quote asset; every fee is quantized to 8 decimals (ROUND_HALF_UP);
- derivatives entry price is the Decimal volume-weighted average (28 digits), realised
  PnL per fill ``closing_qty * (price - entry) * sign`` quantized to 8 decimals;
- a spot limit buy locks ``qty * limit price`` quote; fills at a better price refund
  the difference to free; sells lock the base quantity.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from terminal.model.enums import (
    InstrumentKind,
    MarginMode,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    Venue,
)
from terminal.sim.accounts import AccountBook, Balance, Position, SimAccount
from terminal.sim.book import MakerFill, MatchingBook, RestingOrder
from terminal.sim.events import (
    AccountEvent,
    BalanceChange,
    BalanceDeltaEvent,
    Listener,
    OrderEvent,
    OrderListEvent,
    PositionSnapshot,
    SimEvent,
    TradeEvent,
)
from terminal.sim.instruments import NotAMultipleError, SimInstrument
from terminal.sim.klines import MINUTE_MS, Kline, KlineSeries
from terminal.sim.orders import (
    ExecType,
    OrderList,
    OrderRequest,
    RejectReason,
    SimOrder,
    SimReject,
    TriggerDirection,
)

__all__ = ["FeeSchedule", "FillRecord", "Kline", "SimMarket", "Ticker24h"]

log = logging.getLogger(__name__)

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")


def q8(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_HALF_UP)


@dataclass(slots=True, frozen=True)
class FeeSchedule:
    maker: Decimal
    taker: Decimal
    maintenance_margin_rate: Decimal = Decimal("0.004")


@dataclass(slots=True, frozen=True)
class Ticker24h:
    symbol: str
    open: int  # ticks, 24 h ago
    high: int
    low: int
    last: int
    last_qty: int
    volume: int  # lots
    quote_volume: Decimal
    open_ms: int
    close_ms: int
    first_trade_id: int
    last_trade_id: int
    trades: int
    best_bid: int
    best_bid_qty: int
    best_ask: int
    best_ask_qty: int
    weighted_avg: Decimal


@dataclass(slots=True, frozen=True)
class FillRecord:
    """A user fill (myTrades / userTrades / execution list)."""

    trade_id: int
    order_id: int
    client_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    realized_pnl: Decimal
    ts_ms: int
    position_side: PositionSide
    order_type: OrderType


class _Lock:
    """Funds a spot order (or an OCO pair) holds; shared by both legs of an OCO."""

    __slots__ = ("amount", "asset", "owners")

    def __init__(self, asset: str, amount: Decimal) -> None:
        self.asset = asset
        self.amount = amount
        self.owners = 1


class SimMarket:
    def __init__(
        self,
        venue: Venue,
        instruments: dict[str, SimInstrument],
        accounts: AccountBook,
        fees: FeeSchedule,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.venue = venue
        self.kind = next(iter(instruments.values())).kind if instruments else InstrumentKind.SPOT
        self.instruments = instruments
        self.accounts = accounts
        self.fees = fees
        self.clock: Callable[[], int] = clock or (lambda: int(time.time() * 1000))  # tests may shift time
        self.books: dict[str, MatchingBook] = {s: MatchingBook(s) for s in instruments}
        self.candles: dict[str, KlineSeries] = {
            s: KlineSeries(float(i.tick * i.step)) for s, i in instruments.items()
        }
        self._listeners: list[Listener] = []
        # ids differ per venue but are reproducible (str hash() is salted per process)
        self._next_oid = 3_000_000_000 + zlib.crc32(venue.value.encode()) % 1000 * 1_000_000
        self._next_trade = {s: 100_000_000 for s in instruments}
        self._next_list = 10_000
        self._taker_seq = 0
        self.orders: dict[int, SimOrder] = {}
        self._open: dict[str, dict[int, SimOrder]] = {}  # account -> open orders
        self._by_client: dict[tuple[str, str, str], int] = {}  # (account, symbol, client id) -> oid
        self._triggers: dict[str, dict[int, SimOrder]] = {s: {} for s in instruments}
        self._locks: dict[int, _Lock] = {}
        self.lists: dict[int, OrderList] = {}
        self._fills: dict[str, list[FillRecord]] = {}
        self.trades: dict[str, deque[TradeEvent]] = {s: deque(maxlen=1000) for s in instruments}
        self.last_price: dict[str, int] = {s: i.ticks_nearest(i.start_price) for s, i in instruments.items()}
        self.last_qty: dict[str, int] = {s: 0 for s in instruments}
        self._checking_triggers = False
        self.funding_interval_ms = 8 * 3600 * 1000
        self.funding_rates: dict[str, Decimal] = {s: Decimal("0.0001") for s in instruments}

    # ------------------------------------------------------------------ basics
    def now_ms(self) -> int:
        return self.clock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: SimEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s: listener failed on %s", self.venue, type(event).__name__)

    def instrument(self, symbol: str) -> SimInstrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise SimReject(RejectReason.UNKNOWN_SYMBOL, symbol)
        return inst

    @property
    def is_spot(self) -> bool:
        return self.kind is InstrumentKind.SPOT

    # ------------------------------------------------------------------ history
    def load_history(self, symbol: str, bars) -> None:  # bars: terminal.sim.history.HistoryBars
        import numpy as np

        inst = self.instrument(symbol)
        tick = float(inst.tick)
        step = float(inst.step)
        o = np.rint(bars.open / tick).astype(np.int64)
        h = np.rint(bars.high / tick).astype(np.int64)
        lo = np.rint(bars.low / tick).astype(np.int64)
        c = np.rint(bars.close / tick).astype(np.int64)
        h = np.maximum(h, np.maximum(o, c))
        lo = np.minimum(lo, np.minimum(o, c))
        vol = np.rint(bars.volume / step).astype(np.int64)
        quote = vol * step * (bars.open + bars.close) / 2
        self.candles[symbol].load(bars.open_ms.astype(np.int64), o, h, lo, c, vol, bars.trades, quote)
        if len(c):
            self.last_price[symbol] = int(c[-1])

    # ------------------------------------------------------------------ validation
    def check_filters(self, req: OrderRequest) -> None:
        """Dry-run of the venue filters alone (Binance order/test); raises SimReject."""
        self._check_filters(self.instrument(req.symbol), req)

    def _check_filters(self, inst: SimInstrument, req: OrderRequest) -> None:
        if req.qty is not None:
            if req.qty <= 0:
                raise SimReject(RejectReason.LOT_SIZE, "quantity must be positive")
            try:
                inst.lots(req.qty)
            except NotAMultipleError as exc:
                raise SimReject(RejectReason.LOT_SIZE, str(exc)) from None
            is_market = req.type in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
            max_qty = inst.market_max_qty if is_market else inst.max_qty
            if req.qty < inst.min_qty or req.qty > max_qty:
                reason = (
                    RejectReason.MARKET_LOT_SIZE if is_market and req.qty > max_qty else RejectReason.LOT_SIZE
                )
                raise SimReject(reason, f"quantity {req.qty} outside [{inst.min_qty}, {max_qty}]")
        for label, price in (("price", req.price), ("stopPrice", req.stop_price)):
            if price is None:
                continue
            if price <= 0 or price < inst.min_price or price > inst.max_price:
                raise SimReject(
                    RejectReason.PRICE_FILTER, f"{label} {price} outside [{inst.min_price}, {inst.max_price}]"
                )
            try:
                inst.ticks(price)
            except NotAMultipleError as exc:
                raise SimReject(RejectReason.PRICE_FILTER, f"{label}: {exc}") from None
        # notional: limit price, else trigger price, else the current price
        ref = req.price or req.stop_price or inst.price(self.last_price[inst.symbol])
        if req.qty is not None:
            notional = req.qty * ref
        elif req.quote_qty is not None:
            notional = req.quote_qty
        else:
            raise SimReject(RejectReason.INVALID_PARAMETER, "quantity or quote quantity required")
        exempt = req.reduce_only or req.close_position
        if notional < inst.min_notional and not exempt:
            raise SimReject(RejectReason.MIN_NOTIONAL, f"notional {notional} below {inst.min_notional}")
        if notional > inst.max_notional:
            raise SimReject(RejectReason.MAX_NOTIONAL, f"notional {notional} above {inst.max_notional}")

    def _trigger_direction(self, req: OrderRequest) -> TriggerDirection:
        if req.trigger_direction is not None:
            return req.trigger_direction
        stop_like = req.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP_MARKET)
        # A buy stop fires on a rise, a sell stop on a fall; take-profits the other way round.
        if req.side is Side.BUY:
            return TriggerDirection.RISE if stop_like else TriggerDirection.FALL
        return TriggerDirection.FALL if stop_like else TriggerDirection.RISE

    @staticmethod
    def _triggered(direction: TriggerDirection, stop_ticks: int, last: int) -> bool:
        return last >= stop_ticks if direction is TriggerDirection.RISE else last <= stop_ticks

    # ------------------------------------------------------------------ user actions
    def submit(self, account_id: str, req: OrderRequest) -> SimOrder:
        """Accept, execute and/or rest an order; raise SimReject (changing nothing) if refused."""
        inst = self.instrument(req.symbol)
        acct = self.accounts.get(account_id)
        self._validate(acct, inst, req)
        order = self._new_order(account_id, req)
        lock = self._reserve(acct, inst, order)  # raises before anything changed
        self._register(order, lock)
        if req.type.is_conditional:
            order.status = OrderStatus.UNTRIGGERED
            self._triggers[inst.symbol][order.order_id] = order
            self._emit(OrderEvent(account_id, order, ExecType.NEW, order.created_ms))
            if lock is not None:
                self._emit_balances(acct, inst, "ORDER")
            return order
        self._emit(OrderEvent(account_id, order, ExecType.NEW, order.created_ms))
        if lock is not None:
            self._emit_balances(acct, inst, "ORDER")
        self._work(order, acct, inst)
        self._check_triggers(inst.symbol)
        return order

    def _validate(self, acct: SimAccount, inst: SimInstrument, req: OrderRequest) -> None:
        if req.type.has_limit_price and req.price is None:
            raise SimReject(RejectReason.INVALID_PARAMETER, "price required")
        if req.type.is_conditional and req.stop_price is None and not req.close_position:
            raise SimReject(RejectReason.INVALID_PARAMETER, "stop price required")
        if req.close_position and self.is_spot:
            raise SimReject(RejectReason.INVALID_PARAMETER, "closePosition is for derivatives")
        if req.quote_qty is not None and (req.type is not OrderType.MARKET or not self.is_spot):
            raise SimReject(RejectReason.INVALID_PARAMETER, "quote quantity only for spot market orders")
        if not (req.close_position and req.qty is None):  # closePosition: qty decided at trigger time
            self._check_filters(inst, req)
        if req.client_id:
            key = (acct.account_id, inst.symbol, req.client_id)
            oid = self._by_client.get(key)
            if oid is not None and self.orders[oid].status.is_open:
                raise SimReject(RejectReason.DUPLICATE_CLIENT_ID, req.client_id)
        if not self.is_spot:
            if acct.hedge_mode and req.position_side is PositionSide.BOTH:
                raise SimReject(RejectReason.POSITION_SIDE_MISMATCH, "hedge mode needs LONG or SHORT")
            if not acct.hedge_mode and req.position_side is not PositionSide.BOTH:
                raise SimReject(RejectReason.POSITION_SIDE_MISMATCH, "one-way mode takes BOTH")
            if req.reduce_only and acct.hedge_mode:
                raise SimReject(RejectReason.INVALID_PARAMETER, "reduceOnly is not sent in hedge mode")
            closing = req.reduce_only or self._closes_hedge_leg(req)
            if closing and not req.type.is_conditional and self._reducible(acct, req) <= 0:
                raise SimReject(RejectReason.REDUCE_ONLY_REJECTED, "no position to reduce")
        if req.type.is_conditional and req.stop_price is not None:
            stop = inst.ticks(req.stop_price)
            if self._triggered(self._trigger_direction(req), stop, self.last_price[inst.symbol]):
                raise SimReject(
                    RejectReason.WOULD_TRIGGER_IMMEDIATELY, f"last {inst.price(self.last_price[inst.symbol])}"
                )
        post_only = req.tif is TimeInForce.POST_ONLY and req.type is OrderType.LIMIT
        if post_only and self.books[inst.symbol].would_take(req.side is Side.BUY, inst.ticks(req.price)):
            raise SimReject(RejectReason.POST_ONLY_WOULD_TAKE, "post-only order would take liquidity")

    @staticmethod
    def _closes_hedge_leg(req: OrderRequest | SimOrder) -> bool:
        return (req.position_side is PositionSide.LONG and req.side is Side.SELL) or (
            req.position_side is PositionSide.SHORT and req.side is Side.BUY
        )

    def _reducible(self, acct: SimAccount, req: OrderRequest | SimOrder) -> Decimal:
        """Quantity of an existing position this request or order could close."""
        pos = acct.positions.get((req.symbol, req.position_side))
        if pos is None or pos.qty == 0:
            return ZERO
        if req.side is Side.BUY and pos.qty < 0:
            return -pos.qty
        if req.side is Side.SELL and pos.qty > 0:
            return pos.qty
        return ZERO

    def _new_order(self, account_id: str, req: OrderRequest) -> SimOrder:
        now = self.now_ms()
        self._next_oid += 1
        return SimOrder(
            order_id=self._next_oid,
            account_id=account_id,
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            tif=req.tif,
            qty=req.qty if req.qty is not None else ZERO,
            price=req.price or ZERO,
            stop_price=req.stop_price or ZERO,
            client_id=req.client_id or f"sim-{self._next_oid}",
            created_ms=now,
            updated_ms=now,
            quote_qty=req.quote_qty or ZERO,
            reduce_only=req.reduce_only,
            close_position=req.close_position,
            position_side=req.position_side,
            trigger_direction=self._trigger_direction(req) if req.type.is_conditional else None,
            list_id=req.list_id,
            working_ms=now,
        )

    def _register(self, order: SimOrder, lock: _Lock | None) -> None:
        self.orders[order.order_id] = order
        self._open.setdefault(order.account_id, {})[order.order_id] = order
        self._by_client[(order.account_id, order.symbol, order.client_id)] = order.order_id
        if lock is not None:
            self._locks[order.order_id] = lock

    # ---- funds -----------------------------------------------------------
    def _lock_price(self, inst: SimInstrument, order: SimOrder) -> Decimal:
        if order.price:
            return order.price
        if order.stop_price:
            return order.stop_price
        return inst.price(self.last_price[inst.symbol])

    def _reserve(self, acct: SimAccount, inst: SimInstrument, order: SimOrder) -> _Lock | None:
        """Check funds (raise if short) and lock what a resting spot order holds."""
        if not self.is_spot:
            self._check_margin(acct, inst, order)
            return None
        book = self.books[inst.symbol]
        if order.type is OrderType.MARKET:
            if order.side is Side.BUY:
                quote = acct.balance(inst.quote).free
                if order.quote_qty:
                    if order.quote_qty > quote:
                        raise SimReject(RejectReason.INSUFFICIENT_BALANCE, f"{inst.quote} free {quote}")
                else:
                    got, cost = book.cost_ticks_lots(True, inst.lots(order.qty))
                    if got == 0:
                        raise SimReject(RejectReason.NO_LIQUIDITY, "no asks")
                    if cost * inst.tick * inst.step > quote:
                        raise SimReject(RejectReason.INSUFFICIENT_BALANCE, f"{inst.quote} free {quote}")
            elif order.qty > acct.balance(inst.base).free:
                raise SimReject(
                    RejectReason.INSUFFICIENT_BALANCE, f"{inst.base} free {acct.balance(inst.base).free}"
                )
            return None
        if order.side is Side.BUY:
            asset, amount = inst.quote, order.qty * self._lock_price(inst, order)
        else:
            asset, amount = inst.base, order.qty
        bal = acct.balance(asset)
        if amount > bal.free:
            raise SimReject(RejectReason.INSUFFICIENT_BALANCE, f"{asset} free {bal.free} < {amount}")
        bal.free -= amount
        bal.locked += amount
        return _Lock(asset, amount)

    def _release(self, order: SimOrder) -> None:
        lock = self._locks.pop(order.order_id, None)
        if lock is None:
            return
        lock.owners -= 1
        if lock.owners > 0:
            return  # the other OCO leg still holds it
        bal = self.accounts.get(order.account_id).balance(lock.asset)
        bal.locked -= lock.amount
        bal.free += lock.amount
        lock.amount = ZERO

    def _check_margin(self, acct: SimAccount, inst: SimInstrument, order: SimOrder) -> None:
        if order.reduce_only or order.close_position or order.type.is_conditional:
            return
        opening = order.qty - min(order.qty, self._reducible(acct, order))
        if opening <= 0:
            return
        price = self._lock_price(inst, order)
        if order.type is OrderType.MARKET:
            book = self.books[inst.symbol]
            lots = inst.lots(order.qty)
            got, cost = book.cost_ticks_lots(order.side is Side.BUY, lots)
            if got:
                price = cost * inst.tick / got  # average fill price
        needed = opening * price / acct.leverage_of(inst.symbol)
        available = self.available_balance(acct, inst.quote)
        if needed > available:
            raise SimReject(
                RejectReason.MARGIN_INSUFFICIENT, f"needs {q8(needed)}, available {q8(available)}"
            )

    # ---- working an order -------------------------------------------------
    def _work(self, order: SimOrder, acct: SimAccount, inst: SimInstrument) -> None:
        """Match a (triggered or new) order as taker, then rest or expire the remainder."""
        book = self.books[inst.symbol]
        is_bid = order.side is Side.BUY
        market_like = order.type in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
        limit = None if market_like else inst.ticks(order.price)
        if order.close_position and order.qty == 0:
            order.qty = self._reducible(acct, order)
        want = inst.lots(order.remaining) if order.qty else 0
        if not self.is_spot and (order.reduce_only or order.close_position or self._closes_hedge_leg(order)):
            want = min(want, inst.lots_down(self._reducible(acct, order)))
        if order.tif is TimeInForce.FOK and book.fillable_lots(is_bid, limit, want) < want:
            self._finish(order, OrderStatus.EXPIRED, ExecType.EXPIRED)
            return
        if order.quote_qty and not order.qty:
            tl = int(order.quote_qty / (inst.tick * inst.step))
            want = book.walk_quote(is_bid, tl)
            order.qty = inst.qty(want)
        self._taker_seq += 1
        fills = book.match(is_bid, limit, want) if want > 0 else []
        for fill in fills:
            self._settle(fill, order, inst)
        if order.status.is_terminal:
            return
        if order.remaining > 0:
            rest = (
                order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT)
                and order.tif in (TimeInForce.GTC, TimeInForce.POST_ONLY)
                and not (order.reduce_only and want < inst.lots(order.remaining))
            )
            if rest:
                book.add(RestingOrder(order.order_id, is_bid, limit, inst.lots(order.remaining), order))
            else:
                self._finish(order, OrderStatus.EXPIRED, ExecType.EXPIRED)
        elif order.qty == 0:
            self._finish(order, OrderStatus.EXPIRED, ExecType.EXPIRED)

    def _settle(self, fill: MakerFill, taker: SimOrder | None, inst: SimInstrument) -> None:
        """Record one maker/taker match: trade event, candles, both sides' accounts."""
        symbol = inst.symbol
        now = self.now_ms()
        self._next_trade[symbol] += 1
        trade_id = self._next_trade[symbol]
        taker_side = Side.SELL if fill.maker.is_bid else Side.BUY
        trade = TradeEvent(
            symbol,
            trade_id,
            fill.price,
            fill.lots,
            taker_side,
            now,
            maker_order_id=fill.maker.oid,
            taker_order_id=taker.order_id if taker else 0,
            taker_seq=self._taker_seq,
        )
        self.trades[symbol].append(trade)
        self.last_price[symbol] = fill.price
        self.last_qty[symbol] = fill.lots
        self.candles[symbol].on_trade(now, fill.price, fill.lots, taker_side is Side.BUY)
        self._emit(trade)
        price = inst.price(fill.price)
        qty = inst.qty(fill.lots)
        maker_order = fill.maker.owner
        if isinstance(maker_order, SimOrder):
            self._apply_fill(maker_order, inst, price, qty, trade_id, is_maker=True, ts=now)
        if taker is not None:
            self._apply_fill(taker, inst, price, qty, trade_id, is_maker=False, ts=now)

    def _apply_fill(
        self,
        order: SimOrder,
        inst: SimInstrument,
        price: Decimal,
        qty: Decimal,
        trade_id: int,
        is_maker: bool,
        ts: int,
    ) -> None:
        acct = self.accounts.get(order.account_id)
        rate = self.fees.maker if is_maker else self.fees.taker
        notional = price * qty
        realized = ZERO
        positions: tuple[PositionSnapshot, ...] = ()
        if self.is_spot:
            lock = self._locks.get(order.order_id)
            if order.side is Side.BUY:
                fee, fee_asset = q8(qty * rate), inst.base
                quote = acct.balance(inst.quote)
                if lock is not None:
                    consume = min(lock.amount, qty * self._lock_price(inst, order))
                    lock.amount -= consume
                    quote.locked -= consume
                    quote.free += consume - notional
                else:
                    quote.free -= notional
                acct.balance(inst.base).free += qty - fee
            else:
                fee, fee_asset = q8(notional * rate), inst.quote
                base = acct.balance(inst.base)
                if lock is not None:
                    consume = min(lock.amount, qty)
                    lock.amount -= consume
                    base.locked -= consume
                    base.free -= qty - consume
                else:
                    base.free -= qty
                acct.balance(inst.quote).free += notional - fee
            changed = (inst.base, inst.quote)
        else:
            fee, fee_asset = q8(notional * rate), inst.quote
            realized = self._apply_position_fill(acct, inst, order, price, qty, ts)
            acct.balance(inst.quote).free += realized - fee
            changed = (inst.quote,)
            positions = tuple(self._snapshots(acct, inst.symbol, only_side=order.position_side))
        order.filled_qty += qty
        order.filled_quote += notional
        order.fee_total += fee
        order.fee_asset = fee_asset
        order.updated_ms = ts
        done = order.remaining <= 0
        order.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        self._fills.setdefault(order.account_id, []).append(
            FillRecord(
                trade_id,
                order.order_id,
                order.client_id,
                order.symbol,
                order.side,
                price,
                qty,
                notional,
                fee,
                fee_asset,
                is_maker,
                realized,
                ts,
                order.position_side,
                order.type,
            )
        )
        if done:
            self._close_open(order)
        self._emit(
            OrderEvent(
                order.account_id,
                order,
                ExecType.TRADE,
                ts,
                qty,
                price,
                fee,
                fee_asset,
                trade_id,
                is_maker,
                realized,
            )
        )
        self._emit(
            AccountEvent(order.account_id, self._balance_changes(acct, changed), positions, "ORDER", ts)
        )
        if order.list_id >= 0:
            self._oco_leg_executed(order)

    def _apply_position_fill(
        self, acct: SimAccount, inst: SimInstrument, order: SimOrder, price: Decimal, qty: Decimal, ts: int
    ) -> Decimal:
        pos = acct.position(inst.symbol, order.position_side)
        signed = qty if order.side is Side.BUY else -qty
        q, entry = pos.qty, pos.entry_price
        lev = acct.leverage_of(inst.symbol)
        isolated = acct.margin_mode_of(inst.symbol) is MarginMode.ISOLATED
        realized = ZERO
        if q == 0 or (q > 0) == (signed > 0):
            new_q = q + signed
            pos.entry_price = (abs(q) * entry + qty * price) / abs(new_q)
            if isolated:
                pos.isolated_margin += qty * price / lev
        else:
            closing = min(qty, abs(q))
            sign = 1 if q > 0 else -1
            realized = q8(closing * (price - entry) * sign)
            new_q = q + signed
            if isolated and q != 0:
                pos.isolated_margin -= pos.isolated_margin * closing / abs(q)
            if new_q == 0:
                pos.entry_price = ZERO
                pos.isolated_margin = ZERO
            elif (new_q > 0) != (q > 0):  # flipped through zero
                pos.entry_price = price
                pos.isolated_margin = abs(new_q) * price / lev if isolated else ZERO
        pos.qty = new_q
        pos.realized_pnl += realized
        pos.updated_ms = ts
        return realized

    def _finish(self, order: SimOrder, status: OrderStatus, exec_type: ExecType) -> None:
        order.status = status
        order.updated_ms = self.now_ms()
        acct = self.accounts.get(order.account_id)
        inst = self.instruments[order.symbol]
        had_lock = order.order_id in self._locks
        self._close_open(order)
        self._emit(OrderEvent(order.account_id, order, exec_type, order.updated_ms))
        if had_lock:
            self._emit_balances(acct, inst, "ORDER")

    def _close_open(self, order: SimOrder) -> None:
        self._open.get(order.account_id, {}).pop(order.order_id, None)
        self._triggers[order.symbol].pop(order.order_id, None)
        self._release(order)

    # ---- triggers -----------------------------------------------------------
    def _check_triggers(self, symbol: str) -> None:
        if self._checking_triggers or not self._triggers[symbol]:
            return
        self._checking_triggers = True
        try:
            inst = self.instruments[symbol]
            fired = True
            while fired:
                fired = False
                last = self.last_price[symbol]
                for order in list(self._triggers[symbol].values()):
                    if order.order_id not in self._triggers[symbol]:
                        continue
                    stop = inst.ticks(order.stop_price) if order.stop_price else last
                    if self._triggered(order.trigger_direction, stop, last):
                        self._fire(order, inst)
                        fired = True
                        break  # the book moved: re-read last price
        finally:
            self._checking_triggers = False

    def _fire(self, order: SimOrder, inst: SimInstrument) -> None:
        self._triggers[inst.symbol].pop(order.order_id, None)
        acct = self.accounts.get(order.account_id)
        order.triggered = True
        order.status = OrderStatus.NEW
        order.working_ms = order.updated_ms = self.now_ms()
        self._emit(OrderEvent(order.account_id, order, ExecType.TRIGGERED, order.updated_ms))
        if order.list_id >= 0:
            self._oco_leg_executed(order)
        if order.status.is_terminal:
            return
        closing = not self.is_spot and (order.reduce_only or order.close_position)
        if closing and self._reducible(acct, order) <= 0:
            self._finish(order, OrderStatus.EXPIRED, ExecType.EXPIRED)
            return
        self._work(order, acct, inst)

    # ---- OCO ------------------------------------------------------------------
    def submit_oco(
        self,
        account_id: str,
        symbol: str,
        side: Side,
        qty: Decimal,
        limit_price: Decimal,
        stop_price: Decimal,
        stop_limit_price: Decimal | None,
        client_list_id: str = "",
        limit_client_id: str = "",
        stop_client_id: str = "",
    ) -> OrderList:
        """Binance spot OCO: a LIMIT_MAKER leg and a STOP_LOSS(_LIMIT) leg sharing one lock."""
        inst = self.instrument(symbol)
        acct = self.accounts.get(account_id)
        last = self.last_price[symbol]
        stop_type = OrderType.STOP_LIMIT if stop_limit_price is not None else OrderType.STOP_MARKET
        limit_req = OrderRequest(
            symbol,
            side,
            OrderType.LIMIT,
            qty,
            price=limit_price,
            tif=TimeInForce.POST_ONLY,
            client_id=limit_client_id,
        )
        stop_req = OrderRequest(
            symbol,
            side,
            stop_type,
            qty,
            price=stop_limit_price,
            stop_price=stop_price,
            client_id=stop_client_id,
        )
        self._validate(acct, inst, limit_req)
        self._validate(acct, inst, stop_req)
        lim_t, stop_t = inst.ticks(limit_price), inst.ticks(stop_price)
        # Binance's price relation rule: sell: limit > last > stop; buy: limit < last < stop.
        ok = (lim_t > last > stop_t) if side is Side.SELL else (lim_t < last < stop_t)
        if not ok:
            raise SimReject(
                RejectReason.INVALID_PARAMETER,
                "The relationship of the prices for the orders is not correct.",
            )
        self._next_list += 1
        order_list = OrderList(
            self._next_list,
            account_id,
            symbol,
            client_list_id or f"oco-{self._next_list}",
            created_ms=self.now_ms(),
        )
        limit_req.list_id = stop_req.list_id = order_list.list_id
        limit_order = self._new_order(account_id, limit_req)
        lock = self._reserve(acct, inst, limit_order)
        stop_order = self._new_order(account_id, stop_req)
        if lock is not None and side is Side.BUY:
            # a buy OCO must afford the dearer leg
            extra = qty * max(stop_limit_price or stop_price, limit_price) - lock.amount
            if extra > 0:
                bal = acct.balance(lock.asset)
                if extra > bal.free:
                    bal.free += lock.amount
                    bal.locked -= lock.amount
                    raise SimReject(RejectReason.INSUFFICIENT_BALANCE, f"{lock.asset} free {bal.free}")
                bal.free -= extra
                bal.locked += extra
                lock.amount += extra
        self._register(limit_order, lock)
        self._register(stop_order, lock)
        if lock is not None:
            lock.owners = 2
        stop_order.status = OrderStatus.UNTRIGGERED
        self._triggers[symbol][stop_order.order_id] = stop_order
        order_list.order_ids = [stop_order.order_id, limit_order.order_id]
        self.lists[order_list.list_id] = order_list
        now = self.now_ms()
        self._emit(OrderListEvent(account_id, order_list, now))
        self._emit(OrderEvent(account_id, stop_order, ExecType.NEW, now))
        self._emit(OrderEvent(account_id, limit_order, ExecType.NEW, now))
        self._emit_balances(acct, inst, "ORDER")
        self.books[symbol].add(
            RestingOrder(limit_order.order_id, side is Side.BUY, lim_t, inst.lots(qty), limit_order)
        )
        return order_list

    def _oco_leg_executed(self, order: SimOrder) -> None:
        """First fill or trigger of one leg cancels the other leg (Binance OCO semantics)."""
        order_list = self.lists.get(order.list_id)
        if order_list is None or order_list.status == "ALL_DONE":
            return
        for oid in order_list.order_ids:
            other = self.orders[oid]
            if oid != order.order_id and other.status.is_open:
                self.books[other.symbol].remove(oid)
                self._finish(other, OrderStatus.EXPIRED, ExecType.EXPIRED)
        order_list.status = "ALL_DONE"
        self._emit(OrderListEvent(order.account_id, order_list, self.now_ms()))

    # ---- cancel / amend / queries ----------------------------------------------
    def _find(self, account_id: str, symbol: str, order_id: int | None, client_id: str | None) -> SimOrder:
        self.instrument(symbol)
        oid = order_id
        if oid is None and client_id:
            oid = self._by_client.get((account_id, symbol, client_id))
        order = self.orders.get(oid) if oid is not None else None
        if order is None or order.account_id != account_id or order.symbol != symbol:
            raise SimReject(RejectReason.UNKNOWN_ORDER, f"order {order_id or client_id}")
        return order

    def cancel(
        self, account_id: str, symbol: str, order_id: int | None = None, client_id: str | None = None
    ) -> SimOrder:
        order = self._find(account_id, symbol, order_id, client_id)
        if not order.status.is_open:
            raise SimReject(RejectReason.UNKNOWN_ORDER, f"order {order.order_id} is {order.status}")
        if order.list_id >= 0:
            # cancelling one leg cancels the whole list
            order_list = self.lists[order.list_id]
            for oid in order_list.order_ids:
                leg = self.orders[oid]
                if leg.status.is_open:
                    self.books[symbol].remove(oid)
                    self._finish(leg, OrderStatus.CANCELED, ExecType.CANCELED)
            order_list.status = "ALL_DONE"
            self._emit(OrderListEvent(account_id, order_list, self.now_ms()))
            return order
        self.books[symbol].remove(order.order_id)
        self._finish(order, OrderStatus.CANCELED, ExecType.CANCELED)
        return order

    def cancel_all(self, account_id: str, symbol: str | None = None) -> list[SimOrder]:
        if symbol is not None:
            self.instrument(symbol)
        out = []
        for order in list(self._open.get(account_id, {}).values()):
            if (symbol is None or order.symbol == symbol) and order.status.is_open:
                self.cancel(account_id, order.symbol, order.order_id)
                out.append(order)
        return out

    def amend(
        self,
        account_id: str,
        symbol: str,
        order_id: int | None = None,
        client_id: str | None = None,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> SimOrder:
        order = self._find(account_id, symbol, order_id, client_id)
        if not order.status.is_open:
            raise SimReject(RejectReason.UNKNOWN_ORDER, f"order {order.order_id} is {order.status}")
        inst = self.instruments[symbol]
        acct = self.accounts.get(account_id)
        new_qty = qty if qty is not None else order.qty
        new_price = price if price is not None else (order.price or None)
        new_stop = stop_price if stop_price is not None else (order.stop_price or None)
        probe = OrderRequest(
            symbol,
            order.side,
            order.type,
            new_qty,
            price=new_price,
            stop_price=new_stop,
            tif=order.tif,
            reduce_only=order.reduce_only,
            position_side=order.position_side,
        )
        self._check_filters(inst, probe)
        if new_qty <= order.filled_qty:
            raise SimReject(RejectReason.LOT_SIZE, "new quantity not above the filled quantity")
        untriggered = order.status is OrderStatus.UNTRIGGERED
        if (
            untriggered
            and new_stop is not None
            and self._triggered(order.trigger_direction, inst.ticks(new_stop), self.last_price[symbol])
        ):
            raise SimReject(RejectReason.WOULD_TRIGGER_IMMEDIATELY, "new trigger price")
        if (
            order.tif is TimeInForce.POST_ONLY
            and new_price is not None
            and order.status is not OrderStatus.UNTRIGGERED
        ):
            book = self.books[symbol]
            resting = book.orders.get(order.order_id)
            moved = resting is None or inst.ticks(new_price) != resting.price
            if moved and book.would_take(order.side is Side.BUY, inst.ticks(new_price)):
                raise SimReject(RejectReason.POST_ONLY_WOULD_TAKE, "amended price would take")
        # spot: re-size the lock first so a refusal changes nothing
        lock = self._locks.get(order.order_id)
        if lock is not None and order.list_id < 0:
            left = new_qty - order.filled_qty
            need = left * (new_price or self._lock_price(inst, order)) if order.side is Side.BUY else left
            bal = acct.balance(lock.asset)
            delta = need - lock.amount
            if delta > bal.free:
                raise SimReject(RejectReason.INSUFFICIENT_BALANCE, f"{lock.asset} free {bal.free}")
            bal.free -= delta
            bal.locked += delta
            lock.amount = need
        book = self.books[symbol]
        resting = book.orders.get(order.order_id)
        keep_priority = (
            resting is not None
            and (new_price is None or inst.ticks(new_price) == resting.price)
            and new_qty < order.qty
        )
        order.qty = new_qty
        if new_price is not None:
            order.price = new_price
        if new_stop is not None:
            order.stop_price = new_stop
        order.updated_ms = self.now_ms()
        if resting is not None:
            if keep_priority:
                book.reduce(order.order_id, inst.lots(order.remaining))
            else:
                book.remove(order.order_id)
        self._emit(OrderEvent(account_id, order, ExecType.AMENDED, order.updated_ms))
        if lock is not None:
            self._emit_balances(acct, inst, "ORDER")
        if resting is not None and not keep_priority:
            self._work(order, acct, inst)
        self._check_triggers(symbol)
        return order

    def get_order(
        self, account_id: str, symbol: str, order_id: int | None = None, client_id: str | None = None
    ) -> SimOrder:
        return self._find(account_id, symbol, order_id, client_id)

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[SimOrder]:
        if symbol is not None:
            self.instrument(symbol)
        return [o for o in self._open.get(account_id, {}).values() if symbol is None or o.symbol == symbol]

    def all_orders(self, account_id: str, symbol: str | None = None) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if o.account_id == account_id and (symbol is None or o.symbol == symbol)
        ]

    def order_lists(self, account_id: str) -> list[OrderList]:
        return [x for x in self.lists.values() if x.account_id == account_id]

    def fills(self, account_id: str, symbol: str | None = None) -> list[FillRecord]:
        return [f for f in self._fills.get(account_id, []) if symbol is None or f.symbol == symbol]

    def deposit(self, account_id: str, asset: str, amount: Decimal) -> None:
        """Credit (or debit, if negative) a balance from outside trading (Binance balanceUpdate)."""
        acct = self.accounts.get(account_id)
        bal = acct.balance(asset)
        if bal.free + amount < 0:
            raise SimReject(RejectReason.INSUFFICIENT_BALANCE, f"{asset} free {bal.free}")
        bal.free += amount
        now = self.now_ms()
        self._emit(BalanceDeltaEvent(account_id, asset, amount, now))
        self._emit(AccountEvent(account_id, self._balance_changes(acct, (asset,)), (), "DEPOSIT", now))

    # ------------------------------------------------------------------ derivatives
    def _require_derivatives(self) -> None:
        if self.is_spot:
            raise SimReject(RejectReason.INVALID_PARAMETER, "not a derivatives market")

    def _has_open(self, acct: SimAccount, symbol: str | None) -> bool:
        orders = any(
            symbol is None or o.symbol == symbol for o in self._open.get(acct.account_id, {}).values()
        )
        positions = any(
            p.qty != 0 and (symbol is None or p.symbol == symbol) for p in acct.positions.values()
        )
        return orders or positions

    def set_leverage(self, account_id: str, symbol: str, leverage: int) -> None:
        self._require_derivatives()
        self.instrument(symbol)
        if not 1 <= leverage <= 125:
            raise SimReject(RejectReason.INVALID_PARAMETER, f"leverage {leverage}")
        acct = self.accounts.get(account_id)
        acct.leverage[symbol] = leverage
        for pos in acct.positions.values():
            if pos.symbol == symbol and pos.qty != 0 and acct.margin_mode_of(symbol) is MarginMode.ISOLATED:
                pos.isolated_margin = max(pos.isolated_margin, abs(pos.qty) * pos.entry_price / leverage)

    def set_margin_mode(self, account_id: str, symbol: str, mode: MarginMode) -> None:
        self._require_derivatives()
        self.instrument(symbol)
        acct = self.accounts.get(account_id)
        if self._has_open(acct, symbol):
            raise SimReject(RejectReason.MODE_CHANGE_WITH_OPEN, "open orders or position")
        acct.margin_mode[symbol] = mode

    def set_hedge_mode(self, account_id: str, hedge: bool) -> None:
        self._require_derivatives()
        acct = self.accounts.get(account_id)
        if self._has_open(acct, None):
            raise SimReject(RejectReason.MODE_CHANGE_WITH_OPEN, "open orders or positions")
        acct.hedge_mode = hedge

    def mark_price(self, symbol: str) -> Decimal:
        inst = self.instrument(symbol)
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return inst.price((bid + ask) // 2)
        return inst.price(self.last_price[symbol])

    def index_price(self, symbol: str) -> Decimal:
        return self.mark_price(symbol)

    def funding_rate(self, symbol: str) -> Decimal:
        return self.funding_rates[symbol]

    def next_funding_ms(self) -> int:
        now = self.now_ms()
        return (now // self.funding_interval_ms + 1) * self.funding_interval_ms

    def available_balance(self, acct: SimAccount, asset: str) -> Decimal:
        """Free quote + cross unrealised PnL - margin held by positions and open orders."""
        free = acct.balance(asset).free
        if self.is_spot:
            return free
        upnl = ZERO
        held = ZERO
        for pos in acct.positions.values():
            if pos.qty == 0 or pos.symbol not in self.instruments:
                continue
            mark = self.mark_price(pos.symbol)
            lev = acct.leverage_of(pos.symbol)
            if acct.margin_mode_of(pos.symbol) is MarginMode.ISOLATED:
                held += pos.isolated_margin
            else:
                upnl += pos.qty * (mark - pos.entry_price)
                held += abs(pos.qty) * mark / lev
        for order in self._open.get(acct.account_id, {}).values():
            if order.symbol in self.instruments and not (order.reduce_only or order.type.is_conditional):
                held += (
                    order.remaining
                    * (order.price or self.mark_price(order.symbol))
                    / acct.leverage_of(order.symbol)
                )
        return free + upnl - held

    def position_snapshot(self, acct: SimAccount, pos: Position) -> PositionSnapshot:
        mark = self.mark_price(pos.symbol)
        lev = acct.leverage_of(pos.symbol)
        isolated = acct.margin_mode_of(pos.symbol) is MarginMode.ISOLATED
        q = pos.qty
        mmr = self.fees.maintenance_margin_rate
        upnl = q * (mark - pos.entry_price) if q else ZERO
        liq = ZERO
        if q != 0:
            wallet = (
                pos.isolated_margin if isolated else acct.balance(self.instruments[pos.symbol].quote).total
            )
            denom = q - abs(q) * mmr
            if denom != 0:
                liq = max(ZERO, (q * pos.entry_price - wallet) / denom)
        inst = self.instruments[pos.symbol]
        return PositionSnapshot(
            symbol=pos.symbol,
            position_side=pos.side,
            qty=q,
            entry_price=pos.entry_price,
            mark_price=mark,
            unrealized_pnl=q8(upnl),
            realized_pnl=pos.realized_pnl,
            leverage=lev,
            isolated=isolated,
            isolated_margin=q8(pos.isolated_margin),
            liquidation_price=inst.price(int((liq / inst.tick).to_integral_value())) if liq else ZERO,
            initial_margin=q8(abs(q) * mark / lev),
            maintenance_margin=q8(abs(q) * mark * mmr),
            updated_ms=pos.updated_ms,
        )

    def _snapshots(
        self, acct: SimAccount, symbol: str, only_side: PositionSide | None = None
    ) -> list[PositionSnapshot]:
        out = []
        for (sym, side), pos in acct.positions.items():
            if sym == symbol and (only_side is None or side is only_side):
                out.append(self.position_snapshot(acct, pos))
        return out

    def positions(self, account_id: str, symbol: str | None = None) -> list[PositionSnapshot]:
        """Every symbol's position(s) (zero ones included, as positionRisk lists them)."""
        self._require_derivatives()
        acct = self.accounts.get(account_id)
        symbols = [symbol] if symbol else list(self.instruments)
        out: list[PositionSnapshot] = []
        for sym in symbols:
            self.instrument(sym)
            sides = (PositionSide.LONG, PositionSide.SHORT) if acct.hedge_mode else (PositionSide.BOTH,)
            for side in sides:
                out.append(self.position_snapshot(acct, acct.position(sym, side)))
        return out

    # ------------------------------------------------------------------ events
    def _balance_changes(self, acct: SimAccount, assets) -> tuple[BalanceChange, ...]:
        out = []
        for asset in assets:
            bal: Balance = acct.balance(asset)
            out.append(BalanceChange(asset, bal.free, bal.locked))
        return tuple(out)

    def _emit_balances(self, acct: SimAccount, inst: SimInstrument, reason: str) -> None:
        assets = (inst.base, inst.quote) if self.is_spot else (inst.quote,)
        self._emit(
            AccountEvent(acct.account_id, self._balance_changes(acct, assets), (), reason, self.now_ms())
        )

    # ------------------------------------------------------------------ market data
    def depth(self, symbol: str, limit: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        self.instrument(symbol)
        book = self.books[symbol]
        bids, asks = book.depth(limit)
        return book.update_id, bids, asks

    def changes_since(self, symbol: str, update_id: int) -> list[tuple[int, bool, int, int]] | None:
        return self.books[symbol].changes_since(update_id)

    def recent_trades(self, symbol: str, limit: int = 500) -> list[TradeEvent]:
        self.instrument(symbol)
        trades = self.trades[symbol]
        return list(trades)[-limit:] if limit < len(trades) else list(trades)

    def klines(
        self, symbol: str, interval_ms: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[Kline]:
        self.instrument(symbol)
        return self.candles[symbol].query(interval_ms, start_ms, end_ms, limit, self.now_ms())

    def current_kline(self, symbol: str, interval_ms: int) -> Kline:
        self.instrument(symbol)
        return self.candles[symbol].current(interval_ms, self.now_ms())

    def roll_klines(self) -> None:
        """Close finished minutes even when nothing traded (called by publishers each second)."""
        now = self.now_ms()
        for series in self.candles.values():
            series.roll(now)

    def ticker_24h(self, symbol: str) -> Ticker24h:
        inst = self.instrument(symbol)
        now = self.now_ms()
        start = now - 86_400_000
        window = self.candles[symbol].window(start // MINUTE_MS * MINUTE_MS, now)
        last = self.last_price[symbol]
        if window is None:
            o = h = lo = last
            v = nt = 0
            quote = 0.0
        else:
            o, h, lo, _close, v, quote, nt = window
        book = self.books[symbol]
        bid = book.best_bid_level() or (0, 0)
        ask = book.best_ask_level() or (0, 0)
        last_id = self._next_trade[symbol]
        vol = inst.qty(v)
        wavg = q8(Decimal(f"{quote:.8f}") / vol) if v else inst.price(last)
        return Ticker24h(
            symbol,
            o,
            h,
            lo,
            last,
            self.last_qty[symbol],
            v,
            Decimal(f"{quote:.8f}"),
            start,
            now,
            max(0, last_id - nt + 1),
            last_id,
            nt,
            bid[0],
            bid[1],
            ask[0],
            ask[1],
            wavg,
        )

    def last_price_ticks(self, symbol: str) -> int:
        self.instrument(symbol)
        return self.last_price[symbol]

    # ------------------------------------------------------------------ generator fast path
    def mm_add(self, symbol: str, side: Side, price_ticks: int, lots: int) -> int:
        """Add generator liquidity. A marketable price takes first, like any limit order."""
        book = self.books[symbol]
        is_bid = side is Side.BUY
        if book.would_take(is_bid, price_ticks):
            lots -= self._mm_match(symbol, is_bid, price_ticks, lots)
            if lots <= 0:
                return 0
        self._next_oid += 1
        book.add(RestingOrder(self._next_oid, is_bid, price_ticks, lots, None))
        return self._next_oid

    def mm_cancel(self, symbol: str, oid: int) -> bool:
        book = self.books[symbol]
        resting = book.orders.get(oid)
        if resting is None or resting.owner is not None:
            return False
        book.remove(oid)
        return True

    def mm_take(self, symbol: str, side: Side, lots: int, limit: int | None = None) -> int:
        """A generator market order (``limit``: no worse than this price); returns the lots filled."""
        return self._mm_match(symbol, side is Side.BUY, limit, lots)

    def mm_print(self, symbol: str, taker_side: Side, price_ticks: int, lots: int) -> None:
        """A trade print that meets no resting order (replay: the recorded book had already
        dropped the level the print consumed): tape, last price, candles and stop triggers move,
        no account and no book does."""
        inst = self.instruments[symbol]
        self._taker_seq += 1
        maker = RestingOrder(0, taker_side is Side.SELL, price_ticks, lots, None)
        self._settle(MakerFill(maker, price_ticks, lots), None, inst)
        self._check_triggers(symbol)

    def _mm_match(self, symbol: str, is_bid: bool, limit: int | None, lots: int) -> int:
        inst = self.instruments[symbol]
        self._taker_seq += 1
        fills = self.books[symbol].match(is_bid, limit, lots)
        for fill in fills:
            self._settle(fill, None, inst)
        if fills:
            self._check_triggers(symbol)
        return sum(f.lots for f in fills)

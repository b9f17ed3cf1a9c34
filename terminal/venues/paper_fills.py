"""The paper broker's matching and account core: simulated fills against a live ``LocalBook``.

Pure and synchronous (no I/O): :class:`PaperEngine` takes orders, book moves and public
trades, and emits the same typed events a venue would (``OrderReport``, ``FillEvent``,
``BalancesEvent``, ``PositionsEvent``). ``terminal.venues.paper.PaperBroker`` wires it to a
real venue's public streams.

Rules (conservative: a paper fill must have been possible on the real venue):

* Taker fills walk the book level by level and only ever fill at a price that is in the book,
  never more than the level shows. Liquidity we took is remembered per level until the venue
  changes that level, so a second order cannot take the same quantity again.
* A resting limit fills as maker at its own price when the opposite best crosses it (up to the
  crossing quantity) or when a public trade prints strictly through it (up to the trade's size;
  a print *at* our price may have filled orders queued ahead of us, so it does not count).
* Stops trigger on the last public trade price, then execute as market or limit.
* Spot: funds are locked on placement (quote incl. the worst fee for buys, base for sells);
  fees are charged in the quote asset. Derivatives (linear): one-way positions via
  ``Position.apply_fill``, initial margin ``notional / leverage`` locked in the quote asset,
  realized PnL and fees settled into it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from terminal.market.orderbook import LocalBook
from terminal.model import (
    Balance,
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionSide,
    Side,
    TimeInForce,
    Trade,
    Venue,
)
from terminal.model._dec import ZERO, to_decimal
from terminal.venues.errors import OrderNotFound, OrderRejected
from terminal.venues.events import (
    BalancesEvent,
    EventSink,
    FillEvent,
    OrderReport,
    PositionsEvent,
    ReportSource,
)

__all__ = ["PaperAccountConfig", "PaperEngine", "TakerPlan", "walk_book"]

FEE_QUANTUM = Decimal("0.00000001")  # fees rounded to 8 dp, as the venues (and the sim) do
_STOP_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
_TP_TYPES = frozenset({OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT})
_DEPLETION_MAX = 4096
SUPPORTED_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT} | _STOP_TYPES | _TP_TYPES)


@dataclass(frozen=True, slots=True)
class PaperAccountConfig:
    """Starting balances per asset, fee rates (fractions: 0.001 = 0.1 %), default leverage."""

    balances: Mapping[str, Decimal | str | int]
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    leverage: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if self.maker_fee < 0 or self.taker_fee < 0:
            raise ValueError("paper fees must not be negative (rebates are not modelled)")
        if self.leverage <= 0:
            raise ValueError(f"leverage must be positive, got {self.leverage}")


@dataclass(slots=True)
class TakerPlan:
    """What a taker order would get: (ticks, qty) per level, best first."""

    legs: list[tuple[int, Decimal]] = field(default_factory=list)

    @property
    def qty(self) -> Decimal:
        return sum((q for _, q in self.legs), ZERO)

    def notional(self, inst: Instrument) -> Decimal:
        return sum((inst.ticks_to_price(t) * q for t, q in self.legs), ZERO)


class _Depletion:
    """Quantity we already took per book level, valid until the venue republishes the level."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        # (is_ask, ticks) -> (the level's float qty when we took from it, Decimal taken)
        self.used: dict[tuple[bool, int], tuple[float, Decimal]] = {}

    def available(self, is_ask: bool, ticks: int, level_qty: float) -> Decimal:
        full = Decimal(repr(level_qty))
        seen = self.used.get((is_ask, ticks))
        if seen is None:
            return full
        if seen[0] != level_qty:  # the venue changed the level: our take is history
            del self.used[(is_ask, ticks)]
            return full
        return max(full - seen[1], ZERO)

    def take(self, is_ask: bool, ticks: int, level_qty: float, qty: Decimal) -> None:
        if len(self.used) > _DEPLETION_MAX:
            self.used.clear()  # levels we took from and never saw again: the book moved on
        prev = self.used.get((is_ask, ticks))
        used = prev[1] if prev is not None and prev[0] == level_qty else ZERO
        self.used[(is_ask, ticks)] = (level_qty, used + qty)


def walk_book(
    book: LocalBook,
    side: Side,
    qty: Decimal,
    *,
    limit_ticks: int | None = None,
    depletion: _Depletion | None = None,
) -> TakerPlan:
    """Levels a taker ``side`` order of ``qty`` would consume, best first, never past
    ``limit_ticks`` and never more than each level shows (minus what we already took)."""
    plan = TakerPlan()
    is_ask = side is Side.BUY  # a buy takes asks
    remaining = qty
    depth, start = 32, 0
    while remaining > 0:
        bids, asks = book.top_ticks(depth)
        levels = asks if is_ask else bids
        for ticks, lvl_qty in levels[start:]:
            if limit_ticks is not None and (ticks > limit_ticks if is_ask else ticks < limit_ticks):
                return plan
            avail = (
                Decimal(repr(lvl_qty)) if depletion is None else depletion.available(is_ask, ticks, lvl_qty)
            )
            if avail <= 0:
                continue
            take = min(avail, remaining)
            plan.legs.append((ticks, take))
            remaining -= take
            if remaining <= 0:
                return plan
        if len(levels) < depth:
            return plan  # the whole side is used up: a thin book
        depth, start = depth * 4, len(levels)
    return plan


@dataclass(slots=True)
class _Working:
    """An order the paper venue holds, with the funds it locked."""

    order: Order
    inst: Instrument
    seq: int
    lock_asset: str = ""
    lock_amount: Decimal = ZERO  # still locked for the unfilled part
    triggered: bool = False
    limit_ticks: int | None = None  # the limit price in book ticks (None: no limit price)


def _fee(notional: Decimal, rate: Decimal) -> Decimal:
    return (notional * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


class PaperEngine:
    """Orders, balances, positions and fills of one paper account on one venue."""

    def __init__(
        self,
        venue: Venue,
        account: PaperAccountConfig,
        emit: EventSink,
        *,
        clock_ms: Callable[[], int],
        book_of: Callable[[str], LocalBook | None],
    ) -> None:
        self.venue = venue
        self.account = account
        self._emit = emit
        self._now = clock_ms
        self._book_of = book_of
        self._free: dict[str, Decimal] = {a: to_decimal(v, a) for a, v in account.balances.items()}
        self._locked: dict[str, Decimal] = {a: ZERO for a in self._free}
        self._positions: dict[str, Position] = {}
        self._pos_margin: dict[str, Decimal] = {}
        self._leverage: dict[str, Decimal] = {}
        self._orders: dict[str, _Working] = {}  # every order ever accepted, by client id
        self._open: dict[str, dict[str, _Working]] = {}  # symbol -> client id -> open order
        self._fills: list[Fill] = []
        self._last: dict[str, Decimal] = {}  # last public trade price per symbol
        self._depletion: dict[str, _Depletion] = {}
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        # Ids stay unique across sessions: the journal dedupes fills by (venue, symbol, trade id).
        self._session = format(clock_ms(), "x")

    # ------------------------------------------------------------------ queries
    def balances(self) -> list[Balance]:
        return [Balance(a, self._free[a], self._locked.get(a, ZERO)) for a in sorted(self._free)]

    def balance(self, asset: str) -> Balance:
        return Balance(asset, self._free.get(asset, ZERO), self._locked.get(asset, ZERO))

    def positions(self) -> list[Position]:
        return [p for p in self._positions.values() if not p.is_flat]

    def position(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def fills(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        return [f for f in self._fills if f.symbol == symbol and (since_ms is None or f.ts >= since_ms)]

    def order(self, client_id: str) -> Order | None:
        w = self._orders.get(client_id)
        return None if w is None else w.order

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        groups = self._open.values() if symbol is None else [self._open.get(symbol, {})]
        return [w.order for g in groups for w in sorted(g.values(), key=lambda w: w.seq)]

    def leverage(self, symbol: str) -> Decimal:
        return self._leverage.get(symbol, self.account.leverage)

    def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        if leverage <= 0:
            raise ValueError(f"leverage must be positive, got {leverage}")
        if symbol in self._positions and not self._positions[symbol].is_flat:
            raise OrderRejected(self.venue, f"paper: cannot change {symbol} leverage with an open position")
        self._leverage[symbol] = leverage

    # ------------------------------------------------------------------ placing
    def place(self, order: Order, inst: Instrument) -> OrderReport:
        """Accept (and possibly fill) ``order``; raise ``OrderRejected`` as a venue would.

        Stream events (NEW, fills, balances, positions, final status) are emitted before this
        returns; the returned report is the REST answer.
        """
        self._precheck(order, inst)
        now = self._now()
        w = _Working(order, inst, next(self._ids))
        if order.price is not None and order.type.has_limit_price:
            w.limit_ticks = inst.price_to_ticks(order.price)
        vid = f"P{self._session}-{w.seq}"
        if order.type.is_conditional:
            self._check_trigger_not_immediate(order)
            if order.type.has_limit_price:
                self._lock_limit(w)  # stop-limit funds are reserved on placement, as on Binance
            w.order = self._step(w, OrderStatus.UNTRIGGERED, now, vid=vid)
            self._accept(w)
            self._emit_report(w, now)
            return OrderReport(w.order, ReportSource.REST, now)
        plan = self._plan_taker(w)
        if order.type is OrderType.LIMIT:
            self._check_limit_plan(w, plan)
            self._lock_limit(w)
        else:
            self._check_market_funds(w, plan)
        w.order = self._step(w, OrderStatus.NEW, now, vid=vid)
        self._accept(w)
        self._emit_report(w, now)
        self._execute_taker(w, plan, now)
        return OrderReport(w.order, ReportSource.REST, now)

    def cancel(self, symbol: str, client_id: str) -> OrderReport:
        w = self._open.get(symbol, {}).get(client_id)
        if w is None:
            raise OrderNotFound(self.venue, f"paper: unknown or closed order {client_id} on {symbol}")
        now = self._now()
        self._close(w, OrderStatus.CANCELED, now, "canceled by user")
        return OrderReport(w.order, ReportSource.REST, now)

    # ------------------------------------------------------------------ market input
    def on_book(self, symbol: str) -> None:
        """The live book moved: rest orders the opposite side now crosses fill as maker."""
        group = self._open.get(symbol)
        if not group:
            return
        book = self._book_of(symbol)
        if book is None or not book.is_live:
            return
        bb, ba = book.best_bid_ticks(), book.best_ask_ticks()
        # Per diff this is the hot path: integer compares only, sorting just what crosses.
        crossing = [
            w
            for w in group.values()
            if w.limit_ticks is not None
            and self._is_resting(w)
            and (
                (ba is not None and ba <= w.limit_ticks)
                if w.order.side is Side.BUY
                else (bb is not None and bb >= w.limit_ticks)
            )
        ]
        if not crossing:
            return
        dep = self._depletion_of(symbol)
        now = self._now()
        for w in self._priority(crossing):
            if w.order.is_terminal:
                continue
            side, limit = w.order.side, w.limit_ticks
            assert limit is not None
            # Maker fills at our price for what the crossing levels hold (untaken by us).
            plan = walk_book(book, side, w.order.remaining_qty, limit_ticks=limit, depletion=dep)
            qty = plan.qty
            if qty <= 0:
                continue
            levels = book.asks if side is Side.BUY else book.bids
            for t, q in plan.legs:
                dep.take(side is Side.BUY, t, levels[t], q)
            self._fill(w, [(limit, qty)], now, maker=True)

    def on_resync(self, symbol: str) -> None:
        """The book was rebuilt from a fresh snapshot: forget what we took from the old one."""
        self._depletion.pop(symbol, None)

    def on_trade(self, trade: Trade) -> None:
        """A public print: trigger stops on its price, then fill resting limits it went through."""
        symbol = trade.symbol
        self._last[symbol] = trade.price
        group = self._open.get(symbol)
        if not group:
            return
        now = self._now()
        for w in sorted(group.values(), key=lambda w: w.seq):
            if w.order.type.is_conditional and not w.triggered and self._triggers(w.order, trade.price):
                self._trigger(w, now)
        left = trade.qty
        resting = [w for w in group.values() if w.order.type.has_limit_price and self._is_resting(w)]
        for w in self._priority(resting):
            if left <= 0:
                break
            limit = self._limit_price(w)
            through = trade.price < limit if w.order.side is Side.BUY else trade.price > limit
            if not through:
                continue
            qty = min(w.order.remaining_qty, left)
            left -= qty
            assert w.limit_ticks is not None
            self._fill(w, [(w.limit_ticks, qty)], now, maker=True)

    def on_mark(self, symbol: str, mark: Decimal) -> None:
        """Mark (or mid) price for unrealized PnL; no event (positions are re-sent on fills)."""
        pos = self._positions.get(symbol)
        if pos is not None:
            self._positions[symbol] = pos.with_mark(mark, self._now())

    # ------------------------------------------------------------------ checks
    def _precheck(self, order: Order, inst: Instrument) -> None:
        if order.client_id in self._orders:
            raise OrderRejected(self.venue, f"paper: duplicate client order id {order.client_id}")
        if order.type not in SUPPORTED_TYPES:
            raise OrderRejected(self.venue, f"paper: {order.type} orders are not supported")
        if order.position_side is not PositionSide.BOTH:
            raise OrderRejected(self.venue, "paper: hedge mode is not supported (one-way positions only)")
        if order.reduce_only:
            if not inst.is_derivative:
                raise OrderRejected(self.venue, "paper: reduce-only is for derivatives")
            pos = self._positions.get(order.symbol)
            if pos is None or pos.is_flat or pos.direction is order.side:
                raise OrderRejected(self.venue, "paper: reduce-only order would not reduce the position")
        if self._is_post_only(order) and order.type is not OrderType.LIMIT:
            raise OrderRejected(self.venue, "paper: post-only needs a limit order")

    @staticmethod
    def _is_post_only(order: Order) -> bool:
        return order.post_only or order.tif is TimeInForce.POST_ONLY

    def _check_trigger_not_immediate(self, order: Order) -> None:
        last = self._last.get(order.symbol)
        if last is not None and self._triggers(order, last):
            raise OrderRejected(self.venue, f"paper: order would trigger immediately (last {last})")

    def _check_limit_plan(self, w: _Working, plan: TakerPlan) -> None:
        o = w.order
        if self._is_post_only(o) and plan.legs:
            raise OrderRejected(self.venue, "paper: post-only order would immediately match and take")
        # FOK short of liquidity is accepted, then expires unfilled (as on Binance/Bybit);
        # funds: _lock_limit reserves the worst case (limit price, highest fee) for the lot.

    def _check_market_funds(self, w: _Working, plan: TakerPlan) -> None:
        book = self._book_of(w.order.symbol)
        if book is None or not book.is_live:
            raise OrderRejected(
                self.venue, f"paper: no live book for {w.order.symbol} (watch_market it first)"
            )
        self._check_taker_funds(w, plan)

    def _check_taker_funds(self, w: _Working, plan: TakerPlan) -> None:
        """The immediately executable part must be affordable now (limit orders lock the rest)."""
        o, inst = w.order, w.inst
        notional = plan.notional(inst)
        fee = _fee(notional, self.account.taker_fee)
        if inst.is_derivative:
            need = self._opening_qty(o.symbol, o.side, plan.qty)
            if need > 0 and plan.qty > 0:
                avg = notional / plan.qty
                self._require(inst.quote, need * avg / self.leverage(o.symbol) + fee)
            return
        if o.side is Side.BUY:
            self._require(inst.quote, notional + fee)
        else:
            self._require(inst.base, plan.qty)

    def _require(self, asset: str, amount: Decimal) -> None:
        free = self._free.get(asset, ZERO)
        if amount > free:
            raise OrderRejected(
                self.venue, f"paper: insufficient balance: {asset} free {free}, needed {amount}"
            )

    # ------------------------------------------------------------------ locks
    def _limit_lock_amount(self, w: _Working) -> Decimal:
        o, inst = w.order, w.inst
        assert o.price is not None
        worst_fee = max(self.account.maker_fee, self.account.taker_fee)
        if inst.is_derivative:
            if o.reduce_only:
                return ZERO
            return o.price * o.qty / self.leverage(o.symbol) + _fee(o.price * o.qty, worst_fee)
        if o.side is Side.BUY:
            return o.price * o.qty + _fee(o.price * o.qty, worst_fee)
        return o.qty

    def _lock_limit(self, w: _Working) -> None:
        inst = w.inst
        amount = self._limit_lock_amount(w)
        asset = inst.quote if inst.is_derivative or w.order.side is Side.BUY else inst.base
        self._require(asset, amount)
        self._move(asset, amount)
        w.lock_asset, w.lock_amount = asset, amount

    def _move(self, asset: str, amount: Decimal) -> None:
        """free -> locked (a negative amount unlocks)."""
        self._free[asset] = self._free.get(asset, ZERO) - amount
        self._locked[asset] = self._locked.get(asset, ZERO) + amount

    def _release(self, w: _Working, part: Decimal) -> Decimal:
        """Unlock the share of ``w``'s lock that ``part`` (of the remaining qty) accounts for."""
        if w.lock_amount == 0:
            return ZERO
        rem = w.order.remaining_qty
        amount = w.lock_amount if part >= rem else w.lock_amount * part / rem
        w.lock_amount -= amount
        self._move(w.lock_asset, -amount)
        return amount

    # ------------------------------------------------------------------ execution
    def _plan_taker(self, w: _Working) -> TakerPlan:
        o = w.order
        book = self._book_of(o.symbol)
        if book is None or not book.is_live:
            return TakerPlan()
        qty = self._capped_qty(w, o.remaining_qty)
        return walk_book(book, o.side, qty, limit_ticks=w.limit_ticks, depletion=self._depletion_of(o.symbol))

    def _execute_taker(self, w: _Working, plan: TakerPlan, now: int) -> None:
        """Fill what ``plan`` found, then rest (GTC limit) or expire (market, IOC, FOK) the rest."""
        o = w.order
        fok_short = o.tif is TimeInForce.FOK and plan.qty < self._capped_qty(w, o.remaining_qty)
        if plan.legs and not fok_short:
            book = self._book_of(o.symbol)
            assert book is not None
            dep = self._depletion_of(o.symbol)
            levels = book.asks if o.side is Side.BUY else book.bids
            for t, q in plan.legs:
                dep.take(o.side is Side.BUY, t, levels[t], q)
            self._fill(w, plan.legs, now, maker=False)
        if w.order.is_terminal:
            return
        if o.type.has_limit_price and o.tif in (TimeInForce.GTC, TimeInForce.POST_ONLY):
            return  # rests on the (paper) book
        reason = "FOK not fully fillable" if fok_short else "no more liquidity within the order's limit"
        if not o.type.has_limit_price:
            reason = "book too thin: rest of the market order canceled"
        self._close(w, OrderStatus.EXPIRED, now, reason)

    def _capped_qty(self, w: _Working, qty: Decimal) -> Decimal:
        """Reduce-only never trades more than the position holds."""
        if not w.order.reduce_only:
            return qty
        pos = self._positions.get(w.order.symbol)
        if pos is None or pos.direction is not w.order.side.opposite:
            return ZERO
        return min(qty, abs(pos.qty))

    def _fill(self, w: _Working, legs: Iterable[tuple[int, Decimal]], now: int, *, maker: bool) -> None:
        o, inst = w.order, w.inst
        rate = self.account.maker_fee if maker else self.account.taker_fee
        changed: set[str] = set()
        for ticks, q in legs:
            q = self._capped_qty(w, q)
            if q <= 0:
                break
            price = inst.ticks_to_price(ticks)
            fee = _fee(price * q, rate)
            self._release(w, q)
            realized = self._settle(w, q, price, fee, now)
            changed.update((inst.base, inst.quote) if not inst.is_derivative else (inst.quote,))
            fill = Fill(
                venue=self.venue,
                symbol=o.symbol,
                client_id=o.client_id,
                venue_order_id=w.order.venue_order_id,
                trade_id=f"paper-{self._session}-{next(self._trade_ids)}",
                side=o.side,
                price=price,
                qty=q,
                ts=now,
                fee=fee,
                fee_asset=inst.quote,
                is_maker=maker,
                realized_pnl=realized,
            )
            self._fills.append(fill)
            w.order = w.order.with_fill(fill)
            self._emit(FillEvent(fill, ReportSource.STREAM))
            self._emit_report(w, now)
        if w.order.is_terminal:
            self._drop_open(w)
        elif o.reduce_only and self._capped_qty(w, w.order.remaining_qty) <= 0:
            self._close(w, OrderStatus.EXPIRED, now, "reduce-only: position closed")
        self._emit_balances(changed, now)
        if inst.is_derivative and o.symbol in self._positions:
            self._emit(PositionsEvent(self.venue, (self._positions[o.symbol],), False, now))

    def _settle(self, w: _Working, q: Decimal, price: Decimal, fee: Decimal, now: int) -> Decimal | None:
        """Move the money of one fill; returns realized PnL for derivatives."""
        o, inst = w.order, w.inst
        notional = price * q
        if not inst.is_derivative:
            if o.side is Side.BUY:
                self._add(inst.quote, -(notional + fee))
                self._add(inst.base, q)
            else:
                self._add(inst.base, -q)
                self._add(inst.quote, notional - fee)
            return None
        sym = o.symbol
        pos = self._positions.get(sym) or Position(self.venue, sym, leverage=self.leverage(sym))
        old = pos.signed_qty
        closing = min(abs(old), q) if old != 0 and (old > 0) != (o.side is Side.BUY) else ZERO
        margin = self._pos_margin.get(sym, ZERO)
        # Closing releases its share of the position's margin; opening locks notional/leverage.
        delta = -(margin * closing / abs(old)) if closing > 0 else ZERO
        delta += (q - closing) * price / self.leverage(sym)
        new = pos.apply_fill(o.side, q, price, fee=fee, ts=now)
        if new.is_flat:
            delta = -margin  # no rounding dust stays locked against a flat position
        self._move(inst.quote, delta)
        self._pos_margin[sym] = margin + delta
        # The average entry is a quotient (28 digits): settle PnL at 8 dp, as the venues report it.
        realized = (new.realized_pnl - pos.realized_pnl).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)
        self._free[inst.quote] += realized - fee
        mark = pos.mark_price if pos.mark_price is not None else price
        new = dataclasses.replace(new, leverage=self.leverage(sym), realized_pnl=pos.realized_pnl + realized)
        self._positions[sym] = new.with_mark(mark, now)
        return realized

    def _add(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = self._free.get(asset, ZERO) + amount
        self._locked.setdefault(asset, ZERO)

    def _trigger(self, w: _Working, now: int) -> None:
        w.triggered = True
        w.order = self._step(w, OrderStatus.NEW, now)
        self._emit_report(w, now)
        plan = self._plan_taker(w)
        if not w.order.type.has_limit_price:
            book = self._book_of(w.order.symbol)
            if book is None or not book.is_live:
                self._close(w, OrderStatus.EXPIRED, now, "triggered without a live book")
                return
            try:
                self._check_taker_funds(w, plan)
            except OrderRejected as e:
                self._close(w, OrderStatus.REJECTED, now, e.venue_message)
                return
        elif self._is_post_only(w.order) and plan.legs:
            self._close(w, OrderStatus.EXPIRED, now, "post-only would take after trigger")
            return
        self._execute_taker(w, plan, now)

    @staticmethod
    def _triggers(order: Order, last: Decimal) -> bool:
        sp = order.stop_price
        if sp is None:
            return False
        rising = (order.type in _STOP_TYPES) == (order.side is Side.BUY)  # buy stop / sell TP
        return last >= sp if rising else last <= sp

    # ------------------------------------------------------------------ bookkeeping
    def _accept(self, w: _Working) -> None:
        self._orders[w.order.client_id] = w
        self._open.setdefault(w.order.symbol, {})[w.order.client_id] = w

    def _drop_open(self, w: _Working) -> None:
        group = self._open.get(w.order.symbol)
        if group is not None:
            group.pop(w.order.client_id, None)

    def _close(self, w: _Working, status: OrderStatus, now: int, reason: str) -> None:
        asset = w.lock_asset
        if w.lock_amount:
            self._move(w.lock_asset, -w.lock_amount)
            w.lock_amount = ZERO
        w.order = self._step(w, status, now, reason=reason)
        self._drop_open(w)
        self._emit_report(w, now)
        if asset:
            self._emit_balances({asset}, now)

    def _step(
        self, w: _Working, status: OrderStatus, now: int, *, vid: str | None = None, reason: str | None = None
    ) -> Order:
        o = w.order
        return o.apply(
            OrderUpdate(
                o.client_id,
                status,
                now,
                venue_order_id=vid,
                filled_qty=o.filled_qty,
                avg_price=o.avg_price,
                reason=reason,
            )
        )

    def _is_resting(self, w: _Working) -> bool:
        return not w.order.type.is_conditional or w.triggered

    @staticmethod
    def _limit_price(w: _Working) -> Decimal:
        assert w.order.price is not None
        return w.order.price

    @staticmethod
    def _priority(ws: list[_Working]) -> list[_Working]:
        """Best price first (highest bid / lowest ask), then time."""
        return sorted(ws, key=lambda w: (-w.order.side.sign * w.order.price, w.seq))  # type: ignore[operator]

    def _opening_qty(self, symbol: str, side: Side, qty: Decimal) -> Decimal:
        pos = self._positions.get(symbol)
        old = ZERO if pos is None else pos.signed_qty
        if old == 0 or (old > 0) == (side is Side.BUY):
            return qty
        return max(qty - abs(old), ZERO)

    def _depletion_of(self, symbol: str) -> _Depletion:
        d = self._depletion.get(symbol)
        if d is None:
            d = self._depletion[symbol] = _Depletion()
        return d

    def _emit_report(self, w: _Working, now: int) -> None:
        self._emit(OrderReport(w.order, ReportSource.STREAM, now))

    def _emit_balances(self, assets: set[str], now: int) -> None:
        if assets:
            bal = tuple(self.balance(a) for a in sorted(assets))
            self._emit(BalancesEvent(self.venue, bal, False, now))

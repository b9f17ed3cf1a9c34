"""Pre-trade risk: limits every order must pass before the OMS journals and sends it.

Each check returns a typed ``Verdict`` with a human reason; every rejection and every change
of the trading state is written to the journal's audit log. The rules:

* trading state: ACTIVE (anything), REDUCING (only orders that shrink a position), HALTED
  (nothing; the kill switch's own flattening orders pass with ``bypass_halt``);
* duplicate guard: the same venue/symbol/side/type/qty/price again within a short window is
  refused unless the caller says it is intended (a double click, a replayed webhook);
* order rate per second and per minute; max open orders;
* max order notional and max position (per symbol, quantity and/or notional). Orders that
  reduce a position skip these two: limits exist to cap risk, never to trap it.

The kill switch itself lives in the OMS (it has to cancel and trade); it sets HALTED here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from terminal.model import Order, Side, TradingState, Venue
from terminal.storage.journal import Journal

__all__ = ["RiskLimits", "RiskManager", "RiskRule", "Verdict", "reduces_position"]

ZERO = Decimal(0)


class RiskRule(StrEnum):
    HALTED = "halted"
    REDUCING = "reducing_only"
    DUPLICATE = "duplicate"
    RATE = "order_rate"
    OPEN_ORDERS = "max_open_orders"
    ORDER_NOTIONAL = "max_order_notional"
    POSITION = "max_position"
    NO_PRICE = "no_reference_price"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str
    rule: RiskRule | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Verdict(True, "ok")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """``None`` disables a limit. Per-symbol maps are keyed by symbol (e.g. "BTCUSDT")."""

    max_order_notional: Decimal | None = None  # quote currency
    max_position_qty: Mapping[str, Decimal] = field(default_factory=dict)  # base qty, absolute
    max_position_notional: Decimal | None = None  # per symbol, quote currency
    max_open_orders: int | None = None
    max_orders_per_second: int | None = None
    max_orders_per_minute: int | None = None
    duplicate_window_s: float = 2.0  # 0 disables the duplicate guard


def reduces_position(order: Order, position_qty: Decimal) -> bool:
    """True if ``order`` can only shrink the (signed) position: reduce-only, or opposite to it
    and not larger than it."""
    if order.reduce_only:
        return True
    if position_qty == 0:
        return False
    opposite = (position_qty > 0 and order.side is Side.SELL) or (position_qty < 0 and order.side is Side.BUY)
    return opposite and order.qty <= abs(position_qty)


class RiskManager:
    def __init__(
        self,
        limits: RiskLimits,
        journal: Journal,
        *,
        state: TradingState = TradingState.ACTIVE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._journal = journal
        self._state = state
        self._clock = clock
        self._sent: deque[float] = deque()  # submission times within the last minute
        self._recent: dict[tuple[object, ...], float] = {}  # duplicate key -> last time

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> TradingState:
        return self._state

    def set_state(self, state: TradingState, *, actor: str, reason: str) -> None:
        if state is self._state:
            return
        self._journal.audit(actor, "trading_state", {"from": self._state, "to": state, "reason": reason})
        self._state = state

    # ------------------------------------------------------------------ checks

    def check(
        self,
        order: Order,
        *,
        open_orders: Sequence[Order],
        position_qty: Decimal = ZERO,
        price: Decimal | None = None,
        allow_duplicate: bool = False,
        bypass_halt: bool = False,
        actor: str = "risk",
    ) -> Verdict:
        """Judge ``order`` (prices/quantities already rounded). ``price`` is the price used for
        notional limits when the order has none (market orders: the book's mid).
        A rejection is audited before it is returned."""
        verdict = self._judge(order, open_orders, position_qty, price, allow_duplicate, bypass_halt)
        if not verdict.allowed:
            self._journal.audit(
                actor,
                "risk_reject",
                {
                    "client_id": order.client_id,
                    "venue": order.venue,
                    "symbol": order.symbol,
                    "side": order.side,
                    "type": order.type,
                    "qty": order.qty,
                    "price": order.price,
                    "rule": verdict.rule,
                    "reason": verdict.reason,
                },
            )
        return verdict

    def _judge(
        self,
        order: Order,
        open_orders: Sequence[Order],
        position_qty: Decimal,
        price: Decimal | None,
        allow_duplicate: bool,
        bypass_halt: bool,
    ) -> Verdict:
        lim = self.limits
        reducing = reduces_position(order, position_qty)
        if self._state is TradingState.HALTED and not bypass_halt:
            return Verdict(False, "trading is HALTED (kill switch): no new orders", RiskRule.HALTED)
        if self._state is TradingState.REDUCING and not reducing:
            return Verdict(
                False,
                f"trading is REDUCING: only orders that reduce the position (now {position_qty}) pass",
                RiskRule.REDUCING,
            )
        now = self._clock()
        if lim.duplicate_window_s > 0 and not allow_duplicate:
            last = self._recent.get(_dup_key(order))
            if last is not None and now - last < lim.duplicate_window_s:
                return Verdict(
                    False,
                    f"duplicate of an order sent {now - last:.2f}s ago "
                    f"(same {order.symbol} {order.side} {order.type} {order.qty} @ {order.price}); "
                    "resubmit with allow_duplicate if intended",
                    RiskRule.DUPLICATE,
                )
        self._expire(now)
        if lim.max_orders_per_second is not None:
            last_second = sum(1 for t in self._sent if now - t < 1.0)
            if last_second >= lim.max_orders_per_second:
                return Verdict(
                    False,
                    f"order rate: {last_second} orders in the last second (max {lim.max_orders_per_second})",
                    RiskRule.RATE,
                )
        if lim.max_orders_per_minute is not None and len(self._sent) >= lim.max_orders_per_minute:
            return Verdict(
                False,
                f"order rate: {len(self._sent)} orders in the last minute (max {lim.max_orders_per_minute})",
                RiskRule.RATE,
            )
        if lim.max_open_orders is not None:
            n_open = sum(1 for o in open_orders if not o.is_terminal)
            if n_open >= lim.max_open_orders:
                return Verdict(
                    False, f"{n_open} open orders (max {lim.max_open_orders})", RiskRule.OPEN_ORDERS
                )
        if reducing:
            return ALLOWED
        ref = order.price if order.price is not None else price
        if ref is None and (lim.max_order_notional is not None or lim.max_position_notional is not None):
            return Verdict(
                False,
                f"no price to check the notional of this {order.type} order (watch the book)",
                RiskRule.NO_PRICE,
            )
        if lim.max_order_notional is not None and ref is not None:
            notional = ref * order.qty
            if notional > lim.max_order_notional:
                return Verdict(
                    False,
                    f"order notional {notional} exceeds max {lim.max_order_notional}",
                    RiskRule.ORDER_NOTIONAL,
                )
        projected = position_qty + order.side.sign * order.qty
        max_qty = lim.max_position_qty.get(order.symbol)
        if max_qty is not None and abs(projected) > max_qty:
            return Verdict(
                False,
                f"position {order.symbol} would be {projected} (max {max_qty})",
                RiskRule.POSITION,
            )
        if lim.max_position_notional is not None and ref is not None:
            value = abs(projected) * ref
            if value > lim.max_position_notional:
                return Verdict(
                    False,
                    f"position {order.symbol} would be worth {value} (max {lim.max_position_notional})",
                    RiskRule.POSITION,
                )
        return ALLOWED

    def record_submission(self, order: Order) -> None:
        """Count an order that passed and is being sent (rate and duplicate memory)."""
        now = self._clock()
        self._sent.append(now)
        self._recent[_dup_key(order)] = now

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        window = self.limits.duplicate_window_s
        if len(self._recent) > 1024:
            self._recent = {k: t for k, t in self._recent.items() if now - t < window}


def _dup_key(order: Order) -> tuple[Venue, str, Side, str, Decimal, Decimal | None, Decimal | None]:
    return (order.venue, order.symbol, order.side, order.type, order.qty, order.price, order.stop_price)

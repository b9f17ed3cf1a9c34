"""Orders, order updates, fills and the order status state machine.

Venues deliver order events over several channels (REST responses, user-data WS, reconcile
polls) that can arrive out of order or twice. ``Order.apply`` therefore distinguishes:

* **forward** moves listed in ``TRANSITIONS``: applied;
* **stale** events, i.e. a status from an earlier stage than the order has already reached
  (a late NEW after PARTIALLY_FILLED, anything non-terminal after a terminal status): the
  status is kept, but monotonic facts (venue order id, cumulative fill) are merged;
* **illegal** events that contradict what is known (a second, different terminal status, a
  fill larger than the order, another order's id): ``IllegalTransition``.

Cumulative filled quantity never decreases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from types import MappingProxyType

from terminal.model._dec import ZERO, DecimalLike, to_decimal
from terminal.model.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce, Venue

__all__ = [
    "TRANSITIONS",
    "Fill",
    "IllegalTransition",
    "Order",
    "OrderUpdate",
    "TransitionKind",
    "classify_transition",
]

S = OrderStatus

_TERMINAL = frozenset(s for s in OrderStatus if s.is_terminal)
# Everything an order can still end in; REJECTED is reachable from any live state because
# Bybit can reject a resting, even partially filled, order later (e.g. INSUFFICIENT_MARGIN).
_ENDINGS = _TERMINAL | {S.PENDING_CANCEL}

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        S.PENDING_NEW: frozenset({S.NEW, S.UNTRIGGERED, S.PARTIALLY_FILLED} | _ENDINGS),
        S.UNTRIGGERED: frozenset({S.NEW, S.PARTIALLY_FILLED} | _ENDINGS),  # NEW = triggered
        S.NEW: frozenset({S.PARTIALLY_FILLED} | _ENDINGS),
        S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED} | _ENDINGS),
        # A fill can race a cancel request: it is merged and the order stays PENDING_CANCEL.
        S.PENDING_CANCEL: frozenset({S.PARTIALLY_FILLED} | _TERMINAL),
        S.FILLED: frozenset(),
        S.CANCELED: frozenset(),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
    }
)

# How far along its life an order is; an event from an earlier stage is stale.
_STAGE: Mapping[OrderStatus, int] = MappingProxyType(
    {
        S.PENDING_NEW: 0,
        S.UNTRIGGERED: 1,
        S.NEW: 2,
        S.PARTIALLY_FILLED: 3,
        S.PENDING_CANCEL: 3,
        S.FILLED: 4,
        S.CANCELED: 4,
        S.REJECTED: 4,
        S.EXPIRED: 4,
    }
)


class IllegalTransition(ValueError):
    """An order event contradicts the order's known state."""


class TransitionKind(Enum):
    APPLY = "apply"  # move to the event's status
    SAME = "same"  # same status again: merge the event's facts
    STALE = "stale"  # older than what we know: keep the status, merge monotonic facts
    ILLEGAL = "illegal"


def classify_transition(src: OrderStatus, dst: OrderStatus) -> TransitionKind:
    if src is dst:
        return TransitionKind.SAME
    if dst in TRANSITIONS[src]:
        return TransitionKind.APPLY
    if src in _TERMINAL and dst in _TERMINAL:
        return TransitionKind.ILLEGAL  # FILLED then CANCELED: one of them is wrong
    if _STAGE[dst] <= _STAGE[src]:
        return TransitionKind.STALE
    return TransitionKind.ILLEGAL  # unreachable with the table above; kept as a guard


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A venue-neutral order event, produced by venue adapters (and the local OMS)."""

    client_id: str
    status: OrderStatus
    ts: int  # ms, venue event time
    venue_order_id: str | None = None
    filled_qty: Decimal | None = None  # cumulative; None = not reported
    avg_price: Decimal | None = None  # average fill price; None/0 = not reported
    reason: str | None = None  # reject/cancel reason as the venue gave it


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one order (a user trade)."""

    venue: Venue
    symbol: str
    client_id: str
    venue_order_id: str | None
    trade_id: str  # unique per venue+symbol: the dedupe key
    side: Side
    price: Decimal
    qty: Decimal
    ts: int
    fee: Decimal = ZERO
    fee_asset: str = ""
    is_maker: bool = False
    position_side: PositionSide = PositionSide.BOTH
    realized_pnl: Decimal | None = None  # as reported by the venue (futures), if any

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


@dataclass(frozen=True, slots=True)
class Order:
    client_id: str
    venue: Venue
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None  # limit price
    stop_price: Decimal | None = None  # trigger price of conditional orders
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    post_only: bool = False
    position_side: PositionSide = PositionSide.BOTH
    status: OrderStatus = OrderStatus.PENDING_NEW
    venue_order_id: str | None = None
    filled_qty: Decimal = ZERO  # cumulative
    avg_price: Decimal | None = None
    created_at: int = 0  # ms
    updated_at: int = 0  # ms
    reason: str | None = None
    # Where a cancel request came from, so a rejected cancel can restore it.
    status_before_cancel: OrderStatus | None = None

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"order {self.client_id}: qty must be positive, got {self.qty}")

    @classmethod
    def new(
        cls,
        client_id: str,
        venue: Venue,
        symbol: str,
        side: Side,
        type: OrderType,
        qty: DecimalLike,
        price: DecimalLike | None = None,
        *,
        stop_price: DecimalLike | None = None,
        ts: int = 0,
        **kw: object,
    ) -> Order:
        """Convenience constructor accepting wire strings for the Decimal fields."""
        return cls(
            client_id=client_id,
            venue=venue,
            symbol=symbol,
            side=side,
            type=type,
            qty=to_decimal(qty, "qty"),
            price=None if price is None else to_decimal(price, "price"),
            stop_price=None if stop_price is None else to_decimal(stop_price, "stop_price"),
            created_at=ts,
            updated_at=ts,
            **kw,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ queries

    @property
    def remaining_qty(self) -> Decimal:
        return max(self.qty - self.filled_qty, ZERO)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def notional(self) -> Decimal | None:
        """Order value at its limit price (None for market orders)."""
        return None if self.price is None else self.price * self.qty

    # ------------------------------------------------------------------ state machine

    def apply(self, update: OrderUpdate) -> Order:
        """Return the order after ``update``; ``self`` is unchanged (orders are immutable)."""
        if update.client_id != self.client_id:
            raise IllegalTransition(f"update for {update.client_id} applied to order {self.client_id}")
        if (
            update.venue_order_id is not None
            and self.venue_order_id is not None
            and update.venue_order_id != self.venue_order_id
        ):
            raise IllegalTransition(
                f"order {self.client_id}: venue order id {update.venue_order_id} "
                f"does not match {self.venue_order_id}"
            )
        kind = classify_transition(self.status, update.status)
        if kind is TransitionKind.ILLEGAL:
            raise IllegalTransition(
                f"order {self.client_id}: {self.status} -> {update.status} is not allowed"
            )

        reported = update.filled_qty
        if reported is None and update.status is S.FILLED and kind is not TransitionKind.STALE:
            reported = self.qty
        if reported is not None and reported > self.qty:
            raise IllegalTransition(
                f"order {self.client_id}: filled {reported} exceeds order quantity {self.qty}"
            )
        filled = self.filled_qty if reported is None else max(self.filled_qty, reported)
        # The average price only means something alongside the newest cumulative quantity.
        avg = self.avg_price
        if update.avg_price and reported is not None and reported >= self.filled_qty and reported > 0:
            avg = update.avg_price

        status = self.status
        before_cancel = self.status_before_cancel
        if kind is TransitionKind.APPLY:
            if self.status is S.PENDING_CANCEL and update.status is S.PARTIALLY_FILLED:
                pass  # fill raced our cancel: keep waiting for the cancel's outcome
            else:
                status = update.status
                if status is S.PENDING_CANCEL:
                    before_cancel = self.status
                elif status.is_terminal:
                    before_cancel = None

        return dataclasses.replace(
            self,
            status=status,
            venue_order_id=self.venue_order_id or update.venue_order_id,
            filled_qty=filled,
            avg_price=avg,
            updated_at=max(self.updated_at, update.ts),
            reason=update.reason if update.reason and kind is not TransitionKind.STALE else self.reason,
            status_before_cancel=before_cancel,
        )

    def with_fill(self, fill: Fill) -> Order:
        """Apply one execution (for venues/paths that report fills, not cumulative totals).

        The caller dedupes fills by trade id; this just accumulates quantity and average price.
        """
        if fill.client_id != self.client_id:
            raise IllegalTransition(f"fill for {fill.client_id} applied to order {self.client_id}")
        filled = self.filled_qty + fill.qty
        if filled > self.qty:
            raise IllegalTransition(
                f"order {self.client_id}: filled {filled} exceeds order quantity {self.qty}"
            )
        prev_value = (self.avg_price or ZERO) * self.filled_qty
        avg = (prev_value + fill.price * fill.qty) / filled
        status = S.FILLED if filled == self.qty else S.PARTIALLY_FILLED
        return self.apply(
            OrderUpdate(
                client_id=self.client_id,
                status=status,
                ts=fill.ts,
                venue_order_id=fill.venue_order_id,
                filled_qty=filled,
                avg_price=avg,
            )
        )

    def request_cancel(self, ts: int) -> Order:
        """Local transition to PENDING_CANCEL when a cancel request is sent."""
        return self.apply(OrderUpdate(self.client_id, S.PENDING_CANCEL, ts))

    def cancel_rejected(self, ts: int, reason: str | None = None) -> Order:
        """The venue refused our cancel (e.g. unknown order, already filled): restore the
        pre-cancel status, accounting for fills that arrived meanwhile."""
        if self.status is not S.PENDING_CANCEL:
            return self  # a terminal event already settled it
        restored = self.status_before_cancel or S.NEW
        if self.filled_qty > 0 and _STAGE[restored] < _STAGE[S.PARTIALLY_FILLED]:
            restored = S.PARTIALLY_FILLED
        return dataclasses.replace(
            self,
            status=restored,
            status_before_cancel=None,
            updated_at=max(self.updated_at, ts),
            reason=reason or self.reason,
        )

"""Balances and positions, with the fill arithmetic for entry price and realized PnL.

Positions are linear (USDT-margined): PnL = quantity x price difference, in the quote asset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from terminal.model._dec import ZERO, DecimalLike, to_decimal
from terminal.model.enums import MarginMode, PositionSide, Side, Venue

__all__ = ["Balance", "Position"]


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal = ZERO  # in open orders (spot) / used as margin (futures)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


def _sign(d: Decimal) -> int:
    return (d > 0) - (d < 0)


@dataclass(frozen=True, slots=True)
class Position:
    """A derivatives position (or one leg of a hedge-mode pair).

    ``side`` is BOTH in one-way mode, where ``qty`` is signed (negative = short). In hedge mode
    there is one Position per leg, ``side`` LONG or SHORT, and ``qty`` is never negative.
    ``realized_pnl`` is gross (price PnL only); ``fees`` accumulates separately.
    """

    venue: Venue
    symbol: str
    side: PositionSide = PositionSide.BOTH
    qty: Decimal = ZERO
    entry_price: Decimal = ZERO  # average entry; 0 when flat
    mark_price: Decimal | None = None
    leverage: Decimal = Decimal(1)
    margin_mode: MarginMode = MarginMode.CROSS
    liquidation_price: Decimal | None = None
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    updated_at: int = 0  # ms

    def __post_init__(self) -> None:
        if self.side is not PositionSide.BOTH and self.qty < 0:
            raise ValueError(f"{self.symbol} {self.side} leg: qty must not be negative, got {self.qty}")

    # ------------------------------------------------------------------ derived values

    @property
    def signed_qty(self) -> Decimal:
        """Positive long, negative short, whatever the mode."""
        return -self.qty if self.side is PositionSide.SHORT else self.qty

    @property
    def is_flat(self) -> bool:
        return self.qty == 0

    @property
    def direction(self) -> Side | None:
        """BUY for a long, SELL for a short, None when flat."""
        sq = self.signed_qty
        return None if sq == 0 else (Side.BUY if sq > 0 else Side.SELL)

    @property
    def notional(self) -> Decimal:
        """Absolute position value at mark (entry when no mark is known yet)."""
        price = self.mark_price if self.mark_price is not None else self.entry_price
        return abs(self.qty) * price

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.mark_price is None or self.qty == 0:
            return ZERO
        return self.signed_qty * (self.mark_price - self.entry_price)

    @property
    def initial_margin(self) -> Decimal:
        return self.notional / self.leverage if self.leverage > 0 else self.notional

    def with_mark(self, mark_price: DecimalLike, ts: int | None = None) -> Position:
        return dataclasses.replace(
            self,
            mark_price=to_decimal(mark_price, "mark_price"),
            updated_at=self.updated_at if ts is None else max(self.updated_at, ts),
        )

    # ------------------------------------------------------------------ fills

    def apply_fill(
        self,
        side: Side,
        qty: DecimalLike,
        price: DecimalLike,
        *,
        fee: DecimalLike = ZERO,
        ts: int | None = None,
    ) -> Position:
        """Position after a fill of ``qty`` at ``price`` on ``side``.

        * Adding to a position (or opening): entry becomes the size-weighted average.
        * Reducing: the closed part realizes ``closed x (price - entry)`` (sign-adjusted);
          the entry of what remains is unchanged.
        * One-way flip (fill larger than the position): the old side closes completely and the
          rest opens a new position at the fill price.
        * Hedge legs cannot flip: reducing a leg by more than it holds raises ValueError.
        """
        q = to_decimal(qty, "qty")
        p = to_decimal(price, "price")
        if q <= 0:
            raise ValueError(f"fill qty must be positive, got {q}")
        if p <= 0:
            raise ValueError(f"fill price must be positive, got {p}")

        if self.side is not PositionSide.BOTH:
            opening = Side.BUY if self.side is PositionSide.LONG else Side.SELL
            if side is not opening and q > self.qty:
                raise ValueError(
                    f"{self.symbol} {self.side} leg holds {self.qty}: cannot {side} {q} (hedge legs do not flip)"
                )

        old = self.signed_qty
        delta = q * side.sign
        realized = ZERO
        if old == 0 or _sign(old) == _sign(delta):
            new_signed = old + delta
            entry = (abs(old) * self.entry_price + q * p) / abs(new_signed)
        else:
            closed = min(abs(old), q)
            realized = closed * (p - self.entry_price) * _sign(old)
            new_signed = old + delta
            if new_signed == 0:
                entry = ZERO
            elif _sign(new_signed) == _sign(old):
                entry = self.entry_price
            else:
                entry = p  # flipped (one-way only, hedge legs were refused above)

        return dataclasses.replace(
            self,
            qty=new_signed if self.side is PositionSide.BOTH else abs(new_signed),
            entry_price=entry,
            realized_pnl=self.realized_pnl + realized,
            fees=self.fees + to_decimal(fee, "fee"),
            updated_at=self.updated_at if ts is None else max(self.updated_at, ts),
        )

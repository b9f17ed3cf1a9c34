"""Account state per venue: balances, positions (live unrealized PnL from mark), orders, fills.

``BalancesEvent``/``PositionsEvent`` with ``snapshot=True`` are the complete set: what they do
not list is zero / flat and is removed. A delta replaces only what it lists (a flat position in a
delta removes it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from terminal.model import (
    Balance,
    IllegalTransition,
    MarkPrice,
    Order,
    Position,
    PositionSide,
    Venue,
)
from terminal.model import Fill as FillModel
from terminal.venues.events import BalancesEvent, OrderReport, PositionsEvent

__all__ = ["AccountState", "PositionKey"]


@dataclass(frozen=True, slots=True)
class PositionKey:
    venue: Venue
    symbol: str
    side: PositionSide


class AccountState:
    def __init__(self, fills_kept: int = 1000) -> None:
        self.balances: dict[Venue, dict[str, Balance]] = {}
        self.positions: dict[PositionKey, Position] = {}
        self.orders: dict[tuple[Venue, str], Order] = {}  # (venue, client id)
        self.fills: deque[FillModel] = deque(maxlen=fills_kept)
        self._fill_ids: set[tuple[Venue, str, str]] = set()
        self._marks: dict[tuple[Venue, str], MarkPrice] = {}
        self.order_conflicts = 0  # reports that contradicted the known order (logged by the engine)
        self.balances_version = 0
        self.positions_version = 0
        self.orders_version = 0

    # ------------------------------------------------------------------ balances
    def on_balances(self, ev: BalancesEvent) -> None:
        book = self.balances.setdefault(ev.venue, {})
        if ev.snapshot:
            book.clear()
        for b in ev.balances:
            if ev.snapshot and b.total == 0:
                continue
            if b.total == 0:
                book.pop(b.asset, None)
            else:
                book[b.asset] = b
        self.balances_version += 1

    def balance(self, venue: Venue, asset: str) -> Balance:
        return self.balances.get(venue, {}).get(asset) or Balance(asset, free=Decimal(0))

    # ------------------------------------------------------------------ positions
    def on_positions(self, ev: PositionsEvent) -> None:
        if ev.snapshot:
            for key in [k for k in self.positions if k.venue is ev.venue]:
                del self.positions[key]
        for p in ev.positions:
            key = PositionKey(p.venue, p.symbol, p.side)
            if p.is_flat:
                self.positions.pop(key, None)
                continue
            self.positions[key] = self._marked(p)
        self.positions_version += 1

    def _marked(self, p: Position) -> Position:
        """Apply our latest mark when it is at least as new as what the venue sent."""
        mark = self._marks.get((p.venue, p.symbol))
        if mark is not None and (p.mark_price is None or mark.ts >= p.updated_at):
            return p.with_mark(mark.mark_price, mark.ts)
        return p

    def on_mark(self, mark: MarkPrice) -> None:
        self._marks[(mark.venue, mark.symbol)] = mark
        changed = False
        for key, p in self.positions.items():
            if key.venue is mark.venue and key.symbol == mark.symbol:
                self.positions[key] = p.with_mark(mark.mark_price, mark.ts)
                changed = True
        if changed:
            self.positions_version += 1

    # ------------------------------------------------------------------ orders and fills
    def on_order(self, report: OrderReport) -> str | None:
        """Merge a report; returns a reason when it contradicts the known order (kept as is)."""
        o = report.order
        key = (o.venue, o.client_id)
        known = self.orders.get(key)
        if known is None:
            self.orders[key] = o
        else:
            try:
                self.orders[key] = known.apply(report.update())
            except IllegalTransition as exc:
                self.order_conflicts += 1
                return str(exc)
        self.orders_version += 1
        return None

    def on_fill(self, fill: FillModel) -> bool:
        """Record a fill once (dedupe by venue/symbol/trade id); False for a repeat."""
        key = (fill.venue, fill.symbol, fill.trade_id)
        if key in self._fill_ids:
            return False
        self._fill_ids.add(key)
        if len(self._fill_ids) > 4 * (self.fills.maxlen or 1000):
            self._fill_ids = {(f.venue, f.symbol, f.trade_id) for f in self.fills}
            self._fill_ids.add(key)
        self.fills.append(fill)
        self.orders_version += 1
        return True

    def open_orders(self, venue: Venue | None = None) -> list[Order]:
        return [o for (v, _), o in self.orders.items() if o.is_open and (venue is None or v is venue)]

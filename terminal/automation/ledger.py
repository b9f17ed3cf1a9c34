"""Each strategy's own position per venue/symbol, from the fills of the orders it placed.

The venue only knows the account's net position; two strategies (or a strategy and the user)
on one symbol share it. A strategy must reason about what *it* holds - "one position per
symbol per strategy", "close what I opened" - so the host keeps this ledger: fills are
attributed by the origin the journal recorded for their order (``strategy:<name>``,
``webhook:<name>``), rebuilt from the journal at start, deduplicated by trade id (a fill
arrives from the stream and again from a reconcile).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from terminal.model import Fill, Side, Venue
from terminal.storage.journal import Journal

__all__ = ["StrategyLedger"]

ZERO = Decimal(0)


class StrategyLedger:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._qty: dict[tuple[str, Venue, str], Decimal] = defaultdict(lambda: ZERO)
        self._seen: set[tuple[Venue, str, str]] = set()
        self._origin: dict[str, str | None] = {}

    def rebuild(self) -> None:
        self._qty.clear()
        self._seen.clear()
        for fill in self._journal.fills():
            self.on_fill(fill)

    def origin_of(self, client_id: str) -> str | None:
        if client_id not in self._origin:
            record = self._journal.order_record(client_id)
            self._origin[client_id] = record.origin if record is not None else None
        return self._origin[client_id]

    def note_origin(self, client_id: str, origin: str) -> None:
        """Attribute an order before its first fill can arrive (saves a journal read)."""
        self._origin[client_id] = origin

    def on_fill(self, fill: Fill) -> None:
        key = (fill.venue, fill.symbol, fill.trade_id)
        if key in self._seen:
            return
        self._seen.add(key)
        origin = self.origin_of(fill.client_id)
        if origin is None or not origin.startswith(("strategy:", "webhook:")):
            return
        signed = fill.qty if fill.side is Side.BUY else -fill.qty
        self._qty[(origin, fill.venue, fill.symbol)] += signed

    def position(self, origin: str, venue: Venue, symbol: str) -> Decimal:
        return self._qty.get((origin, venue, symbol), ZERO)

    def holders(self, venue: Venue, symbol: str) -> dict[str, Decimal]:
        return {o: q for (o, v, s), q in self._qty.items() if v is venue and s == symbol and q != 0}

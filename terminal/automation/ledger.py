"""Each strategy's own position per venue/symbol.

The venue only knows the account's net position; two strategies (or a strategy and the user)
on one symbol share it. A strategy must reason about what *it* holds - "one position per
symbol per strategy", "close what I opened". The risk manager's ``PnlTracker`` already keeps
exactly that (``PnlFeed`` attributes every fill to its order's journal origin, counts each
trade once, and replays the journal at start), so this is a view over it keyed by origin.
"""

from __future__ import annotations

from decimal import Decimal

from terminal.model import Venue
from terminal.storage.journal import Journal
from terminal.trading.risk import PnlTracker, strategy_of

__all__ = ["StrategyLedger"]

ZERO = Decimal(0)


class StrategyLedger:
    def __init__(self, journal: Journal, pnl: PnlTracker) -> None:
        self._journal = journal
        self._pnl = pnl
        self._origin: dict[str, str | None] = {}

    def origin_of(self, client_id: str) -> str | None:
        """Who placed an order, from the journal (cached: an order's origin never changes)."""
        if client_id not in self._origin:
            record = self._journal.order_record(client_id)
            self._origin[client_id] = record.origin if record is not None else None
        return self._origin[client_id]

    def position(self, origin: str, venue: Venue, symbol: str) -> Decimal:
        key = strategy_of(origin)
        return ZERO if key is None else self._pnl.strategy_position(key, venue, symbol)

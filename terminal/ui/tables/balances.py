"""Balances per venue: asset, free, locked, total."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from terminal.engine.engine import Versions
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_plain, venue_label
from terminal.ui.tables.common import TablePanel
from terminal.ui.tables.model import Row

__all__ = ["BalancesPanel"]

HEADERS = ("Venue", "Asset", "Free", "Locked", "Total")


class BalancesPanel(TablePanel):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "balances", HEADERS, "No balances yet", parent)
        self._seen = -1

    def refresh(self, versions: Versions) -> None:
        if versions.balances == self._seen:
            return
        self._seen = versions.balances
        rows = []
        for venue in self.ctx.app.adapters:
            for asset, b in sorted(self.ctx.engine.balances(venue).items()):
                cells = (
                    venue_label(venue),
                    asset,
                    format_plain(b.free),
                    format_plain(b.locked),
                    format_plain(b.total),
                )
                rows.append(Row((venue, asset), cells, (), b))
        self.show_rows(rows)

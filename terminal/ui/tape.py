"""Trades tape: the selected market's recent public trades, newest first, side coloured.

The model holds at most ``MAX_ROWS`` rows. A refresh finds the newest trade it already shows
in the engine's ring and inserts only the newer ones at the top (removing as many from the
bottom), so the view repaints a few rows per frame and a scrolled-down reader is not thrown
back. A market switch, or a burst larger than the table, resets it.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStackedLayout,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from terminal.engine.engine import Versions
from terminal.model import Instrument, Side, Trade, Venue
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_price, format_qty, format_time_ms, instrument_for, venue_label
from terminal.ui.refresh import Throttle
from terminal.ui.textcells import Cell, TextCellDelegate
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR

__all__ = ["MAX_ROWS", "MIN_INTERVAL_S", "TradesModel", "TradesPanel"]

MAX_ROWS = 200
# Prints are read as a flow, not frame by frame: 10 repaints a second instead of the refresher's
# rate (each repaint redraws every visible row, as new rows push the others down).
MIN_INTERVAL_S = 0.1
SIDE_ROLE = Qt.ItemDataRole.UserRole + 1

COL_TIME, COL_PRICE, COL_QTY = 0, 1, 2
_HEADERS = ("Time", "Price", "Size")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class TradesModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._trades: list[Trade] = []  # newest first
        self._texts: list[tuple[str, str, str]] = []
        self._inst: Instrument | None = None
        self._brushes = {Side.BUY: QBrush(QColor(BUY_COLOR)), Side.SELL: QBrush(QColor(SELL_COLOR))}
        self._muted = QBrush(QColor(MUTED))
        self._cell_colors = {Side.BUY: QColor(BUY_COLOR), Side.SELL: QColor(SELL_COLOR)}
        self._cell_muted = QColor(MUTED)

    @property
    def trades(self) -> list[Trade]:
        return self._trades

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._trades)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 3

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[row][col]
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._muted if col == COL_TIME else self._brushes[self._trades[row].taker_side]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col != COL_TIME else _LEFT
        if role == SIDE_ROLE:
            return self._trades[row].taker_side
        if role == Qt.ItemDataRole.ToolTipRole:
            t = self._trades[row]
            return f"{'Buy' if t.taker_side is Side.BUY else 'Sell'} taker · trade id {t.trade_id}"
        return None

    def cell(self, row: int, col: int) -> Cell:
        """What the view paints (``TextCellDelegate``): the cached text, no ``data`` round trips."""
        if col == COL_TIME:
            return Cell(self._texts[row][col], self._cell_muted, _LEFT)
        return Cell(self._texts[row][col], self._cell_colors[self._trades[row].taker_side], _RIGHT)

    def _text(self, t: Trade) -> tuple[str, str, str]:
        return (format_time_ms(t.ts), format_price(t.price, self._inst), format_qty(t.qty, self._inst))

    def update(self, recent: tuple[Trade, ...], inst: Instrument | None) -> int:
        """Show ``recent`` (the engine's ring, oldest first); returns the rows inserted."""
        newest_first = list(reversed(recent[-MAX_ROWS:]))
        if inst is not self._inst or not self._trades:
            return self.clear(inst, newest_first)
        if not newest_first:
            return self.clear(inst)
        head = self._trades[0]
        try:
            # identity: the engine hands out the same Trade objects (ids may repeat across venues)
            k = next(i for i, t in enumerate(newest_first) if t is head)
        except StopIteration:
            return self.clear(inst, newest_first)  # a burst larger than the table, or a new market
        if k == 0:
            return 0
        fresh = newest_first[:k]
        self.beginInsertRows(QModelIndex(), 0, k - 1)
        self._trades[0:0] = fresh
        self._texts[0:0] = [self._text(t) for t in fresh]
        self.endInsertRows()
        excess = len(self._trades) - MAX_ROWS
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), MAX_ROWS, len(self._trades) - 1)
            del self._trades[MAX_ROWS:]
            del self._texts[MAX_ROWS:]
            self.endRemoveRows()
        return k

    def clear(self, inst: Instrument | None, newest_first: list[Trade] | None = None) -> int:
        """Replace every row (a market switch, or a burst larger than the table)."""
        newest_first = newest_first or []
        self.beginResetModel()
        self._inst = inst
        self._trades = newest_first
        self._texts = [self._text(t) for t in newest_first]
        self.endResetModel()
        return len(newest_first)


class TradesPanel(QWidget):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trades")
        self.ctx = ctx
        self.state = ""
        self.redraws = 0
        self.last_redraw_ms = 0.0
        self._seen = -1
        self._inst: Instrument | None = None
        self.throttle = Throttle(MIN_INTERVAL_S, self._redraw, self)

        self.title = QLabel(self)
        self.model = TradesModel(self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setItemDelegate(TextCellDelegate(self.model.cell, self.view))
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self.message = QLabel(self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setEnabled(False)
        self._stack = QStackedLayout()
        self._stack.addWidget(self.view)
        self._stack.addWidget(self.message)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.title, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addLayout(self._stack, 1)

        ctx.selection.changed.connect(self._on_market)
        self._on_market(ctx.selection.venue, ctx.selection.symbol)

    def _on_market(self, venue: Venue, symbol: str) -> None:
        self._inst = instrument_for(getattr(self.ctx.app, "adapters", {}), venue, symbol)
        self.title.setText(f"<b>{symbol}</b> · {venue_label(venue)}")
        self.model.clear(self._inst)  # never show the previous market's trades under this title
        self.throttle.now()

    def refresh(self, versions: Versions) -> None:
        if versions.trades == self._seen:
            return
        self._seen = versions.trades
        self.throttle.request()

    def _redraw(self) -> None:
        t0 = time.perf_counter()
        sel = self.ctx.selection
        recent = self.ctx.engine.recent_trades(sel.venue, sel.symbol, MAX_ROWS)
        if self._inst is None and recent:  # built before the app loaded its instruments
            self._inst = instrument_for(getattr(self.ctx.app, "adapters", {}), sel.venue, sel.symbol)
        self.model.update(recent, self._inst)
        if recent:
            self.state = ""
            self._stack.setCurrentWidget(self.view)
        else:
            self.state = f"No trades yet for {sel.symbol} on {venue_label(sel.venue)}."
            self.message.setText(self.state)
            self._stack.setCurrentWidget(self.message)
        self.redraws += 1
        self.last_redraw_ms = (time.perf_counter() - t0) * 1000

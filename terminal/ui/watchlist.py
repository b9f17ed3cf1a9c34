"""Watchlist: one row per market the engine has, with last price, 24h change and 24h volume.

Rows are updated in place (one ``dataChanged`` over the changed span; new markets are
appended), so the ``QSortFilterProxyModel`` keeps the user's sort order live without resets.
Sorting uses the numbers (``SORT_ROLE``), not the text; the filter box matches every word
against symbol and venue. Double-click or Enter selects the market for every panel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedLayout,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from terminal.engine.engine import Versions
from terminal.model import Instrument, Venue
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_compact, format_pct, format_price, instrument_for, venue_label, venue_short
from terminal.ui.refresh import Throttle
from terminal.ui.textcells import PAD, Cell, TextCellDelegate
from terminal.ui.theme import BUY_COLOR, SELL_COLOR

__all__ = ["FILTER_ROLE", "KEY_ROLE", "SORT_ROLE", "WatchRow", "WatchlistModel", "WatchlistPanel"]

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # float / str the proxy sorts by
KEY_ROLE = Qt.ItemDataRole.UserRole + 2  # (Venue, symbol)
FILTER_ROLE = Qt.ItemDataRole.UserRole + 3  # lower-case "symbol venue label" the filter searches

COL_SYMBOL, COL_VENUE, COL_LAST, COL_CHANGE, COL_VOLUME = range(5)
_HEADERS = ("Symbol", "Venue", "Last", "24h %", "24h vol")
_TIPS = (
    "",
    "",
    "Last traded price",
    "Change over 24 hours",
    "24h volume in the quote asset (hover a cell for the exact amount)",
)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
# An overview of many markets: 4 repaints a second are plenty (and each is a sorted, filtered
# table); the selected market's own panels run at the refresher's rate.
MIN_INTERVAL_S = 0.25
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True, slots=True)
class WatchRow:
    venue: Venue
    symbol: str
    last: Decimal | None
    change_pct: Decimal | None
    quote_volume: Decimal | None
    texts: tuple[str, str, str, str, str]
    quote: str = ""  # the volume's unit (tooltip): the column stays narrow


class WatchlistModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[WatchRow] = []
        self._index: dict[tuple[Venue, str], int] = {}
        self.current: tuple[Venue, str] | None = None
        self._up, self._down = QBrush(QColor(BUY_COLOR)), QBrush(QColor(SELL_COLOR))
        self._up_color, self._down_color = QColor(BUY_COLOR), QColor(SELL_COLOR)
        self._bold = QFont()
        self._bold.setBold(True)

    @property
    def rows(self) -> list[WatchRow]:
        return self._rows

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is not Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _TIPS[section] or None
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        r = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return r.texts[col]
        if role == SORT_ROLE:
            return _sort_key(r, col)
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_CHANGE and r.change_pct:
            return self._up if r.change_pct > 0 else self._down
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _LEFT if col in (COL_SYMBOL, COL_VENUE) else _RIGHT
        if role == Qt.ItemDataRole.FontRole and (r.venue, r.symbol) == self.current:
            return self._bold
        if role == KEY_ROLE:
            return (r.venue, r.symbol)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_VENUE:
                return venue_label(r.venue)
            if col == COL_VOLUME and r.quote_volume is not None:
                return f"{r.quote_volume:,.0f} {r.quote}".strip()
            return None
        if role == FILTER_ROLE:
            return f"{r.symbol} {venue_label(r.venue)} {r.venue.value}".lower()
        return None

    def cell(self, row: int, col: int) -> Cell:
        """What the view paints (``TextCellDelegate``): the row's texts, no ``data`` round trips."""
        r = self._rows[row]
        color = None
        if col == COL_CHANGE and r.change_pct:
            color = self._up_color if r.change_pct > 0 else self._down_color
        align = _LEFT if col in (COL_SYMBOL, COL_VENUE) else _RIGHT
        return Cell(r.texts[col], color, align, (r.venue, r.symbol) == self.current)

    def update(self, rows: list[WatchRow]) -> None:
        """Update known markets in place (one dataChanged over the changed span), append new ones."""
        first = last = -1
        fresh: list[WatchRow] = []
        for row in rows:
            key = (row.venue, row.symbol)
            i = self._index.get(key)
            if i is None:
                fresh.append(row)
            elif self._rows[i] != row:
                self._rows[i] = row
                first = i if first < 0 else min(first, i)
                last = max(last, i)
        if first >= 0:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(_HEADERS) - 1))
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            for row in fresh:
                self._index[(row.venue, row.symbol)] = len(self._rows)
                self._rows.append(row)
            self.endInsertRows()

    def set_current(self, key: tuple[Venue, str]) -> None:
        old, self.current = self.current, key
        for k in (old, key):
            i = self._index.get(k) if k is not None else None
            if i is not None:
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(_HEADERS) - 1))


def _sort_key(r: WatchRow, col: int) -> Any:
    if col == COL_SYMBOL:
        return r.symbol
    if col == COL_VENUE:
        return venue_label(r.venue)
    value = {COL_LAST: r.last, COL_CHANGE: r.change_pct, COL_VOLUME: r.quote_volume}[col]
    return float("-inf") if value is None else float(value)  # unknown sorts below any number


class _Proxy(QSortFilterProxyModel):
    """Every word of the filter text must appear in the row's symbol or venue."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 (invalidateRowsFilter is deprecated there)
            self.beginFilterChange()
            self._words = text.lower().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._words = text.lower().split()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self._words:
            return True
        hay = self.sourceModel().index(source_row, 0, source_parent).data(FILTER_ROLE) or ""
        return all(w in hay for w in self._words)


class WatchlistPanel(QWidget):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("watchlist")
        self.ctx = ctx
        self.redraws = 0
        self.last_redraw_ms = 0.0
        self._seen: tuple[int, int] = (-1, -1)
        self._insts: dict[tuple[Venue, str], Instrument] = {}
        self.throttle = Throttle(MIN_INTERVAL_S, self._redraw, self)

        self.filter_box = QLineEdit(self)
        self.filter_box.setPlaceholderText("Filter: symbol or venue (e.g. eth bybit)")
        self.filter_box.setClearButtonEnabled(True)
        self.model = WatchlistModel(self)
        self.proxy = _Proxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(TextCellDelegate(self.model.cell, self.view, self.proxy))
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COL_SYMBOL, Qt.SortOrder.AscendingOrder)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.view.horizontalHeader()
        # every column fits its text: a narrow dock scrolls sideways rather than eliding prices.
        # Not ResizeToContents: that measures every cell of a column on every dataChanged (the
        # watchlist's repaint cost up to 14 ms); columns are re-fitted when a text outgrows them.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self._widths: tuple[int, ...] = ()  # longest text per column when last fitted
        self._bold_font = QFont(self.view.font())
        self._bold_font.setBold(True)
        self.fits = 0  # column re-fits (tests)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setToolTip("Double-click or press Enter to show this market in every panel")
        # activated: double-click, and Enter/Return on the current row
        self.view.activated.connect(self._on_activated)

        self.message = QLabel("No markets yet: waiting for the first book or ticker.", self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setEnabled(False)
        self._stack = QStackedLayout()
        self._stack.addWidget(self.view)
        self._stack.addWidget(self.message)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.filter_box)
        layout.addLayout(self._stack, 1)

        self.filter_box.textChanged.connect(self.proxy.set_text)
        ctx.selection.changed.connect(self._on_market)
        self.model.set_current((ctx.selection.venue, ctx.selection.symbol))
        self._redraw()

    def _on_market(self, venue: Venue, symbol: str) -> None:
        self.model.set_current((venue, symbol))

    def _on_activated(self, index: QModelIndex) -> None:
        key = index.data(KEY_ROLE)
        if key is not None:
            self.ctx.selection.set_market(*key)

    def refresh(self, versions: Versions) -> None:
        seen = (versions.tickers, versions.books)
        if seen == self._seen:
            return
        self._seen = seen
        self.throttle.request()

    def _redraw(self) -> None:
        t0 = time.perf_counter()
        engine = self.ctx.engine
        rows = [self._row(v, s) for v, s in engine.books()]
        self.model.update(rows)
        self._stack.setCurrentWidget(self.view if self.model.rowCount() else self.message)
        self._fit_columns()
        self.redraws += 1
        self.last_redraw_ms = (time.perf_counter() - t0) * 1000

    def _fit_columns(self) -> None:
        """Widen the columns to their longest text, only when a text got longer (see __init__)."""
        rows = self.model.rows
        lengths = tuple(max((len(r.texts[c]) for r in rows), default=0) for c in range(len(_HEADERS)))
        if len(lengths) == len(self._widths):
            if all(n <= o for n, o in zip(lengths, self._widths, strict=True)):
                return
            lengths = tuple(map(max, lengths, self._widths))
        self._widths = lengths
        bold = QFontMetrics(self._bold_font)  # the current market's row is bold: the widest case
        header = self.view.horizontalHeader()
        for c in range(len(_HEADERS) - 1):  # the last section stretches
            text = max((bold.horizontalAdvance(r.texts[c]) for r in rows), default=0)
            header.resizeSection(c, max(text + 2 * PAD + 4, header.sectionSizeHint(c)))
        self.fits += 1

    def _row(self, venue: Venue, symbol: str) -> WatchRow:
        key = (venue, symbol)
        inst = self._insts.get(key)
        if inst is None:  # not cached while unknown: the app may load its instruments later
            inst = instrument_for(getattr(self.ctx.app, "adapters", {}), venue, symbol)
            if inst is not None:
                self._insts[key] = inst
        ticker = self.ctx.engine.ticker(venue, symbol)
        if ticker is not None:
            last, change, volume = ticker.last, ticker.change_pct_24h, ticker.quote_volume_24h
        else:  # no 24h ticker (yet): the mid of the book is still worth showing
            top = self.ctx.engine.top_of_book(venue, symbol)
            last, change, volume = (top.mid if top is not None else None), None, None
        texts = (
            symbol,
            venue_short(venue),
            format_price(last, inst),
            format_pct(change),
            format_compact(volume),
        )
        return WatchRow(venue, symbol, last, change, volume, texts, inst.quote if inst is not None else "")

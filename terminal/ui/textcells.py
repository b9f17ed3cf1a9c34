"""A table delegate that paints a cell's text straight from the model's cached row.

``QStyledItemDelegate.paint`` fills a style option by asking the model for about eight roles
per cell (each a Python call into ``data``) and then draws through the style (the app's
stylesheet makes that a ``QStyleSheetStyle`` pass): about 20 us a cell, 2-4 ms for a
visible ladder or tape, repainted many times a second. Here one Python call per cell asks
the model's ``cell(row, column)`` for what it already formatted and draws the text: about
2.5x cheaper (bench/ui_latency.py, panel paint times). Tooltips, sizes and sorting still come
from ``data``; only painting is short-circuited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from PySide6.QtCore import QAbstractProxyModel, QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

__all__ = ["Cell", "CellSource", "TextCellDelegate"]

PAD = 4  # px of horizontal padding, about what the Fusion item view uses


class Cell(NamedTuple):
    text: str
    color: QColor | None = None  # None: the palette's text colour
    align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
    bold: bool = False


CellSource = Callable[[int, int], Cell]  # (source row, column) -> what to draw


class TextCellDelegate(QStyledItemDelegate):
    def __init__(
        self, cell: CellSource, view: QAbstractItemView, proxy: QAbstractProxyModel | None = None
    ) -> None:
        super().__init__(view)
        self._cell = cell
        self._proxy = proxy
        pal = view.palette()
        self._text = pal.color(QPalette.ColorRole.Text)
        self._highlight = pal.color(QPalette.ColorRole.Highlight)
        self._highlight_text = pal.color(QPalette.ColorRole.HighlightedText)
        self._bold = QFont(view.font())
        self._bold.setBold(True)
        self.painted = 0  # cells painted (tests: the fast path really runs)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        self.painted += 1
        if self._proxy is not None:
            index = self._proxy.mapToSource(index)
        cell = self._cell(index.row(), index.column())
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(rect, self._highlight)
        self.draw_text(painter, rect, cell, self._highlight_text if selected else None)

    def draw_text(self, painter: QPainter, rect: QRect, cell: Cell, override: QColor | None = None) -> None:
        if not cell.text:
            return
        painter.setPen(override or cell.color or self._text)
        if cell.bold:
            painter.save()
            painter.setFont(self._bold)
        box = rect.adjusted(PAD, 0, -PAD, 0)
        text = cell.text
        fm = painter.fontMetrics()
        if fm.horizontalAdvance(text) > box.width():  # as the styled delegate does: elide, never clip
            text = fm.elidedText(text, Qt.TextElideMode.ElideRight, box.width())
        painter.drawText(box, int(cell.align), text)
        if cell.bold:
            painter.restore()

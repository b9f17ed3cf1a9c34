"""A keyed table model that updates in place.

``set_rows`` takes the full wanted list of ``Row``s and turns it into the smallest set of model
changes: changed cells get one ``dataChanged`` per row, vanished keys are removed, new keys
inserted at their position. Views keep their selection, scroll position and per-row widgets
(buttons set with ``setIndexWidget`` follow their row) because the model is never reset.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

__all__ = ["Row", "RowModel"]

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Row:
    key: Hashable
    cells: tuple[str, ...]
    colors: tuple[str | None, ...] = ()  # per-cell foreground colour ("" / None = palette)
    data: Any = None  # the domain object behind the row (an Order, a Position...)


class RowModel(QAbstractTableModel):
    def __init__(self, headers: Sequence[str], parent: Any = None, *, editable: Sequence[int] = ()) -> None:
        super().__init__(parent)
        self.headers = tuple(headers)
        self.rows: list[Row] = []
        self._editable = frozenset(editable)
        # (row, column, text) -> handled; the model never changes its cells itself on an edit
        self.on_edit: Callable[[Row, int, str], None] | None = None
        self.resets = 0  # never incremented by set_rows: tests check updates stay in place

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation is Qt.Orientation.Horizontal:
            return self.headers[section] if 0 <= section < len(self.headers) else None
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return row.cells[col] if col < len(row.cells) else ""
        if role == Qt.ItemDataRole.ForegroundRole and col < len(row.colors) and row.colors[col]:
            return QColor(row.colors[col])
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and index.column() in self._editable:
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid() or index.column() not in self._editable:
            return False
        text = str(value).strip()
        row = self.rows[index.row()]
        if self.on_edit is None or text == row.cells[index.column()]:
            return False
        self.on_edit(row, index.column(), text)
        return True

    # ------------------------------------------------------------------ updates
    def set_rows(self, wanted: Sequence[Row]) -> None:
        """Make the model show ``wanted`` (in that order) with minimal changes."""
        keys = {r.key for r in wanted}
        # removals, bottom up so indices stay valid
        for i in range(len(self.rows) - 1, -1, -1):
            if self.rows[i].key not in keys:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self.rows[i]
                self.endRemoveRows()
        for i, row in enumerate(wanted):
            if i < len(self.rows) and self.rows[i].key == row.key:
                if self.rows[i] != row:
                    self.rows[i] = row
                    self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.headers) - 1))
                continue
            at = next((j for j in range(i + 1, len(self.rows)) if self.rows[j].key == row.key), None)
            if at is not None:  # moved up: a move keeps its persistent indexes (and row widgets)
                self.beginMoveRows(QModelIndex(), at, at, QModelIndex(), i)
                self.rows.insert(i, self.rows.pop(at))
                self.endMoveRows()
                if self.rows[i] != row:
                    self.rows[i] = row
                    self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.headers) - 1))
                continue
            self.beginInsertRows(QModelIndex(), i, i)
            self.rows.insert(i, row)
            self.endInsertRows()

    def row_of(self, key: Hashable) -> int:
        return next((i for i, r in enumerate(self.rows) if r.key == key), -1)

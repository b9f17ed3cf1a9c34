"""Strategies dock: a placeholder table until the strategies issue brings a registry to list."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableWidget, QVBoxLayout, QWidget

from terminal.engine.engine import Versions
from terminal.ui.context import UiContext

__all__ = ["StrategiesPanel"]

COLUMNS = ("Strategy", "Venue", "Symbol", "State", "Position", "PnL")


class StrategiesPanel(QWidget):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("strategies")
        self.ctx = ctx
        self.empty = QLabel("No strategies yet — they arrive with the strategies issue.", self)
        self.empty.setEnabled(False)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.empty)
        layout.addWidget(self.table)

    def refresh(self, versions: Versions) -> None:
        pass  # nothing to list until strategies exist

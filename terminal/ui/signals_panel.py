"""Signals log: every signal the journal recorded (accepted, rejected, duplicate) and why.

Signals are not part of the engine's versions (they arrive through the webhook into the
journal), so the panel polls the journal on its own slow timer and appends only new rows.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from terminal.engine.engine import Versions
from terminal.ui.context import UiContext
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR

__all__ = ["SignalsPanel"]

log = logging.getLogger(__name__)

COLUMNS = ("time", "source", "id", "symbol", "side", "entry", "verdict", "reason")
MAX_ROWS = 1000
POLL_MS = 2000
_VERDICT_COLORS = {"accepted": BUY_COLOR, "rejected": SELL_COLOR, "duplicate": MUTED}


class SignalsPanel(QWidget):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signals")
        self.ctx = ctx
        self._last_seq = 0
        self._since_ms: int | None = None
        self.empty = QLabel("No signals received yet (webhook signals are journalled here).", self)
        self.empty.setEnabled(False)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([c.capitalize() for c in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.empty)
        layout.addWidget(self.table)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    def refresh(self, versions: Versions) -> None:
        pass  # polled on its own timer (see module docstring)

    def poll(self) -> None:
        journal = getattr(self.ctx.app, "journal", None)
        if journal is None:
            return
        try:
            records = journal.signals(since=self._since_ms)
        except Exception:  # a closed journal during shutdown: say so once, keep the rows
            log.exception("signals panel: reading the journal failed")
            self._timer.stop()
            return
        new = [r for r in records if r.seq > self._last_seq]
        if not new:
            return
        for rec in new:
            self._append(rec)
            self._last_seq = max(self._last_seq, rec.seq)
            self._since_ms = (
                rec.received_at if self._since_ms is None else max(self._since_ms, rec.received_at)
            )
        while self.table.rowCount() > MAX_ROWS:
            self.table.removeRow(self.table.rowCount() - 1)
        self.empty.setVisible(self.table.rowCount() == 0)

    def _append(self, rec: Any) -> None:
        payload = rec.payload or {}
        when = time.strftime("%H:%M:%S", time.localtime(rec.received_at / 1000))
        values = (
            when,
            rec.source,
            rec.signal_id,
            rec.symbol,
            str(payload.get("side") or ""),
            str(payload.get("entry") or ""),
            str(rec.verdict.value),
            rec.reason or "",
        )
        self.table.insertRow(0)  # newest first
        for col, text in enumerate(values):
            item = QTableWidgetItem(text)
            if COLUMNS[col] == "verdict":
                item.setForeground(QBrush(QColor(_VERDICT_COLORS.get(text, MUTED))))
            if COLUMNS[col] == "entry":
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(0, col, item)

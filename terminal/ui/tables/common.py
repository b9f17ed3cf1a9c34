"""What the table panels share: the panel frame (toolbar, table, empty state, status line) and
running an OMS request from a button without blocking the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from PySide6.QtCore import Qt
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

from terminal.ui.context import UiContext
from terminal.ui.tables.model import Row, RowModel
from terminal.ui.theme import SELL_COLOR

__all__ = ["TablePanel", "error_text", "run_action"]

log = logging.getLogger(__name__)

_AUTOSIZE_MAX_ROWS = 200  # fitting columns reads every cell: not for long histories
_COLUMN_SLACK_PX = 14


def error_text(exc: BaseException) -> str:
    """What the user reads when an order action fails: the filter, risk rule or venue's words."""
    from terminal.trading.oms import RiskRejected
    from terminal.venues.errors import FilterRejected, VenueError

    if isinstance(exc, FilterRejected):
        return "; ".join(str(v) for v in exc.violations) or exc.venue_message
    if isinstance(exc, RiskRejected):
        return f"risk: {exc.verdict.reason}"
    if isinstance(exc, VenueError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def run_action(
    coro: Coroutine[Any, Any, Any],
    what: str,
    on_ok: Callable[[Any], None],
    on_error: Callable[[str], None],
) -> asyncio.Future[Any]:
    """Schedule ``coro`` on the running (qasync) loop; report its outcome to the callbacks.
    Never awaited from a slot: the button returns at once and the UI stays live."""
    future = asyncio.ensure_future(coro)

    def done(f: asyncio.Future[Any]) -> None:
        if f.cancelled():
            on_error(f"{what}: cancelled")
            return
        exc = f.exception()
        if exc is not None:
            log.warning("%s failed: %s", what, exc)
            on_error(f"{what} failed: {error_text(exc)}")
        else:
            on_ok(f.result())

    future.add_done_callback(done)
    return future


class TablePanel(QWidget):
    """Toolbar row, a table over a ``RowModel`` (an empty-state text when it has no rows) and a
    status line for the outcome of actions."""

    def __init__(
        self,
        ctx: UiContext,
        key: str,
        headers: Sequence[str],
        empty_text: str,
        parent: QWidget | None = None,
        *,
        editable: Sequence[int] = (),
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(key)
        self.model = RowModel(headers, self, editable=editable)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # the last column holds the row buttons (actions_width) or free text: it takes the rest
        self.view.horizontalHeader().setStretchLastSection(True)
        self.actions_width = 0
        if not editable:
            self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        else:
            self.view.setEditTriggers(
                QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
            )
        self.empty = QLabel(empty_text, self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)  # muted palette colour
        self.toolbar = QHBoxLayout()
        self.toolbar.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel("", self)
        self.status.setObjectName(f"{key}_status")
        self.status.setWordWrap(True)
        stack_host = QWidget(self)
        self._stack = QStackedLayout(stack_host)
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addLayout(self.toolbar)
        layout.addWidget(stack_host, 1)
        layout.addWidget(self.status)

    def show_rows(self, rows: Sequence[Row]) -> None:
        before = len(self.model.rows)
        self.model.set_rows(rows)
        self._stack.setCurrentWidget(self.view if rows else self.empty)
        if rows and len(rows) != before and len(rows) <= _AUTOSIZE_MAX_ROWS:
            self._fit_columns()

    def _fit_columns(self) -> None:
        """Fit the columns to their text when rows come or go, with room for values that grow
        (a PnL going from 0.00 to -12.50) so they are not elided between two fits."""
        self.view.resizeColumnsToContents()
        last = self.model.columnCount() - 1
        for col in range(last + 1):
            if col == last and self.actions_width:
                self.view.setColumnWidth(col, self.actions_width)
            else:
                self.view.setColumnWidth(col, self.view.columnWidth(col) + _COLUMN_SLACK_PX)

    def say(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)

    def say_error(self, text: str) -> None:
        self.status.setStyleSheet(f"color: {SELL_COLOR};")
        self.status.setText(text)

    def act(self, coro: Coroutine[Any, Any, Any], what: str, ok: Callable[[Any], str]) -> asyncio.Future[Any]:
        self.say(f"{what}…")
        return run_action(coro, what, lambda r: self.say(ok(r)), self.say_error)

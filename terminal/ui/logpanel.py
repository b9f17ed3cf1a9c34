"""The log dock: the application's log records in a bounded, read-only view.

``QtLogHandler`` may be called from any thread (pybit and executors log from their own), so
it only appends formatted lines to a bounded deque under a lock; the panel drains it on the
GUI thread a few times a second. Nothing is redrawn per record.
"""

from __future__ import annotations

import html
import logging
import threading
from collections import deque

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

from terminal.engine.engine import Versions
from terminal.ui.context import UiContext
from terminal.ui.theme import MUTED, SELL_COLOR, WARN_COLOR

__all__ = ["LogPanel", "QtLogHandler"]

MAX_LINES = 2000
_DRAIN_MS = 250


class QtLogHandler(logging.Handler):
    """Keeps the newest ``capacity`` formatted records for the GUI to pick up."""

    def __init__(self, capacity: int = MAX_LINES, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        self._pending: deque[tuple[int, str]] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.errors = 0  # ERROR+ records seen: the window shows the newest in its status bar
        self.last_error = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self._lock:
            self._pending.append((record.levelno, line))
            if record.levelno >= logging.ERROR:
                self.errors += 1
                self.last_error = record.getMessage().splitlines()[0] if record.getMessage() else line

    def drain(self) -> list[tuple[int, str]]:
        with self._lock:
            out = list(self._pending)
            self._pending.clear()
        return out


class LogPanel(QWidget):
    def __init__(self, ctx: UiContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("log")
        self.view = QPlainTextEdit(self)
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LINES)
        self.view.setUndoRedoEnabled(False)
        self.view.setFont(QFont("DejaVu Sans Mono", 8))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.handler = QtLogHandler()
        logging.getLogger().addHandler(self.handler)
        self._timer = QTimer(self)
        self._timer.setInterval(_DRAIN_MS)
        self._timer.timeout.connect(self.drain)
        self._timer.start()
        self.destroyed.connect(self._detach_handler)

    def _detach_handler(self) -> None:
        logging.getLogger().removeHandler(self.handler)

    def close_handler(self) -> None:
        """Stop collecting (the window calls this when it closes)."""
        self._timer.stop()
        self._detach_handler()

    def refresh(self, versions: Versions) -> None:
        pass  # draining runs on its own timer: log lines do not bump engine versions

    def drain(self) -> None:
        records = self.handler.drain()
        if not records:
            return
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        for level, line in records:
            self.view.appendHtml(_html(level, line))
        if at_bottom:
            bar.setValue(bar.maximum())

    def text(self) -> str:
        return self.view.toPlainText()


def _html(level: int, line: str) -> str:
    text = html.escape(line)
    if level >= logging.ERROR:
        return f'<span style="color:{SELL_COLOR}">{text}</span>'
    if level >= logging.WARNING:
        return f'<span style="color:{WARN_COLOR}">{text}</span>'
    if level < logging.INFO:
        return f'<span style="color:{MUTED}">{text}</span>'
    return f"<span>{text}</span>"

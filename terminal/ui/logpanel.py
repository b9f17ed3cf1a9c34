"""The log dock: the application's log records in a bounded, read-only view, filtered by
minimum level and by source (a substring of the logger name, e.g. ``automation`` or
``binance``). Records carry the secret scrubber and correlation filter of ``terminal.ops``.

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
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from terminal.engine.engine import Versions
from terminal.ui.context import UiContext
from terminal.ui.theme import MUTED, SELL_COLOR, WARN_COLOR

__all__ = ["LogPanel", "QtLogHandler"]

MAX_LINES = 2000
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_DRAIN_MS = 250


class QtLogHandler(logging.Handler):
    """Keeps the newest ``capacity`` formatted records for the GUI to pick up."""

    def __init__(self, capacity: int = MAX_LINES, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        self._pending: deque[tuple[int, str, str]] = deque(maxlen=capacity)  # level, logger, line
        # The dock must not depend on handler order for scrubbing: its own filters.
        from terminal.ops.logs import CorrelationFilter, SecretScrubber

        self.addFilter(SecretScrubber())
        self.addFilter(CorrelationFilter())
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
            self._pending.append((record.levelno, record.name, line))
            if record.levelno >= logging.ERROR:
                self.errors += 1
                self.last_error = record.getMessage().splitlines()[0] if record.getMessage() else line

    def drain(self) -> list[tuple[int, str, str]]:
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
        self.level = QComboBox(self)
        for name in LEVELS:
            self.level.addItem(name, logging.getLevelName(name))
        self.level.setCurrentText("INFO")
        self.level.setToolTip("show records at this level and above")
        self.source = QLineEdit(self)
        self.source.setPlaceholderText("source filter (logger name contains…)")
        self.source.setClearButtonEnabled(True)
        bar = QHBoxLayout()
        bar.setContentsMargins(2, 2, 2, 0)
        bar.addWidget(self.level)
        bar.addWidget(self.source, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self._history: deque[tuple[int, str, str]] = deque(maxlen=MAX_LINES)
        self.level.currentIndexChanged.connect(self._rerender)
        self.source.textChanged.connect(self._rerender)
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
        self._history.extend(records)
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        for level, name, line in records:
            if self._shown(level, name):
                self.view.appendHtml(_html(level, line))
        if at_bottom:
            bar.setValue(bar.maximum())

    def _shown(self, level: int, name: str) -> bool:
        source = self.source.text().strip().lower()
        return level >= int(self.level.currentData()) and (not source or source in name.lower())

    def _rerender(self) -> None:
        self.view.clear()
        lines = [_html(lv, line) for lv, name, line in self._history if self._shown(lv, name)]
        if lines:
            self.view.appendHtml("<br>".join(lines))
        self.view.verticalScrollBar().setValue(self.view.verticalScrollBar().maximum())

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

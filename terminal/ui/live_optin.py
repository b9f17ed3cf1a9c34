"""Live-mode opt-in: real money needs stored live keys and the venue's name typed to confirm.

A non-modal window (``show()``; never ``exec()`` inside a coroutine) that names the venue and
the account (the live API key's first characters) it will trade with. "Go live" is enabled only
when live keys are stored for that venue and the confirmation field holds the venue's name
exactly. Emits ``accepted(venue)`` or ``rejected()`` once; closing the window rejects.

``ask_start_mode`` is the ``confirm`` for ``terminal.prefs.startup_mode``: asked once at start,
before the event loop runs, with "Start in demo" as the default answer.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from terminal.app import Mode
from terminal.model import Venue
from terminal.secrets import KeyStore, KeyStoreError
from terminal.ui.fmt import venue_label
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, WARN_COLOR
from terminal.venues.base import Network

__all__ = ["LiveOptIn", "ask_start_mode", "start_mode_box"]

log = logging.getLogger(__name__)


class LiveOptIn(QWidget):
    accepted = Signal(object)  # Venue
    rejected = Signal()

    def __init__(
        self, keystore: KeyStore, venue: Venue, account: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, Qt.WindowType.Dialog)
        self.keystore = keystore
        self.venue = venue
        self._decided = False
        self.setObjectName("live-optin")
        self.setWindowTitle(f"Go live on {venue_label(venue)}?")
        self.setWindowModality(Qt.WindowModality.NonModal)

        problem, key_hint = self._live_keys()
        self.has_keys = problem is None
        self.account = account or (f"API key {key_hint}…" if key_hint else "no live API key")

        title = QLabel(f"Live trading on {venue_label(venue)}", self)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        title.setFont(font)
        warning = QLabel(
            f"Orders will go to the real {venue_label(venue)} exchange with real money, "
            f"using the account <b>{self.account}</b>. Risk limits and the kill switch still apply; "
            "nothing here can undo a filled order.",
            self,
        )
        warning.setWordWrap(True)
        self.keys_label = QLabel(self)
        self.keys_label.setWordWrap(True)
        if self.has_keys:
            self.keys_label.setText(f"Live keys: stored ✓ ({self.keystore.describe()})")
            self.keys_label.setStyleSheet(f"color: {BUY_COLOR};")
        else:
            self.keys_label.setText(problem)
            self.keys_label.setStyleSheet(f"color: {SELL_COLOR};")
        prompt = QLabel(f"Type <b><code>{venue.value}</code></b> to confirm:", self)
        self.confirm_edit = QLineEdit(self)
        self.confirm_edit.setPlaceholderText(venue.value)
        self.confirm_edit.setEnabled(self.has_keys)
        self.hint = QLabel(self)
        self.hint.setStyleSheet(f"color: {MUTED};")
        self.go_button = QPushButton("Go live", self)
        self.go_button.setEnabled(False)
        self.go_button.setStyleSheet(f"QPushButton:enabled {{ color: {WARN_COLOR}; font-weight: bold; }}")
        self.cancel_button = QPushButton("Stay in current mode", self)
        self.cancel_button.setDefault(True)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.go_button)
        layout = QVBoxLayout(self)
        for widget in (title, warning, self.keys_label, prompt, self.confirm_edit, self.hint):
            layout.addWidget(widget)
        layout.addLayout(buttons)

        self.confirm_edit.textChanged.connect(self._update)
        self.confirm_edit.returnPressed.connect(self.accept)
        self.go_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.reject)
        self.resize(520, 300)
        self._update()

    def _live_keys(self) -> tuple[str | None, str | None]:
        """(problem or None, the key's first characters)."""
        try:
            creds = self.keystore.load(self.venue, Network.LIVE)
        except KeyStoreError as exc:
            return f"Live keys unavailable: {exc}", None
        if creds is None:
            return (
                f"No live API keys stored for {venue_label(self.venue)}: add them in Settings → API keys first.",
                None,
            )
        return None, creds.key[:4]

    @property
    def confirmed(self) -> bool:
        return self.has_keys and self.confirm_edit.text().strip() == self.venue.value

    def _update(self) -> None:
        self.go_button.setEnabled(self.confirmed)
        typed = self.confirm_edit.text().strip()
        if not self.has_keys:
            self.hint.setText("")
        elif typed and not self.confirmed:
            self.hint.setText(f"that is not {self.venue.value}")
        else:
            self.hint.setText("")

    def accept(self) -> None:
        if not self.confirmed or self._decided:
            return
        self._decided = True
        log.warning("live mode opted in for %s (%s)", self.venue, self.account)
        self.accepted.emit(self.venue)
        self.close()

    def reject(self) -> None:
        if not self._decided:
            self._decided = True
            log.info("live mode opt-in declined for %s", self.venue)
            self.rejected.emit()
        self.close()

    def closeEvent(self, event: Any) -> None:
        if not self._decided:  # closing the window is a "no"
            self._decided = True
            self.rejected.emit()
        super().closeEvent(event)


def start_mode_box(mode: Mode, parent: QWidget | None = None) -> tuple[QMessageBox, QPushButton]:
    """The start-up question and its "resume ``mode``" button; demo is the default answer."""
    box = QMessageBox(parent)
    box.setObjectName("start-mode")
    box.setWindowTitle("Start mode")
    box.setIcon(QMessageBox.Icon.Warning if mode is Mode.LIVE else QMessageBox.Icon.Question)
    box.setText(f"Last time the terminal ran in <b>{mode.value}</b> mode. Start in {mode.value} mode again?")
    if mode is Mode.LIVE:
        detail = "Live mode trades real money with your stored live keys."
    elif mode is Mode.TESTNET:
        detail = "Testnet mode uses your stored testnet keys on the venues' test networks."
    else:
        detail = "Paper mode uses the venues' real market data with a simulated account."
    box.setInformativeText(detail + " Otherwise the terminal starts in demo mode (simulator, no keys).")
    resume = box.addButton(f"Start in {mode.value}", QMessageBox.ButtonRole.AcceptRole)
    demo = box.addButton("Start in demo", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(demo)
    box.setEscapeButton(demo)
    return box, resume


def ask_start_mode(mode: Mode, parent: QWidget | None = None) -> bool:
    """Blocking (``exec``): call it at start-up *before* the qasync loop runs, never in a coroutine."""
    box, resume = start_mode_box(mode, parent)
    box.exec()
    return box.clickedButton() is resume

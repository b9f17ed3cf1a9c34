"""Settings → API keys: per venue and network (live / testnet), stored only through ``KeyStore``.

Non-modal (``show()``, signals; never ``exec()`` inside a coroutine). A stored secret is never
put back into a widget: the row says "stored ✓" and the fields stay empty; after Save they are
cleared. "Test connection" awaits an injected ``test_connection(venue, network, creds) -> str``
(``terminal.secrets.probe.test_connection`` in the app) on the running loop and shows its line
or the venue's error text. Without an OS keyring a banner says so and offers the opt-in
passphrase-encrypted key file; nothing is stored until the user chooses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from terminal.model import Venue
from terminal.secrets import KEY_NETWORKS, KeyStore, KeyStoreError, StoreBackend, default_keystore
from terminal.ui.fmt import venue_label
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, WARN_COLOR
from terminal.venues.base import ApiCredentials, Network

if TYPE_CHECKING:
    from terminal.notify import Notice, NotifyConfig
    from terminal.notify.store import NotifySettingsStore
    from terminal.trading.risk import RiskLimits, RiskManager
    from terminal.trading.risk_store import RiskSettingsStore, StartLimits
    from terminal.ui.notify_settings import NotifySettingsTab
    from terminal.ui.risk_settings import RiskSettingsTab

__all__ = ["KeyEditor", "SettingsDialog", "StoreBanner", "TestConnection", "open_settings"]

log = logging.getLogger(__name__)

TestConnection = Callable[[Venue, Network, ApiCredentials], Awaitable[str]]

STORED = "stored ✓"
NETWORK_TITLES = {Network.LIVE: "Live keys (real money)", Network.TESTNET: "Testnet keys"}


def _scrub(text: str, *values: str) -> str:
    """Belt and braces: whatever an error says, the key material typed here is not shown."""
    for value in values:
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _set_status(label: QLabel, text: str, color: str | None) -> None:
    label.setText(text)
    label.setStyleSheet(f"color: {color};" if color else "")


def button_row(*buttons: QPushButton) -> QHBoxLayout:
    """Buttons aligned right, in the given order."""
    row = QHBoxLayout()
    row.addStretch(1)
    for button in buttons:
        row.addWidget(button)
    return row


def scrolled_page(page: QWidget, body: QWidget, save_text: str, save_name: str) -> tuple[QPushButton, QLabel]:
    """Lay out a settings tab: ``body`` scrolls, a status line and the save button stay below it.
    Returns the save button and the status label (selectable: errors can be copied)."""
    scroll = QScrollArea(page)
    scroll.setWidget(body)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    save_button = QPushButton(save_text, page)
    save_button.setObjectName(save_name)
    save_label = QLabel(page)
    save_label.setWordWrap(True)
    save_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    bottom = QHBoxLayout()
    bottom.addWidget(save_label, 1)
    bottom.addWidget(save_button, 0, Qt.AlignmentFlag.AlignTop)
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(scroll, 1)
    layout.addLayout(bottom)
    return save_button, save_label


class KeyEditor(QGroupBox):
    """Key + secret for one (venue, network): Save, Delete, Test connection."""

    saved = Signal(object, object)  # Venue, Network
    deleted = Signal(object, object)
    test_finished = Signal(object, object, bool, str)  # venue, network, ok, message

    def __init__(
        self,
        keystore: KeyStore,
        venue: Venue,
        network: Network,
        test_connection: TestConnection | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(NETWORK_TITLES[network], parent)
        self.keystore = keystore
        self.venue = venue
        self.network = network
        self._test_connection = test_connection
        self._task: asyncio.Task[None] | None = None
        self.setObjectName(f"keys-{venue.value}-{network.value}")

        self.stored_label = QLabel(self)
        self.key_edit = QLineEdit(self)
        self.key_edit.setPlaceholderText("API key")
        self.secret_edit = QLineEdit(self)
        self.secret_edit.setPlaceholderText("API secret")
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)  # masked; copy is disabled too
        for edit in (self.key_edit, self.secret_edit):
            edit.setClearButtonEnabled(True)
        self.save_button = QPushButton("Save", self)
        self.delete_button = QPushButton("Delete", self)
        self.test_button = QPushButton("Test connection", self)
        self.result_label = QLabel(self)
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        grid = QGridLayout(self)
        grid.addWidget(QLabel("Status", self), 0, 0)
        grid.addWidget(self.stored_label, 0, 1, 1, 3)
        grid.addWidget(QLabel("API key", self), 1, 0)
        grid.addWidget(self.key_edit, 1, 1, 1, 3)
        grid.addWidget(QLabel("Secret", self), 2, 0)
        grid.addWidget(self.secret_edit, 2, 1, 1, 3)
        grid.addLayout(button_row(self.save_button, self.delete_button, self.test_button), 3, 1, 1, 3)
        grid.addWidget(self.result_label, 4, 0, 1, 4)
        grid.setColumnStretch(1, 1)

        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)
        self.test_button.clicked.connect(self.start_test)
        self.test_button.setEnabled(test_connection is not None)
        if test_connection is None:
            self.test_button.setToolTip("not available here")
        self.refresh_status()

    # ------------------------------------------------------------------ status
    def refresh_status(self) -> None:
        backend = self.keystore.backend
        self.delete_button.setEnabled(False)
        if backend is StoreBackend.NONE:
            _set_status(self.stored_label, "cannot store keys: no OS keyring (see above)", WARN_COLOR)
            return
        if backend is StoreBackend.LOCKED_FILE:
            _set_status(self.stored_label, "locked: unlock the encrypted key file above", WARN_COLOR)
            return
        try:
            creds = self.keystore.load(self.venue, self.network)
        except KeyStoreError as exc:
            _set_status(self.stored_label, str(exc), SELL_COLOR)
            return
        if creds is None:
            _set_status(self.stored_label, "not set", MUTED)
        else:
            # The key's first characters help tell accounts apart; the secret is never shown.
            _set_status(self.stored_label, f"{STORED}  (key {creds.key[:4]}…)", BUY_COLOR)
        self.delete_button.setEnabled(creds is not None)

    @property
    def is_stored(self) -> bool:
        return self.stored_label.text().startswith(STORED)

    # ------------------------------------------------------------------ actions
    def _typed(self) -> ApiCredentials | None:
        key, secret = self.key_edit.text().strip(), self.secret_edit.text().strip()
        return ApiCredentials(key, secret) if key and secret else None

    def save(self) -> None:
        key, secret = self.key_edit.text().strip(), self.secret_edit.text().strip()
        if not key or not secret:
            self._result("Enter both the API key and the secret, then Save.", ok=False)
            return
        try:
            self.keystore.save(self.venue, self.network, ApiCredentials(key, secret))
        except (KeyStoreError, ValueError) as exc:
            message = _scrub(str(exc), key, secret)
            log.warning("saving API keys failed: %s", message)
            self._result(message, ok=False)  # the typed values stay so nothing is lost
            return
        self.key_edit.clear()
        self.secret_edit.clear()  # the secret leaves the widget once it is stored
        self.refresh_status()
        where = "OS keyring" if self.keystore.backend is StoreBackend.KEYRING else "encrypted key file"
        self._result(f"Saved in the {where}.", ok=True)
        self.saved.emit(self.venue, self.network)

    def delete(self) -> None:
        try:
            removed = self.keystore.delete(self.venue, self.network)
        except KeyStoreError as exc:
            log.warning("deleting API keys failed: %s", exc)
            self._result(str(exc), ok=False)
            return
        self.refresh_status()
        self._result("Deleted." if removed else "Nothing was stored.", ok=True)
        self.deleted.emit(self.venue, self.network)

    def start_test(self) -> asyncio.Task[None] | None:
        """Test the typed pair, or the stored one when the fields are empty."""
        if self._test_connection is None or (self._task is not None and not self._task.done()):
            return None
        creds = self._typed()
        if creds is None:
            try:
                creds = self.keystore.load(self.venue, self.network)
            except KeyStoreError as exc:
                self._result(str(exc), ok=False)
                return None
        if creds is None:
            self._result("Enter a key and secret (or save them) to test the connection.", ok=False)
            return None
        self.test_button.setEnabled(False)
        _set_status(self.result_label, f"Testing {venue_label(self.venue)} {self.network}…", MUTED)
        self._task = asyncio.ensure_future(self._run_test(creds))
        return self._task

    async def _run_test(self, creds: ApiCredentials) -> None:
        assert self._test_connection is not None
        try:
            message = await self._test_connection(self.venue, self.network, creds)
            ok = True
        except asyncio.CancelledError:
            raise  # the dialog closed: its widgets may be gone, touch nothing
        except Exception as exc:  # the venue's error text (bad key, signature, IP), or unreachable
            message = _scrub(str(exc) or type(exc).__name__, creds.key, creds.secret)
            log.warning("test connection %s %s failed: %s", self.venue, self.network, message)
            ok = False
        if not shiboken6.isValid(self):
            return
        self.test_button.setEnabled(True)
        self._result(message, ok=ok)
        self.test_finished.emit(self.venue, self.network, ok, message)

    def cancel_test(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _result(self, text: str, *, ok: bool) -> None:
        _set_status(self.result_label, ("✓ " if ok else "✗ ") + text, BUY_COLOR if ok else SELL_COLOR)


class StoreBanner(QFrame):
    """Where keys go; without an OS keyring: say so and offer the encrypted key file."""

    changed = Signal()  # the store's backend changed (the file was unlocked/created)

    def __init__(self, keystore: KeyStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keystore = keystore
        self.setObjectName("key-store-banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        # A wrapped label's minimum height is computed for a narrow width: without a minimum
        # width the banner keeps the height of its longest (no-keyring) text.
        self.message.setMinimumWidth(480)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.passphrase = QLineEdit(self)
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit(self)
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm.setPlaceholderText("repeat the passphrase")
        self.use_file_button = QPushButton(self)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.passphrase, 1)
        row.addWidget(self.confirm, 1)
        row.addWidget(self.use_file_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(row)
        layout.addWidget(self.error)
        self.use_file_button.clicked.connect(self.use_file)
        self.passphrase.returnPressed.connect(self.use_file)
        self.confirm.returnPressed.connect(self.use_file)
        self.refresh()

    def refresh(self) -> None:
        backend = self.keystore.backend
        offer = backend in (StoreBackend.NONE, StoreBackend.LOCKED_FILE)
        for widget in (self.passphrase, self.use_file_button):
            widget.setVisible(offer)
        self.confirm.setVisible(backend is StoreBackend.NONE)  # a new file: type it twice
        self.error.setVisible(bool(self.error.text()) and offer)
        if backend is StoreBackend.KEYRING:
            _set_status(self.message, f"Keys are stored in the {self.keystore.describe()}.", MUTED)
        elif backend is StoreBackend.ENCRYPTED_FILE:
            _set_status(
                self.message,
                f"No OS keyring on this machine: keys are stored in your passphrase-encrypted key "
                f"file {self.keystore.vault_path}.",
                MUTED,
            )
        elif backend is StoreBackend.LOCKED_FILE:
            _set_status(
                self.message,
                "No OS keyring on this machine. Your keys are in the encrypted key file "
                f"{self.keystore.vault_path}: enter its passphrase to unlock it.",
                WARN_COLOR,
            )
            self.passphrase.setPlaceholderText("key file passphrase")
            self.use_file_button.setText("Unlock key file")
        else:
            _set_status(
                self.message,
                f"{self.keystore.keyring_status().reason} API keys cannot be saved until you choose "
                "where: install/start a keyring, or opt in to a passphrase-encrypted key file "
                f"({self.keystore.vault_path}). Keys are never stored in plaintext.",
                WARN_COLOR,
            )
            self.passphrase.setPlaceholderText("new passphrase for the key file")
            self.use_file_button.setText("Use encrypted key file")

    def use_file(self) -> None:
        backend = self.keystore.backend
        if backend not in (StoreBackend.NONE, StoreBackend.LOCKED_FILE):
            return
        passphrase = self.passphrase.text()
        if backend is StoreBackend.NONE and passphrase != self.confirm.text():
            self._error("The two passphrases differ.")
            return
        if len(passphrase) < 8 and backend is StoreBackend.NONE:
            self._error("Use a passphrase of at least 8 characters.")
            return
        try:
            self.keystore.use_encrypted_file(passphrase)
        except KeyStoreError as exc:
            log.warning("key file: %s", exc)
            self._error(str(exc))
            return
        self.passphrase.clear()
        self.confirm.clear()
        self.error.clear()
        self.refresh()
        self.changed.emit()

    def _error(self, text: str) -> None:
        _set_status(self.error, text, SELL_COLOR)
        self.error.setVisible(True)


class SettingsDialog(QDialog):
    """Non-modal settings window: the key-store banner, one tab per venue and, given a
    ``notify_store``, a "Notifications" tab; given a ``risk_store``, a "Risk limits" tab."""

    saved = Signal(object, object)  # Venue, Network
    deleted = Signal(object, object)
    test_finished = Signal(object, object, bool, str)
    notify_saved = Signal(object)  # NotifyConfig
    risk_saved = Signal(object)  # RiskLimits

    def __init__(
        self,
        keystore: KeyStore,
        parent: QWidget | None = None,
        *,
        test_connection: TestConnection | None = None,
        venues: Sequence[Venue] = tuple(Venue),
        notify_store: NotifySettingsStore | None = None,
        tray: Callable[[Notice], None] | None = None,
        risk_store: RiskSettingsStore | None = None,
        risk: Callable[[], RiskManager | None] | None = None,
        apply_risk: Callable[[RiskLimits], RiskLimits] | None = None,
        risk_session: StartLimits | None = None,
    ) -> None:
        super().__init__(parent)
        self.keystore = keystore
        self.setObjectName("settings")
        only_keys = notify_store is None and risk_store is None
        self.setWindowTitle("Settings — API keys" if only_keys else "Settings")
        self.setModal(False)
        self.banner = StoreBanner(keystore, self)
        self.tabs = QTabWidget(self)
        self.editors: dict[tuple[Venue, Network], KeyEditor] = {}
        for venue in venues:
            page = QWidget(self.tabs)
            column = QVBoxLayout(page)
            for network in KEY_NETWORKS:
                editor = KeyEditor(keystore, venue, network, test_connection, page)
                editor.saved.connect(self.saved)
                editor.deleted.connect(self.deleted)
                editor.test_finished.connect(self.test_finished)
                self.editors[(venue, network)] = editor
                column.addWidget(editor)
            column.addStretch(1)
            self.tabs.addTab(page, venue_label(venue))
        self.notify_tab: NotifySettingsTab | None = None
        if notify_store is not None:
            # Imported here: the tab builds on this module's helpers.
            from terminal.ui.notify_settings import NotifySettingsTab

            self.notify_tab = NotifySettingsTab(notify_store, keystore, self.tabs, tray=tray)
            self.notify_tab.saved.connect(self.notify_saved)
            self.tabs.addTab(self.notify_tab, "Notifications")
        self.risk_tab: RiskSettingsTab | None = None
        if risk_store is not None:
            from terminal.ui.risk_settings import RiskSettingsTab

            self.risk_tab = RiskSettingsTab(
                risk_store, self.tabs, risk=risk, apply=apply_risk, session=risk_session
            )
            self.risk_tab.saved.connect(self.risk_saved)
            self.tabs.addTab(self.risk_tab, "Risk limits")
        note = QLabel(
            "Keys, bot tokens and passwords are kept only in the OS keyring (or your encrypted key "
            "file), never in the settings directory or logs. Give trading keys no withdrawal permission.",
            self,
        )
        note.setWordWrap(True)
        _set_status(note, note.text(), MUTED)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(note)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.banner.changed.connect(self.refresh)
        # The notifications and risk tabs are long forms: taller, so they rarely need a scroll bar.
        self.resize(*((620, 560) if only_keys else (700, 760)))

    def editor(self, venue: Venue, network: Network) -> KeyEditor:
        return self.editors[(venue, network)]

    def show_venue(self, venue: Venue) -> None:
        """Bring ``venue``'s tab to the front (the main window opens settings on the selected venue)."""
        self.tabs.setCurrentWidget(self.editor(venue, KEY_NETWORKS[0]).parentWidget())

    def show_notifications(self) -> None:
        if self.notify_tab is not None:
            self.tabs.setCurrentWidget(self.notify_tab)

    def show_risk(self) -> None:
        if self.risk_tab is not None:
            self.tabs.setCurrentWidget(self.risk_tab)

    def refresh(self) -> None:
        self.banner.refresh()
        for editor in self.editors.values():
            editor.refresh_status()
        if self.notify_tab is not None:
            self.notify_tab.refresh_status()
        self.layout().activate()  # the banner just lost its passphrase row: reflow now

    def closeEvent(self, event) -> None:
        for editor in self.editors.values():
            editor.cancel_test()
        if self.notify_tab is not None:
            self.notify_tab.cancel_tests()
        if self.risk_tab is not None:
            self.risk_tab.stop_refresh()
        super().closeEvent(event)


def open_settings(
    parent: QWidget | None = None,
    keystore: KeyStore | None = None,
    *,
    venue: Venue | None = None,
    test_connection: TestConnection | None = None,
    notify_store: NotifySettingsStore | None = None,
    on_notify_saved: Callable[[NotifyConfig], None] | None = None,
    tray: Callable[[Notice], None] | None = None,
    risk_store: RiskSettingsStore | None = None,
    risk: Callable[[], RiskManager | None] | None = None,
    apply_risk: Callable[[RiskLimits], RiskLimits] | None = None,
    risk_session: StartLimits | None = None,
) -> SettingsDialog:
    """What the main window's "Settings" action calls: a shown, non-modal dialog.

    ``keystore`` defaults to the process's shared store (``default_keystore()``, which the app
    reads too); ``test_connection`` to the real probe (the venue's live or testnet network).
    ``notify_store`` adds the "Notifications" tab; ``on_notify_saved`` gets each saved config
    (the app applies it live); ``tray`` is what the tray channel's "Send test" shows through.
    ``risk_store`` adds the "Risk limits" tab: ``risk`` returns the running risk manager (its
    state, PnL and limits are shown), ``apply_risk`` makes saved limits live and returns those in
    force, ``risk_session`` says where this process's limits came from (a --config file wins).
    """
    if test_connection is None:
        from terminal.secrets import probe

        test_connection = probe.test_connection
    dialog = SettingsDialog(
        keystore or default_keystore(),
        parent,
        test_connection=test_connection,
        notify_store=notify_store,
        tray=tray,
        risk_store=risk_store,
        risk=risk,
        apply_risk=apply_risk,
        risk_session=risk_session,
    )
    if on_notify_saved is not None:
        dialog.notify_saved.connect(on_notify_saved)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if venue is not None:
        dialog.show_venue(venue)
    dialog.show()
    dialog.raise_()
    return dialog

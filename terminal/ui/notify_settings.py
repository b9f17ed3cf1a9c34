"""Settings → Notifications: which notices go where, and how to reach Telegram and e-mail.

The form is validated by the notify config classes themselves (their ``NotifyConfigError``
text is what the user reads); nothing is half-saved: secrets and the settings file are written
only once the whole form is valid, and a failed file write puts the previous secrets back. The
bot token and the SMTP password go to the key store and, like API keys, are never put back into
a widget ("stored ✓"). "Send test" sends a real notice through the real channel classes, awaited
on the running loop (never ``exec()`` in a coroutine).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from terminal.notify.channel import Channel, DeliveryError, scrub
from terminal.notify.config import (
    SMTP_PASSWORD_SECRET,
    TELEGRAM_API,
    TELEGRAM_TOKEN_SECRET,
    EmailConfig,
    NotifyConfig,
    NotifyConfigError,
    SmtpSecurity,
    TelegramConfig,
)
from terminal.notify.model import ChannelKind, Notice, NoticeKind
from terminal.notify.smtp import EmailChannel
from terminal.notify.store import NotifySettingsStore
from terminal.notify.telegram import TelegramChannel
from terminal.notify.tray import TrayChannel
from terminal.secrets import KeyStore, KeyStoreError, StoreBackend
from terminal.ui.settings import STORED, _set_status, button_row, scrolled_page
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, WARN_COLOR

__all__ = ["CHANNEL_TITLES", "ROUTE_TITLES", "SENT", "NotifySettingsTab"]

log = logging.getLogger(__name__)

SENT = "sent ✓"
# The matrix rows. TEST is not routed by the user: "Send test" goes straight to one channel.
ROUTE_TITLES: dict[NoticeKind, str] = {
    NoticeKind.FILL: "Fills",
    NoticeKind.ORDER_FAILED: "Orders refused or failed",
    NoticeKind.RISK_STATE: "Trading state (halted / reducing / active)",
    NoticeKind.FEED: "Feed down / back",
    NoticeKind.SIGNAL_ACCEPTED: "Signals accepted",
    NoticeKind.SIGNAL_REJECTED: "Signals rejected",
    NoticeKind.STRATEGY_STATE: "Strategy armed / disarmed / errored",
    NoticeKind.DAILY_SUMMARY: "Daily summary",
}
CHANNEL_TITLES: dict[ChannelKind, str] = {
    ChannelKind.TRAY: "Tray",
    ChannelKind.TELEGRAM: "Telegram",
    ChannelKind.EMAIL: "Email",
}
SECURITY_TITLES: dict[SmtpSecurity, str] = {
    SmtpSecurity.STARTTLS: "STARTTLS",
    SmtpSecurity.TLS: "TLS",
    SmtpSecurity.NONE: "none (local relay only)",
}
DEFAULT_PORTS: dict[SmtpSecurity, int] = {
    SmtpSecurity.STARTTLS: 587,
    SmtpSecurity.TLS: 465,
    SmtpSecurity.NONE: 25,
}
SECRET_NAMES: dict[ChannelKind, str] = {
    ChannelKind.TELEGRAM: TELEGRAM_TOKEN_SECRET,
    ChannelKind.EMAIL: SMTP_PASSWORD_SECRET,
}


def make_test_notice(kind: ChannelKind) -> Notice:
    return Notice(
        NoticeKind.TEST,
        "Test notification",
        f"crypto-terminal: notifications via {CHANNEL_TITLES[kind]} work (sent from Settings → Notifications).",
        ts=int(time.time() * 1000),
    )


def _password_edit(parent: QWidget, placeholder: str) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setEchoMode(QLineEdit.EchoMode.Password)  # masked; copy is disabled too
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    return edit


class NotifySettingsTab(QWidget):
    """The "Notifications" tab of the settings dialog."""

    saved = Signal(object)  # NotifyConfig, after the file and the secrets were written
    test_finished = Signal(object, bool, str)  # ChannelKind, ok, message

    def __init__(
        self,
        store: NotifySettingsStore,
        keystore: KeyStore,
        parent: QWidget | None = None,
        *,
        tray: Callable[[Notice], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.keystore = keystore
        self._tray = tray
        self._tasks: dict[ChannelKind, asyncio.Task[None]] = {}
        self.setObjectName("notify-settings")
        # What the form does not show (Telegram's API URL, timeouts, retry policy) is kept from here.
        self.current: NotifyConfig | None = store.load()

        body = QWidget(self)
        column = QVBoxLayout(body)
        self.file_label = QLabel(body)
        self.file_label.setWordWrap(True)
        column.addWidget(self.file_label)
        column.addWidget(self._build_routes(body))
        column.addWidget(self._build_telegram(body))
        column.addWidget(self._build_email(body))
        column.addStretch(1)
        self.save_button, self.save_label = scrolled_page(self, body, "Save", "notify-save")

        self.save_button.clicked.connect(self.save)
        for kind, button in self.test_buttons.items():
            button.clicked.connect(lambda _=False, k=kind: self.start_test(k))
        self.token_delete.clicked.connect(lambda: self.delete_secret(ChannelKind.TELEGRAM))
        self.password_delete.clicked.connect(lambda: self.delete_secret(ChannelKind.EMAIL))
        self.security_combo.currentIndexChanged.connect(self._security_changed)
        self.fill(self.current)
        self.refresh_status()

    # ------------------------------------------------------------------ layout
    def _build_routes(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Where each notification goes", parent)
        grid = QGridLayout(box)
        self.route_boxes: dict[tuple[NoticeKind, ChannelKind], QCheckBox] = {}
        self.test_buttons: dict[ChannelKind, QPushButton] = {}
        self.test_labels: dict[ChannelKind, QLabel] = {}
        for col, title in enumerate(CHANNEL_TITLES.values(), start=1):
            header = QLabel(f"<b>{title}</b>", box)
            grid.addWidget(header, 0, col, Qt.AlignmentFlag.AlignHCenter)
        for row, (kind, title) in enumerate(ROUTE_TITLES.items(), start=1):
            grid.addWidget(QLabel(title, box), row, 0)
            for col, channel in enumerate(CHANNEL_TITLES, start=1):
                check = QCheckBox(box)
                check.setObjectName(f"route-{kind.value}-{channel.value}")
                check.setToolTip(f"{title} → {CHANNEL_TITLES[channel]}")
                self.route_boxes[(kind, channel)] = check
                grid.addWidget(check, row, col, Qt.AlignmentFlag.AlignHCenter)
        grid.setColumnStretch(0, 1)
        for col in range(1, len(CHANNEL_TITLES) + 1):
            grid.setColumnMinimumWidth(col, 76)
        tray_row = len(ROUTE_TITLES) + 1
        note = QLabel("Tray: balloons from the terminal's tray icon (a log line when headless).", box)
        _set_status(note, note.text(), MUTED)
        grid.addWidget(note, tray_row, 0, 1, 3)
        grid.addWidget(self._test_button(ChannelKind.TRAY, box), tray_row, 3)
        grid.addWidget(self._test_label(ChannelKind.TRAY, box), tray_row + 1, 0, 1, 4)
        return box

    def _test_button(self, kind: ChannelKind, parent: QWidget) -> QPushButton:
        button = QPushButton("Send test", parent)
        button.setObjectName(f"notify-test-{kind.value}")
        self.test_buttons[kind] = button
        return button

    def _test_label(self, kind: ChannelKind, parent: QWidget) -> QLabel:
        label = QLabel(parent)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setVisible(False)
        self.test_labels[kind] = label
        return label

    def _build_telegram(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Telegram", parent)
        self.chat_edit = QLineEdit(box)
        self.chat_edit.setPlaceholderText("chat id: 123456789, -100… for a group, or @channel")
        self.token_edit = _password_edit(box, "bot token from @BotFather")
        self.token_status = QLabel(box)
        self.token_delete = QPushButton("Delete token", box)
        grid = QGridLayout(box)
        grid.addWidget(QLabel("Chat id", box), 0, 0)
        grid.addWidget(self.chat_edit, 0, 1, 1, 3)
        grid.addWidget(QLabel("Bot token", box), 1, 0)
        grid.addWidget(self.token_edit, 1, 1)
        grid.addWidget(self.token_status, 1, 2, 1, 2)
        grid.addLayout(
            button_row(self.token_delete, self._test_button(ChannelKind.TELEGRAM, box)), 2, 1, 1, 3
        )
        grid.addWidget(self._test_label(ChannelKind.TELEGRAM, box), 3, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        return box

    def _build_email(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Email (SMTP)", parent)
        self.host_edit = QLineEdit(box)
        self.host_edit.setPlaceholderText("smtp.example.com")
        self.port_spin = QSpinBox(box)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(DEFAULT_PORTS[SmtpSecurity.STARTTLS])
        self.security_combo = QComboBox(box)
        for security, title in SECURITY_TITLES.items():
            self.security_combo.addItem(title, security.value)
        self.username_edit = QLineEdit(box)
        self.username_edit.setPlaceholderText("empty: no login")
        self.password_edit = _password_edit(box, "SMTP password")
        self.password_status = QLabel(box)
        self.sender_edit = QLineEdit(box)
        self.sender_edit.setPlaceholderText("terminal@example.com")
        self.recipients_edit = QLineEdit(box)
        self.recipients_edit.setPlaceholderText("you@example.com, desk@example.com")
        self.ca_edit = QLineEdit(box)
        self.ca_edit.setPlaceholderText("optional: PEM file of a self-hosted server's CA")
        self.password_delete = QPushButton("Delete password", box)
        grid = QGridLayout(box)
        rows: list[tuple[str, QWidget, str, QWidget]] = [
            ("Server", self.host_edit, "Port", self.port_spin),
            ("Security", self.security_combo, "Username", self.username_edit),
            ("Password", self.password_edit, "", self.password_status),
        ]
        for row, (left, left_widget, right, right_widget) in enumerate(rows):
            grid.addWidget(QLabel(left, box), row, 0)
            grid.addWidget(left_widget, row, 1)
            if right:
                grid.addWidget(QLabel(right, box), row, 2)
                grid.addWidget(right_widget, row, 3)
            else:
                grid.addWidget(right_widget, row, 2, 1, 2)
        for row, (title, widget) in enumerate(
            (("From", self.sender_edit), ("To", self.recipients_edit), ("CA file", self.ca_edit)),
            start=len(rows),
        ):
            grid.addWidget(QLabel(title, box), row, 0)
            grid.addWidget(widget, row, 1, 1, 3)
        buttons = button_row(self.password_delete, self._test_button(ChannelKind.EMAIL, box))
        grid.addLayout(buttons, 6, 1, 1, 3)
        grid.addWidget(self._test_label(ChannelKind.EMAIL, box), 7, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        return box

    # ------------------------------------------------------------------ form <-> config
    def fill(self, config: NotifyConfig | None) -> None:
        """Put ``config`` (None: the defaults, nothing saved yet) into the widgets; never a secret."""
        shown = config or NotifyConfig()
        for (kind, channel), check in self.route_boxes.items():
            check.setChecked(channel in shown.channels_for(kind))
        tg = shown.telegram
        self.chat_edit.setText(tg.chat_id if tg is not None else "")
        em = shown.email
        self.host_edit.setText(em.host if em is not None else "")
        security = em.security if em is not None else SmtpSecurity.STARTTLS
        self.security_combo.blockSignals(True)  # keep the saved port
        self.security_combo.setCurrentIndex(self.security_combo.findData(security.value))
        self.security_combo.blockSignals(False)
        self.port_spin.setValue(em.port if em is not None else DEFAULT_PORTS[security])
        self.username_edit.setText((em.username or "") if em is not None else "")
        self.sender_edit.setText(em.sender if em is not None else "")
        self.recipients_edit.setText(", ".join(em.recipients) if em is not None else "")
        self.ca_edit.setText(str(em.ca_file) if em is not None and em.ca_file is not None else "")
        self._show_file_state()

    def _routes(self) -> dict[NoticeKind, frozenset[ChannelKind]]:
        return {
            kind: frozenset(ch for ch in CHANNEL_TITLES if self.route_boxes[(kind, ch)].isChecked())
            for kind in ROUTE_TITLES
        }

    def telegram_config(self, *, required: bool) -> TelegramConfig | None:
        """The Telegram section; None when it is empty and not ``required``."""
        chat = self.chat_edit.text().strip()
        if not chat and not required:
            return None
        old = self.current.telegram if self.current is not None else None
        if old is None:
            return TelegramConfig(chat_id=chat, base_url=TELEGRAM_API)
        return dataclasses.replace(old, chat_id=chat)

    def email_config(self, *, required: bool) -> EmailConfig | None:
        """The e-mail section; None when it is empty and not ``required``."""
        host, sender = self.host_edit.text().strip(), self.sender_edit.text().strip()
        username, ca = self.username_edit.text().strip(), self.ca_edit.text().strip()
        recipients = tuple(r.strip() for r in self.recipients_edit.text().split(",") if r.strip())
        if not required and not (host or sender or username or ca or recipients):
            return None
        if ca and not Path(ca).expanduser().is_file():
            raise NotifyConfigError(f"notify.email.ca_file: no such file: {ca}")
        email = EmailConfig(
            host=host,
            sender=sender,
            recipients=recipients,
            port=self.port_spin.value(),
            security=SmtpSecurity(self.security_combo.currentData()),
            username=username or None,
            ca_file=Path(ca).expanduser() if ca else None,
        )
        old = self.current.email if self.current is not None else None
        return email if old is None else dataclasses.replace(email, timeout_s=old.timeout_s)

    def build_config(self) -> NotifyConfig:
        """The form as a ``NotifyConfig``; raises ``NotifyConfigError`` naming what is wrong."""
        routes = self._routes()
        used = set().union(*routes.values())
        telegram = self.telegram_config(required=ChannelKind.TELEGRAM in used)
        email = self.email_config(required=ChannelKind.EMAIL in used)
        base = self.current or NotifyConfig()
        configured = {ChannelKind.TRAY} | {
            k for k, c in ((ChannelKind.TELEGRAM, telegram), (ChannelKind.EMAIL, email)) if c
        }
        routes[NoticeKind.TEST] = base.channels_for(NoticeKind.TEST) & configured
        return dataclasses.replace(base, routes=routes, telegram=telegram, email=email)

    # ------------------------------------------------------------------ status
    def _show_file_state(self) -> None:
        if self.store.warning:
            _set_status(self.file_label, self.store.warning, WARN_COLOR)
        elif self.current is None:
            _set_status(
                self.file_label, "No notification settings saved yet: nothing is sent until you Save.", MUTED
            )
        else:
            _set_status(
                self.file_label, f"Settings file: {self.store.path} (secrets stay in the key store).", MUTED
            )

    def refresh_status(self) -> None:
        """ "stored ✓" / "not set" for the token and the password; never their values."""
        for kind, label, delete in (
            (ChannelKind.TELEGRAM, self.token_status, self.token_delete),
            (ChannelKind.EMAIL, self.password_status, self.password_delete),
        ):
            stored = False
            backend = self.keystore.backend
            if backend is StoreBackend.NONE:
                _set_status(label, "cannot store: no OS keyring (see above)", WARN_COLOR)
            elif backend is StoreBackend.LOCKED_FILE:
                _set_status(label, "locked: unlock the key file above", WARN_COLOR)
            else:
                try:
                    stored = bool(self.keystore.secret(SECRET_NAMES[kind]))
                except KeyStoreError as exc:
                    _set_status(label, str(exc), SELL_COLOR)
                else:
                    _set_status(label, STORED if stored else "not set", BUY_COLOR if stored else MUTED)
            delete.setEnabled(stored)

    def is_stored(self, kind: ChannelKind) -> bool:
        label = self.token_status if kind is ChannelKind.TELEGRAM else self.password_status
        return label.text() == STORED

    # ------------------------------------------------------------------ save
    def _typed_secrets(self) -> dict[ChannelKind, str]:
        typed = {
            ChannelKind.TELEGRAM: self.token_edit.text().strip(),
            ChannelKind.EMAIL: self.password_edit.text(),
        }
        return {k: v for k, v in typed.items() if v}

    def save(self) -> NotifyConfig | None:
        """Validate the whole form, then write the secrets and the file; None (and the reason
        shown) when anything is wrong — then nothing was changed."""
        try:
            config = self.build_config()
        except NotifyConfigError as exc:
            return self._save_failed(str(exc))
        typed = self._typed_secrets()
        try:
            self._check_secrets(config, typed)
            previous = {k: self.keystore.secret(SECRET_NAMES[k]) for k in typed}
        except (KeyStoreError, NotifyConfigError) as exc:
            return self._save_failed(scrub(str(exc), *typed.values()))
        written: list[ChannelKind] = []
        try:
            for kind, value in typed.items():
                self.keystore.save_secret(SECRET_NAMES[kind], value)
                written.append(kind)
            self.store.save(config)
        except (KeyStoreError, OSError) as exc:
            self._restore(previous, written)
            return self._save_failed(scrub(f"not saved: {exc}", *typed.values()))
        self.token_edit.clear()
        self.password_edit.clear()  # the secrets leave the widgets once they are stored
        self.current = config
        self.refresh_status()
        self._show_file_state()
        _set_status(self.save_label, f"✓ Saved to {self.store.path}; applied now.", BUY_COLOR)
        self.saved.emit(config)
        return config

    def _check_secrets(self, config: NotifyConfig, typed: dict[ChannelKind, str]) -> None:
        """A configured channel without its secret would fail at every send: say so now."""
        needed: list[tuple[ChannelKind, str]] = []
        if config.telegram is not None:
            needed.append((ChannelKind.TELEGRAM, "notify.telegram: enter the bot token"))
        if config.email is not None and config.email.username is not None:
            needed.append((ChannelKind.EMAIL, "notify.email: enter the SMTP password for the username"))
        for kind, message in needed:
            if kind not in typed and not self.keystore.secret(SECRET_NAMES[kind]):
                raise NotifyConfigError(f"{message} (none is stored in the key store)")

    def _restore(self, previous: dict[ChannelKind, str | None], written: list[ChannelKind]) -> None:
        for kind in written:
            with contextlib.suppress(KeyStoreError):
                old = previous.get(kind)
                if old is None:
                    self.keystore.delete_secret(SECRET_NAMES[kind])
                else:
                    self.keystore.save_secret(SECRET_NAMES[kind], old)

    def _save_failed(self, message: str) -> None:
        log.warning("notification settings not saved: %s", message)
        _set_status(self.save_label, f"✗ {message}", SELL_COLOR)
        return None

    def delete_secret(self, kind: ChannelKind) -> None:
        try:
            removed = self.keystore.delete_secret(SECRET_NAMES[kind])
        except KeyStoreError as exc:
            self._test_result(kind, str(exc), ok=False)
            return
        self.refresh_status()
        self._test_result(kind, "Deleted from the key store." if removed else "Nothing was stored.", ok=True)

    # ------------------------------------------------------------------ send test
    def _channel(self, kind: ChannelKind, typed: str | None) -> Channel:
        """The real channel for ``kind`` from the form as it is now (saved or not)."""
        name = SECRET_NAMES.get(kind)

        def secret() -> str | None:  # the typed value first: testing before saving
            return typed or (self.keystore.secret(name) if name is not None else None)

        if kind is ChannelKind.TELEGRAM:
            tg = self.telegram_config(required=True)
            assert tg is not None
            return TelegramChannel(tg, secret)
        if kind is ChannelKind.EMAIL:
            em = self.email_config(required=True)
            assert em is not None
            return EmailChannel(em, secret)
        return TrayChannel(self._tray)

    def start_test(self, kind: ChannelKind) -> asyncio.Task[None] | None:
        running = self._tasks.get(kind)
        if running is not None and not running.done():
            return None
        typed = self._typed_secrets().get(kind)
        try:
            channel = self._channel(kind, typed)
        except NotifyConfigError as exc:
            self._test_result(kind, str(exc), ok=False)
            return None
        self.test_buttons[kind].setEnabled(False)
        _set_status(self.test_labels[kind], f"Sending a test via {CHANNEL_TITLES[kind]}…", MUTED)
        self.test_labels[kind].setVisible(True)
        task = asyncio.ensure_future(self._run_test(kind, channel, typed))
        self._tasks[kind] = task
        return task

    async def _run_test(self, kind: ChannelKind, channel: Channel, typed: str | None) -> None:
        try:
            await channel.send(make_test_notice(kind))
            ok, message = True, SENT
        except asyncio.CancelledError:
            raise  # the dialog closed: its widgets may be gone, touch nothing
        except DeliveryError as exc:  # already scrubbed of the stored secret by the channel
            ok, message = False, scrub(str(exc), typed)
        except Exception as exc:  # a bug in a channel: still an answer, never a secret
            log.exception("test notification via %s failed", kind)
            ok, message = False, scrub(f"{type(exc).__name__}: {exc}", typed)
        finally:
            with contextlib.suppress(Exception):
                await channel.aclose()
        if not ok:
            log.warning("test notification via %s failed: %s", kind, message)
        if not shiboken6.isValid(self):
            return
        self.test_buttons[kind].setEnabled(True)
        self._test_result(kind, message, ok=ok)
        self.test_finished.emit(kind, ok, message)

    def cancel_tests(self) -> None:
        for task in self._tasks.values():
            if not task.done():
                task.cancel()

    def _test_result(self, kind: ChannelKind, text: str, *, ok: bool) -> None:
        label = self.test_labels[kind]
        label.setVisible(True)
        _set_status(
            label, text if text == SENT else ("✓ " if ok else "✗ ") + text, BUY_COLOR if ok else SELL_COLOR
        )

    def _security_changed(self) -> None:
        # Follow the usual port for the new security unless the user typed an unusual one.
        if self.port_spin.value() in DEFAULT_PORTS.values():
            self.port_spin.setValue(DEFAULT_PORTS[SmtpSecurity(self.security_combo.currentData())])

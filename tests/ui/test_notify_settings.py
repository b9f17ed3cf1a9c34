"""Settings → Notifications, driven as a user would: ticked routes, typed Telegram and e-mail
settings, Save, "Send test" to a local fake Bot API and a real SMTP server, and a running demo
App switched to the saved settings live.

Secrets go to the in-memory keyring (``memory_keyring``) through a real ``KeyStore``; the
settings file is written under tmp_path and must never hold them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget

from terminal.app import App
from terminal.model import OrderType, Side, Venue
from terminal.notify import ChannelKind, NoticeKind, NotifyConfig, TelegramConfig
from terminal.notify.store import NotifySettingsStore, default_notify_path
from terminal.secrets import SERVICE, KeyStore
from terminal.trading.oms import OrderIntent
from terminal.ui.context import Selection, UiContext
from terminal.ui.main_window import MainWindow
from terminal.ui.notify_settings import SENT, NotifySettingsTab
from terminal.ui.settings import STORED, SettingsDialog, open_settings
from terminal.venues.base import Network
from tests.notify.support import (
    PASSWORD,
    TOKEN,
    USER,
    FakeTelegram,
    self_signed,
    smtp_server,
    telegram_server,
)

from .conftest import UI_SYMBOL, run, wait_until

pytestmark = pytest.mark.timeout(90)

TOKEN_KEY = (SERVICE, "secret:telegram:bot_token")
PASSWORD_KEY = (SERVICE, "secret:smtp:password")
FUT = Venue.BINANCE_USDM


@pytest.fixture(autouse=True)
def dark(qapp: QApplication) -> None:
    from terminal.ui.theme import apply_dark

    apply_dark(qapp)


@pytest.fixture
def keystore(memory_keyring, tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "secrets")


@pytest.fixture
def store(tmp_path: Path) -> NotifySettingsStore:
    return NotifySettingsStore(tmp_path / "config" / "notify.json")


@pytest.fixture
def telegram(qloop: asyncio.AbstractEventLoop) -> Iterator[FakeTelegram]:
    server = telegram_server()
    fake = run(qloop, server.__aenter__())
    try:
        yield fake
    finally:
        run(qloop, server.__aexit__(None, None, None))


def dialog_for(qtbot, store: NotifySettingsStore, keystore: KeyStore, **kw) -> SettingsDialog:
    dialog = SettingsDialog(keystore, notify_store=store, **kw)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.show_notifications()
    assert dialog.notify_tab is not None
    return dialog


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def click(qtbot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def tick(tab: NotifySettingsTab, kind: NoticeKind, channel: ChannelKind, on: bool = True) -> None:
    tab.route_boxes[(kind, channel)].setChecked(on)


def fill_email(
    qtbot, tab: NotifySettingsTab, *, recipients: str = "desk@example.test, me@example.test"
) -> None:
    type_into(qtbot, tab.host_edit, "127.0.0.1")
    tab.port_spin.setValue(2525)
    type_into(qtbot, tab.username_edit, USER)
    type_into(qtbot, tab.password_edit, PASSWORD)
    type_into(qtbot, tab.sender_edit, USER)
    type_into(qtbot, tab.recipients_edit, recipients)


def visible_texts(root: QWidget) -> list[str]:
    texts = []
    for w in [root, *root.findChildren(QWidget)]:
        for attr in ("text", "placeholderText", "title", "toolTip", "windowTitle"):
            getter = getattr(w, attr, None)
            value = getter() if callable(getter) else None
            if isinstance(value, str):
                texts.append(value)
    return texts


def shot(widget: QWidget, path: str) -> None:
    for _ in range(3):  # posted layout requests settle over a few passes
        QApplication.processEvents()
    widget.grab().save(path)


# ---------------------------------------------------------------------- save
def test_save_writes_routes_and_channels_and_secrets_go_to_the_key_store(
    qtbot, memory_keyring, keystore: KeyStore, store: NotifySettingsStore
) -> None:
    dialog = dialog_for(qtbot, store, keystore)
    assert (
        dialog.windowTitle() == "Settings" and dialog.tabs.tabText(dialog.tabs.count() - 1) == "Notifications"
    )
    assert dialog.editor(Venue.BINANCE_SPOT, Network.LIVE).is_stored is False  # the API-key tabs stay
    tab = dialog.notify_tab
    assert "nothing is sent until you Save" in tab.file_label.text()
    assert tab.token_edit.echoMode() is QLineEdit.EchoMode.Password
    assert tab.password_edit.echoMode() is QLineEdit.EchoMode.Password
    assert tab.token_status.text() == "not set" and tab.password_status.text() == "not set"
    saved: list[NotifyConfig] = []
    tab.saved.connect(saved.append)

    tick(tab, NoticeKind.FILL, ChannelKind.TELEGRAM)
    tick(tab, NoticeKind.RISK_STATE, ChannelKind.TELEGRAM)
    tick(tab, NoticeKind.RISK_STATE, ChannelKind.EMAIL)
    tick(tab, NoticeKind.SIGNAL_REJECTED, ChannelKind.TRAY, False)
    type_into(qtbot, tab.chat_edit, "-100777")
    type_into(qtbot, tab.token_edit, TOKEN)
    fill_email(qtbot, tab)
    click(qtbot, tab.save_button)
    assert tab.save_label.text().startswith("✓ Saved"), tab.save_label.text()

    # secrets: in the key store, out of the widgets, never in the file
    assert memory_keyring.store[TOKEN_KEY] == TOKEN
    assert memory_keyring.store[PASSWORD_KEY] == PASSWORD
    assert tab.token_edit.text() == "" and tab.password_edit.text() == ""
    assert tab.token_status.text() == STORED and tab.password_status.text() == STORED
    text = store.path.read_text()
    assert TOKEN not in text and PASSWORD not in text
    assert not any(TOKEN in t or PASSWORD in t for t in visible_texts(dialog))

    doc = json.loads(text)
    assert doc["routes"]["fill"] == ["telegram", "tray"]
    assert doc["routes"]["risk_state"] == ["email", "telegram", "tray"]
    assert doc["routes"]["signal_rejected"] == []
    assert doc["telegram"]["chat_id"] == "-100777"
    assert doc["email"] | {"timeout_s": 0} == {
        "host": "127.0.0.1", "port": 2525, "security": "starttls", "username": USER, "sender": USER,
        "recipients": ["desk@example.test", "me@example.test"], "ca_file": None, "timeout_s": 0,
    }  # fmt: skip
    assert len(saved) == 1 and saved[0] == store.load()
    assert saved[0].channels_for(NoticeKind.FILL) == {ChannelKind.TRAY, ChannelKind.TELEGRAM}

    # next session: the form comes back from the file, the secrets only as "stored ✓"
    dialog2 = dialog_for(qtbot, store, keystore)
    again = dialog2.notify_tab
    assert again.chat_edit.text() == "-100777" and again.host_edit.text() == "127.0.0.1"
    assert (
        again.port_spin.value() == 2525
        and again.recipients_edit.text() == "desk@example.test, me@example.test"
    )
    assert again.route_boxes[(NoticeKind.RISK_STATE, ChannelKind.EMAIL)].isChecked()
    assert not again.route_boxes[(NoticeKind.SIGNAL_REJECTED, ChannelKind.TRAY)].isChecked()
    assert again.token_edit.text() == "" and again.token_status.text() == STORED
    assert "Settings file:" in again.file_label.text()

    # Delete token: gone from the key store; Save now asks for one (Telegram is still routed)
    click(qtbot, again.token_delete)
    assert TOKEN_KEY not in memory_keyring.store and again.token_status.text() == "not set"
    before = store.path.read_text()
    click(qtbot, again.save_button)
    assert "enter the bot token" in again.save_label.text()
    assert store.path.read_text() == before


def test_a_wrong_email_address_shows_the_config_error_and_writes_nothing(
    qtbot, memory_keyring, keystore: KeyStore, store: NotifySettingsStore
) -> None:
    dialog = dialog_for(qtbot, store, keystore)
    tab = dialog.notify_tab
    tick(tab, NoticeKind.FILL, ChannelKind.EMAIL)
    tick(tab, NoticeKind.FILL, ChannelKind.TELEGRAM)
    type_into(qtbot, tab.chat_edit, "42")
    type_into(qtbot, tab.token_edit, TOKEN)
    fill_email(qtbot, tab, recipients="desk@example.test, nobody")
    saved: list[NotifyConfig] = []
    tab.saved.connect(saved.append)
    click(qtbot, tab.save_button)

    assert "notify.email.recipients: not addresses: ['nobody']" in tab.save_label.text()
    assert not store.path.exists() and not store.path.parent.exists()
    assert memory_keyring.store == {}  # the typed token was not stored either: nothing half-saved
    assert saved == []
    assert tab.token_edit.text() == TOKEN and tab.recipients_edit.text().endswith("nobody")  # input kept

    # routed to Telegram without a chat id: the TelegramConfig's own words
    type_into(qtbot, tab.recipients_edit, "desk@example.test")
    tab.chat_edit.clear()
    click(qtbot, tab.save_button)
    assert "notify.telegram.chat_id is empty" in tab.save_label.text()
    assert not store.path.exists() and memory_keyring.store == {}

    # a missing CA file is named too
    type_into(qtbot, tab.chat_edit, "42")
    type_into(qtbot, tab.ca_edit, "/nonexistent/ca.pem")
    click(qtbot, tab.save_button)
    assert "notify.email.ca_file: no such file: /nonexistent/ca.pem" in tab.save_label.text()
    assert not store.path.exists()


def test_a_broken_settings_file_is_shown_and_replaced_on_save(
    qtbot, memory_keyring, keystore: KeyStore, store: NotifySettingsStore
) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{oops")
    dialog = dialog_for(qtbot, store, keystore)
    tab = dialog.notify_tab
    assert str(store.path) in tab.file_label.text() and "not valid JSON" in tab.file_label.text()
    click(qtbot, tab.save_button)  # the defaults (tray only) are a valid config
    assert store.load() == NotifyConfig() and store.warning is None
    assert "Settings file:" in tab.file_label.text()


# ---------------------------------------------------------------------- send test
def test_send_test_reaches_the_fake_telegram_server(
    qtbot, qloop, memory_keyring, keystore: KeyStore, store: NotifySettingsStore, telegram: FakeTelegram
) -> None:
    # The form does not show the API URL: it is kept from the saved file (here: the local fake).
    store.save(NotifyConfig(telegram=TelegramConfig(chat_id="1", base_url=telegram.url)))
    dialog = dialog_for(qtbot, store, keystore)
    tab = dialog.notify_tab
    type_into(qtbot, tab.chat_edit, "-100555")
    type_into(qtbot, tab.token_edit, "999:wrong-token-typed")  # typed, not saved: tested as typed
    task = tab.start_test(ChannelKind.TELEGRAM)
    assert task is not None and not tab.test_buttons[ChannelKind.TELEGRAM].isEnabled()
    run(qloop, task)
    label = tab.test_labels[ChannelKind.TELEGRAM].text()
    assert "telegram: HTTP 401: Unauthorized" in label and "wrong-token-typed" not in label
    assert telegram.delivered == []

    type_into(qtbot, tab.token_edit, TOKEN)
    results: list[tuple[ChannelKind, bool, str]] = []
    tab.test_finished.connect(lambda k, ok, msg: results.append((k, ok, msg)))
    click(qtbot, tab.test_buttons[ChannelKind.TELEGRAM])
    wait_until(qloop, lambda: results, what="the test to finish")
    assert results == [(ChannelKind.TELEGRAM, True, SENT)]
    assert tab.test_labels[ChannelKind.TELEGRAM].text() == SENT
    (sent,) = telegram.delivered
    assert sent.token == TOKEN and sent.payload["chat_id"] == "-100555"
    assert sent.payload["text"].startswith("Test notification\n") and "Telegram" in sent.payload["text"]
    assert memory_keyring.store == {}  # testing stores nothing

    # the stored token is used when the field is empty
    keystore.save_secret("telegram:bot_token", TOKEN)
    tab.token_edit.clear()
    run(qloop, tab.start_test(ChannelKind.TELEGRAM))
    assert len(telegram.delivered) == 2 and tab.test_labels[ChannelKind.TELEGRAM].text() == SENT


def test_send_test_reaches_the_smtp_server(
    qtbot, qloop, memory_keyring, keystore: KeyStore, store: NotifySettingsStore, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    dialog = dialog_for(qtbot, store, keystore)
    tab = dialog.notify_tab
    with smtp_server(cert, key, implicit_tls=False) as (box, port):
        fill_email(qtbot, tab, recipients="desk@example.test")
        tab.port_spin.setValue(port)
        type_into(qtbot, tab.ca_edit, str(cert))
        run(qloop, tab.start_test(ChannelKind.EMAIL))
        assert tab.test_labels[ChannelKind.EMAIL].text() == SENT, tab.test_labels[ChannelKind.EMAIL].text()
        (msg,) = box.messages
        assert msg["Subject"] == "[terminal] Test notification" and msg["To"] == "desk@example.test"
        assert msg["X-Terminal-Notice"] == "test" and "Email" in msg.get_payload()
        assert box.envelopes == [(USER, ["desk@example.test"])] and box.logins == [USER]

        # a wrong password: the server's refusal, the typed value scrubbed
        type_into(qtbot, tab.password_edit, "wrong-pass-1234")
        run(qloop, tab.start_test(ChannelKind.EMAIL))
        label = tab.test_labels[ChannelKind.EMAIL].text()
        assert label.startswith("✗ email: SMTP 535") and "wrong-pass-1234" not in label
        assert len(box.messages) == 1

    # an invalid form is refused before anything is sent
    type_into(qtbot, tab.sender_edit, "not-an-address")
    assert tab.start_test(ChannelKind.EMAIL) is None
    assert "notify.email.sender is not an address" in tab.test_labels[ChannelKind.EMAIL].text()


def test_send_test_tray_goes_through_the_given_tray(qtbot, qloop, memory_keyring, keystore, store) -> None:
    shown: list[str] = []
    dialog = dialog_for(qtbot, store, keystore, tray=lambda n: shown.append(n.title))
    tab = dialog.notify_tab
    run(qloop, tab.start_test(ChannelKind.TRAY))
    assert shown == ["Test notification"] and tab.test_labels[ChannelKind.TRAY].text() == SENT


# ---------------------------------------------------------------------- live apply
def test_saved_settings_switch_a_running_app_to_telegram(
    qtbot, qloop, demo_app: App, memory_keyring, tmp_path: Path, monkeypatch, telegram: FakeTelegram
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # the window's default store
    store = NotifySettingsStore()
    assert store.path == default_notify_path() and store.path.is_relative_to(tmp_path)
    store.save(NotifyConfig(telegram=TelegramConfig(chat_id="1", base_url=telegram.url)))
    demo_app.config.notify = None  # started without notifications
    assert demo_app.notifier is None

    win = MainWindow(UiContext(demo_app, Selection(FUT, UI_SYMBOL)), layout_path=tmp_path / "layout.ini")
    qtbot.addWidget(win)
    win.show()
    win.on_app_started()
    dialog = win.open_settings()
    assert isinstance(dialog, SettingsDialog) and dialog.notify_tab is not None
    dialog.show_notifications()
    tab = dialog.notify_tab
    tick(tab, NoticeKind.FILL, ChannelKind.TELEGRAM)
    type_into(qtbot, tab.chat_edit, "4242")
    type_into(qtbot, tab.token_edit, TOKEN)
    shot(dialog, "/tmp/notify_tab.png")
    click(qtbot, tab.save_button)
    assert tab.save_label.text().startswith("✓ Saved")
    wait_until(qloop, lambda: demo_app.notifier is not None, what="the notifier to start")
    assert ChannelKind.TELEGRAM in demo_app.notifier.config.channels_for(NoticeKind.FILL)
    assert win.base_config.notify == demo_app.config.notify  # a mode switch keeps the new settings

    run(qloop, demo_app.oms.submit(OrderIntent(FUT, UI_SYMBOL, Side.BUY, OrderType.MARKET, Decimal("0.003"))))
    wait_until(
        qloop,
        lambda: any(UI_SYMBOL in r.payload["text"] for r in telegram.delivered),
        15,
        "the fill on Telegram",
    )
    fill = next(r for r in telegram.delivered if UI_SYMBOL in r.payload["text"])
    assert fill.payload["chat_id"] == "4242" and fill.token == TOKEN

    # and off again: nothing more is sent
    run(qloop, demo_app.apply_notify(None))
    assert demo_app.notifier is None and demo_app.config.notify is None
    n = len(telegram.requests)
    run(
        qloop, demo_app.oms.submit(OrderIntent(FUT, UI_SYMBOL, Side.SELL, OrderType.MARKET, Decimal("0.003")))
    )
    run(qloop, asyncio.sleep(0.5))
    assert len(telegram.requests) == n
    if shiboken6.isValid(dialog):
        dialog.close()
    win.close()


def test_apply_notify_replaces_the_notifier_and_is_safe_twice(qloop, demo_app: App, telegram) -> None:
    first = NotifyConfig(coalesce_s=0.1)
    run(qloop, demo_app.apply_notify(first))
    one = demo_app.notifier
    assert one is not None and one.config is first
    second = NotifyConfig(
        routes={NoticeKind.FILL: frozenset({ChannelKind.TELEGRAM})},
        telegram=TelegramConfig(chat_id="7", base_url=telegram.url),
    )

    async def both() -> None:  # two saves racing: one notifier survives, with one of the configs
        await asyncio.gather(demo_app.apply_notify(second), demo_app.apply_notify(first))

    run(qloop, both())
    assert demo_app.notifier is not None and demo_app.notifier is not one
    assert demo_app.notifier.config is demo_app.config.notify
    run(qloop, demo_app.apply_notify(None))
    assert demo_app.notifier is None


def test_open_settings_passes_the_store_and_the_callback(qtbot, memory_keyring, keystore, store) -> None:
    got: list[NotifyConfig] = []
    dialog = open_settings(
        None, keystore, notify_store=store, on_notify_saved=got.append, test_connection=None
    )
    qtbot.addWidget(dialog)
    assert dialog.notify_tab is not None
    click(qtbot, dialog.notify_tab.save_button)
    assert got == [NotifyConfig()]
    dialog.close()
    plain = SettingsDialog(keystore)
    qtbot.addWidget(plain)
    assert plain.notify_tab is None and plain.windowTitle() == "Settings — API keys"

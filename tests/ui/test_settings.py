"""Settings dialog and live opt-in, driven as a user would: typed keys, clicks, the simulator.

Keys go to the in-memory keyring (``memory_keyring``) — never the data dir, never back into a
widget; "Test connection" runs the real probe (real adapter, signed request) against the
simulator over loopback; without a keyring the banner offers the encrypted key file.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox, QPushButton, QWidget

from terminal.app import Mode
from terminal.model import Venue
from terminal.prefs import Prefs, PrefsStore, startup_mode
from terminal.secrets import SERVICE, KeyStore, StoreBackend
from terminal.secrets import probe as key_probe
from terminal.sim.exchange import SimConfig
from terminal.sim.server import RunningSim, start_sim
from terminal.ui.fmt import venue_label
from terminal.ui.live_optin import LiveOptIn, ask_start_mode, start_mode_box
from terminal.ui.settings import STORED, SettingsDialog, open_settings
from terminal.venues.base import ApiCredentials, Network

from .conftest import run, wait_until

pytestmark = pytest.mark.timeout(90)

KEY = "uiKEY0123456789abcdefXYZ"
SECRET = "uiSECRETzyxwvu9876543210QQ"
SHOTS = Path("/tmp/shots")


def shot(widget: QWidget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # posted layout requests settle over a few passes
        QApplication.processEvents()
    widget.grab().save(str(SHOTS / f"{name}.png"))


@pytest.fixture(autouse=True)
def dark(qapp: QApplication) -> None:
    from terminal.ui.theme import apply_dark

    apply_dark(qapp)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def sim(qloop: asyncio.AbstractEventLoop) -> Iterator[RunningSim]:
    running = run(qloop, start_sim(SimConfig(history_days=1, symbols=("BTCUSDT",))), 60)
    try:
        yield running
    finally:
        run(qloop, running.stop(), 30)


def visible_texts(root: QWidget) -> list[str]:
    """Everything a screenshot could show as text (labels, edits, buttons, titles)."""
    texts = [root.windowTitle()]
    for w in root.findChildren(QWidget):
        for attr in ("text", "placeholderText", "title", "toolTip"):
            getter = getattr(w, attr, None)
            if callable(getter):
                value = getter()
                if isinstance(value, str):
                    texts.append(value)
    return texts


def assert_no_plaintext(root: Path, *values: str) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(v.encode() in data for v in values), f"secret material in {path}"


# ---------------------------------------------------------------------- keys into the keyring
def test_typed_keys_land_in_the_keyring_and_never_come_back(qtbot, memory_keyring, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    dialog = SettingsDialog(KeyStore(data_dir))
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.isModal()
    live = dialog.editor(Venue.BINANCE_SPOT, Network.LIVE)
    testnet = dialog.editor(Venue.BINANCE_SPOT, Network.TESTNET)
    assert live.stored_label.text() == "not set"
    assert live.secret_edit.echoMode() is QLineEdit.EchoMode.Password

    qtbot.keyClicks(live.key_edit, KEY)
    qtbot.keyClicks(live.secret_edit, SECRET)
    shot(dialog, "settings_typing")
    qtbot.mouseClick(live.save_button, Qt.MouseButton.LeftButton)

    assert memory_keyring.store == {
        (SERVICE, "binance_spot:live:key"): KEY,
        (SERVICE, "binance_spot:live:secret"): SECRET,
    }
    assert live.key_edit.text() == "" and live.secret_edit.text() == ""  # cleared after saving
    assert live.stored_label.text().startswith(STORED)
    assert testnet.stored_label.text() == "not set"  # testnet keys are separate
    assert not any(SECRET in t for t in visible_texts(dialog))
    shot(dialog, "settings_stored")

    # testnet keys for the same venue: a separate pair
    qtbot.keyClicks(testnet.key_edit, "testnet-key-1")
    qtbot.keyClicks(testnet.secret_edit, "testnet-secret-1")
    qtbot.mouseClick(testnet.save_button, Qt.MouseButton.LeftButton)
    assert memory_keyring.store[(SERVICE, "binance_spot:testnet:secret")] == "testnet-secret-1"
    assert memory_keyring.store[(SERVICE, "binance_spot:live:secret")] == SECRET

    # a new dialog (next session) shows "stored ✓" — never the secret, not even masked
    again = SettingsDialog(KeyStore(data_dir))
    qtbot.addWidget(again)
    again.show()
    reopened = again.editor(Venue.BINANCE_SPOT, Network.LIVE)
    assert reopened.stored_label.text().startswith(STORED)
    assert reopened.key_edit.text() == "" and reopened.secret_edit.text() == ""
    assert not any(SECRET in t or "testnet-secret-1" in t for t in visible_texts(again))

    # Delete removes the live pair only
    qtbot.mouseClick(reopened.delete_button, Qt.MouseButton.LeftButton)
    assert (SERVICE, "binance_spot:live:secret") not in memory_keyring.store
    assert (SERVICE, "binance_spot:testnet:secret") in memory_keyring.store
    assert reopened.stored_label.text() == "not set"

    assert not data_dir.exists() or list(data_dir.rglob("*")) == []  # nothing in the data dir
    assert_no_plaintext(tmp_path, KEY, SECRET, "testnet-secret-1")


def test_half_filled_form_is_refused_and_nothing_lost(qtbot, memory_keyring, tmp_path: Path) -> None:
    dialog = SettingsDialog(KeyStore(tmp_path))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.show_venue(Venue.BYBIT_LINEAR)
    editor = dialog.editor(Venue.BYBIT_LINEAR, Network.LIVE)
    qtbot.keyClicks(editor.key_edit, KEY)
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert "both the API key and the secret" in editor.result_label.text()
    assert editor.key_edit.text() == KEY  # the user's input stays
    assert memory_keyring.store == {}


# ---------------------------------------------------------------------- no keyring
def test_no_keyring_banner_then_encrypted_file_opt_in(qtbot, no_keyring, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = KeyStore(data_dir)
    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    banner = dialog.banner
    assert "No OS keyring backend is available" in banner.message.text()
    assert "passphrase-encrypted key file" in banner.message.text()
    assert banner.use_file_button.isVisible() and banner.confirm.isVisible()
    shot(dialog, "settings_no_keyring")

    # Save without a choice: a clear error, nothing written anywhere, input kept
    dialog.show_venue(Venue.BINANCE_USDM)
    editor = dialog.editor(Venue.BINANCE_USDM, Network.TESTNET)
    qtbot.keyClicks(editor.key_edit, KEY)
    qtbot.keyClicks(editor.secret_edit, SECRET)
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert "No OS keyring backend" in editor.result_label.text()
    assert editor.secret_edit.text() == SECRET
    assert not data_dir.exists()

    # opt in: passphrases must match
    qtbot.keyClicks(banner.passphrase, "a long passphrase")
    qtbot.keyClicks(banner.confirm, "a long passphrasE")
    qtbot.mouseClick(banner.use_file_button, Qt.MouseButton.LeftButton)
    assert "differ" in banner.error.text()
    assert store.backend is StoreBackend.NONE
    banner.confirm.clear()
    qtbot.keyClicks(banner.confirm, "a long passphrase")
    qtbot.mouseClick(banner.use_file_button, Qt.MouseButton.LeftButton)
    assert store.backend is StoreBackend.ENCRYPTED_FILE
    assert "encrypted key file" in banner.message.text() and not banner.use_file_button.isVisible()
    assert banner.passphrase.text() == ""

    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)  # the typed keys are still there
    assert editor.stored_label.text().startswith(STORED)
    shot(dialog, "settings_key_file")
    vault = store.vault_path
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    assert_no_plaintext(tmp_path, KEY, SECRET)

    # next session: locked until the passphrase is entered; a wrong one says so
    later = SettingsDialog(KeyStore(data_dir))
    qtbot.addWidget(later)
    later.show()
    later.show_venue(Venue.BINANCE_USDM)
    assert "enter its passphrase" in later.banner.message.text()
    assert "locked" in later.editor(Venue.BINANCE_USDM, Network.TESTNET).stored_label.text()
    qtbot.keyClicks(later.banner.passphrase, "wrong passphrase")
    qtbot.mouseClick(later.banner.use_file_button, Qt.MouseButton.LeftButton)
    assert "wrong passphrase" in later.banner.error.text()
    later.banner.passphrase.clear()
    qtbot.keyClicks(later.banner.passphrase, "a long passphrase")
    qtbot.mouseClick(later.banner.use_file_button, Qt.MouseButton.LeftButton)
    assert later.editor(Venue.BINANCE_USDM, Network.TESTNET).stored_label.text().startswith(STORED)


# ---------------------------------------------------------------------- test connection
def test_connection_against_the_simulator_ok_and_wrong_secret(
    qtbot, qloop: asyncio.AbstractEventLoop, sim: RunningSim, memory_keyring, tmp_path: Path
) -> None:
    def probe(venue: Venue, network: Network, creds: ApiCredentials):
        # the dialog's LIVE/TESTNET row, pointed at the simulator (never a real network in tests)
        return key_probe.test_connection(venue, Network.CUSTOM, creds, base_url=sim.url)

    creds = sim.exchange.default_credentials
    dialog = SettingsDialog(KeyStore(tmp_path), test_connection=probe)
    qtbot.addWidget(dialog)
    dialog.show()
    finished: list[tuple[Venue, Network, bool, str]] = []
    dialog.test_finished.connect(lambda *args: finished.append(args))

    editor = dialog.editor(Venue.BINANCE_SPOT, Network.TESTNET)
    qtbot.keyClicks(editor.key_edit, creds.api_key)
    qtbot.keyClicks(editor.secret_edit, creds.api_secret)
    qtbot.mouseClick(editor.test_button, Qt.MouseButton.LeftButton)
    assert not editor.test_button.isEnabled()  # one test at a time
    wait_until(qloop, lambda: finished, 20, "the connection test")
    assert finished[-1][:3] == (Venue.BINANCE_SPOT, Network.TESTNET, True)
    text = editor.result_label.text()
    assert text.startswith("✓ OK") and "key accepted" in text and "USDT 100000" in text
    assert "account permissions: trading allowed" in text  # from the venue's account flags
    assert editor.test_button.isEnabled()
    shot(dialog, "settings_test_ok")

    # a wrong secret: the venue's own error text, and no secret on screen
    editor.secret_edit.clear()
    qtbot.keyClicks(editor.secret_edit, SECRET)
    qtbot.mouseClick(editor.test_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: len(finished) == 2, 20, "the second connection test")
    assert finished[-1][2] is False
    text = editor.result_label.text()
    assert text.startswith("✗") and "Signature for this request is not valid" in text and "-1022" in text
    assert SECRET not in text and creds.api_secret not in text
    shot(dialog, "settings_test_error")

    # Bybit: a wrong key, tested from the stored pair (fields empty)
    dialog.show_venue(Venue.BYBIT_LINEAR)
    bybit = dialog.editor(Venue.BYBIT_LINEAR, Network.LIVE)
    qtbot.keyClicks(bybit.key_edit, "not-a-key")
    qtbot.keyClicks(bybit.secret_edit, creds.api_secret)
    qtbot.mouseClick(bybit.save_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(bybit.test_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: len(finished) == 3, 20, "the Bybit connection test")
    assert finished[-1][2] is False and "API key is invalid" in bybit.result_label.text()
    assert bybit.key_edit.text() == ""  # tested the stored pair
    shot(dialog, "settings_test_bybit_error")
    assert not any(creds.api_secret in t for t in visible_texts(dialog))


# ---------------------------------------------------------------------- live opt-in
def test_live_optin_needs_keys_and_the_typed_venue_name(qtbot, memory_keyring, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    missing = LiveOptIn(store, Venue.BYBIT_LINEAR)
    qtbot.addWidget(missing)
    missing.show()
    assert "No live API keys stored for Bybit" in missing.keys_label.text()
    assert not missing.confirm_edit.isEnabled() and not missing.go_button.isEnabled()
    shot(missing, "live_optin_no_keys")

    store.save(Venue.BINANCE_USDM, Network.LIVE, ApiCredentials(KEY, SECRET))
    store.save(Venue.BINANCE_USDM, Network.TESTNET, ApiCredentials("tnet", "tnet-secret"))
    optin = LiveOptIn(store, Venue.BINANCE_USDM)
    qtbot.addWidget(optin)
    optin.show()
    accepted: list[Venue] = []
    rejected: list[bool] = []
    optin.accepted.connect(accepted.append)
    optin.rejected.connect(lambda: rejected.append(True))
    texts = " ".join(visible_texts(optin))
    assert (
        venue_label(Venue.BINANCE_USDM) in texts and f"API key {KEY[:4]}…" in texts
    )  # names venue and account
    assert SECRET not in texts and KEY not in texts

    qtbot.keyClicks(optin.confirm_edit, "binance")
    assert not optin.go_button.isEnabled()
    qtbot.mouseClick(optin.go_button, Qt.MouseButton.LeftButton)
    qtbot.keyClick(optin.confirm_edit, Qt.Key.Key_Return)
    assert accepted == []
    optin.confirm_edit.clear()
    qtbot.keyClicks(optin.confirm_edit, "binance_spot")  # another venue's name does not count
    assert not optin.go_button.isEnabled()
    optin.confirm_edit.clear()
    qtbot.keyClicks(optin.confirm_edit, "binance_usdm")
    assert optin.go_button.isEnabled()
    shot(optin, "live_optin_confirmed")
    qtbot.mouseClick(optin.go_button, Qt.MouseButton.LeftButton)
    assert accepted == [Venue.BINANCE_USDM] and rejected == []
    assert not optin.isVisible()

    # cancelling, or closing the window, rejects
    other = LiveOptIn(store, Venue.BINANCE_USDM)
    qtbot.addWidget(other)
    other.rejected.connect(lambda: rejected.append(True))
    other.show()
    other.close()
    assert rejected == [True]


# ---------------------------------------------------------------------- start mode
def _answer_modal(button_text: str | None) -> None:
    """Press a button of the modal box once it is up (``None``: press Return = the default)."""

    def press() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, press)
            return
        shot(box, "start_mode_question")
        if button_text is None:
            box.defaultButton().click()
        else:
            next(b for b in box.findChildren(QPushButton) if b.text() == button_text).click()

    QTimer.singleShot(20, press)


def test_start_mode_resumes_only_when_confirmed(qtbot, tmp_path: Path) -> None:
    box, resume = start_mode_box(Mode.LIVE)
    qtbot.addWidget(box)
    assert "live" in box.text() and "real money" in box.informativeText()
    assert box.defaultButton() is not resume and box.defaultButton().text() == "Start in demo"

    prefs_store = PrefsStore(tmp_path / "prefs.json")
    prefs_store.save(Prefs(last_mode=Mode.LIVE, last_venue=Venue.BYBIT_LINEAR))
    prefs = prefs_store.load()
    _answer_modal(None)  # Return: the default answer
    assert startup_mode(prefs, ask_start_mode) is Mode.DEMO
    _answer_modal("Start in live")
    assert startup_mode(prefs, ask_start_mode) is Mode.LIVE
    _answer_modal("Start in demo")
    assert startup_mode(Prefs(last_mode=Mode.TESTNET), ask_start_mode) is Mode.DEMO


def test_open_settings_shows_the_selected_venue(qtbot, memory_keyring, tmp_path: Path) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = open_settings(parent, KeyStore(tmp_path), venue=Venue.BYBIT_SPOT)
    assert dialog.isVisible() and not dialog.isModal()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == venue_label(Venue.BYBIT_SPOT)
    assert dialog.editor(Venue.BYBIT_SPOT, Network.LIVE).test_button.isEnabled()  # the real probe
    dialog.close()


def test_closing_the_dialog_cancels_a_running_test(
    qtbot, qloop: asyncio.AbstractEventLoop, memory_keyring, tmp_path: Path
) -> None:
    started = asyncio.Event()

    async def never_answers(venue: Venue, network: Network, creds: ApiCredentials) -> str:
        started.set()
        await asyncio.sleep(60)  # a venue that does not answer
        return "unreachable"

    dialog = SettingsDialog(KeyStore(tmp_path), test_connection=never_answers)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    editor = dialog.editor(Venue.BINANCE_SPOT, Network.LIVE)
    qtbot.keyClicks(editor.key_edit, KEY)
    qtbot.keyClicks(editor.secret_edit, SECRET)
    task = editor.start_test()
    assert task is not None and editor.start_test() is None  # one at a time
    assert "Testing Binance Spot live" in editor.result_label.text()
    wait_until(qloop, started.is_set, 5, "the probe to start")
    dialog.close()
    wait_until(qloop, task.done, 5, "the test task to end")
    assert task.cancelled()
    run(qloop, asyncio.sleep(0.05))  # the deleted dialog's task must not touch its widgets

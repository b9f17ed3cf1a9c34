"""Live opt-in end to end, without any real network: the mode combo opens the real ``LiveOptIn``
dialog (keys in the in-memory keyring); "Go live" hands the runner a config for live on exactly
that venue with the opt-in and the shared key store; declining keeps the running mode and snaps
the combo back; a remembered (confirmed) live start runs demo and asks first.

The live config is only handed over (collected by the test), never started: starting it would
connect to the real exchange."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from terminal.app import App, AppConfig, Mode
from terminal.model import Venue
from terminal.secrets import KeyStore
from terminal.ui.context import Selection, UiContext
from terminal.ui.live_optin import LiveOptIn
from terminal.ui.main_window import MainWindow
from terminal.venues.base import ApiCredentials, Network
from tests.ui.conftest import UI_SYMBOL, demo_config, wait_until

pytestmark = pytest.mark.timeout(120)

FUT = Venue.BINANCE_USDM
SHOTS = Path("/tmp/shots")


@pytest.fixture
def keystore(memory_keyring, tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "secrets")
    store.save(FUT, Network.LIVE, ApiCredentials("LIVEkey-0123456789", "live-secret-0123456789"))
    return store


@pytest.fixture
def window(
    qloop: asyncio.AbstractEventLoop, demo_app: App, keystore: KeyStore, qtbot
) -> Iterator[tuple[MainWindow, list[AppConfig]]]:
    from terminal.ui.theme import apply_dark

    apply_dark(QApplication.instance())
    base = dataclasses.replace(demo_app.config, keystore=keystore)
    restarts: list[AppConfig] = []
    ctx = UiContext(demo_app, Selection(FUT, UI_SYMBOL))
    win = MainWindow(
        ctx, layout_path=demo_app.data_dir / "layout.ini", on_restart=restarts.append, base_config=base
    )
    qtbot.addWidget(win)
    win.show()
    win.on_app_started()
    yield win, restarts
    if shiboken6.isValid(win):
        win.close()


def choose_live(win: MainWindow) -> LiveOptIn:
    combo = win.mode_combo
    combo.setCurrentIndex(combo.findData(Mode.LIVE.value))
    combo.activated.emit(combo.currentIndex())
    dialog = win.live_optin
    assert isinstance(dialog, LiveOptIn) and dialog.isVisible() and not dialog.isModal()
    return dialog


def test_accepted_opt_in_restarts_live_on_that_venue_only(window, keystore: KeyStore, qtbot) -> None:
    win, restarts = window
    dialog = choose_live(win)
    assert dialog.venue is FUT and dialog.keystore is keystore and dialog.has_keys
    assert "LIVE" in dialog.account  # names the account by the key's first characters
    assert win.mode_combo.currentData() == "live"  # shows what is being asked
    assert not dialog.go_button.isEnabled()
    qtbot.keyClicks(dialog.confirm_edit, "binance_spot")  # another venue's name does not count
    assert not dialog.go_button.isEnabled() and restarts == []
    dialog.confirm_edit.clear()
    qtbot.keyClicks(dialog.confirm_edit, FUT.value)
    assert dialog.go_button.isEnabled()
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "live_optin.png"))
    qtbot.mouseClick(dialog.go_button, Qt.MouseButton.LeftButton)

    (config,) = restarts
    base = win.base_config
    assert config == AppConfig(
        mode=Mode.LIVE,
        venues=(FUT,),
        symbols=base.symbols,
        data_dir=base.data_dir / "live",  # a journal per mode
        candle_intervals=base.candle_intervals,
        candle_history=base.candle_history,
        sim_history_days=base.sim_history_days,
        keystore=keystore,
        live_opt_in=True,
    )
    assert config.keystore is keystore  # the one the dialog checked: an unlocked file stays unlocked
    assert win.live_optin is None


@pytest.mark.parametrize("how", ["button", "escape", "close"])
def test_declined_opt_in_keeps_the_mode_and_the_combo_snaps_back(window, qtbot, how: str) -> None:
    win, restarts = window
    dialog = choose_live(win)
    qtbot.keyClicks(dialog.confirm_edit, FUT.value)  # even fully typed: declining wins
    if how == "button":
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    elif how == "escape":
        dialog.activateWindow()  # a window shortcut needs its window active
        qtbot.waitUntil(dialog.isActiveWindow, timeout=2000)
        qtbot.keyClick(dialog.confirm_edit, Qt.Key.Key_Escape)
    else:
        dialog.close()
    assert restarts == []
    assert win.mode_combo.currentData() == "demo"
    assert win.live_optin is None
    assert "live mode not started: staying in demo mode" in win.statusBar().currentMessage()
    assert win.ctx.app.oms is not None  # the demo session runs on


def test_a_venue_without_live_keys_cannot_go_live(window, qtbot) -> None:
    win, restarts = window
    win.ctx.selection.set_market(Venue.BINANCE_SPOT, UI_SYMBOL)  # keys are stored for USDⓈ-M only
    dialog = choose_live(win)
    assert not dialog.has_keys and not dialog.confirm_edit.isEnabled()
    assert "No live API keys stored" in dialog.keys_label.text()
    dialog.accept()  # even called directly: refused
    assert restarts == [] and dialog.isVisible()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert win.mode_combo.currentData() == "demo"


def _window(mode: Mode) -> MainWindow | None:
    for w in QApplication.topLevelWidgets():
        if isinstance(w, MainWindow) and w.isVisible() and w.ctx.mode is mode and w.ctx.oms is not None:
            return w
    return None


def test_remembered_live_start_runs_demo_and_asks_first(qloop, tmp_path: Path, keystore: KeyStore) -> None:
    from terminal.prefs import Prefs, PrefsStore
    from terminal.ui.run import _Remembered, _run_sessions

    store = PrefsStore(tmp_path / "prefs.json")
    store.save(Prefs(last_mode=Mode.LIVE, last_venue=FUT))
    remembered = _Remembered(store, store.load(), Mode.LIVE)  # the user confirmed "Start in live"
    config = dataclasses.replace(demo_config(tmp_path / "data"), mode=Mode.LIVE, keystore=keystore)
    runner = qloop.create_task(_run_sessions(config, remembered))
    wait_until(qloop, lambda: _window(Mode.DEMO), 60, "the demo window with a running app")
    win = _window(Mode.DEMO)
    assert win is not None and win.ctx.app.config.mode is Mode.DEMO and not win.ctx.app.config.live_opt_in
    dialog = win.live_optin
    assert isinstance(dialog, LiveOptIn) and dialog.isVisible()
    assert dialog.venue is FUT and dialog.keystore is keystore  # the remembered venue, the shared store
    assert win.base_config.mode is Mode.LIVE  # what the user asked for, kept for the opt-in
    dialog.reject()
    assert win.mode_combo.currentData() == "demo" and win.ctx.app.oms is not None
    win.close()
    wait_until(qloop, runner.done, 30, "the runner to return")
    assert runner.result() == 0
    assert store.load().last_mode is Mode.DEMO  # live never ran: next start is demo

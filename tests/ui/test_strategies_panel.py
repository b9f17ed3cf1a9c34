"""The strategies dock and its arm dialog against the real demo App: arm through the dialog,
a bad parameter refused inline, edit/re-arm, disarm, live mode's second confirmation, a
strategy that raises turning its row red and notifying the window, and no automation at all."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QLineEdit, QSpinBox

from terminal.app import App
from terminal.automation.arming import ArmKey
from terminal.automation.events import ArmState
from terminal.model import Venue
from terminal.ui.context import Selection, UiContext
from terminal.ui.fmt import venue_label
from terminal.ui.strategies_panel import STATE_COLORS, StrategiesPanel
from terminal.ui.strategy_dialog import StrategyDialog
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, apply_dark
from tests.ui.conftest import UI_SYMBOL, demo_config, run, wait_until

pytestmark = pytest.mark.timeout(120)

FUT = Venue.BINANCE_USDM
SPOT = Venue.BINANCE_SPOT
EMA = ArmKey("ema_cross", FUT, UI_SYMBOL)
FAST_1M = {"timeframe": "1m", "fast": "5", "slow": "20"}  # history the demo sim has


def panel_for(app: App, qtbot, venue: Venue = FUT) -> StrategiesPanel:
    panel = StrategiesPanel(UiContext(app, Selection(venue, UI_SYMBOL)))
    qtbot.addWidget(panel)
    panel.resize(1000, 260)
    panel.show()
    return panel


def cells(panel: StrategiesPanel, key: ArmKey) -> dict[str, str]:
    i = panel.model.row_of(key)
    assert i >= 0, f"{key} not in the table"
    return dict(zip(panel.model.headers, panel.model.rows[i].cells, strict=True))


def colors(panel: StrategiesPanel, key: ArmKey) -> tuple[str | None, ...]:
    return panel.model.rows[panel.model.row_of(key)].colors


def state_is(panel: StrategiesPanel, key: ArmKey, state: str):
    return lambda: panel.model.row_of(key) >= 0 and cells(panel, key)["State"] == state


def fill(dialog: StrategyDialog, values: dict[str, str]) -> None:
    """Type into the generated editors the way a user would."""
    assert dialog.form is not None
    for name, text in values.items():
        editor = dialog.form.editors[name]
        if isinstance(editor, QSpinBox):
            editor.setValue(int(text))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(text == "true")
        elif isinstance(editor, QLineEdit):
            editor.setText(text)
        else:
            raise AssertionError(f"no typing for {type(editor).__name__}")


def arm_via_dialog(
    qloop, panel: StrategiesPanel, qtbot, strategy: str, values: dict[str, str]
) -> StrategyDialog:
    dialog = panel.open_arm_dialog()
    assert dialog is not None and dialog.isVisible()
    dialog.select_strategy(strategy)
    fill(dialog, values)
    qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
    return dialog


def test_arm_through_the_dialog_shows_the_row_armed(qloop, demo_app: App, qtbot) -> None:
    panel = panel_for(demo_app, qtbot)
    host = demo_app.automation.host
    assert panel.model.rows == [] and panel._stack.currentWidget() is panel.empty
    assert not panel.edit_button.isEnabled() and not panel.disarm_button.isEnabled()

    dialog = panel.open_arm_dialog()
    assert dialog is not None
    # defaults: the window's selection; the registry's strategies with their doc text
    assert dialog.venue is FUT and dialog.symbol == UI_SYMBOL
    names = [dialog.strategy_combo.itemData(i) for i in range(dialog.strategy_combo.count())]
    assert "ema_cross" in names and "marketraker_momentum" in names
    dialog.select_strategy("ema_cross")
    assert "fast EMA" in dialog.doc_label.text()
    form = dialog.form
    assert form is not None
    slow = form.editors["slow"]
    assert isinstance(slow, QSpinBox) and (slow.minimum(), slow.maximum()) == (2, 5000)  # bounds applied
    assert "Slow EMA period" in slow.toolTip()  # help as tooltip
    assert isinstance(form.editors["allow_short"], QCheckBox)
    assert form.values() == {}  # untouched: every parameter at its default

    fill(dialog, FAST_1M)
    qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, state_is(panel, EMA, "armed"), 10, "the row armed")

    assert dict(host.armed[EMA].arming.params) == FAST_1M  # what the user changed, as text
    assert host.armed[EMA].state is ArmState.ARMED
    row = cells(panel, EMA)
    assert row["Strategy"] == "EMA cross" and row["Venue"] == venue_label(FUT) and row["Symbol"] == UI_SYMBOL
    assert row["Position"] == "0" and row["Intents"] == "0"
    assert colors(panel, EMA)[3] == STATE_COLORS[ArmState.ARMED] == BUY_COLOR
    assert not dialog.isVisible() and "armed ema_cross" in panel.status.text()
    assert panel.selected == EMA and panel.disarm_button.isEnabled()
    saved = (Path(demo_app.data_dir) / "armed.json").read_text()
    assert '"ema_cross"' in saved and '"slow": "20"' in saved  # the armed set persisted


def test_a_bad_parameter_shows_its_error_and_arms_nothing(qloop, demo_app: App, qtbot) -> None:
    panel = panel_for(demo_app, qtbot)
    host = demo_app.automation.host

    dialog = arm_via_dialog(qloop, panel, qtbot, "ema_cross", {"timeframe": "1m", "fast": "30", "slow": "20"})
    assert dialog.isVisible() and dialog.pending is None
    assert dialog.error == "fast must be below slow, got fast=30 slow=20"
    assert "border" in dialog.form.editors["fast"].styleSheet()  # the offending editor outlined
    assert dialog.form.editors["slow"].styleSheet() == ""

    fill(dialog, {"fast": "5", "timeframe": "7 minutes"})
    qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
    assert dialog.error.startswith("timeframe must be an interval like 1m")
    assert "border" in dialog.form.editors["timeframe"].styleSheet()
    assert dialog.form.editors["fast"].styleSheet() == ""

    fill(dialog, {"timeframe": "1m"})
    dialog.symbol_combo.setCurrentText("NOPEUSDT")
    qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
    assert dialog.error == f"symbol: NOPEUSDT is not listed on {venue_label(FUT)}"

    run(qloop, host.settle())
    assert host.armed == {} and panel.model.rows == []
    assert not (Path(demo_app.data_dir) / "armed.json").exists()

    # fixed, it arms
    dialog.symbol_combo.setCurrentText(UI_SYMBOL)
    qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, state_is(panel, EMA, "armed"), 10, "armed once the values are fixed")


def test_an_arm_error_from_the_host_is_shown_in_the_dialog(qloop, demo_app: App, qtbot) -> None:
    panel = panel_for(demo_app, qtbot)
    # BYBIT_LINEAR is not part of this session: only the host can tell, and says so
    dialog = StrategyDialog(
        arm=lambda k, p, c: demo_app.automation.host.arm(k, p, confirmed=c),
        venues=[FUT, Venue.BYBIT_LINEAR],
        instruments=lambda v: [],
        venue=Venue.BYBIT_LINEAR,
        symbol=UI_SYMBOL,
        live=False,
        parent=panel,
    )
    failures: list[str] = []
    dialog.failed.connect(failures.append)
    dialog.show()
    qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: dialog.pending is None and failures, 10, "the ArmError")
    assert failures == ["bybit_linear is not part of this session"] and dialog.error == failures[0]
    assert dialog.isVisible() and dialog.arm_button.isEnabled()
    assert demo_app.automation.host.armed == {}


def test_edit_prefills_and_rearms_then_disarm(qloop, demo_app: App, qtbot) -> None:
    panel = panel_for(demo_app, qtbot)
    host = demo_app.automation.host
    run(qloop, host.arm(EMA, FAST_1M))
    wait_until(qloop, state_is(panel, EMA, "armed"), 10, "the row")
    panel.select(EMA)

    qtbot.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    assert dialog is not None and dialog.isVisible() and dialog.editing
    assert not dialog.strategy_combo.isEnabled() and not dialog.symbol_combo.isEnabled()
    assert dialog.key == EMA
    assert dialog.form.editors["fast"].value() == 5 and dialog.form.editors["timeframe"].text() == "1m"
    fill(dialog, {"fast": "7"})
    qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: host.armed.get(EMA) and host.armed[EMA].arming.params.get("fast") == "7")
    wait_until(qloop, state_is(panel, EMA, "armed"), 10, "re-armed")
    assert len(panel.model.rows) == 1

    panel.select(EMA)
    qtbot.mouseClick(panel.disarm_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, state_is(panel, EMA, "disarmed"), 10, "the row disarmed")
    assert EMA not in host.armed
    assert set(colors(panel, EMA)) == {MUTED}  # a disarmed row is muted, kept for re-arming
    assert "disarmed ema_cross" in panel.status.text() and "stays open" in panel.status.text()
    assert not panel.disarm_button.isEnabled() and panel.edit_button.isEnabled()


def test_live_mode_asks_a_second_explicit_confirmation(qloop, demo_app: App, qtbot) -> None:
    panel = panel_for(demo_app, qtbot)
    host = demo_app.automation.host
    dialog = panel.open_arm_dialog()  # opened while the host is not live...
    assert dialog is not None and not dialog.live
    host.live = True  # ...the host is what decides: it refuses an unconfirmed arm
    try:
        dialog.select_strategy("ema_cross")
        fill(dialog, FAST_1M)
        qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)
        wait_until(qloop, lambda: dialog.pages.currentIndex() == 1, 10, "the confirmation step")
        text = dialog.confirm_label.text()
        assert "EMA cross" in text and venue_label(FUT) in text and UI_SYMBOL in text and "real money" in text
        out = os.environ.get("TERMINAL_SHOTS_DIR")
        if out:
            os.makedirs(out, exist_ok=True)
            assert dialog.grab().save(os.path.join(out, "strategy_live_confirm.png"))
        assert host.armed == {}

        qtbot.mouseClick(dialog.back_button, Qt.MouseButton.LeftButton)  # back: nothing armed
        assert dialog.pages.currentIndex() == 0 and host.armed == {}
        qtbot.mouseClick(dialog.arm_button, Qt.MouseButton.LeftButton)  # now known live: asks first
        assert dialog.pages.currentIndex() == 1 and dialog.pending is None and host.armed == {}

        qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
        wait_until(qloop, state_is(panel, EMA, "armed"), 10, "armed after the confirmation")
        assert not dialog.isVisible()

        again = panel.open_arm_dialog()  # a dialog opened in live mode asks without a round trip
        assert again is not None and again.live
    finally:
        host.live = False


def test_a_strategy_that_raises_turns_red_and_notifies(qloop, demo_app: App, qtbot) -> None:
    panel = panel_for(demo_app, qtbot)
    notices: list[tuple[str, str]] = []
    panel.notify_requested.connect(lambda title, text: notices.append((title, text)))
    host = demo_app.automation.host
    armed = run(qloop, host.arm(EMA, FAST_1M))
    wait_until(qloop, state_is(panel, EMA, "armed"), 10, "armed")

    def boom(_candle):
        raise RuntimeError("boom")

    armed.strategy.on_candle = boom  # the next bar it is fed raises, as a buggy strategy would
    armed.last_fed["1m"] = -1
    host._feed(armed, "1m")
    wait_until(qloop, state_is(panel, EMA, "error"), 10, "the row in error")

    assert EMA not in host.armed
    assert set(colors(panel, EMA)) == {SELL_COLOR}  # the whole row red
    assert cells(panel, EMA)["Message"] == "disarmed: RuntimeError: boom"
    assert notices == [("Strategy error", "ema_cross@binance_usdm:BTCUSDT: disarmed: RuntimeError: boom")]
    assert "boom" in panel.status.text()


def test_the_window_notifies_a_strategy_error(qloop, demo_app: App, qtbot, tmp_path: Path) -> None:
    from terminal.ui.main_window import MainWindow

    win = MainWindow(UiContext(demo_app, Selection(FUT, UI_SYMBOL)), layout_path=tmp_path / "layout.ini")
    qtbot.addWidget(win)
    panel = win.panels["strategies"]
    assert isinstance(panel, StrategiesPanel)
    panel.notify_requested.emit("Strategy error", "ema_cross@binance_usdm:BTCUSDT: disarmed: boom")
    assert ("Strategy error", "ema_cross@binance_usdm:BTCUSDT: disarmed: boom") in win.notifications
    assert "boom" in win.statusBar().currentMessage()
    win.close()


def test_without_automation_the_dock_says_so(qloop, qtbot, tmp_path: Path) -> None:
    config = dataclasses.replace(demo_config(tmp_path / "data"), automation=None)
    panel = panel_for(App(config), qtbot)  # a session without automation (it never gets one)
    panel.refresh(panel.ctx.engine.versions())
    panel.throttle.now()
    assert panel.empty.text().startswith("Automation is off in this session")
    assert panel._stack.currentWidget() is panel.empty
    assert not panel.arm_button.isEnabled()
    assert panel.open_arm_dialog() is None and "Automation is off" in panel.status.text()


def test_dialog_screenshot(qloop, demo_app: App, qtbot) -> None:
    apply_dark(QApplication.instance())
    panel = panel_for(demo_app, qtbot)
    host = demo_app.automation.host
    run(qloop, host.arm(EMA, FAST_1M))
    run(qloop, host.arm(ArmKey("rsi_sma", SPOT, "ETHUSDT"), {"timeframe": "1m", "sma_period": "50"}))
    broken = run(qloop, host.arm(ArmKey("macd_cross", FUT, "ETHUSDT"), {"timeframe": "1m"}))
    run(qloop, host.arm(ArmKey("marketraker_momentum", FUT, UI_SYMBOL)))
    run(qloop, host.disarm(ArmKey("marketraker_momentum", FUT, UI_SYMBOL)))
    host._fail(broken, ZeroDivisionError("division by zero"))  # how a raising strategy ends
    wait_until(qloop, lambda: len(panel.model.rows) == 4, 10, "four rows")
    panel.select(EMA)
    dialog = panel.open_arm_dialog()
    assert dialog is not None
    dialog.select_strategy("ema_cross")
    run(qloop, asyncio.sleep(0.1))  # let the new form and the table lay out before grabbing
    out = os.environ.get("TERMINAL_SHOTS_DIR")
    image = panel.grab()
    assert not image.isNull() and image.width() >= 1000
    if out:
        os.makedirs(out, exist_ok=True)
        assert dialog.grab().save(os.path.join(out, "strategy_dialog.png"))

"""Settings → Risk limits, driven as a user would: typed limits, Save, and a running demo App whose
risk manager refuses the next order over the new limit; bad values show the parser's words and
save nothing; a --config session says its file wins at the next start."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QScrollArea, QWidget

from terminal.app import App
from terminal.bus import EventBus
from terminal.model import Fill, OrderType, PositionSide, Side, TradingState, Venue
from terminal.secrets import KeyStore
from terminal.storage.journal import Journal
from terminal.trading.oms import OrderIntent, RiskRejected
from terminal.trading.risk import LossLimits, PnlTracker, RiskLimits, RiskManager, RiskRule, StrategyLimits
from terminal.trading.risk_store import RiskSettingsStore, RiskSource, StartLimits, default_risk_path
from terminal.ui.context import Selection, UiContext
from terminal.ui.main_window import MainWindow
from terminal.ui.risk_settings import APPLIED, RiskSettingsTab
from terminal.ui.settings import SettingsDialog

from .conftest import UI_SYMBOL, run

pytestmark = pytest.mark.timeout(90)

D = Decimal
FUT = Venue.BINANCE_USDM
DAY = 86_400_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY + 10 * 3_600_000

FULL = RiskLimits(
    max_order_notional=D("1000.25"),
    max_position_qty={"BTCUSDT": D("0.5"), "ETHUSDT": D("12")},
    max_position_notional=D("5000"),
    max_open_orders=7,
    max_orders_per_second=3,
    max_orders_per_minute=40,
    duplicate_window_s=0.75,
    loss=LossLimits(D("100"), D("200.5"), D("0.05"), D("0.125"), day_start_hour_utc=8, resume_next_day=True),
    strategies={
        "macd_cross": StrategyLimits(max_open_positions=2, max_notional=D("300"), daily_loss=D("50")),
        "webhook:tv": StrategyLimits(max_notional=D("75"), one_position_per_symbol=False),
    },
    strategy_default=StrategyLimits(max_open_positions=1, max_notional=D("100"), daily_loss=D("20")),
)


@pytest.fixture(autouse=True)
def dark(qapp: QApplication) -> None:
    from terminal.ui.theme import apply_dark

    apply_dark(qapp)


@pytest.fixture
def store(tmp_path: Path) -> RiskSettingsStore:
    return RiskSettingsStore(tmp_path / "config" / "risk.toml")


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal.open(tmp_path / "j.sqlite3")
    yield j
    j.close()


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def click(qtbot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def shot(widget: QWidget, path: str) -> None:
    widget.grab().save(path)


def make_tab(qtbot, store: RiskSettingsStore, **kw) -> RiskSettingsTab:
    tab = RiskSettingsTab(store, **kw)
    qtbot.addWidget(tab)
    tab.resize(700, 900)
    tab.show()
    return tab


# ---------------------------------------------------------------------- the form


def test_every_field_goes_through_the_form_unchanged(qtbot, store: RiskSettingsStore) -> None:
    tab = make_tab(qtbot, store)
    tab.fill(FULL)
    assert tab.edits["risk.loss.drawdown_halt"].text() == "12.5"  # shown in %
    assert tab.edits["risk.max_order_notional"].text() == "1000.25"
    assert tab.build_limits() == FULL
    click(qtbot, tab.save_button)
    assert tab.save_label.text().startswith("Saved to") and store.load() == FULL  # no App: saved only


def test_empty_fields_mean_no_limit(qtbot, store: RiskSettingsStore) -> None:
    tab = make_tab(qtbot, store)
    assert all(e.placeholderText() for e in tab.edits.values())
    assert "no limit" in tab.edits["risk.max_order_notional"].placeholderText()
    assert tab.build_limits() == RiskLimits()
    tab.fill(FULL)
    for key in tab.edits:
        tab.edits[key].clear()
    tab.symbol_table.setRowCount(0)
    tab.strategy_table.setRowCount(0)
    got = tab.build_limits()
    assert got.max_order_notional is None and got.loss.daily_loss_halt is None
    assert got.duplicate_window_s == 2.0  # the guard's default, not "off"
    assert got.max_position_qty == {} and got.strategies == {}


@pytest.mark.parametrize(
    ("key", "text", "said"),
    [
        ("risk.max_open_orders", "abc", "Max open orders: must be a whole number, got 'abc'"),
        (
            "risk.max_open_orders",
            "0",
            "Max open orders: must be positive (leave the field empty for no limit)",
        ),
        ("risk.max_order_notional", "-5", "Max order notional: must not be negative, got -5"),
        ("risk.max_order_notional", "lots", "Max order notional: not a number: 'lots'"),
        (
            "risk.loss.drawdown_halt",
            "150",
            "Drawdown → halt (%): a percentage above 0 and below 100, got 150",
        ),
        ("risk.duplicate_window_s", "nan", "Duplicate window (s): must be a finite number"),
        ("risk.strategy_default.daily_loss", "0", "Every strategy: daily loss: must be positive"),
    ],
)
def test_a_bad_value_shows_the_error_and_saves_nothing(
    qtbot, store: RiskSettingsStore, journal: Journal, key: str, text: str, said: str
) -> None:
    risk = RiskManager(RiskLimits(max_order_notional=D(10)), journal)
    applied: list[RiskLimits] = []
    tab = make_tab(qtbot, store, risk=lambda: risk, apply=lambda lim: applied.append(lim) or lim)
    assert tab.edits["risk.max_order_notional"].text() == "10"  # the limits in force are shown
    type_into(qtbot, tab.edits[key], text)
    click(qtbot, tab.save_button)
    assert tab.save_label.text().startswith(f"✗ {said}"), tab.save_label.text()
    assert "nothing was saved" in tab.save_label.text()
    assert "border" in tab.edits[key].styleSheet()  # the field is pointed at
    assert not store.path.exists() and applied == []
    assert risk.limits == RiskLimits(max_order_notional=D(10))


def test_bad_table_rows_are_named(qtbot, store: RiskSettingsStore) -> None:
    tab = make_tab(qtbot, store)
    row = tab.add_symbol_row("BTCUSDT")
    click(qtbot, tab.save_button)
    assert "Max position of BTCUSDT: enter the maximum quantity" in tab.save_label.text()
    assert tab.symbol_table.currentRow() == row
    tab.symbol_table.item(row, 1).setText("0.5")
    tab.add_symbol_row("btcusdt", D(1))
    click(qtbot, tab.save_button)
    assert "BTCUSDT is listed twice" in tab.save_label.text()
    tab.symbol_table.removeRow(1)

    tab.add_strategy_row("nosuch")
    click(qtbot, tab.save_button)
    assert "unknown strategy 'nosuch'" in tab.save_label.text()
    tab.strategy_table.removeRow(0)
    tab.add_strategy_row("macd_cross", StrategyLimits(max_notional=D(5)))
    tab.add_strategy_row("macd_cross")
    click(qtbot, tab.save_button)
    assert "macd_cross has two rows" in tab.save_label.text()
    assert not store.path.exists()
    tab.strategy_table.removeRow(1)
    tab.strategy_check(0).setChecked(False)
    click(qtbot, tab.save_button)
    saved = store.load()
    assert saved is not None and saved.max_position_qty == {"BTCUSDT": D("0.5")}
    assert saved.strategies == {
        "macd_cross": StrategyLimits(max_notional=D(5), one_position_per_symbol=False)
    }


def test_a_broken_saved_file_is_shown_and_replaced_on_save(qtbot, store: RiskSettingsStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("[risk\n")
    tab = make_tab(qtbot, store)
    assert "is not valid TOML" in tab.source_label.text()
    click(qtbot, tab.save_button)
    assert store.load() == RiskLimits() and store.warning is None


# ---------------------------------------------------------------------- live state


def _losing(journal: Journal, bus: EventBus) -> RiskManager:
    risk = RiskManager(
        RiskLimits(), journal, bus=bus, pnl=PnlTracker(base_equity=D(1000)), wall_ms=lambda: T0 + 5
    )
    risk.pnl.on_fill(
        Fill(FUT, UI_SYMBOL, "c1", None, "t1", Side.BUY, D(100), D(1), T0, D(0), "USDT", PositionSide.BOTH)
    )
    risk.pnl.on_mark(FUT, UI_SYMBOL, D(50), T0 + 1)
    return risk


def test_a_tighter_loss_limit_halts_at_once_and_the_top_line_says_so(
    qtbot, store: RiskSettingsStore, journal: Journal
) -> None:
    risk = _losing(journal, EventBus())
    tab = make_tab(qtbot, store, risk=lambda: risk, apply=lambda lim: (risk.set_limits(lim), lim)[1])
    assert "ACTIVE" in tab.state_label.text() and "-50.00" in tab.state_label.text()
    type_into(qtbot, tab.edits["risk.loss.daily_loss_halt"], "40")
    click(qtbot, tab.save_button)
    assert tab.save_label.text().startswith(APPLIED)
    assert risk.state is TradingState.HALTED
    assert "HALTED" in tab.state_label.text() and "until you resume" in tab.state_label.text()
    # loosening again does not resume
    type_into(qtbot, tab.edits["risk.loss.daily_loss_halt"], "4000")
    click(qtbot, tab.save_button)
    assert risk.state is TradingState.HALTED and "HALTED" in tab.state_label.text()


def test_a_config_file_session_says_the_file_wins_at_the_next_start(
    qtbot, store: RiskSettingsStore, journal: Journal, tmp_path: Path
) -> None:
    file_limits = RiskLimits(max_order_notional=D(100))
    risk = RiskManager(file_limits, journal)
    session = StartLimits(file_limits, RiskSource.CONFIG_FILE, tmp_path / "server.toml")
    tab = make_tab(
        qtbot, store, risk=lambda: risk, apply=lambda lim: (risk.set_limits(lim), lim)[1], session=session
    )
    source = tab.source_label.text()
    assert f"[risk] section of {tmp_path / 'server.toml'}" in source and "wins again" in source
    type_into(qtbot, tab.edits["risk.max_order_notional"], "50")
    click(qtbot, tab.save_button)
    text = tab.save_label.text()
    assert (
        text.startswith(APPLIED)
        and f"At the next start, {tmp_path / 'server.toml'}'s [risk] wins again" in text
    )
    assert risk.limits.max_order_notional == D(50) and store.load() == RiskLimits(max_order_notional=D(50))


# ---------------------------------------------------------------------- a running App


def test_the_tab_saves_and_applies_to_a_running_demo_app(
    qtbot, qloop, demo_app: App, tmp_path: Path, monkeypatch, memory_keyring
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # the window's default store
    demo_app.config.keystore = KeyStore(tmp_path / "secrets")
    win = MainWindow(UiContext(demo_app, Selection(FUT, UI_SYMBOL)), layout_path=tmp_path / "layout.ini")
    qtbot.addWidget(win)
    win.show()
    win.on_app_started()
    dialog = win.open_settings()
    assert isinstance(dialog, SettingsDialog) and dialog.risk_tab is not None
    dialog.show_risk()
    tab = dialog.risk_tab
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Risk limits"
    assert "ACTIVE" in tab.state_label.text() and "Today's PnL" in tab.state_label.text()
    assert "No risk limits saved yet" in tab.source_label.text()

    run(qloop, _wait_for_price(demo_app))
    price = demo_app.adapters[FUT].reference_price(UI_SYMBOL)
    qty = D("0.003")
    limit = (price * qty / 2).quantize(D("0.01"))
    type_into(qtbot, tab.edits["risk.max_order_notional"], str(limit))
    type_into(qtbot, tab.edits["risk.max_open_orders"], "20")
    type_into(qtbot, tab.edits["risk.loss.daily_loss_halt"], "1000")
    tab.day_start_spin.setValue(6)  # cannot move under the running day: from the next start
    tab.add_strategy_row("ema_cross", StrategyLimits(max_open_positions=1, max_notional=D(250)))
    click(qtbot, tab.save_button)
    text = tab.save_label.text()
    assert text.startswith(APPLIED), text
    assert "keeps starting at 0:00 UTC in this session; 6:00 UTC applies from the next start" in text

    saved = RiskSettingsStore().load()
    assert store_path_ok(tmp_path) and saved is not None
    assert saved.max_order_notional == limit and saved.loss.day_start_hour_utc == 6
    live = demo_app.oms.risk.limits
    assert live.max_order_notional == limit and live.max_open_orders == 20
    assert live.loss.daily_loss_halt == D(1000) and live.loss.day_start_hour_utc == 0
    assert live.strategies["ema_cross"].max_notional == D(250)
    assert win.base_config.risk_limits == saved  # a mode switch starts with the saved limits
    assert any(a.action == "risk_limits" for a in demo_app.journal.audit_log())

    with pytest.raises(RiskRejected) as exc:
        run(qloop, demo_app.oms.submit(OrderIntent(FUT, UI_SYMBOL, Side.BUY, OrderType.MARKET, qty)))
    assert exc.value.verdict.rule is RiskRule.ORDER_NOTIONAL

    body = tab.findChild(QScrollArea)
    assert body is not None
    shot(dialog, "/tmp/risk_tab.png")
    body.verticalScrollBar().setValue(body.verticalScrollBar().maximum())
    shot(dialog, "/tmp/risk_tab_bottom.png")
    if shiboken6.isValid(dialog):
        dialog.close()
    win.close()


def store_path_ok(tmp_path: Path) -> bool:
    return default_risk_path().is_relative_to(tmp_path) and default_risk_path().is_file()


async def _wait_for_price(app: App) -> None:
    import asyncio

    while app.adapters[FUT].reference_price(UI_SYMBOL) is None:
        await asyncio.sleep(0.05)


def test_apply_before_start_only_keeps_the_limits(tmp_path: Path) -> None:
    from .conftest import demo_config

    app = App(demo_config(tmp_path / "data"))
    limits = RiskLimits(max_order_notional=D(5))
    assert app.apply_risk_limits(limits) is limits and app.config.risk_limits is limits

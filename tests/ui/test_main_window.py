"""The main window against the real demo App: docks, layout persistence, toolbar, status bar,
kill switch — real widgets (offscreen), real simulator over loopback sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from terminal.app import App, AppConfig, Mode
from terminal.model import OrderType, Side, TradingState, Venue
from terminal.sim.faults import StreamFault
from terminal.trading.oms import OrderIntent
from terminal.ui.context import Selection, UiContext
from terminal.ui.main_window import TIMEFRAMES, MainWindow
from terminal.ui.panels import PANELS, DockArea, PanelSpec, PlaceholderPanel, create_panel
from tests.ui.conftest import UI_SYMBOL, run, wait_until

pytestmark = pytest.mark.timeout(120)


def _window(app: App, layout: Path) -> MainWindow:
    ctx = UiContext(app, Selection(Venue.BINANCE_SPOT, UI_SYMBOL))
    win = MainWindow(ctx, layout_path=layout)
    win.show()
    if app.oms is not None:
        win.on_app_started()
    return win


@pytest.fixture
def window(qloop: asyncio.AbstractEventLoop, demo_app: App, tmp_path: Path, qtbot) -> Iterator[MainWindow]:
    win = _window(demo_app, tmp_path / "layout.ini")
    qtbot.addWidget(win)
    yield win
    if shiboken6.isValid(win):  # pytest-qt may have closed and deleted it already
        win.close()


def test_every_panel_is_a_reopenable_dock(window: MainWindow, qloop) -> None:
    assert set(window.docks) == set(PANELS)
    for key, dock in window.docks.items():
        assert dock.widget() is window.panels[key]
        assert dock.widget().objectName() == key
        assert dock.toggleViewAction() in window.view_menu.actions()
    assert window.dockWidgetArea(window.docks["chart"]) == Qt.DockWidgetArea.TopDockWidgetArea
    # close a dock with its title-bar button's action, bring it back from the View menu
    depth = window.docks["depth"]
    depth.close()
    assert depth.isHidden()
    depth.toggleViewAction().trigger()
    assert not depth.isHidden()
    # the window keeps refreshing its panels from the engine
    frames = window.refresher.frames
    wait_until(qloop, lambda: window.refresher.frames >= frames + 3, 10, "refresh frames")


def test_missing_panel_module_becomes_a_placeholder(window: MainWindow, monkeypatch) -> None:
    spec = PanelSpec("strategies", "Strategies", "terminal.ui.no_such_module.Panel", DockArea.BOTTOM)
    monkeypatch.setitem(PANELS, "strategies", spec)
    panel = create_panel("strategies", window.ctx)
    assert isinstance(panel, PlaceholderPanel) and panel.objectName() == "strategies"
    assert "no_such_module" in panel.reason


def test_layout_persists_across_close_and_reopen_and_resets(
    qloop, demo_app: App, tmp_path: Path, qtbot
) -> None:
    layout = tmp_path / "layout.ini"
    first = _window(demo_app, layout)
    qtbot.addWidget(first)
    assert not first.restored_layout
    first.docks["depth"].close()
    first.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, first.docks["trades"])
    first.close()
    assert layout.exists() and layout.stat().st_size > 0

    second = _window(demo_app, layout)
    qtbot.addWidget(second)
    try:
        assert second.restored_layout
        assert second.docks["depth"].isHidden()
        assert not second.docks["depth"].toggleViewAction().isChecked()
        assert second.dockWidgetArea(second.docks["trades"]) == Qt.DockWidgetArea.RightDockWidgetArea

        second.reset_layout_action.trigger()
        assert not second.docks["depth"].isHidden()
        assert second.dockWidgetArea(second.docks["trades"]) == Qt.DockWidgetArea.LeftDockWidgetArea
        assert second.dockWidgetArea(second.docks["chart"]) == Qt.DockWidgetArea.TopDockWidgetArea
    finally:
        if shiboken6.isValid(second):
            second.close()


def test_timeframe_combo_sets_the_selection_interval(window: MainWindow) -> None:
    sel = window.ctx.selection
    seen: list[str] = []
    sel.interval_changed.connect(seen.append)
    assert [window.timeframe_combo.itemText(i) for i in range(window.timeframe_combo.count())] == list(
        TIMEFRAMES
    )
    window.timeframe_combo.setCurrentText("15m")
    assert sel.interval == "15m" and seen == ["15m"]
    sel.set_interval("4h")  # and the other way round: the combo follows the selection
    assert window.timeframe_combo.currentText() == "4h"


def test_venue_combo_and_symbol_search_change_the_selection(window: MainWindow, qtbot) -> None:
    sel = window.ctx.selection
    venues = [Venue(window.venue_combo.itemData(i)) for i in range(window.venue_combo.count())]
    assert venues == list(window.ctx.app.config.venues)  # only the app's venues
    window.venue_combo.setCurrentIndex(venues.index(Venue.BINANCE_USDM))
    assert (sel.venue, sel.symbol) == (Venue.BINANCE_USDM, UI_SYMBOL)

    window.shortcuts["Ctrl+K"].activated.emit()
    search = window.symbol_search
    search.clear()
    qtbot.keyClicks(search, "ethusdt")
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert (sel.venue, sel.symbol) == (Venue.BINANCE_USDM, "ETHUSDT")
    assert "ETHUSDT" in window.completer.model().stringList()

    # unknown symbol: a clear error, the selection stays
    assert not window.select_symbol("DOGEBTC")
    assert sel.symbol == "ETHUSDT"
    assert "DOGEBTC is not listed" in window.statusBar().currentMessage()
    assert search.property("invalid") is True


def test_feed_indicator_shows_a_dropped_stream_and_its_return(
    window: MainWindow, demo_app: App, qloop
) -> None:
    feeds = window.feed_indicators
    wait_until(qloop, lambda: all(feeds.state(v) == "live" for v in demo_app.adapters), 20, "all feeds live")
    demo_app.sim.exchange.faults.inject_stream(StreamFault.DROP, Venue.BINANCE_SPOT)
    seen: set[str] = set()

    def left_live() -> bool:
        seen.add(feeds.state(Venue.BINANCE_SPOT))
        return feeds.state(Venue.BINANCE_SPOT) != "live"

    wait_until(qloop, left_live, 10, "binance spot indicator to leave 'live'")
    assert seen - {"live"} <= {"reconnecting", "stale", "connecting", "resyncing", "recovered"}
    tooltip = feeds.indicators[Venue.BINANCE_SPOT].toolTip()
    assert "binance_spot" in tooltip and "reconnects" in tooltip
    wait_until(qloop, lambda: feeds.state(Venue.BINANCE_SPOT) == "live", 20, "binance spot live again")
    statuses = demo_app.engine.feed_statuses().values()
    assert any(s.reconnects > 0 for s in statuses if s.venue is Venue.BINANCE_SPOT)  # a real drop


def test_kill_switch_button_cancels_and_flattens(window: MainWindow, demo_app: App, qloop, qtbot) -> None:
    oms, sim = demo_app.oms, demo_app.sim.exchange
    account = sim.default_credentials.account_id
    spot, fut = Venue.BINANCE_SPOT, Venue.BINANCE_USDM
    wait_until(qloop, lambda: demo_app.engine.top_of_book(fut, UI_SYMBOL).ask is not None, 10, "usdm book")
    resting = run(
        qloop,
        oms.submit(OrderIntent(spot, UI_SYMBOL, Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal(30000))),
    )
    bought = run(qloop, oms.submit(OrderIntent(fut, UI_SYMBOL, Side.BUY, OrderType.MARKET, Decimal("0.01"))))
    wait_until(qloop, lambda: oms.position(fut, UI_SYMBOL) > 0, 10, "a long futures position")
    assert [o.client_id for o in sim.markets[spot].open_orders(account)] == [resting.client_id]
    assert bought.client_id

    qtbot.mouseClick(window.kill_button, Qt.MouseButton.LeftButton)
    box = window.kill_confirm
    assert isinstance(box, QMessageBox) and box.isVisible() and not box.isModal()
    assert window.last_kill_report is None  # nothing happens before the confirmation
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: window.last_kill_report is not None, 20, "the kill switch report")

    report = window.last_kill_report
    assert resting.client_id in report.canceled and not report.cancel_failures
    assert len(report.flatten_orders) == 1 and report.flatten_orders[0].side is Side.SELL
    assert oms.risk.state is TradingState.HALTED
    assert not sim.markets[spot].open_orders(account)
    wait_until(
        qloop,
        lambda: all(p.qty == 0 for p in sim.markets[fut].positions(account, UI_SYMBOL)),
        10,
        "the simulator's futures position flat",
    )
    assert "KILL SWITCH done" in window.statusBar().currentMessage()
    wait_until(
        qloop,
        lambda: any(t == "Fill" and m.startswith("SELL") for t, m in window.notifications),
        10,
        "a fill notification for the flattening sell",
    )
    window.update_status()
    assert window.trading_state.state is TradingState.HALTED


def test_cancel_all_hotkey_cancels_open_orders(window: MainWindow, demo_app: App, qloop) -> None:
    oms, sim = demo_app.oms, demo_app.sim.exchange
    account = sim.default_credentials.account_id
    for i in range(2):
        intent = OrderIntent(
            Venue.BINANCE_SPOT, UI_SYMBOL, Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal(30000 + i)
        )
        run(qloop, oms.submit(intent))
    assert len(sim.markets[Venue.BINANCE_SPOT].open_orders(account)) == 2
    window.shortcuts["Ctrl+Shift+X"].activated.emit()
    wait_until(qloop, lambda: not sim.markets[Venue.BINANCE_SPOT].open_orders(account), 10, "orders canceled")
    wait_until(qloop, lambda: "cancel all: 2 canceled" in window.statusBar().currentMessage(), 5, "message")
    assert oms.risk.state is TradingState.ACTIVE  # cancel-all is not the kill switch


def test_background_failure_is_shown_not_swallowed(window: MainWindow, qloop, caplog) -> None:
    async def broken() -> None:
        raise RuntimeError("venue said no")

    failures: list[str] = []
    window.task_failed.connect(failures.append)
    with caplog.at_level(logging.ERROR):
        window.spawn(broken(), "test action")
        wait_until(qloop, lambda: failures, 5, "the failure signal")
    assert failures == ["test action failed: venue said no"]
    assert "test action failed: venue said no" in window.statusBar().currentMessage()
    assert any("venue said no" in r.getMessage() for r in caplog.records)


def test_log_panel_shows_log_records(window: MainWindow, qloop) -> None:
    log_panel = window.panels["log"]
    logging.getLogger("terminal.test").warning("order <b>rejected</b>: min notional")
    wait_until(qloop, lambda: "min notional" in log_panel.text(), 5, "the log line")
    assert "order <b>rejected</b>: min notional" in log_panel.text()  # escaped, shown verbatim


def test_mode_combo_hands_the_runner_the_next_config(window: MainWindow) -> None:
    restarts: list[AppConfig] = []
    window.on_restart = restarts.append
    combo = window.mode_combo
    combo.setCurrentIndex(combo.findData("paper"))
    combo.activated.emit(combo.currentIndex())
    (paper,) = restarts
    base = window.ctx.app.config
    assert paper == base.for_mode(Mode.PAPER)
    assert paper.mode is Mode.PAPER and paper.venues == base.venues and not paper.live_opt_in
    assert paper.data_dir == base.data_dir / "paper"  # a journal per mode
    assert combo.currentData() == "demo"  # shows the running mode until the restart happens
    # live goes through the opt-in dialog first (tests/ui/test_live_flow.py): nothing restarts yet
    combo.setCurrentIndex(combo.findData("live"))
    combo.activated.emit(combo.currentIndex())
    assert restarts == [paper] and window.live_optin is not None
    window.live_optin.close()
    assert combo.currentData() == "demo"


def test_hotkeys_and_chart_actions_reach_the_ticket(window: MainWindow) -> None:
    ticket, chart = window.panels["ticket"], window.panels["chart"]
    if isinstance(ticket, PlaceholderPanel) or isinstance(chart, PlaceholderPanel):
        pytest.skip("ticket/chart panels not built")
    window.shortcuts["F2"].activated.emit()
    assert ticket.side is Side.SELL
    window.shortcuts["F1"].activated.emit()
    assert ticket.side is Side.BUY
    chart.order_here_requested.emit(Side.SELL, Decimal("70000.5"))
    assert ticket.side is Side.SELL
    assert ticket.price_edit.text().replace(",", "") in ("70000.5", "70000.50")


def test_logged_errors_reach_the_status_bar(window: MainWindow) -> None:
    logging.getLogger("terminal.trading.oms").error("reconcile of bybit_spot failed: timeout")
    window.update_status()
    assert window.statusBar().currentMessage() == "error: reconcile of bybit_spot failed: timeout (see Log)"


def test_searching_a_symbol_the_session_does_not_stream_starts_streaming_it(
    qloop, tmp_path: Path, qtbot
) -> None:
    """ETHUSDT is listed on the (external) simulator but the App started with BTCUSDT only."""
    from terminal.venues.base import ApiCredentials
    from tests.ui.conftest import demo_config
    from tests.venues.binance_support import start_test_sim

    sim = run(qloop, start_test_sim(generator=True, symbols=(UI_SYMBOL, "ETHUSDT")), 60)
    c = sim.exchange.default_credentials
    fut = Venue.BINANCE_USDM
    config = dataclasses.replace(
        demo_config(tmp_path / "data", venues=(fut,)),
        symbols=(UI_SYMBOL,),
        sim_url=sim.url,
        credentials={fut: ApiCredentials(c.api_key, c.api_secret)},
    )
    app = App(config)
    try:
        run(qloop, app.start(), 60)
        ctx = UiContext(app, Selection(fut, UI_SYMBOL))
        win = MainWindow(ctx, layout_path=tmp_path / "layout.ini")
        qtbot.addWidget(win)
        win.show()
        win.on_app_started()
        engine = app.engine
        assert engine.book_snapshot(fut, "ETHUSDT") is None and not engine.is_tracked(fut, "ETHUSDT", "1m")
        assert "ETHUSDT" in win.completer.model().stringList()  # listed on the venue: offered

        win.symbol_search.clear()
        qtbot.keyClicks(win.symbol_search, "ethusdt")
        qtbot.keyClick(win.symbol_search, Qt.Key.Key_Return)
        assert (ctx.selection.venue, ctx.selection.symbol) == (fut, "ETHUSDT")
        assert not win.symbol_search.property("invalid")

        def book_shown() -> bool:
            snap = engine.book_snapshot(fut, "ETHUSDT")
            return snap is not None and bool(snap.bids) and bool(snap.asks)

        wait_until(qloop, book_shown, 15, "the ETHUSDT book")
        wait_until(qloop, lambda: len(engine.candle_bars(fut, "ETHUSDT", "1m")) > 10, 15, "ETHUSDT candles")
        assert app.is_watched(fut, "ETHUSDT")
        chart = win.panels["chart"]
        if not isinstance(chart, PlaceholderPanel):
            wait_until(qloop, lambda: len(chart.store) > 10, 10, "candles on the chart")
        Path("/tmp/shots").mkdir(parents=True, exist_ok=True)
        win.grab().save("/tmp/shots/search_watch.png")
        win.close()
    finally:
        run(qloop, app.stop(), 30)
        run(qloop, sim.stop(), 30)

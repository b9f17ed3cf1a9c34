"""Trades tape against the real demo App: newest first, side colours, bounded, incremental."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from terminal.app import App
from terminal.model import Side, Venue
from terminal.ui.context import Selection, UiContext
from terminal.ui.fmt import format_price, format_qty
from terminal.ui.refresh import Refresher
from terminal.ui.tape import MAX_ROWS, TradesPanel
from terminal.ui.theme import BUY_COLOR, SELL_COLOR, apply_dark
from tests.ui.conftest import UI_SYMBOL, demo_config
from tests.ui.conftest import wait_until as loop_wait
from tests.ui.test_book import market_app, shot  # noqa: F401 - the market_app fixture

pytestmark = pytest.mark.timeout(90)

SPOT = Venue.BINANCE_SPOT


def _panel(app, qtbot, venue: Venue = SPOT, symbol: str = UI_SYMBOL) -> TradesPanel:
    apply_dark(QApplication.instance())
    panel = TradesPanel(UiContext(app, Selection(venue, symbol)))
    qtbot.addWidget(panel)
    panel.resize(320, 520)
    panel.show()
    return panel


def _filled(qloop, app, panel: TradesPanel, rows: int = 50) -> None:
    def ready() -> bool:
        panel.refresh(app.engine.versions())
        return panel.model.rowCount() >= rows

    loop_wait(qloop, ready, 15, f"{rows} trades on the tape")


def test_tape_shows_the_engines_trades_newest_first_with_side_colours(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _filled(qloop, market_app, panel)

    def both_sides() -> bool:  # a sweep can print only sells for a while: wait for a buy too
        panel.refresh(market_app.engine.versions())
        return {t.taker_side for t in panel.model.trades} == {Side.BUY, Side.SELL}

    loop_wait(qloop, both_sides, 30, "buy and sell trades on the tape")
    panel._redraw()  # same loop turn as the read below
    ring = market_app.engine.recent_trades(SPOT, UI_SYMBOL)
    model = panel.model
    assert model.rowCount() == min(len(ring), MAX_ROWS)
    assert model.trades == list(reversed(ring))[:MAX_ROWS]  # newest first, exactly the engine's trades
    assert [t.ts for t in model.trades] == sorted((t.ts for t in model.trades), reverse=True)
    inst = market_app.adapters[SPOT].instrument(UI_SYMBOL)
    colours = {Side.BUY: QColor(BUY_COLOR), Side.SELL: QColor(SELL_COLOR)}
    sides = set()
    for row, trade in enumerate(model.trades):
        price = model.index(row, 1)
        assert price.data() == format_price(trade.price, inst)
        assert model.index(row, 2).data() == format_qty(trade.qty, inst)
        assert price.data(Qt.ItemDataRole.ForegroundRole).color() == colours[trade.taker_side]
        sides.add(trade.taker_side)
    assert sides == {Side.BUY, Side.SELL}  # both colours were checked
    shot(panel, "tape.png")


def test_new_trades_are_inserted_at_the_top_without_a_reset(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _filled(qloop, market_app, panel)
    resets: list[int] = []
    inserted: list[tuple[int, int]] = []
    panel.model.modelReset.connect(lambda: resets.append(1))
    panel.model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    head = panel.model.trades[0]
    seen = market_app.engine.versions().trades

    def more() -> bool:
        panel.refresh(market_app.engine.versions())
        return panel.model.trades[0] is not head

    loop_wait(qloop, more, 10, "newer trades")
    assert market_app.engine.versions().trades != seen
    assert not resets and inserted and all(first == 0 for first, _ in inserted)
    assert head in panel.model.trades  # the older rows moved down, they were not rebuilt
    assert panel.model.rowCount() <= MAX_ROWS


def test_tape_follows_the_selection(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _filled(qloop, market_app, panel)
    panel.ctx.selection.set_market(Venue.BINANCE_USDM, "ETHUSDT")
    assert {(t.venue, t.symbol) for t in panel.model.trades} == {(Venue.BINANCE_USDM, "ETHUSDT")}
    assert "ETHUSDT" in panel.title.text()
    panel.ctx.selection.set_market(SPOT, "XRPUSDT")
    assert panel.model.rowCount() == 0 and "No trades yet for XRPUSDT" in panel.state
    assert panel.message.isVisible()


def test_tape_redraws_at_most_once_per_refresher_tick(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    refresher = Refresher(market_app.engine.versions, hz=30)
    refresher.add(panel)
    before, events = panel.redraws, market_app.bus.published
    refresher.start()
    loop_wait(qloop, lambda: refresher.frames >= 20, 10, "20 refresher frames")
    refresher.stop()
    assert 0 < panel.redraws - before <= refresher.frames < market_app.bus.published - events
    versions = market_app.engine.versions()
    panel.refresh(versions)
    n = panel.redraws
    panel.refresh(versions)
    assert panel.redraws == n


def test_an_app_with_no_data_shows_an_empty_state(qapp, tmp_path) -> None:
    app = App(demo_config(tmp_path / "data"))  # not started: no adapters, no trades, no OMS
    panel = TradesPanel(UiContext(app, Selection(SPOT, UI_SYMBOL)))
    panel.refresh(app.engine.versions())
    assert panel.model.rowCount() == 0 and "No trades yet for BTCUSDT" in panel.state
    panel.deleteLater()


def test_tape_paints_cached_cells_at_most_ten_times_a_second(qloop, market_app, qtbot, monkeypatch) -> None:  # noqa: F811
    from terminal.ui.tape import MIN_INTERVAL_S, TradesModel
    from tests.ui.test_book import _colour_pixels

    panel = _panel(market_app, qtbot)
    _filled(qloop, market_app, panel, rows=30)
    calls: list[int] = []
    original = TradesModel.data

    def counting(self, index, role=Qt.ItemDataRole.DisplayRole):
        calls.append(role)
        return original(self, index, role)

    monkeypatch.setattr(TradesModel, "data", counting)
    delegate = panel.view.itemDelegate()
    before = delegate.painted
    image = panel.view.viewport().grab().toImage()
    assert delegate.painted - before >= 20 and Qt.ItemDataRole.DisplayRole not in calls
    assert _colour_pixels(image, BUY_COLOR) + _colour_pixels(image, SELL_COLOR) > 20

    # a refresher flooding the panel (a new trade every call): draws are spaced by the throttle
    refresher = Refresher(market_app.engine.versions, hz=60)
    refresher.add(panel)
    draws = panel.throttle.draws
    refresher.start()
    loop_wait(qloop, lambda: refresher.frames >= 40, 10, "40 refresher frames")
    refresher.stop()
    drawn = panel.throttle.draws - draws
    elapsed = refresher.frames / 60
    assert 1 <= drawn <= elapsed / MIN_INTERVAL_S + 2 and drawn < refresher.frames

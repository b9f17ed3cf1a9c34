"""Watchlist against the real demo App: values from the engine's tickers, sort, filter, select."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from terminal.app import App
from terminal.model import Venue
from terminal.ui.context import Selection, UiContext
from terminal.ui.fmt import format_compact, format_pct, format_price, venue_short
from terminal.ui.refresh import Refresher
from terminal.ui.theme import apply_dark
from terminal.ui.watchlist import COL_CHANGE, COL_SYMBOL, KEY_ROLE, SORT_ROLE, WatchlistPanel
from tests.ui.conftest import UI_SYMBOL, UI_VENUES, demo_config
from tests.ui.conftest import wait_until as loop_wait
from tests.ui.test_book import market_app, shot  # noqa: F401 - the market_app fixture

pytestmark = pytest.mark.timeout(90)

SPOT = Venue.BINANCE_SPOT
MARKETS = {(v, s) for v in UI_VENUES for s in (UI_SYMBOL, "ETHUSDT")}


def _panel(app, qtbot) -> WatchlistPanel:
    apply_dark(QApplication.instance())
    panel = WatchlistPanel(UiContext(app, Selection(SPOT, UI_SYMBOL)))
    qtbot.addWidget(panel)
    panel.resize(520, 260)
    panel.show()
    return panel


def _listed(qloop, app, panel: WatchlistPanel) -> None:
    def ready() -> bool:
        panel.refresh(app.engine.versions())
        keys = {(r.venue, r.symbol) for r in panel.model.rows}
        return keys == MARKETS and all(r.change_pct is not None for r in panel.model.rows)

    loop_wait(qloop, ready, 15, "every market with a 24h ticker")


def _shown(panel: WatchlistPanel) -> list[tuple[Venue, str]]:
    proxy = panel.proxy
    return [proxy.index(r, 0).data(KEY_ROLE) for r in range(proxy.rowCount())]


def test_rows_show_the_engines_tickers(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _listed(qloop, market_app, panel)
    panel._redraw()  # same loop turn as the reads below
    engine = market_app.engine
    for row, r in enumerate(panel.model.rows):
        ticker = engine.ticker(r.venue, r.symbol)
        inst = market_app.adapters[r.venue].instrument(r.symbol)
        assert ticker is not None
        cells = [panel.model.index(row, c).data() for c in range(5)]
        assert cells[0] == r.symbol
        assert cells[2] == format_price(ticker.last, inst)
        assert cells[3] == format_pct(ticker.change_pct_24h)
        assert cells[1] == venue_short(r.venue)
        assert cells[4] == format_compact(ticker.quote_volume_24h)
        assert inst.quote in panel.model.index(row, 4).data(Qt.ItemDataRole.ToolTipRole)
    # the selected market is bold
    bold = [panel.model.index(i, 0).data(Qt.ItemDataRole.FontRole) for i in range(panel.model.rowCount())]
    chosen = [r for r, f in zip(panel.model.rows, bold, strict=True) if f is not None and f.bold()]
    assert [(r.venue, r.symbol) for r in chosen] == [(SPOT, UI_SYMBOL)]
    shot(panel, "watchlist.png")


def test_sorts_by_change_and_stays_sorted_as_prices_move(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _listed(qloop, market_app, panel)
    header = panel.view.horizontalHeader()
    x = header.sectionPosition(COL_CHANGE) + header.sectionSize(COL_CHANGE) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert header.sortIndicatorSection() == COL_CHANGE
    for order in (Qt.SortOrder.DescendingOrder, Qt.SortOrder.AscendingOrder):
        panel.view.sortByColumn(COL_CHANGE, order)
        changes = [panel.proxy.index(r, COL_CHANGE).data(SORT_ROLE) for r in range(panel.proxy.rowCount())]
        assert changes == sorted(changes, reverse=order is Qt.SortOrder.DescendingOrder)
        assert len(set(changes)) > 1  # BTC and ETH differ: the order is really decided by the numbers
    seen = market_app.engine.versions().tickers

    def moved() -> bool:
        panel.refresh(market_app.engine.versions())
        return market_app.engine.versions().tickers != seen

    loop_wait(qloop, moved, 10, "ticker updates")
    changes = [panel.proxy.index(r, COL_CHANGE).data(SORT_ROLE) for r in range(panel.proxy.rowCount())]
    assert changes == sorted(changes)
    panel.view.sortByColumn(COL_SYMBOL, Qt.SortOrder.AscendingOrder)
    assert [s for _, s in _shown(panel)] == sorted(s for _, s in _shown(panel))


def test_filter_box_matches_symbol_and_venue_words(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _listed(qloop, market_app, panel)
    qtbot.keyClicks(panel.filter_box, "eth")
    assert set(_shown(panel)) == {(v, "ETHUSDT") for v in UI_VENUES}
    panel.filter_box.clear()
    qtbot.keyClicks(panel.filter_box, "BTC usdm")
    assert _shown(panel) == [(Venue.BINANCE_USDM, UI_SYMBOL)]
    panel.filter_box.clear()
    qtbot.keyClicks(panel.filter_box, "doge")
    assert _shown(panel) == []
    panel.filter_box.clear()
    assert set(_shown(panel)) == MARKETS


def test_double_click_and_enter_select_the_market(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _listed(qloop, market_app, panel)
    selection = panel.ctx.selection
    changes: list[tuple[Venue, str]] = []
    selection.changed.connect(lambda v, s: changes.append((v, s)))
    row = _shown(panel).index((Venue.BINANCE_USDM, "ETHUSDT"))
    rect = panel.view.visualRect(panel.proxy.index(row, 0))
    # a real double-click: press/release, then the double-click event
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert changes == []  # a single click only highlights the row
    qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert (selection.venue, selection.symbol) == (Venue.BINANCE_USDM, "ETHUSDT")
    assert changes == [(Venue.BINANCE_USDM, "ETHUSDT")]
    assert panel.model.current == (Venue.BINANCE_USDM, "ETHUSDT")
    # keyboard: move to another row and press Enter
    row = _shown(panel).index((SPOT, "ETHUSDT"))
    panel.view.setFocus()
    panel.view.setCurrentIndex(panel.proxy.index(row, 0))
    qtbot.keyClick(panel.view, Qt.Key.Key_Return)
    assert (selection.venue, selection.symbol) == (SPOT, "ETHUSDT")


def test_watchlist_redraws_at_most_once_per_refresher_tick(qloop, market_app, qtbot) -> None:  # noqa: F811
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
    print(f"\nwatchlist redraw {panel.last_redraw_ms:.2f} ms")


def test_an_app_with_no_data_shows_an_empty_state(qapp, tmp_path) -> None:
    app = App(demo_config(tmp_path / "data"))  # not started: no adapters, no markets, no OMS
    panel = WatchlistPanel(UiContext(app, Selection(SPOT, UI_SYMBOL)))
    panel.refresh(app.engine.versions())
    assert panel.model.rowCount() == 0 and panel._stack.currentWidget() is panel.message
    panel.deleteLater()


def test_columns_fit_their_text_without_measuring_every_update(qloop, market_app, qtbot) -> None:  # noqa: F811
    from PySide6.QtGui import QFont, QFontMetrics
    from PySide6.QtWidgets import QHeaderView

    from terminal.ui.textcells import PAD

    panel = _panel(market_app, qtbot)
    _listed(qloop, market_app, panel)
    header = panel.view.horizontalHeader()
    # ResizeToContents measures every cell of a column on each dataChanged: the old repaint cost
    modes = {header.sectionResizeMode(c) for c in range(header.count())}
    assert QHeaderView.ResizeMode.ResizeToContents not in modes
    bold = QFont(panel.view.font())
    bold.setBold(True)  # the selected market's row is bold: it must not be elided either
    fms = {False: panel.view.fontMetrics(), True: QFontMetrics(bold)}
    current = panel.model.current
    for c in range(header.count() - 1):  # the last one stretches
        for r in panel.model.rows:
            width = fms[(r.venue, r.symbol) == current].horizontalAdvance(r.texts[c])
            assert header.sectionSize(c) - 2 * PAD >= width, f"column {c} cuts {r.texts[c]!r}"
    fits = panel.fits
    for _ in range(5):
        panel._redraw()
    assert panel.fits == fits  # same text lengths: no re-measure
    delegate = panel.view.itemDelegate()
    before = delegate.painted
    panel.view.viewport().grab()
    assert delegate.painted - before >= len(panel.model.rows)  # painted by the fast delegate

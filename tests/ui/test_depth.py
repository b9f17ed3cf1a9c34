"""Depth chart against the real demo App: curves are the engine's cumulative book, mid line between."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from terminal.app import App
from terminal.model import OrderBookSnapshot, Venue
from terminal.ui.chart.items import GridLines
from terminal.ui.context import Selection, UiContext
from terminal.ui.depth import HEADROOM, RECENTER, DepthChartPanel, Sticky, step_curve
from terminal.ui.refresh import Refresher
from terminal.ui.theme import apply_dark
from tests.ui.conftest import UI_SYMBOL, demo_config
from tests.ui.conftest import wait_until as loop_wait
from tests.ui.test_book import market_app, shot  # noqa: F401 - the market_app fixture

pytestmark = pytest.mark.timeout(90)

SPOT = Venue.BINANCE_SPOT


def _panel(app, qtbot, venue: Venue = SPOT, symbol: str = UI_SYMBOL) -> DepthChartPanel:
    apply_dark(QApplication.instance())
    panel = DepthChartPanel(UiContext(app, Selection(venue, symbol)))
    qtbot.addWidget(panel)
    panel.resize(520, 320)
    panel.show()
    return panel


def _drawn(qloop, app, panel: DepthChartPanel) -> None:
    def ready() -> bool:
        panel.refresh(app.engine.versions())
        x, _ = panel.bid_curve.getData()
        return panel.state == "" and x is not None and len(x) > 40

    loop_wait(qloop, ready, 15, "depth curves")


def test_step_curve_is_the_cumulative_staircase() -> None:
    snap = OrderBookSnapshot.create(SPOT, "T", bids=[("100", "1"), ("99", "2"), ("97", "0.5")], asks=[])
    x, y = step_curve(snap.bids)
    assert x.tolist() == [100, 100, 99, 99, 97, 97]
    assert y.tolist() == [0, 1, 1, 3, 3, 3.5]
    ex, ey = step_curve(snap.asks)
    assert len(ex) == len(ey) == 0


def test_curves_equal_the_engine_book_and_the_mid_line_sits_between(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _drawn(qloop, market_app, panel)
    panel._redraw()  # same loop turn as the snapshot below: same book
    snap = market_app.engine.book_snapshot(SPOT, UI_SYMBOL, panel.levels)
    assert snap is not None and snap.mid is not None
    bx, by = panel.bid_curve.getData()
    ax, ay = panel.ask_curve.getData()
    assert bx[0] == float(snap.bids[0].price) and ax[0] == float(snap.asks[0].price)
    assert by[0] == 0 and ay[0] == 0
    assert by[-1] == pytest.approx(float(sum(lv.qty for lv in snap.bids)))
    assert ay[-1] == pytest.approx(float(sum(lv.qty for lv in snap.asks)))
    assert np.all(np.diff(bx) <= 0) and np.all(np.diff(ax) >= 0)  # away from the touch
    assert np.all(np.diff(by) >= 0) and np.all(np.diff(ay) >= 0)  # cumulative never shrinks
    assert panel.mid == pytest.approx(float(snap.mid))
    assert bx[0] < panel.mid_line.value() < ax[0]
    (x0, x1), _ = panel.plot.getPlotItem().viewRange()
    assert x0 < bx[0] and x1 > ax[0]  # the touch is in view on both sides
    # about symmetric around the mid (the view is sticky: re-centred when the mid drifts off)
    assert abs((x0 + x1) / 2 - panel.mid) <= RECENTER * (x1 - x0) / 2 + 1e-9 * panel.mid
    assert "BTCUSDT" in panel.title.text() and "mid" in panel.title.text()
    shot(panel, "depth.png")


def test_selection_change_and_unwatched_market(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _drawn(qloop, market_app, panel)
    panel.ctx.selection.set_market(Venue.BINANCE_USDM, "ETHUSDT")
    snap = market_app.engine.book_snapshot(Venue.BINANCE_USDM, "ETHUSDT", 1)
    assert snap is not None
    assert panel.bid_curve.getData()[0][0] == float(snap.bids[0].price)
    assert "ETHUSDT" in panel.title.text()
    panel.ctx.selection.set_market(SPOT, "XRPUSDT")
    assert "No order book for XRPUSDT" in panel.state and panel.message.isVisible()
    x, _ = panel.bid_curve.getData()
    assert x is None or len(x) == 0


def test_depth_redraws_at_most_once_per_tick_and_at_most_ten_a_second(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    refresher = Refresher(market_app.engine.versions, hz=30)
    refresher.add(panel)
    before = panel.redraws
    refresher.start()
    loop_wait(qloop, lambda: refresher.frames >= 30, 10, "30 refresher frames")
    refresher.stop()
    redraws = panel.redraws - before
    # ~1 s of 30 Hz frames with the book changing all the time: the chart drew ~10 of them
    assert 3 <= redraws <= refresher.frames
    assert redraws <= refresher.frames / 2
    print(
        f"\ndepth chart: {redraws} redraws in {refresher.frames} frames, last {panel.last_redraw_ms:.2f} ms"
    )


def test_an_app_with_no_data_shows_an_empty_state(qapp, tmp_path) -> None:
    app = App(demo_config(tmp_path / "data"))  # not started: no adapters, no books, no OMS
    panel = DepthChartPanel(UiContext(app, Selection(SPOT, UI_SYMBOL)))
    panel.refresh(app.engine.versions())
    assert "No order book for BTCUSDT" in panel.state and panel.mid is None
    panel.deleteLater()


def test_sticky_range_moves_only_when_the_data_leaves_it_or_shrinks_well_inside() -> None:
    y = Sticky()
    assert y.fit_y(100.0) and y.hi == pytest.approx(100 * HEADROOM)
    assert not y.fit_y(90.0) and not y.fit_y(100 * HEADROOM)  # fits: the axes keep their text
    assert y.fit_y(100 * HEADROOM + 1)  # outgrew the view
    assert y.fit_y(1.0)  # far inside: re-fit so the curve does not sit flat on the floor
    x = Sticky()
    assert x.fit_x(100.0, 10.0) and (x.lo, x.hi) == pytest.approx((100 - 10 * HEADROOM, 100 + 10 * HEADROOM))
    assert not x.fit_x(100.5, 10.0)  # the mid wandered a little: same view
    assert x.fit_x(103.0, 10.0)  # the touch would leave the view: re-centred on the mid
    assert (x.lo + x.hi) / 2 == pytest.approx(103.0)
    assert x.fit_x(103.0, 2.0)  # much shallower book: zoom in
    assert x.moves == 3 and y.moves == 3


def test_depth_redraws_keep_the_view_and_draw_cheaply(qloop, market_app, qtbot) -> None:  # noqa: F811
    panel = _panel(market_app, qtbot)
    _drawn(qloop, market_app, panel)
    item = panel.plot.getPlotItem()
    # no axis grid (pyqtgraph replays it from the axes' pictures on every repaint): GridLines
    assert not item.getAxis("left").grid and not item.getAxis("bottom").grid
    assert any(isinstance(i, GridLines) for i in item.items)
    # 1 px cosmetic pens
    for curve in (panel.bid_curve, panel.ask_curve):
        pen = curve.opts["pen"]
        assert pen.isCosmetic() and pen.widthF() <= 1
    panel._redraw()
    panel.plot.grab()  # paint: the axes build their cached tick pictures
    axes = [item.getAxis(name) for name in ("left", "bottom")]
    assert all(axis.picture is not None for axis in axes)
    moves = (panel.x_view.moves, panel.y_view.moves)
    view = item.viewRange()
    panel._redraw()  # the same book (no loop turn in between): the range and the axis text stay
    assert (panel.x_view.moves, panel.y_view.moves) == moves
    assert item.viewRange() == view
    assert all(axis.picture is not None for axis in axes)  # not invalidated: no tick text rebuilt
    x0, x1 = view[0]
    bx, _ = panel.bid_curve.getData()
    ax, _ = panel.ask_curve.getData()
    assert x0 < bx[0] and ax[0] < x1  # the touch is still in view on both sides

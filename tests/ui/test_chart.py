"""The chart panel against the real demo App (simulator over loopback), plus the LOD item on
synthetic bars: candles, interval switch, overlays, crosshair, order lines, menu, live bar,
older history."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from terminal.engine.candles import CandleKey
from terminal.indicators import ema, macd, rsi
from terminal.model import OrderType, Side, Venue
from terminal.trading.oms import OrderIntent
from terminal.ui.chart import ChartPanel
from terminal.ui.chart.canvas import ChartCanvas
from terminal.ui.chart.orders import PENDING_S
from terminal.ui.chart.overlays import Overlay
from terminal.ui.context import Selection, UiContext
from terminal.ui.fmt import format_price, instrument_for
from tests.ui.conftest import UI_SYMBOL, run, wait_until

pytestmark = pytest.mark.timeout(120)

VENUE = Venue.BINANCE_SPOT


def make_panel(qtbot, app) -> ChartPanel:
    panel = ChartPanel(UiContext(app, Selection(VENUE, UI_SYMBOL)))
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    return panel


def synced(panel: ChartPanel, predicate) -> bool:
    panel.refresh(panel.ctx.engine.versions())
    return bool(predicate())


def wait_candles(qloop, panel: ChartPanel, n: int = 100) -> None:
    wait_until(qloop, lambda: synced(panel, lambda: len(panel.store) >= n), 15, f"{n} candles on the chart")


def viewport_pos(canvas: ChartCanvas, x: float, y: float) -> QPoint:
    scene = canvas.price_vb.mapViewToScene(QPointF(x, y))
    return canvas.price_w.mapFromScene(scene)


def mouse(
    widget: QWidget, kind: QEvent.Type, pos: QPoint, button: Qt.MouseButton, buttons: Qt.MouseButton
) -> None:
    if kind is QEvent.Type.MouseMove:
        time.sleep(0.012)  # pyqtgraph's scene drops moves closer than 10 ms apart (mouseRateLimit)
    p = QPointF(pos)
    ev = QMouseEvent(kind, p, QPointF(widget.mapToGlobal(p)), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


# ---------------------------------------------------------------------- data
def test_candles_appear_and_match_the_engine(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    bars = demo_app.engine.candle_bars(VENUE, UI_SYMBOL, "1m")
    s = panel.store
    assert len(s) == len(bars)
    assert np.array_equal(s.t, [b.open_time for b in bars])
    assert np.all(np.diff(s.t) == 60_000)
    assert s.c[-1] == bars[-1].close and s.h[0] == bars[0].high
    panel.grab()
    assert panel.canvas.price_hist.picture_builds >= 1 and panel.canvas.price_hist.last_columns > 0


def test_switching_interval_loads_that_series_and_keeps_it_live(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    engine = demo_app.engine
    panel.interval_box.activated.emit(panel.interval_box.findText("5m"))  # what a user pick emits
    assert panel.ctx.selection.interval == "5m"
    wait_until(
        qloop,
        lambda: synced(panel, lambda: len(panel.store) > 10 and np.all(np.diff(panel.store.t) == 300_000)),
        20,
        "5m bars on the chart",
    )
    assert CandleKey(VENUE, UI_SYMBOL, "5m") in engine.candles  # tracked on demand

    # the forming 5m bar follows the live 1m stream: same close as the newest 1m bar
    def live_close_matches() -> bool:
        one = engine.candle_bars(VENUE, UI_SYMBOL, "1m")
        return bool(one) and panel.store.c[-1] == one[-1].close and panel.store.t[-1] <= one[-1].open_time

    wait_until(qloop, lambda: synced(panel, live_close_matches), 10, "5m live bar = newest 1m close")
    panel.ctx.selection.set_interval("1m")
    wait_until(
        qloop, lambda: synced(panel, lambda: np.all(np.diff(panel.store.t) == 60_000)), 10, "back to 1m"
    )


def test_overlay_and_subpane_toggles_draw_curves_of_the_right_length(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    canvas = panel.canvas
    assert canvas.rsi_w.isHidden() and canvas.macd_w.isHidden()
    for ov in (Overlay.EMA, Overlay.BOLL, Overlay.RSI, Overlay.MACD):
        qtbot.mouseClick(panel.toggles[ov], Qt.MouseButton.LeftButton)
    assert not canvas.rsi_w.isHidden() and not canvas.macd_w.isHidden()
    n = len(panel.store)
    close = panel.store.c
    curves = {k: c.getData() for k, c in canvas.curves.items()}
    assert set(curves) == {
        (Overlay.EMA, "ema"),
        *((Overlay.BOLL, k) for k in ("mid", "upper", "lower")),
        (Overlay.RSI, "rsi"),
        *((Overlay.MACD, k) for k in ("line", "signal", "hist")),
    }
    ys = {k: canvas.series[k[0]][k[1]] for k in curves}
    for key, arr in ys.items():
        assert len(arr) == n, key
    np.testing.assert_allclose(ys[(Overlay.EMA, "ema")], ema(close, 21), equal_nan=True)
    np.testing.assert_allclose(ys[(Overlay.RSI, "rsi")], rsi(close, 14), equal_nan=True)
    np.testing.assert_allclose(ys[(Overlay.MACD, "signal")], macd(close).signal, equal_nan=True)
    assert canvas.rsi_plot.getViewBox().viewRange()[1][0] <= 0
    panel.grab().save("/tmp/shots/chart_test.png")
    qtbot.mouseClick(panel.toggles[Overlay.RSI], Qt.MouseButton.LeftButton)
    assert canvas.rsi_w.isHidden() and not any(k[0] is Overlay.RSI for k in canvas.curves)


def test_crosshair_readout_shows_the_bar_under_the_cursor(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    s = panel.store
    row = len(s) - 30
    pos = viewport_pos(panel.canvas, row + s.x0, float(s.c[row]))
    mouse(
        panel.canvas.price_w.viewport(),
        QEvent.Type.MouseMove,
        pos,
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
    )
    inst = panel.instrument()
    text = panel.readout.text()
    for label, value in (("O", s.o[row]), ("H", s.h[row]), ("L", s.l[row]), ("C", s.c[row])):
        assert f"{label} {format_price(float(value), inst)}" in text, (label, text)
    assert panel.canvas.vline.value() == row + s.x0
    # the cursor leaves the chart: the readout falls back to the newest bar
    QApplication.sendEvent(panel.canvas.price_w.viewport(), QEvent(QEvent.Type.Leave))
    assert not panel.canvas.vline.isVisible()
    assert f"C {format_price(float(s.c[-1]), inst)}" in panel.readout.text()


# ---------------------------------------------------------------------- level of detail
def test_lod_draws_a_pixel_bounded_number_of_columns(qtbot) -> None:
    canvas = ChartCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(1000, 600)
    canvas.show()
    n = 100_000
    rng = np.random.default_rng(3)
    c = 100.0 + np.cumsum(rng.normal(0, 0.1, n))
    o = np.concatenate(([c[0]], c[:-1]))
    t = np.arange(n, dtype=np.int64) * 60_000
    canvas.store.set_arrays(t, o, np.maximum(o, c) + 0.05, np.minimum(o, c) - 0.05, c, rng.random(n))
    canvas.data_reset()
    canvas.show_range(-0.5, n - 0.5)
    canvas.grab()
    hist = canvas.price_hist
    width_px = canvas.price_vb.width()
    assert hist.current_bucket() >= n / width_px
    assert 0 < hist.last_columns <= width_px + 2  # one column per pixel at most, not 100k bars
    # the aggregated column over a bucket holds its extremes
    builds = hist.picture_builds
    a, b = canvas.price_vb.viewRange()[0]
    canvas.show_range(a + 0.05 * n, b + 0.05 * n)  # pan inside the cached range
    canvas.grab()
    assert hist.picture_builds == builds
    canvas.show_range(n - 200.5, n - 0.5)  # zoom in: real candles, three view widths cached
    canvas.grab()
    assert hist.current_bucket() == 1 and 0 < hist.last_columns <= 3 * 200 + 3


def test_aggregation_keeps_each_buckets_extremes(qtbot) -> None:
    from terminal.ui.chart.items import aggregate

    canvas = ChartCanvas()
    qtbot.addWidget(canvas)
    s = canvas.store
    n = 10_000
    rng = np.random.default_rng(5)
    c = rng.random(n)
    s.set_arrays(np.arange(n) * 60_000, c, c + 1, c - 1, c, rng.random(n))
    x, o, h, lo, cl, _v = aggregate(s, 0, n - 1, 64)
    assert h.max() == s.h[: n - 1].max() and lo.min() == s.l[: n - 1].min()
    assert o[1] == s.o[64] and cl[0] == s.c[63] and x[0] == 31.5
    assert len(x) == -(-(n - 1) // 64)


# ---------------------------------------------------------------------- orders and menu
def _place_resting_buy(qloop, app) -> tuple[str, Decimal]:
    last = app.engine.candle_bars(VENUE, UI_SYMBOL, "1m")[-1].close
    inst = instrument_for(app.adapters, VENUE, UI_SYMBOL)
    price = inst.round_price(Decimal(repr(last * 0.99)))
    order = run(
        qloop,
        app.oms.submit(
            OrderIntent(VENUE, UI_SYMBOL, Side.BUY, OrderType.LIMIT, Decimal("0.01"), price=price)
        ),
    )
    return order.client_id, price


def test_dragging_an_order_line_requests_an_amend_at_a_tick_price(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    cid, price = _place_resting_buy(qloop, demo_app)
    wait_until(
        qloop, lambda: synced(panel, lambda: any(k.client_id == cid for k in panel.orders.lines)), 10, "line"
    )
    line = next(ln for k, ln in panel.orders.lines.items() if k.client_id == cid and k.field == "price")
    assert line.value() == float(price)
    canvas = panel.canvas
    # show the line's price in the view so it can be grabbed
    (x0, x1), (y0, y1) = canvas.price_vb.viewRange()
    canvas.price_vb.setYRange(float(price) * 0.995, float(price) * 1.01, padding=0)
    (x0, x1), (y0, y1) = canvas.price_vb.viewRange()
    x = (x0 + x1) / 2
    target = float(price) + (y1 - y0) * 0.2
    got: list[tuple[str, Decimal]] = []
    panel.amend_requested.connect(lambda c, p: got.append((c, p)))
    vp = canvas.price_w.viewport()
    start, end = viewport_pos(canvas, x, float(price)), viewport_pos(canvas, x, target)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mouse(vp, QEvent.Type.MouseMove, start, none, none)
    mouse(vp, QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, 11):
        step = QPoint(start.x(), start.y() + (end.y() - start.y()) * i // 10)
        mouse(vp, QEvent.Type.MouseMove, step, none, left)
    mouse(vp, QEvent.Type.MouseButtonRelease, end, left, none)
    assert len(got) == 1, got
    inst = panel.instrument()
    new_cid, new_price = got[0]
    assert new_cid == cid and isinstance(new_price, Decimal)
    assert new_price == inst.round_price(new_price)  # on the tick grid
    px = (y1 - y0) / canvas.price_vb.height()
    assert abs(float(new_price) - target) <= 3 * px + float(inst.tick_size)
    assert line.value() == float(new_price)
    # nobody amended the order (no window here): the line returns to the order's real price
    wait_until(qloop, lambda: line.value() == float(price), PENDING_S + 3, "line snaps back")


def test_context_menu_offers_buy_and_sell_limit_at_the_clicked_price(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    canvas = panel.canvas
    (x0, x1), (y0, y1) = canvas.price_vb.viewRange()
    y = y0 + (y1 - y0) * 0.37
    pos = viewport_pos(canvas, (x0 + x1) / 2, y)
    qtbot.mouseClick(canvas.price_w.viewport(), Qt.MouseButton.RightButton, pos=pos)
    menu = panel.last_menu
    assert menu is not None and menu.isVisible()
    texts = [a.text() for a in menu.actions()]
    buy = next(a for a in menu.actions() if a.text().startswith("Buy limit here"))
    assert any(t.startswith("Sell limit here") for t in texts)
    got: list[tuple[Side, Decimal]] = []
    panel.order_here_requested.connect(lambda side, p: got.append((side, p)))
    buy.trigger()
    menu.close()
    inst = panel.instrument()
    assert len(got) == 1 and got[0][0] is Side.BUY
    price = got[0][1]
    assert price == inst.round_price(price)
    px = (y1 - y0) / canvas.price_vb.height()
    assert abs(float(price) - y) <= 2 * px + float(inst.tick_size)


# ---------------------------------------------------------------------- live bar, history
def test_live_tick_repaints_only_the_live_bar(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    hist, live, s = panel.canvas.price_hist, panel.canvas.price_live, panel.store
    for _ in range(3):  # a minute boundary in between starts a new bar: try again
        panel.grab()
        builds, hv, lv, paints = hist.picture_builds, s.history_version, s.live_version, live.paints
        wait_until(qloop, lambda lv=lv: synced(panel, lambda: s.live_version >= lv + 2), 20, "live ticks")
        panel.grab()
        if s.history_version == hv:
            break
    assert s.history_version == hv, "no live-only change seen"
    assert hist.picture_builds == builds  # history picture reused
    assert live.paints > paints


def test_scrolling_left_loads_older_history(qloop, demo_app, qtbot) -> None:
    panel = make_panel(qtbot, demo_app)
    wait_candles(qloop, panel)
    s = panel.store
    n0, first = len(s), int(s.t[0])
    canvas = panel.canvas
    canvas.show_range(s.x0 - 50, s.x0 + 150)  # past the first bar
    assert panel.status.text() == "loading history…"
    wait_until(qloop, lambda: panel.older_loads >= 1, 20, "older page")
    assert len(s) > n0 and int(s.t[0]) < first and s.x0 < 0
    assert np.all(np.diff(s.t) == 60_000)  # joined without a hole or a duplicate
    assert panel.status.text() == ""
    # the live series keeps merging after the prepend
    wait_until(
        qloop,
        lambda: synced(
            panel, lambda: s.c[-1] == demo_app.engine.candle_bars(VENUE, UI_SYMBOL, "1m")[-1].close
        ),
        10,
    )


def test_untracked_market_shows_an_empty_state(qloop, demo_app, qtbot) -> None:
    panel = ChartPanel(UiContext(demo_app, Selection(Venue.BYBIT_SPOT, "BTCUSDT")))  # venue not running
    qtbot.addWidget(panel)
    run(qloop, asyncio.sleep(0.3))
    panel.refresh(demo_app.engine.versions())
    assert len(panel.store) == 0 and panel.status.text() in {"no candles yet", "loading 1m candles…", ""}
    panel.grab()
    panel.canvas.show_crosshair(0, 0)  # nothing under the cursor: no crash


def test_fetch_older_returns_closed_bars_before_the_given_time(qloop, demo_app) -> None:
    from terminal.engine.history import HistoryUnavailable, fetch_older

    first = demo_app.engine.candle_bars(VENUE, UI_SYMBOL, "1m")[0].open_time
    bars = run(qloop, fetch_older(demo_app.engine, VENUE, UI_SYMBOL, "1m", first, limit=100))
    assert 0 < len(bars) <= 100
    assert all(b.closed and b.open_time < first for b in bars)
    assert [b.open_time for b in bars] == sorted({b.open_time for b in bars})
    assert bars[-1].open_time == first - 60_000  # joins the series without a hole
    with pytest.raises(HistoryUnavailable):
        run(qloop, fetch_older(demo_app.engine, Venue.BYBIT_SPOT, UI_SYMBOL, "1m", first))


def test_a_failed_history_page_is_shown_in_the_panel(qloop, demo_app, qtbot) -> None:
    panel = ChartPanel(UiContext(demo_app, Selection(Venue.BYBIT_SPOT, UI_SYMBOL)))  # no such adapter running
    qtbot.addWidget(panel)
    n = 50
    c = np.linspace(100, 110, n)
    panel.store.set_arrays(np.arange(n) * 60_000 + 1_700_000_000_000, c, c + 1, c - 1, c, np.ones(n))
    panel.load_older()
    wait_until(qloop, lambda: panel.status.text().startswith("history failed"), 5, "error shown")
    assert "bybit" in panel.status.text().lower() and "color: #ef5350" in panel.status.styleSheet().lower()
    assert len(panel.store) == n  # nothing lost

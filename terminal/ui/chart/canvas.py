"""The drawing half of the chart: the price pane (volume drawn in its bottom band) and the
RSI/MACD sub-panes over one
``CandleStore``, x-linked, with overlays, crosshair and the y range following the visible bars.

No engine here: ``ChartPanel`` syncs the store and calls ``data_updated``; the benchmark drives
the same canvas with synthetic bars.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QTransform
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from terminal.ui.chart.axis import TimeAxis
from terminal.ui.chart.data import CandleStore, SyncResult
from terminal.ui.chart.items import BarKind, GridLines, HistoryItem, LiveItem, Palette
from terminal.ui.chart.overlays import Overlay, OverlayParams, Series, compute
from terminal.ui.fmt import format_compact
from terminal.ui.theme import ACCENT, BUY_COLOR, FOREGROUND, GRID_COLOR, MUTED, SELL_COLOR, WARN_COLOR

__all__ = ["ChartCanvas", "ChartViewBox"]

_AXIS_WIDTH = 76
_VOLUME_BAND = 0.18  # share of the price pane's height under the bars for volume
_CURVE_COLORS: dict[str, str] = {
    "ema": WARN_COLOR,
    "sma": ACCENT,
    "mid": "#9c7bd8",
    "upper": "#9c7bd8",
    "lower": "#9c7bd8",
    "rsi": FOREGROUND,
    "line": ACCENT,
    "signal": WARN_COLOR,
    "hist": MUTED,
}


class ChartViewBox(pg.ViewBox):
    """The price pane's view box: a right click reports the price under the cursor instead of
    pyqtgraph's own menu (the panel builds the buy/sell menu)."""

    def __init__(self, on_menu: Callable[[float, QPoint], None]) -> None:
        super().__init__()
        self._on_menu = on_menu

    def raiseContextMenu(self, ev: object) -> None:
        price = self.mapSceneToView(ev.scenePos()).y()  # type: ignore[attr-defined]
        self._on_menu(price, ev.screenPos().toPoint())  # type: ignore[attr-defined]


def _pane(store: CandleStore, vb: pg.ViewBox | None = None) -> tuple[pg.PlotWidget, TimeAxis]:
    axis = TimeAxis(store)
    w = pg.PlotWidget(viewBox=vb, axisItems={"bottom": axis})
    p = w.getPlotItem()
    p.hideAxis("left")
    p.showAxis("right")
    p.getAxis("right").setWidth(_AXIS_WIDTH)
    p.hideButtons()
    p.setMenuEnabled(False)
    # GridLines, not showGrid(): the axes' own grid costs ~8 ms per pane per frame here (a
    # full-view axis picture replayed on every paint)
    p.addItem(GridLines(axis, p.getAxis("right"), QColor(GRID_COLOR)), ignoreBounds=True)
    for name in ("right", "bottom"):
        p.getAxis(name).setTextPen(MUTED)
        p.getAxis(name).setPen(GRID_COLOR)
        # two tick levels instead of three: the same labels, ~1/3 less axis work per frame
        p.getAxis(name).setStyle(maxTickLevel=1, maxTextLevel=1)
    p.setMouseEnabled(x=True, y=False)
    p.enableAutoRange(x=False, y=False)
    p.setClipToView(False)
    return w, axis


class ChartCanvas(QWidget):
    menu_requested = Signal(float, QPoint)  # price under a right click, screen position
    readout_changed = Signal(str)
    view_left_of_data = Signal()  # the view starts before the first bar: load older history

    def __init__(self, parent: QWidget | None = None, params: OverlayParams | None = None) -> None:
        super().__init__(parent)
        self.store = CandleStore()
        self.params = params or OverlayParams()
        self.enabled: set[Overlay] = set()
        self.series: dict[Overlay, Series] = {}
        self.curves: dict[tuple[Overlay, str], pg.PlotDataItem] = {}
        self.format_price: Callable[[float], str] = lambda v: f"{v:.8g}"
        self._x_cache: tuple[int, float, np.ndarray] = (-1, 0.0, np.empty(0))
        self.y_levels: list[float] = []  # own order prices: kept in view when near the bars

        palette = Palette(QColor(BUY_COLOR), QColor(SELL_COLOR))
        self.price_vb = ChartViewBox(lambda price, pos: self.menu_requested.emit(price, pos))
        self.price_w, price_axis = _pane(self.store, self.price_vb)
        self.rsi_w, rsi_axis = _pane(self.store)
        self.macd_w, macd_axis = _pane(self.store)
        self.axes = [price_axis, rsi_axis, macd_axis]
        self.price_plot = self.price_w.getPlotItem()
        self.price_plot.setMenuEnabled(True)  # only for raiseContextMenu; our handler replaces the menu
        self.rsi_plot = self.rsi_w.getPlotItem()
        self.macd_plot = self.macd_w.getPlotItem()
        for plot in (self.rsi_plot, self.macd_plot):
            plot.setXLink(self.price_plot)
        self.rsi_plot.setYRange(0, 100, padding=0.02)
        for level in (30, 70):
            self.rsi_plot.addItem(
                pg.InfiniteLine(level, angle=0, pen=pg.mkPen(MUTED, style=Qt.PenStyle.DotLine)),
                ignoreBounds=True,
            )

        self.price_hist = HistoryItem(self.store, BarKind.PRICE, palette)
        self.price_live = LiveItem(self.store, BarKind.PRICE, palette, self.price_hist)
        self.volume_hist = HistoryItem(self.store, BarKind.VOLUME, palette)
        self.volume_live = LiveItem(self.store, BarKind.VOLUME, palette, self.volume_hist)
        # Volume lives in the price pane's bottom band (a y transform on its items, updated by
        # autoscale_y) rather than in a pane of its own: one view, grid and axis less per frame.
        for it in (self.volume_hist, self.volume_live):
            it.setZValue(-10)
            self.price_plot.addItem(it, ignoreBounds=True)
        for it in (self.price_hist, self.price_live):
            self.price_plot.addItem(it)

        cross = pg.mkPen(MUTED, style=Qt.PenStyle.DashLine)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=cross)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=cross)
        for line in (self.vline, self.hline):
            line.setZValue(50)
            line.hide()
            self.price_plot.addItem(line, ignoreBounds=True)
        self.price_w.scene().sigMouseMoved.connect(self._mouse_moved)
        self.price_w.viewport().installEventFilter(self)
        self.price_vb.sigXRangeChanged.connect(self._x_changed)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        for w in (self.price_w, self.rsi_w, self.macd_w):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 6)
        for i in (1, 2):
            self.splitter.setStretchFactor(i, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._relayout()

    # ------------------------------------------------------------------ data
    def set_step(self, step_ms: int | None) -> None:
        for axis in self.axes:
            axis.step_ms = step_ms or 60_000

    def x_values(self) -> np.ndarray:
        n, x0, xs = self._x_cache
        if n != len(self.store) or x0 != self.store.x0:
            xs = self.store.x
            self._x_cache = (len(self.store), self.store.x0, xs)
        return xs

    def data_updated(self, res: SyncResult, n_before: int, follow: bool) -> None:
        """Repaint after a store change: only the live items for a live-only change."""
        if res.changed_from is None:
            return
        if not res.live_only:
            self.price_hist.data_changed()
            self.volume_hist.data_changed()
        self.price_live.data_changed()
        self.volume_live.data_changed()
        self._update_overlays(res.changed_from)
        n = len(self.store)
        if n_before == 0 and n:
            self.default_view()
        elif follow and n > n_before:
            x0, x1 = self.price_vb.viewRange()[0]
            added = n - n_before
            self.price_vb.setXRange(x0 + added, x1 + added, padding=0)
        else:
            self.autoscale_y()

    def data_reset(self) -> None:
        """Everything changed (another market, older bars prepended): full redraw."""
        self.price_hist.data_changed()
        self.volume_hist.data_changed()
        self.price_live.data_changed()
        self.volume_live.data_changed()
        self.series.clear()
        self._update_overlays(0)
        self.autoscale_y()

    def at_live_edge(self) -> bool:
        n = len(self.store)
        return n > 0 and self.price_vb.viewRange()[0][1] >= n - 1 + self.store.x0

    def default_view(self, bars: int = 200) -> None:
        n = len(self.store)
        if not n:
            return
        last = n - 1 + self.store.x0
        self.show_range(last - bars + 1, last + 3)

    def show_range(self, x0: float, x1: float) -> None:
        if tuple(self.price_vb.viewRange()[0]) == (x0, x1):
            self.autoscale_y()  # same x: no range signal, but the bars may have changed
        else:
            self.price_vb.setXRange(x0, x1, padding=0)  # autoscales through sigXRangeChanged

    # ------------------------------------------------------------------ overlays
    def set_overlay(self, which: Overlay, on: bool) -> None:
        if on == (which in self.enabled):
            return
        if on:
            self.enabled.add(which)
            self._update_overlays(0, only=which)
        else:
            self.enabled.discard(which)
            self.series.pop(which, None)
            for key in [k for k in self.curves if k[0] is which]:
                curve = self.curves.pop(key)
                curve.getViewBox() and curve.getViewBox().removeItem(curve)
        self._relayout()
        self.autoscale_y()

    def _plot_for(self, which: Overlay) -> pg.PlotItem:
        return {Overlay.RSI: self.rsi_plot, Overlay.MACD: self.macd_plot}.get(which, self.price_plot)

    def _update_overlays(self, changed_from: int, only: Overlay | None = None) -> None:
        if not self.enabled:
            return
        close = self.store.c
        xs = self.x_values()
        for which in [only] if only else sorted(self.enabled):
            data = compute(which, self.params, close, self.series.get(which), changed_from)
            self.series[which] = data
            for name, values in data.items():
                curve = self.curves.get((which, name))
                if curve is None:
                    curve = self._make_curve(which, name)
                curve.setData(xs, values, connect="finite")

    def _make_curve(self, which: Overlay, name: str) -> pg.PlotDataItem:
        color = _CURVE_COLORS[name]
        style = Qt.PenStyle.DashLine if name == "mid" else Qt.PenStyle.SolidLine
        kw: dict[str, object] = {}
        if name == "hist":
            kw = {"fillLevel": 0.0, "fillBrush": pg.mkBrush(QColor(MUTED).lighter(100))}
        curve = pg.PlotDataItem(pen=pg.mkPen(color, width=1, style=style), **kw)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        curve.setZValue(10)
        self._plot_for(which).addItem(curve)
        self.curves[(which, name)] = curve
        return curve

    def _relayout(self) -> None:
        self.rsi_w.setVisible(Overlay.RSI in self.enabled)
        self.macd_w.setVisible(Overlay.MACD in self.enabled)
        panes = [self.price_w, self.rsi_w, self.macd_w]
        visible = [w for w in panes if not w.isHidden()]
        for w in panes:
            if w is visible[-1]:
                w.getPlotItem().showAxis("bottom")
            else:
                w.getPlotItem().hideAxis("bottom")
        # a pane shown later would get a sliver: share the height by fixed weights instead
        weights = {self.price_w: 6.0, self.rsi_w: 1.6, self.macd_w: 1.6}
        total = max(self.splitter.height(), 400)
        scale = total / sum(weights[w] for w in visible)
        self.splitter.setSizes([round(weights[w] * scale) if not w.isHidden() else 0 for w in panes])

    # ------------------------------------------------------------------ view
    def visible_rows(self) -> tuple[int, int]:
        x0, x1 = self.price_vb.viewRange()[0]
        s = self.store
        n = len(s)
        r0 = min(n, max(0, math.floor(x0 - s.x0)))
        r1 = min(n, max(0, math.ceil(x1 - s.x0) + 1))
        return r0, r1

    def autoscale_y(self) -> None:
        r0, r1 = self.visible_rows()
        if r1 <= r0:
            return
        s = self.store
        lo, hi, vmax = s.extremes(r0, r1)
        for which in (Overlay.EMA, Overlay.SMA, Overlay.BOLL):
            for arr in self.series.get(which, {}).values():
                part = arr[r0:r1]
                if np.isfinite(part).any():
                    lo, hi = min(lo, float(np.nanmin(part))), max(hi, float(np.nanmax(part)))
        span = hi - lo
        for level in self.y_levels:  # an order a little outside the bars' range stays visible
            if lo - span <= level <= hi + span:
                lo, hi = min(lo, level), max(hi, level)
        span = max(hi - lo, abs(hi) * 1e-9, 1e-12)
        # room below the bars for the volume band
        y0, y1 = lo - span * (_VOLUME_BAND + 0.02) / (1 - _VOLUME_BAND), hi + span * 0.04
        self.price_vb.setYRange(y0, y1, padding=0)
        k = (y1 - y0) * _VOLUME_BAND / (vmax if vmax > 0 else 1.0)
        band = QTransform(1.0, 0.0, 0.0, k, 0.0, y0)  # volume v is drawn at y0 + k * v
        if self.volume_hist.transform() != band:
            self.volume_hist.setTransform(band)
            self.volume_live.setTransform(band)
        m = self.series.get(Overlay.MACD)
        if m:
            parts = np.concatenate([a[r0:r1] for a in m.values()])
            if np.isfinite(parts).any():
                a, b = float(np.nanmin(parts)), float(np.nanmax(parts))
                self.macd_plot.getViewBox().setYRange(a, b if b > a else a + 1, padding=0.06)

    def _x_changed(self, *_: object) -> None:
        self.autoscale_y()
        if len(self.store) and self.price_vb.viewRange()[0][0] < self.store.x0 - 0.5:
            self.view_left_of_data.emit()

    # ------------------------------------------------------------------ crosshair
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave and watched is self.price_w.viewport():
            self.hide_crosshair()
        return super().eventFilter(watched, event)

    def hide_crosshair(self) -> None:
        """No cursor over the bars: the readout shows the last bar."""
        self.vline.hide()
        self.hline.hide()
        if len(self.store):
            self.readout_changed.emit(self.readout(len(self.store) - 1))

    def _mouse_moved(self, pos: QPointF) -> None:
        if not self.price_vb.sceneBoundingRect().contains(pos):
            self.hide_crosshair()
            return
        pt = self.price_vb.mapSceneToView(pos)
        self.show_crosshair(pt.x(), pt.y())

    def show_crosshair(self, x: float, y: float) -> int | None:
        """Move the crosshair to (x, y); the readout shows the bar there. Returns its row."""
        row = self.store.row_at(x)
        self.vline.setPos(x if row is None else row + self.store.x0)
        self.hline.setPos(y)
        self.vline.show()
        self.hline.show()
        self.readout_changed.emit(self.readout(row, y))
        return row

    def readout(self, row: int | None, y: float | None = None) -> str:
        f = self.format_price
        cursor = "" if y is None else f"   {f(y)}"
        if row is None:
            return cursor.strip()
        s = self.store
        when = datetime.fromtimestamp(int(s.t[row]) / 1000).strftime("%Y-%m-%d %H:%M")
        return (
            f"{when}  O {f(s.o[row])}  H {f(s.h[row])}  "
            f"L {f(s.l[row])}  C {f(s.c[row])}  V {format_compact(float(s.v[row]))}{cursor}"
        )

"""Depth chart: cumulative bid and ask size as step curves around the mid price (pyqtgraph).

The curves are two ``PlotDataItem`` s whose arrays are replaced in place; the x range is kept
symmetric around the mid (as far as the shallower side reaches) so the chart does not jump
when one side is deeper. A chart needs no more than ~5 frames a second: redraws are spaced by
``MIN_INTERVAL_S`` (``refresh.Throttle``) and a change that arrives in between is drawn when
the interval ends, in a frame slot of its own.

Paint cost (bench/ui_latency.py: the depth chart was the dearest repaint of the window, 7-23 ms):
a pyqtgraph grid is drawn by the axes across the whole view and replayed on every repaint
(~5 ms at this size), and a new view range makes both axes regenerate their tick text. So: the
chart's one-path ``GridLines`` instead, 1 px cosmetic pens, and the view range is *sticky* (``Sticky``): it only moves when the
curves leave it or shrink well inside it, so most redraws touch only the curves (~0.5 ms).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QStackedLayout, QVBoxLayout, QWidget

from terminal.engine.engine import Versions
from terminal.model import BookLevel, Instrument, Venue
from terminal.ui.chart.items import GridLines
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_mid, instrument_for, venue_label
from terminal.ui.refresh import Throttle
from terminal.ui.theme import BUY_COLOR, GRID_COLOR, MUTED, SELL_COLOR

__all__ = ["DEPTH_LEVELS", "DepthChartPanel", "Sticky", "step_curve"]

DEPTH_LEVELS: tuple[int, ...] = (50, 100, 200, 500)  # levels per side
DEFAULT_LEVELS = 100  # each redraw converts 2x this many levels to Decimal (~7 us each)
MIN_INTERVAL_S = 0.2
# Sticky ranges: re-fit when the data needs more than the view, or less than SHRINK of it;
# a re-fit leaves HEADROOM of slack so the next few frames fit too.
SHRINK = 0.6
HEADROOM = 1.2
RECENTER = 0.15  # x: re-centre when the mid drifts more than this fraction of the half-width


def step_curve(levels: Sequence[BookLevel]) -> tuple[np.ndarray, np.ndarray]:
    """Best-first levels -> (x, y) of the cumulative-size staircase, starting at 0 on the touch.

    Between two levels the size stays at the cumulative total of the better one, so the points
    are (p0, 0), (p0, C0), (p1, C0), (p1, C1), ... ; empty input gives empty arrays.
    """
    n = len(levels)
    if n == 0:
        return np.empty(0), np.empty(0)
    prices = np.fromiter((float(lv.price) for lv in levels), float, n)
    cum = np.cumsum(np.fromiter((float(lv.qty) for lv in levels), float, n))
    x = np.repeat(prices, 2)
    y = np.empty(2 * n)
    y[0] = 0.0
    y[1::2] = cum
    y[2::2] = cum[:-1]
    return x, y


@dataclass
class Sticky:
    """A view interval that follows the data lazily (each move regenerates axis text)."""

    lo: float = 0.0
    hi: float = 0.0
    moves: int = 0  # times the interval changed (tests: stays put while the data fits)

    def fit_y(self, top: float) -> bool:
        """0..top must fit; returns True if the interval moved."""
        top = top or 1.0
        if self.lo == 0.0 and top <= self.hi and top >= SHRINK * self.hi:
            return False
        self.lo, self.hi = 0.0, top * HEADROOM
        self.moves += 1
        return True

    def fit_x(self, mid: float, reach: float) -> bool:
        """mid +- reach must fit, centred on mid within RECENTER; True if the interval moved."""
        half = (self.hi - self.lo) / 2
        centre = (self.hi + self.lo) / 2
        fits = self.lo <= mid - reach and mid + reach <= self.hi
        if fits and reach >= SHRINK * half and abs(mid - centre) <= RECENTER * half:
            return False
        half = reach * HEADROOM if reach > 0 else max(abs(mid) * 1e-4, 1e-9)
        self.lo, self.hi = mid - half, mid + half
        self.moves += 1
        return True


def _brush(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


def _pen(color: str) -> QPen:
    pen = pg.mkPen(color, width=1)
    pen.setCosmetic(True)
    return pen


class DepthChartPanel(QWidget):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("depth")
        self.ctx = ctx
        self.state = ""  # why no curves are shown ("" when they are)
        self.mid: float | None = None
        self.redraws = 0
        self.last_redraw_ms = 0.0
        self._seen: tuple[int, int] = (-1, -1)
        self._drawn: tuple[int, bool] | None = None  # (update id, live) of the book last drawn
        self._inst: Instrument | None = None
        self.throttle = Throttle(MIN_INTERVAL_S, self._redraw, self)

        self.title = QLabel(self)
        self.levels_box = QComboBox(self)
        self.levels_box.setToolTip("Book levels per side included in the curves")
        for n in DEPTH_LEVELS:
            self.levels_box.addItem(f"{n} levels", n)
        self.levels_box.setCurrentIndex(DEPTH_LEVELS.index(DEFAULT_LEVELS))
        self.levels_box.currentIndexChanged.connect(lambda _i: self.throttle.now())

        pal = self.palette()
        self.plot = pg.PlotWidget(self)
        self.plot.setBackground(pal.color(QPalette.ColorRole.Base))
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        text = pal.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setTextPen(text)
            axis.setPen(pg.mkPen(MUTED))
            axis.setStyle(hideOverlappingLabels=True)  # no half-cut label at the view edge
        item.getAxis("left").setWidth(56)
        # the chart's GridLines, not showGrid(): pyqtgraph draws its grid inside the axes' cached
        # pictures, replayed on every repaint (~5 ms here); one path per paint is ~0.4 ms
        item.addItem(
            GridLines(item.getAxis("bottom"), item.getAxis("left"), QColor(GRID_COLOR)), ignoreBounds=True
        )
        self.x_view, self.y_view = Sticky(), Sticky()
        # 1 px cosmetic pens: a wider pen is stroked as a polygon on every repaint
        self.bid_curve = pg.PlotDataItem(
            pen=_pen(BUY_COLOR), fillLevel=0.0, brush=_brush(BUY_COLOR, 60), name="bids"
        )
        self.ask_curve = pg.PlotDataItem(
            pen=_pen(SELL_COLOR), fillLevel=0.0, brush=_brush(SELL_COLOR, 60), name="asks"
        )
        self.mid_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(MUTED, style=Qt.PenStyle.DashLine)
        )
        self.plot.addItem(self.bid_curve)
        self.plot.addItem(self.ask_curve)
        self.plot.addItem(self.mid_line)

        self.message = QLabel(self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setEnabled(False)
        self._stack = QStackedLayout()
        self._stack.addWidget(self.plot)
        self._stack.addWidget(self.message)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.levels_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addLayout(self._stack, 1)

        ctx.selection.changed.connect(self._on_market)
        self._on_market(ctx.selection.venue, ctx.selection.symbol)

    @property
    def levels(self) -> int:
        return int(self.levels_box.currentData())

    def _on_market(self, venue: Venue, symbol: str) -> None:
        self._inst = instrument_for(getattr(self.ctx.app, "adapters", {}), venue, symbol)
        self.x_view, self.y_view = Sticky(), Sticky()
        self.throttle.now()

    # -------------------------------------------------------------- refresh
    def refresh(self, versions: Versions) -> None:
        seen = (versions.books, versions.feeds)
        if seen == self._seen:
            return
        self._seen = seen
        sel = self.ctx.selection
        top = self.ctx.engine.top_of_book(sel.venue, sel.symbol)
        if top is not None and (top.update_id, top.live) == self._drawn:
            return  # another market's book moved, not this one
        self.throttle.request()

    def _redraw(self) -> None:
        t0 = time.perf_counter()
        sel = self.ctx.selection
        engine = self.ctx.engine
        top = engine.top_of_book(sel.venue, sel.symbol)
        snap = engine.book_snapshot(sel.venue, sel.symbol, self.levels) if top is not None else None
        self._drawn = None if top is None else (top.update_id, top.live)
        if self._inst is None and snap is not None:  # built before the app loaded its instruments
            self._inst = instrument_for(getattr(self.ctx.app, "adapters", {}), sel.venue, sel.symbol)
        if snap is None:
            self._show_state(
                f"No order book for {sel.symbol} on {venue_label(sel.venue)}: the market is not watched."
            )
        elif top is not None and not top.live:
            self._show_state(f"Resyncing the {sel.symbol} order book…")
        elif not snap.bids and not snap.asks:
            self._show_state(f"The {sel.symbol} order book is empty.")
        else:
            self.state = ""
            bx, by = step_curve(snap.bids)
            ax, ay = step_curve(snap.asks)
            self.bid_curve.setData(bx, by)
            self.ask_curve.setData(ax, ay)
            mid = snap.mid
            self.mid = None if mid is None else float(mid)
            if self.mid is not None:
                if self.mid_line.value() != self.mid:
                    self.mid_line.setValue(self.mid)
                self.mid_line.show()
                # about symmetric around the mid, as far as the shallower side reaches
                reach = min(self.mid - bx[-1], ax[-1] - self.mid)
                if self.x_view.fit_x(self.mid, reach):
                    self.plot.setXRange(self.x_view.lo, self.x_view.hi, padding=0)
            else:
                self.mid_line.hide()
                self.x_view = Sticky()
                self.plot.enableAutoRange(x=True)
            top_y = max(by[-1] if len(by) else 0.0, ay[-1] if len(ay) else 0.0)
            if self.y_view.fit_y(top_y):
                self.plot.setYRange(self.y_view.lo, self.y_view.hi, padding=0)
            base = self._inst.base if self._inst is not None else ""
            mid_text = format_mid(mid, self._inst)
            self._set_title(
                f"<b>{sel.symbol}</b> · {venue_label(sel.venue)}  ·  mid {mid_text}"
                f"  ·  bids {by[-1] if len(by) else 0:.4g} / asks {ay[-1] if len(ay) else 0:.4g} {base}"
            )
            self._stack.setCurrentWidget(self.plot)
        self.redraws += 1
        self.last_redraw_ms = (time.perf_counter() - t0) * 1000

    def _show_state(self, text: str) -> None:
        self.state = text
        self.mid = None
        self.bid_curve.setData([], [])
        self.ask_curve.setData([], [])
        self.message.setText(text)
        self._set_title(f"<b>{self.ctx.selection.symbol}</b> · {venue_label(self.ctx.selection.venue)}")
        self._stack.setCurrentWidget(self.message)
        self.x_view, self.y_view = Sticky(), Sticky()  # the next market fits afresh

    def _set_title(self, text: str) -> None:
        if text != self.title.text():  # a rich-text label re-lays itself out on every setText
            self.title.setText(text)

"""Graphics items that keep 1,000,000 bars fast: per-pixel aggregation, a cached picture, and
a separate item for the live bar.

``HistoryItem`` draws every row but the last. Bars are bucketed on a global grid of ``b`` bars
(``b`` a power of two >= bars per pixel): zoomed out, each bucket is one pixel column drawn as a
low..high line, its extremes read from the store's block pyramid (``pyramid.py``, blocks of
exactly ``b`` bars on the same x grid), so the work is bounded by the pixel width, not the bar
count; zoomed in (``b == 1``) real candles are drawn. The result is recorded into a
``QPicture`` covering three view widths; panning inside it or repainting replays the picture;
only a zoom step (new ``b``), leaving the covered range or a history change rebuilds it.

``LiveItem`` draws the last (forming) row alone, so a tick repaints one bar and never rebuilds
the history picture.
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPicture

from terminal.ui.chart.data import CandleStore

__all__ = ["BarKind", "GridLines", "HistoryItem", "LiveItem", "Palette", "aggregate", "bucket_for"]

_BODY = 0.7  # candle body width in bars


class BarKind(Enum):
    PRICE = "price"  # OHLC candles
    VOLUME = "volume"  # bars from 0 to the volume


class Palette:
    def __init__(self, up: QColor, down: QColor) -> None:
        self.up, self.down = up, down

    def pens(self, alpha: int = 255) -> tuple[QPen, QPen, QBrush, QBrush]:
        out = []
        for color in (self.up, self.down):
            c = QColor(color)
            c.setAlpha(alpha)
            pen = QPen(c)
            pen.setCosmetic(True)
            pen.setWidth(1)
            out.append(pen)
        up_b, down_b = QColor(self.up), QColor(self.down)
        up_b.setAlpha(alpha)
        down_b.setAlpha(alpha)
        return out[0], out[1], QBrush(up_b), QBrush(down_b)


def bucket_for(bars_per_px: float) -> int:
    """Bars per drawn column: 1 (candles) or the power of two >= bars per pixel."""
    if not math.isfinite(bars_per_px) or bars_per_px <= 1.0:
        return 1
    return 1 << math.ceil(math.log2(bars_per_px))


def _pairs(x: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> QPainterPath:
    """One path of vertical segments (x, y0)-(x, y1), built from arrays without a Python loop."""
    xs = np.repeat(x, 2)
    ys = np.empty(2 * len(x))
    ys[0::2], ys[1::2] = y0, y1
    return pg.arrayToQPath(xs, ys, connect="pairs", finiteCheck=False)


def _rects(x: np.ndarray, y0: np.ndarray, y1: np.ndarray, width: float) -> list[QRectF]:
    """Rectangles centred on ``x`` from ``y0`` to ``y1`` (drawRects fills them ~3x faster than
    one path of rectangles; only used zoomed in, i.e. at most a few thousand)."""
    bottom = np.minimum(y0, y1)
    height = np.abs(y1 - y0)
    left = x - width / 2
    return [
        QRectF(a, b, width, c)
        for a, b, c in zip(left.tolist(), bottom.tolist(), height.tolist(), strict=True)
    ]


def draw_bars(
    p: QPainter,
    kind: BarKind,
    x: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    bucket: int,
    palette: Palette,
) -> int:
    """Draw bars (already aggregated when ``bucket > 1``); returns the number of columns drawn."""
    if len(x) == 0:
        return 0
    alpha = 110 if kind is BarKind.VOLUME else 255
    up_pen, down_pen, up_brush, down_brush = palette.pens(alpha)
    up = c >= o
    for mask, pen, brush in ((up, up_pen, up_brush), (~up, down_pen, down_brush)):
        if not mask.any():
            continue
        p.setPen(pen)
        xs = x[mask]
        if kind is BarKind.PRICE:
            if bucket == 1:
                p.setBrush(pg.mkBrush(None))
                p.drawPath(_pairs(xs, lo[mask], h[mask]))
                p.setBrush(brush)
                p.drawRects(_rects(xs, o[mask], c[mask], _BODY))
            else:
                p.drawPath(_pairs(xs, lo[mask], h[mask]))
        else:
            if bucket == 1:
                p.setBrush(brush)
                p.drawRects(_rects(xs, np.zeros(len(xs)), v[mask], _BODY))
            else:
                p.drawPath(_pairs(xs, np.zeros(len(xs)), v[mask]))
    return len(x)


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def aggregate(store: CandleStore, r0: int, r1: int, bucket: int) -> Columns:
    """Rows ``r0..r1`` bucketed on the global x grid of ``bucket`` bars: (x, o, h, l, c, v).

    Volume is the bucket's max (not its sum): the pane's scale then does not change with zoom.
    The last result per store is kept, so the price and volume items share one reduction.
    """
    key = (store.history_version, store.x0, r0, r1, bucket)
    hit = store.agg_cache
    if hit is not None and hit[0] == key:
        return hit[1]  # type: ignore[return-value]
    cols = _aggregate(store, r0, r1, bucket)
    store.agg_cache = (key, cols)
    return cols


def _aggregate(store: CandleStore, r0: int, r1: int, bucket: int) -> Columns:
    if bucket == 1:
        x = np.arange(r0, r1, dtype=np.float64) + store.x0
        return x, store.o[r0:r1], store.h[r0:r1], store.l[r0:r1], store.c[r0:r1], store.v[r0:r1]
    x0 = store.x0
    pyr = store.pyramid()
    level = pyr.level(bucket) if r1 <= pyr.n else None
    if level is not None:
        # blocks of exactly this bucket on the same x grid: the blocks touching r0..r1
        ends = level.ends(pyr.n)
        b0 = int(np.searchsorted(ends, r0, side="right"))
        b1 = int(np.searchsorted(level.starts, r1, side="left"))
        starts, ends = level.starts[b0:b1], ends[b0:b1]
        x = (starts + ends - 1) / 2.0 + x0
        return x, store.o[starts], level.high[b0:b1], level.low[b0:b1], store.c[ends - 1], level.vmax[b0:b1]
    first = math.floor((r0 + x0) / bucket) * bucket  # grid line at or before r0, in x
    starts = np.arange(first, r1 + x0, bucket, dtype=np.float64) - x0
    starts = np.unique(np.clip(starts, r0, r1 - 1).astype(np.int64))
    ends = np.append(starts[1:], r1)
    idx = starts - r0
    h = np.maximum.reduceat(store.h[r0:r1], idx)
    lo = np.minimum.reduceat(store.l[r0:r1], idx)
    v = np.maximum.reduceat(store.v[r0:r1], idx)
    o = store.o[starts]
    c = store.c[ends - 1]
    x = (starts + ends - 1) / 2.0 + x0
    return x, o, h, lo, c, v


class HistoryItem(pg.GraphicsObject):
    def __init__(self, store: CandleStore, kind: BarKind, palette: Palette) -> None:
        super().__init__()
        self.store = store
        self.kind = kind
        self.palette = palette
        self._picture: QPicture | None = None
        self._key: tuple[int, int, float] | None = None  # history version, bucket, x0
        self._cover = (0, 0)  # rows covered by the picture
        self._bounds = QRectF()
        self._bounds_version = -1
        self.picture_builds = 0  # how often the picture was (re)built: tests and the bench read it
        self.last_columns = 0  # columns drawn by the last build

    # ------------------------------------------------------------------ geometry
    def history_rows(self) -> int:
        return max(0, len(self.store) - 1)

    def data_changed(self) -> None:
        """Call after the store's history changed: new bounds, picture rebuilt on next paint."""
        self.prepareGeometryChange()
        self._bounds_version = -1
        self._key = None
        self.update()

    def boundingRect(self) -> QRectF:
        s = self.store
        if self._bounds_version != s.history_version:
            n = self.history_rows()
            if n == 0:
                self._bounds = QRectF()
            elif self.kind is BarKind.PRICE:
                self._bounds = QRectF(s.x0 - 0.5, s.low, n, max(s.high - s.low, 1e-12))
            else:
                self._bounds = QRectF(s.x0 - 0.5, 0.0, n, max(s.vmax, 1e-12))
            self._bounds_version = s.history_version
        return self._bounds

    # ------------------------------------------------------------------ paint
    def current_bucket(self) -> int:
        px = self.pixelWidth()  # x units per device pixel (0 when not in a view)
        return bucket_for(px) if px else 1

    def paint(self, p: QPainter, *args: object) -> None:
        n = self.history_rows()
        if n == 0:
            return
        view = self.viewRect()
        if view is None or not view.isValid():
            return
        bucket = self.current_bucket()
        s = self.store
        lo_row = max(0, math.floor(view.left() - s.x0))
        hi_row = min(n, math.ceil(view.right() - s.x0) + 1)
        key = (s.history_version, bucket, s.x0)
        covered = self._cover[0] <= lo_row and hi_row <= self._cover[1]
        if self._picture is None or self._key != key or not covered:
            width = max(1, hi_row - lo_row)
            self._build(max(0, lo_row - width), min(n, hi_row + width), bucket)
            self._key = key
        if self._picture is not None:
            p.drawPicture(0, 0, self._picture)

    def _build(self, r0: int, r1: int, bucket: int) -> None:
        pic = QPicture()
        qp = QPainter(pic)
        cols = 0
        if r1 > r0:
            cols = draw_bars(qp, self.kind, *aggregate(self.store, r0, r1, bucket), bucket, self.palette)
        qp.end()
        self._picture = pic
        self._cover = (r0, r1)
        self.last_columns = cols
        self.picture_builds += 1


class LiveItem(pg.GraphicsObject):
    """The last row alone: a tick calls ``data_changed`` here and nothing else repaints."""

    def __init__(self, store: CandleStore, kind: BarKind, palette: Palette, history: HistoryItem) -> None:
        super().__init__()
        self.store = store
        self.kind = kind
        self.palette = palette
        self.history = history  # shares its bucket so the live bar matches the columns around it
        self.paints = 0
        self._bounds = QRectF()

    def data_changed(self) -> None:
        self.prepareGeometryChange()
        self._bounds = self._compute_bounds()
        self.update()

    def _compute_bounds(self) -> QRectF:
        s = self.store
        if not len(s):
            return QRectF()
        i = len(s) - 1
        x = i + s.x0
        if self.kind is BarKind.PRICE:
            return QRectF(x - 0.5, float(s.l[i]), 1.0, max(float(s.h[i] - s.l[i]), 1e-12))
        return QRectF(x - 0.5, 0.0, 1.0, max(float(s.v[i]), 1e-12))

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, *args: object) -> None:
        s = self.store
        if not len(s):
            return
        self.paints += 1
        i = len(s) - 1
        sl = slice(i, i + 1)
        x = np.array([i + s.x0])
        draw_bars(
            p,
            self.kind,
            x,
            s.o[sl],
            s.h[sl],
            s.l[sl],
            s.c[sl],
            s.v[sl],
            self.history.current_bucket(),
            self.palette,
        )


class GridLines(pg.GraphicsObject):
    """Grid at the axes' major ticks as one path per paint (pyqtgraph's ``GridItem`` issues one
    ``drawLine`` per line from Python and costs a few ms per view change)."""

    def __init__(self, x_axis: pg.AxisItem, y_axis: pg.AxisItem, color: QColor) -> None:
        super().__init__()
        self.x_axis, self.y_axis = x_axis, y_axis
        self.pen = QPen(color)
        self.pen.setCosmetic(True)
        self.setZValue(-100)
        self.setFlag(self.GraphicsItemFlag.ItemIgnoresParentOpacity)

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        vr = self.viewRect()
        return QRectF() if vr is None else vr

    def paint(self, p: QPainter, *args: object) -> None:
        vr = self.viewRect()
        vb = self.getViewBox()
        if vr is None or vb is None or not vr.isValid():
            return
        xs = self._ticks(self.x_axis, vr.left(), vr.right(), vb.width())
        ys = self._ticks(self.y_axis, vr.top(), vr.bottom(), vb.height())
        p.setPen(self.pen)
        if len(xs):
            p.drawPath(_pairs(xs, np.full(len(xs), vr.top()), np.full(len(xs), vr.bottom())))
        if len(ys):
            path = pg.arrayToQPath(
                np.tile([vr.left(), vr.right()], len(ys)),
                np.repeat(ys, 2),
                connect="pairs",
                finiteCheck=False,
            )
            p.drawPath(path)

    @staticmethod
    def _ticks(axis: pg.AxisItem, lo: float, hi: float, size: float) -> np.ndarray:
        if size <= 0 or hi <= lo:
            return np.empty(0)
        levels = axis.tickValues(lo, hi, size)
        return np.asarray(levels[0][1], dtype=np.float64) if levels else np.empty(0)

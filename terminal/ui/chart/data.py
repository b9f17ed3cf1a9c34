"""The chart's own bar store: numpy columns synced incrementally from engine snapshots.

The engine hands out immutable tuples of ``Candle`` (rebuilt per change, but unchanged bars are
the same objects), so a sync compares identities to find the first changed row and converts only
from there: a live tick rewrites one row instead of re-reading thousands. Rows older than the
engine's first bar (trimmed by the engine, or loaded by scrolling left) stay in the store.

x coordinate of row ``i`` is ``i + x0``; loading older history lowers ``x0`` so the bars already
on screen keep their x (the view does not jump).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from terminal.model import Candle
from terminal.ui.chart.pyramid import Pyramid

__all__ = ["CandleStore", "SyncResult", "fold_live"]

_FIELDS = ("o", "h", "l", "c", "v")


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync changed: rows ``changed_from..`` (None: nothing); ``live_only`` when just the
    last (forming) bar was rewritten in place."""

    changed_from: int | None
    live_only: bool = False


class CandleStore:
    def __init__(self) -> None:
        self.t = np.empty(0, dtype=np.int64)  # open time, ms
        self.o = np.empty(0)
        self.h = np.empty(0)
        self.l = np.empty(0)
        self.c = np.empty(0)
        self.v = np.empty(0)
        self.x0 = 0.0
        self._src: Sequence[Candle] | None = None
        self._objs: list[Candle | None] = []  # engine objects of rows _objs_start..
        self._objs_start = 0
        # running extremes of all rows (only widened between full rebuilds: item bounds, never
        # a visible range, so a stale wider bound costs nothing)
        self.low = math.inf
        self.high = -math.inf
        self.vmax = 0.0
        self.history_version = 0  # bumps when any row but the last changed
        self._pyramid: Pyramid | None = None
        self._pyramid_version = -1
        self.agg_cache: tuple[object, object] | None = None  # the items' last per-pixel aggregation
        self.live_version = 0  # bumps when the last row changed

    def __len__(self) -> int:
        return len(self.t)

    @property
    def x(self) -> np.ndarray:
        return np.arange(len(self.t), dtype=np.float64) + self.x0

    def row_at(self, x: float) -> int | None:
        """Row under x coordinate ``x`` (bars are centred on their x), None outside."""
        i = int(np.floor(x - self.x0 + 0.5))
        return i if 0 <= i < len(self.t) else None

    def clear(self) -> None:
        # versions keep counting: a cached picture keyed on an old version must never match again
        hv, lv = self.history_version, self.live_version
        self.__init__()  # type: ignore[misc]
        self.history_version, self.live_version = hv + 1, lv + 1

    # ------------------------------------------------------------------ sync
    def sync(self, bars: Sequence[Candle]) -> SyncResult:
        if bars is self._src:
            return SyncResult(None)
        self._src = bars
        n_old = len(self.t)
        if not bars:
            if n_old:
                self.clear()
                self.history_version += 1
                return SyncResult(0)
            return SyncResult(None)
        p = int(np.searchsorted(self.t, bars[0].open_time))
        k = p - self._objs_start
        m = 0
        if 0 <= k <= len(self._objs):
            objs = self._objs
            limit = min(len(objs) - k, len(bars))
            while m < limit and objs[k + m] is bars[m]:
                m += 1
        r = p + m  # first row that changes
        new = bars[m:]
        self._objs = [*self._objs[k : k + m], *new] if k >= 0 else list(bars)
        self._objs_start = p
        if not new and r == n_old:
            return SyncResult(None)
        if len(new) == 1 and r == n_old - 1 and self.t[r] == new[0].open_time:
            c = new[0]
            self.o[r], self.h[r], self.l[r], self.c[r], self.v[r] = c.open, c.high, c.low, c.close, c.volume
            self._widen(r)
            self.live_version += 1
            return SyncResult(r, live_only=True)
        cols = _columns(new)
        self.t = np.concatenate((self.t[:r], cols[0].astype(np.int64)))
        for name, col in zip(_FIELDS, cols[1:], strict=True):
            setattr(self, name, np.concatenate((getattr(self, name)[:r], col)))
        if r == 0:
            self.low, self.high, self.vmax = math.inf, -math.inf, 0.0
        self._widen(r)
        self.history_version += 1
        self.live_version += 1
        return SyncResult(r)

    def prepend(self, older: Sequence[Candle]) -> int:
        """Add bars older than the first row (others are ignored); returns how many were added."""
        first = self.t[0] if len(self.t) else None
        keep = sorted(
            {c.open_time: c for c in older if first is None or c.open_time < first}.values(),
            key=lambda c: c.open_time,
        )
        if not keep:
            return 0
        cols = _columns(keep)
        self.t = np.concatenate((cols[0].astype(np.int64), self.t))
        for name, col in zip(_FIELDS, cols[1:], strict=True):
            setattr(self, name, np.concatenate((col, getattr(self, name))))
        self._widen(0, len(keep))
        self._objs_start += len(keep)
        self.x0 -= len(keep)
        self.history_version += 1
        return len(keep)

    def extremes(self, r0: int, r1: int) -> tuple[float, float, float]:
        """(lowest low, highest high, max volume) of rows ``r0..r1``: whole pyramid blocks plus
        two partial edges, so autoscaling a million-bar view is cheap. The last (live) row is
        read directly."""
        n = len(self.t)
        r1 = min(r1, n)
        if r1 <= r0:
            return math.nan, math.nan, math.nan
        hist = n - 1
        lo, hi, vm = math.inf, -math.inf, 0.0
        if r1 > hist:
            lo, hi, vm = float(self.l[hist]), float(self.h[hist]), float(self.v[hist])
            r1 = hist
        if r1 > r0:
            a, b, c = self.pyramid().extremes(self.h, self.l, self.v, r0, r1)
            lo, hi, vm = min(lo, a), max(hi, b), max(vm, c)
        return lo, hi, vm

    def pyramid(self) -> Pyramid:
        """Block extremes of the history rows (rebuilt when the history changed)."""
        if self._pyramid is None or self._pyramid_version != self.history_version:
            self._pyramid = Pyramid(self.h, self.l, self.v, len(self.t) - 1, self.x0)
            self._pyramid_version = self.history_version
        return self._pyramid

    def _widen(self, r0: int, r1: int | None = None) -> None:
        if (r1 if r1 is not None else len(self.t)) <= r0:
            return
        sl = slice(r0, r1)
        self.low = min(self.low, float(self.l[sl].min()))
        self.high = max(self.high, float(self.h[sl].max()))
        self.vmax = max(self.vmax, float(self.v[sl].max()))

    def set_arrays(
        self, t: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray
    ) -> None:
        """Replace everything with ready columns (the benchmark's synthetic million bars)."""
        self.clear()
        self.t = np.asarray(t, dtype=np.int64)
        self.o, self.h, self.l, self.c, self.v = (np.asarray(a, dtype=np.float64) for a in (o, h, lo, c, v))
        self.history_version += 1
        self.low, self.high, self.vmax = self.extremes(0, len(self.t))  # one pass, blocks reused
        self.live_version += 1


def _columns(bars: Sequence[Candle]) -> list[np.ndarray]:
    if not bars:
        return [np.empty(0) for _ in range(6)]
    a = np.array([(c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in bars], dtype=np.float64)
    return [a[:, j] for j in range(6)]


# ---------------------------------------------------------------------- live bar of other intervals
_fold_last: list[tuple[tuple[Candle, ...], tuple[Candle, ...], int, tuple[Candle, ...]]] = []


def fold_live(bars: tuple[Candle, ...], base: tuple[Candle, ...], step_ms: int) -> tuple[Candle, ...]:
    """Bring a higher-interval series up to date from the live base (1m) series.

    Only the base interval is streamed live; a series loaded for the chart through REST would
    otherwise freeze at its load time. The forming bar (and any bar after it) is rebuilt from the
    base bars of its period: high/low/close/volume from them, the open from the REST bar when the
    base does not reach back to the period start. Same inputs give the same tuple object (cached),
    so an unchanged frame costs nothing downstream.
    """
    if not bars or not base or step_ms <= 0:
        return bars
    for b, ba, st, res in _fold_last:
        if b is bars and ba is base and st == step_ms:
            return res
    last = bars[-1]
    groups: dict[int, list[Candle]] = {}
    for c in reversed(base):
        if c.open_time < last.open_time:
            break
        groups.setdefault(c.open_time - c.open_time % step_ms, []).append(c)
    out = list(bars)
    for start in sorted(groups):
        parts = sorted(groups[start], key=lambda c: c.open_time)
        prev = out[-1] if out and out[-1].open_time == start else None
        from_start = parts[0].open_time == start
        bar = Candle(
            venue=last.venue,
            symbol=last.symbol,
            interval=last.interval,
            open_time=start,
            close_time=start + step_ms - 1,
            open=parts[0].open if from_start or prev is None else prev.open,
            high=max(c.high for c in parts)
            if from_start or prev is None
            else max(prev.high, *(c.high for c in parts)),
            low=min(c.low for c in parts)
            if from_start or prev is None
            else min(prev.low, *(c.low for c in parts)),
            close=parts[-1].close,
            volume=sum(c.volume for c in parts)
            if from_start or prev is None
            else max(prev.volume, sum(c.volume for c in parts)),
            closed=False,
        )
        if prev is not None:
            if prev.closed:
                continue
            out[-1] = bar
        elif start > out[-1].open_time:
            if not out[-1].closed:
                out[-1] = dataclasses.replace(out[-1], closed=True)
            out.append(bar)
    result = tuple(out)
    _fold_last[:] = [(bars, base, step_ms, result), *_fold_last[:3]]
    return result

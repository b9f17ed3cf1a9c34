"""Extremes of the history rows per block, at block sizes 64, 128, 256, ... bars.

Blocks are aligned to multiples of their size in x (not in rows), the same grid the chart's
per-pixel buckets use, so a zoomed-out frame aggregates from the level whose block size equals
its bucket: O(columns) instead of a pass over a million rows; and the y autoscale of any range
reads whole blocks plus at most two partial edges. Level 0 is built once per history version
(one pass over the rows; the live last row is never in it); level k+1 is reduced from level k
when a frame first asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BASE", "Level", "Pyramid"]

BASE = 64  # bars per block at level 0


@dataclass(frozen=True, slots=True)
class Level:
    size: int  # bars per block
    starts: np.ndarray  # first row of each block (int64, increasing)
    high: np.ndarray
    low: np.ndarray
    vmax: np.ndarray

    def ends(self, n: int) -> np.ndarray:
        return np.append(self.starts[1:], n)


class Pyramid:
    def __init__(self, high: np.ndarray, low: np.ndarray, vol: np.ndarray, n: int, x0: float) -> None:
        """Blocks over rows ``0..n`` (the history) of a store whose row 0 is at x ``x0``."""
        self.n = n
        self.levels: list[Level] = []
        self._g0 = 0
        if n <= 0:
            return
        gx0 = int(np.floor(x0))  # x of row 0 (x0 is integral in practice)
        first = (gx0 // BASE) * BASE
        starts = np.arange(first, gx0 + n, BASE, dtype=np.int64) - gx0
        starts[0] = 0  # the first block may be partial
        grid = (starts + gx0) // BASE  # grid index of each block at this level
        level = Level(
            BASE,
            starts,
            np.maximum.reduceat(high[:n], starts),
            np.minimum.reduceat(low[:n], starts),
            np.maximum.reduceat(vol[:n], starts),
        )
        self.levels.append(level)
        self._g0 = int(grid[0])  # grid cell of the first block of the top level built so far

    def level(self, size: int) -> Level | None:
        """The level with blocks of ``size`` bars (built on first use: a frame needs one)."""
        while self.levels and self.levels[-1].size < size and self.levels[-1].size <= self.n:
            self.levels.append(self._parent(self.levels[-1]))
        for lv in self.levels:
            if lv.size == size:
                return lv
        return None

    def _parent(self, lv: Level) -> Level:
        """Merge neighbouring blocks pairwise on the grid of twice the size. The blocks of a
        level sit on consecutive grid cells, so pairs are (even, odd) cells: an elementwise
        max/min of two strided views, no reduceat."""
        off = self._g0 % 2  # an odd first cell has no left partner
        m = len(lv.starts) - off
        pairs = m // 2
        end = off + 2 * pairs

        def merge(a: np.ndarray, fn: np.ufunc) -> np.ndarray:
            return np.concatenate((a[:off], fn(a[off:end:2], a[off + 1 : end : 2]), a[end:]))

        self._g0 //= 2
        return Level(
            lv.size * 2,
            np.concatenate((lv.starts[:off], lv.starts[off:end:2], lv.starts[end:])),
            merge(lv.high, np.maximum),
            merge(lv.low, np.minimum),
            merge(lv.vmax, np.maximum),
        )

    def extremes(
        self, high: np.ndarray, low: np.ndarray, vol: np.ndarray, r0: int, r1: int
    ) -> tuple[float, float, float]:
        """(min low, max high, max volume) over rows ``r0..r1`` (within the history)."""
        lo, hi, vm = np.inf, -np.inf, 0.0
        parts = [(r0, r1)]
        if self.levels and r1 - r0 > 4 * BASE:
            lv = self.levels[0]
            ends = lv.ends(self.n)
            b0 = int(np.searchsorted(lv.starts, r0, side="left"))  # first block starting at/after r0
            b1 = int(np.searchsorted(ends, r1, side="right"))  # blocks ending at/before r1
            if b1 > b0:
                lo = float(lv.low[b0:b1].min())
                hi = float(lv.high[b0:b1].max())
                vm = float(lv.vmax[b0:b1].max())
                parts = [(r0, int(lv.starts[b0])), (int(ends[b1 - 1]), r1)]
        for a, b in parts:
            if b > a:
                lo = min(lo, float(low[a:b].min()))
                hi = max(hi, float(high[a:b].max()))
                vm = max(vm, float(vol[a:b].max()))
        return lo, hi, vm

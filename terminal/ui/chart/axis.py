"""Time axis for an index-based x (bar i at x = i + x0): labels are the bars' open times in
local time, like the crosshair readout."""

from __future__ import annotations

import math
from datetime import datetime

import pyqtgraph as pg

from terminal.ui.chart.data import CandleStore

__all__ = ["TimeAxis"]


class TimeAxis(pg.AxisItem):
    def __init__(self, store: CandleStore, step_ms: int | None = None, **kw: object) -> None:
        super().__init__("bottom", **kw)
        self.store = store
        self.step_ms = step_ms or 60_000

    def time_at(self, x: float) -> int | None:
        """Open time at x; extrapolated by the interval beyond both ends (the view can pan there)."""
        s = self.store
        n = len(s)
        if n == 0:
            return None
        i = math.floor(x - s.x0 + 0.5)
        if i < 0:
            return int(s.t[0]) + i * self.step_ms
        if i >= n:
            return int(s.t[-1]) + (i - n + 1) * self.step_ms
        return int(s.t[i])

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        times = [self.time_at(v) for v in values]
        known = [t for t in times if t is not None]
        if not known:
            return ["" for _ in values]
        span = (max(known) - min(known)) if len(known) > 1 else 0
        # a day or more per label (or daily bars): dates; otherwise clock times
        fmt = "%Y-%m-%d" if spacing * self.step_ms >= 86_400_000 or self.step_ms >= 86_400_000 else "%H:%M"
        if fmt == "%H:%M" and span >= 86_400_000:
            fmt = "%m-%d %H:%M"
        return ["" if t is None else datetime.fromtimestamp(t / 1000).strftime(fmt) for t in times]

"""The chart's bar store (identity-based incremental sync, prepend, extremes) and fold_live."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from terminal.model import Candle, Venue
from terminal.ui.chart.data import CandleStore, fold_live

pytestmark = pytest.mark.timeout(30)

M = 60_000


def bar(
    i: int,
    close: float = 100.0,
    *,
    interval: str = "1m",
    step: int = M,
    closed: bool = True,
    vol: float = 1.0,
) -> Candle:
    return Candle(
        Venue.BINANCE_SPOT, "BTCUSDT", interval, i * step, i * step + step - 1,
        close - 1, close + 2, close - 3, close, vol, closed=closed,
    )  # fmt: skip


def test_sync_rewrites_only_what_changed() -> None:
    s = CandleStore()
    bars = tuple(bar(i, 100 + i) for i in range(10))
    r = s.sync(bars)
    assert r.changed_from == 0 and len(s) == 10 and s.c[-1] == 109
    assert s.sync(bars).changed_from is None  # same tuple: nothing
    hv = s.history_version
    tick = (*bars[:-1], dataclasses.replace(bars[-1], close=150.0, closed=False))
    r = s.sync(tick)
    assert r.live_only and r.changed_from == 9 and s.c[-1] == 150 and s.history_version == hv
    grown = (*tick, bar(10, 111, closed=False))
    r = s.sync(grown)
    assert not r.live_only and r.changed_from == 10 and len(s) == 11 and s.history_version == hv + 1
    # a backfill that changed a middle bar: rewritten from there
    fixed = (*grown[:4], dataclasses.replace(grown[4], close=90.0), *grown[5:])
    r = s.sync(fixed)
    assert r.changed_from == 4 and s.c[4] == 90 and s.c[10] == 111


def test_rows_the_engine_trimmed_or_older_pages_stay() -> None:
    s = CandleStore()
    bars = tuple(bar(i, 100 + i) for i in range(10, 20))
    s.sync(bars)
    assert s.prepend([bar(i, 50 + i) for i in range(5, 12)]) == 5  # overlap ignored
    assert s.x0 == -5 and len(s) == 15 and list(s.t[:6] // M) == [5, 6, 7, 8, 9, 10]
    assert s.row_at(-5) == 0 and s.row_at(0) == 5 and s.row_at(-5.6) is None
    # the engine drops its oldest bars and adds a new one: nothing is lost on the chart
    s.sync((*bars[3:], bar(20, 120)))
    assert len(s) == 16 and np.all(np.diff(s.t) == M) and s.c[-1] == 120


def test_extremes_match_a_direct_scan() -> None:
    s = CandleStore()
    n = 10_000
    rng = np.random.default_rng(2)
    c = rng.random(n) * 100
    s.set_arrays(np.arange(n) * M, c, c + rng.random(n), c - rng.random(n), c, rng.random(n))
    for r0, r1 in [(0, n), (17, 9_000), (5_000, 5_100), (n - 1, n), (1_023, 4_097)]:
        lo, hi, vm = s.extremes(r0, r1)
        assert (lo, hi, vm) == (s.l[r0:r1].min(), s.h[r0:r1].max(), s.v[r0:r1].max())


def test_fold_live_builds_the_forming_bar_from_the_base_interval() -> None:
    five = 5 * M
    bars = (
        bar(0, 100, interval="5m", step=five),
        bar(1, 101, interval="5m", step=five, closed=False, vol=2.0),
    )
    # 1m bars: the second 5m period (minutes 5..9) and the start of the third (10, 11)
    base = tuple(bar(i, 100 + i) for i in range(5, 12))
    out = fold_live(bars, base, five)
    assert [b.open_time // M for b in out] == [0, 5, 10]
    assert out[0] is bars[0]
    second = out[1]
    assert second.closed and second.close == 109 and second.open == 104 and second.high == 111
    assert second.volume == 5.0  # five 1m bars from the period start
    assert out[2].close == 111 and not out[2].closed and out[2].open == 109
    assert fold_live(bars, base, five) is out  # unchanged inputs: the same tuple


def test_pyramid_columns_equal_a_brute_force_grid_bucketing() -> None:
    from terminal.ui.chart.items import aggregate

    s = CandleStore()
    n = 20_000
    rng = np.random.default_rng(8)
    c = rng.random(n) * 10
    s.set_arrays(np.arange(37, n + 37) * M, c, c + rng.random(n), c - rng.random(n), c, rng.random(n))
    s.prepend([bar(i, 5.0) for i in range(37)])  # row 0 now at x = -37: blocks not row-aligned
    hist = len(s) - 1
    for bucket in (64, 128, 1024):
        x, o, h, lo, cl, v = aggregate(s, 0, hist, bucket)
        grid = (np.arange(hist) + int(s.x0)) // bucket
        keys = np.unique(grid)
        assert len(x) == len(keys)
        for j in (0, 1, len(keys) // 2, len(keys) - 1):
            rows = np.flatnonzero(grid == keys[j])
            assert h[j] == s.h[rows].max() and lo[j] == s.l[rows].min() and v[j] == s.v[rows].max()
            assert o[j] == s.o[rows[0]] and cl[j] == s.c[rows[-1]]
            assert x[j] == (rows[0] + rows[-1]) / 2 + s.x0
    for r0, r1 in [(0, hist), (5, 777), (1000, 19_000), (hist - 3, hist + 1)]:
        lo_, hi_, vm_ = s.extremes(r0, r1)
        assert (lo_, hi_, vm_) == (s.l[r0:r1].min(), s.h[r0:r1].max(), s.v[r0:r1].max())

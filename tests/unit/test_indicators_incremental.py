"""Incremental indicators == vectorised ones; both against textbook loops and published values.

Published values: the StockCharts ChartSchool worked-example spreadsheets (cs-rsi.xls,
cs-atr.xls, cs-bbands.xls; QQQQ and SPY daily bars), as printed there (4-6 decimals).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from terminal.indicators import atr, bollinger, ema, macd, rsi, sma, true_range
from terminal.indicators.incremental import Atr, Bollinger, Ema, Macd, Rsi, Sma

pytestmark = pytest.mark.timeout(60)

# --- published worked examples ---------------------------------------------------------------

RSI_CLOSE = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
    45.8931, 46.0328, 45.614, 46.282, 46.282, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
    46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672,
    43.4205, 42.6628, 43.1314,
]  # fmt: skip
RSI_PUBLISHED = [
    70.5328,
    66.3186,
    66.5498,
    69.4063,
    66.3552,
    57.9749,
    62.9296,
    63.2571,
    56.0593,
    62.3771,
    54.7076,
    50.4228,
    39.9898,
    41.4605,
    41.8689,
    45.4632,
    37.304,
    33.0795,
    37.773,
]  # fmt: skip  (from bar 14 on)

ATR_HIGH = [
    48.7, 48.72, 48.9, 48.87, 48.82, 49.05, 49.2, 49.35, 49.92, 50.19, 50.12, 49.66, 49.88,
    50.19, 50.36, 50.57, 50.65, 50.43, 49.63, 50.33, 50.29, 50.17, 49.32, 48.5, 48.3201, 46.8,
    47.8, 48.39, 48.66, 48.79,
]  # fmt: skip
ATR_LOW = [
    47.79, 48.14, 48.39, 48.37, 48.24, 48.635, 48.94, 48.86, 49.5, 49.87, 49.2, 48.9, 49.43,
    49.725, 49.26, 50.09, 50.3, 49.21, 48.98, 49.61, 49.2, 49.43, 48.08, 47.64, 41.55, 44.2833,
    47.31, 47.2, 47.9, 47.7301,
]  # fmt: skip
ATR_CLOSE = [
    48.16, 48.61, 48.75, 48.63, 48.74, 49.03, 49.07, 49.32, 49.91, 50.13, 49.53, 49.5, 49.75,
    50.03, 50.31, 50.52, 50.41, 49.34, 49.37, 50.23, 49.2375, 49.93, 48.43, 48.18, 46.57, 45.41,
    47.77, 47.72, 48.62, 47.85,
]  # fmt: skip
ATR_TR_PUBLISHED = [
    0.91, 0.58, 0.51, 0.5, 0.58, 0.415, 0.26, 0.49, 0.6, 0.32, 0.93, 0.76, 0.45, 0.465, 1.1,
    0.48, 0.35, 1.22, 0.65, 0.96, 1.09, 0.9325, 1.85, 0.86, 6.7701, 2.5167, 2.39, 1.19, 0.94,
    1.0599,
]  # fmt: skip
ATR_PUBLISHED = [
    0.555,
    0.593929,
    0.585791,
    0.568949,
    0.615452,
    0.61792,
    0.642354,
    0.674329,
    0.69277,
    0.775429,
    0.78147,
    1.209229,
    1.30262,
    1.38029,
    1.366698,
    1.336219,
    1.316482,
]  # fmt: skip  (from bar 13 on)

BB_CLOSE = [
    86.1557, 89.0867, 88.7829, 90.3228, 89.0671, 91.1453, 89.4397, 89.175, 86.9302, 87.6752,
    86.9596, 89.4299, 89.3221, 88.7241, 87.4497, 87.2634, 89.4985, 87.9006, 89.126, 90.7043,
    92.9001, 92.9784, 91.8021, 92.6647, 92.6843, 92.3021, 92.7725, 92.5373, 92.949, 93.2039,
    91.0669, 89.8318, 89.7435, 90.3994, 90.7387, 88.0177, 88.0867, 88.8439, 90.7781, 90.5416,
    91.3894, 90.65,
]  # fmt: skip
BB_MID_PUBLISHED = [
    88.70794,
    89.04516,
    89.239745,
    89.390705,
    89.5078,
    89.68866,
    89.7465,
    89.91314,
    90.081255,
    90.382195,
    90.65863,
    90.863995,
    90.88409,
    90.90516,
    90.988925,
    91.153375,
    91.19109,
    91.1205,
    91.167665,
    91.25027,
    91.242135,
    91.1666,
    91.05018,
]  # fmt: skip  (from bar 19 on)
BB_UPPER_PUBLISHED = [
    91.291862, 91.949268, 92.612595, 92.9342, 93.31195, 93.72845, 93.899592, 94.266255,
    94.565096, 94.786912, 95.043001, 94.907605, 94.902912, 94.89532, 94.861013, 94.673629,
    94.556593, 94.678752, 94.575786, 94.534271, 94.532306, 94.369251, 94.148503,
]  # fmt: skip
BB_LOWER_PUBLISHED = [
    86.124018, 86.141052, 85.866895, 85.84721, 85.70365, 85.64887, 85.593408, 85.560025,
    85.597414, 85.977478, 86.274259, 86.820385, 86.865268, 86.915, 87.116837, 87.633121,
    87.825587, 87.562248, 87.759544, 87.966269, 87.951964, 87.963949, 87.951857,
]  # fmt: skip


# --- textbook loops, written from the definitions ------------------------------------------


def ref_ema(x: list[float], n: int) -> list[float]:
    out = [math.nan] * len(x)
    if len(x) < n:
        return out
    a = 2 / (n + 1)
    prev = sum(x[:n]) / n
    out[n - 1] = prev
    for i in range(n, len(x)):
        prev = a * x[i] + (1 - a) * prev
        out[i] = prev
    return out


def ref_atr(h: list[float], lo: list[float], c: list[float], n: int) -> list[float]:
    tr = [h[0] - lo[0]] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(h))
    ]
    out = [math.nan] * len(h)
    if len(h) < n:
        return out
    prev = sum(tr[:n]) / n
    out[n - 1] = prev
    for i in range(n, len(h)):
        prev = (prev * (n - 1) + tr[i]) / n
        out[i] = prev
    return out


def ref_macd(x: list[float], f: int, s: int, g: int) -> tuple[list[float], list[float]]:
    line = [a - b for a, b in zip(ref_ema(x, f), ref_ema(x, s), strict=True)]
    sig = [math.nan] * (s - 1) + ref_ema(line[s - 1 :], g)
    return line, sig


# --- helpers ----------------------------------------------------------------------------------


def walk(n: int, seed: int, level: float = 30_000.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Close, high, low of a seeded random walk with a few exact repeats (zero changes)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, level * 1e-3, n)
    steps[rng.random(n) < 0.05] = 0.0
    close = level + np.cumsum(steps)
    spread = np.abs(rng.normal(0, level * 5e-4, n))
    return close, close + spread, close - spread * rng.random(n)


def same(live: list[float] | np.ndarray, vec: np.ndarray | list[float], rtol: float = 1e-9) -> None:
    a = np.asarray(live, dtype=np.float64)
    b = np.asarray(vec, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), "warm-up NaNs differ"
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=rtol, atol=1e-9)


def stream(make: Callable[[], object], xs: np.ndarray, attr: str | None = None) -> list[float]:
    ind = make()
    out = []
    for x in xs:
        v = ind.update(float(x))  # type: ignore[attr-defined]
        out.append(v if attr is None else getattr(ind, attr))
    return out


# --- incremental == vectorised on random data ------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 9, 14, 50])
def test_sma_ema_rsi_incremental_equal_vectorised(seed: int, n: int) -> None:
    close, _, _ = walk(3000, seed)
    same(stream(lambda: Sma(n), close), sma(close, n))
    same(stream(lambda: Ema(n), close), ema(close, n))
    same(stream(lambda: Rsi(n), close), rsi(close, n))


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("n", [1, 7, 14])
def test_atr_incremental_equals_vectorised(seed: int, n: int) -> None:
    close, high, low = walk(3000, seed)
    live = Atr(n)
    out = [live.update(float(h), float(lo), float(c)) for h, lo, c in zip(high, low, close, strict=True)]
    same(out, atr(high, low, close, n))


@pytest.mark.parametrize(("fast", "slow", "sig"), [(12, 26, 9), (3, 10, 4), (1, 2, 1)])
def test_macd_incremental_equals_vectorised(fast: int, slow: int, sig: int) -> None:
    close, _, _ = walk(2500, seed=6)
    m = macd(close, fast, slow, sig)
    same(stream(lambda: Macd(fast, slow, sig), close, "line"), m.line)
    same(stream(lambda: Macd(fast, slow, sig), close, "signal"), m.signal)
    same(stream(lambda: Macd(fast, slow, sig), close, "hist"), m.hist)


@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (5, 1.5), (1, 2.0)])
def test_bollinger_incremental_equals_vectorised(n: int, k: float) -> None:
    close, _, _ = walk(2000, seed=8)
    b = bollinger(close, n, k)
    same(stream(lambda: Bollinger(n, k), close), b.mid)
    same(stream(lambda: Bollinger(n, k), close, "upper"), b.upper)
    same(stream(lambda: Bollinger(n, k), close, "lower"), b.lower)


def test_long_live_session_stays_exact() -> None:
    # 200k updates at price scale 1e5: the running SMA sum is re-added every period, so it
    # cannot drift from the vectorised value; the EMA/RSI recursions agree to the last digits.
    close, _, _ = walk(200_000, seed=9, level=100_000.0)
    s, e = Sma(50), Ema(50)
    for x in close:
        s.update(float(x))
        e.update(float(x))
    assert s.value == pytest.approx(sma(close, 50)[-1], rel=1e-12)
    assert e.value == pytest.approx(ema(close, 50)[-1], rel=1e-12)


def test_flat_input_stays_exactly_flat() -> None:
    # EMA cross rules treat fast == slow as a tie: both implementations must keep it exact.
    flat = np.full(300, 101.25)
    assert np.all(ema(flat, 12)[11:] == 101.25) and np.all(ema(flat, 26)[25:] == 101.25)
    assert all(v == 101.25 for v in stream(lambda: Ema(12), flat)[11:])


def test_ready_flags_follow_warm_up() -> None:
    e, r, a, m, b = Ema(3), Rsi(3), Atr(3), Macd(2, 3, 2), Bollinger(3)
    for i, x in enumerate([1.0, 2.0, 3.0, 2.0, 5.0]):
        e.update(x), r.update(x), a.update(x + 1, x - 1, x), m.update(x), b.update(x)
        assert e.ready == (i >= 2) and a.ready == (i >= 2) and b.ready == (i >= 2)
        assert r.ready == (i >= 3) and m.ready == (i >= 3)


@pytest.mark.parametrize(
    "build",
    [lambda: Sma(0), lambda: Ema(-1), lambda: Rsi(0), lambda: Atr(0), lambda: Bollinger(0)],
)
def test_bad_period_is_rejected(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="period"):
        build()


def test_bad_macd_periods_are_rejected() -> None:
    with pytest.raises(ValueError, match="fast < slow"):
        Macd(26, 12, 9)


# --- against textbook loops ---------------------------------------------------------------------


def test_atr_and_macd_match_textbook_loops() -> None:
    close, high, low = walk(1500, seed=10)
    c, h, lo = list(close), list(high), list(low)
    ref = ref_atr(h, lo, c, 14)
    same(atr(high, low, close, 14), ref)
    live = Atr(14)
    same([live.update(x, y, z) for x, y, z in zip(h, lo, c, strict=True)], ref)
    line, sig = ref_macd(c, 12, 26, 9)
    same(stream(lambda: Macd(), close, "line"), line)
    same(stream(lambda: Macd(), close, "signal"), sig)


# --- against published values ------------------------------------------------------------------


def test_rsi_reproduces_the_published_worked_example() -> None:
    x = np.array(RSI_CLOSE)
    for out in (rsi(x, 14), np.array(stream(lambda: Rsi(14), x))):
        assert np.isnan(out[:14]).all()
        np.testing.assert_allclose(out[14:], RSI_PUBLISHED, atol=1e-3)


def test_atr_reproduces_the_published_worked_example() -> None:
    h, lo, c = np.array(ATR_HIGH), np.array(ATR_LOW), np.array(ATR_CLOSE)
    np.testing.assert_allclose(true_range(h, lo, c), ATR_TR_PUBLISHED, atol=1e-9)
    live = Atr(14)
    streamed = np.array([live.update(*bar) for bar in zip(ATR_HIGH, ATR_LOW, ATR_CLOSE, strict=True)])
    for out in (atr(h, lo, c, 14), streamed):
        assert np.isnan(out[:13]).all()
        np.testing.assert_allclose(out[13:], ATR_PUBLISHED, atol=1e-5)


def test_bollinger_reproduces_the_published_worked_example() -> None:
    x = np.array(BB_CLOSE)
    b = bollinger(x, 20, 2.0)
    mids = stream(lambda: Bollinger(20, 2.0), x)
    uppers = stream(lambda: Bollinger(20, 2.0), x, "upper")
    lowers = stream(lambda: Bollinger(20, 2.0), x, "lower")
    for mid, up, low in ((b.mid, b.upper, b.lower), (mids, uppers, lowers)):
        np.testing.assert_allclose(np.asarray(mid)[19:], BB_MID_PUBLISHED, atol=1e-5)
        np.testing.assert_allclose(np.asarray(up)[19:], BB_UPPER_PUBLISHED, atol=1e-5)
        np.testing.assert_allclose(np.asarray(low)[19:], BB_LOWER_PUBLISHED, atol=1e-5)
        assert np.isnan(np.asarray(mid)[:19]).all()


def test_true_range_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        true_range(np.ones(3), np.ones(2), np.ones(3))

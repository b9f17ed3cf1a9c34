"""Indicators against plain reference loops (the textbook recursions, one bar at a time)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from terminal.indicators import bollinger, ema, macd, rsi, sma

pytestmark = pytest.mark.timeout(60)


def ref_sma(x: list[float], n: int) -> list[float]:
    return [math.nan if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


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


def ref_rsi(x: list[float], n: int) -> list[float]:
    out = [math.nan] * len(x)
    if len(x) <= n:
        return out
    d = [x[i] - x[i - 1] for i in range(1, len(x))]
    ag = sum(max(v, 0) for v in d[:n]) / n
    al = sum(max(-v, 0) for v in d[:n]) / n

    def value(g: float, lo: float) -> float:
        if g + lo == 0:
            return 50.0
        return 100.0 if lo == 0 else 100 - 100 / (1 + g / lo)

    out[n] = value(ag, al)
    for i in range(n, len(d)):
        ag = (ag * (n - 1) + max(d[i], 0)) / n
        al = (al * (n - 1) + max(-d[i], 0)) / n
        out[i + 1] = value(ag, al)
    return out


def ref_std(x: list[float], n: int) -> list[float]:
    out = []
    for i in range(len(x)):
        if i < n - 1:
            out.append(math.nan)
            continue
        w = x[i - n + 1 : i + 1]
        m = sum(w) / n
        out.append(math.sqrt(sum((v - m) ** 2 for v in w) / n))
    return out


def prices(n: int, seed: int = 7, level: float = 60_000.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + np.cumsum(rng.normal(0, 25, n))


def close(a: np.ndarray, b: list[float], rtol: float = 1e-9) -> None:
    b_arr = np.asarray(b, dtype=np.float64)
    assert a.shape == b_arr.shape
    assert np.array_equal(np.isnan(a), np.isnan(b_arr)), "warm-up NaNs differ"
    np.testing.assert_allclose(a[~np.isnan(a)], b_arr[~np.isnan(b_arr)], rtol=rtol, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 14, 50])
def test_sma_and_ema_match_reference_loops(n: int) -> None:
    x = prices(3000)
    close(sma(x, n), ref_sma(list(x), n))
    close(ema(x, n), ref_ema(list(x), n))


def test_ema_is_exact_over_many_blocks() -> None:
    # period 2 has a block length of ~16: 5000 bars cross hundreds of block seams
    x = prices(5000, seed=3)
    close(ema(x, 2), ref_ema(list(x), 2), rtol=1e-11)
    close(ema(x, 200), ref_ema(list(x), 200), rtol=1e-11)


@pytest.mark.parametrize("n", [2, 14])
def test_rsi_wilder_matches_reference(n: int) -> None:
    x = prices(2000, seed=11)
    close(rsi(x, n), ref_rsi(list(x), n))
    r = rsi(x, n)
    assert np.nanmin(r) >= 0 and np.nanmax(r) <= 100


def test_rsi_edge_values() -> None:
    up = np.arange(30, dtype=np.float64)
    assert np.all(rsi(up, 14)[14:] == 100.0)
    assert np.all(rsi(-up, 14)[14:] == 0.0)
    assert np.all(rsi(np.full(30, 5.0), 14)[14:] == 50.0)


def test_bollinger_matches_reference() -> None:
    x = prices(1500, seed=5)
    b = bollinger(x, 20, 2.0)
    std = ref_std(list(x), 20)
    mid = ref_sma(list(x), 20)
    close(b.mid, mid)
    close(b.upper, [m + 2 * s for m, s in zip(mid, std, strict=True)])
    close(b.lower, [m - 2 * s for m, s in zip(mid, std, strict=True)])


def test_macd_matches_reference() -> None:
    x = prices(1000, seed=9)
    m = macd(x, 12, 26, 9)
    line = [f - s for f, s in zip(ref_ema(list(x), 12), ref_ema(list(x), 26), strict=True)]
    close(m.line, line)
    sig = [math.nan] * 25 + ref_ema(line[25:], 9)
    close(m.signal, sig)
    close(m.hist, [a - b for a, b in zip(line, sig, strict=True)])
    assert np.isnan(m.signal[:33]).all() and not np.isnan(m.signal[33])


@pytest.mark.parametrize("n_bars", [0, 1, 5, 13])
def test_short_input_is_all_nan(n_bars: int) -> None:
    x = prices(n_bars)
    for out in (sma(x, 14), ema(x, 14), rsi(x, 14), *bollinger(x, 14), *macd(x)):
        assert len(out) == n_bars and np.isnan(out).all()


def test_precision_at_a_million_bars() -> None:
    x = prices(1_000_000, seed=1, level=100_000.0)
    tail = list(x[-400:])
    # the SMA of the last window from cumulative sums equals the direct mean (to ~1e-11: the
    # running sum of deviations over 1e6 bars costs a few digits, far below a tick)
    assert sma(x, 200)[-1] == pytest.approx(sum(tail[-200:]) / 200, rel=1e-10)
    # the EMA has forgotten its seed after 400 bars of period 20: compare with a loop on the tail
    assert ema(x, 20)[-1] == pytest.approx(ref_ema(tail, 20)[-1], rel=1e-9)


def test_bad_period_is_rejected() -> None:
    with pytest.raises(ValueError):
        sma(prices(10), 0)
    with pytest.raises(ValueError):
        macd(prices(10), 26, 12)

"""Synthetic 1-minute candle history, continuous with the live market generator.

The path is the same kind of process the live generator runs (a geometric random
walk whose volatility switches between quiet/normal/busy regimes, plus rare jumps),
vectorised with numpy. It is generated backwards from the live start: the last
bar's close is exactly ``start_price``, where the generator's fair value starts, so
a chart drawn from history + live candles has no seam.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

MINUTE_MS = 60_000
SUBSTEPS = 12  # intrabar path points per minute, for high/low


@dataclass(frozen=True, slots=True)
class Regime:
    """Volatility regime of the fair-value walk (BTC scale; symbols multiply ``sigma``)."""

    name: str
    sigma_per_sqrt_s: float  # log-return stdev per sqrt(second)
    mean_dwell_s: float
    flow: float  # relative trading intensity (volume, taker rate)


# BTC-like: ~60 bp/h quiet, ~0.85 %/h normal, ~1.6 %/h busy. Dwell times of seconds to
# minutes, modulated by a slow activity factor (hours), give roughly 4-5 % per day.
REGIMES: tuple[Regime, ...] = (
    Regime("quiet", 0.0060 / 60.0, 300.0, 0.6),
    Regime("normal", 0.0085 / 60.0, 150.0, 1.0),
    Regime("busy", 0.016 / 60.0, 45.0, 2.5),
)
# Where a regime goes when it ends (rows: from, cols: to; diagonal unused).
REGIME_NEXT = np.array(
    [
        [0.0, 0.9, 0.1],
        [0.6, 0.0, 0.4],
        [0.3, 0.7, 0.0],
    ]
)
JUMP_RATE_PER_S = (1 / 3600, 1 / 1800, 1 / 300)  # per regime
JUMP_SIGMA = 0.002  # log size of a jump (BTC scale)
# Slow activity: log volatility multiplier, an OU process (sessions, news days).
ACTIVITY_SD = 0.35
ACTIVITY_TAU_S = 3 * 3600.0


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    vol_mult: float  # volatility relative to BTC
    quote_volume_per_day: float  # USDT traded per day (for volume and trade counts)
    avg_trade_quote: float  # USDT per trade


_PROFILES: dict[str, SymbolProfile] = {
    "BTCUSDT": SymbolProfile(1.0, 1.5e9, 600.0),
    "ETHUSDT": SymbolProfile(1.3, 8e8, 400.0),
    "SOLUSDT": SymbolProfile(1.8, 3e8, 250.0),
    "BNBUSDT": SymbolProfile(1.1, 1e8, 200.0),
    "XRPUSDT": SymbolProfile(1.6, 2e8, 150.0),
    "DOGEUSDT": SymbolProfile(2.0, 1.5e8, 120.0),
}
_DEFAULT_PROFILE = SymbolProfile(1.5, 5e7, 100.0)


def symbol_profile(symbol: str) -> SymbolProfile:
    return _PROFILES.get(symbol, _DEFAULT_PROFILE)


def symbol_key(symbol: str) -> int:
    """A stable integer for seeding per-symbol streams (independent of symbol order)."""
    return zlib.crc32(symbol.encode())


@dataclass(frozen=True, slots=True)
class HistoryBars:
    """1-minute bars, oldest first. Prices are floats; the market rounds them to ticks."""

    open_ms: np.ndarray  # int64
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # float64, base asset
    trades: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.open_ms.shape[0])


def regime_path(rng: np.random.Generator, n_minutes: int) -> np.ndarray:
    """Regime index per minute from the Markov chain (one Python step per regime spell)."""
    out = np.empty(n_minutes, dtype=np.int8)
    cum_next = np.cumsum(REGIME_NEXT, axis=1)
    dwell_s = [r.mean_dwell_s for r in REGIMES]
    # Draws in blocks: at least one minute per spell, so n_minutes spells always suffice.
    block = max(16, n_minutes // 2)
    expo, unif = rng.standard_exponential(block).tolist(), rng.random(block).tolist()
    state = int(rng.integers(0, len(REGIMES)))
    pos = i = 0
    while pos < n_minutes:
        if i == block:
            expo, unif, i = rng.standard_exponential(block).tolist(), rng.random(block).tolist(), 0
        dwell_min = max(1, round(expo[i] * dwell_s[state] / 60.0))
        out[pos : pos + dwell_min] = state
        pos += dwell_min
        state = int(np.searchsorted(cum_next[state], unif[i], side="right"))
        i += 1
    return out


def activity_path(rng: np.random.Generator, n_minutes: int) -> np.ndarray:
    """Slow log-volatility factor per minute: hourly OU knots, linearly interpolated."""
    knots = n_minutes // 60 + 2
    phi = np.exp(-3600.0 / ACTIVITY_TAU_S)
    shocks = rng.standard_normal(knots) * ACTIVITY_SD * np.sqrt(1 - phi * phi)
    x = np.empty(knots)
    x[0] = rng.standard_normal() * ACTIVITY_SD
    for k in range(1, knots):
        x[k] = phi * x[k - 1] + shocks[k]
    # The live generator continues from the last knot, so history ends on one.
    minutes = np.arange(n_minutes) + (knots - 1) * 60 - n_minutes + 1
    return np.interp(minutes, np.arange(knots) * 60, x)


def generate_history(symbol: str, start_price: float, days: float, seed: int, end_ms: int) -> HistoryBars:
    """``days`` of 1m bars ending with the bar that opens at the minute before ``end_ms``.

    The last close equals ``start_price`` (the live generator's starting fair value).
    Deterministic in (symbol, days, seed, end_ms).
    """
    n = round(days * 1440)
    if n <= 0:
        empty_f = np.empty(0, dtype=np.float64)
        return HistoryBars(
            np.empty(0, np.int64), empty_f, empty_f, empty_f, empty_f, empty_f, np.empty(0, np.int64)
        )
    prof = symbol_profile(symbol)
    rng = np.random.Generator(np.random.PCG64([seed, symbol_key(symbol), 0x415]))  # history stream
    regimes = regime_path(rng, n)

    activity = np.exp(activity_path(rng, n))

    sigma_s = np.array([r.sigma_per_sqrt_s for r in REGIMES]) * prof.vol_mult
    flow = np.array([r.flow for r in REGIMES])
    jump_rate = np.array(JUMP_RATE_PER_S) * 60.0 / SUBSTEPS

    # Intrabar log-returns: n x SUBSTEPS, regime- and activity-scaled, with rare jumps.
    bar_sigma = sigma_s[regimes] * activity * np.sqrt(60.0)
    sub_sigma = bar_sigma / np.sqrt(SUBSTEPS)
    rets = rng.standard_normal((n, SUBSTEPS)) * sub_sigma[:, None]
    jumps = rng.random((n, SUBSTEPS)) < jump_rate[regimes][:, None]
    rets += jumps * rng.standard_normal((n, SUBSTEPS)) * (JUMP_SIGMA * prof.vol_mult)

    # Cumulative log price at every substep; anchor so the final point is log(start_price).
    path = np.cumsum(rets.ravel()).reshape(n, SUBSTEPS)
    path += np.log(start_price) - path[-1, -1]
    close_log = path[:, -1]
    open_log = np.empty(n)
    open_log[0] = path[0, 0] - rets[0, 0]
    open_log[1:] = close_log[:-1]
    # Discrete substeps miss the true extremes: stretch them by a half-substep excursion.
    excursion = np.abs(rng.standard_normal((n, 2))) * sub_sigma[:, None] * 0.5
    high_log = np.maximum(path.max(axis=1), open_log) + excursion[:, 0]
    low_log = np.minimum(path.min(axis=1), open_log) - excursion[:, 1]

    open_p, close_p = np.exp(open_log), np.exp(close_log)
    high_p, low_p = np.exp(high_log), np.exp(low_log)
    close_p[-1] = start_price  # exact, not exp(log(x)) round-off
    high_p[-1] = max(high_p[-1], start_price)
    low_p[-1] = min(low_p[-1], start_price)

    # Volume: regime intensity x (1 + |return| in sigmas) x lognormal noise, in base units.
    bar_ret = close_log - open_log
    intensity = flow[regimes] * activity * (0.5 + 0.5 * np.abs(bar_ret) / bar_sigma)
    intensity *= rng.lognormal(0.0, 0.35, n)
    quote_per_min = prof.quote_volume_per_day / 1440.0
    quote_vol = quote_per_min * intensity / intensity.mean()
    typical = (open_p + close_p + high_p + low_p) / 4.0
    volume = quote_vol / typical
    trade_size = prof.avg_trade_quote * rng.lognormal(0.0, 0.25, n)
    trades = np.maximum(1, np.rint(quote_vol / trade_size)).astype(np.int64)

    last_open = (end_ms // MINUTE_MS) * MINUTE_MS - MINUTE_MS
    open_ms = last_open - MINUTE_MS * np.arange(n - 1, -1, -1, dtype=np.int64)
    return HistoryBars(open_ms, open_p, high_p, low_p, close_p, volume, trades)

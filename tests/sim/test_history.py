"""Synthetic 1m candle history: shapes, OHLC consistency, continuity, determinism, realism."""

from __future__ import annotations

import numpy as np
import pytest

from terminal.model.enums import Venue
from terminal.sim.build import build_exchange
from terminal.sim.exchange import SimConfig
from terminal.sim.history import MINUTE_MS, HistoryBars, generate_history
from terminal.sim.instruments import known_symbols, make_instrument

END_MS = 1_760_000_123_456  # mid-minute on purpose
DAYS = 14


def _btc(seed: int = 1, days: float = DAYS) -> HistoryBars:
    return generate_history("BTCUSDT", 65000.0, days, seed, END_MS)


@pytest.mark.timeout(30)
def test_shapes_dtypes_and_minute_grid() -> None:
    bars = _btc()
    n = DAYS * 1440
    assert len(bars) == n
    for name in ("open", "high", "low", "close", "volume"):
        arr = getattr(bars, name)
        assert arr.shape == (n,) and arr.dtype == np.float64, name
    assert bars.open_ms.dtype == np.int64 and bars.trades.dtype == np.int64
    # Contiguous minutes, the last one being the minute before END_MS's minute.
    assert np.all(np.diff(bars.open_ms) == MINUTE_MS)
    assert np.all(bars.open_ms % MINUTE_MS == 0)
    assert bars.open_ms[-1] == END_MS // MINUTE_MS * MINUTE_MS - MINUTE_MS
    assert np.all(bars.volume > 0) and np.all(bars.trades >= 1)


@pytest.mark.timeout(30)
def test_ohlc_consistent_and_continuous() -> None:
    for symbol in known_symbols():
        start = float(make_instrument(Venue.BINANCE_SPOT, symbol).start_price)
        bars = generate_history(symbol, start, DAYS, 3, END_MS)
        assert np.all(bars.low <= np.minimum(bars.open, bars.close)), symbol
        assert np.all(bars.high >= np.maximum(bars.open, bars.close)), symbol
        assert np.all(bars.low > 0), symbol
        # Each bar opens where the previous one closed.
        np.testing.assert_allclose(bars.open[1:], bars.close[:-1], rtol=1e-12)
        # The chart ends exactly where the live fair value starts.
        assert bars.close[-1] == start


@pytest.mark.timeout(30)
def test_seeded_determinism() -> None:
    a, b = _btc(seed=5), _btc(seed=5)
    for name in ("open_ms", "open", "high", "low", "close", "volume", "trades"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.close, _btc(seed=6).close)
    eth = generate_history("ETHUSDT", 65000.0, DAYS, 5, END_MS)
    assert not np.array_equal(a.close, eth.close)  # symbols get their own streams


@pytest.mark.timeout(30)
def test_realistic_volatility_and_volume() -> None:
    daily = []
    for seed in range(1, 6):
        bars = _btc(seed=seed)
        r = np.diff(np.log(bars.close))
        daily.append(r.std() * np.sqrt(1440))
        # Volume goes with the size of the move.
        abs_ret = np.abs(np.log(bars.close / bars.open))
        assert np.corrcoef(abs_ret, bars.volume * bars.close)[0, 1] > 0.2
        # Intrabar range is never absurd for BTC (a 1-minute bar within 3 %).
        assert np.max(bars.high / bars.low) < 1.03
    # "Several percent per day" for BTC.
    assert 0.02 < float(np.mean(daily)) < 0.07
    # BTC daily traded volume of the right order (thousands of BTC).
    bars = _btc()
    per_day = bars.volume.sum() / DAYS
    assert 3_000 < per_day < 100_000


@pytest.mark.timeout(30)
def test_volatility_clusters_in_regimes() -> None:
    bars = _btc(seed=2)
    r = np.diff(np.log(bars.close))
    hourly_sd = r[: len(r) // 60 * 60].reshape(-1, 60).std(axis=1)
    # Regime switching: calm and busy hours differ by a wide margin.
    assert np.percentile(hourly_sd, 90) > 1.8 * np.percentile(hourly_sd, 10)


@pytest.mark.timeout(30)
def test_all_symbols_fourteen_days_quickly() -> None:
    # Sanity, not a benchmark: all symbols x 14 days in a handful of numpy passes.
    total = sum(len(generate_history(s, 100.0, DAYS, 1, END_MS)) for s in known_symbols())
    assert total == len(known_symbols()) * DAYS * 1440


@pytest.mark.timeout(30)
def test_empty_history() -> None:
    bars = generate_history("BTCUSDT", 65000.0, 0, 1, END_MS)
    assert len(bars) == 0


@pytest.mark.timeout(30)
def test_markets_serve_history_ending_at_the_live_start() -> None:
    exchange = build_exchange(SimConfig(symbols=("BTCUSDT", "XRPUSDT"), history_days=1, generator=False))
    for venue, market in exchange.markets.items():
        for symbol in ("BTCUSDT", "XRPUSDT"):
            inst = market.instruments[symbol]
            bars = market.klines(symbol, MINUTE_MS, None, None, 1000)
            closed = [k for k in bars if k.closed]
            assert len(closed) >= 900, (venue, symbol)
            assert all(k.low <= min(k.open, k.close) and k.high >= max(k.open, k.close) for k in closed)
            # The last history bar closes at the instrument's start price: no seam to live data.
            # (No live trades happened, so bars with volume are history; flat fillers may follow.)
            history_last = [k for k in closed if k.volume > 0][-1]
            assert history_last.close == inst.ticks_nearest(inst.start_price), (venue, symbol)

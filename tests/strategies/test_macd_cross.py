"""MACD crossover: waits for a real cross; on_candle == target_positions; the scheduled sweep."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from terminal.model import Side
from terminal.strategies import IntentAction, ParamError, StrategyError
from terminal.strategies.macd_cross import MacdCross, MacdCrossParams
from tests.strategies.ctx import FakeContext, HistoryContext, bars_from_close, candles, random_walk, spot
from tests.strategies.replay import changes, step_all

pytestmark = pytest.mark.timeout(60)

# flat, up, down, up: the histogram is exactly 0 while flat, turns positive on the first rise
# (no cross: it was 0, not negative), crosses below during the fall and above in the second rise
V = (
    [100.0] * 40
    + [100.0 + i for i in range(1, 21)]
    + [120.0 - i for i in range(1, 21)]
    + [100.0 + i for i in range(1, 21)]
)
P = {"fast": 3, "slow": 6, "signal": 3}


def ref_ema(x: list[float], n: int) -> list[float]:
    out = [math.nan] * len(x)
    a, prev = 2 / (n + 1), sum(x[:n]) / n
    out[n - 1] = prev
    for i in range(n, len(x)):
        prev = a * x[i] + (1 - a) * prev
        out[i] = prev
    return out


def ref_hist(x: list[float]) -> list[float]:
    line = [f - s for f, s in zip(ref_ema(x, 3), ref_ema(x, 6), strict=True)]
    sig = [math.nan] * 5 + ref_ema(line[5:], 3)
    return [a - b for a, b in zip(line, sig, strict=True)]


def crossings(x: list[float]) -> tuple[int, int]:
    """(first bar with hist < 0, first later bar with hist > 0) from the textbook loops."""
    h = ref_hist(x)
    assert all(v == 0 for v in h[7:40]) and all(v > 0 for v in h[40:45])
    down = next(i for i in range(40, len(h)) if h[i] < 0)
    up = next(i for i in range(down, len(h)) if h[i] > 0)
    return down, up


def test_enters_only_after_a_real_cross_long_only() -> None:
    down, up = crossings(V)
    assert 60 <= down < 80 <= up < 100  # in the fall and in the second rise
    s = MacdCross(MacdCrossParams(**P), spot())
    targets, intents = step_all(s, candles(bars_from_close(V)))
    assert [(i, it.action, it.side, it.price) for i, it in intents] == [
        (up, IntentAction.OPEN, Side.BUY, Decimal(repr(V[up])))
    ]
    assert not targets[:up].any() and targets[up:].all()


def test_shorts_the_bearish_cross_on_derivatives() -> None:
    down, up = crossings(V)
    s = MacdCross(MacdCrossParams(**P, allow_short=True), FakeContext())
    _, intents = step_all(s, candles(bars_from_close(V)))
    assert [(i, it.action, it.side) for i, it in intents] == [
        (down, IntentAction.OPEN, Side.SELL),
        (up, IntentAction.CLOSE, Side.BUY),
        (up, IntentAction.OPEN, Side.BUY),
    ]


@pytest.mark.parametrize("shorts", [False, True])
def test_on_candle_equals_target_positions(shorts: bool) -> None:
    bars = bars_from_close(random_walk(20_000, seed=5))
    params = MacdCrossParams(allow_short=shorts)
    targets, intents = step_all(MacdCross(params, FakeContext()), candles(bars))
    fast = MacdCross(params, FakeContext()).target_positions(bars)
    assert fast is not None
    np.testing.assert_array_equal(targets, fast)
    assert len(intents) == changes(targets) > 100


# -- scheduled sweep


def history(close: list[float]) -> dict[str, np.ndarray]:
    return bars_from_close(close, "1d")


def sweep_ctx(**kw: object) -> HistoryContext:
    down, _ = crossings(V)
    return HistoryContext(
        symbol="BTCUSDT",
        shortable=False,
        history={
            ("BTCUSDT", "1d"): history(V),  # bullish after the second cross: wants long
            ("ETHUSDT", "1d"): history(V[: down + 1]),  # just crossed down: wants flat
            ("SOLUSDT", "1d"): history(V),  # wants long, already holds
            ("XRPUSDT", "1d"): history(V[:5]),  # too little history
        },
        positions={"ETHUSDT": Decimal("2"), "SOLUSDT": Decimal("1")},
        prices={"BTCUSDT": Decimal("120.5")},
        **kw,  # type: ignore[arg-type]
    )


def sweep_params(**kw: object) -> MacdCrossParams:
    return MacdCrossParams(
        **P, timeframe="1d", schedule="0 0 * * *", symbols=("btcusdt", "ETHUSDT", "SOLUSDT", "XRPUSDT"), **kw
    )  # type: ignore[arg-type]


def test_sweep_buys_bullish_closes_bearish_and_skips_short_history() -> None:
    s = MacdCross(sweep_params(), sweep_ctx())
    assert s.schedule() == "0 0 * * *" and s.timeframes() == ()
    intents = s.on_schedule(1_800_000_000_000)
    assert [(it.symbol, it.action, it.side, it.price) for it in intents] == [
        ("BTCUSDT", IntentAction.OPEN, Side.BUY, Decimal("120.5")),  # the live price when known
        ("ETHUSDT", IntentAction.CLOSE, Side.SELL, Decimal(repr(V[crossings(V)[0]]))),  # else the last close
    ]
    assert all(it.at_ms == 1_800_000_000_000 and it.strategy == "macd_cross" for it in intents)
    skips = s.drain_skips()
    assert [(k.symbol, k.reason, k.at_ms) for k in skips] == [
        ("XRPUSDT", "5 1d bars, need 10", 1_800_000_000_000)
    ]
    assert s.drain_skips() == []


def test_sweep_without_symbols_uses_the_armed_one() -> None:
    params = MacdCrossParams(**P, timeframe="1d", schedule="30 1 * * 1-5")
    intents = MacdCross(params, sweep_ctx()).on_schedule(1)
    assert [(it.symbol, it.action) for it in intents] == [("BTCUSDT", IntentAction.OPEN)]


def test_sweep_needs_a_host_with_candles() -> None:
    with pytest.raises(StrategyError, match="candles"):
        MacdCross(sweep_params(), FakeContext()).on_schedule(1)


def test_candle_mode_ignores_schedule_calls() -> None:
    assert MacdCross(MacdCrossParams(**P), sweep_ctx()).on_schedule(1) == ()


def test_param_validation() -> None:
    with pytest.raises(ParamError, match="schedule must be a cron"):
        MacdCrossParams(schedule="every day")
    with pytest.raises(ParamError, match="schedule must be a cron"):
        MacdCrossParams(schedule="0 0 * *")
    with pytest.raises(ParamError, match="symbols: 'BTC/USDT'"):
        MacdCrossParams(symbols=("BTC/USDT",))
    with pytest.raises(ParamError, match="fast must be below slow"):
        MacdCrossParams(fast=9, slow=9)
    assert MacdCrossParams(symbols=(" ethusdt ",)).symbols == ("ETHUSDT",)

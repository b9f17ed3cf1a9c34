"""RSI + SMA trend filter: exact intents on hand-computed data; on_candle == target_positions."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from terminal.indicators import rsi, sma
from terminal.model import Side
from terminal.strategies import IntentAction, ParamError
from terminal.strategies.rsi_sma import RsiSma, RsiSmaParams
from tests.strategies.ctx import FakeContext, bars_from_close, candles, random_walk, spot
from tests.strategies.replay import changes, step_all

pytestmark = pytest.mark.timeout(60)

# RSI(2), Wilder; SMA(8). Seven +10 steps (RSI 100), then -25 and +30:
# bar 8: avg gain (10+0)/2 = 5, avg loss (0+25)/2 = 12.5 -> RSI 28.57 < 30;
#        SMA8 = (110+...+170+145)/8 = 140.625 < close 145 -> long
# bar 9: avg gain (5+30)/2 = 17.5, avg loss 6.25 -> RSI 73.68 > 70 -> exit
UP = [100, 110, 120, 130, 140, 150, 160, 170, 145, 175]
DOWN = [200 - x for x in UP]  # the mirror image: short at bar 8, cover at bar 9
PARAMS = {"rsi_period": 2, "sma_period": 8, "oversold": 30.0, "overbought": 70.0}


def test_hand_values_hold() -> None:
    x = np.array(UP, dtype=float)
    assert rsi(x, 2)[8] == pytest.approx(100 * 5 / 17.5) and rsi(x, 2)[9] == pytest.approx(100 * 17.5 / 23.75)
    assert sma(x, 8)[8] == 140.625


@pytest.mark.parametrize("ctx", [FakeContext(), spot()], ids=["derivatives", "spot"])
def test_buys_the_oversold_dip_in_an_uptrend_and_exits_overbought(ctx: FakeContext) -> None:
    s = RsiSma(RsiSmaParams(**PARAMS), ctx)
    targets, intents = step_all(s, candles(bars_from_close(UP)))
    assert targets.tolist() == [0] * 8 + [1, 0]
    assert [(i, it.action, it.side, it.price) for i, it in intents] == [
        (8, IntentAction.OPEN, Side.BUY, Decimal("145.0")),
        (9, IntentAction.CLOSE, Side.SELL, Decimal("175.0")),
    ]
    assert "RSI2 28.57" in intents[0][1].reason and "SMA8 140.625" in intents[0][1].reason


def test_short_side_only_with_allow_short_on_derivatives() -> None:
    s = RsiSma(RsiSmaParams(**PARAMS, allow_short=True), FakeContext())
    targets, intents = step_all(s, candles(bars_from_close(DOWN)))
    assert targets.tolist() == [0] * 8 + [-1, 0]
    assert [(i, it.action, it.side, it.price) for i, it in intents] == [
        (8, IntentAction.OPEN, Side.SELL, Decimal("55.0")),
        (9, IntentAction.CLOSE, Side.BUY, Decimal("25.0")),
    ]
    for ctx, allow in ((FakeContext(), False), (spot(), True)):
        s = RsiSma(RsiSmaParams(**PARAMS, allow_short=allow), ctx)
        targets, intents = step_all(s, candles(bars_from_close(DOWN)))
        assert intents == [] and not targets.any()


def test_a_dip_through_the_sma_is_not_bought() -> None:
    # a -40 dip: RSI2 = 5 / (5 + 20) = 20 < 30, but the close 130 is below SMA8 138.75
    close = [*UP[:8], 130]
    assert (
        sma(np.array(close, dtype=float), 8)[8] == 138.75 and rsi(np.array(close, dtype=float), 2)[8] == 20.0
    )
    s = RsiSma(RsiSmaParams(**PARAMS), FakeContext())
    targets, intents = step_all(s, candles(bars_from_close(close)))
    assert intents == [] and not targets.any()


@pytest.mark.parametrize("shorts", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_on_candle_equals_target_positions(shorts: bool, seed: int) -> None:
    close = random_walk(20_000, seed=seed, vol=0.006)
    bars = bars_from_close(close)
    params = RsiSmaParams(rsi_period=3, sma_period=50, allow_short=shorts)
    targets, intents = step_all(RsiSma(params, FakeContext()), candles(bars))
    fast = RsiSma(params, FakeContext()).target_positions(bars)
    assert fast is not None
    np.testing.assert_array_equal(targets, fast)
    assert len(intents) == changes(targets) > 100
    if shorts:  # the reversal branch (exit long and short on one bar) is exercised
        assert np.any(targets[1:] * targets[:-1] == -1)


def test_param_validation() -> None:
    with pytest.raises(ParamError, match="oversold must be below overbought"):
        RsiSmaParams(oversold=70, overbought=30)
    with pytest.raises(ParamError, match="rsi_period must be >= 1"):
        RsiSma(RsiSmaParams(rsi_period=0), FakeContext())
    with pytest.raises(ParamError, match="overbought must be <= 100"):
        RsiSma(RsiSmaParams(overbought=120), FakeContext())


def test_warmup() -> None:
    assert RsiSma(RsiSmaParams(rsi_period=14, sma_period=200), FakeContext()).warmup_bars() == 200
    assert RsiSma(RsiSmaParams(rsi_period=30, sma_period=10), FakeContext()).warmup_bars() == 31

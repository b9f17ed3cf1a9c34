"""EMA cross: exact intents on hand-computed data; on_candle == target_positions bar for bar."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from terminal.indicators import ema
from terminal.model import Side
from terminal.strategies import EntryKind, IntentAction, ParamError
from terminal.strategies.ema_cross import EmaCross, EmaCrossParams
from tests.strategies.ctx import FakeContext, bars_from_close, candles, random_walk, spot
from tests.strategies.replay import changes, step_all

pytestmark = pytest.mark.timeout(60)

# fast EMA(1) is the close itself; slow EMA(3) (alpha 1/2) is seeded at bar 2 with the mean 10:
# bar:        0   1   2   3    4      5      6       7        8
# close:     10  10  10  10   13     13      7       7       10
# EMA3:       -   -  10  10   11.5   12.25   9.625   8.3125   9.15625
# sign:       -   -   0   0   +      +       -       -        +
HAND = [10, 10, 10, 10, 13, 13, 7, 7, 10]


def run(ctx: FakeContext, close: list[float], **kw: object):
    s = EmaCross(EmaCrossParams(timeframe="1h", fast=kw.pop("fast", 1), slow=kw.pop("slow", 3), **kw), ctx)  # type: ignore[arg-type]
    return s, *step_all(s, candles(bars_from_close(close)))


def test_hand_computed_crosses_on_derivatives() -> None:
    _, targets, intents = run(FakeContext(), HAND)
    assert targets.tolist() == [0, 0, 0, 0, 1, 1, -1, -1, 1]
    got = [(i, it.action, it.side, it.price) for i, it in intents]
    assert got == [
        (4, IntentAction.OPEN, Side.BUY, Decimal("13.0")),
        (6, IntentAction.CLOSE, Side.SELL, Decimal("7.0")),
        (6, IntentAction.OPEN, Side.SELL, Decimal("7.0")),
        (8, IntentAction.CLOSE, Side.BUY, Decimal("10.0")),
        (8, IntentAction.OPEN, Side.BUY, Decimal("10.0")),
    ]
    first = intents[0][1]
    assert first.strategy == "ema_cross" and first.symbol == "BTCUSDT" and first.entry is EntryKind.MARKET
    assert first.stop is None and first.at_ms == candles(bars_from_close(HAND))[4].close_time
    assert "EMA1" in first.reason and "EMA3" in first.reason


def test_spot_never_shorts() -> None:
    _, targets, intents = run(spot(), HAND)
    assert targets.tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 1]
    assert [(i, it.action, it.side) for i, it in intents] == [
        (4, IntentAction.OPEN, Side.BUY),
        (6, IntentAction.CLOSE, Side.SELL),
        (8, IntentAction.OPEN, Side.BUY),
    ]


def test_allow_short_off_on_derivatives_is_long_only() -> None:
    _, targets, _ = run(FakeContext(), HAND, allow_short=False)
    assert targets.tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 1]


def test_a_tie_keeps_the_previous_side() -> None:
    # after the cross the price stays at 13: EMA3 converges onto 13 exactly (a tie), the
    # position must stay long, in both code paths
    close = [10, 10, 10, 13] + [13] * 80
    assert ema(np.array(close, dtype=float), 3)[-1] == 13.0  # the tie really happens
    s, targets, intents = run(FakeContext(), close)
    assert targets[3:].tolist() == [1] * 81
    assert [(i, it.action) for i, it in intents] == [(3, IntentAction.OPEN)]
    assert s.targets(bars_from_close(close)).tolist() == targets.tolist()


def test_stop_pct_puts_a_stop_on_entries_and_disables_the_fast_path() -> None:
    s, _, intents = run(FakeContext(), HAND, stop_pct=2.0)
    opens = [it for _, it in intents if it.action is IntentAction.OPEN]
    assert opens[0].stop == Decimal("12.74")  # 13 * 0.98
    assert opens[1].stop == Decimal("7.14")  # short at 7: 7 * 1.02
    assert s.target_positions(bars_from_close(HAND)) is None


@pytest.mark.parametrize(("fast", "slow"), [(12, 26), (5, 50), (2, 3)])
@pytest.mark.parametrize("shortable", [True, False])
def test_on_candle_equals_target_positions(fast: int, slow: int, shortable: bool) -> None:
    close = random_walk(20_000, seed=fast * 100 + slow)
    bars = bars_from_close(close)
    ctx = FakeContext(shortable=shortable)
    s = EmaCross(EmaCrossParams(fast=fast, slow=slow), ctx)
    targets, intents = step_all(s, candles(bars))
    fast_path = EmaCross(EmaCrossParams(fast=fast, slow=slow), ctx).target_positions(bars)
    assert fast_path is not None and fast_path.dtype == np.int8
    np.testing.assert_array_equal(targets, fast_path)
    assert len(intents) == changes(targets) > 50  # enough crosses to mean something
    assert set(np.unique(targets)) == ({-1, 0, 1} if shortable else {0, 1})


def test_foreign_forming_and_replayed_bars_are_ignored() -> None:
    bars = candles(bars_from_close(HAND))
    s = EmaCross(EmaCrossParams(fast=1, slow=3), FakeContext())
    for c in bars[:4]:
        s.on_candle(c)
    assert s.on_candle(replace(bars[4], symbol="ETHUSDT")) == ()
    assert s.on_candle(replace(bars[4], interval="4h")) == ()
    assert s.on_candle(replace(bars[4], closed=False)) == ()
    assert len(s.on_candle(bars[4])) == 1  # none of the above stepped the EMAs
    assert s.on_candle(bars[4]) == ()  # the same bar again (reconnect replay)
    assert s.target == 1


def test_param_validation() -> None:
    with pytest.raises(ParamError, match="fast must be below slow"):
        EmaCrossParams(fast=26, slow=12)
    with pytest.raises(ParamError, match="timeframe"):
        EmaCrossParams(timeframe="hourly")
    with pytest.raises(ParamError, match="fast must be >= 1"):
        EmaCross(EmaCrossParams(fast=0, slow=3), FakeContext())


def test_warmup_and_timeframes() -> None:
    s = EmaCross(EmaCrossParams(timeframe="5m", fast=12, slow=26), FakeContext())
    assert s.timeframes() == ("5m",) and s.warmup_bars() == 26 and s.schedule() is None

"""SMC detectors on hand-built bars where every swing, break, gap and block is known."""

from __future__ import annotations

import numpy as np
import pytest

from terminal.strategies.smc_detect import (
    Bias,
    BreakKind,
    StructureBreak,
    Swing,
    Zone,
    ZoneKind,
    fair_value_gaps,
    first_touch,
    fresh_touches,
    order_blocks,
    structure_breaks,
    swings,
    trend,
)
from tests.strategies.ctx import ohlc, random_walk

pytestmark = pytest.mark.timeout(60)

# (open, high, low, close). With a 1-bar fractal:
#   swing highs: bar 1 (12, known at 2), bar 6 (13, known at 7)
#   swing lows:  bar 3 (8, known at 4),  bar 8 (7, known at 9)
#   bar 5 closes 12.4 above the swing high 12 -> bullish BOS (the first break)
#   bar 8 closes 7.5 below the swing low 8    -> bearish CHoCH (against the bullish trend)
#   bullish FVG at bar 6: low 12 > high[4] 11 -> [11, 12]
#   bearish FVGs at bar 8: high 11 < low[6] 12 -> [11, 12]; bar 9: high 9 < low[7] 10 -> [9, 10]
ROWS = [
    (9.2, 10.0, 9.0, 9.5),
    (10.2, 12.0, 10.0, 11.5),
    (10.9, 11.0, 9.5, 10.0),
    (10.0, 10.5, 8.0, 8.5),
    (9.1, 11.0, 9.0, 10.8),
    (10.9, 12.5, 10.5, 12.4),
    (12.1, 13.0, 12.0, 12.5),
    (12.5, 12.6, 10.0, 10.2),
    (10.1, 11.0, 7.0, 7.5),
    (7.6, 9.0, 7.5, 8.8),
]
B = ohlc(ROWS)


def test_swings_are_fractals_known_lookback_bars_later() -> None:
    assert swings(B["high"], B["low"], 1) == [
        Swing(1, 12.0, True, 2),
        Swing(3, 8.0, False, 4),
        Swing(6, 13.0, True, 7),
        Swing(8, 7.0, False, 9),
    ]
    # two bars each side: only bar 6's high (13 > 12.5, 11, 12.6, 11) and bar 3's low qualify
    assert swings(B["high"], B["low"], 2) == [Swing(3, 8.0, False, 5), Swing(6, 13.0, True, 8)]
    assert swings(B["high"][:2], B["low"][:2], 1) == []


def test_a_plateau_is_not_a_swing() -> None:
    high = np.array([1.0, 2.0, 2.0, 1.0])
    assert swings(high, high - 0.5, 1) == []


def test_structure_breaks_bos_then_choch() -> None:
    breaks = structure_breaks(B["high"], B["low"], B["close"], 1)
    assert breaks == [
        StructureBreak(5, BreakKind.BOS, Bias.BULL, 12.0, 1),
        StructureBreak(8, BreakKind.CHOCH, Bias.BEAR, 8.0, 3),
    ]
    assert trend(breaks) is Bias.BEAR
    assert trend(breaks[:1]) is Bias.BULL and trend([]) is None


def test_a_level_breaks_once_and_continuation_is_a_bos() -> None:
    # the break at bar 5 repeated by bar 6's close (12.5 > 12) is not a second break; a higher
    # high broken later in the same direction is a BOS
    rows = [*ROWS[:8], (10.2, 13.5, 10.1, 13.4)]  # bar 8 closes above the swing high 13 of bar 6
    breaks = structure_breaks(*(ohlc(rows)[k] for k in ("high", "low", "close")), 1)
    assert [(b.index, b.kind, b.direction, b.level) for b in breaks] == [
        (5, BreakKind.BOS, Bias.BULL, 12.0),
        (8, BreakKind.BOS, Bias.BULL, 13.0),
    ]


def test_fair_value_gaps() -> None:
    assert fair_value_gaps(B["high"], B["low"]) == [
        Zone(ZoneKind.FVG, Bias.BULL, 12.0, 11.0, 6, 5),
        Zone(ZoneKind.FVG, Bias.BEAR, 12.0, 11.0, 8, 7),
        Zone(ZoneKind.FVG, Bias.BEAR, 10.0, 9.0, 9, 8),
    ]
    # each gap is 1 wide; relative to high[i-2]: 1/11 = 9.1 %, 1/13 = 7.7 %, 1/12.6 = 7.9 %
    assert fair_value_gaps(B["high"], B["low"], min_frac=0.095) == []
    assert [z.index for z in fair_value_gaps(B["high"], B["low"], min_frac=0.085)] == [6]


def test_order_blocks_behind_each_break() -> None:
    breaks = structure_breaks(B["high"], B["low"], B["close"], 1)
    # bullish break at 5 of the swing high at 1: the move starts at the lowest low in [1, 5]
    # (bar 3, low 8), itself a bearish candle -> block = bar 3 [8, 10.5]
    # bearish break at 8 of the swing low at 3: the highest high in [3, 8] is bar 6, bullish
    assert order_blocks(B["open"], B["high"], B["low"], B["close"], breaks) == [
        Zone(ZoneKind.ORDER_BLOCK, Bias.BULL, 10.5, 8.0, 5, 3),
        Zone(ZoneKind.ORDER_BLOCK, Bias.BEAR, 13.0, 12.0, 8, 6),
    ]


def test_order_block_is_the_last_opposite_candle_before_the_origin() -> None:
    # make bar 3 bullish: the last bearish candle at or before it, back to the swing, is bar 2
    rows = list(ROWS)
    rows[3] = (8.2, 10.5, 8.0, 8.5)
    b = ohlc(rows)
    breaks = structure_breaks(b["high"], b["low"], b["close"], 1)
    (block, _) = order_blocks(b["open"], b["high"], b["low"], b["close"], breaks)
    assert (block.origin, block.top, block.bottom) == (2, 11.0, 9.5)


def test_touches() -> None:
    bull, bear8, bear9 = fair_value_gaps(B["high"], B["low"])
    assert first_touch(bull, B["high"], B["low"]) == 7  # bar 7 low 10 reaches the top 12
    assert first_touch(bear8, B["high"], B["low"]) is None  # bar 9 high 9 stays below 11
    assert fresh_touches([bull, bear8, bear9], B["high"], B["low"], 7) == [bull]
    assert fresh_touches([bull], B["high"], B["low"], 8) == []  # touched before: spent
    assert fresh_touches([bull], B["high"], B["low"], 6) == []  # not yet known


def test_fresh_touches_agrees_with_first_touch_on_random_bars() -> None:
    c = random_walk(600, seed=3, vol=0.01)
    o = np.concatenate(([c[0]], c[:-1]))
    rng = np.random.default_rng(3)
    h = np.maximum(o, c) * (1 + rng.random(600) * 0.004)
    lo = np.minimum(o, c) * (1 - rng.random(600) * 0.004)
    zones = fair_value_gaps(h, lo) + order_blocks(o, h, lo, c, structure_breaks(h, lo, c, 2))
    assert len(zones) > 20
    for at in range(0, 600, 7):
        expected = [z for z in zones if first_touch(z, h, lo) == at]
        assert fresh_touches(zones, h, lo, at) == expected


def test_mismatched_arrays_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        fair_value_gaps(np.ones(5), np.ones(4))
    with pytest.raises(ValueError, match="lookback"):
        swings(np.ones(5), np.ones(5), 0)

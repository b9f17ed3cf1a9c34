"""SMC strategy: HTF trend from structure, LTF entry on the first retrace into a fresh zone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model import Candle, Side
from terminal.strategies import EntryKind, Intent, IntentAction, ParamError
from terminal.strategies.smc import SmartMoney, SmcParams, TargetMode, ZoneChoice
from tests.strategies.ctx import T0, FakeContext, candles, ohlc, spot
from tests.strategies.test_smc_detect import ROWS as HTF_ROWS

pytestmark = pytest.mark.timeout(60)

# HTF (4h), 1-bar fractal: bars 0-5 of the detector fixture end in a bullish BOS -> trend bull.
HTF_BULL = HTF_ROWS[:6]
# LTF (15m), 1-bar fractal:
#   bar 1: swing high 110 (known at 2); bar 2 leaves a bullish FVG [101, 104] that bar 3 fills
#   (first touch at 3, while the HTF trend is still unknown: spent, never traded)
#   bar 6: bullish FVG [104, 105.5] (low 105.5 > high[4] 104); bar 7 stays above it and is a
#   swing high 108.5 (known at 8); bar 8 retraces to 105 (first touch) and closes 105.2:
#   entry 105.2, stop 104 (zone bottom, no buffer), target 108.5 (latest swing high above),
#   reward/risk 3.3 / 1.2 = 2.75
LTF = [
    (100.0, 101.0, 99.0, 100.5),
    (100.5, 110.0, 100.0, 109.0),
    (109.0, 109.5, 104.0, 105.0),
    (105.0, 105.5, 101.0, 102.0),
    (102.0, 104.0, 101.5, 103.5),
    (103.5, 107.0, 103.0, 106.5),
    (106.5, 108.0, 105.5, 107.5),
    (107.5, 108.5, 106.0, 106.2),
    (106.2, 106.5, 105.0, 105.2),
]
BASE = {"ltf": "15m", "htf": "4h", "swing_lookback": 1, "htf_swing_lookback": 1, "stop_buffer_pct": 0.0}


def mirror(
    rows: list[tuple[float, float, float, float]], axis: float
) -> list[tuple[float, float, float, float]]:
    """The same chart upside down: a bullish setup becomes the bearish one."""
    return [(axis - o, axis - lo, axis - h, axis - c) for o, h, lo, c in rows]


def feed(s: SmartMoney, htf: list, ltf: list, htf_after: int = 5) -> list[tuple[int, Intent]]:
    """LTF bars 0..htf_after-1, then the HTF bars (the trend becomes known), then the rest."""
    lt = candles(ohlc(ltf), interval="15m")
    ht = candles(ohlc(htf), interval="4h", start=T0 - 6 * 4 * 3_600_000)
    out: list[tuple[int, Intent]] = []
    order: list[tuple[int, Candle]] = [(i, c) for i, c in enumerate(lt[:htf_after])]
    order += [(-1, c) for c in ht] + [(i, c) for i, c in enumerate(lt) if i >= htf_after]
    for i, c in order:
        out.extend((i, it) for it in s.on_candle(c))
    return out


def strategy(ctx: FakeContext | None = None, **kw: object) -> SmartMoney:
    return SmartMoney(SmcParams(**{**BASE, **kw}), ctx or FakeContext())  # type: ignore[arg-type]


@pytest.mark.parametrize("zones", [ZoneChoice.BOTH, ZoneChoice.FVG])
def test_long_on_the_first_retrace_into_a_bullish_fvg(zones: ZoneChoice) -> None:
    s = strategy(zones=zones)
    got = feed(s, HTF_BULL, LTF)
    assert s.htf_trend is not None and s.htf_trend.value == "bull"
    assert len(got) == 1
    bar, it = got[0]
    assert bar == 8
    assert (it.side, it.action, it.entry) == (Side.BUY, IntentAction.OPEN, EntryKind.MARKET)
    assert (it.price, it.stop, it.target) == (Decimal("105.2"), Decimal("104.0"), Decimal("108.5"))
    assert it.at_ms == T0 + 9 * 900_000 - 1 and it.strategy == "smc"
    assert "reward/risk 2.75" in it.reason and "FVG [104, 105.5]" in it.reason


def test_order_blocks_only_finds_nothing_here() -> None:
    # no LTF structure break in these bars, hence no order block
    assert feed(strategy(zones=ZoneChoice.ORDER_BLOCK), HTF_BULL, LTF) == []


def test_short_mirror_image_on_derivatives_not_on_spot() -> None:
    htf, ltf = mirror(HTF_BULL, 25.0), mirror(LTF, 200.0)
    ((bar, it),) = feed(strategy(), htf, ltf)
    assert bar == 8 and it.side is Side.SELL
    assert (it.price, it.stop, it.target) == (Decimal("94.8"), Decimal("96.0"), Decimal("91.5"))
    assert feed(strategy(spot()), htf, ltf) == []
    assert feed(strategy(allow_short=False), htf, ltf) == []


def test_no_trade_without_an_htf_trend_or_against_it() -> None:
    assert feed(strategy(), [], LTF) == []
    assert feed(strategy(), mirror(HTF_BULL, 25.0), LTF) == []  # HTF bearish: bullish zones ignored


def test_stop_buffer() -> None:
    # stop 104 * (1 - 0.5 %) = 103.48: risk 1.72, reward/risk 3.3 / 1.72 = 1.92
    ((_, it),) = feed(strategy(stop_buffer_pct=0.5, min_rr=1.9), HTF_BULL, LTF)
    assert it.stop == Decimal("103.48")
    assert feed(strategy(stop_buffer_pct=0.5, min_rr=2.0), HTF_BULL, LTF) == []


def test_minimum_reward_risk_rejects_with_a_reason() -> None:
    s = strategy(min_rr=3.0)
    assert feed(s, HTF_BULL, LTF) == []
    (skip,) = s.drain_skips()
    assert skip.reason == "retrace into bull FVG [104, 105.5]: reward/risk 2.75 below 3.0"
    assert skip.at_ms == T0 + 9 * 900_000 - 1


def test_rr_target_mode() -> None:
    ((_, it),) = feed(strategy(target_mode=TargetMode.RR, min_rr=2.0), HTF_BULL, LTF)
    assert float(it.target) == pytest.approx(105.2 + 2 * 1.2)


def test_no_new_entry_while_in_a_position() -> None:
    ctx = FakeContext()
    ctx.positions["BTCUSDT"] = Decimal("0.5")
    s = strategy(ctx)
    assert feed(s, HTF_BULL, LTF) == []
    assert [k.reason for k in s.drain_skips()] == [
        "retrace into bull FVG [104, 105.5]: already in a position"
    ]


def test_a_close_through_the_zone_is_not_bought_and_spends_it() -> None:
    through = [*LTF[:8], (106.2, 106.5, 103.5, 103.8), (103.8, 105.2, 103.9, 105.0)]
    s = strategy()
    assert feed(s, HTF_BULL, through) == []  # bar 9 revisits the zone: no longer fresh
    assert [k.reason for k in s.drain_skips()] == ["closed through bull FVG [104, 105.5]"]


def test_zone_too_old_is_ignored() -> None:
    assert feed(strategy(max_zone_age=1), HTF_BULL, LTF) == []  # the zone is 2 bars old at bar 8


def test_replayed_and_foreign_bars_change_nothing() -> None:
    s = strategy()
    lt = candles(ohlc(LTF), interval="15m")
    ht = candles(ohlc(HTF_BULL), interval="4h", start=T0 - 6 * 4 * 3_600_000)
    for c in [*lt[:5], *ht, *lt[5:8]]:
        s.on_candle(c)
        s.on_candle(c)  # every bar twice (a reconnect replay): counted once
    assert s.on_candle(candles(ohlc(LTF), symbol="ETHUSDT", interval="15m")[8]) == ()
    assert s.on_candle(candles(ohlc(LTF), interval="1h")[8]) == ()
    assert len(s.on_candle(lt[8])) == 1


def test_param_validation() -> None:
    with pytest.raises(ParamError, match="htf must be a longer interval than ltf"):
        SmcParams(ltf="4h", htf="1h")
    with pytest.raises(ParamError, match="zones must be one of"):
        SmcParams(zones="both")  # type: ignore[arg-type]
    with pytest.raises(ParamError, match=r"min_rr must be >= 0\.1"):
        strategy(min_rr=0.0)
    s = strategy()
    assert s.timeframes() == ("15m", "4h") and s.target_positions({}) is None

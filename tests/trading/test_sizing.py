"""Sizing modes, every cap, venue filters and the batch balancer; hypothesis for the invariants."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminal.model import FilterName, Instrument, InstrumentKind, Side, Venue
from terminal.strategies.base import EntryKind, Intent, IntentAction, SizeHint
from terminal.trading.sizing import (
    Balancer,
    SizedOrder,
    SizingCap,
    SizingConfig,
    SizingMode,
    SizingRefused,
    size_intent,
    size_order,
)

pytestmark = pytest.mark.timeout(60)

D = Decimal
SPOT = Instrument(
    Venue.BINANCE_SPOT, "BTCUSDT", "BTC", "USDT", InstrumentKind.SPOT, D("0.01"), D("0.00001"),
    min_qty=D("0.00001"), max_qty=D("9000"), min_notional=D("5"),
)  # fmt: skip
PERP = Instrument(
    Venue.BINANCE_USDM, "BTCUSDT", "BTC", "USDT", InstrumentKind.LINEAR_PERPETUAL, D("0.1"), D("0.001"),
    min_qty=D("0.001"), max_qty=D("1000"), market_max_qty=D("120"), min_notional=D("100"),
)  # fmt: skip
SOL = Instrument(
    Venue.BINANCE_SPOT, "SOLUSDT", "SOL", "USDT", InstrumentKind.SPOT, D("0.01"), D("0.01"),
    min_qty=D("0.01"), min_notional=D("5"),
)  # fmt: skip


def sized(config: SizingConfig, inst: Instrument = SPOT, **kw) -> SizedOrder:
    kw.setdefault("side", Side.BUY)
    kw.setdefault("equity", D(10_000))
    kw.setdefault("free_balance", D(10_000))
    result = size_order(config, inst, **kw)
    assert isinstance(result, SizedOrder), result
    return result


def refused(config: SizingConfig, inst: Instrument = SPOT, **kw) -> SizingRefused:
    kw.setdefault("side", Side.BUY)
    kw.setdefault("equity", D(10_000))
    kw.setdefault("free_balance", D(10_000))
    result = size_order(config, inst, **kw)
    assert isinstance(result, SizingRefused), result
    assert not result
    return result


# ---------------------------------------------------------------------- modes


def test_fixed_quote_rounds_down_to_the_step():
    o = sized(SizingConfig(quote_notional=D(100)), entry=D(65_000))
    assert o.qty == D("0.00153")  # 100 / 65000 = 0.0015384..., down to the step
    assert o.notional <= 100 and o.mode is SizingMode.FIXED_QUOTE and o.capped_by == ()


def test_risk_pct_sizes_to_the_stop():
    cfg = SizingConfig(mode=SizingMode.RISK_PCT, risk_fraction=D("0.01"))
    o = sized(cfg, SOL, entry=D(100), stop=D(95))
    assert o.qty == D(20) and o.stop == D(95) and o.risk == D(100)  # 1 % of 10 000 lost at the stop
    short = sized(cfg, PERP, side=Side.SELL, entry=D(100), stop=D(104))
    assert short.qty == D(25) and short.risk == D(100)


def test_atr_derives_the_stop_then_sizes_by_risk():
    cfg = SizingConfig(mode=SizingMode.ATR, risk_fraction=D("0.02"), atr_multiple=D("1.5"))
    long = sized(cfg, SOL, entry=D(100), atr=D(4))
    assert long.stop == D(94) and long.qty == D("33.33")  # 200 / 6, down to 0.01
    assert long.risk is not None and long.risk <= 200
    short = sized(cfg, PERP, side=Side.SELL, entry=D(100), atr=D(4), stop=D(999))
    assert short.stop == D(106)  # ATR mode places its own stop
    assert refused(cfg, SOL, entry=D(100), atr=None).reason.startswith("ATR sizing needs")
    assert "not below the entry" in refused(cfg, SOL, entry=D(5), atr=D(4)).reason


def test_risk_sizing_refusals():
    cfg = SizingConfig(mode=SizingMode.RISK_PCT)
    assert "needs a stop" in refused(cfg, entry=D(100)).reason
    assert "wrong side" in refused(cfg, entry=D(100), stop=D(101)).reason
    assert "wrong side" in refused(cfg, PERP, side=Side.SELL, entry=D(100), stop=D(99)).reason
    assert "positive equity" in refused(cfg, entry=D(100), stop=D(90), equity=D(0)).reason


def test_hints_override_the_mode_but_not_the_caps():
    cfg = SizingConfig(mode=SizingMode.RISK_PCT)
    assert sized(cfg, SOL, entry=D(100), hint=SizeHint(qty=D("1.234"))).qty == D("1.23")
    q = sized(cfg, SOL, entry=D(100), hint=SizeHint(quote=D(250)))
    assert (q.qty, q.mode) == (D("2.5"), SizingMode.FIXED_QUOTE)
    r = sized(SizingConfig(), SOL, entry=D(100), stop=D(90), hint=SizeHint(risk=D("0.005")))
    assert (r.qty, r.mode) == (D(5), SizingMode.RISK_PCT)
    capped = sized(cfg, SOL, entry=D(100), free_balance=D(50), hint=SizeHint(qty=D(10)))
    assert capped.qty == D("0.49") and capped.capped_by == (SizingCap.FREE_BALANCE,)


def test_bad_inputs_raise_naming_the_field():
    with pytest.raises(ValueError, match="entry price"):
        size_order(SizingConfig(), SPOT, side=Side.BUY, entry=D(0), equity=D(1), free_balance=D(1))
    with pytest.raises(ValueError, match="leverage"):
        size_order(
            SizingConfig(), PERP, side=Side.BUY, entry=D(1), equity=D(1), free_balance=D(1), leverage=D(0)
        )
    with pytest.raises(ValueError, match="risk_fraction"):
        SizingConfig(risk_fraction=D(2))
    with pytest.raises(ValueError, match="quote_notional"):
        SizingConfig(quote_notional=D(-1))
    with pytest.raises(ValueError, match="balance_reserve"):
        SizingConfig(balance_reserve=D(1))
    with pytest.raises(ValueError, match="max_position_qty"):
        SizingConfig(max_position_qty=D(0))


def test_size_intent_prices_market_and_limit_entries():
    cfg = SizingConfig(mode=SizingMode.RISK_PCT)
    market = Intent("ema", "SOLUSDT", Side.BUY, stop=D(95), reason="cross")
    o = size_intent(cfg, SOL, market, reference_price=D(100), equity=D(10_000), free_balance=D(10_000))
    assert isinstance(o, SizedOrder) and (o.entry, o.qty) == (D(100), D(20))
    limit = Intent("ema", "SOLUSDT", Side.BUY, entry=EntryKind.LIMIT, price=D(98), stop=D(96))
    o2 = size_intent(cfg, SOL, limit, reference_price=D(100), equity=D(10_000), free_balance=D(10_000))
    assert isinstance(o2, SizedOrder) and (o2.entry, o2.qty) == (D(98), D(50))
    r = size_intent(cfg, SOL, market, reference_price=None, equity=D(1), free_balance=D(1))
    assert isinstance(r, SizingRefused) and "no price" in r.reason
    hinted = Intent("hook", "SOLUSDT", Side.BUY, size=SizeHint(quote=D(300)))
    o3 = size_intent(cfg, SOL, hinted, reference_price=D(100), equity=D(10_000), free_balance=D(10_000))
    assert isinstance(o3, SizedOrder) and o3.qty == D(3)
    with pytest.raises(ValueError, match="only OPEN"):
        size_intent(cfg, SOL, Intent("ema", "SOLUSDT", Side.SELL, action=IntentAction.CLOSE),
                    reference_price=D(1), equity=D(1), free_balance=D(1))  # fmt: skip
    with pytest.raises(ValueError, match="instrument"):
        size_intent(cfg, SPOT, market, reference_price=D(1), equity=D(1), free_balance=D(1))


# ---------------------------------------------------------------------- caps


def test_spot_buy_capped_by_free_balance_with_reserve():
    o = sized(SizingConfig(quote_notional=D(1000)), SOL, entry=D(100), free_balance=D(500))
    assert o.qty == D("4.99")  # 500 x 0.998 / 100
    assert o.capped_by == (SizingCap.FREE_BALANCE,)
    assert refused(SizingConfig(), SOL, entry=D(100), free_balance=D(0)).cap is SizingCap.FREE_BALANCE


def test_derivatives_use_leverage_capped_by_max_leverage():
    cfg = SizingConfig(quote_notional=D(100_000), max_leverage=D(3))
    o = sized(cfg, PERP, entry=D(100), equity=D(1000), free_balance=D(1000), leverage=D(20))
    # margin: 1000 x 0.998 x min(20, 3) / 100 = 29.94; leverage: 1000 x 3 / 100 = 30
    assert o.qty == D("29.94") and o.capped_by == (SizingCap.FREE_BALANCE,)
    # with a position already on, the max leverage binds: |5 + q| x 100 <= 3000
    o2 = sized(
        cfg, PERP, entry=D(100), equity=D(1000), free_balance=D(10_000), leverage=D(3), position_qty=D(5)
    )
    assert o2.qty == D(25) and SizingCap.MAX_LEVERAGE in o2.capped_by


def test_closing_part_of_an_opposite_position_needs_no_margin():
    cfg = SizingConfig(quote_notional=D(100_000), max_leverage=D(2))
    o = sized(
        cfg, PERP, entry=D(100), equity=D(1000), free_balance=D(100), position_qty=D(-10), leverage=D(5)
    )
    # 10 close the short, then 100 x 0.998 x min(5, 2) / 100 = 1.996 open a long; leverage allows 20
    assert o.qty == D("11.996")


def test_max_position_qty_and_notional():
    cfg = SizingConfig(quote_notional=D(100_000), max_position_qty=D(8), max_position_notional=D(700))
    o = sized(cfg, PERP, entry=D(100), equity=D(10**6), free_balance=D(10**6), position_qty=D(2))
    assert o.qty == D(5) and o.capped_by[-1] is SizingCap.MAX_POSITION_NOTIONAL


def test_max_position_already_reached_is_refused():
    cfg = SizingConfig(max_position_qty=D(3))
    r = refused(cfg, PERP, entry=D(100), position_qty=D(3))
    assert r.cap is SizingCap.MAX_POSITION_QTY and "max_position_qty" in r.reason
    short = sized(SizingConfig(quote_notional=D(100_000), max_position_qty=D(3)), PERP, side=Side.SELL,
                  entry=D(100), position_qty=D(3), free_balance=D(1e6), equity=D(1e6))  # fmt: skip
    assert short.qty == D(6)  # close 3 long, open 3 short


def test_venue_maximums_market_lot_size_and_max_notional():
    cfg = SizingConfig(quote_notional=D(10**9), max_leverage=D(100))
    o = sized(cfg, PERP, entry=D(100), equity=D(10**9), free_balance=D(10**9), leverage=D(100))
    assert o.qty == D(120) and o.capped_by[-1] is SizingCap.VENUE_MAX_QTY
    capped = Instrument(Venue.BINANCE_SPOT, "X", "X", "USDT", InstrumentKind.SPOT, D("0.01"), D("0.1"),
                        max_notional=D(1000))  # fmt: skip
    o2 = sized(cfg, capped, entry=D(3), equity=D(10**9), free_balance=D(10**9))
    assert o2.qty == D("333.3") and o2.capped_by[-1] is SizingCap.VENUE_MAX_NOTIONAL


def test_venue_minimums_refuse_naming_the_filter():
    r = refused(SizingConfig(quote_notional=D(4)), SPOT, entry=D(65_000))
    assert r.filter is FilterName.MIN_NOTIONAL and r.reason.startswith("MIN_NOTIONAL")
    r2 = refused(SizingConfig(quote_notional=D("0.5")), SPOT, entry=D(65_000))
    assert r2.filter is FilterName.LOT_SIZE and "rounds down to 0" in r2.reason
    big_min = Instrument(Venue.BINANCE_SPOT, "Y", "Y", "USDT", InstrumentKind.SPOT, D("0.01"), D("0.1"),
                         min_qty=D(5))  # fmt: skip
    r3 = refused(SizingConfig(quote_notional=D(40)), big_min, entry=D(10))
    assert r3.filter is FilterName.LOT_SIZE and "below the minimum quantity 5" in r3.reason
    # capped below the minimum by the balance: the reason says so
    r4 = refused(SizingConfig(quote_notional=D(100)), PERP, entry=D(100), free_balance=D(90), equity=D(90))
    assert r4.filter is FilterName.MIN_NOTIONAL and "free_balance" in r4.reason


def test_spot_sells_only_what_is_held():
    cfg = SizingConfig(quote_notional=D(1000))
    o = sized(cfg, SOL, side=Side.SELL, entry=D(100), position_qty=D("3.456"))
    assert o.qty == D("3.45") and o.capped_by == (SizingCap.SPOT_HOLDING,)
    assert refused(cfg, SOL, side=Side.SELL, entry=D(100)).cap is SizingCap.SPOT_HOLDING


# ---------------------------------------------------------------------- balancer


def buy(inst: Instrument, qty: str, entry: str) -> SizedOrder:
    return SizedOrder(inst, Side.BUY, D(qty), D(entry), None, SizingMode.FIXED_QUOTE)


def test_balancer_scales_a_sweep_to_the_free_balance():
    eth = Instrument(Venue.BINANCE_SPOT, "ETHUSDT", "ETH", "USDT", InstrumentKind.SPOT, D("0.01"),
                     D("0.0001"), min_notional=D(5))  # fmt: skip
    batch = Balancer(reserve=D(0)).balance([buy(SOL, "4", "100"), buy(eth, "0.2", "2000")], D(600))
    assert batch.scale == D("0.75")
    assert [o.qty for o in batch.orders] == [D(3), D("0.15")]
    assert batch.notional <= 600 and batch.dropped == ()
    assert all(o.capped_by[-1] is SizingCap.BALANCER for o in batch.orders)
    untouched = Balancer().balance([buy(SOL, "1", "100")], D(1000))
    assert untouched.scale == 1 and untouched.orders[0].qty == 1


def test_balancer_drops_what_falls_below_a_minimum_and_gives_its_share_to_the_rest():
    tiny = Instrument(Venue.BINANCE_SPOT, "TINYUSDT", "TINY", "USDT", InstrumentKind.SPOT, D("0.01"), D(1),
                      min_notional=D(50))  # fmt: skip
    batch = Balancer(reserve=D(0)).balance([buy(SOL, "9", "100"), buy(tiny, "60", "1")], D(600))
    # first pass x 600/960: TINY 37 x 1 < 50 is dropped; SOL alone: 900 -> x 2/3 = 6
    assert [o.symbol for o in batch.orders] == ["SOLUSDT"] and batch.orders[0].qty == D(6)
    assert [d.symbol for d in batch.dropped] == ["TINYUSDT"]
    assert batch.dropped[0].filter is FilterName.MIN_NOTIONAL and batch.dropped[0].cap is SizingCap.BALANCER


def test_balancer_refuses_sells_and_mixed_quotes():
    with pytest.raises(ValueError, match="buys only"):
        Balancer().balance([SizedOrder(SOL, Side.SELL, D(1), D(1), None, SizingMode.FIXED_QUOTE)], D(1))
    btc_quoted = Instrument(Venue.BINANCE_SPOT, "ETHBTC", "ETH", "BTC", InstrumentKind.SPOT, D("0.00001"),
                            D("0.001"))  # fmt: skip
    with pytest.raises(ValueError, match="one quote asset"):
        Balancer().balance([buy(SOL, "1", "1"), buy(btc_quoted, "1", "0.05")], D(1))


# ---------------------------------------------------------------------- properties

prices = st.decimals(min_value=D("0.01"), max_value=D(100_000), places=2)
money = st.decimals(min_value=D(0), max_value=D(1_000_000), places=2)
funds = st.decimals(min_value=D(100), max_value=D(1_000_000), places=2)
fractions = st.decimals(min_value=D("0.0001"), max_value=D("0.2"), places=4)
steps = st.sampled_from([D("0.00001"), D("0.001"), D("0.01"), D(1)])


@st.composite
def scenarios(draw):
    derivative = draw(st.booleans())
    step = draw(steps)
    inst = Instrument(
        Venue.BINANCE_USDM if derivative else Venue.BINANCE_SPOT, "ABCUSDT", "ABC", "USDT",
        InstrumentKind.LINEAR_PERPETUAL if derivative else InstrumentKind.SPOT, D("0.01"), step,
        min_qty=step * draw(st.integers(1, 5)), min_notional=draw(st.sampled_from([D(0), D(5), D(100)])),
        max_qty=draw(st.none() | st.just(step * 10**6)),
    )  # fmt: skip
    side = Side.BUY if not derivative else draw(st.sampled_from(list(Side)))
    entry = draw(prices)
    mode = draw(st.sampled_from(list(SizingMode)))
    config = SizingConfig(
        mode=mode,
        quote_notional=draw(st.decimals(min_value=D(1), max_value=D(100_000), places=2)),
        risk_fraction=draw(fractions),
        atr_multiple=draw(st.decimals(min_value=D("0.5"), max_value=D(5), places=1)),
        max_position_qty=draw(st.none() | st.decimals(min_value=D("0.001"), max_value=D(10_000), places=3)),
        max_position_notional=draw(st.none() | st.decimals(min_value=D(1), max_value=D(10**6), places=0)),
        max_leverage=draw(st.sampled_from([D(1), D(3), D(20)])),
    )
    distance = draw(st.decimals(min_value=D("0.01"), max_value=entry * D("0.5") + D("0.01"), places=2))
    stop = entry - distance if side is Side.BUY else entry + distance
    if stop <= 0:
        stop = None
    position = draw(st.decimals(min_value=D(-50), max_value=D(50), places=3)) if derivative else D(0)
    return dict(
        config=config,
        instrument=inst,
        side=side,
        entry=entry,
        equity=draw(money) if draw(st.integers(0, 9)) == 0 else draw(funds),
        free_balance=draw(money) if draw(st.integers(0, 9)) == 0 else draw(funds),
        stop=stop,
        position_qty=position,
        atr=None
        if draw(st.integers(0, 9)) == 0
        else draw(st.decimals(min_value=D("0.01"), max_value=entry / 4 + D("0.01"), places=2)),
        leverage=draw(st.sampled_from([D(1), D(5), D(50)])),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_size_never_breaks_a_limit(s):
    cfg: SizingConfig = s["config"]
    inst: Instrument = s["instrument"]
    result = size_order(cfg, inst, **{k: v for k, v in s.items() if k not in ("config", "instrument")})
    if isinstance(result, SizingRefused):
        assert result.reason
        return
    q, entry, pos = result.qty, s["entry"], s["position_qty"]
    assert q > 0 and inst.is_qty_aligned(q) and q >= inst.min_qty and q * entry >= inst.min_notional
    projected = pos + s["side"].sign * q
    same_way = pos == 0 or (pos > 0) == (s["side"] is Side.BUY)
    opening = q if same_way else max(q - abs(pos), D(0))
    lev = min(s["leverage"], cfg.max_leverage) if inst.is_derivative else D(1)
    assert opening * entry <= s["free_balance"] * lev  # never more than the balance can carry
    if cfg.max_position_qty is not None:
        assert abs(projected) <= cfg.max_position_qty or abs(projected) <= abs(pos)
    if cfg.max_position_notional is not None:
        assert abs(projected) * entry <= cfg.max_position_notional or abs(projected) <= abs(pos)
    if inst.max_qty is not None:
        assert q <= inst.max_qty
    if result.stop is not None and cfg.mode is not SizingMode.FIXED_QUOTE:
        assert (
            result.risk is not None and result.risk <= s["equity"] * cfg.risk_fraction
        )  # risk within budget


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(steps, st.decimals(min_value=D(1), max_value=D(5000), places=2), prices),
        min_size=1,
        max_size=8,
    ),
    money,
)
def test_balanced_batch_fits_the_free_balance(items, free):
    orders = []
    for i, (step, quote, entry) in enumerate(items):
        inst = Instrument(Venue.BINANCE_SPOT, f"S{i}USDT", f"S{i}", "USDT", InstrumentKind.SPOT, D("0.01"),
                          step, min_qty=step, min_notional=D(5))  # fmt: skip
        one = size_order(SizingConfig(quote_notional=quote), inst, side=Side.BUY, entry=entry,
                         equity=D(10**9), free_balance=D(10**9))  # fmt: skip
        if isinstance(one, SizedOrder):
            orders.append(one)
    batch = Balancer().balance(orders, free)
    assert batch.notional <= free
    assert len(batch.orders) + len(batch.dropped) == len(orders)
    for o in batch.orders:
        assert o.instrument.is_qty_aligned(o.qty) and o.notional >= 5
        original = next(x for x in orders if x.instrument is o.instrument)
        assert o.qty <= original.qty

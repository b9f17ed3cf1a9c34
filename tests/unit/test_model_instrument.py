from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal.model import (
    FilterName,
    Instrument,
    InstrumentKind,
    OrderType,
    RoundingMode,
    Side,
    Venue,
)

D = Decimal


def btc(**kw: object) -> Instrument:
    args: dict[str, object] = {
        "venue": Venue.BINANCE_SPOT,
        "symbol": "BTCUSDT",
        "base": "BTC",
        "quote": "USDT",
        "kind": InstrumentKind.SPOT,
        "tick_size": D("0.01"),
        "step_size": D("0.00001"),
        "min_qty": D("0.00001"),
        "max_qty": D("9000"),
        "market_max_qty": D("100"),
        "min_notional": D("5"),
        "max_notional": D("9000000"),
        "min_price": D("0.01"),
        "max_price": D("1000000"),
    }
    args.update(kw)
    return Instrument(**args)  # type: ignore[arg-type]


def test_wire_strings_are_coerced_and_precision_derived() -> None:
    inst = btc(tick_size="0.10000000", step_size="0.00100000", min_qty="0.001", max_qty=None)
    assert inst.tick_size == D("0.1") and isinstance(inst.tick_size, Decimal)
    assert inst.price_precision == 1
    assert inst.qty_precision == 3
    assert inst.max_qty is None
    assert btc(tick_size="10", step_size="1").price_precision == 0
    assert btc(price_precision=4).price_precision == 4


@pytest.mark.parametrize("bad", [{"tick_size": "0"}, {"step_size": "-1"}, {"tick_size": "NaN"}])
def test_invalid_filters_rejected(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        btc(**bad)


@pytest.mark.parametrize(
    ("price", "mode", "expected"),
    [
        ("123.455", RoundingMode.NEAREST, "123.46"),  # half rounds away from zero
        ("123.454999", RoundingMode.NEAREST, "123.45"),
        ("123.451", RoundingMode.DOWN, "123.45"),
        ("123.459", RoundingMode.DOWN, "123.45"),
        ("123.451", RoundingMode.UP, "123.46"),
        ("123.45", RoundingMode.UP, "123.45"),  # already on a tick: unchanged
        ("123.45", RoundingMode.DOWN, "123.45"),
        ("0.004", RoundingMode.NEAREST, "0.00"),
        ("0.001", RoundingMode.UP, "0.01"),
        ("100", RoundingMode.NEAREST, "100.00"),
    ],
)
def test_round_price(price: str, mode: RoundingMode, expected: str) -> None:
    out = btc().round_price(price, mode)
    assert out == D(expected)
    assert str(out) == expected  # exponent of the tick, no scientific notation


def test_round_price_with_non_decimal_tick() -> None:
    inst = btc(tick_size="0.5")
    assert inst.round_price("10.24") == D("10.0")
    assert inst.round_price("10.25") == D("10.5")
    assert inst.round_price("10.74", RoundingMode.DOWN) == D("10.5")
    inst = btc(tick_size="5")
    assert inst.round_price("1237.4") == D("1235")
    assert inst.round_price("1237.5") == D("1240")


def test_round_qty_down() -> None:
    inst = btc()
    assert inst.round_qty_down("0.123456789") == D("0.12345")
    assert inst.round_qty_down("0.000009") == D("0")
    assert str(inst.round_qty_down("1")) == "1.00000"
    assert inst.round_qty("0.000015", RoundingMode.UP) == D("0.00002")


def test_huge_values_stay_exact() -> None:
    inst = btc(tick_size="0.000000001")
    big = D("123456789012345678901.123456789")
    assert inst.round_price(big) == big
    assert inst.price_to_ticks(big) == 123456789012345678901123456789
    assert inst.ticks_to_price(123456789012345678901123456789) == big


def test_ticks_roundtrip() -> None:
    inst = btc()
    assert inst.price_to_ticks("64000.12") == 6400012
    assert inst.ticks_to_price(6400012) == D("64000.12")
    assert inst.price_to_ticks("64000.125", RoundingMode.DOWN) == 6400012
    assert inst.qty_to_steps("0.00123") == 123
    assert inst.is_price_aligned("1.23") and not inst.is_price_aligned("1.235")
    assert inst.is_qty_aligned("0.00002") and not inst.is_qty_aligned("0.000025")


def test_format_fixed_decimals() -> None:
    inst = btc()
    assert inst.format_price(D("64000")) == "64000.00"
    assert inst.format_price("64000.125") == "64000.13"
    assert inst.format_price(1.5) == "1.50"
    assert inst.format_price(-0.001) == "0.00"  # never "-0.00"
    assert inst.format_qty("0.1") == "0.10000"


def test_valid_orders_have_no_violations() -> None:
    inst = btc()
    assert inst.validate(Side.BUY, OrderType.LIMIT, "64000.10", "0.001") == []
    assert inst.validate(Side.SELL, OrderType.MARKET, None, "0.5", reference_price="64000") == []
    assert (
        inst.validate(
            Side.SELL, OrderType.STOP_MARKET, None, "0.5", stop_price="60000", reference_price="64000"
        )
        == []
    )


def _messages(inst: Instrument, *args: object, **kw: object) -> list[str]:
    return [v.message for v in inst.validate(*args, **kw)]  # type: ignore[arg-type]


def test_lot_size_messages() -> None:
    inst = btc(min_notional="0")
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "100", "0.000001") == [
        "LOT_SIZE: quantity 0.000001 is below the minimum 0.00001",
        "LOT_SIZE: quantity 0.000001 is not a multiple of the step size 0.00001",
    ]
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "100", "9001") == [
        "LOT_SIZE: quantity 9001 is above the maximum 9000",
    ]
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "100", "0") == ["LOT_SIZE: quantity 0 must be positive"]


def test_market_lot_size_only_for_market_types() -> None:
    inst = btc()
    violations = inst.validate(Side.BUY, OrderType.MARKET, None, "101", reference_price="1")
    assert [v.filter for v in violations] == [FilterName.MARKET_LOT_SIZE]
    assert violations[0].message == "MARKET_LOT_SIZE: quantity 101 is above the market order maximum 100"
    assert str(violations[0]) == violations[0].message
    assert inst.validate(Side.BUY, OrderType.LIMIT, "1", "101") == []


def test_price_filter_messages() -> None:
    inst = btc()
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "100.005", "1") == [
        "PRICE_FILTER: price 100.005 is not a multiple of the tick size 0.01"
    ]
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "2000000", "0.001") == [
        "PRICE_FILTER: price 2000000 is above the maximum 1000000"
    ]
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "-1", "1") == [
        "PRICE_FILTER: price -1 must be positive"
    ]
    assert _messages(inst, Side.BUY, OrderType.LIMIT, None, "1") == [
        "PRICE_FILTER: price is required for LIMIT orders"
    ]
    assert _messages(inst, Side.BUY, OrderType.STOP_MARKET, None, "1", reference_price="100") == [
        "PRICE_FILTER: stop price is required for STOP_MARKET orders"
    ]
    assert _messages(inst, Side.BUY, OrderType.STOP_LIMIT, "100", "1", stop_price="99.999") == [
        "PRICE_FILTER: stop price 99.999 is not a multiple of the tick size 0.01"
    ]
    low = btc(min_price="1", min_notional="0")
    assert _messages(low, Side.BUY, OrderType.LIMIT, "0.5", "1") == [
        "PRICE_FILTER: price 0.5 is below the minimum 1"
    ]


def test_notional_messages() -> None:
    inst = btc()
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "100", "0.04") == [
        "MIN_NOTIONAL: notional 4 is below the minimum 5"
    ]
    assert _messages(inst, Side.BUY, OrderType.LIMIT, "1000000", "9.5") == [
        "MAX_NOTIONAL: notional 9500000 is above the maximum 9000000"
    ]
    # market orders: notional only with a reference price
    assert inst.validate(Side.BUY, OrderType.MARKET, None, "0.00001") == []
    assert _messages(inst, Side.BUY, OrderType.MARKET, None, "0.00001", reference_price="64000") == [
        "MIN_NOTIONAL: notional 0.64 is below the minimum 5"
    ]
    # conditional market orders fall back to their stop price
    assert _messages(inst, Side.SELL, OrderType.STOP_MARKET, None, "0.00001", stop_price="64000") == [
        "MIN_NOTIONAL: notional 0.64 is below the minimum 5"
    ]


def test_percent_price_optional() -> None:
    inst = btc(percent_price_up="1.05", percent_price_down="0.95")
    assert inst.validate(Side.BUY, OrderType.LIMIT, "104", "1", reference_price="100") == []
    assert inst.validate(Side.BUY, OrderType.LIMIT, "200", "1") == []  # no reference: skipped
    msgs = _messages(inst, Side.BUY, OrderType.LIMIT, "106", "1", reference_price="100")
    assert msgs == ["PERCENT_PRICE: price 106 is above 105 (1.05 x reference 100)"]
    msgs = _messages(inst, Side.SELL, OrderType.LIMIT, "94", "1", reference_price="100")
    assert msgs == ["PERCENT_PRICE: price 94 is below 95 (0.95 x reference 100)"]


def test_multiple_filters_reported_together() -> None:
    inst = btc()
    violations = inst.validate(Side.BUY, OrderType.LIMIT, "0.001", "0.0000015")
    assert [v.filter for v in violations] == [
        FilterName.PRICE_FILTER,
        FilterName.PRICE_FILTER,
        FilterName.LOT_SIZE,
        FilterName.LOT_SIZE,
        FilterName.MIN_NOTIONAL,
    ]


def test_rounded_values_always_validate() -> None:
    inst = btc()
    price = inst.round_price("64123.456789")
    qty = inst.round_qty_down("0.0123456789")
    assert inst.validate(Side.BUY, OrderType.LIMIT, price, qty) == []


# ---------------------------------------------------------------- properties

ticks = st.sampled_from(["0.01", "0.5", "0.1", "1", "5", "0.00000001", "0.0001", "10", "0.25"])
prices = st.decimals(min_value="0.00000001", max_value="10000000", places=10, allow_nan=False)


@given(tick=ticks, price=prices)
def test_nearest_is_tick_multiple_within_half_tick(tick: str, price: Decimal) -> None:
    inst = btc(tick_size=tick)
    out = inst.round_price(price)
    t = D(tick)
    assert out % t == 0
    assert abs(out - price) <= t / 2


@given(tick=ticks, price=prices)
def test_down_and_up_bracket_the_price(tick: str, price: Decimal) -> None:
    inst = btc(tick_size=tick)
    down = inst.round_price(price, RoundingMode.DOWN)
    up = inst.round_price(price, RoundingMode.UP)
    t = D(tick)
    assert down <= price <= up
    assert up - down in (0, t)
    assert down % t == 0 and up % t == 0
    assert inst.ticks_to_price(inst.price_to_ticks(down)) == down


@given(step=ticks, qty=prices)
def test_round_qty_down_is_step_multiple_not_above(step: str, qty: Decimal) -> None:
    inst = btc(step_size=step)
    out = inst.round_qty_down(qty)
    s = D(step)
    assert out <= qty
    assert qty - out < s
    assert out % s == 0
    assert inst.is_qty_aligned(out)

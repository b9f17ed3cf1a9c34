from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal.model import Balance, Position, PositionSide, Side, Venue

D = Decimal


def flat(side: PositionSide = PositionSide.BOTH) -> Position:
    return Position(Venue.BINANCE_USDM, "BTCUSDT", side=side, leverage=D(10))


def test_balance_total() -> None:
    b = Balance("USDT", D("100.5"), D("20"))
    assert b.total == D("120.5")


def test_open_long_and_add() -> None:
    p = flat().apply_fill(Side.BUY, "1", "100", fee="0.04", ts=5)
    assert p.qty == D(1) and p.entry_price == D(100) and p.realized_pnl == 0
    assert p.fees == D("0.04") and p.updated_at == 5
    p = p.apply_fill(Side.BUY, "3", "104")
    assert p.qty == D(4)
    assert p.entry_price == D(103)  # (100*1 + 104*3) / 4
    assert p.direction is Side.BUY


def test_open_short_and_add() -> None:
    p = flat().apply_fill(Side.SELL, "2", "100").apply_fill(Side.SELL, "2", "90")
    assert p.qty == D(-4) and p.entry_price == D(95)
    assert p.direction is Side.SELL


def test_partial_close_realizes_pnl_and_keeps_entry() -> None:
    p = flat().apply_fill(Side.BUY, "4", "100")
    p = p.apply_fill(Side.SELL, "1", "110")
    assert p.qty == D(3)
    assert p.entry_price == D(100)
    assert p.realized_pnl == D(10)
    p = p.apply_fill(Side.SELL, "3", "95")
    assert p.is_flat and p.entry_price == 0
    assert p.realized_pnl == D(10) - D(15)
    assert p.direction is None


def test_short_partial_close() -> None:
    p = flat().apply_fill(Side.SELL, "2", "100").apply_fill(Side.BUY, "1", "90")
    assert p.qty == D(-1) and p.entry_price == D(100) and p.realized_pnl == D(10)


def test_flip_long_to_short() -> None:
    p = flat().apply_fill(Side.BUY, "1", "100").apply_fill(Side.SELL, "3", "120")
    assert p.qty == D(-2)
    assert p.entry_price == D(120)  # the new side opened at the fill price
    assert p.realized_pnl == D(20)  # only the closed 1 realizes
    p = p.apply_fill(Side.BUY, "5", "110")
    assert p.qty == D(3) and p.entry_price == D(110) and p.realized_pnl == D(40)


def test_unrealized_and_notional() -> None:
    p = flat().apply_fill(Side.SELL, "2", "100")
    assert p.unrealized_pnl == 0  # no mark yet
    assert p.notional == D(200)
    p = p.with_mark("90", ts=7)
    assert p.unrealized_pnl == D(20)
    assert p.notional == D(180)
    assert p.initial_margin == D(18)
    assert p.updated_at == 7


def test_hedge_legs() -> None:
    long = flat(PositionSide.LONG).apply_fill(Side.BUY, "2", "100")
    short = flat(PositionSide.SHORT).apply_fill(Side.SELL, "1", "105")
    assert long.qty == D(2) and long.signed_qty == D(2)
    assert short.qty == D(1) and short.signed_qty == D(-1)
    assert short.direction is Side.SELL
    short = short.with_mark("100")
    assert short.unrealized_pnl == D(5)
    long = long.apply_fill(Side.SELL, "2", "110")
    assert long.is_flat and long.realized_pnl == D(20)
    short = short.apply_fill(Side.BUY, "1", "95")
    assert short.is_flat and short.realized_pnl == D(10)


@pytest.mark.parametrize(
    ("side", "fill_side", "held"),
    [
        (PositionSide.LONG, Side.SELL, "1"),  # over-reduce
        (PositionSide.LONG, Side.SELL, "0"),  # a SELL never opens a LONG leg
        (PositionSide.SHORT, Side.BUY, "0"),
    ],
)
def test_hedge_legs_do_not_flip(side: PositionSide, fill_side: Side, held: str) -> None:
    p = Position(Venue.BINANCE_USDM, "BTCUSDT", side=side, qty=D(held), entry_price=D(100))
    with pytest.raises(ValueError, match="hedge legs do not flip"):
        p.apply_fill(fill_side, "2", "100")


def test_invalid_fills_and_legs() -> None:
    with pytest.raises(ValueError):
        flat().apply_fill(Side.BUY, "0", "100")
    with pytest.raises(ValueError):
        flat().apply_fill(Side.BUY, "1", "-1")
    with pytest.raises(ValueError):
        Position(Venue.BINANCE_USDM, "X", side=PositionSide.LONG, qty=D(-1))


fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=50),
        st.integers(min_value=50, max_value=150),
    ),
    min_size=1,
    max_size=30,
)


@given(fills=fills, final=st.integers(min_value=50, max_value=150))
def test_total_pnl_equals_cash_flow(fills: list[tuple[Side, int, int]], final: int) -> None:
    """Realized + unrealized PnL equals the cash flow of all fills, position marked at ``final``
    (this covers opens, adds, partial closes and flips in any order)."""
    p = flat()
    cash = D(0)
    for side, qty, price in fills:
        p = p.apply_fill(side, D(qty), D(price))
        cash -= side.sign * D(qty) * D(price)
    total = p.with_mark(D(final)).unrealized_pnl + p.realized_pnl
    # The average entry is a 28-digit division, so equal up to rounding of that division.
    assert abs(total - (cash + p.signed_qty * D(final))) < D("1e-20")
    assert p.qty == sum(side.sign * qty for side, qty, _ in fills)

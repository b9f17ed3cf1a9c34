"""Small Decimal helpers shared by the model modules (internal)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)

# Accepted wherever a money value enters the model: venues send strings, tests write ints.
DecimalLike = Decimal | str | int


def to_decimal(value: DecimalLike | float, name: str = "value") -> Decimal:
    """Convert to Decimal exactly.

    Floats go through ``repr`` so ``0.1`` becomes ``Decimal("0.1")`` rather than the binary
    expansion; NaN and infinities are refused because they poison every comparison.
    """
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise TypeError(f"{name}: bool is not a number")
    elif isinstance(value, int | str):
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{name}: not a number: {value!r}") from None
    elif isinstance(value, float):
        d = Decimal(repr(value))
    else:
        raise TypeError(f"{name}: expected Decimal, str or int, got {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"{name}: must be finite, got {value!r}")
    return d


def opt_decimal(value: DecimalLike | float | None, name: str = "value") -> Decimal | None:
    return None if value is None else to_decimal(value, name)


def fmt(d: Decimal) -> str:
    """Plain, minimal decimal text for messages: 0.00001000 -> '0.00001', 1E+2 -> '100'."""
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


def decimals_of(step: Decimal) -> int:
    """Number of fractional digits a step needs: 0.010 -> 2, 1 -> 0, 10 -> 0."""
    exp = step.normalize().as_tuple().exponent
    assert isinstance(exp, int)  # finite by construction
    return max(0, -exp)

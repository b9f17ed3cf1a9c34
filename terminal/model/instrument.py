"""Tradable instruments and their exchange filters (tick, step, notional limits).

Rounding and validation happen here, before an order leaves the terminal, so the venue never
sees a request it would reject for a filter (Binance -1013 "Filter failure", Bybit 170136...).
All arithmetic is exact Decimal; nothing goes through float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal
from enum import StrEnum

from terminal.model._dec import ZERO, DecimalLike, decimals_of, fmt, opt_decimal, to_decimal
from terminal.model.enums import InstrumentKind, OrderType, Side, Venue

__all__ = ["FilterName", "FilterViolation", "Instrument", "RoundingMode"]


class FilterName(StrEnum):
    """Names follow Binance's filter types; Bybit's lotSizeFilter/priceFilter map onto them."""

    PRICE_FILTER = "PRICE_FILTER"
    LOT_SIZE = "LOT_SIZE"
    MARKET_LOT_SIZE = "MARKET_LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    PERCENT_PRICE = "PERCENT_PRICE"


class RoundingMode(StrEnum):
    NEAREST = "nearest"  # half a tick rounds away from zero
    DOWN = "down"  # toward -infinity
    UP = "up"  # toward +infinity


# Wide enough that value/step is exact for any realistic price and tick (the default context's
# 28 digits would silently round 1e20 / 1e-9).
_CTX = Context(prec=60)

_ROUNDING = {
    RoundingMode.NEAREST: ROUND_HALF_UP,
    RoundingMode.DOWN: ROUND_FLOOR,
    RoundingMode.UP: ROUND_CEILING,
}

# Order types that execute at market once live: they are bounded by MARKET_LOT_SIZE.
_MARKET_TYPES = frozenset(
    {
        OrderType.MARKET,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
    }
)


@dataclass(frozen=True, slots=True)
class FilterViolation:
    filter: FilterName
    message: str  # human text, starts with the filter name, e.g. "LOT_SIZE: quantity ..."

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Instrument:
    """One symbol on one venue with its trading filters.

    ``None`` for a maximum means "no limit published". Precisions default to the number of
    decimals of tick/step when not given.
    """

    venue: Venue
    symbol: str
    base: str
    quote: str
    kind: InstrumentKind
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal = ZERO
    max_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    min_notional: Decimal = ZERO
    max_notional: Decimal | None = None
    min_price: Decimal = ZERO
    max_price: Decimal | None = None
    price_precision: int = -1  # -1: derive from tick_size
    qty_precision: int = -1  # -1: derive from step_size
    # PERCENT_PRICE: a limit price must lie within [ref * down, ref * up] when a reference
    # price is passed to validate(); None disables the check.
    percent_price_up: Decimal | None = None
    percent_price_down: Decimal | None = None

    def __post_init__(self) -> None:
        # Coerce wire strings so adapters can pass exchangeInfo values straight through.
        s = object.__setattr__
        for name in ("tick_size", "step_size", "min_qty", "min_notional", "min_price"):
            s(self, name, to_decimal(getattr(self, name), name))
        for name in (
            "max_qty",
            "market_max_qty",
            "max_notional",
            "max_price",
            "percent_price_up",
            "percent_price_down",
        ):
            s(self, name, opt_decimal(getattr(self, name), name))
        if self.tick_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size must be positive, got {self.tick_size}")
        if self.step_size <= 0:
            raise ValueError(f"{self.symbol}: step_size must be positive, got {self.step_size}")
        if self.price_precision < 0:
            s(self, "price_precision", decimals_of(self.tick_size))
        if self.qty_precision < 0:
            s(self, "qty_precision", decimals_of(self.step_size))

    # ------------------------------------------------------------------ rounding

    @property
    def is_derivative(self) -> bool:
        return self.kind is not InstrumentKind.SPOT

    def round_price(self, price: DecimalLike, mode: RoundingMode = RoundingMode.NEAREST) -> Decimal:
        """Round to a multiple of the tick size (relative to zero, as every venue's ticks are)."""
        return _round_to(to_decimal(price, "price"), self.tick_size, mode)

    def round_qty(self, qty: DecimalLike, mode: RoundingMode = RoundingMode.DOWN) -> Decimal:
        return _round_to(to_decimal(qty, "qty"), self.step_size, mode)

    def round_qty_down(self, qty: DecimalLike) -> Decimal:
        """Round down to the step: sizing must never exceed what risk approved."""
        return _round_to(to_decimal(qty, "qty"), self.step_size, RoundingMode.DOWN)

    def price_to_ticks(self, price: DecimalLike, mode: RoundingMode = RoundingMode.NEAREST) -> int:
        """Integer tick count (exact dict key for order books)."""
        return _ticks(to_decimal(price, "price"), self.tick_size, mode)

    def ticks_to_price(self, ticks: int) -> Decimal:
        return _CTX.multiply(Decimal(ticks), self.tick_size)

    def qty_to_steps(self, qty: DecimalLike, mode: RoundingMode = RoundingMode.DOWN) -> int:
        return _ticks(to_decimal(qty, "qty"), self.step_size, mode)

    def is_price_aligned(self, price: DecimalLike) -> bool:
        return _aligned(to_decimal(price, "price"), self.tick_size)

    def is_qty_aligned(self, qty: DecimalLike) -> bool:
        return _aligned(to_decimal(qty, "qty"), self.step_size)

    # ------------------------------------------------------------------ formatting

    def format_price(self, price: DecimalLike | float) -> str:
        """Fixed ``price_precision`` decimals (floats accepted for chart labels)."""
        return _fixed(to_decimal(price, "price"), self.price_precision)

    def format_qty(self, qty: DecimalLike | float) -> str:
        return _fixed(to_decimal(qty, "qty"), self.qty_precision)

    # ------------------------------------------------------------------ validation

    def validate(
        self,
        side: Side,
        order_type: OrderType,
        price: DecimalLike | None,
        qty: DecimalLike,
        *,
        stop_price: DecimalLike | None = None,
        reference_price: DecimalLike | None = None,
    ) -> list[FilterViolation]:
        """Every filter the order would fail, in the venue's checking order; [] when valid.

        ``reference_price`` (last or mark price) enables the notional check for market
        orders and the PERCENT_PRICE check for limit prices.
        """
        del side  # filters are symmetric here; kept in the signature for PERCENT_PRICE_BY_SIDE
        out: list[FilterViolation] = []
        q = to_decimal(qty, "qty")
        p = opt_decimal(price, "price")
        sp = opt_decimal(stop_price, "stop_price")
        ref = opt_decimal(reference_price, "reference_price")

        # PRICE_FILTER
        if order_type.has_limit_price and p is None:
            out.append(_v(FilterName.PRICE_FILTER, f"price is required for {order_type} orders"))
        if p is not None:
            out.extend(self._check_price(p, "price"))
        if order_type.is_conditional and order_type is not OrderType.TRAILING_STOP_MARKET:
            if sp is None:
                out.append(_v(FilterName.PRICE_FILTER, f"stop price is required for {order_type} orders"))
            else:
                out.extend(self._check_price(sp, "stop price"))

        # LOT_SIZE (applies to every order type), then MARKET_LOT_SIZE's tighter maximum.
        if q <= 0:
            out.append(_v(FilterName.LOT_SIZE, f"quantity {fmt(q)} must be positive"))
        else:
            if q < self.min_qty:
                out.append(
                    _v(
                        FilterName.LOT_SIZE,
                        f"quantity {fmt(q)} is below the minimum {fmt(self.min_qty)}",
                    )
                )
            if self.max_qty is not None and q > self.max_qty:
                out.append(
                    _v(
                        FilterName.LOT_SIZE,
                        f"quantity {fmt(q)} is above the maximum {fmt(self.max_qty)}",
                    )
                )
            if not _aligned(q, self.step_size):
                out.append(
                    _v(
                        FilterName.LOT_SIZE,
                        f"quantity {fmt(q)} is not a multiple of the step size {fmt(self.step_size)}",
                    )
                )
            if order_type in _MARKET_TYPES and self.market_max_qty is not None and q > self.market_max_qty:
                out.append(
                    _v(
                        FilterName.MARKET_LOT_SIZE,
                        f"quantity {fmt(q)} is above the market order maximum {fmt(self.market_max_qty)}",
                    )
                )

        # PERCENT_PRICE: limit price against the reference price.
        if p is not None and p > 0 and ref is not None and ref > 0:
            if self.percent_price_up is not None and p > ref * self.percent_price_up:
                out.append(
                    _v(
                        FilterName.PERCENT_PRICE,
                        f"price {fmt(p)} is above {fmt(ref * self.percent_price_up)} "
                        f"({fmt(self.percent_price_up)} x reference {fmt(ref)})",
                    )
                )
            if self.percent_price_down is not None and p < ref * self.percent_price_down:
                out.append(
                    _v(
                        FilterName.PERCENT_PRICE,
                        f"price {fmt(p)} is below {fmt(ref * self.percent_price_down)} "
                        f"({fmt(self.percent_price_down)} x reference {fmt(ref)})",
                    )
                )

        # Notional: limit price if the order has one, else the reference price.
        notional_price = p if order_type.has_limit_price and p is not None else ref
        if notional_price is None and order_type.is_conditional:
            notional_price = sp
        if q > 0 and notional_price is not None and notional_price > 0:
            notional = q * notional_price
            if notional < self.min_notional:
                out.append(
                    _v(
                        FilterName.MIN_NOTIONAL,
                        f"notional {fmt(notional)} is below the minimum {fmt(self.min_notional)}",
                    )
                )
            if self.max_notional is not None and notional > self.max_notional:
                out.append(
                    _v(
                        FilterName.MAX_NOTIONAL,
                        f"notional {fmt(notional)} is above the maximum {fmt(self.max_notional)}",
                    )
                )
        return out

    def _check_price(self, p: Decimal, what: str) -> list[FilterViolation]:
        out: list[FilterViolation] = []
        if p <= 0:
            return [_v(FilterName.PRICE_FILTER, f"{what} {fmt(p)} must be positive")]
        if p < self.min_price:
            out.append(
                _v(FilterName.PRICE_FILTER, f"{what} {fmt(p)} is below the minimum {fmt(self.min_price)}")
            )
        if self.max_price is not None and p > self.max_price:
            out.append(
                _v(FilterName.PRICE_FILTER, f"{what} {fmt(p)} is above the maximum {fmt(self.max_price)}")
            )
        if not _aligned(p, self.tick_size):
            out.append(
                _v(
                    FilterName.PRICE_FILTER,
                    f"{what} {fmt(p)} is not a multiple of the tick size {fmt(self.tick_size)}",
                )
            )
        return out


def _v(name: FilterName, text: str) -> FilterViolation:
    return FilterViolation(name, f"{name}: {text}")


def _ticks(value: Decimal, step: Decimal, mode: RoundingMode) -> int:
    return int(_CTX.divide(value, step).to_integral_value(rounding=_ROUNDING[mode], context=_CTX))


def _aligned(value: Decimal, step: Decimal) -> bool:
    return _CTX.remainder(value, step) == 0


def _round_to(value: Decimal, step: Decimal, mode: RoundingMode) -> Decimal:
    # int * step keeps the step's exponent: 123 * 0.01 -> Decimal("1.23"), never "1.23E+0".
    return _CTX.multiply(Decimal(_ticks(value, step, mode)), step)


def _fixed(value: Decimal, decimals: int) -> str:
    q = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if q == 0:
        q = abs(q)  # no "-0.00"
    return format(q, "f")

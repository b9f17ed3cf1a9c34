"""Instrument catalog of the simulator: realistic tick/step sizes per venue.

Prices and quantities travel inside the simulator as integers (ticks and lots);
``SimInstrument`` converts at the wire edge with the venue's fixed number of
decimals, so snapshots and diffs always spell a level identically (clients
match levels as strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from terminal.model.enums import InstrumentKind, Venue


class NotAMultipleError(ValueError):
    """A price or quantity is not an exact multiple of the tick or step."""


@dataclass(frozen=True, slots=True)
class SimInstrument:
    symbol: str
    base: str
    quote: str
    kind: InstrumentKind
    tick: Decimal  # price increment
    step: Decimal  # quantity increment
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    min_price: Decimal
    max_price: Decimal
    price_decimals: int  # decimals used on the wire for prices of this venue
    qty_decimals: int  # decimals used on the wire for quantities
    start_price: Decimal

    # ---- price <-> ticks -------------------------------------------------
    def ticks(self, price: Decimal) -> int:
        """Exact tick count of ``price``; raises NotAMultipleError otherwise."""
        q, r = divmod(price, self.tick)
        if r != 0:
            raise NotAMultipleError(f"{price} is not a multiple of tick {self.tick}")
        return int(q)

    def ticks_nearest(self, price: float | Decimal) -> int:
        return round(float(price) / float(self.tick))

    def price(self, ticks: int) -> Decimal:
        return self.tick * ticks

    def fmt_price(self, ticks: int) -> str:
        return f"{self.tick * ticks:.{self.price_decimals}f}"

    def fmt_price_dec(self, price: Decimal) -> str:
        return f"{price:.{self.price_decimals}f}"

    # ---- qty <-> lots ----------------------------------------------------
    def lots(self, qty: Decimal) -> int:
        q, r = divmod(qty, self.step)
        if r != 0:
            raise NotAMultipleError(f"{qty} is not a multiple of step {self.step}")
        return int(q)

    def lots_down(self, qty: Decimal) -> int:
        return int((qty / self.step).to_integral_value(rounding=ROUND_DOWN))

    def qty(self, lots: int) -> Decimal:
        return self.step * lots

    def fmt_qty(self, lots: int) -> str:
        return f"{self.step * lots:.{self.qty_decimals}f}"

    def fmt_qty_dec(self, qty: Decimal) -> str:
        return f"{qty:.{self.qty_decimals}f}"

    @property
    def tick_f(self) -> float:
        return float(self.tick)

    @property
    def step_f(self) -> float:
        return float(self.step)


@dataclass(frozen=True, slots=True)
class _Profile:
    base: str
    start_price: str
    spot_tick: str
    spot_step: str
    linear_tick: str
    linear_step: str
    linear_max_qty: str


# Tick/step sizes as the venues list them (approximately, mid-2026).
_PROFILES: dict[str, _Profile] = {
    "BTCUSDT": _Profile("BTC", "65000", "0.01", "0.00001", "0.10", "0.001", "1000"),
    "ETHUSDT": _Profile("ETH", "3400", "0.01", "0.0001", "0.01", "0.001", "10000"),
    "SOLUSDT": _Profile("SOL", "150", "0.01", "0.001", "0.0100", "1", "100000"),
    "BNBUSDT": _Profile("BNB", "600", "0.01", "0.001", "0.010", "0.01", "20000"),
    "XRPUSDT": _Profile("XRP", "0.6", "0.0001", "0.1", "0.0001", "0.1", "10000000"),
    "DOGEUSDT": _Profile("DOGE", "0.15", "0.00001", "1", "0.000010", "1", "50000000"),
}

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def known_symbols() -> list[str]:
    return sorted(_PROFILES)


def _decimals(x: Decimal) -> int:
    exp = x.normalize().as_tuple().exponent
    return max(0, -int(exp))


def make_instrument(venue: Venue, symbol: str) -> SimInstrument:
    """The instrument ``symbol`` as ``venue`` lists it. Unknown symbols raise KeyError."""
    if symbol not in _PROFILES:
        raise KeyError(f"unknown symbol {symbol!r}; known: {', '.join(known_symbols())}")
    p = _PROFILES[symbol]
    spot = venue in (Venue.BINANCE_SPOT, Venue.BYBIT_SPOT)
    tick = Decimal(p.spot_tick if spot else p.linear_tick)
    step = Decimal(p.spot_step if spot else p.linear_step)
    start = Decimal(p.start_price)
    if venue is Venue.BINANCE_SPOT:
        # Binance spot spells every price and quantity with 8 decimals.
        price_dec, qty_dec = 8, 8
    else:
        price_dec, qty_dec = _decimals(tick), _decimals(step)
    max_qty = Decimal("9000") if spot else Decimal(p.linear_max_qty)
    min_notional = Decimal("5") if venue is not Venue.BYBIT_SPOT else Decimal("1")
    return SimInstrument(
        symbol=symbol,
        base=p.base,
        quote="USDT",
        kind=InstrumentKind.SPOT if spot else InstrumentKind.LINEAR_PERPETUAL,
        tick=tick,
        step=step,
        min_qty=step,
        max_qty=max_qty * (Decimal(1) if start >= 1 else Decimal(1000)),
        market_max_qty=max_qty * (Decimal(1) if start >= 1 else Decimal(1000)),
        min_notional=min_notional,
        max_notional=Decimal("9000000"),
        min_price=tick,
        max_price=Decimal("1000000") if start >= 1 else Decimal("1000"),
        price_decimals=price_dec,
        qty_decimals=qty_dec,
        start_price=start,
    )

"""Text for market numbers: prices and quantities to the instrument's tick/step decimals.

Pure functions (no Qt) so every panel formats the same way and the rules are unit-tested.
Without an instrument (not loaded yet, unknown symbol) values are shown plainly instead of
guessing a precision. ``instrument_for`` is the one lookup of reference data the UI does: it
reads the adapters' loaded instruments and never sends a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from terminal.model import Instrument, Venue
from terminal.model._dec import decimals_of

__all__ = [
    "VENUE_LABELS",
    "VENUE_SHORT",
    "bps",
    "decimals_of_step",
    "format_bps",
    "format_compact",
    "format_mid",
    "format_pct",
    "format_plain",
    "format_price",
    "format_price_step",
    "format_qty",
    "format_time_ms",
    "instrument_for",
    "venue_label",
    "venue_short",
]

VENUE_LABELS: Mapping[Venue, str] = {
    Venue.BINANCE_SPOT: "Binance Spot",
    Venue.BINANCE_USDM: "Binance USD-M",  # "USDⓈ-M": common UI fonts lack the Ⓢ glyph
    Venue.BYBIT_SPOT: "Bybit Spot",
    Venue.BYBIT_LINEAR: "Bybit Linear",
}

# Narrow tables (watchlist): the same short names as the status bar's feed indicators.
VENUE_SHORT: Mapping[Venue, str] = {
    Venue.BINANCE_SPOT: "BN spot",
    Venue.BINANCE_USDM: "BN USD-M",
    Venue.BYBIT_SPOT: "BY spot",
    Venue.BYBIT_LINEAR: "BY linear",
}

_PLAIN_MAX_DECIMALS = 8  # without an instrument: enough for any listed tick or step
_DASH = "—"  # shown for a value that does not exist (no ticker yet), never "0"


class _HasInstruments(Protocol):
    def instrument(self, symbol: str) -> Instrument: ...


def venue_label(venue: Venue) -> str:
    return VENUE_LABELS.get(venue, str(venue))


def venue_short(venue: Venue) -> str:
    return VENUE_SHORT.get(venue, str(venue))


def instrument_for(adapters: Mapping[Venue, _HasInstruments], venue: Venue, symbol: str) -> Instrument | None:
    """The loaded instrument of ``symbol`` on ``venue`` (``ctx.app.adapters``); None if unknown."""
    adapter = adapters.get(venue)
    if adapter is None:
        return None
    try:
        return adapter.instrument(symbol)
    except Exception:  # UnknownSymbol, or an adapter that has not loaded instruments yet
        return None


def _fixed(value: Decimal, decimals: int) -> str:
    q = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if q == 0:
        q = abs(q)  # never "-0.00"
    return format(q, "f")


def format_plain(value: Decimal | float | int | None, max_decimals: int = _PLAIN_MAX_DECIMALS) -> str:
    """Minimal text, at most ``max_decimals`` decimals: 0.0010000 -> '0.001', 1E+2 -> '100'."""
    if value is None:
        return _DASH
    d = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    text = _fixed(d, max_decimals)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def format_price(value: Decimal | float | None, inst: Instrument | None) -> str:
    """Price with the instrument's price precision (the tick's decimals)."""
    if value is None:
        return _DASH
    if inst is None:
        return format_plain(value)
    return inst.format_price(value)


def format_mid(value: Decimal | None, inst: Instrument | None) -> str:
    """A mid price: half a tick gets one more decimal rather than rounding onto the ask."""
    if value is None:
        return _DASH
    if inst is None or inst.is_price_aligned(value):
        return format_price(value, inst)
    return _fixed(value, inst.price_precision + 1)


def format_qty(value: Decimal | float | None, inst: Instrument | None) -> str:
    """Quantity with the instrument's quantity precision (the step's decimals)."""
    if value is None:
        return _DASH
    if inst is None:
        return format_plain(value)
    return inst.format_qty(value)


def decimals_of_step(step: Decimal) -> int:
    """Fractional digits a grid needs: 0.010 -> 2, 0.5 -> 1, 1.00 -> 0."""
    return decimals_of(step)


def format_price_step(value: Decimal, step: Decimal) -> str:
    """A price on a grid of ``step`` (grouped book levels): as many decimals as the step needs.

    Tick 0.01 grouped x100 is a 1.00 grid: 64970 reads better than 64970.00.
    """
    return _fixed(value, decimals_of(step))


def bps(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` in basis points of ``whole`` (spread of mid); None when ``whole`` is not positive."""
    if whole <= 0:
        return None
    return part / whole * 10_000


def format_bps(value: Decimal | None, decimals: int | None = None) -> str:
    """Basis points; by default 2 decimals, more below 1 bp (a BTC spread is ~0.003 bp)."""
    if value is None:
        return _DASH
    if decimals is None:
        magnitude = abs(value)
        decimals = 2 if magnitude >= 1 or magnitude == 0 else 3 if magnitude >= Decimal("0.1") else 4
    return f"{_fixed(value, decimals)} bps"


def format_pct(value: Decimal | float | None, decimals: int = 2, *, signed: bool = True) -> str:
    """Percent (``value`` is already in percent: 2.5 -> '+2.50%')."""
    if value is None:
        return _DASH
    d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    text = _fixed(d, decimals)
    if signed and not text.startswith("-") and Decimal(text) != 0:
        text = "+" + text
    return text + "%"


_UNITS = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K"))


def format_compact(value: Decimal | float | None, decimals: int = 2) -> str:
    """Large amounts for tables: 1501504703.06 -> '1.50B', 23753.7 -> '23.75K', 950.5 -> '950.50'."""
    if value is None:
        return _DASH
    d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    magnitude = abs(d)
    for size, unit in _UNITS:
        # compare the rounded value, so 999999.999 reads '1.00M' and not '1000.00K'
        if Decimal(_fixed(magnitude / size, decimals)) >= 1:
            return _fixed(d / size, decimals) + unit
    return _fixed(d, decimals)


def format_time_ms(ts_ms: int, tz: tzinfo | None = None) -> str:
    """Exchange time (ms since epoch) as HH:MM:SS.mmm in ``tz`` (local time when None)."""
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=tz if tz is not None else UTC)
    if tz is None:
        dt = dt.astimezone()  # the user's local zone, as every other terminal shows trade times
    return dt.strftime("%H:%M:%S.") + f"{ts_ms % 1000:03d}"

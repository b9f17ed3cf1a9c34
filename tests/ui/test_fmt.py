"""Formatting helpers: prices/quantities to the instrument's tick/step, percents, volumes, times."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from decimal import Decimal

import pytest

from terminal.model import Instrument, InstrumentKind, Venue
from terminal.ui.fmt import (
    bps,
    format_bps,
    format_compact,
    format_mid,
    format_pct,
    format_plain,
    format_price,
    format_price_step,
    format_qty,
    format_time_ms,
    instrument_for,
    venue_label,
    venue_short,
)
from terminal.venues.errors import UnknownSymbol

pytestmark = pytest.mark.timeout(30)

D = Decimal

SPOT = Instrument(
    Venue.BINANCE_SPOT, "BTCUSDT", "BTC", "USDT", InstrumentKind.SPOT, "0.01000000", "0.00001000"
)
PERP = Instrument(
    Venue.BINANCE_USDM, "BTCUSDT", "BTC", "USDT", InstrumentKind.LINEAR_PERPETUAL, "0.10", "0.001"
)


def test_price_and_qty_follow_the_instruments_tick_and_step() -> None:
    assert format_price(D("64970.75000000"), SPOT) == "64970.75"
    assert format_price(D("64970.7"), SPOT) == "64970.70"  # padded to the tick's decimals
    assert format_price(D("64973.2"), PERP) == "64973.2"
    assert format_price(64973.25, PERP) == "64973.3"  # floats (chart labels) round half up
    assert format_qty(D("0.1174200"), SPOT) == "0.11742"
    assert format_qty(D("0.05"), PERP) == "0.050"
    assert format_qty(D("-0.0001"), PERP) == "0.000"  # never "-0.000"


def test_mid_keeps_the_half_tick() -> None:
    assert format_mid(D("64972.15"), PERP) == "64972.15"  # not rounded onto the ask (64972.2)
    assert format_mid(D("64972.2"), PERP) == "64972.2"
    assert format_mid(D("64983.745"), SPOT) == "64983.745"
    assert format_mid(D("3399.5"), None) == "3399.5"
    assert format_mid(None, SPOT) == "—"


def test_without_an_instrument_values_are_plain_not_guessed() -> None:
    assert format_price(D("64970.75000000"), None) == "64970.75"
    assert format_qty(D("0.00109000"), None) == "0.00109"
    assert format_plain(D("1E+2")) == "100"
    assert format_plain(D("0")) == "0"
    assert format_plain(0.1) == "0.1"
    assert format_plain(D("0.123456789")) == "0.12345679"
    assert format_price(None, SPOT) == "—" and format_qty(None, None) == "—"


def test_grouped_prices_show_the_grid_decimals() -> None:
    assert format_price_step(D("64970.00"), D("0.01") * 100) == "64970"
    assert format_price_step(D("64970.50"), D("0.01") * 50) == "64970.5"
    assert format_price_step(D("64970.75"), D("0.01") * 5) == "64970.75"
    assert format_price_step(D("64970"), D("0.10") * 10) == "64970"


def test_spread_in_basis_points() -> None:
    assert bps(D("0.02"), D("100")) == D("2")
    assert bps(D("1"), D("0")) is None
    assert format_bps(D("0.0030781")) == "0.0031 bps"  # a BTC spread: small bps keep digits
    assert format_bps(D("0.25")) == "0.250 bps"
    assert format_bps(D("1.236")) == "1.24 bps"
    assert format_bps(D("0")) == "0.00 bps"
    assert format_bps(D("0.0030781"), 2) == "0.00 bps"
    assert format_bps(None) == "—"


def test_percent_is_signed_and_zero_is_unsigned() -> None:
    assert format_pct(D("2.5")) == "+2.50%"
    assert format_pct(D("-0.126")) == "-0.13%"
    assert format_pct(D("0.001")) == "0.00%"
    assert format_pct(D("2.5"), signed=False) == "2.50%"
    assert format_pct(1.0) == "+1.00%"
    assert format_pct(None) == "—"


def test_compact_volumes() -> None:
    assert format_compact(D("1501504703.05990744")) == "1.50B"
    assert format_compact(D("23753.75678")) == "23.75K"
    assert format_compact(D("23755.617")) == "23.76K"
    assert format_compact(D("950.5")) == "950.50"
    assert format_compact(D("999999.999")) == "1.00M"  # not "1000.00K"
    assert format_compact(D("-2500000")) == "-2.50M"
    assert format_compact(D("3.2e12")) == "3.20T"
    assert format_compact(None) == "—"


def test_trade_time_in_the_given_zone_with_milliseconds() -> None:
    ts = 1796531370137  # 2026-12-06 04:29:30.137 UTC
    assert format_time_ms(ts, UTC) == "04:29:30.137"
    assert format_time_ms(ts, timezone(timedelta(hours=2))) == "06:29:30.137"
    assert format_time_ms(ts).endswith(":30.137")  # local zone: only the minutes may differ


class _Adapter:
    def __init__(self, inst: Instrument) -> None:
        self._inst = inst

    def instrument(self, symbol: str) -> Instrument:
        if symbol != self._inst.symbol:
            raise UnknownSymbol(self._inst.venue, f"unknown symbol {symbol}")
        return self._inst


def test_instrument_lookup_tolerates_unknown_venue_and_symbol() -> None:
    adapters = {Venue.BINANCE_SPOT: _Adapter(SPOT)}
    assert instrument_for(adapters, Venue.BINANCE_SPOT, "BTCUSDT") is SPOT
    assert instrument_for(adapters, Venue.BINANCE_SPOT, "DOGEUSDT") is None
    assert instrument_for(adapters, Venue.BYBIT_LINEAR, "BTCUSDT") is None


def test_venue_labels() -> None:
    assert venue_label(Venue.BINANCE_USDM) == "Binance USD-M"
    assert venue_label(Venue.BYBIT_SPOT) == "Bybit Spot"
    assert venue_short(Venue.BINANCE_USDM) == "BN USD-M" and venue_short(Venue.BYBIT_LINEAR) == "BY linear"

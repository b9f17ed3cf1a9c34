"""Loading candles: CSV layouts, bad files, resampling without look-ahead, REST paging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from terminal.backtest import DataError, fetch_bars, load_csv, parse_time, resample
from terminal.model import Venue
from terminal.venues.binance.spot import BinanceSpotAdapter
from tests.backtest.support import MIN, walk
from tests.venues.binance_support import start_test_sim, venue_config

BINANCE_ROW = "{t},{o},{h},{l},{c},12.5,{ct},1000.0,42,6.0,500.0,0\n"


def _binance(path: Path, scale: int = 1, header: bool = False) -> Path:
    rows = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"
        if header
        else ""
    )
    for k in range(3):
        t = (1_700_000_000_000 + k * MIN) * scale
        rows += BINANCE_ROW.format(t=t, o=100 + k, h=101 + k, l=99 + k, c=100.5 + k, ct=t + MIN * scale - 1)
    path.write_text(rows)
    return path


@pytest.mark.parametrize(
    ("scale", "header"), [(1, False), (1000, False), (1, True)], ids=["ms", "us", "header"]
)
def test_binance_kline_csv(tmp_path: Path, scale: int, header: bool) -> None:
    b = load_csv(_binance(tmp_path / "k.csv", scale, header), "BTCUSDT", "1m")
    assert b.time.tolist() == [1_700_000_000_000 + k * MIN for k in range(3)]
    assert b.close.tolist() == [100.5, 101.5, 102.5] and b.volume.tolist() == [12.5] * 3


def test_simple_csv_with_iso_times(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text(
        "time,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n2024-01-01 00:01,1.5,2,1,1.8,4\n"
    )
    b = load_csv(p, "X", "1m")
    assert b.time.tolist() == [parse_time("2024-01-01T00:00"), parse_time("2024-01-01T00:00") + MIN]
    assert b.high.tolist() == [2.0, 2.0]
    assert parse_time("1700000000") == 1_700_000_000_000  # seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,open,high,low,close\n1,1,2,0,x\n", r"s.csv:2: could not convert"),
        ("time,open,high,close\n1,1,2,1\n", "header lacks low"),
        ("time,open,high,low,close\n", "header only"),
        ("", "no rows"),
        ("time,open,high,low,close\n2,1,2,0,1\n1,1,2,0,1\n", "strictly increasing"),
        ("time,open,high,low,close\n1,1,2,1.5,1\n", "outside low/high"),
        ("time,open,high,low,close\nyesterday,1,2,0,1\n", "not a time"),
        ("1,1,2\n", r"s.csv:1: expected 6 columns"),
    ],
)
def test_bad_csv_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "s.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=message):
        load_csv(p, "X", "1m")


def test_missing_file_and_bad_interval(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_csv(tmp_path / "nope.csv", "X", "1m")
    with pytest.raises(DataError, match="interval like"):
        load_csv(tmp_path / "nope.csv", "X", "1 minute")


def test_resample_closed_periods_only() -> None:
    b = walk(23)  # 1m bars 0..22: 5m periods 0-4, 5-9, 10-14, 15-19 closed; 20-22 still forming
    r = resample(b, "5m")
    assert r.time.tolist() == [0, 5 * MIN, 10 * MIN, 15 * MIN]
    for k in range(4):
        sl = slice(5 * k, 5 * k + 5)
        assert (r.open[k], r.close[k]) == (b.open[sl][0], b.close[sl][-1])
        assert (r.high[k], r.low[k], r.volume[k]) == (b.high[sl].max(), b.low[sl].min(), b.volume[sl].sum())
    # a gap inside a period: built from the bars present; a missing last bar: not closed
    holes = b.take(np.r_[0:3, 4:9])  # drops bar 3 and bar 9
    assert resample(holes, "5m").time.tolist() == [0]
    with pytest.raises(DataError, match="whole multiple"):
        resample(b, "90s")


async def test_fetch_bars_pages_through_the_simulator() -> None:
    sim = await start_test_sim(generator=False)
    adapter = BinanceSpotAdapter(venue_config(sim, Venue.BINANCE_SPOT, credentials=False), lambda _ev: None)
    try:
        await adapter.start()
        latest = await adapter.fetch_candles("BTCUSDT", "1m", limit=1)
        end = latest[-1].open_time - 10 * MIN
        start = end - 1_100 * MIN
        b = await fetch_bars(adapter, "BTCUSDT", "1m", start, end, page=300)
    finally:
        await adapter.close()
        await sim.stop()
    assert len(b) == 1_100  # four pages, no gap, no duplicate
    assert b.time[0] == start and b.time[-1] == end - MIN
    assert (np.diff(b.time) == MIN).all()

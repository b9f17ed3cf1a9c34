"""The candle store and the venue download, against the simulator over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from terminal.backtest import run_backtest
from terminal.model import Candle, Venue
from terminal.sim.faults import HttpFault
from terminal.sim.server import RunningSim
from terminal.storage.history import (
    HISTORY_FILENAME,
    DownloadProgress,
    HistoryError,
    HistoryStore,
    Span,
    download,
)
from terminal.venues.binance.spot import BinanceSpotAdapter
from terminal.venues.bybit.adapter import BybitAdapter
from tests.venues.binance_support import start_test_sim, venue_config

MIN = 60_000
SYM = "BTCUSDT"


def bar(t: int, price: float = 100.0, *, venue: Venue = Venue.BINANCE_SPOT, closed: bool = True) -> Candle:
    return Candle(
        venue, SYM, "1m", t, t + MIN - 1, price, price + 1, price - 1, price + 0.5, 2.0, closed=closed
    )


# ---------------------------------------------------------------- store only
def test_write_read_coverage_and_no_duplicates(tmp_path: Path) -> None:
    with HistoryStore.open_in(tmp_path) as store:
        assert (tmp_path / HISTORY_FILENAME).exists()
        times = [0, MIN, 2 * MIN, 5 * MIN, 6 * MIN]
        assert store.write(bar(t) for t in times) == 5
        assert store.write([bar(MIN, 200.0), bar(7 * MIN, closed=False)]) == 1  # replaced; forming skipped
        b = store.read(Venue.BINANCE_SPOT, SYM, "1m")
        assert b.time.tolist() == times
        assert b.close[1] == 200.5 and b.open[0] == 100.0
        assert store.coverage(Venue.BINANCE_SPOT, SYM, "1m") == [Span(0, 3 * MIN), Span(5 * MIN, 7 * MIN)]
        assert store.missing(Venue.BINANCE_SPOT, SYM, "1m", 0, 10 * MIN) == [
            Span(3 * MIN, 5 * MIN),
            Span(7 * MIN, 10 * MIN),
        ]
        assert len(store.read(Venue.BINANCE_SPOT, SYM, "1m", MIN, 6 * MIN)) == 3
        assert len(store.read(Venue.BYBIT_SPOT, SYM, "1m")) == 0  # another venue: separate series
        [info] = store.series()
        assert (info.venue, info.bars, info.first_ms, info.last_ms) == (Venue.BINANCE_SPOT, 5, 0, 6 * MIN)
        assert [c.open_time for c in store.candles(Venue.BINANCE_SPOT, SYM, "1m")] == times


def test_reopen_keeps_data_and_bad_input_is_named(tmp_path: Path) -> None:
    with HistoryStore.open_in(tmp_path) as store:
        store.write([bar(0)])
    with HistoryStore.open_in(tmp_path) as store:
        assert len(store.read(Venue.BINANCE_SPOT, SYM, "1m")) == 1
        with pytest.raises(ValueError, match="interval like 1m"):
            store.read(Venue.BINANCE_SPOT, SYM, "1x")
        with pytest.raises(HistoryError, match="monthly"):
            store.coverage(Venue.BINANCE_SPOT, SYM, "1M")
    (tmp_path / "bad").write_text("x")
    with pytest.raises(HistoryError, match="cannot open"):
        HistoryStore(tmp_path / "bad" / "h.sqlite3")


# ---------------------------------------------------------------- against the simulator
@dataclass
class Env:
    sim: RunningSim
    adapter: BinanceSpotAdapter
    store: HistoryStore
    end: int  # an open time well inside the simulator's closed history


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    sim = await start_test_sim(generator=False)
    adapter = BinanceSpotAdapter(venue_config(sim, Venue.BINANCE_SPOT, credentials=False), lambda _ev: None)
    store = HistoryStore.open_in(tmp_path)
    try:
        await adapter.start()
        latest = await adapter.fetch_candles(SYM, "1m", limit=1)
        yield Env(sim, adapter, store, latest[-1].open_time - 10 * MIN)
    finally:
        store.close()
        await adapter.close()
        await sim.stop()


def sim_klines(env: Env, start: int, end: int) -> list[tuple[int, float, float, float, float]]:
    """The simulator's own bars (its market model, not its HTTP API)."""
    market = env.sim.exchange.markets[Venue.BINANCE_SPOT]
    inst = market.instrument(SYM)
    out = []
    cursor = start
    while cursor < end:
        rows = market.klines(SYM, MIN, cursor, end - 1, 1000)
        if not rows:
            break
        f = lambda ticks: float(inst.fmt_price(ticks))  # noqa: E731  (ticks -> the wire's price)
        out += [(k.open_ms, f(k.open), f(k.high), f(k.low), f(k.close)) for k in rows]
        cursor = rows[-1].open_ms + MIN
    return out


async def test_download_with_429s_and_a_418_has_no_gaps_or_duplicates(env: Env) -> None:
    start = env.end - 1_000 * MIN
    faults = env.sim.exchange.faults
    faults.inject_http(
        HttpFault.RATE_LIMIT, Venue.BINANCE_SPOT, count=3, retry_after_s=1, paths=["/api/v3/klines"]
    )
    faults.inject_http(
        HttpFault.IP_BAN, Venue.BINANCE_SPOT, count=1, retry_after_s=1, paths=["/api/v3/klines"]
    )
    seen: list[DownloadProgress] = []
    report = await download(env.adapter, env.store, SYM, "1m", start, env.end, page=200, progress=seen.append)
    assert faults.injected.get("rate_limit") == 3 and faults.injected.get("ip_ban") == 1
    assert report.retries == 4 and report.pages == 5 and report.bars == 1_000 and report.gaps == ()
    assert [p.pages for p in seen] == [1, 2, 3, 4, 5] and seen[-1].fraction == 1.0
    b = env.store.read(Venue.BINANCE_SPOT, SYM, "1m", start, env.end)
    assert len(b) == 1_000 and (np.diff(b.time) == MIN).all()
    want = np.array(sim_klines(env, start, env.end))
    assert b.time.tolist() == want[:, 0].astype(np.int64).tolist()
    np.testing.assert_allclose(np.c_[b.open, b.high, b.low, b.close], want[:, 1:], rtol=1e-12)
    # a second run finds nothing missing and fetches nothing
    again = await download(env.adapter, env.store, SYM, "1m", start, env.end, page=200)
    assert (again.pages, again.bars, again.gaps) == (0, 0, ())


async def test_a_gate_refusal_longer_than_its_max_wait_is_waited_out(env: Env) -> None:
    # An earlier ban still runs (1 s) and the adapter's gate will not sleep beyond 0.2 s: it
    # raises RateLimited without sending anything. The download waits it out and completes.
    env.adapter.rest.max_gate_wait_s = 0.2
    env.adapter.rest.gate.block_for(1.0)
    start = env.end - 300 * MIN
    report = await download(env.adapter, env.store, SYM, "1m", start, env.end, page=300)
    assert report.retries == 1 and report.bars == 300 and report.gaps == ()


async def test_cancelled_download_resumes_where_it_stopped(env: Env) -> None:
    start = env.end - 1_000 * MIN
    two_pages = asyncio.Event()

    def on_page(p: DownloadProgress) -> None:
        if p.pages == 2:
            two_pages.set()

    task = asyncio.create_task(
        download(env.adapter, env.store, SYM, "1m", start, env.end, page=100, progress=on_page)
    )
    await two_pages.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = env.store.read(Venue.BINANCE_SPOT, SYM, "1m", start, env.end)
    assert 200 <= len(kept) < 1_000 and len(kept) % 100 == 0  # whole pages only
    assert kept.time[0] == start and (np.diff(kept.time) == MIN).all()
    report = await download(env.adapter, env.store, SYM, "1m", start, env.end, page=100)
    assert report.bars == 1_000 - len(kept) and report.pages == report.bars // 100 and report.gaps == ()
    b = env.store.read(Venue.BINANCE_SPOT, SYM, "1m", start, env.end)
    assert b.time.tolist() == [t for t, *_ in sim_klines(env, start, env.end)]


async def test_a_hole_in_the_store_is_filled_and_venue_gaps_are_reported(env: Env) -> None:
    start = env.end - 300 * MIN
    await download(env.adapter, env.store, SYM, "1m", start, env.end, page=300)
    env.store._db.execute(  # punch a hole (as a crash of an older tool might leave)
        "DELETE FROM candles WHERE open_time>=? AND open_time<?", (start + 50 * MIN, start + 60 * MIN)
    )
    report = await download(env.adapter, env.store, SYM, "1m", start, env.end, page=300)
    assert (report.bars, report.pages, report.gaps) == (10, 1, ())

    # before the simulator's first bar the venue has nothing: stored as returned, reported as a gap
    first = int(sim_klines(env, env.end - 3_000 * MIN, env.end)[0][0])
    early = first - 200 * MIN
    report = await download(env.adapter, env.store, SYM, "1m", early, first + 100 * MIN, page=100)
    assert report.bars == 100 and report.gaps == (Span(early, first),)
    assert env.store.read(Venue.BINANCE_SPOT, SYM, "1m", early, first + 100 * MIN).time[0] == first
    with pytest.raises(HistoryError, match="empty range"):
        await download(env.adapter, env.store, SYM, "1m", env.end, start)


async def test_store_feeds_a_backtest(env: Env) -> None:
    start = env.end - 600 * MIN
    await download(env.adapter, env.store, SYM, "1m", start, env.end)
    bars = env.store.read(Venue.BINANCE_SPOT, SYM, "1m", start, env.end)
    result = run_backtest("ema_cross", {"fast": "5", "slow": "20", "timeframe": "1m"}, bars)
    assert result.metrics.trades > 0


async def test_bybit_download_pages_forward(tmp_path: Path) -> None:
    sim = await start_test_sim(generator=False)
    adapter = BybitAdapter(venue_config(sim, Venue.BYBIT_LINEAR, credentials=False), lambda _ev: None)
    try:
        await adapter.start()
        latest = await adapter.fetch_candles(SYM, "1m", limit=1)
        end = latest[-1].open_time - 10 * MIN
        sim.exchange.faults.inject_http(HttpFault.RATE_LIMIT, Venue.BYBIT_LINEAR, count=2, retry_after_s=1)
        with HistoryStore.open_in(tmp_path) as store:
            report = await download(adapter, store, SYM, "1m", end - 500 * MIN, end, page=200)
            b = store.read(Venue.BYBIT_LINEAR, SYM, "1m")
    finally:
        await adapter.close()
        await sim.stop()
    assert report.bars == 500 and report.gaps == () and report.retries == 2
    assert len(b) == 500 and (np.diff(b.time) == MIN).all() and b.time[0] == end - 500 * MIN


# ---------------------------------------------------------------- the CLI
async def test_cli_download_then_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from terminal.cli import main

    sim = await start_test_sim(generator=False, history_days=2)
    try:
        end = (sim.exchange.markets[Venue.BINANCE_SPOT].now_ms() // MIN - 20) * MIN
        start = end - 1_500 * MIN + 7 * MIN  # not page-aligned
        faults = sim.exchange.faults
        faults.inject_http(HttpFault.RATE_LIMIT, Venue.BINANCE_SPOT, count=1, retry_after_s=1)  # at start
        faults.inject_http(
            HttpFault.RATE_LIMIT, Venue.BINANCE_SPOT, retry_after_s=1, paths=["/api/v3/klines"]
        )
        argv = ["history", "download", "--venue", "binance_spot", "--symbol", "btcusdt", "--interval", "1m"]
        argv += ["--start", str(start), "--end", str(end), "--base-url", sim.url, "--data-dir", str(tmp_path)]
        # main() runs its own event loop: give it a thread while this loop serves the simulator
        assert await asyncio.to_thread(main, argv) == 0
        out = capsys.readouterr()
        assert (
            "rate limited, waiting 1 s" in out.err
            and "100.0%" in out.err
            and "1493 bars in 2 pages, 1 rate-limit waits; gaps: none" in out.out
        )
        assert await asyncio.to_thread(main, ["history", "list", "--data-dir", str(tmp_path)]) == 0
        assert "binance_spot  BTCUSDT     1m             1493" in capsys.readouterr().out
        bad = [*argv[:3], "nope", *argv[4:]]
        assert await asyncio.to_thread(main, bad) == 2
        assert "unknown venue 'nope'" in capsys.readouterr().err
        unknown = [*argv[:5], "NOPEUSDT", *argv[6:]]
        assert await asyncio.to_thread(main, unknown) == 2
        assert "NOPEUSDT" in capsys.readouterr().err
        when = [*argv[:9], "yesterday", *argv[10:]]
        assert await asyncio.to_thread(main, when) == 2
        assert "not a time: 'yesterday'" in capsys.readouterr().err
    finally:
        await sim.stop()

"""The chart's scroll-back through the local candle store (``fetch_older`` with a HistoryStore),
against the simulator's Binance Spot API over real sockets and a real SQLite file."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from terminal.bus import EventBus
from terminal.engine.engine import Engine
from terminal.engine.history import HistoryUnavailable, fetch_older, open_chart_store
from terminal.model import Candle, Venue
from terminal.sim.faults import HttpFault
from terminal.sim.server import RunningSim
from terminal.storage.history import HISTORY_FILENAME, HistoryStore, download
from terminal.venues.binance.spot import BinanceSpotAdapter
from tests.venues.binance_support import start_test_sim, venue_config

MIN = 60_000
SYM = "BTCUSDT"
SPOT = Venue.BINANCE_SPOT
PAGE = 200


@dataclass
class Env:
    sim: RunningSim
    adapter: BinanceSpotAdapter
    engine: Engine
    store: HistoryStore
    first: int  # the chart's first bar: older pages end right before it
    calls: list[tuple[int | None, int]] = field(default_factory=list)  # the adapter's (end_ms, limit)


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    sim = await start_test_sim(generator=False)
    adapter = BinanceSpotAdapter(venue_config(sim, SPOT, credentials=False), lambda _ev: None)
    engine = Engine(EventBus())
    store = open_chart_store(tmp_path)
    assert store is not None
    engine.history_store = store
    try:
        await adapter.start()
        engine.attach(adapter)
        latest = await adapter.fetch_candles(SYM, "1m", limit=1)
        e = Env(sim, adapter, engine, store, latest[-1].open_time - 30 * MIN)
        real = adapter.fetch_candles

        async def counted(symbol: str, interval: str, **kw: Any) -> list[Candle]:
            e.calls.append((kw.get("end_ms"), kw["limit"]))
            return await real(symbol, interval, **kw)

        monkeypatch.setattr(adapter, "fetch_candles", counted)
        yield e
    finally:
        await engine.close()  # closes the store too
        await adapter.close()
        await sim.stop()


def rows(bars: list[Candle]) -> list[tuple[int, float, float, float, float, float]]:
    return [(b.open_time, b.open, b.high, b.low, b.close, b.volume) for b in bars]


async def venue_page(env: Env, before: int, limit: int = PAGE) -> list[Candle]:
    """The page as the venue alone serves it (no store)."""
    bars = await env.adapter.fetch_candles(SYM, "1m", end_ms=before - 1, limit=limit)
    env.calls.clear()
    return [b for b in bars if b.open_time < before]


def contiguous(bars: list[Candle], before: int) -> bool:
    t = np.array([b.open_time for b in bars])
    return bool((np.diff(t) == MIN).all()) and t[-1] == before - MIN and len(set(t)) == len(t)


async def test_a_store_hit_makes_no_venue_request(env: Env) -> None:
    await download(env.adapter, env.store, SYM, "1m", env.first - 500 * MIN, env.first)
    want = await venue_page(env, env.first)
    # the venue is down from now on: any kline request would strike this fault
    env.sim.exchange.faults.inject_http(HttpFault.SERVER_ERROR, SPOT, count=50, paths=["/api/v3/klines"])
    t0 = time.perf_counter()
    got = await fetch_older(env.engine, SPOT, SYM, "1m", env.first, PAGE)
    elapsed = time.perf_counter() - t0
    assert env.calls == [] and "server_error" not in env.sim.exchange.faults.injected
    assert rows(got) == rows(want) and len(got) == PAGE and contiguous(got, env.first)
    assert all(b.closed for b in got)
    assert elapsed < 0.5  # a local read (~1 ms here), not a round trip


async def test_partial_coverage_is_completed_from_the_venue_without_hole_or_duplicate(env: Env) -> None:
    want = await venue_page(env, env.first)
    # stored: the 50 bars right before the chart, and an older island after a hole
    env.store.write(want[-50:])
    env.store.write(want[:30])
    got = await fetch_older(env.engine, SPOT, SYM, "1m", env.first, PAGE)
    assert env.calls == [(env.first - 50 * MIN - 1, PAGE - 50)]  # only what the run lacks
    assert rows(got) == rows(want) and contiguous(got, env.first)
    # everything fetched went through to the store: the page is now whole there
    assert env.store.missing(SPOT, SYM, "1m", env.first - PAGE * MIN, env.first) == []


async def test_a_venue_page_is_written_through_and_served_locally_next_time(env: Env) -> None:
    first = await fetch_older(env.engine, SPOT, SYM, "1m", env.first, PAGE)
    assert len(env.calls) == 1 and len(first) == PAGE and contiguous(first, env.first)
    assert rows(env.store.candles(SPOT, SYM, "1m", env.first - PAGE * MIN, env.first)) == rows(first)
    again = await fetch_older(env.engine, SPOT, SYM, "1m", env.first, PAGE)
    assert len(env.calls) == 1 and rows(again) == rows(first)
    # the next scroll-back goes past what is stored: the venue again, then stored as well
    older = await fetch_older(env.engine, SPOT, SYM, "1m", first[0].open_time, PAGE)
    assert len(env.calls) == 2 and contiguous(older, first[0].open_time)
    assert len(env.store.read(SPOT, SYM, "1m")) == 2 * PAGE


async def test_the_forming_bar_is_never_stored(env: Env) -> None:
    newest = await env.adapter.fetch_candles(SYM, "1m", limit=1)
    forming = newest[-1].open_time
    env.calls.clear()
    got = await fetch_older(env.engine, SPOT, SYM, "1m", forming + MIN, 5)
    assert got[-1].open_time == forming  # handed over (as closed, older pages are history)...
    stored = env.store.read(SPOT, SYM, "1m")
    assert forming not in stored.time.tolist() and len(stored) == 4  # ...but not stored


async def test_a_locked_store_falls_back_to_the_venue_with_a_warning(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    other = sqlite3.connect(env.store.path, isolation_level=None)  # e.g. a CLI download's page
    other.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.WARNING, logger="terminal.engine.history"):
            t0 = time.perf_counter()
            got = await fetch_older(env.engine, SPOT, SYM, "1m", env.first, PAGE)
            elapsed = time.perf_counter() - t0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(got) == PAGE and contiguous(got, env.first) and len(env.calls) == 1
    assert elapsed < 2.0  # the short chart timeout, not SQLite's 5 s default
    assert any("not stored" in r.message and "locked" in r.message for r in caplog.records)
    assert len(env.store.read(SPOT, SYM, "1m")) == 0
    # lock gone: the same page is stored this time
    await fetch_older(env.engine, SPOT, SYM, "1m", env.first, PAGE)
    assert len(env.store.read(SPOT, SYM, "1m")) == PAGE


async def test_a_damaged_store_falls_back_to_the_venue_with_a_warning(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    other = sqlite3.connect(env.store.path, isolation_level=None)
    other.execute("DROP TABLE candles")  # what a damaged or foreign file looks like to a reader
    other.close()
    want = await venue_page(env, env.first)
    with caplog.at_level(logging.WARNING, logger="terminal.engine.history"):
        got = await fetch_older(env.engine, SPOT, SYM, "1m", env.first, PAGE)
    assert rows(got) == rows(want) and len(env.calls) == 1
    text = " | ".join(r.message for r in caplog.records)
    assert "store unreadable" in text and "no such table" in text and HISTORY_FILENAME in text


async def test_without_the_venue_a_partial_stored_run_is_still_served(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    want = await venue_page(env, env.first)
    env.store.write(dataclasses.replace(b, venue=Venue.BYBIT_SPOT) for b in want[-40:])
    with caplog.at_level(logging.WARNING, logger="terminal.engine.history"):
        got = await fetch_older(env.engine, Venue.BYBIT_SPOT, SYM, "1m", env.first, PAGE)
    assert [b.open_time for b in got] == [b.open_time for b in want[-40:]]  # no adapter: stored run only
    assert any("venue failed" in r.message for r in caplog.records)
    with pytest.raises(HistoryUnavailable, match="no bybit_spot adapter"):  # nothing stored older
        await fetch_older(env.engine, Venue.BYBIT_SPOT, SYM, "1m", got[0].open_time, PAGE)


def test_open_chart_store_on_a_corrupt_file_warns_and_gives_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / HISTORY_FILENAME).write_bytes(b"this is not an SQLite database" * 100)
    with caplog.at_level(logging.WARNING, logger="terminal.engine.history"):
        assert open_chart_store(tmp_path) is None
    assert any("venue only" in r.message and HISTORY_FILENAME in r.message for r in caplog.records)


async def test_engine_close_closes_its_store(tmp_path: Path) -> None:
    engine = Engine(EventBus())
    store = open_chart_store(tmp_path)
    assert store is not None
    engine.history_store = store
    await engine.close()
    assert engine.history_store is None
    with pytest.raises(sqlite3.ProgrammingError):  # closed: the file is released
        store._db.execute("SELECT 1")

"""Engine + the real BinanceSpotAdapter against the simulator: a stalled candle stream never
closes the forming bar, and a reconnect backfills what the stream missed through REST."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from terminal.bus import EventBus
from terminal.engine import CandleKey, Engine
from terminal.model import FeedState, Venue
from terminal.sim.faults import HttpFault, StreamFault
from terminal.sim.server import RunningSim
from terminal.venues.binance.spot import BinanceSpotAdapter
from terminal.venues.events import CandleEvent, FeedEvent
from tests.venues.binance_support import start_test_sim, venue_config, wait_for

pytestmark = pytest.mark.timeout(40)

V = Venue.BINANCE_SPOT
SYM = "BTCUSDT"
KEY = CandleKey(V, SYM, "1m")


@pytest.fixture
async def rig() -> AsyncIterator[tuple[RunningSim, EventBus, Engine, BinanceSpotAdapter]]:
    sim = await start_test_sim(generator=True)
    bus = EventBus()
    engine = Engine(bus)
    adapter = BinanceSpotAdapter(venue_config(sim, V, credentials=False, stale_after_s=1.0), bus.publish)
    try:
        await adapter.start()
        engine.attach(adapter)
        yield sim, bus, engine, adapter
    finally:
        await engine.close()
        await adapter.close()
        await sim.stop()


def _check_closed_bars_are_past(engine: Engine, violations: list[str]) -> None:
    """A bar may only be closed once its period is over (same wall clock as the simulator)."""
    now = time.time_ns() // 1_000_000
    for c in engine.candle_bars(V, SYM, "1m"):
        if c.closed and c.close_time > now + 50:
            violations.append(f"bar {c.open_time} closed at {now}, period ends {c.close_time}")


async def test_stalled_stream_never_closes_the_forming_bar(rig) -> None:
    sim, bus, engine, adapter = rig
    violations: list[str] = []
    states: list[FeedState] = []
    bus.subscribe(CandleEvent, lambda ev: _check_closed_bars_are_past(engine, violations))
    bus.subscribe(FeedEvent, lambda ev: states.append(ev.status.state))
    await adapter.watch_market(SYM, book=False, trades=False, tickers=False, candles=("1m",))
    await engine.track_candles(V, SYM, "1m", history=30)
    series = engine.candles[KEY]
    await wait_for(lambda: series.forming() is not None, 5, "a forming bar")
    runs = engine.backfill_runs

    sim.exchange.faults.inject_stream(StreamFault.STALL, V, duration_s=2.5)
    stall_end = time.monotonic() + 2.5
    await wait_for(
        lambda: FeedState.RECONNECTING in states or FeedState.STALE in states, 5, "stale/reconnect"
    )
    while time.monotonic() < stall_end:  # silence: the forming bar must stay open
        _check_closed_bars_are_past(engine, violations)
        last = series.last()
        assert last is not None
        if last.close_time > time.time_ns() // 1_000_000:
            assert not last.closed
        await asyncio.sleep(0.1)
    # The stream comes back; the engine backfills over REST after the recovery.
    await wait_for(lambda: engine.backfill_runs > runs, 8, "a recovery backfill")
    await engine.wait_backfills()
    _check_closed_bars_are_past(engine, violations)
    assert violations == []
    bars = series.bars()
    assert series.missing() == [] and series.unclosed_before_last() == []
    assert bars[-1].close_time < time.time_ns() // 1_000_000 or not bars[-1].closed
    assert len(bars) >= 30


async def test_reconnect_backfills_missing_history(rig) -> None:
    sim, _, engine, adapter = rig
    await adapter.watch_market(SYM, book=False, trades=False, tickers=False, candles=("1m",))
    # The history request fails (5xx beyond the adapter's read retries): only live bars remain.
    sim.exchange.faults.inject_http(HttpFault.SERVER_ERROR, V, count=50)
    await engine.track_candles(V, SYM, "1m", history=120)
    series = engine.candles[KEY]
    assert engine.backfill_errors == 1 and not series.history_loaded
    await wait_for(lambda: len(series) >= 1, 5, "a live bar")
    assert len(series) <= 2
    sim.exchange.faults.clear()

    # A dropped connection: when the stream is LIVE again the engine backfills the gap.
    reconnects = adapter.feeds()[f"{V}:market"].reconnects
    sim.exchange.faults.inject_stream(StreamFault.DROP, V)
    await wait_for(lambda: adapter.feeds()[f"{V}:market"].reconnects > reconnects, 8, "a reconnect")
    await wait_for(lambda: series.history_loaded, 8, "the backfill")
    await engine.wait_backfills()

    bars = series.bars()
    assert len(bars) >= 120
    assert series.missing() == [] and series.unclosed_before_last() == []
    rest = await adapter.fetch_candles(SYM, "1m", start_ms=bars[0].open_time, limit=1000)
    closed_rest = {c.open_time: c for c in rest if c.closed}
    closed_ours = {c.open_time: c for c in bars if c.closed}
    assert closed_ours.keys() <= closed_rest.keys()
    assert all(closed_ours[t] == closed_rest[t] for t in closed_ours)  # no dup, identical bars
    assert len({c.open_time for c in bars}) == len(bars)

"""Candle merge rules: one bar per open time, closed only when the venue says so, gaps backfilled."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from terminal.bus import EventBus
from terminal.engine import CandleKey, CandleSeries, Engine
from terminal.model import Candle, FeedState, FeedStatus, Venue
from terminal.venues.events import CandleEvent, FeedEvent, StreamKind

pytestmark = pytest.mark.timeout(10)

V = Venue.BINANCE_SPOT
M = 60_000
T0 = 1_760_000_040_000 - (1_760_000_040_000 % M)


def bar(i: int, close: float = 100.0, *, closed: bool = False, interval: str = "1m") -> Candle:
    t = T0 + i * M
    return Candle(
        V, "BTCUSDT", interval, t, t + M - 1, 100.0, max(100.0, close), 99.0, close, 1.0, closed=closed
    )


def series() -> CandleSeries:
    return CandleSeries(CandleKey(V, "BTCUSDT", "1m"))


def test_live_updates_of_one_bar_are_one_bar() -> None:
    s = series()
    for px in (100.0, 101.0, 102.5):
        assert s.merge_live(bar(0, px)).accepted
    assert len(s) == 1 and s.bars()[0].close == 102.5 and not s.bars()[0].closed


def test_closed_only_when_the_venue_says_so() -> None:
    s = series()
    s.merge_live(bar(0, 101.0))
    # The next bar starts although no close for bar 0 arrived (a missed frame): bar 0 stays open
    # and the merge reports the hole so the engine backfills it.
    m = s.merge_live(bar(1, 102.0))
    assert m.accepted and m.gap
    assert [c.closed for c in s.bars()] == [False, False]
    s.merge_live(bar(0, 101.5, closed=True))
    assert s.bars()[0].closed and s.bars()[0].close == 101.5


def test_late_forming_update_never_reopens_a_closed_bar() -> None:
    s = series()
    s.merge_live(bar(0, 101.0, closed=True))
    m = s.merge_live(bar(0, 99.0))  # a re-delivered older frame
    assert not m.accepted
    assert s.bars()[0].closed and s.bars()[0].close == 101.0


def test_backfill_merges_without_duplicates_and_closes_past_bars() -> None:
    s = series()
    s.merge_live(bar(3, 104.0))  # forming, live
    # REST answer: bars 0..3, where 1 comes back unflagged (but a later bar exists) and 3 is forming.
    rest = [bar(0, closed=True), bar(1), bar(2, closed=True), bar(3, 103.0)]
    s.merge_backfill(reversed(rest))
    bars = s.bars()
    assert [c.open_time for c in bars] == [T0 + i * M for i in range(4)]
    assert [c.closed for c in bars] == [True, True, True, False]
    assert s.missing() == [] and s.unclosed_before_last() == []


def test_backfill_does_not_reopen_or_overwrite_closed_with_forming() -> None:
    s = series()
    s.merge_live(bar(0, 101.0, closed=True))
    s.merge_backfill([bar(0, 90.0)])  # a lone forming bar (e.g. fetched before the close)
    assert s.bars()[0].closed and s.bars()[0].close == 101.0


def test_gap_detection_and_backfill_start() -> None:
    s = series()
    s.merge_backfill([bar(0, closed=True), bar(1, closed=True), bar(2)])
    assert s.backfill_start_ms() == T0 + 2 * M  # the forming bar
    assert s.merge_live(bar(5)).gap  # bar 2 never closed, 3 and 4 missing
    assert s.missing() == [T0 + 3 * M, T0 + 4 * M]
    assert s.backfill_start_ms() == T0 + 2 * M


def test_bounded_and_snapshot_cached() -> None:
    s = CandleSeries(CandleKey(V, "BTCUSDT", "1m"), max_bars=3)
    s.merge_backfill([bar(i, closed=True) for i in range(5)])
    assert [c.open_time for c in s.bars()] == [T0 + i * M for i in (2, 3, 4)]
    assert s.bars() is s.bars()  # unchanged version: same tuple


async def test_engine_backfills_after_reconnect_and_on_live_gap() -> None:
    """Injected REST source; the real-adapter version runs against the simulator."""
    bus = EventBus()
    rest = {i: bar(i, 100.0 + i, closed=True) for i in range(6)}
    calls: list[int | None] = []

    async def fetch(venue: Venue, symbol: str, interval: str, start: int | None, limit: int) -> list[Candle]:
        calls.append(start)
        await asyncio.sleep(0)
        return [c for c in rest.values() if start is None or c.open_time >= start][:limit]

    engine = Engine(bus, backfill=fetch)
    await engine.track_candles(V, "BTCUSDT", "1m", history=2)
    assert [c.open_time for c in engine.candle_bars(V, "BTCUSDT", "1m")] == [T0, T0 + M]

    status = FeedStatus("binance_spot:btcusdt@kline_1m", V, FeedState.LIVE)
    bus.publish(FeedEvent(status, StreamKind.MARKET, "BTCUSDT"))
    bus.publish(FeedEvent(status.with_state(FeedState.RECONNECTING, 1), StreamKind.MARKET, "BTCUSDT"))
    rest[6] = bar(6, 106.0)  # forming at the venue
    bus.publish(FeedEvent(status.with_state(FeedState.LIVE, 2), StreamKind.MARKET, "BTCUSDT"))
    await engine.wait_backfills()
    bars = engine.candle_bars(V, "BTCUSDT", "1m")
    assert [c.open_time for c in bars] == [T0 + i * M for i in range(7)]
    assert [c.closed for c in bars] == [True] * 6 + [False]
    assert calls[-1] == T0 + M  # resumed from the newest closed bar, not from scratch

    # A live bar with a hole before it triggers a backfill by itself.
    rest[6] = bar(6, 106.0, closed=True)
    rest[7] = bar(7, 107.0, closed=True)
    bus.publish(CandleEvent(bar(8, 108.0)))
    await engine.wait_backfills()
    bars = engine.candle_bars(V, "BTCUSDT", "1m")
    assert [c.open_time for c in bars] == [T0 + i * M for i in range(9)]
    assert [c.closed for c in bars] == [True] * 8 + [False]
    v = engine.versions().candles
    assert v > 0
    await engine.close()


def test_backfill_starts_at_the_first_hole() -> None:
    s = series()
    s.merge_backfill([bar(0, closed=True), bar(1, closed=True), bar(4, closed=True)])
    s.merge_live(bar(5))
    assert s.backfill_start_ms() == T0 + 2 * M  # bars 2 and 3 missing
    s.merge_backfill([bar(2, closed=True), bar(3, closed=True)])
    assert s.backfill_start_ms() == T0 + 5 * M  # now the forming bar
    s.merge_live(bar(5, closed=True))
    assert s.backfill_start_ms() == T0 + 5 * M  # no hole: resume from the newest bar


def test_backfill_keeps_the_fresher_forming_bar() -> None:
    s = series()
    live = dataclasses.replace(bar(0, 105.0), volume=7.0)
    s.merge_live(live)
    s.merge_backfill([dataclasses.replace(bar(0, 101.0), volume=3.0)])  # fetched before the last trades
    assert s.bars()[0] is live

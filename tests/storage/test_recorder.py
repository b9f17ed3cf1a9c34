"""Recording live events and replaying them: from the simulator over real sockets into a fresh Engine."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.bus import EventBus
from terminal.engine import Engine
from terminal.model import Candle, Side, Trade, Venue
from terminal.storage.recorder import Recorder, RecordError, ReplayMarket, recording_files, replay
from terminal.venues.binance.spot import BinanceSpotAdapter
from terminal.venues.events import BookUpdated, CandleEvent, PublicTradeEvent
from tests.venues.binance_support import start_test_sim, venue_config, wait_for

V = Venue.BINANCE_SPOT
SYM = "BTCUSDT"


async def _no_backfill(*_: object) -> list[Candle]:
    return []  # both engines see only the stream: REST history would differ between them


def _trade(i: int) -> PublicTradeEvent:
    return PublicTradeEvent(Trade(V, SYM, i, Decimal("100.10"), Decimal("0.500"), Side.BUY, 1_000 + i))


def _candle(t: int, closed: bool) -> CandleEvent:
    return CandleEvent(Candle(V, SYM, "1m", t, t + 59_999, 1.5, 2.25, 1.0, 2.0, 3.0, 6.0, 7, closed))


async def test_events_round_trip_through_a_gzipped_file(tmp_path: Path) -> None:
    bus = EventBus()
    sent = [_trade(1), _candle(0, False), _trade(2), _candle(0, True)]
    async with Recorder(bus, tmp_path / "rec"):
        for ev in sent:
            bus.publish(ev)
    [f] = recording_files(tmp_path / "rec")
    assert f.name.endswith(".jsonl.gz")  # a finished file is compressed
    got: list[object] = []
    out = EventBus()
    out.subscribe_all(got.append)
    stats = await replay(tmp_path / "rec", out, speed=0)
    assert got == sent and (stats.trades, stats.candles, stats.books) == (2, 2, 0)


async def test_a_torn_last_line_is_skipped_and_bad_paths_are_named(tmp_path: Path) -> None:
    bus = EventBus()
    rec = Recorder(bus, tmp_path)
    bus.publish(_trade(1))
    rec.flush()  # as a killed recorder leaves it: a plain file, the last line cut
    [plain] = recording_files(tmp_path)
    with plain.open("ab") as f:
        f.write(b'{"type":"trade","t":1,"ven')
    got: list[object] = []
    out = EventBus()
    out.subscribe(PublicTradeEvent, got.append)
    await replay(tmp_path, out, speed=0)
    assert got == [_trade(1)]
    rec.stop()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordError, match="no recording files"):
        await replay(tmp_path / "empty", out)
    with pytest.raises(RecordError, match="not a recording directory"):
        await replay(tmp_path / "missing", out)
    with pytest.raises(ValueError, match="speed"):
        await replay(tmp_path, out, speed=-1)


async def test_record_from_the_simulator_and_replay_into_a_fresh_engine(tmp_path: Path) -> None:
    sim = await start_test_sim(generator=True)
    bus = EventBus()
    live = Engine(bus, backfill=_no_backfill)
    adapter = BinanceSpotAdapter(venue_config(sim, V, credentials=False), bus.publish)
    seen_live: list[tuple[int, object]] = []

    def top_live(ev: BookUpdated) -> None:
        book = adapter.book(ev.symbol)
        assert book is not None
        seen_live.append((ev.update_id, book.top_ticks(20)))

    try:
        await adapter.start()
        live.attach(adapter)
        rec = Recorder(bus, tmp_path / "rec", books=lambda v, s: adapter.book(s))
        unsub = bus.subscribe(BookUpdated, top_live)
        await adapter.watch_market(SYM, book=True, trades=True, tickers=False, candles=("1m",))
        await wait_for(
            lambda: len(live.recent_trades(V, SYM)) >= 5 and len(seen_live) >= 20, 10, "trades+books"
        )
        await asyncio.sleep(1.0)
        # stop recording and read the live state with no await between: nothing can slip in
        rec.stop()
        unsub()
        want_trades = live.recent_trades(V, SYM)
        want_candles = live.candle_bars(V, SYM, "1m")
        want_book = live.book_snapshot(V, SYM, 50)
        await rec.close()
    finally:
        await live.close()
        await adapter.close()
        await sim.stop()
    assert want_candles and want_book is not None and want_book.bids

    bus2 = EventBus()
    fresh = Engine(bus2, backfill=_no_backfill)
    markets = {V: ReplayMarket(V)}
    fresh.attach(markets[V])
    seen_replay: list[tuple[int, object]] = []
    bus2.subscribe(
        BookUpdated, lambda ev: seen_replay.append((ev.update_id, markets[V].books[SYM].top_ticks(20)))
    )
    stats = await replay(tmp_path / "rec", bus2, speed=0, markets=markets)
    assert stats.books == len(seen_live) and stats.trades >= 5
    assert seen_replay == seen_live  # the book, update for update
    assert fresh.recent_trades(V, SYM) == want_trades
    assert fresh.candle_bars(V, SYM, "1m") == want_candles
    assert fresh.book_snapshot(V, SYM, 50) == want_book
    await fresh.close()

    # original timing, scaled: at 4x the replay takes a quarter of the recorded span
    timed = await replay(tmp_path / "rec", EventBus(), speed=4.0)
    assert timed.recorded_s > 1.0
    assert timed.recorded_s / 4 * 0.9 <= timed.took_s <= timed.recorded_s / 4 + 0.5


async def test_a_recording_backtests_like_downloaded_history(tmp_path: Path) -> None:
    from terminal.backtest import run_backtest
    from terminal.storage.recorder import recorded_bars

    bus = EventBus()
    async with Recorder(bus, tmp_path / "rec"):
        for i in range(60):
            t = i * 60_000
            bus.publish(_candle(t, False))  # forming updates are not bars
            bus.publish(_candle(t, True))
            bus.publish(_candle(t, True))  # a repeat (reconnect) counts once
    bars = recorded_bars(tmp_path / "rec", V, SYM, "1m")
    assert len(bars) == 60 and list(bars.time[:3]) == [0, 60_000, 120_000]
    assert bars.close[0] == 2.0 and bars.high[0] == 2.25
    assert len(recorded_bars(tmp_path / "rec", V, "NOPE", "1m")) == 0
    result = run_backtest("ema_cross", {"timeframe": "1m", "fast": "3", "slow": "8"}, bars)
    assert len(result.equity) == 60

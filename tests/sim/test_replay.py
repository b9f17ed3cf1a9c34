"""Replay mode: the simulator's markets driven by a recording (terminal.sim.replay).

A recording made from the simulator over the real adapter is replayed into a fresh simulator and
its book compared with the recorded one; a hand-written recording checks the queue semantics of a
user order against replayed prints, end to end through the App's order manager.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from terminal.app import App, AppConfig, Mode
from terminal.bus import EventBus
from terminal.model import OrderStatus, OrderType, Side, Venue
from terminal.sim.build import build_exchange
from terminal.sim.child import SimChildConfig, sim_command
from terminal.sim.exchange import SimConfig
from terminal.sim.replay import ReplayError, ReplaySpec, summarize_recording
from terminal.sim.server import start_sim
from terminal.storage.recorder import BookRec, Recorder, ReplayMarket, TradeRec, replay
from terminal.trading.oms import OrderIntent
from terminal.venues.binance.spot import BinanceSpotAdapter
from tests.venues.binance_support import start_test_sim, venue_config, wait_for

V = Venue.BINANCE_SPOT
SYM = "BTCUSDT"
_enc = msgspec.json.Encoder()


async def _record(path: Path, seconds: float) -> None:
    """Record the (random-walk) simulator's BTCUSDT spot market through the real adapter."""
    sim = await start_test_sim(generator=True)
    bus = EventBus()
    adapter = BinanceSpotAdapter(venue_config(sim, V, credentials=False), bus.publish)
    try:
        await adapter.start()
        async with Recorder(bus, path, books=lambda v, s: adapter.book(s)):
            await adapter.watch_market(SYM, book=True, trades=True, tickers=False, candles=("1m",))
            await asyncio.sleep(seconds)
    finally:
        await adapter.close()
        await sim.stop()


async def _recorded_final_book(
    path: Path, depth: int
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    markets = {V: ReplayMarket(V)}
    await replay(path, EventBus(), speed=0, markets=markets)
    book = markets[V].books[SYM]
    bids = sorted(book.bids.items(), reverse=True)[:depth]
    asks = sorted(book.asks.items())[:depth]
    return bids, asks


async def test_a_replayed_recording_rebuilds_the_recorded_book_and_tape(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    await _record(rec, 2.5)
    summary = summarize_recording(rec)
    assert summary.symbols == (SYM,) and (V, SYM) in summary.has_book

    # the synthetic 1m history ends where the recording starts: no seam on the chart
    built = build_exchange(SimConfig(symbols=(SYM,), history_days=1, replay=ReplaySpec(rec)))
    spot = built.markets[V]
    first = summary.price_of(SYM)
    assert first is not None
    assert abs(spot.instrument(SYM).price(spot.last_price[SYM]) - first) <= spot.instrument(SYM).tick

    sim = await start_sim(SimConfig(symbols=(SYM,), history_days=1, replay=ReplaySpec(rec, speed=20)))
    try:
        gen = sim.exchange.generator
        market = sim.exchange.markets[V]
        # seeded before serving: the first recorded book is there before any client connects
        assert market.books[SYM].best_bid() is not None and market.books[SYM].best_ask() is not None
        await wait_for(lambda: gen.stats.finished, 15, "the replay to finish")
        want_bids, want_asks = await _recorded_final_book(rec, 1000)
        _, bids, asks = market.depth(SYM, 20)
        inst = market.instrument(SYM)
        step = float(inst.step)
        lines = _lines(rec)
        last_book = max(i for i, r in enumerate(lines) if isinstance(r, BookRec))
        later = [r for r in lines[last_book:] if isinstance(r, TradeRec)]
        # The simulator shows the last recorded book, except levels that prints after it proved
        # gone (a buy at p means no ask below p was left): the recorded book is sampled.
        for ours, recorded, taker, better in (
            (bids, want_bids, Side.SELL, lambda p, px: p > px),
            (asks, want_asks, Side.BUY, lambda p, px: p < px),
        ):
            assert len(ours) == 20
            got = {p: round(q * step, 8) for p, q in ours}
            want = {p: round(q, 8) for p, q in recorded}
            assert all(want.get(p) == q for p, q in got.items())  # every shown level: its recorded size
            worst = ours[-1][0]
            dropped = [p for p in want if p not in got and not better(worst, p)]
            prints = [inst.ticks_nearest(Decimal(r.price)) for r in later if r.side is taker]
            assert all(any(better(p, px) for px in prints) for p in dropped), dropped
        # the tape: every recorded print replayed, nearly all at the recorded price (the book and
        # trade streams interleave slightly differently, so a print can meet a level early)
        first_book = next(i for i, r in enumerate(lines) if isinstance(r, BookRec))
        # prints before the first book are not replayed: the book is seeded from the first one
        recorded = [r for r in lines[first_book:] if isinstance(r, TradeRec)]
        assert gen.stats.trades == len(recorded) > 20
        recorded_lots = sum(max(1, round(float(r.qty) / step)) for r in recorded)
        tape = list(market.recent_trades(SYM, 1000))
        assert sum(t.qty_lots for t in tape) == recorded_lots  # the recorded volume, to the lot
        assert [inst.price(t.price_ticks) for t in tape][-1] == Decimal(recorded[-1].price)
        # most of it met the mirrored book (the rest was printed only: its level was already gone)
        assert gen.stats.trade_lots_printed <= recorded_lots * 0.5
        # the other markets follow the same recording on their own ticks
        usdm = sim.exchange.markets[Venue.BINANCE_USDM]
        spot_mid = float(market.mark_price(SYM))
        assert abs(float(usdm.mark_price(SYM)) - spot_mid) < spot_mid * 0.0005
    finally:
        await sim.stop()


def _lines(path: Path) -> list[object]:
    from terminal.storage.recorder import read_records

    return list(read_records(path))


def _write_recording(path: Path, records: list[object]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    hour = time.strftime("%Y%m%d-%H", time.gmtime())
    with (path / f"rec-{hour}.jsonl").open("wb") as f:
        for r in records:
            f.write(_enc.encode(r) + b"\n")


def _book(
    t_s: float, bids: list[tuple[int, float]], asks: list[tuple[int, float]], snapshot: bool
) -> BookRec:
    us = int(1_700_000_000e6 + t_s * 1e6)
    return BookRec(us, V, SYM, "0.01", int(t_s * 1000) + 1, us // 1000, False, snapshot, bids, asks)


def _trade(t_s: float, i: int, price: str, qty: str, side: Side) -> TradeRec:
    us = int(1_700_000_000e6 + t_s * 1e6)
    return TradeRec(us, V, SYM, i, price, qty, side, us // 1000)


async def test_a_user_order_queued_behind_recorded_liquidity_fills_by_the_replayed_prints(
    tmp_path: Path,
) -> None:
    """Bid 100.00 has 1.0 recorded ahead of the user's 0.1; a recorded 1.05 sell print takes the
    1.0 and 0.05 of the user's order; the level refills to 0.8 behind the user, and the next
    sell print at 100.00 fills the user's remaining 0.05 first."""
    rec = tmp_path / "rec"
    bids = [(10000 - i, 1.0) for i in range(30)]  # 100.00 down to 99.71, ticks of 0.01
    asks = [(10001 + i, 1.0) for i in range(30)]
    _write_recording(
        rec,
        [
            _book(0.0, bids, asks, snapshot=True),
            _trade(8.0, 1, "100.00", "1.05", Side.SELL),
            _book(8.01, [(10000, 0.0)], [], snapshot=False),  # the venue's level emptied
            _book(9.0, [(10000, 0.8)], [], snapshot=False),  # and refilled
            _trade(10.0, 2, "100.00", "1.0", Side.SELL),
            _book(11.0, [], [], snapshot=False),
        ],
    )
    config = AppConfig(
        mode=Mode.DEMO,
        venues=(V,),
        symbols=(SYM,),
        data_dir=tmp_path / "data",
        candle_history=20,
        replay=ReplaySpec(rec, speed=4.0),  # the prints 2 s after the start, not 8
        automation=None,
    )
    async with App(config) as app:
        await wait_for(
            lambda: (t := app.engine.top_of_book(V, SYM)) is not None and t.bid is not None, 10, "book"
        )
        top = app.engine.top_of_book(V, SYM)
        assert top is not None and top.bid == Decimal("100.00") and top.ask == Decimal("100.01")
        gen = app.sim.exchange.generator
        assert gen.stats.trades == 0, "the App took 2 s to start: the first print came before the order"
        order = await app.oms.submit(
            OrderIntent(V, SYM, Side.BUY, OrderType.LIMIT, Decimal("0.1"), price=Decimal("100.00"))
        )

        def filled() -> Decimal:
            return sum((f.qty for f in app.engine.fills() if f.client_id == order.client_id), Decimal(0))

        await wait_for(lambda: filled() > 0, 12, "the first replayed print to reach the user's order")
        assert filled() == Decimal("0.05")  # 1.0 of recorded liquidity was ahead in the queue
        # the second print meets the refilled level: the user's 0.05 is first in the queue now
        await wait_for(lambda: filled() == Decimal("0.1"), 10, "the second print to fill the rest")
        await wait_for(
            lambda: any(
                o.client_id == order.client_id and o.status is OrderStatus.FILLED
                for o in app.engine.orders(V)
            ),
            5,
            "FILLED",
        )
        # the fills are journaled like any other
        assert sum(f.qty for f in app.journal.fills() if f.client_id == order.client_id) == Decimal("0.1")


async def test_speed_loop_and_bad_recordings(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    bids = [(10000 - i, 1.0) for i in range(5)]
    asks = [(10001 + i, 1.0) for i in range(5)]
    _write_recording(
        rec,
        [_book(0.0, bids, asks, True)]
        + [_trade(0.5 + i * 0.5, i, "100.01", "0.1", Side.BUY) for i in range(8)],  # 4 s of prints
    )
    sim = await start_sim(SimConfig(symbols=(SYM,), history_days=0, replay=ReplaySpec(rec, speed=4.0)))
    try:
        gen = sim.exchange.generator
        t0 = time.monotonic()
        await wait_for(lambda: gen.stats.finished, 10, "finish")
        took = time.monotonic() - t0
        assert 0.8 <= took <= 2.0  # 4 s recorded at 4x
        assert gen.stats.trades == 8
    finally:
        await sim.stop()

    sim = await start_sim(
        SimConfig(symbols=(SYM,), history_days=0, replay=ReplaySpec(rec, speed=20.0, loop=True))
    )
    try:
        await wait_for(lambda: sim.exchange.generator.stats.loops >= 2, 10, "two loops")
        assert sim.exchange.generator.stats.trades >= 16
    finally:
        await sim.stop()

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no recording files"):
        await start_sim(SimConfig(symbols=(SYM,), history_days=0, replay=ReplaySpec(tmp_path / "empty")))
    other = tmp_path / "other"
    _write_recording(
        other,
        [BookRec(1, V, "PEPEUSDT", "0.01", 1, 1, False, True, [(1, 1.0)], [(2, 1.0)])],
    )
    with pytest.raises(ReplayError, match="none of the recorded markets"):
        await start_sim(SimConfig(symbols=(SYM,), history_days=0, replay=ReplaySpec(other)))
    with pytest.raises(ReplayError, match="speed"):
        ReplaySpec(rec, speed=0)


def test_the_simulator_child_is_told_to_replay(tmp_path: Path) -> None:
    spec = ReplaySpec(tmp_path / "rec", speed=2.5, loop=True)
    argv = sim_command(SimChildConfig(symbols=(SYM,), replay=spec), 0)
    i = argv.index("--replay")
    assert argv[i + 1] == str(tmp_path / "rec") and argv[argv.index("--replay-speed") + 1] == "2.5"
    assert "--replay-loop" in argv


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "terminal", *args], capture_output=True, text=True, timeout=timeout
    )


def test_cli_record_then_replay_headless(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    out = _cli(
        "--headless", "--venue", "binance_spot", "--symbols", SYM, "--record", str(rec),
        "--data-dir", str(tmp_path / "d1"), "--duration", "4",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "recording stopped" in out.stderr
    assert summarize_recording(rec).symbols == (SYM,)
    out = _cli(
        "--headless", "--venue", "binance_spot", "--replay", str(rec), "--replay-speed", "4",
        "--data-dir", str(tmp_path / "d2"), "--duration", "4",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "replay of" in out.stderr and "finished" in out.stderr
    assert f"book binance_spot {SYM} bid=" in out.stderr  # the replayed market reached the engine

    bad = _cli("--headless", "--mode", "paper", "--replay", str(rec), "--duration", "1")
    assert bad.returncode == 2 and "--replay runs on the demo simulator" in bad.stderr
    bad = _cli("--headless", "--replay", str(tmp_path / "nope"), "--duration", "1")
    assert bad.returncode == 2 and "not a recording directory" in bad.stderr
    bad = _cli("--headless", "--replay", str(rec), "--symbols", "ETHUSDT", "--duration", "1")
    assert bad.returncode == 2 and f"has no ETHUSDT; it recorded {SYM}" in bad.stderr
    bad = _cli("--headless", "--replay-speed", "3", "--duration", "1")
    assert bad.returncode == 2 and "go with --replay DIR" in bad.stderr

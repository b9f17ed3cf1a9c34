"""How fast and how faithfully the simulator replays a recording (``terminal.sim.replay``).

``python -m bench.replay_market [SECONDS]`` (default 20): records SECONDS of the random-walk
simulator's BTCUSDT spot market through the real Binance adapter (book level changes, trades,
candles), then in the same run:

* baseline: ``storage.recorder.replay`` of the recording into a bare bus and local books at
  full speed (decode + apply to a LocalBook: the cheapest way to consume it);
* ours: ``ReplayGenerator.apply`` of the same records into a simulator's four markets (book
  mirrored as simulator orders, prints matched) - what replay mode does per record;
* fidelity: recorded volume vs the simulator tape's volume (must be equal to the lot), the
  share printed without meeting a mirrored level, and the final top-20 book vs the recorded one
  (levels that differ are ones later prints proved gone).

Records/s of both and their ratio; the replay must keep up with the recording's own rate by a
wide margin (``headroom`` = applied records/s over recorded records/s). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from terminal.bus import EventBus
from terminal.model import Venue
from terminal.sim.build import build_exchange
from terminal.sim.events import TradeEvent
from terminal.sim.exchange import SimConfig
from terminal.sim.replay import ReplaySpec
from terminal.sim.server import start_sim
from terminal.storage.recorder import BookRec, Recorder, ReplayMarket, TradeRec, read_records, replay
from terminal.venues.base import Network, VenueConfig
from terminal.venues.binance.spot import BinanceSpotAdapter

V = Venue.BINANCE_SPOT
SYM = "BTCUSDT"


async def record(path: Path, seconds: float) -> None:
    sim = await start_sim(SimConfig(symbols=(SYM,), history_days=0))
    bus = EventBus()
    adapter = BinanceSpotAdapter(VenueConfig(V, Network.CUSTOM, sim.url), bus.publish)
    try:
        await adapter.start()
        async with Recorder(bus, path, books=lambda v, s: adapter.book(s)):
            await adapter.watch_market(SYM, book=True, trades=True, tickers=False, candles=("1m",))
            await asyncio.sleep(seconds)
    finally:
        await adapter.close()
        await sim.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seconds", type=float, nargs="?", default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "rec"
        await record(rec, args.seconds)
        records = list(read_records(rec))
        span_s = (records[-1].t - records[0].t) / 1e6
        n = len(records)

        markets = {V: ReplayMarket(V)}
        t0 = time.perf_counter()
        await replay(rec, EventBus(), speed=0, markets=markets)
        base_s = time.perf_counter() - t0

        exchange = build_exchange(SimConfig(symbols=(SYM,), history_days=0, replay=ReplaySpec(rec)))
        gen = exchange.generator
        market = exchange.markets[V]
        tape = [0]

        def on_event(ev: object) -> None:
            if isinstance(ev, TradeEvent):
                tape[0] += ev.qty_lots

        market.subscribe(on_event)
        t0 = time.perf_counter()
        gen.seed_books()
        for rec_ in gen._records:  # what run() applies, without its pacing
            gen.apply(rec_)
        if gen._held is not None:
            gen.apply(gen._held)
        ours_s = time.perf_counter() - t0
        applied = gen.stats.records

        inst = market.instrument(SYM)
        step = float(inst.step)
        first_book = next(i for i, r in enumerate(records) if isinstance(r, BookRec))
        trades = [r for r in records[first_book:] if isinstance(r, TradeRec)]
        recorded_lots = sum(max(1, round(float(r.qty) / step)) for r in trades)
        want = markets[V].books[SYM]
        _, bids, asks = market.depth(SYM, 20)
        # every level the simulator shows has its recorded size (levels later prints proved gone
        # are dropped, so the top 20 may reach deeper into the recorded book)
        same = sum(1 for p, q in bids if abs(want.bids.get(p, -1) - q * step) < 1e-9) + sum(
            1 for p, q in asks if abs(want.asks.get(p, -1) - q * step) < 1e-9
        )
        top_bid, top_ask = max(want.bids), min(want.asks)
        dropped = sum(1 for p in want.bids if p > bids[0][0]) + sum(1 for p in want.asks if p < asks[0][0])
        print(f"recorded final touch {top_bid}/{top_ask}, replayed {bids[0][0]}/{asks[0][0]}")
        result = {
            "recorded_s": round(span_s, 1),
            "records": n,
            "recorded_records_per_s": round(n / span_s),
            "baseline_replay_records_per_s": round(n / base_s),
            "sim_replay_records_per_s": round(applied / ours_s),
            "ratio_vs_baseline": round((applied / ours_s) / (n / base_s), 3),
            "headroom_vs_recorded_rate": round((applied / ours_s) / (n / span_s), 1),
            "trades_replayed": gen.stats.trades,
            "recorded_lots": recorded_lots,
            "tape_lots": tape[0],
            "printed_only_share": round(gen.stats.trade_lots_printed / recorded_lots, 4),
            "top20_levels_with_recorded_size": f"{same}/{len(bids) + len(asks)}",
            "recorded_levels_dropped_as_traded_through": dropped,
        }
        print(f"recorded {n} records over {span_s:.1f} s ({n / span_s:.0f}/s)")
        print(f"baseline replay into local books: {n / base_s:,.0f} records/s")
        print(f"simulator replay (mirror + match): {applied / ours_s:,.0f} records/s")
        print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())

"""End-to-end depth latency: a local Binance-format source's send -> the engine's book update.

``python -m bench.ingest_latency [--rates 1000,10000] [--seconds 3]``. One process, one event
loop, so ``time.perf_counter_ns`` is one clock on both ends:

- the source: a minimal aiohttp Binance spot (``/api/v3/{ping,time,exchangeInfo,depth}`` and the
  combined ``/stream`` websocket) that sends pre-built 20-level ``depthUpdate`` frames at a
  controlled, evenly spaced rate, keeps its own book so the REST snapshot matches the stream,
  and records the send time of every update id just before ``send_str``;
- the client: the real ``BinanceSpotAdapter`` (``VenueConfig`` CUSTOM base_url) with its
  ``SupervisedStream``, ``BinanceSpotBookSync`` and ``BookUpdated`` events on an ``EventBus``
  into the ``Engine``; a probe subscribed right after the engine's handler (the bus calls
  handlers in order, synchronously) takes the receive time.

Per rate: warm-up until the book is LIVE, then ``--seconds`` of measured frames. Reports p50/p99/
max latency (µs), the in-process part of it (``BookUpdated.recv_ns``, the perf_counter_ns at
which ``SupervisedStream`` read the frame, -> the probe: decode, book, event, bus, engine), messages lost (sent in the window but never seen by the engine: must be 0) and
the achieved rate. Both ends share the core, so the figures include the source's own send cost;
a real venue's network adds its RTT on top. Last stdout line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench.book_ingest import STREAM, SYMBOL, generate
from terminal.bus import EventBus
from terminal.engine import Engine
from terminal.model import Venue
from terminal.venues.base import Network, VenueConfig
from terminal.venues.events import BookUpdated


async def _exchange_info() -> dict[str, Any]:
    """The simulator's exchangeInfo for SYMBOL (real filters for the adapter to load)."""
    from terminal.sim.exchange import SimConfig
    from terminal.sim.server import start_sim

    sim = await start_sim(SimConfig(symbols=(SYMBOL,), history_days=0, generator=False))
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/api/v3/exchangeInfo") as r:
            return await r.json()
    finally:
        await sim.stop()


class DepthSource:
    """Binance spot REST + /stream for one symbol; see the module docstring."""

    def __init__(self, info: dict[str, Any], snap: dict, frames: list[str]) -> None:
        self.info = info
        self.bids = {p: q for p, q in snap["bids"]}
        self.asks = {p: q for p, q in snap["asks"]}
        self.last_u = snap["lastUpdateId"]
        self.frames = frames
        self.levels = [orjson.loads(f)["data"] for f in frames]
        self.sent_ns: dict[int, int] = {}
        self.ws: web.WebSocketResponse | None = None
        self.connected = asyncio.Event()
        self.next = 0  # index of the next frame to send
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v3/ping", lambda _: web.json_response({}))
        app.router.add_get(
            "/api/v3/time", lambda _: web.json_response({"serverTime": time.time_ns() // 1_000_000})
        )
        app.router.add_get("/api/v3/exchangeInfo", lambda _: web.json_response(self.info))
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/stream", self._stream)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _depth(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "lastUpdateId": self.last_u,
                "bids": sorted(([p, q] for p, q in self.bids.items()), key=lambda lv: -float(lv[0])),
                "asks": sorted(([p, q] for p, q in self.asks.items()), key=lambda lv: float(lv[0])),
            }
        )

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        assert STREAM in request.query.get("streams", ""), request.query
        self.ws = ws
        self.connected.set()
        async for msg in ws:  # SUBSCRIBE and friends: ack them
            if msg.type is aiohttp.WSMsgType.TEXT:
                req = orjson.loads(msg.data)
                await ws.send_str(orjson.dumps({"result": None, "id": req.get("id")}).decode())
        return ws

    def _apply(self, data: dict[str, Any]) -> None:
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for p, q in levels:
                if float(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.last_u = data["u"]

    async def send(self, count: int, rate: float) -> tuple[int, int]:
        """Send ``count`` frames evenly spaced at ``rate``/s; returns (first index, elapsed ns)."""
        ws = self.ws
        assert ws is not None
        first = self.next
        period_ns = 1e9 / rate
        clock = time.perf_counter_ns
        t0 = clock()
        for k in range(count):
            due = t0 + k * period_ns
            delay = (due - clock()) / 1e9
            if delay > 0.0015:
                await asyncio.sleep(delay - 0.001)  # the loop's timer resolution is ~1 ms
            while clock() < due:
                await asyncio.sleep(0)  # let the client run while we wait for the slot
            i = self.next
            data = self.levels[i]
            self._apply(data)
            self.sent_ns[data["u"]] = clock()
            await ws.send_str(self.frames[i])
            self.next = i + 1
        return first, clock() - t0


async def measure(rate: float, seconds: float, info: dict[str, Any]) -> dict[str, Any]:
    warm = max(200, int(rate * 0.5))
    total = warm + int(rate * seconds)
    snap, frames = generate(total + 10, futures=False, seed=int(rate))
    source = DepthSource(info, snap, frames)
    await source.start()
    bus = EventBus()
    engine = Engine(bus)
    seen: dict[int, int] = {}
    handled: dict[int, int] = {}  # update id -> ns from the frame's read to the probe
    clock = time.perf_counter_ns

    def probe(ev: BookUpdated) -> None:
        now = seen[ev.update_id] = clock()
        handled[ev.update_id] = now - ev.recv_ns  # one clock: recv_ns is perf_counter_ns too

    bus.subscribe(BookUpdated, probe)  # after the engine's own handler

    from terminal.venues.binance.spot import BinanceSpotAdapter

    config = VenueConfig(venue=Venue.BINANCE_SPOT, network=Network.CUSTOM, base_url=source.url)
    adapter = BinanceSpotAdapter(config, bus.publish)
    try:
        await adapter.start()
        engine.attach(adapter)
        watch = asyncio.create_task(
            adapter.watch_market(SYMBOL, book=True, trades=False, candles=(), tickers=False)
        )
        await asyncio.wait_for(source.connected.wait(), 10)
        # warm-up at the target rate until the book synced from the snapshot and is applying
        await source.send(warm, rate)
        await watch
        while not seen:  # keep the stream flowing until the first applied diff reached the engine
            await source.send(max(1, int(rate / 100)), rate)
        book = adapter.book(SYMBOL)
        assert book is not None and book.is_live, "the book did not sync"
        n = min(int(rate * seconds), len(frames) - source.next)
        first, elapsed_ns = await source.send(n, rate)
        measured = [source.levels[i]["u"] for i in range(first, first + n)]
        deadline = time.monotonic() + 5
        while measured[-1] not in seen and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        lat_us = [(seen[u] - source.sent_ns[u]) / 1000 for u in measured if u in seen]
        lost = sum(1 for u in measured if u not in seen)
        q = statistics.quantiles(lat_us, n=100) if len(lat_us) > 1 else [0.0] * 99
        in_us = [handled[u] / 1000 for u in measured if u in handled]
        qi = statistics.quantiles(in_us, n=100) if len(in_us) > 1 else [0.0] * 99
        entry = engine.market.books[(Venue.BINANCE_SPOT, SYMBOL)]
        return {
            "target_rate": rate,
            "achieved_rate": round(n / (elapsed_ns / 1e9)),
            "messages": n,
            "lost": lost,
            "p50_us": round(statistics.median(lat_us), 1),
            "p99_us": round(q[98], 1),
            "max_us": round(max(lat_us), 1),
            "recv_to_engine_p50_us": round(statistics.median(in_us), 1),
            "recv_to_engine_p99_us": round(qi[98], 1),
            "syncs": entry.resyncs,  # 1 = only the initial snapshot sync
            "book_live": book.is_live,
        }
    finally:
        await adapter.close()
        await engine.close()
        await source.stop()


async def amain(rates: list[float], seconds: float) -> list[dict[str, Any]]:
    info = await _exchange_info()
    return [await measure(r, seconds, info) for r in rates]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.ingest_latency")
    ap.add_argument("--rates", default="1000,10000", help="msgs/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=3.0, help="measured seconds per rate")
    args = ap.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    results = asyncio.run(amain(rates, args.seconds))
    for r in results:
        print(
            f"{r['target_rate']:>7.0f} msgs/s target, {r['achieved_rate']:>7} achieved, "
            f"{r['messages']} msgs: p50 {r['p50_us']} µs, p99 {r['p99_us']} µs, max {r['max_us']} µs, "
            f"lost {r['lost']}; read->engine p50 {r['recv_to_engine_p50_us']} µs, "
            f"p99 {r['recv_to_engine_p99_us']} µs"
        )
    print(json.dumps({"results": results, "lost_total": sum(r["lost"] for r in results)}))


if __name__ == "__main__":
    main()

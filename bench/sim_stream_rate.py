"""Sustained market-data throughput of the simulator vs. a bare aiohttp websocket server.

    python -m bench.sim_stream_rate [--seconds N] [--depth-rate R] [--copies K]

The simulator runs in a child process (``start_sim``) with a high ``depth_rate``; this
process connects real websocket clients to many streams (Binance spot combined
depth@100ms + trade, USDⓈ-M ``/public`` depth and ``/market`` aggTrade, Bybit spot and
linear orderbook.1/50 + publicTrade) and counts what arrives. The generator's achieved
level changes per second come from ``/sim/status`` update ids. As a baseline, a bare
aiohttp server in a child process sends pre-serialised messages of the same average
size to the same number of clients (the transport ceiling on this machine).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import aiohttp
import orjson

TARGET_MSGS_PER_S = 10_000
BYBIT_PING_S = 20.0


# ---------------------------------------------------------------------------- children
def _serve_sim(conn: Connection, symbols: tuple[str, ...], depth_rate: float, seed: int) -> None:
    """Child process: the simulator with its generator, until terminated."""
    import logging

    from terminal.sim.exchange import SimConfig
    from terminal.sim.server import start_sim

    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        config = SimConfig(port=0, seed=seed, symbols=symbols, depth_rate=depth_rate, history_days=1)
        sim = await start_sim(config)
        conn.send(sim.port)
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_raw(conn: Connection, payload: str) -> None:
    """Child process: a bare websocket server blasting one pre-serialised message."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.CancelledError):
            while not ws.closed:
                await ws.send_str(payload)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/raw", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(site._server.sockets[0].getsockname()[1])  # the bound port
        await asyncio.Event().wait()

    asyncio.run(main())


class Child:
    """A child process that reports its port once ready; terminated on exit."""

    def __init__(self, target, *args) -> None:
        ctx = mp.get_context("spawn")
        self._parent, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=target, args=(child, *args), daemon=True)

    def __enter__(self) -> Child:
        self.proc.start()
        if not self._parent.poll(60):
            self.proc.terminate()
            raise RuntimeError(f"{self.proc.name} did not start")
        self.port: int = self._parent.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


# ---------------------------------------------------------------------------- clients
@dataclass(slots=True)
class Feed:
    """One websocket connection: where, what to send after connecting, what arrived."""

    name: str
    url: str
    subscribe: list[dict] = field(default_factory=list)
    msgs: int = 0
    data_msgs: int = 0  # excluding acks/pongs
    bytes: int = 0
    error: str = ""


def sim_feeds(ws_base: str, symbols: tuple[str, ...], copies: int) -> list[Feed]:
    lower = [s.lower() for s in symbols]
    spot = "/".join(f"{s}@depth@100ms/{s}@trade" for s in lower)
    fut_depth = "/".join(f"{s}@depth@100ms" for s in lower)
    fut_trades = "/".join(f"{s}@aggTrade" for s in lower)
    bybit_args = [f"{topic}.{s}" for s in symbols for topic in ("orderbook.1", "orderbook.50", "publicTrade")]
    feeds = []
    for i in range(copies):
        feeds += [
            Feed(f"binance_spot#{i}", f"{ws_base}/stream?streams={spot}"),
            Feed(f"binance_usdm_public#{i}", f"{ws_base}/public/stream?streams={fut_depth}"),
            Feed(f"binance_usdm_market#{i}", f"{ws_base}/market/stream?streams={fut_trades}"),
        ]
        for category in ("spot", "linear"):
            # Bybit spot allows 10 args per subscribe request.
            subs = [
                {"op": "subscribe", "req_id": f"b{i}-{k}", "args": bybit_args[k : k + 10]}
                for k in range(0, len(bybit_args), 10)
            ]
            feeds.append(Feed(f"bybit_{category}#{i}", f"{ws_base}/v5/public/{category}", subs))
    return feeds


async def _consume(
    session: aiohttp.ClientSession, feed: Feed, counting: asyncio.Event, stop: asyncio.Event
) -> None:
    try:
        async with session.ws_connect(feed.url, max_msg_size=0, autoping=True, heartbeat=None) as ws:
            for sub in feed.subscribe:
                await ws.send_str(orjson.dumps(sub).decode())
            last_ping = time.monotonic()
            while not stop.is_set():
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    if msg.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR,
                    ):
                        feed.error = feed.error or f"closed: {msg.type.name} {msg.data!r}"
                        return
                    continue
                if counting.is_set():
                    data = msg.data
                    feed.msgs += 1
                    feed.bytes += len(data)
                    if '"op"' not in data[:40] and '"success"' not in data[:40]:
                        feed.data_msgs += 1
                if feed.subscribe and time.monotonic() - last_ping > BYBIT_PING_S:
                    await ws.send_str('{"op":"ping"}')
                    last_ping = time.monotonic()
    except (aiohttp.ClientError, OSError) as exc:
        feed.error = f"{type(exc).__name__}: {exc}"


async def measure(feeds: list[Feed], warmup_s: float, seconds: float, on_start=None, on_end=None) -> float:
    """Connect every feed, count messages for ``seconds`` after ``warmup_s``; returns elapsed."""
    counting, stop = asyncio.Event(), asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(_consume(session, f, counting, stop)) for f in feeds]
        await asyncio.sleep(warmup_s)
        if on_start is not None:
            await on_start()
        t0 = time.perf_counter()
        counting.set()
        await asyncio.sleep(seconds)
        counting.clear()
        elapsed = time.perf_counter() - t0
        if on_end is not None:
            await on_end()
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed


def _cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process (Linux /proc), None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def _book_ids(http_base: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as session, session.get(f"{http_base}/sim/status") as resp:
        status = await resp.json()
    return {f"{v}/{s}": uid for v, books in status["books"].items() for s, uid in books.items()}


# ---------------------------------------------------------------------------- runs
@dataclass(slots=True)
class SimResult:
    msgs_per_s: float
    data_msgs_per_s: float
    avg_msg_bytes: int
    level_changes_per_s: float
    feeds: list[Feed]
    sim_cpu: float | None  # share of one core the simulator process used while measured


async def run_sim(port: int, pid: int, symbols: tuple[str, ...], copies: int, seconds: float) -> SimResult:
    http_base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    feeds = sim_feeds(ws_base, symbols, copies)
    ids: dict[str, dict[str, int]] = {}
    marks: dict[str, float] = {}

    cpu: dict[str, float | None] = {}

    async def start() -> None:
        marks["t0"] = time.perf_counter()
        cpu["start"] = _cpu_seconds(pid)
        ids["start"] = await _book_ids(http_base)

    async def end() -> None:
        ids["end"] = await _book_ids(http_base)
        cpu["end"] = _cpu_seconds(pid)
        marks["t1"] = time.perf_counter()

    elapsed = await measure(feeds, 1.5, seconds, start, end)
    changes = sum(ids["end"][k] - ids["start"].get(k, 0) for k in ids["end"])
    total = sum(f.msgs for f in feeds)
    data = sum(f.data_msgs for f in feeds)
    size = sum(f.bytes for f in feeds) // max(1, total)
    window = marks["t1"] - marks["t0"]
    c0, c1 = cpu.get("start"), cpu.get("end")
    sim_cpu = (c1 - c0) / window if c0 is not None and c1 is not None else None
    return SimResult(total / elapsed, data / elapsed, size, changes / window, feeds, sim_cpu)


async def run_raw(port: int, n_clients: int, seconds: float) -> float:
    feeds = [Feed(f"raw#{i}", f"ws://127.0.0.1:{port}/raw") for i in range(n_clients)]
    elapsed = await measure(feeds, 0.5, seconds)
    return sum(f.msgs for f in feeds) / elapsed


def _payload(size: int) -> str:
    """A depth-diff-like JSON text of about ``size`` bytes."""
    head = '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1760000000000,"s":"BTCUSDT","U":1,"u":2,"b":['
    level = '["65000.01000000","0.12345000"],'
    body = level * max(1, (size - len(head) - 10) // len(level))
    return head + body.rstrip(",") + '],"a":[]}}'


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement window per run")
    ap.add_argument("--depth-rate", type=float, default=1000.0, help="level changes/s per market and symbol")
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT,DOGEUSDT")
    ap.add_argument(
        "--copies", type=int, default=4, help="connections per stream set (5 sockets each; streams are paced)"
    )
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())

    target_changes = args.depth_rate * len(symbols) * 4
    print(
        f"simulator: {len(symbols)} symbols x 4 markets, depth_rate {args.depth_rate:g}/s "
        f"(target {target_changes:,.0f} level changes/s), {args.copies} copy(ies) of each feed",
        flush=True,
    )
    with Child(_serve_sim, symbols, args.depth_rate, args.seed) as sim:
        res = asyncio.run(run_sim(sim.port, sim.proc.pid, symbols, args.copies, args.seconds))
    for f in res.feeds:
        note = f"  ERROR {f.error}" if f.error else ("  (nothing received)" if not f.msgs else "")
        print(
            f"  {f.name:24s} {f.msgs / args.seconds:9,.0f} msg/s  {f.bytes / max(1, f.msgs):7,.0f} B/msg{note}"
        )
    missing = sorted({f.name.split("#")[0] for f in res.feeds if f.error or not f.data_msgs})
    print(
        f"sim: {res.msgs_per_s:,.0f} msg/s received ({res.data_msgs_per_s:,.0f} data), "
        f"avg {res.avg_msg_bytes} B; generator {res.level_changes_per_s:,.0f} level changes/s; "
        f"simulator process CPU {_pct(res.sim_cpu)} of one core",
        flush=True,
    )

    n_clients = len(res.feeds)
    payload = _payload(max(64, res.avg_msg_bytes))
    with Child(_serve_raw, payload) as raw:
        raw_rate = asyncio.run(run_raw(raw.port, n_clients, args.seconds))
    print(
        f"raw aiohttp baseline: {raw_rate:,.0f} msg/s of {len(payload)} B to {n_clients} clients", flush=True
    )

    result = {
        "sim_msgs_per_s": round(res.msgs_per_s, 1),
        "sim_data_msgs_per_s": round(res.data_msgs_per_s, 1),
        "avg_msg_bytes": res.avg_msg_bytes,
        "generator_level_changes_per_s": round(res.level_changes_per_s, 1),
        "generator_target_level_changes_per_s": target_changes,
        "sim_process_cpu": None if res.sim_cpu is None else round(res.sim_cpu, 3),
        "raw_ws_msgs_per_s": round(raw_rate, 1),
        "ratio_sim_to_raw": round(res.msgs_per_s / raw_rate, 4) if raw_rate else None,
        "clients": n_clients,
        "streams_missing": missing,
        "target_msgs_per_s": TARGET_MSGS_PER_S,
        "meets_target": res.msgs_per_s >= TARGET_MSGS_PER_S,
    }
    print(orjson.dumps(result).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

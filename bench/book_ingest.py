"""Depth ingest throughput, one core: the full adapter path vs a bare orjson + dict baseline.

``python -m bench.book_ingest [N] [--venue spot|futures] [--rounds R] [--profile]``. Pre-generates N realistic
Binance ``depthUpdate`` frames as the adapter receives them from ``SupervisedStream``: combined-
stream *text* (``{"stream":"btcusdt@depth@100ms","data":{...}}``), ~20 levels each, prices near
a random-walking mid on a 0.10 tick, ~20% deletions, a proper U/u (spot) or pu (futures) chain.
Measures messages/s for:

(a) baseline: ``orjson.loads`` + set/delete levels in ``dict[price_str, qty_str]`` (zero test
    ``float(q) == 0``); no sequence checks, no ordering, no events.
(b) book: ``LocalBook.on_diff(frame)`` alone (msgspec decode, procedure, integer-tick levels,
    crossed-book check).
(c) full: the adapter's market frame handler, as its ``SupervisedStream`` calls it
    (``BinanceSpotAdapter._on_market_frame(frame, recv_ns)`` / the closure from
    ``BinanceFuturesAdapter._market_handler(symbol)``: stream routing -> ``on_diff`` ->
    ``BookUpdated``) emitting into an ``EventBus`` with the ``Engine`` subscribed; ``recv_ns``
    from ``time.perf_counter_ns`` per frame, as ``SupervisedStream`` passes it.

Also a per-stage cost breakdown (ns/msg) and, with ``--profile``, the cProfile top of (c).
Last line: one JSON object (target: full/baseline >= 1.0).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from terminal.bus import EventBus
from terminal.engine import Engine
from terminal.market import ApplyResult, BinanceFuturesBookSync, BinanceSpotBookSync, BookState
from terminal.market.orderbook import LocalBook, decode_binance_depth
from terminal.model import Venue
from terminal.venues.base import VenueConfig
from terminal.venues.events import BookUpdated

TICK = 0.1
SYMBOL = "BTCUSDT"
STREAM = "btcusdt@depth@100ms"


def generate(n: int, *, futures: bool = False, seed: int = 7) -> tuple[dict, list[str]]:
    rng = random.Random(seed)
    mid = 870_000  # ticks: 87000.0
    snap_bids = [[f"{(mid - 1 - i) * TICK:.1f}", f"{rng.uniform(0.001, 5):.3f}"] for i in range(1000)]
    snap_asks = [[f"{(mid + 1 + i) * TICK:.1f}", f"{rng.uniform(0.001, 5):.3f}"] for i in range(1000)]
    out: list[str] = []
    prev_u = 1000
    ts = 1_760_000_000_000
    for _ in range(n):
        step = rng.choice((-1, 0, 0, 1))
        mid += step
        bids: dict[str, str] = {}  # one entry per price, as on the wire
        asks: dict[str, str] = {}
        # Invariant bids < mid < asks (never crossed, like a real book): a move of the mid
        # removes the level it lands on.
        if step > 0:
            asks[f"{mid * TICK:.1f}"] = "0.000"
        elif step < 0:
            bids[f"{mid * TICK:.1f}"] = "0.000"
        for _ in range(20):
            off = int(rng.expovariate(1 / 25)) + 1  # most activity near the touch
            qty = "0.000" if rng.random() < 0.2 else f"{rng.uniform(0.001, 5):.3f}"
            if rng.random() < 0.5:
                bids[f"{(mid - off) * TICK:.1f}"] = qty
            else:
                asks[f"{(mid + off) * TICK:.1f}"] = qty
        # spot ids are contiguous; real futures data skips ids between events
        first = prev_u + 1 + (rng.randint(0, 3) if futures else 0)
        last = first + rng.randint(0, 40)
        ts += 100
        data: dict[str, Any] = {"e": "depthUpdate", "E": ts}
        if futures:
            data["T"] = ts - 2
        data |= {"s": SYMBOL, "U": first, "u": last}
        if futures:
            data["pu"] = prev_u
        data |= {"b": [[p, q] for p, q in bids.items()], "a": [[p, q] for p, q in asks.items()]}
        out.append(orjson.dumps({"stream": STREAM, "data": data}).decode())
        prev_u = last
    first_u = orjson.loads(out[0])["data"]["U"]
    # spot: the first event must cover lastUpdateId+1; futures: straddle lastUpdateId
    last_id = first_u if futures else first_u - 1
    return {"lastUpdateId": last_id, "bids": snap_bids, "asks": snap_asks}, out


# ---------------------------------------------------------------------- (a) baseline
def run_baseline(snap: dict, frames: list[str]) -> float:
    bids = {p: q for p, q in snap["bids"]}
    asks = {p: q for p, q in snap["asks"]}
    loads = orjson.loads
    t0 = time.perf_counter()
    for raw in frames:
        msg = loads(raw)["data"]
        for p, q in msg["b"]:
            if float(q) == 0.0:
                bids.pop(p, None)
            else:
                bids[p] = q
        for p, q in msg["a"]:
            if float(q) == 0.0:
                asks.pop(p, None)
            else:
                asks[p] = q
    return len(frames) / (time.perf_counter() - t0)


# ---------------------------------------------------------------------- (b) book alone
def _new_book(futures: bool) -> LocalBook:
    return BinanceFuturesBookSync(SYMBOL, "0.1") if futures else BinanceSpotBookSync(SYMBOL, "0.1")


def run_book(snap: dict, frames: list[str], futures: bool) -> float:
    book = _new_book(futures)
    assert book.on_snapshot(snap) is ApplyResult.APPLIED
    on_diff = book.on_diff
    t0 = time.perf_counter()
    for raw in frames:
        on_diff(raw)
    rate = len(frames) / (time.perf_counter() - t0)
    # Every frame must have chained and left the book uncrossed, else the rate means nothing.
    assert book.state is BookState.LIVE and book.applied == len(frames), book.reason
    return rate


# ---------------------------------------------------------------------- (c) full adapter path
def adapter_handler(
    futures: bool, snap: dict, bus: EventBus
) -> tuple[str, Callable[[str, int], None], Callable[[], LocalBook]]:
    """The real adapter's market-frame handler with a synced book installed for SYMBOL.

    Returns (label, handler(raw, recv_ns), book getter). Uses the adapters' private routing and
    book maps: a benchmark may look inside; production code goes through watch_market().
    """
    book = _new_book(futures)
    assert book.on_snapshot(snap) is ApplyResult.APPLIED
    config_url = "http://127.0.0.1:9"  # never contacted: frames are handed over directly
    if futures:
        from terminal.venues.binance.futures import BinanceFuturesAdapter

        fut = BinanceFuturesAdapter(VenueConfig(venue=Venue.BINANCE_USDM, base_url=config_url), bus.publish)
        fut._books[SYMBOL] = book
        # exactly what its SupervisedStream gets as on_message
        return (
            "BinanceFuturesAdapter._market_handler",
            fut._market_handler(SYMBOL),
            lambda: fut._books[SYMBOL],
        )
    from terminal.venues.binance.spot import BinanceSpotAdapter

    spot = BinanceSpotAdapter(VenueConfig(venue=Venue.BINANCE_SPOT, base_url=config_url), bus.publish)
    spot._books[SYMBOL] = book
    spot._streams[STREAM] = ("depth", SYMBOL)
    spot._depth[STREAM] = book  # what watch_market(SYMBOL) sets up
    return "BinanceSpotAdapter._on_market_frame", spot._on_market_frame, lambda: spot._books[SYMBOL]


def run_full(snap: dict, frames: list[str], futures: bool, profile: cProfile.Profile | None = None) -> float:
    bus = EventBus()
    engine = Engine(bus)
    _, handler, book_of = adapter_handler(futures, snap, bus)
    now = time.perf_counter_ns  # what SupervisedStream passes
    if profile is not None:
        profile.enable()
    t0 = time.perf_counter()
    for raw in frames:
        handler(raw, now())
    rate = len(frames) / (time.perf_counter() - t0)
    if profile is not None:
        profile.disable()
    book = book_of()
    assert book.state is BookState.LIVE and book.applied == len(frames), book.reason
    entry = engine.market.books[(book.venue, SYMBOL)]
    assert entry.updates == len(frames) and entry.update_id == book.update_id
    assert bus.handler_errors == 0
    return rate


# ---------------------------------------------------------------------- stage breakdown
def stages(snap: dict, frames: list[str], futures: bool) -> dict[str, float]:
    """ns/msg of each stage measured alone (best of 3)."""
    n = len(frames)

    def best(fn: Callable[[], None]) -> float:
        out = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return min(out) / n * 1e9

    def decode() -> None:
        for raw in frames:
            decode_binance_depth(raw)

    diffs = [decode_binance_depth(raw) for raw in frames]

    def apply() -> None:
        book = _new_book(futures)
        book.on_snapshot(snap)
        for d in diffs:
            book.on_diff(d)

    def event() -> None:
        v = Venue.BINANCE_SPOT
        for i in range(n):
            BookUpdated(v, SYMBOL, i, i, i)

    bus = EventBus()
    Engine(bus)
    ev = BookUpdated(Venue.BINANCE_SPOT, SYMBOL, 1, 1, 1)

    def publish() -> None:
        pub = bus.publish
        for _ in range(n):
            pub(ev)

    def loads() -> None:
        for raw in frames:
            orjson.loads(raw)

    return {
        "orjson_loads": best(loads),
        "msgspec_decode": best(decode),
        "procedure_apply": best(apply),
        "BookUpdated_init": best(event),
        "bus_publish_engine": best(publish),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.book_ingest")
    ap.add_argument("n", type=int, nargs="?", default=200_000)
    ap.add_argument("--venue", choices=["spot", "futures"], default="spot")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds")
    ap.add_argument("--profile", action="store_true", help="print the cProfile top of the full path")
    args = ap.parse_args(argv)
    futures = args.venue == "futures"
    snap, frames = generate(args.n, futures=futures)
    print(
        f"{args.n} {args.venue} frames (combined-stream text), {sum(map(len, frames)) / args.n:.0f} chars avg"
    )
    # Interleaved rounds, best of each: a busy machine slows all three alike, not one of them.
    base = book = full = 0.0
    for _ in range(args.rounds):
        base = max(base, run_baseline(snap, frames))
        book = max(book, run_book(snap, frames, futures))
        full = max(full, run_full(snap, frames, futures))
    label = adapter_handler(futures, snap, EventBus())[0]
    st = stages(snap, frames, futures)
    print(f"baseline (orjson + dict[str,str]):          {base:>10,.0f} msgs/s  {1e9 / base:6.0f} ns/msg")
    print(f"book alone (on_diff of the text frame):     {book:>10,.0f} msgs/s  {1e9 / book:6.0f} ns/msg")
    print(f"full path ({label} -> bus -> Engine): {full:>10,.0f} msgs/s  {1e9 / full:6.0f} ns/msg")
    print("stages (ns/msg, each alone): " + ", ".join(f"{k}={v:.0f}" for k, v in st.items()))
    print(f"ratio book/baseline {book / base:.2f}x, full/baseline {full / base:.2f}x")
    if args.profile:
        prof = cProfile.Profile()
        run_full(snap, frames[: min(len(frames), 100_000)], futures, prof)
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(12)
        print(s.getvalue())
    print(
        json.dumps(
            {
                "venue": args.venue,
                "frames": args.n,
                "baseline_msgs_per_s": round(base),
                "book_msgs_per_s": round(book),
                "full_path_msgs_per_s": round(full),
                "ratio_book": round(book / base, 3),
                "ratio_full": round(full / base, 3),
                "stage_ns": {k: round(v) for k, v in st.items()},
                "target_ratio": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()

"""Order book ingest throughput: raw Binance USDⓈ-M depth diffs -> local book.

``python -m bench.book_ingest [N]``. Pre-generates N realistic ``depthUpdate`` frames (bytes,
~20 levels each, prices near a random-walking mid on a 0.10 tick, ~20% deletions, a proper
U/u/pu chain) and measures messages/s for:

(a) baseline: ``orjson.loads`` + set/delete levels in ``dict[price_str, qty_str]`` (the zero
    test is ``float(q) == 0``, as the wire spells zero "0.000" on Binance and "0" on Bybit);
    no sequence checks, no ordering.
(b) engine: :class:`terminal.market.BinanceFuturesBookSync.on_diff` on the raw bytes —
    msgspec typed decode, pu-chain check, integer-tick levels with a sorted key list, and the
    crossed-book check after every apply.

Last line: one JSON object with both rates and their ratio (target >= 1.0).
"""

from __future__ import annotations

import json
import random
import sys
import time

import orjson

from terminal.market import ApplyResult, BinanceFuturesBookSync, BookState

TICK = 0.1
SYMBOL = "BTCUSDT"


def generate(n: int, seed: int = 7) -> tuple[dict, list[bytes]]:
    rng = random.Random(seed)
    mid = 870_000  # ticks: 87000.0
    snap_bids = [[f"{(mid - 1 - i) * TICK:.1f}", f"{rng.uniform(0.001, 5):.3f}"] for i in range(1000)]
    snap_asks = [[f"{(mid + 1 + i) * TICK:.1f}", f"{rng.uniform(0.001, 5):.3f}"] for i in range(1000)]
    snap = {"lastUpdateId": 1000, "bids": snap_bids, "asks": snap_asks}
    out: list[bytes] = []
    prev_u = 1000
    ts = 1_760_000_000_000
    for _ in range(n):
        step = rng.choice((-1, 0, 0, 1))
        mid += step
        bids: dict[str, str] = {}  # one entry per price, as on the wire
        asks: dict[str, str] = {}
        # Invariant bids < mid < asks, so the book is never crossed (like a real one):
        # a move of the mid removes the level it lands on.
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
        first = prev_u + 1 + rng.randint(0, 3)  # real futures data skips ids between events
        last = first + rng.randint(0, 40)
        ts += 100
        msg = {
            "e": "depthUpdate",
            "E": ts,
            "T": ts - 2,
            "s": SYMBOL,
            "U": first,
            "u": last,
            "pu": prev_u,
            "b": [[p, q] for p, q in bids.items()],
            "a": [[p, q] for p, q in asks.items()],
        }
        out.append(orjson.dumps(msg))
        prev_u = last
    snap["lastUpdateId"] = orjson.loads(out[0])["U"]  # the first event straddles the snapshot
    return snap, out


def run_baseline(snap: dict, frames: list[bytes]) -> float:
    bids = {p: q for p, q in snap["bids"]}
    asks = {p: q for p, q in snap["asks"]}
    loads = orjson.loads
    t0 = time.perf_counter()
    for raw in frames:
        msg = loads(raw)
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


def run_engine(snap: dict, frames: list[bytes]) -> float:
    book = BinanceFuturesBookSync(SYMBOL, "0.1")
    assert book.on_snapshot(snap) is ApplyResult.APPLIED
    on_diff = book.on_diff
    t0 = time.perf_counter()
    for raw in frames:
        on_diff(raw)
    rate = len(frames) / (time.perf_counter() - t0)
    # Every frame must have chained and left the book uncrossed, else the rate means nothing.
    assert book.state is BookState.LIVE and book.applied == len(frames), book.reason
    return rate


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 200_000
    snap, frames = generate(n)
    print(f"{n} frames, {sum(map(len, frames)) / n:.0f} bytes avg")
    base = max(run_baseline(snap, frames) for _ in range(3))
    eng = max(run_engine(snap, frames) for _ in range(3))
    print(f"baseline (orjson + dict[str,str]): {base:,.0f} msgs/s")
    print(f"engine (msgspec + ticks + procedure): {eng:,.0f} msgs/s")
    print(f"ratio engine/baseline: {eng / base:.2f}x")
    print(
        json.dumps(
            {
                "baseline_msgs_per_s": round(base),
                "engine_msgs_per_s": round(eng),
                "ratio": round(eng / base, 3),
                "target_ratio": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()

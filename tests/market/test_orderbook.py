"""The local order book engine: real captured payloads, synthetic sequence faults, and the
simulator over real sockets (its own book is the ground truth)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time
import zipfile
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from terminal.market import (
    ApplyResult,
    BinanceFuturesBookSync,
    BinanceSpotBookSync,
    BookState,
    BybitBookSync,
    decode_binance_depth,
)
from terminal.model.enums import Venue
from terminal.sim.exchange import SimConfig
from terminal.sim.faults import StreamFault
from terminal.sim.server import RunningSim, start_sim
from tests.support.shapes import fixtures_dir

pytestmark = pytest.mark.timeout(60)

SYM = "BTCUSDT"
TOP = 200


# ====================================================================== helpers
def _diff(U: int, u: int, b=(), a=(), pu: int = -1) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": 1, "s": SYM, "U": U, "u": u, "pu": pu, "b": list(b), "a": list(a)}


def _assert_sane(book) -> None:
    snap = book.snapshot(10_000)
    assert not snap.is_crossed
    assert [lv.price for lv in snap.bids] == sorted((lv.price for lv in snap.bids), reverse=True)
    assert [lv.price for lv in snap.asks] == sorted(lv.price for lv in snap.asks)
    assert all(lv.qty > 0 for lv in snap.bids + snap.asks)


# ====================================================================== captured data
def _binance_capture() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Tardis-style CSVs: the snap file is one REST-like snapshot, updates grouped by u."""
    base = fixtures_dir() / "binance" / "captured"
    with open(base / "btcusdt-depth-snap.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    snap = {
        "lastUpdateId": int(rows[0]["last_update_id"]),
        "bids": [[r["price"], r["qty"]] for r in rows if r["side"] == "b"],
        "asks": [[r["price"], r["qty"]] for r in rows if r["side"] == "a"],
    }
    diffs: dict[int, dict[str, Any]] = {}
    with open(base / "btcusdt-depth-update.csv", newline="") as f:
        for r in csv.DictReader(f):
            u = int(r["last_update_id"])
            d = diffs.setdefault(u, _diff(int(r["first_update_id"]), u, pu=int(r["pu"])))
            d["b" if r["side"] == "b" else "a"].append([r["price"], r["qty"]])
    return snap, list(diffs.values())


def test_binance_futures_capture_snapshot_loads_exactly() -> None:
    snap, _ = _binance_capture()
    book = BinanceFuturesBookSync(SYM, "0.10")
    assert book.on_snapshot(snap) is ApplyResult.APPLIED
    assert book.state is BookState.LIVE
    view = book.snapshot(1000)
    assert [(f"{lv.price:.2f}", lv.qty) for lv in view.bids] == [(p, Decimal(q)) for p, q in snap["bids"]]
    assert view.best_bid.price == Decimal("20377.00") and view.best_ask is None  # bid-only capture
    _assert_sane(book)


def test_binance_futures_capture_diff_chains_without_false_gap() -> None:
    """The captured diff is 10 min / ~20M ids after the captured snapshot: by the procedure a
    real gap. Seeded with a snapshot whose lastUpdateId it straddles, it applies cleanly."""
    snap, diffs = _binance_capture()
    assert len(diffs) == 1
    d = diffs[0]
    # As recorded: buffered first, the snapshot is older than the buffer -> fetch another.
    book = BinanceFuturesBookSync(SYM, "0.10")
    assert book.on_diff(d) is ApplyResult.BUFFERED
    assert book.on_snapshot(snap) is ApplyResult.SNAPSHOT_TOO_OLD
    assert book.state is BookState.SYNCING
    # Snapshot first, then a diff starting past it: a true gap, reported as one.
    book = BinanceFuturesBookSync(SYM, "0.10")
    book.on_snapshot(snap)
    assert book.on_diff(d) is ApplyResult.GAP and book.state is BookState.NEEDS_RESYNC
    # A straddling snapshot (U <= lastUpdateId <= u): applied, book sane.
    book = BinanceFuturesBookSync(SYM, "0.10")
    assert book.on_diff(d) is ApplyResult.BUFFERED
    straddle = {"lastUpdateId": d["U"], "bids": [], "asks": []}
    assert book.on_snapshot(straddle) is ApplyResult.APPLIED, book.reason
    assert book.state is BookState.LIVE and book.update_id == d["u"]
    _assert_sane(book)
    live_bids = {Decimal(p) for p, q in d["b"] if Decimal(q) > 0}
    live_asks = {Decimal(p) for p, q in d["a"] if Decimal(q) > 0}
    view = book.snapshot(1000)
    assert {lv.price for lv in view.bids} == live_bids and {lv.price for lv in view.asks} == live_asks
    # The next event chains on pu == previous u.
    nxt = _diff(d["u"] + 5, d["u"] + 9, b=[["19000.00", "1.000"]], pu=d["u"])
    assert book.on_diff(nxt) is ApplyResult.APPLIED


def test_bybit_ob500_capture_replays_without_gap() -> None:
    path = fixtures_dir() / "bybit" / "captured" / "xrpusdt-ob500.data.zip"
    with zipfile.ZipFile(path) as z:
        lines = io.TextIOWrapper(z.open(z.namelist()[0]), encoding="utf-8").read().splitlines()
    msgs = [json.loads(line) for line in lines if line.strip()]
    assert msgs[0]["type"] == "snapshot" and len(msgs) > 10
    book = BybitBookSync("XRPUSDT", "0.0001")
    results = [book.on_message(m) for m in msgs]
    assert set(results) == {ApplyResult.APPLIED}, book.reason
    assert book.applied == len(msgs) - 1 and book.update_id == msgs[-1]["data"]["u"]
    _assert_sane(book)
    # Replaying the deltas by hand on Decimal-keyed string books gives the same levels.
    ref: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
    for m in msgs:
        if m["type"] == "snapshot":
            ref = {"b": {}, "a": {}}
        for side in "ba":
            for p, q in m["data"][side]:
                if Decimal(q) == 0:
                    ref[side].pop(Decimal(p), None)
                else:
                    ref[side][Decimal(p)] = Decimal(q)
    view = book.snapshot(10_000)
    assert {lv.price: lv.qty for lv in view.bids} == ref["b"]
    assert {lv.price: lv.qty for lv in view.asks} == ref["a"]
    assert Decimal("1.9") < view.best_bid.price < view.best_ask.price < Decimal("2.1")


# ====================================================================== synthetic sequences
SNAP = {"lastUpdateId": 100, "bids": [["100.00", "1.0"], ["99.90", "2.0"]], "asks": [["100.10", "1.5"]]}


def test_spot_procedure() -> None:
    book = BinanceSpotBookSync(SYM, "0.01")
    assert book.on_diff(_diff(90, 95)) is ApplyResult.BUFFERED
    assert book.on_diff(_diff(96, 100)) is ApplyResult.BUFFERED
    assert book.on_diff(_diff(101, 103, b=[["100.00", "0"]])) is ApplyResult.BUFFERED
    assert book.on_snapshot({"lastUpdateId": 80, "bids": [], "asks": []}) is ApplyResult.SNAPSHOT_TOO_OLD
    assert book.on_snapshot(SNAP) is ApplyResult.APPLIED
    assert book.update_id == 103 and book.best_bid().price == Decimal("99.90")
    assert book.on_diff(_diff(102, 103)) is ApplyResult.STALE_DROPPED  # duplicate
    assert book.on_diff(_diff(104, 104, a=[["100.05", "3"]])) is ApplyResult.APPLIED
    assert book.best_ask() == book.snapshot(1).asks[0] and book.best_ask().price == Decimal("100.05")
    assert book.on_diff(_diff(106, 107)) is ApplyResult.GAP
    assert book.state is BookState.NEEDS_RESYNC and book.snapshot(5).bids == ()
    # Resync: diffs buffer again, a fresh snapshot brings it back.
    assert book.on_diff(_diff(108, 110)) is ApplyResult.BUFFERED
    assert book.on_snapshot({**SNAP, "lastUpdateId": 109}) is ApplyResult.APPLIED
    assert book.state is BookState.LIVE and book.update_id == 110


def test_spot_first_event_must_cover_snapshot() -> None:
    book = BinanceSpotBookSync(SYM, "0.01")
    book.on_diff(_diff(105, 108))
    assert book.on_snapshot({**SNAP, "lastUpdateId": 110}) is ApplyResult.APPLIED  # all dropped
    assert book.on_diff(_diff(112, 115)) is ApplyResult.GAP  # 111 missing


def test_futures_procedure() -> None:
    book = BinanceFuturesBookSync(SYM, "0.10")
    assert book.on_diff(_diff(80, 95, pu=79)) is ApplyResult.BUFFERED
    assert (
        book.on_diff(_diff(96, 104, b=[["100.20", "5"]], a=[["100.10", "0"]], pu=95)) is ApplyResult.BUFFERED
    )
    assert book.on_snapshot(SNAP) is ApplyResult.APPLIED
    assert book.update_id == 104 and book.best_bid().price == Decimal("100.2")
    # U need not be prev u + 1 (real data), only pu == prev u; unknown-level deletes are fine.
    assert book.on_diff(_diff(110, 120, a=[["100.30", "1"], ["555.50", "0"]], pu=104)) is ApplyResult.APPLIED
    assert book.on_diff(_diff(110, 120, pu=104)) is ApplyResult.STALE_DROPPED  # re-delivery
    assert book.on_diff(_diff(125, 130, pu=121)) is ApplyResult.GAP
    assert "pu=121" in book.reason


def test_futures_first_event_must_straddle() -> None:
    book = BinanceFuturesBookSync(SYM, "0.10")
    book.on_diff(_diff(102, 105, pu=101))
    assert book.on_snapshot(SNAP) is ApplyResult.SNAPSHOT_TOO_OLD  # 101 missing between them
    book = BinanceFuturesBookSync(SYM, "0.10")
    book.on_diff(_diff(101, 105, pu=100))  # continues the snapshot's id exactly
    assert book.on_snapshot(SNAP) is ApplyResult.APPLIED and book.update_id == 105
    book = BinanceFuturesBookSync(SYM, "0.10")
    assert book.on_snapshot(SNAP) is ApplyResult.APPLIED
    assert book.on_diff(_diff(98, 99, pu=97)) is ApplyResult.STALE_DROPPED  # u < lastUpdateId
    assert book.on_diff(_diff(102, 105, pu=101)) is ApplyResult.GAP  # U=102 > lastUpdateId=100: 101 missing
    # The snapshot fell on an event boundary: the next event starts after it (U > lastUpdateId)
    # but its pu *is* lastUpdateId, so nothing is missing; refusing it resyncs forever.
    book = BinanceFuturesBookSync(SYM, "0.10")
    assert book.on_snapshot(SNAP) is ApplyResult.APPLIED
    assert book.on_diff(_diff(101, 105, b=[["99.95", "2"]], pu=100)) is ApplyResult.APPLIED
    assert book.update_id == 105 and book.state is BookState.LIVE


def test_crossed_book_is_a_desync() -> None:
    book = BinanceFuturesBookSync(SYM, "0.10")
    book.on_snapshot(SNAP)
    assert book.on_diff(_diff(100, 101, b=[["100.10", "1"]], pu=99)) is ApplyResult.GAP  # locked
    assert book.state is BookState.NEEDS_RESYNC and "crossed" in book.reason


def test_futures_raw_bytes_fast_path_keeps_every_check() -> None:
    """Plain and combined raw frames, chained, gapped and crossed, through the inlined path."""
    book = BinanceFuturesBookSync(SYM, "0.10")
    book.on_snapshot(SNAP)

    def raw(d: dict[str, Any], combined: bool = False) -> bytes:
        return json.dumps({"stream": "btcusdt@depth", "data": d} if combined else d).encode()

    assert book.on_diff(raw(_diff(99, 101, b=[["99.80", "1"]], pu=98))) is ApplyResult.APPLIED  # first
    assert book.on_diff(raw(_diff(102, 103, a=[["100.10", "0"]], pu=101))) is ApplyResult.APPLIED
    assert (
        book.on_diff(raw(_diff(104, 105, b=[["99.70", "2"]], pu=103), combined=True)) is ApplyResult.APPLIED
    )
    assert book.best_ask() is None and book.best_bid().price == Decimal("100.0")
    assert book.on_diff(raw(_diff(104, 105, pu=103))) is ApplyResult.STALE_DROPPED
    assert book.on_diff(raw(_diff(106, 107, a=[["100.00", "1"]], pu=105))) is ApplyResult.GAP  # locked
    assert "crossed" in book.reason
    book.on_snapshot({**SNAP, "lastUpdateId": 108})
    assert book.on_diff(raw(_diff(108, 109, pu=107))) is ApplyResult.APPLIED
    assert book.on_diff(raw(_diff(111, 112, pu=110))) is ApplyResult.GAP and "pu=110" in book.reason


def test_bybit_procedure() -> None:
    book = BybitBookSync(SYM, "0.10")
    snap = {
        "type": "snapshot",
        "ts": 1,
        "data": {"s": SYM, "b": [["100.0", "1"]], "a": [["100.5", "2"]], "u": 7},
    }

    def delta(u: int, b=(), a=()) -> dict[str, Any]:
        return {"type": "delta", "ts": 2, "data": {"s": SYM, "b": list(b), "a": list(a), "u": u}}

    assert book.on_message(delta(3)) is ApplyResult.STALE_DROPPED  # before any snapshot
    assert book.on_message(snap) is ApplyResult.APPLIED
    assert book.on_message(delta(8, b=[["100.2", "4"]], a=[["100.5", "0"]])) is ApplyResult.APPLIED
    assert book.snapshot(5).bids[0].price == Decimal("100.2") and book.snapshot(5).asks == ()
    # a re-delivered delta is already in the book: dropped, the book stays LIVE and unchanged
    assert book.on_message(delta(8, b=[["100.2", "9"]])) is ApplyResult.STALE_DROPPED
    assert book.state is BookState.LIVE and book.snapshot(5).bids[0].qty == Decimal("4")
    assert book.on_message(delta(10)) is ApplyResult.GAP  # 9 is missing
    assert book.on_message(delta(9)) is ApplyResult.STALE_DROPPED  # in flight before resubscribe
    reset = {**snap, "data": {**snap["data"], "u": 1}}  # service restart
    assert book.on_message(reset) is ApplyResult.APPLIED and book.update_id == 1
    assert book.on_message(delta(2)) is ApplyResult.APPLIED
    assert book.on_message(delta(4)) is ApplyResult.GAP


def test_raw_bytes_and_combined_stream_decode() -> None:
    raw = json.dumps({"stream": "btcusdt@depth", "data": _diff(1, 2, b=[["1.50", "0.000"]], pu=0)}).encode()
    d = decode_binance_depth(raw)
    # prices stay the wire strings (they key the tick cache), quantities become floats
    assert (d.U, d.u, d.pu, d.b) == (1, 2, 0, [("1.50", 0.0)])
    assert decode_binance_depth(json.dumps(_diff(3, 4)).encode()).u == 4


def test_random_diffs_match_a_decimal_reference_on_every_path() -> None:
    """Sparse and dense levels (best deletions that need the scan and the max()/min()
    fallback), fed as raw bytes, as parsed dicts and as DepthDiff: identical to a naive
    Decimal-keyed book after every message."""
    rng = random.Random(5)
    books = [BinanceFuturesBookSync(SYM, "0.01") for _ in range(3)]
    for bk in books:
        bk.on_snapshot({"lastUpdateId": 10, "bids": [], "asks": []})
    ref: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
    prev = 10
    for i in range(600):
        b, a = {}, {}
        for _ in range(rng.randint(0, 8)):
            spread = rng.choice((3, 40, 2000))  # 2000 ticks > the scan window
            if rng.random() < 0.5:
                b[f"{100 - rng.randint(1, spread) / 100:.2f}"] = rng.choice(("0.000", f"{rng.random():.3f}"))
            else:
                a[f"{100 + rng.randint(0, spread) / 100:.2f}"] = rng.choice(("0.000", f"{rng.random():.3f}"))
        msg = _diff(
            prev if i == 0 else prev + 1,
            prev + 3,
            b=[[p, q] for p, q in b.items()],
            a=[[p, q] for p, q in a.items()],
            pu=prev,
        )
        msg["E"] = i
        prev += 3
        raw = json.dumps(msg).encode()
        results = {books[0].on_diff(raw), books[1].on_diff(msg), books[2].on_diff(decode_binance_depth(raw))}
        assert results == {ApplyResult.APPLIED}, books[0].reason
        for side, levels in (("b", b), ("a", a)):
            for p, q in levels.items():
                if Decimal(q) == 0:
                    ref[side].pop(Decimal(p), None)
                else:
                    ref[side][Decimal(p)] = Decimal(q)
        want_b = sorted(ref["b"].items(), reverse=True)
        want_a = sorted(ref["a"].items())
        for bk in books:
            view = bk.snapshot(10_000)
            assert [(lv.price, lv.qty) for lv in view.bids] == want_b
            assert [(lv.price, lv.qty) for lv in view.asks] == want_a
            assert bk.best_bid() == (view.bids[0] if view.bids else None)
            assert bk.best_ask() == (view.asks[0] if view.asks else None)


# ====================================================================== against the simulator
async def _wait(pred: Callable[[], Any], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def _quiet(seen: list[Any], gap: float = 0.4, timeout: float = 8.0) -> None:
    """Wait until no frame has arrived for ``gap`` seconds (the last push after a pause)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = len(seen)
        await asyncio.sleep(gap)
        if len(seen) == n:
            return
    raise AssertionError("stream did not go quiet")


def _assert_equals_sim(book, sim: RunningSim, venue: Venue) -> None:
    m = sim.exchange.markets[venue]
    inst = m.instruments[SYM]
    _, bids, asks = m.depth(SYM, TOP)
    assert book.tick == inst.tick
    got_b, got_a = book.top_ticks(TOP)
    assert len(bids) > 20 and len(asks) > 20
    assert [(t, Decimal(repr(q))) for t, q in got_b] == [(t, inst.qty(lots)) for t, lots in bids]
    assert [(t, Decimal(repr(q))) for t, q in got_a] == [(t, inst.qty(lots)) for t, lots in asks]
    _assert_sane(book)


async def _binance_case(venue: Venue, stream_path: str, rest_path: str, limit: int, make) -> None:
    sim = await start_sim(SimConfig(generator=True, history_days=1, depth_rate=800.0))
    try:
        m = sim.exchange.markets[venue]
        book = make(SYM, m.instruments[SYM].tick)
        results: list[ApplyResult] = []
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}{stream_path}") as ws:

            async def read() -> None:
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT and "depthUpdate" in msg.data:
                        results.append(book.on_diff(msg.data))  # raw text: the fast decode path

            async def resnapshot() -> None:
                while True:
                    await _wait(lambda: book._buffer)
                    async with http.get(f"{sim.url}{rest_path}?symbol={SYM}&limit={limit}") as r:
                        res = book.on_snapshot(await r.json())
                    if res is ApplyResult.APPLIED:
                        return

            reader = asyncio.create_task(read())
            try:
                await resnapshot()
                await asyncio.sleep(0.8)
                assert ApplyResult.GAP not in results and book.state is BookState.LIVE
                assert results.count(ApplyResult.APPLIED) >= 3
                sim.exchange.generator.pause()
                await _wait(lambda: book.update_id == m.books[SYM].update_id)
                _assert_equals_sim(book, sim, venue)

                # An injected GAP is detected; a fresh snapshot heals the book.
                sim.exchange.faults.inject_stream(StreamFault.GAP, venue, symbol=SYM)
                sim.exchange.generator.resume()
                await _wait(lambda: ApplyResult.GAP in results)
                assert book.state is not BookState.LIVE
                await resnapshot()
                await asyncio.sleep(0.3)
                sim.exchange.generator.pause()
                await _wait(lambda: book.update_id == m.books[SYM].update_id)
                assert results.count(ApplyResult.GAP) == 1
                _assert_equals_sim(book, sim, venue)
            finally:
                reader.cancel()
    finally:
        await sim.stop()


async def test_sim_binance_spot_book_equals_sim() -> None:
    await _binance_case(
        Venue.BINANCE_SPOT, f"/ws/{SYM.lower()}@depth@100ms", "/api/v3/depth", 5000, BinanceSpotBookSync
    )


async def test_sim_binance_futures_book_equals_sim() -> None:
    await _binance_case(
        Venue.BINANCE_USDM,
        f"/public/stream?streams={SYM.lower()}@depth@100ms",
        "/fapi/v1/depth",
        1000,
        BinanceFuturesBookSync,
    )


async def test_sim_bybit_book_equals_sim() -> None:
    venue, topic = Venue.BYBIT_LINEAR, f"orderbook.{TOP}.{SYM}"
    sim = await start_sim(SimConfig(generator=True, history_days=1, depth_rate=800.0))
    try:
        book = BybitBookSync(SYM, sim.exchange.markets[venue].instruments[SYM].tick)
        results: list[ApplyResult] = []
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/v5/public/linear") as ws:

            async def read() -> None:
                async for msg in ws:
                    frame = msg.json()
                    if frame.get("topic") != topic:
                        continue
                    res = book.on_message(frame)
                    results.append(res)
                    if res is ApplyResult.GAP:  # documented remedy: resubscribe for a snapshot
                        await ws.send_json({"op": "unsubscribe", "args": [topic]})
                        await ws.send_json({"op": "subscribe", "args": [topic]})

            await ws.send_json({"op": "subscribe", "req_id": "1", "args": [topic]})
            reader = asyncio.create_task(read())
            try:
                await asyncio.sleep(0.8)
                assert ApplyResult.GAP not in results and results.count(ApplyResult.APPLIED) >= 3
                sim.exchange.generator.pause()
                await _quiet(results)
                _assert_equals_sim(book, sim, venue)

                sim.exchange.faults.inject_stream(StreamFault.GAP, venue, symbol=SYM)
                sim.exchange.generator.resume()
                await _wait(lambda: ApplyResult.GAP in results)
                await _wait(lambda: book.state is BookState.LIVE)
                await asyncio.sleep(0.3)
                sim.exchange.generator.pause()
                await _quiet(results)
                assert results.count(ApplyResult.GAP) == 1
                _assert_equals_sim(book, sim, venue)
            finally:
                reader.cancel()
    finally:
        await sim.stop()

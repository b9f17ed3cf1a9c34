"""The fused steady-state paths of the Binance books (text and bytes frames, plain and combined)
keep every check of the documented procedure and give the same book as the generic path."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from terminal.market import ApplyResult, BinanceFuturesBookSync, BinanceSpotBookSync, BookState

pytestmark = pytest.mark.timeout(30)

SYM = "BTCUSDT"


def _diff(U: int, u: int, b=(), a=(), pu: int = -1) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": u, "s": SYM, "U": U, "u": u, "pu": pu, "b": list(b), "a": list(a)}


def _frames(msg: dict[str, Any]) -> list[Any]:
    plain = json.dumps(msg)
    combined = json.dumps({"stream": "btcusdt@depth@100ms", "data": msg})
    return [plain, combined, plain.encode(), combined.encode()]


def test_spot_fast_path_checks_sequence_and_crossing() -> None:
    for frame in range(4):
        book = BinanceSpotBookSync(SYM, "0.01")
        book.on_snapshot({"lastUpdateId": 100, "bids": [["99.90", "1"]], "asks": [["100.10", "1"]]})

        def feed(msg: dict[str, Any], i: int = frame, bk: BinanceSpotBookSync = book) -> ApplyResult:
            return bk.on_diff(_frames(msg)[i])

        assert feed(_diff(99, 101, b=[["99.95", "2"]])) is ApplyResult.APPLIED  # straddles
        assert feed(_diff(102, 103, a=[["100.10", "0"], ["100.20", "3"]])) is ApplyResult.APPLIED
        assert feed(_diff(102, 103)) is ApplyResult.STALE_DROPPED  # duplicate
        assert book.best_bid().price == book.tick * 9995 and book.best_ask().price == book.tick * 10020
        assert feed(_diff(104, 104, b=[["100.20", "1"]])) is ApplyResult.GAP  # locked book
        assert book.state is BookState.NEEDS_RESYNC
        book.on_snapshot({"lastUpdateId": 110, "bids": [["99.90", "1"]], "asks": [["100.10", "1"]]})
        assert feed(_diff(111, 112)) is ApplyResult.APPLIED
        assert feed(_diff(114, 115)) is ApplyResult.GAP and "U=114" in book.reason


def test_fast_paths_equal_generic_path_on_random_diffs() -> None:
    rng = random.Random(11)
    for cls in (BinanceSpotBookSync, BinanceFuturesBookSync):
        books = [cls(SYM, "0.01") for _ in range(5)]  # 4 raw frame kinds + parsed dicts
        for bk in books:
            bk.on_snapshot({"lastUpdateId": 10, "bids": [["90.00", "1"]], "asks": [["110.00", "1"]]})
        prev = 10
        for i in range(400):
            b, a = {}, {}
            for _ in range(rng.randint(0, 10)):
                off = rng.choice((1, 3, 40, 900))
                q = rng.choice(("0.000", f"{rng.random() + 0.001:.3f}"))
                if rng.random() < 0.5:
                    b[f"{100 - rng.randint(1, off) / 100:.2f}"] = q
                else:
                    a[f"{100 + rng.randint(0, off) / 100:.2f}"] = q
            first = prev if (i == 0 and cls is BinanceFuturesBookSync) else prev + 1
            msg = _diff(first, prev + 2, [[p, q] for p, q in b.items()], [[p, q] for p, q in a.items()], prev)
            prev += 2
            results = {bk.on_diff(f) for bk, f in zip(books, [*_frames(msg), msg], strict=True)}
            assert results == {ApplyResult.APPLIED}, books[0].reason
            views = [bk.snapshot(10_000) for bk in books]
            assert all(v == views[0] for v in views[1:])

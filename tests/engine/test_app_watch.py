"""``App.watch``: a market the session did not start with gets its book, trades and candles
(real adapter, simulator over loopback); idempotent; a venue outside the session is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from terminal.app import App, AppError
from terminal.model import Venue
from tests.engine.test_app_brackets import FUT, SYM, external_demo
from tests.venues.binance_support import sim, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)


async def test_watch_adds_book_and_candles_once(sim, tmp_path: Path) -> None:  # noqa: F811
    app = App(external_demo(sim, tmp_path))
    await app.start()
    try:
        engine = app.engine
        assert app.is_watched(FUT, SYM) and not app.is_watched(FUT, "ETHUSDT")
        assert engine.book_snapshot(FUT, "ETHUSDT") is None
        assert not engine.is_tracked(FUT, "ETHUSDT", "1m") and engine.is_tracked(FUT, SYM, "1m")
        # Two callers at once (the search and a venue switch): one subscription, both wait for it.
        await asyncio.gather(app.watch(FUT, "ETHUSDT"), app.watch(FUT, "ethusdt "))
        assert app.is_watched(FUT, "ETHUSDT")
        assert engine.is_tracked(FUT, "ETHUSDT", "1m")
        assert len(engine.candle_bars(FUT, "ETHUSDT", "1m")) > 10  # history loaded

        def book() -> bool:
            snap = engine.book_snapshot(FUT, "ETHUSDT")
            return snap is not None and bool(snap.bids) and bool(snap.asks)

        await wait_for(book, 10, "the ETHUSDT book")
        streams = [k for k in app.adapters[FUT].feeds() if "ethusdt" in k.lower()]
        assert streams, list(app.adapters[FUT].feeds())
        await app.watch(FUT, "ETHUSDT")  # again: nothing new
        assert [k for k in app.adapters[FUT].feeds() if "ethusdt" in k.lower()] == streams
        with pytest.raises(AppError, match="not part of this session"):
            await app.watch(Venue.BYBIT_SPOT, "ETHUSDT")
    finally:
        await app.stop()
    with pytest.raises(AppError, match="not running"):
        await app.watch(FUT, "SOLUSDT")

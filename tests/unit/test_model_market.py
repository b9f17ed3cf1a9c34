from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model import (
    BookLevel,
    Candle,
    FeedState,
    FeedStatus,
    FundingRate,
    MarkPrice,
    OrderBookSnapshot,
    Side,
    Signal,
    SignalSource,
    Ticker,
    Trade,
    Venue,
)

D = Decimal
V = Venue.BINANCE_USDM


def test_candle() -> None:
    c = Candle(V, "BTCUSDT", "1m", 60_000, 119_999, 100.0, 110.0, 95.0, 105.0, 3.0, closed=True)
    assert c.is_bullish and c.range == 15.0
    assert c.contains(60_000) and c.contains(119_999) and not c.contains(120_000)


def test_trade_notional() -> None:
    t = Trade(V, "BTCUSDT", 1, D("100.5"), D("2"), Side.SELL, 5)
    assert t.notional == D("201.0")


def test_book_snapshot_sorted_and_derived() -> None:
    book = OrderBookSnapshot.create(
        V,
        "BTCUSDT",
        bids=[("99.5", "1"), ("100", "2"), ("98", "0")],
        asks=[BookLevel.of("101", "1"), ("100.5", "3")],
        ts=7,
        last_update_id=42,
    )
    assert [lv.price for lv in book.bids] == [D("100"), D("99.5")]  # zero qty dropped
    assert [lv.price for lv in book.asks] == [D("100.5"), D("101")]
    assert book.best_bid == BookLevel(D("100"), D("2"))
    assert book.best_ask == BookLevel(D("100.5"), D("3"))
    assert book.spread == D("0.5")
    assert book.mid == D("100.25")
    assert not book.is_crossed
    assert book.depth(Side.BUY) == D(3)
    assert book.depth(Side.SELL, 1) == D(3)
    assert book.last_update_id == 42


def test_empty_and_crossed_book() -> None:
    empty = OrderBookSnapshot(V, "X", (), ())
    assert empty.best_bid is None and empty.spread is None and empty.mid is None
    assert not empty.is_crossed
    crossed = OrderBookSnapshot.create(V, "X", [("101", "1")], [("100", "1")])
    assert crossed.is_crossed


def test_ticker_change() -> None:
    t = Ticker(V, "BTCUSDT", last=D("105"), open_24h=D("100"))
    assert t.change_24h == D(5)
    assert t.change_pct_24h == D(5)
    assert Ticker(V, "BTCUSDT", last=D("1")).change_pct_24h is None


def test_mark_price_and_funding() -> None:
    m = MarkPrice(V, "BTCUSDT", D("100.5"), index_price=D("100"), funding_rate=D("0.0001"))
    assert m.basis == D("0.5")
    f = FundingRate(V, "BTCUSDT", D("0.0001"), 1000, mark_price=D("50000"))
    assert f.payment(D("2")) == D("10")  # long pays
    assert f.payment(D("-2")) == D("-10")  # short receives
    with pytest.raises(ValueError):
        FundingRate(V, "BTCUSDT", D("0.0001"), 1000).payment(D(1))


# ---------------------------------------------------------------- feed


def test_feed_status_lifecycle() -> None:
    f = FeedStatus("binance_usdm:btcusdt@depth", V, since=0)
    f = f.on_message(now_ms=1000, event_time_ms=990)
    assert f.state is FeedState.LIVE and f.since == 1000 and f.latency_ms == 10.0
    f = f.on_message(now_ms=1500)
    assert f.since == 1000 and f.messages == 2 and f.latency_ms == 10.0
    assert not f.is_stale(now_ms=2000, threshold_ms=1000)
    assert f.is_stale(now_ms=2600, threshold_ms=1000)
    f = f.with_state(FeedState.STALE, 2600, "no data for 1.1 s")
    assert f.since == 2600 and f.detail.startswith("no data")
    assert f.with_state(FeedState.STALE, 9999, "no data for 1.1 s") is f
    f = f.with_state(FeedState.RECONNECTING, 3000)
    assert f.reconnects == 1
    f = f.with_state(FeedState.RECONNECTING, 3500, "attempt 2")
    assert f.reconnects == 1 and f.since == 3000  # same state: only the detail changes
    f = f.with_state(FeedState.RESYNCING, 4000)
    assert f.on_message(4100).state is FeedState.RESYNCING  # resync decides when it is live
    assert f.silence_ms(4000) == 2500


def test_feed_without_messages() -> None:
    f = FeedStatus("s", V, state=FeedState.LIVE, since=0)
    assert f.silence_ms(10) is None
    assert f.is_stale(5000, 1000)
    assert not FeedStatus("s", V).is_stale(5000, 1000)


# ---------------------------------------------------------------- signal


def test_signal_raw_is_frozen_copy() -> None:
    raw = {"type": "indicator", "data": {"buy_price": 205.0}}
    s = Signal(
        "mr-1",
        SignalSource.MARKETRAKER,
        "SOLUSDT",
        Side.BUY,
        1000,
        entry=D("205"),
        stop=D("200"),
        target=D("215"),
        horizon=2000,
        confidence=0.6,
        raw=raw,
    )
    raw["data"]["buy_price"] = 1.0
    assert s.raw["data"]["buy_price"] == 205.0
    with pytest.raises(TypeError):
        s.raw["x"] = 1  # type: ignore[index]
    assert s.risk_reward == D(2)
    assert not s.is_expired(2000) and s.is_expired(2001)
    # raw does not take part in equality / hashing
    same = Signal(
        "mr-1", SignalSource.MARKETRAKER, "SOLUSDT", Side.BUY, 1000, D("205"), D("200"), D("215"), 2000, 0.6
    )
    assert s == same and hash(s) == hash(same)


def test_signal_validation_and_defaults() -> None:
    s = Signal("w", SignalSource.WEBHOOK, "BTCUSDT", Side.SELL, 0)
    assert s.raw == {} and s.risk_reward is None and not s.is_expired(10**15)
    with pytest.raises(ValueError, match="confidence"):
        Signal("w", SignalSource.WEBHOOK, "BTCUSDT", Side.SELL, 0, confidence=4.0)

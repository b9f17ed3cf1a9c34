"""The /healthz verdict: HALTED, feeds down beyond the threshold, journal; 200 vs 503."""

from __future__ import annotations

import pytest

from terminal.model import FeedState, FeedStatus, TradingState, Venue
from terminal.ops import HealthPolicy, evaluate

NOW = 1_700_000_000_000


def feed(sid: str, state: FeedState, for_s: float, reconnects: int = 0) -> FeedStatus:
    return FeedStatus(sid, Venue.BYBIT_LINEAR, state, since=NOW - int(for_s * 1000), reconnects=reconnects)


def verdict(
    feeds: list[FeedStatus], trading: TradingState | None = TradingState.ACTIVE, journal_ok: bool = True
):
    return evaluate(
        mode="demo",
        trading_state=trading,
        feeds={f.stream_id: f for f in feeds},
        armed=["ema_cross@bybit_linear:BTCUSDT=armed"],
        journal_ok=journal_ok,
        policy=HealthPolicy(feed_down_after_s=30),
        now_ms=lambda: NOW,
    )


def test_all_live_is_healthy() -> None:
    report = verdict([feed("a", FeedState.LIVE, 500), feed("b", FeedState.LIVE, 1)])
    assert report.healthy and report.http_status == 200 and report.problems == ()
    body = report.as_json()
    assert (
        body["ok"] is True and body["feeds"]["a"]["state"] == "live" and body["feeds"]["a"]["down"] is False
    )
    assert body["armed"] == ["ema_cross@bybit_linear:BTCUSDT=armed"] and body["mode"] == "demo"


@pytest.mark.parametrize(
    "state", [FeedState.RECONNECTING, FeedState.STALE, FeedState.RESYNCING, FeedState.CONNECTING]
)
def test_a_feed_down_beyond_the_threshold_is_unhealthy(state: FeedState) -> None:
    assert verdict([feed("a", state, 29)]).healthy  # a blip does not flap the status
    report = verdict([feed("a", FeedState.LIVE, 100), feed("b", state, 31, reconnects=3)])
    assert not report.healthy and report.http_status == 503
    assert report.problems == (f"feed b {state.value} for 31s",)
    assert report.as_json()["feeds"]["b"] == {
        "venue": "bybit_linear",
        "state": state.value,
        "for_s": 31.0,
        "reconnects": 3,
        "messages": 0,
        "down": True,
    }


def test_stopped_feeds_and_reducing_are_healthy() -> None:
    report = verdict([feed("a", FeedState.STOPPED, 3600)], trading=TradingState.REDUCING)
    assert report.healthy and report.as_json()["trading_state"] == "REDUCING"


def test_halted_and_journal_make_it_unhealthy() -> None:
    report = verdict([], trading=TradingState.HALTED, journal_ok=False)
    assert report.http_status == 503
    assert report.problems == ("trading is HALTED", "the journal does not answer")


def test_policy_rejects_a_negative_threshold() -> None:
    with pytest.raises(ValueError, match="feed_down_after_s"):
        HealthPolicy(feed_down_after_s=-1)

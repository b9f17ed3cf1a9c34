"""Bus event -> Notice wording: the facts a user needs, nothing secret, routine states silent."""

from __future__ import annotations

from terminal.automation.events import ArmState, IntentOutcome
from terminal.model import FeedState, TradingState
from terminal.notify import NoticeKind, Severity
from terminal.notify import format as fmt

from . import events as ev


def test_fill_notice_says_side_qty_symbol_price_fee() -> None:
    n = fmt.fill_notice(ev.fill(3, pnl="12.5"))
    assert n.kind is NoticeKind.FILL
    assert n.title == "Fill: SELL 0.01 BTCUSDT @ 65000.5"
    assert "fee 0.26 USDT" in n.body and "PnL 12.5" in n.body and "binance_usdm" in n.body
    assert "strategy-ema-00000003" not in n.body  # shortened order id
    assert "…000003" in n.body


def test_signal_accepted_never_echoes_the_raw_payload() -> None:
    n = fmt.signal_accepted_notice(ev.signal_accepted())
    assert n.title == "Signal: BUY SOLUSDT"
    assert "entry 150.5" in n.body and "stop 145" in n.body and "target 160" in n.body and "80%" in n.body
    assert "sender-secret-xyz" not in n.text()


def test_signal_rejected_is_a_warning_and_long_reasons_are_cut() -> None:
    n = fmt.signal_rejected_notice(ev.signal_rejected("x" * 1000))
    assert n.severity is Severity.WARNING
    assert "HTTP 401" in n.body and len(n.body) < 320


def test_strategy_error_is_critical_with_its_message() -> None:
    n = fmt.strategy_notice(ev.strategy(ArmState.ERROR, "ZeroDivisionError in on_bar"))
    assert n.severity is Severity.CRITICAL
    assert n.title == "Strategy ema_cross stopped by an error"
    assert "ZeroDivisionError" in n.body
    assert fmt.strategy_notice(ev.strategy(ArmState.ARMED)).title == "Strategy ema_cross armed"


def test_only_refused_or_failed_intents_notify() -> None:
    assert fmt.intent_notice(ev.intent(IntentOutcome.PLACED)) is None
    assert fmt.intent_notice(ev.intent(IntentOutcome.SKIPPED)) is None
    refused = fmt.intent_notice(ev.intent(IntentOutcome.REFUSED, "max_position: 2 > 1"))
    assert refused is not None and refused.severity is Severity.WARNING and "max_position" in refused.body
    failed = fmt.intent_notice(ev.intent(IntentOutcome.FAILED, "venue 503"))
    assert failed is not None and failed.severity is Severity.CRITICAL


def test_feed_down_and_back_are_transitions_only() -> None:
    down = fmt.feed_notice(ev.feed(FeedState.RECONNECTING, "ConnectionResetError"), was_down=False)
    assert down is not None and down.title.startswith("Feed down: binance_usdm market stream BTCUSDT")
    assert "ConnectionResetError" in down.body and down.severity is Severity.WARNING
    assert fmt.feed_notice(ev.feed(FeedState.STALE), was_down=True) is None  # still down
    back = fmt.feed_notice(ev.feed(FeedState.LIVE), was_down=True)
    assert back is not None and back.title.startswith("Feed back")
    assert back.dedupe_key == down.dedupe_key
    for routine in (FeedState.CONNECTING, FeedState.LIVE, FeedState.RESYNCING, FeedState.STOPPED):
        assert fmt.feed_notice(ev.feed(routine), was_down=False) is None


def test_risk_state_severity_follows_the_state() -> None:
    n = fmt.risk_notice(ev.risk(TradingState.HALTED))
    assert n.severity is Severity.CRITICAL and n.title == "Trading HALTED (was ACTIVE)"
    assert "daily_loss" in n.body
    assert fmt.risk_notice(ev.risk(TradingState.ACTIVE, TradingState.HALTED)).severity is Severity.INFO


def test_coalesce_counts_and_lists() -> None:
    notices = [fmt.fill_notice(ev.fill(i)) for i in range(5)]
    merged = fmt.coalesce(notices)
    assert merged.title == "5 fills"
    assert merged.body.count("\n") == 4 and "Fill: BUY 0.01 BTCUSDT" in merged.body
    assert fmt.coalesce(notices[:1]) is notices[0]

"""Bus event -> ``Notice``: the words a user reads. Pure functions, no I/O.

Nothing secret goes in: no raw webhook payloads (they may carry a sender's token), no API keys,
and client order ids are shortened (they are noise in a phone notification).
"""

from __future__ import annotations

from decimal import Decimal

from terminal.automation.events import ArmState, IntentOutcome, IntentResult, StrategyStateChanged
from terminal.model import FeedState, Fill, TradingState
from terminal.notify.model import Notice, NoticeKind, Severity
from terminal.signals.events import SignalAccepted, SignalRejected
from terminal.trading.events import TradingStateChanged
from terminal.venues.events import FeedEvent, FillEvent

__all__ = [
    "DOWN_STATES",
    "coalesce",
    "feed_notice",
    "fill_notice",
    "intent_notice",
    "risk_notice",
    "signal_accepted_notice",
    "signal_rejected_notice",
    "strategy_notice",
]

MAX_FIELD = 300  # a reason echoed from a sender is cut here: a notification is not a log

# STOPPED is deliberate (unwatched symbol, shutdown): not "down".
DOWN_STATES = frozenset({FeedState.RECONNECTING, FeedState.STALE})


def _num(d: Decimal | None) -> str:
    return "—" if d is None else f"{d.normalize():f}"


def _cut(text: str, limit: int = MAX_FIELD) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fill_line(f: Fill) -> str:
    line = f"{f.side} {_num(f.qty)} {f.symbol} @ {_num(f.price)} on {f.venue}"
    if f.fee:
        line += f", fee {_num(f.fee)} {f.fee_asset}".rstrip()
    if f.realized_pnl is not None and f.realized_pnl != 0:
        line += f", PnL {_num(f.realized_pnl)}"
    return line


def fill_notice(ev: FillEvent) -> Notice:
    f = ev.fill
    return Notice(
        NoticeKind.FILL,
        title=f"Fill: {f.side} {_num(f.qty)} {f.symbol} @ {_num(f.price)}",
        body=_fill_line(f) + f" (order …{f.client_id[-6:]})",
        ts=f.ts,
    )


def signal_accepted_notice(ev: SignalAccepted) -> Notice:
    s = ev.signal
    parts = [f"{s.side} {s.symbol} from {ev.hook}"]
    if s.entry is not None:
        parts.append(f"entry {_num(s.entry)}")
    if s.stop is not None:
        parts.append(f"stop {_num(s.stop)}")
    if s.target is not None:
        parts.append(f"target {_num(s.target)}")
    if s.confidence is not None:
        parts.append(f"confidence {s.confidence:.0%}")
    return Notice(
        NoticeKind.SIGNAL_ACCEPTED,
        title=f"Signal: {s.side} {s.symbol}",
        body=", ".join(parts) + f" (id {_cut(s.id, 40)})",
        ts=s.received_at,
    )


def signal_rejected_notice(ev: SignalRejected) -> Notice:
    return Notice(
        NoticeKind.SIGNAL_REJECTED,
        title=f"Signal rejected ({ev.hook})",
        body=f"HTTP {ev.status}: {_cut(ev.reason)}",
        severity=Severity.WARNING,
        ts=ev.received_at,
    )


_ARM_WORDS = {
    ArmState.WARMING: "warming up",
    ArmState.ARMED: "armed",
    ArmState.DISARMED: "disarmed",
    ArmState.ERROR: "stopped by an error",
}


def strategy_notice(ev: StrategyStateChanged) -> Notice:
    severity = Severity.CRITICAL if ev.state is ArmState.ERROR else Severity.INFO
    body = f"{ev.key.strategy} on {ev.key.venue} {ev.key.symbol}: {_ARM_WORDS[ev.state]}"
    if ev.message:
        body += f" — {_cut(ev.message)}"
    return Notice(
        NoticeKind.STRATEGY_STATE,
        title=f"Strategy {ev.key.strategy} {_ARM_WORDS[ev.state]}",
        body=body,
        severity=severity,
        dedupe_key=f"strategy:{ev.key}",
    )


def intent_notice(ev: IntentResult) -> Notice | None:
    """Only the intents that did not become orders; placed ones are told by their fills."""
    if ev.outcome not in (IntentOutcome.REFUSED, IntentOutcome.FAILED):
        return None
    i = ev.intent
    verb = "refused" if ev.outcome is IntentOutcome.REFUSED else "failed"
    return Notice(
        NoticeKind.ORDER_FAILED,
        title=f"Order {verb}: {i.action} {i.side} {i.symbol} ({ev.origin})",
        body=_cut(ev.message) if ev.message else f"{ev.origin}: {verb}",
        severity=Severity.WARNING if ev.outcome is IntentOutcome.REFUSED else Severity.CRITICAL,
        ts=i.at_ms,
    )


def feed_notice(ev: FeedEvent, was_down: bool) -> Notice | None:
    """A stream going down, or coming back after being down; routine states say nothing."""
    st = ev.status
    down = st.state in DOWN_STATES
    if down == was_down or (not down and st.state is not FeedState.LIVE):
        return None
    what = f"{st.venue} {ev.kind} stream" + (f" {ev.symbol}" if ev.symbol else "")
    if down:
        detail = f": {_cut(st.detail)}" if st.detail else ""
        return Notice(
            NoticeKind.FEED,
            title=f"Feed down: {what}",
            body=f"{st.stream_id} is {st.state}{detail} (reconnects so far: {st.reconnects})",
            severity=Severity.WARNING,
            dedupe_key=f"feed:{st.stream_id}",
            ts=st.since,
        )
    return Notice(
        NoticeKind.FEED,
        title=f"Feed back: {what}",
        body=f"{st.stream_id} is live again",
        dedupe_key=f"feed:{st.stream_id}",
        ts=st.since,
    )


def risk_notice(ev: TradingStateChanged) -> Notice:
    severity = {
        TradingState.ACTIVE: Severity.INFO,
        TradingState.REDUCING: Severity.WARNING,
        TradingState.HALTED: Severity.CRITICAL,
    }[ev.state]
    return Notice(
        NoticeKind.RISK_STATE,
        title=f"Trading {ev.state} (was {ev.previous})",
        body=f"by {ev.actor}: {_cut(ev.reason)}",
        severity=severity,
        dedupe_key="risk_state",
        ts=ev.ts,
    )


def coalesce(notices: list[Notice]) -> Notice:
    """Several notices of one kind as one message: a count in the title, one line each."""
    if len(notices) == 1:
        return notices[0]
    first = notices[0]
    severity = max((n.severity for n in notices), key=list(Severity).index)
    noun = {NoticeKind.FILL: "fills", NoticeKind.SIGNAL_REJECTED: "signals rejected"}.get(
        first.kind, str(first.kind)
    )
    body = "\n".join(
        f"• {n.title}" + (f" — {n.body}" if first.kind is not NoticeKind.FILL else "") for n in notices
    )
    return Notice(first.kind, title=f"{len(notices)} {noun}", body=body, severity=severity, ts=notices[-1].ts)

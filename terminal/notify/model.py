"""What the notifier sends: a typed ``Notice``, independent of the event that caused it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ChannelKind", "Notice", "NoticeKind", "Severity"]


class NoticeKind(StrEnum):
    FILL = "fill"
    SIGNAL_ACCEPTED = "signal_accepted"
    SIGNAL_REJECTED = "signal_rejected"
    STRATEGY_STATE = "strategy_state"  # armed / disarmed / errored
    ORDER_FAILED = "order_failed"  # an intent was refused by risk or failed at the venue
    FEED = "feed"  # a stream went down, or came back
    RISK_STATE = "risk_state"  # trading state ACTIVE / REDUCING / HALTED changed
    DAILY_SUMMARY = "daily_summary"
    TEST = "test"  # "send a test message" from the settings


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class ChannelKind(StrEnum):
    TRAY = "tray"
    TELEGRAM = "telegram"
    EMAIL = "email"


# Kinds whose bursts merge into one message (many partial fills in a second).
COALESCED: frozenset[NoticeKind] = frozenset({NoticeKind.FILL, NoticeKind.SIGNAL_REJECTED})


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    title: str  # one line: the tray balloon title, the e-mail subject
    body: str  # plain text (Telegram is sent without parse_mode: nothing to escape)
    severity: Severity = Severity.INFO
    # A notice still queued with the same key is replaced by this one (the newest state wins:
    # a flapping feed sends its latest state, not every transition). None: never replaced.
    dedupe_key: str | None = None
    ts: int = 0  # ms, when the underlying event happened

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError(f"a {self.kind} notice needs a title")

    def text(self) -> str:
        """Title and body as one plain-text message (Telegram, logs)."""
        return f"{self.title}\n{self.body}" if self.body else self.title

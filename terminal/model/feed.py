"""Health of one market/user-data stream, as shown in the UI's feed indicators."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from terminal.model.enums import FeedState, Venue

__all__ = ["FeedStatus"]


@dataclass(frozen=True, slots=True)
class FeedStatus:
    stream_id: str  # e.g. "binance_usdm:btcusdt@depth@100ms"
    venue: Venue
    state: FeedState = FeedState.CONNECTING
    since: int = 0  # ms, when ``state`` was entered
    last_message_at: int | None = None  # ms, local receive time of the last message
    latency_ms: float | None = None  # local receive time minus venue event time
    reconnects: int = 0
    messages: int = 0
    detail: str = ""  # last error or reason for the state, for tooltips

    def with_state(self, state: FeedState, now_ms: int, detail: str = "") -> FeedStatus:
        """Enter ``state``; ``since`` only moves on a real change so "stale for 12 s" stays true."""
        if state is self.state:
            return self if detail == self.detail else dataclasses.replace(self, detail=detail)
        reconnects = self.reconnects + (1 if state is FeedState.RECONNECTING else 0)
        return dataclasses.replace(self, state=state, since=now_ms, detail=detail, reconnects=reconnects)

    def on_message(self, now_ms: int, event_time_ms: int | None = None) -> FeedStatus:
        """Record a message; a STALE feed that talks again is LIVE again."""
        latency = float(now_ms - event_time_ms) if event_time_ms is not None else self.latency_ms
        state, since = self.state, self.since
        if state in (FeedState.STALE, FeedState.CONNECTING):
            state, since = FeedState.LIVE, now_ms
        return dataclasses.replace(
            self,
            state=state,
            since=since,
            last_message_at=now_ms,
            latency_ms=latency,
            messages=self.messages + 1,
        )

    def silence_ms(self, now_ms: int) -> int | None:
        """Time since the last message (None if none yet)."""
        return None if self.last_message_at is None else now_ms - self.last_message_at

    def is_stale(self, now_ms: int, threshold_ms: int) -> bool:
        """True when a LIVE feed has been silent for longer than ``threshold_ms``."""
        silence = self.silence_ms(now_ms)
        if silence is None:
            return self.state is FeedState.LIVE and now_ms - self.since > threshold_ms
        return silence > threshold_ms

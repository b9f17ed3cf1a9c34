"""Latest ``FeedStatus`` per stream, and which streams just came back (for candle backfill)."""

from __future__ import annotations

from dataclasses import dataclass

from terminal.model import FeedState, FeedStatus, Venue
from terminal.venues.events import FeedEvent, StreamKind

__all__ = ["FeedsState", "Recovery"]

# Leaving these for LIVE means data may have been missed while the stream was away. (A book
# RESYNCING after a sequence gap lost depth diffs only: no candle backfill for that.)
_INTERRUPTED = frozenset({FeedState.RECONNECTING, FeedState.STALE})


@dataclass(frozen=True, slots=True)
class Recovery:
    """A market stream went LIVE again after an interruption."""

    venue: Venue
    symbol: str | None  # None: the stream serves several symbols (or did not say)
    stream_id: str


class FeedsState:
    def __init__(self) -> None:
        self.status: dict[str, FeedStatus] = {}
        self.kinds: dict[str, StreamKind] = {}
        self.symbols: dict[str, str | None] = {}
        self._interrupted: set[str] = set()
        self.version = 0

    def on_feed(self, ev: FeedEvent) -> Recovery | None:
        """Record ``ev``; returns a Recovery when a market stream is LIVE again after an outage."""
        st = ev.status
        sid = st.stream_id
        prev = self.status.get(sid)
        self.status[sid] = st
        self.kinds[sid] = ev.kind
        self.symbols[sid] = ev.symbol
        self.version += 1
        if st.state in _INTERRUPTED:
            self._interrupted.add(sid)
            return None
        if st.state is not FeedState.LIVE:
            return None
        # A reconnect we never saw reported (reconnects went up) counts the same.
        missed = prev is not None and prev.reconnects < st.reconnects
        recovered = sid in self._interrupted or missed
        self._interrupted.discard(sid)
        if recovered and ev.kind is StreamKind.MARKET:
            return Recovery(st.venue, ev.symbol, sid)
        return None

    def by_state(self, state: FeedState) -> list[FeedStatus]:
        return [s for s in self.status.values() if s.state is state]

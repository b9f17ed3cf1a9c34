"""The health verdict behind ``GET /healthz``.

Rule (HTTP 503 when any holds, else 200):

* trading is HALTED (the risk manager's kill state: nothing new may be opened);
* a feed has been out of LIVE for longer than ``feed_down_after_s`` (default 30 s) -
  connecting, reconnecting, resyncing or stale. STOPPED feeds (unwatched on purpose) do not
  count; a blip shorter than the threshold does not flap the status;
* the journal does not answer a trivial read (orders could not be recorded).

REDUCING is reported but healthy: the terminal is doing what its limits say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from terminal.model import FeedState, FeedStatus, TradingState

__all__ = ["FeedHealth", "HealthPolicy", "HealthReport", "evaluate"]

_DOWN = frozenset({FeedState.CONNECTING, FeedState.RECONNECTING, FeedState.RESYNCING, FeedState.STALE})


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    feed_down_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.feed_down_after_s < 0:
            raise ValueError(f"feed_down_after_s must not be negative, got {self.feed_down_after_s}")


@dataclass(frozen=True, slots=True)
class FeedHealth:
    stream: str
    venue: str
    state: FeedState
    for_s: float  # time in this state
    reconnects: int
    messages: int
    down: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "state": self.state.value,
            "for_s": round(self.for_s, 1),
            "reconnects": self.reconnects,
            "messages": self.messages,
            "down": self.down,
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    healthy: bool
    mode: str
    trading_state: TradingState | None
    journal_ok: bool
    feeds: tuple[FeedHealth, ...]
    armed: tuple[str, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def http_status(self) -> int:
        return 200 if self.healthy else 503

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.healthy,
            "healthy": self.healthy,
            "problems": list(self.problems),
            "mode": self.mode,
            "trading_state": self.trading_state.value if self.trading_state is not None else None,
            "journal_ok": self.journal_ok,
            "feeds": {f.stream: f.as_json() for f in self.feeds},
            "armed": list(self.armed),
        }


def evaluate(
    *,
    mode: str,
    trading_state: TradingState | None,
    feeds: Mapping[str, FeedStatus],
    armed: Iterable[str],
    journal_ok: bool,
    policy: HealthPolicy,
    now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> HealthReport:
    now = now_ms()
    problems: list[str] = []
    if trading_state is TradingState.HALTED:
        problems.append("trading is HALTED")
    if not journal_ok:
        problems.append("the journal does not answer")
    rows = []
    for sid in sorted(feeds):
        st = feeds[sid]
        for_s = max(0.0, (now - st.since) / 1000) if st.since else 0.0
        down = st.state in _DOWN and for_s > policy.feed_down_after_s
        if down:
            problems.append(f"feed {sid} {st.state.value} for {for_s:.0f}s")
        rows.append(FeedHealth(sid, str(st.venue), st.state, for_s, st.reconnects, st.messages, down))
    return HealthReport(
        healthy=not problems,
        mode=mode,
        trading_state=trading_state,
        journal_ok=journal_ok,
        feeds=tuple(rows),
        armed=tuple(armed),
        problems=tuple(problems),
    )

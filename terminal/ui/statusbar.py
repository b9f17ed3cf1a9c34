"""Status bar widgets: per-venue feed health, the trading state, the kill-switch button.

A demo session has ~50 streams (depth, trades, tickers, candles, user data per market), far
too many for one light each; so there is one indicator per venue, coloured by its worst
stream, with every stream (state, latency, reconnects, detail) in the tooltip. A reconnect
that heals between two refreshes would otherwise never be seen: a venue whose reconnect
counter went up shows "recovered" (amber) for a few seconds.
"""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from terminal.model import FeedState, FeedStatus, TradingState, Venue
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, STATE_COLORS, WARN_COLOR

__all__ = [
    "RECOVERED",
    "FeedIndicator",
    "FeedIndicators",
    "KillSwitchButton",
    "NoticeLabel",
    "TradingStateLabel",
    "venue_label",
    "venue_short",
]

_LABELS: dict[Venue, tuple[str, str]] = {  # (full, short)
    Venue.BINANCE_SPOT: ("Binance Spot", "BN spot"),
    Venue.BINANCE_USDM: ("Binance USDⓈ-M", "BN USDⓈ-M"),
    Venue.BYBIT_SPOT: ("Bybit spot", "BY spot"),
    Venue.BYBIT_LINEAR: ("Bybit linear", "BY linear"),
}


@functools.cache
def _has_circled_s() -> bool:
    """Binance writes USDⓈ-M; many fonts (DejaVu) lack Ⓢ and would draw a box."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() is not None and QFontMetrics(QApplication.font()).inFontUcs4(0x24C8)


def _plain(text: str) -> str:
    return text if _has_circled_s() else text.replace("Ⓢ", "S")


def venue_label(venue: Venue) -> str:
    return _plain(_LABELS[venue][0])


def venue_short(venue: Venue) -> str:
    return _plain(_LABELS[venue][1])


RECOVERED = "recovered"  # display-only state: live again after a reconnect moments ago
RECOVERED_HOLD_S = 3.0

# Worst first: the venue shows the most severe state any of its streams is in.
_SEVERITY: dict[FeedState, int] = {
    FeedState.RECONNECTING: 5,
    FeedState.STALE: 4,
    FeedState.STOPPED: 3,
    FeedState.RESYNCING: 2,
    FeedState.CONNECTING: 1,
    FeedState.LIVE: 0,
}
_STATE_TEXT_COLORS = {**STATE_COLORS, RECOVERED: WARN_COLOR}


@dataclass(frozen=True, slots=True)
class VenueHealth:
    state: FeedState
    streams: int
    latency_ms: float | None  # worst latency among streams that report one
    reconnects: int


def summarize(statuses: Iterable[FeedStatus]) -> VenueHealth | None:
    items = list(statuses)
    if not items:
        return None
    worst = max(items, key=lambda s: _SEVERITY.get(s.state, 0)).state
    latencies = [s.latency_ms for s in items if s.latency_ms is not None]
    return VenueHealth(
        state=worst,
        streams=len(items),
        latency_ms=max(latencies) if latencies else None,
        reconnects=sum(s.reconnects for s in items),
    )


class FeedIndicator(QLabel):
    """``● BN spot 12 ms`` in the colour of the venue's worst stream."""

    def __init__(self, venue: Venue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.venue = venue
        self.setObjectName(f"feed_{venue.value}")
        self.display_state = "connecting"
        self._reconnects: int | None = None
        self._recovered_until = 0.0
        self.setTextFormat(Qt.TextFormat.RichText)
        self._render("connecting", None, "no streams yet")

    def update_from(self, streams: list[FeedStatus], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        health = summarize(streams)
        if health is None:
            self._render("connecting", None, "no streams yet")
            return
        if self._reconnects is not None and health.reconnects > self._reconnects:
            self._recovered_until = now + RECOVERED_HOLD_S
        self._reconnects = health.reconnects
        state = health.state.value
        if health.state is FeedState.LIVE and now < self._recovered_until:
            state = RECOVERED
        self._render(state, health.latency_ms, _tooltip(self.venue, streams))

    def _render(self, state: str, latency_ms: float | None, tooltip: str) -> None:
        self.display_state = state
        color = _STATE_TEXT_COLORS.get(state, MUTED)
        lat = "" if latency_ms is None else f" {latency_ms:.0f} ms"
        self.setText(
            f'<span style="color:{color}">●</span> {html.escape(venue_short(self.venue))}'
            f'<span style="color:{MUTED}">{lat}</span>'
        )
        self.setToolTip(tooltip)


def _tooltip(venue: Venue, streams: list[FeedStatus]) -> str:
    now_ms = time.time_ns() // 1_000_000
    rows = []
    for s in sorted(streams, key=lambda s: (-_SEVERITY.get(s.state, 0), s.stream_id)):
        color = STATE_COLORS.get(s.state.value, MUTED)
        lat = "—" if s.latency_ms is None else f"{s.latency_ms:.0f} ms"
        silence = s.silence_ms(now_ms)
        quiet = "" if silence is None else f"{silence / 1000:.1f} s ago"
        detail = html.escape(s.detail) if s.detail else ""
        rows.append(
            f"<tr><td>{html.escape(s.stream_id)}</td>"
            f'<td style="color:{color}">{s.state.value}</td><td>{lat}</td><td>{quiet}</td>'
            f"<td>{s.reconnects} reconnects</td><td>{detail}</td></tr>"
        )
    return f"<b>{html.escape(venue_label(venue))}</b><table cellspacing=4>{''.join(rows)}</table>"


class FeedIndicators(QWidget):
    """One FeedIndicator per venue of the session."""

    def __init__(self, venues: Iterable[Venue], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        self.indicators: dict[Venue, FeedIndicator] = {}
        for venue in venues:
            ind = FeedIndicator(venue, self)
            self.indicators[venue] = ind
            layout.addWidget(ind)

    def update_from(self, statuses: Mapping[str, FeedStatus], now: float | None = None) -> list[Venue]:
        """Redraw; returns the venues that just left a healthy state (for notifications)."""
        by_venue: dict[Venue, list[FeedStatus]] = {v: [] for v in self.indicators}
        for st in statuses.values():
            if st.venue in by_venue:
                by_venue[st.venue].append(st)
        went_down: list[Venue] = []
        for venue, ind in self.indicators.items():
            before = ind.display_state
            ind.update_from(by_venue[venue], now)
            if before in ("live", RECOVERED) and ind.display_state in ("reconnecting", "stale"):
                went_down.append(venue)
        return went_down

    def state(self, venue: Venue) -> str:
        return self.indicators[venue].display_state


_TRADING_COLORS = {
    TradingState.ACTIVE: BUY_COLOR,
    TradingState.REDUCING: WARN_COLOR,
    TradingState.HALTED: SELL_COLOR,
}


class TradingStateLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tradingState")
        self.state: TradingState | None = None
        self.set_state(None)

    def set_state(self, state: TradingState | None) -> None:
        if state is self.state and self.text():
            return
        self.state = state
        if state is None:
            self.setText(f'<span style="color:{MUTED}">trading: —</span>')
            self.setToolTip("the trading core is not running")
            return
        color = _TRADING_COLORS[state]
        self.setText(f'trading: <b style="color:{color}">{state.value}</b>')
        self.setToolTip(
            {
                TradingState.ACTIVE: "orders are accepted",
                TradingState.REDUCING: "only orders that reduce a position are accepted",
                TradingState.HALTED: "no orders are accepted (kill switch or risk halt)",
            }[state]
        )


class KillSwitchButton(QPushButton):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("KILL SWITCH", parent)
        self.setObjectName("killSwitch")
        self.setToolTip("Halt trading, cancel every open order and flatten every position (Ctrl+Shift+K)")
        self.setCursor(Qt.CursorShape.PointingHandCursor)


class NoticeLabel(QLabel):
    """A warning that must not vanish with the next status message (e.g. a broken preferences
    file): ``⚠ <summary>`` in amber, the whole text in the tooltip; a click dismisses it."""

    MAX_CHARS = 70

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.message = ""
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setTextFormat(Qt.TextFormat.PlainText)  # file paths and error text, never markup
        self.setStyleSheet(f"color: {WARN_COLOR};")
        self.hide()

    def show_notice(self, message: str, summary: str | None = None) -> None:
        """``summary``: a few words for the bar (default: the message, elided)."""
        self.message = message
        short = summary or message
        if len(short) > self.MAX_CHARS:
            short = short[: self.MAX_CHARS - 1] + "…"
        self.setText(f"⚠ {short}")
        self.setToolTip(f"{message}\n(click to dismiss)")
        self.show()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.message = ""
        self.hide()
        event.accept()

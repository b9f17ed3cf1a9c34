"""Signals dock: the webhook URLs to register, whether the listener answers, and a live log of
what arrived and what automation made of it.

* Listener: the MarketRaker URL and each generic hook's URL (with Copy buttons), whether the
  listener is running and reachable - a real ``GET /healthz`` from the UI loop, on open, every
  ``HEALTH_EVERY_S`` and on "Check" - and its request counts by outcome.
* Log, newest first: accepted signals (``SignalAccepted``), refused requests
  (``SignalRejected``: status and reason), the intents they produced (``IntentResult``:
  outcome and message) and strategies' skips (``Skip``: why nothing was done). Duplicate,
  ignored and unrouted requests publish no event; they are read from the journal, and only
  when the listener's counters say such a request arrived, so an idle dock costs nothing.

Bus handlers only append to a bounded ``ActivityLog``; a ``Throttle`` redraws the table a few
times a second at most, so a flood of webhooks costs a handful of redraws.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QGridLayout, QLabel, QLineEdit, QPushButton, QWidget

from terminal.automation.events import IntentOutcome, IntentResult
from terminal.engine.engine import Versions
from terminal.model import Signal
from terminal.signals.events import SignalAccepted, SignalRejected
from terminal.signals.generic import GenericSignalError, generic_of
from terminal.storage.journal import WebhookOutcome, WebhookRequestRecord
from terminal.strategies.base import IntentAction, Skip
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_plain
from terminal.ui.refresh import Throttle
from terminal.ui.strategies_panel import AlignedRowModel, automation_absent_text, fit_all_but_last
from terminal.ui.tables.common import TablePanel
from terminal.ui.tables.model import Row
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, WARN_COLOR

__all__ = [
    "Activity",
    "ActivityKind",
    "ActivityLog",
    "Health",
    "SignalsPanel",
    "check_health",
    "signal_detail",
]

log = logging.getLogger(__name__)

HEADERS = ("Time", "Kind", "Source", "Signal id", "Symbol", "Side", "Outcome", "Detail")
MAX_ROWS = 1000
MIN_INTERVAL_S = 0.25
POLL_MS = 1000  # journal look-up for event-less requests, only when the counters moved
HEALTH_EVERY_S = 30.0
HEALTH_TIMEOUT_S = 2.0
NO_LISTENER_TEXT = (
    "No webhook listener in this session: start the terminal with --webhook-port PORT "
    "(and --marketraker-key-file PEM for MarketRaker signals)."
)
MARKETRAKER_HOW = (
    "Register this URL as MarketRaker's notification webhook; its requests are verified with "
    "the configured public key (x-signature, RSA-PSS)."
)
HOOK_HOW = (
    "POST JSON {{symbol, side, type, qty|quote|risk, price?, stop?, target?}} here with header "
    "X-Signature: hex HMAC-SHA256 of the raw body, keyed with the secret 'webhook:{name}' of the key store."
)
LOOPBACK_NOTE = (
    "Loopback only: senders on the internet cannot reach it — expose it through a tunnel or "
    "a reverse proxy and register that public URL."
)
# Requests the listener answers without a bus event: read from the journal instead.
_UNPUBLISHED = frozenset({WebhookOutcome.DUPLICATE, WebhookOutcome.IGNORED, WebhookOutcome.NOT_FOUND})
_GOOD, _BAD, _MEH = BUY_COLOR, SELL_COLOR, MUTED
_OUTCOME_COLORS: dict[str, str] = {
    "accepted": _GOOD,
    "rejected": _BAD,
    IntentOutcome.PLACED.value: _GOOD,
    IntentOutcome.REFUSED.value: _BAD,
    IntentOutcome.FAILED.value: _BAD,
    IntentOutcome.SKIPPED.value: _MEH,
    WebhookOutcome.DUPLICATE.value: _MEH,
    WebhookOutcome.IGNORED.value: _MEH,
    WebhookOutcome.NOT_FOUND.value: _BAD,
    "skip": WARN_COLOR,
}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ActivityKind(StrEnum):
    SIGNAL = "signal"  # accepted by the listener
    REQUEST = "request"  # refused, duplicate, ignored, unrouted
    INTENT = "intent"  # what a strategy (or a generic hook) asked for, and what became of it
    SKIP = "skip"  # a strategy looked at an input and chose not to act


@dataclass(frozen=True, slots=True)
class Activity:
    seq: int
    at_ms: int
    kind: ActivityKind
    source: str  # hook name or origin (strategy:<name>, webhook:<name>)
    outcome: str  # accepted, rejected 401, duplicate, placed, refused, skip...
    signal_id: str = ""
    symbol: str = ""
    side: str = ""
    detail: str = ""


class ActivityLog:
    """The dock's model: a bounded list, oldest first, fed by bus events and journal reads."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.items: deque[Activity] = deque(maxlen=max_rows)
        self.version = 0
        self._seq = 0
        self._signals: dict[str, tuple[str, str]] = {}  # signal id -> (symbol, side), for duplicates

    def add(
        self, kind: ActivityKind, source: str, outcome: str, at_ms: int | None = None, **fields: str
    ) -> None:
        self._seq += 1
        self.items.append(Activity(self._seq, at_ms or _now_ms(), kind, source, outcome, **fields))
        self.version += 1

    def on_accepted(self, ev: SignalAccepted) -> None:
        s = ev.signal
        side = s.side.value
        if len(self._signals) > 4 * MAX_ROWS:
            self._signals.clear()
        self._signals[s.id] = (s.symbol, side)
        self.add(
            ActivityKind.SIGNAL,
            ev.hook,
            "accepted",
            s.received_at,
            signal_id=s.id,
            symbol=s.symbol,
            side=side,
            detail=signal_detail(s),
        )

    def on_rejected(self, ev: SignalRejected) -> None:
        self.add(ActivityKind.REQUEST, ev.hook, f"rejected {ev.status}", ev.received_at, detail=ev.reason)

    def on_request(self, rec: WebhookRequestRecord) -> None:
        symbol, side = self._signals.get(rec.signal_id or "", ("", ""))
        outcome = rec.outcome.value if rec.status < 400 else f"{rec.outcome.value} {rec.status}"
        self.add(
            ActivityKind.REQUEST,
            rec.hook,
            outcome,
            rec.received_at,
            signal_id=rec.signal_id or "",
            symbol=symbol,
            side=side,
            detail=rec.reason or "",
        )

    def on_intent(self, ev: IntentResult) -> None:
        i = ev.intent
        side = i.side.value if i.action is IntentAction.OPEN else f"close ({i.side.value})"
        detail = ev.message or i.reason
        if ev.outcome is IntentOutcome.PLACED and ev.qty is not None:
            detail = (
                f"qty {format_plain(ev.qty)} ({ev.client_id}); {i.reason}"
                if i.reason
                else f"qty {format_plain(ev.qty)} ({ev.client_id})"
            )
        self.add(
            ActivityKind.INTENT,
            ev.origin,
            ev.outcome.value,
            signal_id=i.signal_id or "",
            symbol=i.symbol,
            side=side,
            detail=detail,
        )

    def on_skip(self, skip: Skip) -> None:
        # Timed when decided (now), not ``skip.at_ms`` (the input's own time: a signal's
        # buy_date, a bar's close), so it sorts after the input it answers.
        self.add(
            ActivityKind.SKIP,
            f"strategy:{skip.strategy}",
            "skip",
            signal_id=skip.signal_id or "",
            symbol=skip.symbol,
            detail=skip.reason,
        )


def signal_detail(signal: Signal) -> str:
    """What a signal asks for, in a line: a generic hook's order type and size, then any
    entry / stop / target."""
    parts: list[str] = []
    try:
        order = generic_of(signal)
    except GenericSignalError:  # validated on receipt: cannot happen, but a dock must not fail
        order = None
    if order is not None:
        sizes = (("qty", order.qty), ("quote", order.quote), ("risk", order.risk))
        size = next((f"{n} {format_plain(v)}" for n, v in sizes if v is not None), "")
        parts.append(" ".join(p for p in (order.type.value, size) if p))
    prices = (("entry", signal.entry), ("stop", signal.stop), ("target", signal.target))
    parts += [f"{name} {format_plain(v)}" for name, v in prices if v is not None]
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    text: str  # what the dock shows: the status and latency, or what went wrong


async def check_health(base_url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> Health:
    """``GET <base_url>/healthz`` as a sender would reach it; never raises."""
    t0 = time.perf_counter()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http,
            http.get(f"{base_url}/healthz") as resp,
        ):
            body = await resp.json(content_type=None)
    except TimeoutError:
        return Health(False, f"no answer from /healthz within {timeout_s:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return Health(False, f"/healthz unreachable: {exc}")
    except ValueError as exc:
        return Health(False, f"/healthz answered something that is not JSON: {exc}")
    ms = (time.perf_counter() - t0) * 1000
    if resp.status == 503 and isinstance(body, dict) and body.get("problems"):
        # Reachable (a sender's request would arrive), but the terminal reports a problem.
        problems = "; ".join(str(p) for p in body["problems"])
        return Health(True, f"reachable, unhealthy ({problems}) in {ms:.0f} ms")
    if resp.status != 200 or not isinstance(body, dict) or body.get("ok") is not True:
        return Health(False, f"/healthz answered {resp.status}")
    return Health(True, f"reachable: GET /healthz {resp.status} in {ms:.0f} ms")


class ListenerBox(QWidget):
    """URLs with Copy buttons, the listener's state and request counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("listenerBox")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 2)
        self.grid.setHorizontalSpacing(6)
        self.grid.setVerticalSpacing(2)
        self.state = QLabel(self)
        self.state.setObjectName("listenerState")
        self.state.setWordWrap(True)
        self.check_button = QPushButton("Check", self)
        self.check_button.setObjectName("checkListener")
        self.check_button.setToolTip("GET /healthz on the listener now")
        self.counts = QLabel(self)
        self.counts.setObjectName("listenerCounts")
        self.counts.setStyleSheet(f"color: {MUTED};")
        self.note = QLabel(self)
        self.note.setObjectName("listenerNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {WARN_COLOR};")
        self.note.hide()
        self.grid.addWidget(QLabel("Listener", self), 0, 0)
        self.grid.addWidget(self.state, 0, 1)
        self.grid.addWidget(self.check_button, 0, 2)
        self.grid.setColumnStretch(1, 1)
        self.urls: dict[str, QLineEdit] = {}
        self.copy_buttons: dict[str, QPushButton] = {}

    def set_state(self, text: str, color: str | None) -> None:
        self.state.setText(text)
        self.state.setStyleSheet(f"color: {color};" if color else "")

    def set_urls(self, urls: Iterable[tuple[str, str, str]], note: str = "") -> None:
        """(label, url, how to use it) rows, each with a read-only field and a Copy button;
        ``note`` (e.g. "loopback only") under them."""
        for row, (label, url, how) in enumerate(urls, start=1):
            edit = QLineEdit(url, self)
            edit.setReadOnly(True)
            edit.setObjectName(f"url:{label}")
            edit.setToolTip(how)
            button = QPushButton("Copy", self)
            button.setObjectName(f"copy:{label}")
            button.setToolTip(f"copy the {label} URL to the clipboard")
            button.clicked.connect(lambda _=False, u=url: QGuiApplication.clipboard().setText(u))
            self.grid.addWidget(QLabel(label, self), row, 0)
            self.grid.addWidget(edit, row, 1)
            self.grid.addWidget(button, row, 2)
            self.urls[label], self.copy_buttons[label] = edit, button
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.grid.addWidget(self.note, len(self.urls) + 1, 1, 1, 2)
        self.grid.addWidget(self.counts, len(self.urls) + 2, 1, 1, 2)


class SignalsPanel(TablePanel):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "signals", HEADERS, "No signals, intents or skips yet.", parent)
        old = self.model
        self.model = AlignedRowModel(HEADERS, self)
        self.view.setModel(self.model)
        old.deleteLater()
        self.activity = ActivityLog()
        self.health: Health | None = None
        self.health_task: asyncio.Future[Health] | None = None
        self._automation: Any = None
        self._webhooks: Any = None
        self._drawn = -1
        self._since_ms = _now_ms()  # this session's requests only (the journal keeps them all)
        self._last_seq = 0
        self._unpublished_seen = 0
        self._counts_seen: tuple[int, ...] = ()
        self.throttle = Throttle(MIN_INTERVAL_S, self._redraw, self)

        self.listener = ListenerBox(self)
        self.layout().insertWidget(0, self.listener)
        self.listener.check_button.clicked.connect(lambda: self.check())

        bus = ctx.app.bus
        log_ = self.activity
        handlers = (
            (SignalAccepted, log_.on_accepted),
            (SignalRejected, log_.on_rejected),
            (IntentResult, log_.on_intent),
            (Skip, log_.on_skip),
        )
        unsubscribe = [bus.subscribe(t, self._then_draw(h)) for t, h in handlers]
        # Not a bound method: the panel's Python side may be gone when Qt destroys it.
        self._health_holder: list[asyncio.Future[Health] | None] = [None]
        holder = self._health_holder
        self.destroyed.connect(lambda *_: _teardown(unsubscribe, holder))

        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_MS)
        self._poll_timer.timeout.connect(self.poll)
        self._poll_timer.start()
        self._health_timer = QTimer(self)
        self._health_timer.setInterval(int(HEALTH_EVERY_S * 1000))
        self._health_timer.timeout.connect(lambda: self.check())
        self._health_timer.start()
        self._sync()
        self._redraw()

    def _then_draw(self, handler: Any) -> Any:
        def on_event(ev: Any) -> None:
            handler(ev)
            self.throttle.request()

        return on_event

    # ------------------------------------------------------------------ automation, listener
    @property
    def webhooks(self) -> Any:
        return self._webhooks

    def _sync(self) -> bool:
        """Follow the session's automation and its listener (the App builds both during
        start, the listener last); True when either changed."""
        auto = self.ctx.app.automation
        webhooks = auto.webhooks if auto is not None else None
        if auto is self._automation and webhooks is self._webhooks:
            return False
        self._automation, self._webhooks = auto, webhooks
        if webhooks is not None and not self.listener.urls:
            hooks = [("MarketRaker", webhooks.marketraker_url, MARKETRAKER_HOW)]
            hooks += [
                (f"hook {n}", webhooks.hook_url(n), HOOK_HOW.format(name=n))
                for n in webhooks.config.generic_hooks
            ]
            loopback = webhooks.config.host in ("127.0.0.1", "localhost", "::1")
            self.listener.set_urls(hooks, LOOPBACK_NOTE if loopback else "")
            self.check()
        self._show_listener()
        return True

    def refresh(self, versions: Versions) -> None:
        if self._sync():
            self.throttle.request()

    def _show_listener(self) -> None:
        absent = automation_absent_text(self.ctx.app)
        webhooks = self._webhooks
        self.listener.check_button.setEnabled(webhooks is not None and webhooks.running)
        if absent is not None:
            self.listener.set_state(absent, MUTED)
        elif webhooks is None and self.ctx.app.automation.config.webhook is not None:
            self.listener.set_state("the webhook listener is starting…", WARN_COLOR)
        elif webhooks is None:
            self.listener.set_state(NO_LISTENER_TEXT, MUTED)
        elif not webhooks.running:
            self.listener.set_state(f"stopped (was {webhooks.url})", SELL_COLOR)
        elif self.health is None:
            self.listener.set_state(f"● listening at {webhooks.url} — checking…", WARN_COLOR)
        else:
            color = BUY_COLOR if self.health.ok else SELL_COLOR
            self.listener.set_state(f"● listening at {webhooks.url} — {self.health.text}", color)
        self._show_counts()

    def _show_counts(self) -> None:
        webhooks = self._webhooks
        if webhooks is None:
            self.listener.counts.setText("")
            return
        counts = webhooks.counts
        shown = tuple(counts.get(o, 0) for o in WebhookOutcome)
        if shown == self._counts_seen:
            return
        self._counts_seen = shown
        parts = [f"{o.value.replace('_', ' ')} {n}" for o, n in zip(WebhookOutcome, shown, strict=True) if n]
        self.listener.counts.setText("requests: " + (" · ".join(parts) if parts else "none yet"))

    def check(self) -> asyncio.Future[Health] | None:
        """GET /healthz now (one at a time); the result shows in the listener line."""
        webhooks = self._webhooks
        if webhooks is None or not webhooks.running:
            self._show_listener()
            return None
        if self.health_task is not None and not self.health_task.done():
            return self.health_task
        task = asyncio.ensure_future(check_health(webhooks.url))
        self.health_task = task
        self._health_holder[0] = task
        task.add_done_callback(self._health_done)
        return task

    def _health_done(self, task: asyncio.Future[Health]) -> None:
        if task.cancelled() or not shiboken6.isValid(self):
            return
        self.health = task.result()
        if not self.health.ok:
            log.warning("webhook listener: %s", self.health.text)
        self._show_listener()

    # ------------------------------------------------------------------ journal
    def poll(self) -> None:
        """Requests that publish no event (duplicates, ignored types, unknown routes), from the
        journal - read only when the listener's counters show one arrived."""
        if self._sync():  # the dock follows the session even where no refresher drives it
            self.throttle.request()
        webhooks = self._webhooks
        if webhooks is None:
            return
        self._show_counts()
        unpublished = sum(webhooks.counts.get(o, 0) for o in _UNPUBLISHED)
        if unpublished == self._unpublished_seen:
            return
        try:
            records = self.ctx.app.journal.webhook_requests(since=self._since_ms)
        except Exception:  # a journal closing at shutdown: keep what is shown
            log.exception("signals dock: reading webhook requests failed")
            return
        self._unpublished_seen = unpublished
        for rec in records:
            if rec.seq <= self._last_seq:
                continue
            self._last_seq = rec.seq
            self._since_ms = max(self._since_ms, rec.received_at)
            if rec.outcome in _UNPUBLISHED:
                self.activity.on_request(rec)
        self.throttle.request()

    # ------------------------------------------------------------------ drawing
    def _fit_columns(self) -> None:
        fit_all_but_last(self.view)

    def _redraw(self) -> None:
        if not shiboken6.isValid(self):
            return
        self._show_listener()
        if self.activity.version == self._drawn:
            return
        self._drawn = self.activity.version
        # Newest first by when it happened: a duplicate read from the journal a moment later
        # still sits where it arrived; an intent follows its signal (same time: by arrival).
        items = sorted(self.activity.items, key=lambda a: (a.at_ms, a.seq), reverse=True)
        self.show_rows([_row(a) for a in items])


def _row(a: Activity) -> Row:
    when = time.strftime("%H:%M:%S", time.localtime(a.at_ms / 1000))
    cells = (when, a.kind.value, a.source, a.signal_id, a.symbol, a.side, a.outcome, a.detail)
    color = _OUTCOME_COLORS.get(a.outcome.split(" ", 1)[0])
    side_color = BUY_COLOR if a.side == "BUY" else SELL_COLOR if a.side == "SELL" else None
    colors = (_MEH, None, None, None, None, side_color, color, None)
    return Row(a.seq, cells, colors, a)


def _teardown(unsubscribe: list[Any], health: list[Any]) -> None:
    for u in unsubscribe:
        u()
    task = health[0]
    if task is not None and not task.done():
        task.cancel()

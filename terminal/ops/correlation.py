"""Correlation ids: one id follows a signal through its intent, orders and fills in the logs.

The id lives in a ``ContextVar``. The webhook handler publishes ``SignalAccepted`` synchronously
from its request task; ``CorrelationTracker`` (subscribed before the strategy host, so it runs
first) sets the signal's id there, and every task spawned from that point (the host's intent
execution, the OMS submit) inherits it, because asyncio tasks copy the context they are created
in. Fills arrive later on a user-stream task with no such context, so the tracker remembers the
id per order (the context at its first ``OrderChanged``, else the ``[signal X]`` the executor
writes into order reasons) and logs each fill under its order's id.

Orders with no signal behind them (manual, candle strategies) use their own client id.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from terminal.bus import EventBus
from terminal.signals.events import SignalAccepted
from terminal.trading.oms import OrderChanged
from terminal.venues.events import FillEvent

__all__ = ["CorrelationTracker", "correlation_id", "current_correlation", "use_correlation"]

log = logging.getLogger("terminal.correlation")

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# IntentExecutor writes "<reason> [signal <id>]" into the orders it places.
_SIGNAL_IN_REASON = re.compile(r"\[signal ([^\]\s]+)\]")
_MAX_ORDERS = 10_000  # remembered order -> id mappings (oldest dropped first)


def current_correlation() -> str | None:
    return correlation_id.get()


@contextlib.contextmanager
def use_correlation(cid: str | None) -> Iterator[None]:
    """Log (and spawn tasks) under ``cid`` within the block."""
    token = correlation_id.set(cid)
    try:
        yield
    finally:
        correlation_id.reset(token)


class CorrelationTracker:
    """Sets the id on accepted signals; remembers it per order; logs fills under it."""

    def __init__(self, bus: EventBus) -> None:
        self._orders: OrderedDict[str, str] = OrderedDict()
        self._fills: OrderedDict[tuple[str, str], None] = OrderedDict()  # logged once per trade
        self._unsub: list[Callable[[], None]] = [
            bus.subscribe(SignalAccepted, self._on_signal),
            bus.subscribe(OrderChanged, self._on_order),
            bus.subscribe(FillEvent, self._on_fill),
        ]

    def for_order(self, client_id: str) -> str | None:
        return self._orders.get(client_id)

    def _on_signal(self, ev: SignalAccepted) -> None:
        # Deliberately not reset: the rest of this request task (and what it spawns) is this signal's.
        correlation_id.set(ev.signal.id)
        log.info("signal %s accepted from %s: %s %s", ev.signal.id, ev.hook, ev.signal.side, ev.signal.symbol)

    def _on_order(self, ev: OrderChanged) -> None:
        order = ev.order
        cid = order.client_id
        if cid in self._orders:
            return
        corr = correlation_id.get()
        if corr is None and order.reason:
            found = _SIGNAL_IN_REASON.search(order.reason)
            corr = found.group(1) if found else None
        self._orders[cid] = corr or cid
        if len(self._orders) > _MAX_ORDERS:
            self._orders.popitem(last=False)
        with use_correlation(self._orders[cid]):
            log.info(
                "order %s %s %s %s %s: %s",
                cid,
                order.venue,
                order.symbol,
                order.side,
                order.qty,
                order.status,
            )

    def _on_fill(self, ev: FillEvent) -> None:
        f = ev.fill
        key = (f.symbol, f.trade_id)
        if key in self._fills:  # the stream and a reconcile may both report it
            return
        self._fills[key] = None
        if len(self._fills) > _MAX_ORDERS:
            self._fills.popitem(last=False)
        with use_correlation(self._orders.get(f.client_id, f.client_id)):
            log.info(
                "fill %s %s %s %s @ %s (trade %s)", f.client_id, f.symbol, f.side, f.qty, f.price, f.trade_id
            )

    def close(self) -> None:
        for unsub in self._unsub:
            with contextlib.suppress(ValueError):
                unsub()
        self._unsub.clear()

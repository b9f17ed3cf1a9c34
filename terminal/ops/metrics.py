"""Prometheus metrics for one ``App``, in a registry of its own.

Why not the global ``prometheus_client.REGISTRY``: it is process-wide, and one process runs
several Apps over its life (the window starts a new session on every mode switch; tests start
dozens). A second App registering the same names there raises "Duplicated timeseries", and the
first App's collector would keep reporting a stopped session. A per-App ``CollectorRegistry``
lives and dies with its App.

Most figures are read at scrape time from counters the parts keep anyway (stream message and
reconnect counts, book resyncs, webhook outcomes, the OMS's open orders, trading state, armed
strategies): nothing is added to the per-message hot path. Only the order-ack latency and the
order status transitions are observed as they happen, from ``OrderChanged`` events (a few per
order, never per market message).
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from terminal.bus import EventBus
from terminal.model import OrderStatus, TradingState
from terminal.ops.feeds import feed_statuses
from terminal.storage.journal import WebhookOutcome
from terminal.trading.oms import OrderChanged

__all__ = ["ACK_BUCKETS", "AppCollector", "OrderObserver", "build_registry"]

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_MAX_PENDING = 10_000  # submitted orders awaiting their ack (outcome-unknown ones linger)


class OrderObserver:
    """Order ack latency (submit -> first venue answer) and status transitions, from the bus.

    The OMS publishes an order as PENDING_NEW right before sending it; the first later state
    (NEW, FILLED, ..., or a venue's REJECTED) is the venue's answer, whichever channel (REST
    answer or user stream) brings it first. Orders refused locally (filters, risk) are never
    PENDING_NEW, so they do not count as latency."""

    def __init__(
        self, bus: EventBus, registry: CollectorRegistry, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._clock = clock
        self._sent: OrderedDict[str, float] = OrderedDict()
        self._seen: OrderedDict[tuple[str, OrderStatus], None] = OrderedDict()
        self.latency = Histogram(
            "terminal_order_ack_seconds",
            "Order submit to the venue's first answer (ack or reject), seconds",
            ["venue", "outcome"],
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        self.transitions = Counter(
            "terminal_orders",
            "Orders reaching each status (each order counted once per status) since start",
            ["venue", "status"],
            registry=registry,
        )
        self._unsub = bus.subscribe(OrderChanged, self._on_order)

    def _on_order(self, ev: OrderChanged) -> None:
        order = ev.order
        cid, status = order.client_id, order.status
        key = (cid, status)
        if key not in self._seen:
            self._seen[key] = None
            if len(self._seen) > 4 * _MAX_PENDING:
                self._seen.popitem(last=False)
            self.transitions.labels(str(order.venue), status.value).inc()
        if status is OrderStatus.PENDING_NEW:
            if cid not in self._sent:
                self._sent[cid] = self._clock()
                if len(self._sent) > _MAX_PENDING:
                    self._sent.popitem(last=False)
            return
        started = self._sent.pop(cid, None)
        if started is not None:
            outcome = "rejected" if status is OrderStatus.REJECTED else "accepted"
            self.latency.labels(str(order.venue), outcome).observe(max(0.0, self._clock() - started))

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._unsub()


class AppCollector(Collector):
    """Reads the App's own counters at scrape time. ``app`` is duck-typed (``terminal.app.App``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        app = self.app
        yield from self._feeds(app)
        yield from self._books(app)
        yield from self._orders(app)
        yield from self._webhooks(app)
        yield from self._automation(app)
        bus = app.bus
        yield CounterMetricFamily("terminal_bus_events", "Events published on the bus", value=bus.published)
        yield CounterMetricFamily(
            "terminal_bus_handler_errors", "Bus handlers that raised", value=bus.handler_errors
        )

    def _feeds(self, app: Any) -> Iterator[Metric]:
        statuses = feed_statuses(app.adapters.values(), app.engine.feed_statuses())
        ids = sorted(statuses)
        messages = CounterMetricFamily(
            "terminal_feed_messages",
            "Data messages received per stream (level=connection sums its streams; rate() gives messages/s)",
            labels=["venue", "stream", "level"],
        )
        reconnects = CounterMetricFamily(
            "terminal_feed_reconnects", "Reconnects per stream", labels=["venue", "stream"]
        )
        state = GaugeMetricFamily(
            "terminal_feed_state", "1 for the stream's current state", labels=["venue", "stream", "state"]
        )
        for sid in ids:
            st = statuses[sid]
            venue = str(st.venue)
            level = "connection" if any(o.startswith(sid + ":") for o in ids) else "stream"
            messages.add_metric([venue, sid, level], st.messages)
            reconnects.add_metric([venue, sid], st.reconnects)
            state.add_metric([venue, sid, st.state.value], 1)
        yield from (messages, reconnects, state)

    def _books(self, app: Any) -> Iterator[Metric]:
        resyncs = CounterMetricFamily(
            "terminal_book_resyncs",
            "Order book (re)syncs from a snapshot, the first one included",
            labels=["venue", "symbol"],
        )
        updates = CounterMetricFamily(
            "terminal_book_updates", "Order book updates applied", labels=["venue", "symbol"]
        )
        for (venue, symbol), entry in list(app.engine.market.books.items()):
            resyncs.add_metric([str(venue), symbol], entry.resyncs)
            updates.add_metric([str(venue), symbol], entry.updates)
        yield from (resyncs, updates)

    def _orders(self, app: Any) -> Iterator[Metric]:
        oms = app.oms
        open_orders = GaugeMetricFamily(
            "terminal_open_orders", "Orders not yet final, by status", labels=["venue", "status"]
        )
        trading = GaugeMetricFamily(
            "terminal_trading_state", "1 for the current trading state", labels=["state"]
        )
        unknown = GaugeMetricFamily("terminal_orders_outcome_unknown", "Orders whose outcome is unknown")
        if oms is not None:
            counts: dict[tuple[str, str], int] = {}
            for order in list(oms.orders.values()):
                key = (str(order.venue), order.status.value)
                counts[key] = counts.get(key, 0) + 1
            for (venue, status), n in sorted(counts.items()):
                open_orders.add_metric([venue, status], n)
            current = oms.risk.state
            for s in TradingState:
                trading.add_metric([s.value], 1 if s is current else 0)
            unknown.add_metric([], len(oms.outcome_unknown))
        yield from (open_orders, trading, unknown)

    def _webhooks(self, app: Any) -> Iterator[Metric]:
        auto = app.automation
        server = auto.webhooks if auto is not None else None
        requests = CounterMetricFamily(
            "terminal_webhook_requests", "Webhook requests by outcome", labels=["outcome"]
        )
        errors = CounterMetricFamily(
            "terminal_webhook_journal_errors", "Webhook requests/signals the journal refused"
        )
        if server is not None:
            for outcome in WebhookOutcome:
                requests.add_metric([outcome.value], server.counts.get(outcome, 0))
            errors.add_metric([], server.journal_errors)
        yield from (requests, errors)

    def _automation(self, app: Any) -> Iterator[Metric]:
        auto = app.automation
        armed = GaugeMetricFamily(
            "terminal_strategy_state",
            "1 per strategy instance, labelled with its state (warming/armed/error)",
            labels=["strategy", "venue", "symbol", "state"],
        )
        intents = CounterMetricFamily(
            "terminal_strategy_intents",
            "Intents a strategy instance produced",
            labels=["strategy", "venue", "symbol"],
        )
        if auto is not None:
            for a in list(auto.host.armed.values()):
                k = a.key
                armed.add_metric([k.strategy, str(k.venue), k.symbol, str(a.state)], 1)
                intents.add_metric([k.strategy, str(k.venue), k.symbol], a.intents)
        yield from (armed, intents)


def build_registry(app: Any) -> tuple[CollectorRegistry, OrderObserver]:
    """A registry of ``app``'s metrics: the scrape-time collector and the order observer."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AppCollector(app))
    return registry, OrderObserver(app.bus, registry)

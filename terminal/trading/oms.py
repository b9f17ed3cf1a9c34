"""The order manager: every order goes through here, and the journal always knows about it
before the venue does.

``submit`` rounds the intent to the instrument (price to tick, quantity down to step), checks
the venue filters locally and the risk limits, journals the intent, then sends it. Money rules:

* a request whose outcome is unknown (timeout, dropped connection, 5xx) is never resent
  blindly: the order is looked up by its client id first; only if the venue does not know
  it is it sent again, with the same client id (so a late original and the resend cannot
  both live: the venue refuses a duplicate open client id). After ``max_attempts`` the order
  stays PENDING_NEW, flagged "outcome unknown", for ``reconcile`` to settle;
* a "duplicate client id" refusal (Bybit 110072/170141, Binance -2010/-4116) means an earlier
  attempt did reach the venue: the order is looked up, and if the venue will not show it yet
  it stays PENDING_NEW/unknown - never REJECTED;
* a venue whose create answers with ids only (Bybit) returns PENDING_NEW when its state query
  fails; the user stream (or reconcile) moves it on;
* rate limits are waited out (Retry-After) and the same id retried, unless the wait exceeds
  ``max_rate_limit_wait_s`` (a ban): then the order is REJECTED (throttled = not executed);
* a refusal is journalled REJECTED with the venue's code and message and raised.

Order state is driven by ``OrderReport``s from any channel (REST answer, user stream,
reconcile poll) in any order and any number of times, through ``Order.apply``; fills are
journalled once per trade id. Orders the OMS did not place (web UI, another program) are
adopted into the journal, origin ``external``, when they are first seen; the kill switch's
flatten orders carry ``kill_switch:<actor>``.

``reconcile(venue)`` runs at start (after a crash) and whenever a venue's user stream comes
back LIVE after an outage: afterwards journal and venue agree on every order and fill.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from terminal.bus import EventBus
from terminal.model import (
    FeedState,
    Fill,
    FilterName,
    FilterViolation,
    IllegalTransition,
    Instrument,
    InstrumentKind,
    MarginMode,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionSide,
    RoundingMode,
    Side,
    TimeInForce,
    TradingState,
    Venue,
)
from terminal.storage.journal import (
    EXTERNAL_ORIGIN,
    AuditEntry,
    Journal,
    kill_switch_origin,
    validate_origin,
)
from terminal.trading.ids import ClientIdGenerator
from terminal.trading.risk import RiskManager, Verdict
from terminal.venues.base import VenueAdapter
from terminal.venues.errors import (
    FilterRejected,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)
from terminal.venues.events import (
    BalancesEvent,
    FeedEvent,
    FillEvent,
    OrderReport,
    PositionsEvent,
    ReportSource,
    StreamKind,
)

__all__ = [
    "ADOPTED_ORIGIN",
    "AmendFailed",
    "KillSwitchReport",
    "OrderChanged",
    "OrderIntent",
    "OrderManager",
    "PriceRounding",
    "RiskRejected",
]

log = logging.getLogger(__name__)
ZERO = Decimal(0)

# An order first seen on the venue (placed in its web UI, by another program) is journalled
# with the "external" origin.
ADOPTED_ORIGIN = EXTERNAL_ORIGIN
ADOPTED_REASON = "adopted: order placed outside this terminal"

# Reconcile's verdict on a PENDING_NEW order the venue has never heard of, after the grace.
NEVER_PLACED_REASON = "not found on the venue: never placed"
# Slack beyond the venue's recvWindow for a late request (network + venue clock skew).
_LATE_REQUEST_MARGIN_MS = 2000

# Refusals that mean "this client id already exists": after an unknown outcome that is our
# own earlier attempt, so the order exists and must be looked up, never marked REJECTED.
# Bybit: 110072 (linear), 170141 (spot "Duplicate clientOrderId"); Binance futures -4116
# "ClientOrderId is duplicated.". Binance spot -2010 "Duplicate order sent." shares its code
# with other refusals, hence the message test (170141 too, to be safe).
_DUPLICATE_ID_CODES = frozenset({110072, -4116})
_DUPLICATE_ID_MESSAGE_CODES = frozenset({170141, -2010})


def _is_duplicate_id(exc: VenueError) -> bool:
    if exc.code in _DUPLICATE_ID_CODES:
        return True
    text = exc.venue_message.lower()
    return "duplicate" in text and (exc.code is None or exc.code in _DUPLICATE_ID_MESSAGE_CODES)


class PriceRounding(StrEnum):
    NEAREST = "nearest"  # to the nearest tick
    PASSIVE = "passive"  # away from the market: buys down, sells up (never more aggressive)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a user, strategy or webhook wants; the OMS turns it into an ``Order``."""

    venue: Venue
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    post_only: bool = False
    position_side: PositionSide = PositionSide.BOTH
    origin: str = "manual"
    reason: str | None = None
    allow_duplicate: bool = False  # bypass the duplicate-order guard on purpose
    rounding: PriceRounding = PriceRounding.NEAREST


class RiskRejected(Exception):
    """The risk manager refused the order; it was journalled REJECTED and never sent."""

    def __init__(self, order: Order, verdict: Verdict) -> None:
        super().__init__(f"{order.client_id} rejected by risk: {verdict.reason}")
        self.order = order
        self.verdict = verdict


class AmendFailed(Exception):
    """An amend could not replace the order; the message says what happened to the original
    (still live, filled, or canceled without a replacement)."""

    def __init__(self, client_id: str, message: str, order: Order | None = None) -> None:
        super().__init__(f"amend of {client_id}: {message}")
        self.client_id = client_id
        self.order = order  # the original as last known


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """Published on the bus whenever the OMS's view of an order changes."""

    order: Order
    outcome_unknown: bool = False


@dataclass(frozen=True, slots=True)
class KillSwitchReport:
    canceled: tuple[str, ...]
    cancel_failures: tuple[str, ...]
    flatten_orders: tuple[Order, ...]
    flatten_failures: tuple[str, ...]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class OrderManager:
    def __init__(
        self,
        journal: Journal,
        adapters: Mapping[Venue, VenueAdapter],
        risk: RiskManager,
        bus: EventBus | None = None,
        *,
        ids: ClientIdGenerator | None = None,
        max_attempts: int = 4,
        retry_backoff_s: float = 0.2,
        max_rate_limit_waits: int = 5,
        max_rate_limit_wait_s: float = 10.0,
        unknown_grace_ms: int = 3000,
        clock_ms: Callable[[], int] = _now_ms,
        open_orders_sweep_s: float = 60.0,
        open_orders_per_symbol_max: int = 4,
    ) -> None:
        self.journal = journal
        self.adapters = dict(adapters)
        self.risk = risk
        self.bus = bus
        self.ids = ids or ClientIdGenerator()
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.max_rate_limit_waits = max_rate_limit_waits
        self.max_rate_limit_wait_s = max_rate_limit_wait_s
        self.unknown_grace_ms = unknown_grace_ms
        self._clock_ms = clock_ms
        # Non-terminal orders; terminal ones are read back from the journal when needed.
        self.orders: dict[str, Order] = {o.client_id: o for o in journal.open_orders()}
        self.outcome_unknown: set[str] = set()
        # Signed net position per (venue, symbol): venue-reported for derivatives, the net of
        # journalled fills (base asset, after base-asset fees) for spot.
        self.positions: dict[tuple[Venue, str], Decimal] = {}
        self._spot_from_fills()
        self._feed_state: dict[tuple[Venue, str], FeedState] = {}
        self._reconcile_locks: dict[Venue, asyncio.Lock] = {}
        # reconcile: the run waiting for the lock (requests join it), last all-symbols sweep
        self._reconcile_queued: dict[Venue, asyncio.Task[None]] = {}
        self._last_sweep_ms: dict[Venue, int] = {}
        self._owed_sweep: dict[Venue, asyncio.Task[None]] = {}
        self.open_orders_sweep_s = open_orders_sweep_s
        self.open_orders_per_symbol_max = open_orders_per_symbol_max
        self._tasks: set[asyncio.Task[object]] = set()
        # Orders inside _send (maybe waiting out a rate limit before their first request):
        # reconcile must not judge them "never placed" meanwhile.
        self._in_flight: set[str] = set()
        self._last_sent_ms: dict[str, int] = {}  # client id -> time of its latest request
        self._unsubscribe: list[Callable[[], None]] = []
        if bus is not None:
            for kind in (OrderReport, FillEvent, FeedEvent, PositionsEvent):
                self._unsubscribe.append(bus.subscribe(kind, self.on_event))

    def close(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        for task in self._tasks:
            task.cancel()

    # ------------------------------------------------------------------ queries

    def order(self, client_id: str) -> Order | None:
        return self.orders.get(client_id) or self.journal.order(client_id)

    def open_orders(self, venue: Venue | None = None, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if not o.is_terminal
            and (venue is None or o.venue is venue)
            and (symbol is None or o.symbol == symbol)
        ]

    def position(self, venue: Venue, symbol: str) -> Decimal:
        return self.positions.get((venue, symbol), ZERO)

    # ------------------------------------------------------------------ submit

    def build_order(self, intent: OrderIntent) -> Order:
        """The order ``intent`` becomes: a fresh client id, price on tick, qty down to step."""
        inst = self.adapters[intent.venue].instrument(intent.symbol)
        price = _round_price(inst, intent.price, intent.side, intent.rounding)
        stop = _round_price(inst, intent.stop_price, intent.side, PriceRounding.NEAREST)
        qty = inst.round_qty(intent.qty)
        now = self._clock_ms()
        return Order(
            client_id=self.ids.next(),
            venue=intent.venue,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            # A quantity below one step is kept unrounded so the local check names LOT_SIZE.
            qty=qty if qty > 0 else intent.qty,
            price=price,
            stop_price=stop,
            tif=intent.tif,
            reduce_only=intent.reduce_only,
            post_only=intent.post_only,
            position_side=intent.position_side,
            created_at=now,
            updated_at=now,
        )

    async def submit(
        self, intent: OrderIntent, *, bypass_halt: bool = False, audit: AuditEntry | None = None
    ) -> Order:
        """Validate, risk-check, journal, send. Returns the order as last known (it may still be
        PENDING_NEW with ``client_id in outcome_unknown``). Raises ``FilterRejected``,
        ``RiskRejected`` or ``OrderRejected``; each is journalled as a REJECTED order first."""
        validate_origin(intent.origin)
        adapter = self.adapters[intent.venue]
        order = self.build_order(intent)
        try:
            if inst_qty_zero(adapter.instrument(intent.symbol), intent.qty):
                raise FilterRejected(
                    intent.venue,
                    intent.symbol,
                    [FilterViolation(FilterName.LOT_SIZE, f"LOT_SIZE: quantity {intent.qty} rounds to 0")],
                )
            adapter.check_order(order)
        except FilterRejected as exc:
            self._journal_rejected(order, intent, f"local filter: {exc.venue_message}")
            raise
        verdict = self.risk.check(
            order,
            open_orders=list(self.orders.values()),
            position_qty=self.position(order.venue, order.symbol),
            price=adapter.reference_price(order.symbol),
            allow_duplicate=intent.allow_duplicate,
            bypass_halt=bypass_halt,
            origin=intent.origin,
        )
        if not verdict.allowed:
            self._journal_rejected(order, intent, f"risk: {verdict.reason}")
            raise RiskRejected(order, verdict)
        self.journal.record_order_intent(order, intent.origin, intent.reason, audit=audit)
        self.orders[order.client_id] = order
        self.risk.record_submission(order)
        self._publish(order)
        return await self._send(adapter, order)

    def _journal_rejected(self, order: Order, intent: OrderIntent, why: str) -> None:
        rejected = dataclasses.replace(order, status=OrderStatus.REJECTED, reason=why)
        self.journal.record_order_intent(rejected, intent.origin, intent.reason)
        self._publish(rejected)

    async def _send(self, adapter: VenueAdapter, order: Order) -> Order:
        self._in_flight.add(order.client_id)
        try:
            return await self._send_attempts(adapter, order)
        finally:
            self._in_flight.discard(order.client_id)

    async def _send_attempts(self, adapter: VenueAdapter, order: Order) -> Order:
        cid = order.client_id
        attempts = 0
        waits = 0
        uncertain = False  # an earlier attempt may have reached the venue
        while True:
            attempts += 1
            try:
                self._last_sent_ms[cid] = self._clock_ms()
                report = await adapter.place_order(order)
            except RateLimited as exc:
                waits += 1
                attempts -= 1  # a throttled request was certainly not executed
                wait_s = exc.retry_after_s
                if waits > self.max_rate_limit_waits or wait_s > self.max_rate_limit_wait_s:
                    # An order is not held for minutes (an IP ban, Bybit's 403 = 10 min): the
                    # market it was meant for will have moved. Throttled attempts never
                    # executed, so without an earlier unknown outcome it is plainly REJECTED.
                    why = f"rate limited (retry after {wait_s:.0f}s, {waits} waits): {exc.venue_message}"
                    if uncertain:
                        return self._give_up(cid, why)
                    self._reject(cid, why)
                    raise
                await asyncio.sleep(wait_s)
                continue
            except FilterRejected as exc:
                self._reject(cid, f"filter: {exc.venue_message}")
                raise
            except OrderRejected as exc:
                duplicate = _is_duplicate_id(exc)
                if uncertain or duplicate:
                    # Probably our own earlier attempt, now a duplicate id: look before judging.
                    found = await self._lookup(adapter, order)
                    if found is None and duplicate:
                        await asyncio.sleep(self.retry_backoff_s * attempts)
                        found = await self._lookup(adapter, order)
                    if found is not None:
                        return found
                    if duplicate:
                        # The venue has an order with this id but will not show it now: it
                        # exists, so it is not REJECTED; reconcile settles it.
                        return self._give_up(cid, f"duplicate id, order not visible yet: {_reason(exc)}")
                self._reject(cid, _reason(exc))
                raise
            except OutcomeUnknown as exc:
                uncertain = True
                log.warning("order %s: outcome unknown (%s); querying the venue", cid, exc.venue_message)
                seen = self._seen_on_venue(cid)
                if seen is not None:
                    return seen
                found = await self._lookup(adapter, order)
                if found is None:
                    # A slow venue may still be working on it: look once more before resending
                    # (a resend racing a late market order could execute twice).
                    await asyncio.sleep(self.retry_backoff_s * attempts)
                    found = await self._lookup(adapter, order)
                if found is None:
                    found = self._seen_on_venue(cid)  # the user stream may have told us meanwhile
                if found is not None:
                    return found
                if attempts >= self.max_attempts:
                    return self._give_up(
                        cid, f"outcome unknown after {attempts} attempts: {exc.venue_message}"
                    )
                continue
            self.outcome_unknown.discard(cid)
            return self.on_report(report)

    async def _lookup(self, adapter: VenueAdapter, order: Order) -> Order | None:
        """The venue's view of ``order`` applied, or None if it does not know it (or we cannot
        find out now)."""
        try:
            report = await adapter.fetch_order(order.symbol, order.client_id)
        except VenueError as exc:  # unreachable, throttled, 5xx after read retries, ...
            log.warning("order %s: query failed (%s)", order.client_id, exc.venue_message)
            return None
        if report is None:
            return None
        self.outcome_unknown.discard(order.client_id)
        return self.on_report(dataclasses.replace(report, source=ReportSource.RECONCILE))

    def _seen_on_venue(self, cid: str) -> Order | None:
        """The order if a venue report (user stream) already moved it past PENDING_NEW."""
        current = self.order(cid)
        if current is None or current.status is OrderStatus.PENDING_NEW:
            return None
        self.outcome_unknown.discard(cid)
        return current

    def _give_up(self, cid: str, why: str) -> Order:
        seen = self._seen_on_venue(cid)
        if seen is not None:
            return seen
        self.outcome_unknown.add(cid)
        self.journal.audit("oms", "outcome_unknown", {"client_id": cid, "reason": why})
        order = self.orders[cid]
        self._publish(order, outcome_unknown=True)
        return order

    def _reject(self, cid: str, why: str) -> None:
        self.outcome_unknown.discard(cid)
        update = OrderUpdate(cid, OrderStatus.REJECTED, self._clock_ms(), reason=why)
        self._apply(cid, update)

    # ------------------------------------------------------------------ cancel

    async def cancel(self, client_id: str) -> Order:
        order = self.order(client_id)
        if order is None:
            raise KeyError(f"unknown order {client_id}")
        if order.is_terminal:
            return order
        adapter = self.adapters[order.venue]
        now = self._clock_ms()
        if order.status is not OrderStatus.PENDING_CANCEL:
            self._apply(client_id, OrderUpdate(client_id, OrderStatus.PENDING_CANCEL, now))
        try:
            report = await adapter.cancel_order(order.symbol, client_id)
        except (OrderNotFound, OrderRejected) as exc:
            # Already filled/canceled, or never placed: restore, then ask what it really is.
            current = self.orders.get(client_id) or order
            restored = current.cancel_rejected(self._clock_ms(), _reason(exc))
            update = OrderUpdate(client_id, restored.status, self._clock_ms(), reason=restored.reason)
            self._store(client_id, update, restored)
            await self._settle(adapter, restored)
            return self.order(client_id) or restored
        except (OutcomeUnknown, RateLimited) as exc:
            log.warning("cancel %s: outcome unknown (%s); querying", client_id, exc.venue_message)
            found = await self._lookup(adapter, order)
            return found or self.order(client_id) or order
        return self.on_report(report)

    async def cancel_all(self, venue: Venue | None = None, symbol: str | None = None) -> list[Order]:
        targets = self.open_orders(venue, symbol)
        results = await asyncio.gather(*(self.cancel(o.client_id) for o in targets), return_exceptions=True)
        out: list[Order] = []
        for target, res in zip(targets, results, strict=True):
            if isinstance(res, BaseException):
                log.error("cancel %s failed: %s", target.client_id, res)
                out.append(self.order(target.client_id) or target)
            else:
                out.append(res)
        return out

    async def _settle(self, adapter: VenueAdapter, order: Order) -> None:
        """Look an order up and apply what the venue says; a venue that has never heard of an
        order older than the grace period settles it as REJECTED (PENDING_NEW) or CANCELED."""
        try:
            report = await adapter.fetch_order(order.symbol, order.client_id)
        except VenueError as exc:
            log.warning("reconcile %s: query failed (%s)", order.client_id, exc.venue_message)
            return
        if report is not None:
            self.outcome_unknown.discard(order.client_id)
            self.on_report(dataclasses.replace(report, source=ReportSource.RECONCILE))
            return
        if order.client_id in self._in_flight:
            return  # still being sent (or waiting out a rate limit): not "never placed"
        # A request still on its way may be executed until the venue's recvWindow has passed
        # since it was signed; only after that does "not found" mean "never placed".
        sent = max(order.created_at, self._last_sent_ms.get(order.client_id, 0))
        recv_window_ms = getattr(getattr(adapter, "config", None), "recv_window_ms", 0) or 0
        grace = max(self.unknown_grace_ms, recv_window_ms + _LATE_REQUEST_MARGIN_MS)
        if self._clock_ms() - sent < grace:
            return  # look again next time
        current = self.order(order.client_id) or order
        if current.is_terminal:
            return
        if current.status is OrderStatus.PENDING_NEW:
            status, why = OrderStatus.REJECTED, NEVER_PLACED_REASON
        else:
            status, why = OrderStatus.CANCELED, "not found on the venue at reconcile"
        self.outcome_unknown.discard(order.client_id)
        self.journal.audit(
            "oms", "reconcile_settle", {"client_id": order.client_id, "status": status, "reason": why}
        )
        update = OrderUpdate(order.client_id, status, self._clock_ms(), reason=why)
        forced = dataclasses.replace(current, status=status, reason=why, status_before_cancel=None)
        self._store(order.client_id, update, forced)

    # ------------------------------------------------------------------ amend, leverage

    async def amend(
        self,
        client_id: str,
        *,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        qty: Decimal | None = None,
    ) -> Order:
        """Cancel-replace: cancel ``client_id`` and, only once the venue confirms the cancel and
        no fill came in meanwhile, submit the replacement (new client id, same origin, reason
        "amend of <old id>", through every check ``submit`` makes). ``qty`` is the new order's
        quantity (default: what remained). Returns the replacement; raises ``AmendFailed`` when
        nothing was placed (filled, cancel unconfirmed, fills during the cancel), or the
        replacement's ``FilterRejected``/``RiskRejected``/``OrderRejected``."""
        order = self.order(client_id)
        if order is None:
            raise KeyError(f"unknown order {client_id}")
        if order.is_terminal:
            raise AmendFailed(client_id, f"the order is already {order.status}", order)
        record = self.journal.order_record(client_id)
        intent = OrderIntent(
            venue=order.venue,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            qty=qty if qty is not None else order.remaining_qty,
            price=price if price is not None else order.price,
            stop_price=stop_price if stop_price is not None else order.stop_price,
            tif=order.tif,
            reduce_only=order.reduce_only,
            post_only=order.post_only,
            position_side=order.position_side,
            origin=record.origin if record is not None else "manual",
            reason=f"amend of {client_id}",
            allow_duplicate=True,  # the original is gone by then; same terms are intended
        )
        detail = {
            "client_id": client_id,
            "price": intent.price,
            "stop_price": intent.stop_price,
            "qty": intent.qty,
        }
        # Refuse a replacement that breaks the filters while the original still works.
        adapter = self.adapters[order.venue]
        try:
            if inst_qty_zero(adapter.instrument(order.symbol), intent.qty):
                raise FilterRejected(
                    order.venue,
                    order.symbol,
                    [FilterViolation(FilterName.LOT_SIZE, f"LOT_SIZE: quantity {intent.qty} rounds to 0")],
                )
            adapter.check_order(self.build_order(intent))
        except FilterRejected as exc:
            self.journal.audit(intent.origin, "amend_refused", {**detail, "reason": exc.venue_message})
            raise
        self.journal.audit(intent.origin, "amend_request", detail)
        filled_before = order.filled_qty
        canceled = await self.cancel(client_id)
        if canceled.status is not OrderStatus.CANCELED:
            why = (
                "the order was filled before the cancel; nothing placed"
                if canceled.status is OrderStatus.FILLED
                else f"cancel not confirmed (order is {canceled.status}); nothing placed"
            )
            self.journal.audit(intent.origin, "amend_failed", {**detail, "reason": why})
            raise AmendFailed(client_id, why, canceled)
        if canceled.filled_qty > filled_before:
            why = (
                f"filled {canceled.filled_qty - filled_before} more while cancelling; "
                "canceled, no replacement placed"
            )
            self.journal.audit(intent.origin, "amend_failed", {**detail, "reason": why})
            raise AmendFailed(client_id, why, canceled)
        try:
            replacement = await self.submit(intent)
        except Exception as exc:
            self.journal.audit(
                intent.origin, "amend_failed", {**detail, "reason": f"replacement refused: {exc}"}
            )
            raise
        self.journal.audit(intent.origin, "amend", {**detail, "new_client_id": replacement.client_id})
        return replacement

    async def set_leverage(
        self,
        venue: Venue,
        symbol: str,
        leverage: Decimal,
        *,
        margin_mode: MarginMode | None = None,
        actor: str = "manual",
    ) -> None:
        """Set ``symbol``'s leverage (and margin mode, where the adapter can) on ``venue``;
        audited whether it worked or not."""
        adapter = self.adapters[venue]
        detail: dict[str, object] = {
            "venue": venue,
            "symbol": symbol,
            "leverage": leverage,
            "margin_mode": margin_mode,
        }
        try:
            if not adapter.capabilities.leverage:
                raise ValueError(f"{venue} has no leverage")
            if leverage <= 0:
                raise ValueError(f"leverage must be positive, got {leverage}")
            if margin_mode is not None:
                # Not every adapter exposes margin mode; Capabilities has no flag for it.
                set_mode = getattr(adapter, "set_margin_mode", None)
                if set_mode is None:
                    raise ValueError(f"{venue}: margin mode cannot be set from this terminal")
                await set_mode(symbol, margin_mode)
            await adapter.set_leverage(symbol, leverage)
        except Exception as exc:
            self.journal.audit(actor, "set_leverage_failed", {**detail, "reason": str(exc)})
            raise
        self.journal.audit(actor, "set_leverage", detail)

    # ------------------------------------------------------------------ events

    def on_event(self, event: object) -> None:
        """The ``EventSink``/bus handler: order reports, fills, feed health, positions."""
        if isinstance(event, OrderReport):
            self.on_report(event)
        elif isinstance(event, FillEvent):
            self.on_fill(event.fill)
        elif isinstance(event, FeedEvent):
            self._on_feed(event)
        elif isinstance(event, PositionsEvent):
            self._on_positions(event)

    def on_report(self, report: OrderReport) -> Order:
        incoming = report.order
        cid = incoming.client_id
        current = self.order(cid)
        if current is None:
            return self._adopt(incoming)
        if (
            current.status is OrderStatus.REJECTED
            and current.reason == NEVER_PLACED_REASON
            and incoming.status is not OrderStatus.REJECTED
        ):
            return self._reverse_never_placed(current, report)
        return self._apply(cid, report.update())

    def _reverse_never_placed(self, current: Order, report: OrderReport) -> Order:
        """The venue shows an order that reconcile had settled as "never placed" (a request that
        arrived late): the venue is the truth, so the journal takes its state."""
        incoming = report.order
        cid = current.client_id
        log.error("order %s settled as never placed, but the venue reports it %s", cid, incoming.status)
        self.journal.audit("oms", "reconcile_reversed", {"client_id": cid, "venue_status": incoming.status})
        forced = dataclasses.replace(
            current,
            status=incoming.status,
            filled_qty=incoming.filled_qty,
            avg_price=incoming.avg_price,
            venue_order_id=incoming.venue_order_id or current.venue_order_id,
            reason=None,
        )
        return self._store(cid, report.update(), forced)

    def _adopt(self, order: Order) -> Order:
        self.journal.record_order_intent(order, ADOPTED_ORIGIN, ADOPTED_REASON)
        self.journal.audit(
            "oms",
            "adopt_order",
            {
                "client_id": order.client_id,
                "venue": order.venue,
                "symbol": order.symbol,
                "status": order.status,
            },
        )
        if not order.is_terminal:
            self.orders[order.client_id] = order
        self._publish(order)
        return order

    def _apply(self, cid: str, update: OrderUpdate) -> Order:
        current = self.order(cid)
        assert current is not None
        try:
            new = current.apply(update)
        except IllegalTransition as exc:
            # Journal it as illegal (for the post-mortem) and keep the known state.
            log.error("order %s: %s", cid, exc)
            try:
                self.journal.record_order_event(cid, update)
            except IllegalTransition:
                pass
            return current
        if new == current:
            return current  # a duplicate: nothing new to record
        return self._store(cid, update, new)

    def _store(self, cid: str, update: OrderUpdate, new: Order) -> Order:
        self.journal.record_order_event(cid, update, result=new)
        if new.is_terminal:
            self.orders.pop(cid, None)
            self.risk.order_ended(new)
            self.outcome_unknown.discard(cid)
            self._last_sent_ms.pop(cid, None)
        else:
            self.orders[cid] = new
        self._publish(new)
        return new

    def on_fill(self, fill: Fill) -> bool:
        """Journal a fill once per trade id; True if it was new."""
        if not self.journal.record_fill(fill):
            return False
        adapter = self.adapters.get(fill.venue)
        inst = adapter.instruments.get(fill.symbol) if adapter is not None else None
        if inst is not None and inst.kind is InstrumentKind.SPOT:
            key = (fill.venue, fill.symbol)
            self.positions[key] = self.positions.get(key, ZERO) + _spot_delta(fill, inst.base)
        return True

    def _on_feed(self, event: FeedEvent) -> None:
        if event.kind is not StreamKind.USER:
            return
        status = event.status
        key = (status.venue, status.stream_id)
        previous = self._feed_state.get(key)
        self._feed_state[key] = status.state
        if status.state is FeedState.LIVE and previous is not None and previous is not FeedState.LIVE:
            # Back after an outage: events may have been missed while it was down.
            self._spawn(self.reconcile(status.venue))

    def _on_positions(self, event: PositionsEvent) -> None:
        if event.snapshot:
            for key in [k for k in self.positions if k[0] is event.venue]:
                if self._is_derivative(event.venue, key[1]):
                    del self.positions[key]
        sums: dict[str, Decimal] = {}
        for p in event.positions:
            signed = -p.qty if p.side is PositionSide.SHORT else p.qty
            sums[p.symbol] = sums.get(p.symbol, ZERO) + signed
        for symbol, qty in sums.items():
            self.positions[(event.venue, symbol)] = qty

    def _is_derivative(self, venue: Venue, symbol: str) -> bool:
        adapter = self.adapters.get(venue)
        inst = adapter.instruments.get(symbol) if adapter is not None else None
        return inst is None or inst.kind is not InstrumentKind.SPOT

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _publish(self, order: Order, *, outcome_unknown: bool = False) -> None:
        if self.bus is not None:
            self.bus.publish(OrderChanged(order, outcome_unknown or order.client_id in self.outcome_unknown))

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, venue: Venue) -> None:
        """Make the journal agree with the venue: every journal-open order queried, venue-open
        orders we do not know adopted, missing fills recorded, positions/balances refreshed.

        Requests coalesce: while a run waits for the venue's lock, further requests join it
        instead of queueing their own (it has not read anything yet, so it sees whatever
        prompted them); a request made while a run is *in progress* queues one more run, as
        that run may already have read past the events behind the request."""
        queued = self._reconcile_queued.get(venue)
        if queued is None or queued.done():
            queued = self._reconcile_queued[venue] = self._tracked(self._reconcile_when_free(venue))
        await asyncio.shield(queued)

    def _tracked(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        """A task that ``close()`` cancels; its error (if no one awaits it) is logged once."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]
        task.add_done_callback(_log_task_error)
        return task

    async def _reconcile_when_free(self, venue: Venue) -> None:
        lock = self._reconcile_locks.setdefault(venue, asyncio.Lock())
        async with lock:
            if self._reconcile_queued.get(venue) is asyncio.current_task():
                del self._reconcile_queued[venue]  # running now: later requests queue anew
            await self._reconcile(venue)

    async def _reconcile(self, venue: Venue) -> None:
        adapter = self.adapters[venue]
        journal_open = [o for o in self.journal.open_orders() if o.venue is venue]
        for o in journal_open:
            self.orders.setdefault(o.client_id, o)
        for o in journal_open:
            await self._settle(adapter, o)
        fill_windows = self._fill_windows(venue, journal_open)
        known = set(fill_windows) | {o.symbol for o in self.open_orders(venue)}
        adopted = 0
        for report in await self._venue_open_orders(venue, adapter, known):
            if self.order(report.order.client_id) is None:
                adopted += 1
            self.on_report(dataclasses.replace(report, source=ReportSource.RECONCILE))
        new_fills = 0
        for symbol, since in fill_windows.items():
            for fill in await adapter.fetch_fills(symbol, since_ms=since):
                new_fills += self.on_fill(fill)
        if adapter.capabilities.positions:
            positions = await adapter.fetch_positions()
            event = PositionsEvent(venue, tuple(positions), snapshot=True, ts=self._clock_ms())
            self._on_positions(event)
            if self.bus is not None:
                self.bus.publish(event)
        balances = await adapter.fetch_balances()
        if self.bus is not None:
            self.bus.publish(BalancesEvent(venue, tuple(balances), snapshot=True, ts=self._clock_ms()))
        self.journal.audit(
            "oms",
            "reconcile",
            {"venue": venue, "journal_open": len(journal_open), "adopted": adopted, "new_fills": new_fills},
        )

    async def _venue_open_orders(
        self, venue: Venue, adapter: VenueAdapter, known: set[str]
    ) -> list[OrderReport]:
        """The venue's open orders: per symbol we know, with an all-symbols sweep at most every
        ``open_orders_sweep_s``.

        Why: reconcile runs after every user-stream outage, and the all-symbols read is the
        dearest request it makes (Binance USD-M openOrders + openAlgoOrders 40 + 40 weight of a
        2400/min budget, spot 80 of 6000; per symbol 1 + 1, spot 6), so back-to-back drops
        spent the budget on it and a book resync then waited for the next minute. The orders
        this terminal placed or knows are queried by client id (``_settle``) and their symbols
        per symbol here, so nothing of ours is missed. What only the sweep finds is an order
        placed elsewhere (web UI, another program) on another symbol *during* the outage (the
        live user stream reports those too): it is adopted by the first sweep - at start (the
        first reconcile per venue), on the next reconcile after the interval, or by the sweep a
        skipped one schedules - so within ``open_orders_sweep_s``, not never. More known symbols
        than ``open_orders_per_symbol_max``: one sweep is cheaper than that many reads."""
        now = self._clock_ms()
        last = self._last_sweep_ms.get(venue)
        interval_ms = int(self.open_orders_sweep_s * 1000)
        if last is None or now - last >= interval_ms or len(known) > self.open_orders_per_symbol_max:
            return await self._sweep_open_orders(venue, adapter)
        reports: list[OrderReport] = []
        for symbol in sorted(known):
            reports += await adapter.fetch_open_orders(symbol)
        owed = self._owed_sweep.get(venue)
        if owed is None or owed.done():
            delay_s = (last + interval_ms - now) / 1000
            self._owed_sweep[venue] = self._tracked(self._owed_sweep_after(venue, delay_s))
        return reports

    async def _sweep_open_orders(self, venue: Venue, adapter: VenueAdapter) -> list[OrderReport]:
        started = self._clock_ms()  # what appears after this is the next sweep's (or the stream's)
        reports = await adapter.fetch_open_orders()
        self._last_sweep_ms[venue] = started
        owed = self._owed_sweep.pop(venue, None)
        if owed is not None and owed is not asyncio.current_task():
            owed.cancel()
        return reports

    async def _owed_sweep_after(self, venue: Venue, delay_s: float) -> None:
        """The all-symbols read a per-symbol reconcile skipped, once the interval is up."""
        await asyncio.sleep(max(0.0, delay_s))
        lock = self._reconcile_locks.setdefault(venue, asyncio.Lock())
        try:
            async with lock:
                if self._clock_ms() - self._last_sweep_ms.get(venue, 0) < self.open_orders_sweep_s * 1000:
                    return  # a reconcile swept meanwhile
                adapter = self.adapters[venue]
                for report in await self._sweep_open_orders(venue, adapter):
                    self.on_report(dataclasses.replace(report, source=ReportSource.RECONCILE))
        except VenueError as exc:
            # not lost: the next reconcile finds the sweep overdue and does it
            log.warning("open-order sweep of %s failed: %s", venue, exc.venue_message)
        finally:
            if self._owed_sweep.get(venue) is asyncio.current_task():
                del self._owed_sweep[venue]

    _FILL_SLACK_MS = 60_000  # venue and local clocks differ; re-reading known fills is harmless

    def _fill_windows(self, venue: Venue, journal_open: Iterable[Order]) -> dict[str, int]:
        """Per symbol, from when to fetch fills: the oldest order that was open or the last
        journalled fill, whichever is older; a symbol with orders but no fill yet, from its
        oldest order. Re-reading known fills is harmless (deduped by trade id)."""
        since: dict[str, int] = {}
        for o in journal_open:
            since[o.symbol] = min(since.get(o.symbol, o.created_at), o.created_at)
        last_fill: dict[str, int] = {}
        for f in self.journal.fills():
            if f.venue is venue:
                last_fill[f.symbol] = max(last_fill.get(f.symbol, f.ts), f.ts)
        for symbol, oldest in self.journal.order_symbols(venue).items():
            start = last_fill.get(symbol, oldest)
            since[symbol] = min(since.get(symbol, start), start)
        return {s: max(0, t - self._FILL_SLACK_MS) for s, t in since.items()}

    def _spot_from_fills(self) -> None:
        for fill in self.journal.fills():
            base = _base_of(fill.symbol)
            if base is None:
                continue
            key = (fill.venue, fill.symbol)
            if fill.venue in (Venue.BINANCE_SPOT, Venue.BYBIT_SPOT):
                self.positions[key] = self.positions.get(key, ZERO) + _spot_delta(fill, base)

    # ------------------------------------------------------------------ kill switch

    async def kill_switch(self, *, actor: str = "manual", reason: str = "kill switch") -> KillSwitchReport:
        """HALT trading, cancel every open order (ours and adopted ones) on every venue and
        flatten every position with reduce-only market orders (spot: sell back what this
        terminal bought, as far as the free balance allows)."""
        try:
            origin = kill_switch_origin(actor)
        except ValueError:  # an odd actor name must never stop the kill switch
            origin = kill_switch_origin("manual")
        self.risk.set_state(TradingState.HALTED, actor=actor, reason=reason)
        self.journal.audit(actor, "kill_switch", {"reason": reason, "venues": list(self.adapters)})
        for venue, adapter in self.adapters.items():
            try:
                for report in await adapter.fetch_open_orders():
                    self.on_report(dataclasses.replace(report, source=ReportSource.RECONCILE))
            except VenueError as exc:
                log.error("kill switch: open orders of %s unavailable: %s", venue, exc)
        canceled = await self.cancel_all()
        failures = tuple(o.client_id for o in canceled if not o.is_terminal)
        flattened: list[Order] = []
        flatten_failures: list[str] = []
        for venue, adapter in self.adapters.items():
            for symbol, qty in (await self._flatten_targets(venue, adapter)).items():
                intent = OrderIntent(
                    venue=venue,
                    symbol=symbol,
                    side=Side.SELL if qty > 0 else Side.BUY,
                    type=OrderType.MARKET,
                    qty=abs(qty),
                    reduce_only=adapter.capabilities.reduce_only,
                    origin=origin,
                    reason=f"kill switch by {actor}: flatten {symbol} ({reason})",
                    allow_duplicate=True,
                )
                try:
                    flattened.append(await self.submit(intent, bypass_halt=True))
                except (OrderRejected, RiskRejected, VenueError) as exc:
                    flatten_failures.append(f"{venue} {symbol}: {exc}")
                    log.error("kill switch: flatten %s %s failed: %s", venue, symbol, exc)
        report = KillSwitchReport(
            canceled=tuple(o.client_id for o in canceled if o.is_terminal),
            cancel_failures=failures,
            flatten_orders=tuple(flattened),
            flatten_failures=tuple(flatten_failures),
        )
        self.journal.audit(
            actor,
            "kill_switch_done",
            {
                "canceled": list(report.canceled),
                "cancel_failures": list(report.cancel_failures),
                "flatten_orders": [o.client_id for o in flattened],
                "flatten_failures": flatten_failures,
            },
        )
        return report

    async def _flatten_targets(self, venue: Venue, adapter: VenueAdapter) -> dict[str, Decimal]:
        targets: dict[str, Decimal] = {}
        if adapter.capabilities.positions:
            positions = await adapter.fetch_positions()
            self._on_positions(PositionsEvent(venue, tuple(positions), snapshot=True, ts=self._clock_ms()))
            for (v, symbol), qty in self.positions.items():
                if v is venue and qty != 0 and self._is_derivative(venue, symbol):
                    targets[symbol] = qty
            return targets
        free = {b.asset: b.free for b in await adapter.fetch_balances()}
        for (v, symbol), qty in self.positions.items():
            inst = adapter.instruments.get(symbol)
            if v is not venue or inst is None or qty <= 0:
                continue  # spot: only long holdings can be sold back
            sellable = inst.round_qty(min(qty, free.get(inst.base, ZERO)))
            if sellable > 0:
                targets[symbol] = sellable
        return targets


def _log_task_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("%s failed: %r", task.get_name(), exc)


def inst_qty_zero(inst: Instrument, qty: Decimal) -> bool:
    return inst.round_qty(qty) <= 0


def _round_price(
    inst: Instrument, price: Decimal | None, side: Side, rounding: PriceRounding
) -> Decimal | None:
    if price is None:
        return None
    if rounding is PriceRounding.PASSIVE:
        return inst.round_price(price, RoundingMode.DOWN if side is Side.BUY else RoundingMode.UP)
    return inst.round_price(price, RoundingMode.NEAREST)


def _reason(exc: VenueError) -> str:
    return f"{exc.code}: {exc.venue_message}" if exc.code is not None else exc.venue_message


def _spot_delta(fill: Fill, base: str) -> Decimal:
    fee = fill.fee if fill.fee_asset == base else ZERO
    return fill.qty - fee if fill.side is Side.BUY else -fill.qty - fee


_QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB")


def _base_of(symbol: str) -> str | None:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return None

"""Exits the venue cannot hold, watched here from the live feed, and where each exit goes.

``ExitWatcher`` keeps local exits of four kinds:

* TIME: close at a time (MarketRaker's ``sell_prediction_date``, a strategy's time exit);
* TRAILING: follow the best price since arming by a fraction, close when the price comes back
  that far;
* STOP / TARGET: a stop-loss / take-profit level the venue could not hold.

Prices come from the bus events the venue adapters publish (and the engine stores): public
trades and tickers (``PriceSource.LAST``) or mark prices (``MARK``). A triggered exit closes
with a MARKET order through the OMS (reduce-only where the venue has it; risk-checked and
journalled like any order), for what is left of the exit's quantity and never more than the
position, with the origin of the strategy that armed it.

Never two closing orders for one exit: one driver per exit, one attempt at a time, and every
attempt is journalled before it is sent - the audit record ``exit_trigger`` (exit id, attempt)
first, then the OMS journals the order (reason ``"exit <id> <attempt>"``) before it sends it,
and the OMS itself resends an order of unknown outcome only under its original client id.
After a restart ``restore()`` rebuilds the exits from the audit log (``exit_arm``,
``exit_trail``, ``exit_trigger``, ``exit_done``) and finds each attempt's order by its reason:
an attempt whose order is in the journal is followed, never resent; one that is not was never
sent. An attempt that ends unfilled (refused, canceled) is retried up to ``max_attempts``.

Exits placed together for one position form a group (``exit_group``): when any member closes
the position (a venue-held stop or target FILLED, a local exit's order filled) the others go -
venue orders canceled, local exits finished. Before a local exit sends its market order the
group's venue orders are canceled: on spot they lock the holding the market order must sell.

``place_exits`` decides per venue capability what the venue holds and what is watched here.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from terminal.bus import EventBus
from terminal.model import Order, OrderStatus, OrderType, Side, Venue
from terminal.storage.journal import validate_origin
from terminal.trading.brackets import BracketManager, ExitSpec
from terminal.trading.oms import OrderChanged, OrderIntent, OrderManager, RiskRejected
from terminal.venues.errors import VenueError
from terminal.venues.events import MarkPriceEvent, PublicTradeEvent, TickerEvent

__all__ = [
    "ExitKind",
    "ExitPhase",
    "ExitPlan",
    "ExitWatcher",
    "LocalExit",
    "LocalExitSpec",
    "PlacedExits",
    "PriceSource",
    "place_exits",
]

log = logging.getLogger(__name__)
ZERO = Decimal(0)
ONE = Decimal(1)

AUDIT_ARM = "exit_arm"
AUDIT_TRAIL = "exit_trail"
AUDIT_TRIGGER = "exit_trigger"
AUDIT_ORDER = "exit_order"
AUDIT_DONE = "exit_done"
AUDIT_ERROR = "exit_error"
AUDIT_GROUP = "exit_group"
REASON_PREFIX = "exit "  # closing orders' reason: "exit <id> <attempt>"
_KEEP_DONE = 10_000


class ExitKind(StrEnum):
    TIME = "time"
    TRAILING = "trailing"
    STOP = "stop"
    TARGET = "target"


class ExitPhase(StrEnum):
    ARMED = "armed"
    CLOSING = "closing"  # triggered: a closing order is being sent or is working
    DONE = "done"


class PriceSource(StrEnum):
    LAST = "last"  # public trades and tickers
    MARK = "mark"  # mark price (derivatives)


@dataclass(frozen=True, slots=True)
class LocalExitSpec:
    """One exit of a position. ``side`` is the closing side (SELL closes a long)."""

    venue: Venue
    symbol: str
    side: Side
    qty: Decimal
    kind: ExitKind
    origin: str = "manual"
    at_ms: int | None = None  # TIME: when
    trail: Decimal | None = None  # TRAILING: fraction (0.02 = 2 %)
    level: Decimal | None = None  # STOP / TARGET: trigger price
    reference: Decimal | None = None  # TRAILING: the best price so far (else the first seen)
    price_source: PriceSource = PriceSource.LAST
    group: str | None = None  # exits and venue orders protecting the same position
    reason: str = ""

    def __post_init__(self) -> None:
        validate_origin(self.origin)
        if self.qty <= 0:
            raise ValueError(f"exit quantity must be positive, got {self.qty}")
        if self.kind is ExitKind.TIME and self.at_ms is None:
            raise ValueError("a time exit needs at_ms")
        if self.kind is ExitKind.TRAILING and (self.trail is None or not ZERO < self.trail < ONE):
            raise ValueError(f"a trailing exit needs a fraction 0 < trail < 1, got {self.trail}")
        if self.kind in (ExitKind.STOP, ExitKind.TARGET) and (self.level is None or self.level <= 0):
            raise ValueError(f"a {self.kind} exit needs a positive level, got {self.level}")
        if self.reference is not None and self.reference <= 0:
            raise ValueError(f"a trailing reference must be positive, got {self.reference}")


@dataclass(slots=True)
class LocalExit:
    id: str
    spec: LocalExitSpec
    created_at: int
    phase: ExitPhase = ExitPhase.ARMED
    best: Decimal | None = None  # TRAILING: best price seen
    persisted_best: Decimal | None = None
    attempts: int = 0
    client_id: str | None = None  # the current attempt's order
    closed_qty: Decimal = ZERO  # filled by finished attempts
    trigger_price: Decimal | None = None
    done_reason: str | None = None

    @property
    def stop_price(self) -> Decimal | None:
        """The price that triggers it now (None for a time exit, or a trailing one with no price yet)."""
        s = self.spec
        if s.kind is ExitKind.TRAILING:
            if self.best is None or s.trail is None:
                return None
            return self.best * (ONE - s.trail) if s.side is Side.SELL else self.best * (ONE + s.trail)
        return s.level

    @property
    def remaining(self) -> Decimal:
        return max(self.spec.qty - self.closed_qty, ZERO)


@dataclass(slots=True)
class _Group:
    id: str
    venue: Venue
    symbol: str
    orders: list[str] = field(default_factory=list)  # venue-held exits (client ids)
    bracket: str | None = None  # an emulated OCO pair (BracketManager id)
    closed: bool = False


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id(prefix: str) -> str:
    return f"{prefix}-{_now_ms():x}{secrets.token_hex(3)}"


class ExitWatcher:
    def __init__(
        self,
        oms: OrderManager,
        bus: EventBus,
        *,
        brackets: BracketManager | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        max_attempts: int = 3,
        retry_delay_s: float = 0.5,
    ) -> None:
        self.oms = oms
        self.bus = bus
        self.brackets = brackets
        self._clock_ms = clock_ms
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.exits: dict[str, LocalExit] = {}
        self.groups: dict[str, _Group] = {}
        self._by_market: dict[tuple[Venue, str], set[str]] = {}  # armed price exits
        self._by_cid: dict[str, str] = {}  # closing order client id -> exit id
        self._group_of_order: dict[str, str] = {}
        self._locks: dict[tuple[Venue, str], asyncio.Lock] = {}
        self._dirty: set[str] = set()
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer_wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._unsubscribe = [
            bus.subscribe(PublicTradeEvent, self._on_trade),
            bus.subscribe(TickerEvent, self._on_ticker),
            bus.subscribe(MarkPriceEvent, self._on_mark),
            bus.subscribe(OrderChanged, self._on_order_changed),
        ]

    def close(self) -> None:
        """Stop watching; idempotent. Armed exits stay in the journal for the next start."""
        unsubscribe, self._unsubscribe = self._unsubscribe, []
        for unsub in unsubscribe:
            unsub()
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def settle(self) -> None:
        """Wait until no exit has work in flight (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ queries

    def active(self) -> list[LocalExit]:
        return [e for e in self.exits.values() if e.phase is not ExitPhase.DONE]

    def get(self, exit_id: str) -> LocalExit | None:
        return self.exits.get(exit_id)

    # ------------------------------------------------------------------ arming

    def arm(self, spec: LocalExitSpec) -> LocalExit:
        """Start watching ``spec``; journalled first (``exit_arm``), so it survives a restart."""
        adapter = self.oms.adapters.get(spec.venue)
        if adapter is None:
            raise ValueError(f"no {spec.venue} adapter: cannot watch an exit there")
        adapter.instrument(spec.symbol)  # UnknownSymbol for a bad symbol
        now = self._clock_ms()
        e = LocalExit(_new_id("x"), spec, now, best=spec.reference, persisted_best=spec.reference)
        self.oms.journal.audit(spec.origin, AUDIT_ARM, {"exit": e.id, **_spec_detail(spec)}, ts=now)
        self._register(e)
        return e

    def link(
        self,
        group: str,
        venue: Venue,
        symbol: str,
        *,
        orders: Sequence[str] = (),
        bracket: str | None = None,
        origin: str = "manual",
    ) -> None:
        """Venue-held exits (orders, an OCO bracket) protecting the same position as the local
        exits armed with ``spec.group == group``; journalled (``exit_group``)."""
        g = self.groups.setdefault(group, _Group(group, venue, symbol))
        g.orders.extend(o for o in orders if o not in g.orders)
        g.bracket = bracket or g.bracket
        detail = {"group": group, "venue": venue, "symbol": symbol, "orders": g.orders, "bracket": g.bracket}
        self.oms.journal.audit(origin, AUDIT_GROUP, detail)
        for cid in g.orders:
            self._group_of_order[cid] = group
        self._close_if_filled(g)

    def _close_if_filled(self, g: _Group) -> None:
        """A venue-held member filled while nobody watched (just now, or before a restart)."""
        for cid in g.orders:
            order = self.oms.order(cid)
            if order is not None and order.status is OrderStatus.FILLED:
                self._spawn(self._close_group(g.id, f"venue order {cid} filled"))
                return

    def cancel(self, exit_id: str, reason: str = "canceled") -> bool:
        """Stop an armed exit; False if it is unknown or already closing/done."""
        e = self.exits.get(exit_id)
        if e is None or e.phase is not ExitPhase.ARMED:
            return False
        self._finish(e, reason)
        return True

    def _register(self, e: LocalExit) -> None:
        self.exits[e.id] = e
        if e.phase is ExitPhase.ARMED and e.spec.kind is not ExitKind.TIME:
            self._by_market.setdefault((e.spec.venue, e.spec.symbol), set()).add(e.id)
        if e.spec.group is not None:
            self.groups.setdefault(e.spec.group, _Group(e.spec.group, e.spec.venue, e.spec.symbol))
        if e.spec.kind is ExitKind.TIME and e.phase is ExitPhase.ARMED:
            self._ensure_timer()
            self._timer_wake.set()
        if e.phase is ExitPhase.CLOSING:
            self._kick(e)

    # ------------------------------------------------------------------ prices

    def _on_trade(self, event: PublicTradeEvent) -> None:
        t = event.trade
        self._on_price(t.venue, t.symbol, t.price, PriceSource.LAST)

    def _on_ticker(self, event: TickerEvent) -> None:
        t = event.ticker
        self._on_price(t.venue, t.symbol, t.last, PriceSource.LAST)

    def _on_mark(self, event: MarkPriceEvent) -> None:
        m = event.mark
        self._on_price(m.venue, m.symbol, m.mark_price, PriceSource.MARK)

    def _on_price(self, venue: Venue, symbol: str, price: Decimal, source: PriceSource) -> None:
        ids = self._by_market.get((venue, symbol))
        if not ids:
            return
        for exit_id in list(ids):
            e = self.exits[exit_id]
            if e.phase is not ExitPhase.ARMED or e.spec.price_source is not source:
                continue
            if e.spec.kind is ExitKind.TRAILING:
                self._follow(e, price)
            if self._crossed(e, price):
                self._trigger(e, price, f"{e.spec.kind} at {price} (trigger {e.stop_price})")

    def _follow(self, e: LocalExit, price: Decimal) -> None:
        better = e.best is None or (price > e.best if e.spec.side is Side.SELL else price < e.best)
        if not better:
            return
        e.best = price
        trail = e.spec.trail or ZERO
        # Journal the best price when it has moved a tenth of the trail since last time: a
        # restart then resumes close to where it was, without a record per tick.
        if e.persisted_best is None or abs(price - e.persisted_best) >= e.persisted_best * trail / 10:
            e.persisted_best = price
            self.oms.journal.audit(e.spec.origin, AUDIT_TRAIL, {"exit": e.id, "best": str(price)})

    @staticmethod
    def _crossed(e: LocalExit, price: Decimal) -> bool:
        stop = e.stop_price
        if stop is None:
            return False
        closing_long = e.spec.side is Side.SELL
        if e.spec.kind is ExitKind.TARGET:
            return price >= stop if closing_long else price <= stop
        return price <= stop if closing_long else price >= stop

    # ------------------------------------------------------------------ time

    def _ensure_timer(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.ensure_future(self._time_loop())

    async def _time_loop(self) -> None:
        # Wall time is read on every wake (at least once a second), so a stepped clock or a
        # suspended machine fires a due exit at the next wake instead of at a stale deadline.
        while True:
            due = [
                e for e in self.exits.values() if e.phase is ExitPhase.ARMED and e.spec.kind is ExitKind.TIME
            ]
            if not due:
                self._timer = None
                return
            now = self._clock_ms()
            for e in due:
                if e.spec.at_ms is not None and now >= e.spec.at_ms:
                    try:
                        self._trigger(e, None, f"time exit at {e.spec.at_ms}")
                    except Exception:  # the timer must outlive one bad exit (a journal error)
                        log.exception("time exit %s: trigger failed", e.id)
            pending = [e.spec.at_ms for e in due if e.phase is ExitPhase.ARMED and e.spec.at_ms is not None]
            wait_s = 1.0 if not pending else min(1.0, max(0.0, (min(pending) - now) / 1000))
            self._timer_wake.clear()
            try:
                await asyncio.wait_for(self._timer_wake.wait(), timeout=max(wait_s, 0.005))
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ closing

    def _trigger(self, e: LocalExit, price: Decimal | None, why: str) -> None:
        e.phase = ExitPhase.CLOSING
        e.trigger_price = price
        self._unwatch(e)
        self._record_attempt(e, why)
        self._kick(e)

    def _record_attempt(self, e: LocalExit, why: str) -> None:
        """Journal the next attempt before its order exists: the idempotency record."""
        e.attempts += 1
        e.client_id = None
        self.oms.journal.audit(
            e.spec.origin,
            AUDIT_TRIGGER,
            {
                "exit": e.id,
                "attempt": e.attempts,
                "price": None if e.trigger_price is None else str(e.trigger_price),
                "why": why,
            },
        )

    def _unwatch(self, e: LocalExit) -> None:
        ids = self._by_market.get((e.spec.venue, e.spec.symbol))
        if ids is not None:
            ids.discard(e.id)

    def _kick(self, e: LocalExit) -> None:
        if e.phase is ExitPhase.DONE:
            return
        self._dirty.add(e.id)
        if e.id not in self._running:
            self._running.add(e.id)
            self._spawn(self._drive(e))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive(self, e: LocalExit) -> None:
        try:
            while e.id in self._dirty and e.phase is ExitPhase.CLOSING:
                self._dirty.discard(e.id)
                try:
                    await self._step(e)
                except Exception as exc:  # keep the exit; the next event retries
                    log.exception("exit %s: step failed", e.id)
                    self.oms.journal.audit(e.spec.origin, AUDIT_ERROR, {"exit": e.id, "error": str(exc)})
        finally:
            self._running.discard(e.id)
            self._dirty.discard(e.id)

    async def _step(self, e: LocalExit) -> None:
        if e.client_id is None:
            async with self._locks.setdefault((e.spec.venue, e.spec.symbol), asyncio.Lock()):
                await self._send(e)
            return
        order = self.oms.order(e.client_id)
        if order is None or not order.is_terminal:
            return  # OrderChanged kicks us when it moves
        e.closed_qty += order.filled_qty
        self._by_cid.pop(order.client_id, None)
        if order.status is OrderStatus.FILLED or e.remaining <= 0:
            self._finish(e, f"closed by {order.client_id} ({order.filled_qty} at {order.avg_price})")
            await self._close_group_of(e, f"exit {e.id} closed the position")
            return
        if e.attempts >= self.max_attempts:
            self._finish(
                e, f"gave up after {e.attempts} attempts: last order {order.status} {order.reason or ''}"
            )
            return
        await asyncio.sleep(self.retry_delay_s)
        self._record_attempt(e, f"retry after {order.client_id} ended {order.status}")
        self._dirty.add(e.id)

    async def _send(self, e: LocalExit) -> None:
        s = e.spec
        if e.phase is not ExitPhase.CLOSING or e.client_id is not None:
            return
        await self._cancel_group_orders(s.group)  # spot: they lock what this order must sell
        filled = self._group_fill(s.group)
        if filled is not None:
            # A venue-held exit closed the position first (its fill may not be on the books yet).
            self._finish(e, f"sibling closed the position: venue order {filled} filled")
            await self._close_group_of(e, f"venue order {filled} filled")
            return
        qty = self._closable(e)
        if qty is None:
            self._finish(e, "position already flat")
            await self._close_group_of(e, f"exit {e.id}: position flat")
            return
        adapter = self.oms.adapters[s.venue]
        intent = OrderIntent(
            venue=s.venue,
            symbol=s.symbol,
            side=s.side,
            type=OrderType.MARKET,
            qty=qty,
            reduce_only=adapter.capabilities.reduce_only,
            origin=s.origin,
            reason=f"{REASON_PREFIX}{e.id} {e.attempts}",
            allow_duplicate=True,  # a retry repeats the terms on purpose
        )
        try:
            order = await self.oms.submit(intent)
        except (RiskRejected, VenueError) as exc:
            self.oms.journal.audit(
                s.origin, AUDIT_ERROR, {"exit": e.id, "attempt": e.attempts, "error": str(exc)}
            )
            if e.attempts >= self.max_attempts:
                self._finish(e, f"closing order refused {e.attempts} times: {exc}")
                return
            await asyncio.sleep(self.retry_delay_s)
            self._record_attempt(e, f"retry after a refusal: {exc}")
            self._dirty.add(e.id)
            return
        self._follow_order(e, order)

    def _follow_order(self, e: LocalExit, order: Order) -> None:
        e.client_id = order.client_id
        self._by_cid[order.client_id] = e.id
        self.oms.journal.audit(
            e.spec.origin, AUDIT_ORDER, {"exit": e.id, "attempt": e.attempts, "client_id": order.client_id}
        )
        self._dirty.add(e.id)  # it may be FILLED already (the REST answer)

    def _closable(self, e: LocalExit) -> Decimal | None:
        """What the closing order may sell (buy): the exit's remainder, at most the position,
        down to the step; None if nothing (or less than the venue minimum) is left."""
        s = e.spec
        position = self.oms.position(s.venue, s.symbol)
        held = position if s.side is Side.SELL else -position
        inst = self.oms.adapters[s.venue].instrument(s.symbol)
        qty = inst.round_qty_down(min(e.remaining, max(held, ZERO)))
        if qty <= 0 or qty < inst.min_qty:
            return None
        return qty

    def _finish(self, e: LocalExit, reason: str) -> None:
        if e.phase is ExitPhase.DONE:
            return
        e.phase = ExitPhase.DONE
        e.done_reason = reason
        self._unwatch(e)
        if e.client_id is not None:
            self._by_cid.pop(e.client_id, None)
        self.oms.journal.audit(e.spec.origin, AUDIT_DONE, {"exit": e.id, "reason": reason})
        log.info("exit %s done: %s", e.id, reason)
        if len(self.exits) > _KEEP_DONE:  # a long session: forget finished exits (the journal keeps them)
            self.exits = {k: x for k, x in self.exits.items() if x.phase is not ExitPhase.DONE}

    # ------------------------------------------------------------------ groups

    def _on_order_changed(self, event: OrderChanged) -> None:
        cid = event.order.client_id
        exit_id = self._by_cid.get(cid)
        if exit_id is not None:
            self._kick(self.exits[exit_id])
            return
        if event.order.status is not OrderStatus.FILLED:
            return
        group = self._group_of_order.get(cid) or self._bracket_group(cid)
        if group is not None:
            self._spawn(self._close_group(group, f"venue order {cid} filled"))

    def _bracket_group(self, cid: str) -> str | None:
        if self.brackets is None:
            return None
        for g in self.groups.values():
            if g.bracket is not None and not g.closed:
                b = self.brackets.brackets.get(g.bracket)
                if b is not None and cid in b.legs.values():
                    return g.id
        return None

    async def _close_group_of(self, e: LocalExit, why: str) -> None:
        if e.spec.group is not None:
            await self._close_group(e.spec.group, why)

    async def _close_group(self, group: str, why: str) -> None:
        """The position is closed: the other exits of its group go."""
        g = self.groups.get(group)
        if g is None or g.closed:
            return
        g.closed = True
        for e in list(self.exits.values()):
            if e.spec.group == group and e.phase is ExitPhase.ARMED:
                self._finish(e, f"sibling closed the position: {why}")
        await self._cancel_group_orders(group)

    def _venue_members(self, group: str | None) -> list[str]:
        """Client ids of the group's venue-held exits, an OCO bracket's current legs included."""
        g = self.groups.get(group) if group is not None else None
        if g is None:
            return []
        targets = list(g.orders)
        if g.bracket is not None and self.brackets is not None:
            b = self.brackets.brackets.get(g.bracket)
            if b is not None:
                targets += [cid for role, cid in b.legs.items() if role != "entry"]
        return targets

    def _group_fill(self, group: str | None) -> str | None:
        for cid in self._venue_members(group):
            order = self.oms.order(cid)
            if order is not None and order.status is OrderStatus.FILLED:
                return cid
        return None

    async def _cancel_group_orders(self, group: str | None) -> None:
        for cid in self._venue_members(group):
            order = self.oms.order(cid)
            if order is None or order.is_terminal:
                continue
            try:
                await self.oms.cancel(cid)
            except (VenueError, KeyError) as exc:
                log.error("exit group %s: cancel %s failed: %s", group, cid, exc)

    # ------------------------------------------------------------------ restart

    def restore(self) -> list[LocalExit]:
        """Rebuild the unfinished exits and groups from the journal and resume them: armed ones
        watch again, closing ones follow their attempt's order (or send it if it never was)."""
        journal = self.oms.journal
        found: dict[str, LocalExit] = {}
        done: set[str] = set()
        for rec in journal.audit_log(
            actions=(AUDIT_ARM, AUDIT_TRAIL, AUDIT_TRIGGER, AUDIT_DONE, AUDIT_GROUP)
        ):
            d = rec.detail
            if rec.action == AUDIT_ARM:
                try:
                    spec = _spec_from(d)
                except (KeyError, ValueError, ArithmeticError) as exc:
                    log.error("exit record %s unreadable: %s", rec.seq, exc)
                    continue
                found[d["exit"]] = LocalExit(
                    d["exit"], spec, rec.ts, best=spec.reference, persisted_best=spec.reference
                )
            elif rec.action == AUDIT_TRAIL and d.get("exit") in found:
                e = found[d["exit"]]
                e.best = e.persisted_best = Decimal(d["best"])
            elif rec.action == AUDIT_TRIGGER and d.get("exit") in found:
                e = found[d["exit"]]
                e.phase = ExitPhase.CLOSING
                e.attempts = int(d["attempt"])
                e.trigger_price = None if d.get("price") is None else Decimal(d["price"])
            elif rec.action == AUDIT_DONE:
                done.add(d.get("exit", ""))
            elif rec.action == AUDIT_GROUP:
                g = self.groups.setdefault(d["group"], _Group(d["group"], Venue(d["venue"]), d["symbol"]))
                g.orders = list(d.get("orders") or [])
                g.bracket = d.get("bracket")
                for cid in g.orders:
                    self._group_of_order[cid] = g.id
        restored: list[LocalExit] = []
        for exit_id, e in found.items():
            if exit_id in done or exit_id in self.exits:
                continue
            if e.phase is ExitPhase.CLOSING:
                self._attempt_orders(e)
            self._register(e)
            restored.append(e)
        # Keep only groups still protecting something: an unfinished exit, or a working order.
        wanted = {e.spec.group for e in restored if e.spec.group is not None}
        live_brackets = {b.id for b in self.brackets.active()} if self.brackets is not None else set()
        for gid, g in list(self.groups.items()):
            working = any((o := self.oms.order(cid)) is not None and not o.is_terminal for cid in g.orders)
            if gid not in wanted and not working and g.bracket not in live_brackets:
                del self.groups[gid]
                for cid in g.orders:
                    self._group_of_order.pop(cid, None)
                continue
            self._close_if_filled(g)
        return restored

    def _attempt_orders(self, e: LocalExit) -> None:
        """Settle earlier attempts from their journalled orders; adopt the current one's."""
        prefix = f"{REASON_PREFIX}{e.id} "
        for order in self.oms.journal.orders(e.spec.venue):
            if order.created_at < e.created_at or order.symbol != e.spec.symbol:
                continue
            rec = self.oms.journal.order_record(order.client_id)
            if rec is None or not rec.reason or not rec.reason.startswith(prefix):
                continue
            attempt = int(rec.reason[len(prefix) :])
            current = self.oms.order(order.client_id) or order
            if attempt == e.attempts:
                e.client_id = current.client_id
                self._by_cid[current.client_id] = e.id
            else:
                e.closed_qty += current.filled_qty


# ---------------------------------------------------------------------- placing


@dataclass(frozen=True, slots=True)
class ExitPlan:
    """The exits of one position. ``side`` is the closing side (SELL closes a long)."""

    venue: Venue
    symbol: str
    side: Side
    qty: Decimal
    stop: Decimal | None = None
    target: Decimal | None = None
    time_exit_ms: int | None = None
    trailing: Decimal | None = None  # fraction
    reference: Decimal | None = None  # trailing: the entry price (the best price so far)
    origin: str = "manual"

    def __post_init__(self) -> None:
        validate_origin(self.origin)
        if self.qty <= 0:
            raise ValueError(f"exit quantity must be positive, got {self.qty}")
        for name in ("stop", "target", "reference"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"exit {name} must be positive, got {value}")
        if self.trailing is not None and not ZERO < self.trailing < ONE:
            raise ValueError(f"trailing must be a fraction 0 < trailing < 1, got {self.trailing}")
        if self.stop is not None and self.target is not None:
            closing_long = self.side is Side.SELL
            if (self.stop >= self.target) if closing_long else (self.stop <= self.target):
                raise ValueError(
                    f"{self.side} exits need the stop ({self.stop}) "
                    f"{'below' if closing_long else 'above'} the target ({self.target})"
                )


@dataclass(frozen=True, slots=True)
class PlacedExits:
    group: str
    venue_orders: tuple[str, ...]  # client ids of exits the venue holds
    bracket: str | None  # an emulated OCO pair (spot)
    local: tuple[str, ...]  # ExitWatcher ids
    notes: tuple[str, ...]  # what the venue could not hold, and why

    @property
    def all_venue_held(self) -> bool:
        return not self.local


@dataclass(slots=True)
class _Placement:
    plan: ExitPlan
    group: str
    venue_orders: list[str] = field(default_factory=list)
    bracket: str | None = None
    local: list[LocalExitSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def local_exit(self, kind: ExitKind, **kw: Any) -> None:
        p = self.plan
        self.local.append(
            LocalExitSpec(p.venue, p.symbol, p.side, p.qty, kind, origin=p.origin, group=self.group, **kw)
        )


async def place_exits(
    plan: ExitPlan,
    oms: OrderManager,
    watcher: ExitWatcher,
    *,
    brackets: BracketManager | None = None,
) -> PlacedExits:
    """Place ``plan``'s exits: on the venue where it can hold them, the rest with ``watcher``.

    * derivatives (reduce-only): the stop as a reduce-only STOP_MARKET, the target as a
      reduce-only TAKE_PROFIT_MARKET; Bybit linear's position trading-stop is used when the
      adapter offers ``set_trading_stop`` (it does not yet: see notes);
    * spot with both a stop and a target: an OCO - emulated by ``brackets.place_oco`` (two linked
      orders) since no spot adapter places a native one; a lone stop as STOP_MARKET, a lone
      target as a LIMIT;
    * trailing and time exits, and a stop or target the venue cannot take: local.
    Everything is one group: whichever closes the position retires the others.
    Raises what ``submit``/``place_oco`` raise for a venue exit; what was placed before (the
    stop goes first: it protects) stays, linked, and nothing local is armed.
    """
    placed = _Placement(plan, _new_id("g"))
    try:
        await _place_on_venue(placed, oms, brackets)
    except Exception:
        if placed.venue_orders:
            watcher.link(
                placed.group, plan.venue, plan.symbol, orders=placed.venue_orders, origin=plan.origin
            )
        raise
    if plan.trailing is not None:
        placed.notes.append("trailing stop watched locally (no venue trailing order in the adapters)")
        placed.local_exit(ExitKind.TRAILING, trail=plan.trailing, reference=plan.reference)
    if plan.time_exit_ms is not None:
        placed.local_exit(ExitKind.TIME, at_ms=plan.time_exit_ms)
    if placed.venue_orders or placed.bracket is not None:
        watcher.link(
            placed.group,
            plan.venue,
            plan.symbol,
            orders=placed.venue_orders,
            bracket=placed.bracket,
            origin=plan.origin,
        )
    local = tuple(watcher.arm(spec).id for spec in placed.local)
    return PlacedExits(placed.group, tuple(placed.venue_orders), placed.bracket, local, tuple(placed.notes))


async def _place_on_venue(placed: _Placement, oms: OrderManager, brackets: BracketManager | None) -> None:
    plan = placed.plan
    adapter = oms.adapters[plan.venue]
    caps = adapter.capabilities
    inst = adapter.instrument(plan.symbol)

    async def submit(
        kind: OrderType, what: str, *, price: Decimal | None = None, trigger: Decimal | None = None
    ) -> None:
        intent = OrderIntent(
            plan.venue,
            plan.symbol,
            plan.side,
            kind,
            plan.qty,
            price=price,
            stop_price=trigger,
            reduce_only=caps.reduce_only,
            origin=plan.origin,
            reason=f"exits {placed.group} {what}",
            allow_duplicate=True,
        )
        placed.venue_orders.append((await oms.submit(intent)).client_id)

    stop, target = plan.stop, plan.target
    if inst.is_derivative:
        if (stop is not None or target is not None) and plan.venue is Venue.BYBIT_LINEAR:
            set_trading_stop = getattr(adapter, "set_trading_stop", None)
            if set_trading_stop is not None:
                await set_trading_stop(plan.symbol, take_profit=target, stop_loss=stop)
                placed.notes.append("bybit position trading-stop set")
                stop = target = None
            else:
                placed.notes.append(
                    "bybit trading-stop is not in the adapter (no set_trading_stop): "
                    "reduce-only conditional orders used instead"
                )
        if stop is not None:
            if OrderType.STOP_MARKET in caps.order_types:
                await submit(OrderType.STOP_MARKET, "stop", trigger=stop)
            else:
                placed.notes.append(f"{plan.venue} takes no STOP_MARKET: stop watched locally")
                placed.local_exit(ExitKind.STOP, level=stop)
        if target is not None:
            if OrderType.TAKE_PROFIT_MARKET in caps.order_types:
                await submit(OrderType.TAKE_PROFIT_MARKET, "target", trigger=target)
            else:
                placed.notes.append(f"{plan.venue} takes no TAKE_PROFIT_MARKET: target watched locally")
                placed.local_exit(ExitKind.TARGET, level=target)
        return
    if stop is not None and target is not None:
        if caps.oco:
            placed.notes.append(f"{plan.venue} supports OCO but the adapter has no OCO placement: emulated")
        if brackets is None:
            placed.notes.append("spot stop and target without a bracket manager: both watched locally")
            placed.local_exit(ExitKind.STOP, level=stop)
            placed.local_exit(ExitKind.TARGET, level=target)
            return
        spec = ExitSpec(plan.venue, plan.symbol, plan.side, plan.qty, take_profit=target, stop_loss=stop,
                        origin=plan.origin)  # fmt: skip
        placed.bracket = (await brackets.place_oco(spec)).id
        placed.notes.append("spot OCO emulated by two linked orders: the holding is locked twice")
    elif stop is not None:
        if OrderType.STOP_MARKET in caps.order_types:
            await submit(OrderType.STOP_MARKET, "stop", trigger=stop)
        else:
            placed.notes.append(f"{plan.venue} takes no STOP_MARKET: stop watched locally")
            placed.local_exit(ExitKind.STOP, level=stop)
    elif target is not None:
        await submit(OrderType.LIMIT, "target", price=target)  # rests in the book: a maker exit


# ---------------------------------------------------------------------- records


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _d(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)


def _spec_detail(s: LocalExitSpec) -> dict[str, Any]:
    return {
        "venue": s.venue,
        "symbol": s.symbol,
        "side": s.side,
        "qty": str(s.qty),
        "kind": s.kind,
        "origin": s.origin,
        "at_ms": s.at_ms,
        "trail": _s(s.trail),
        "level": _s(s.level),
        "reference": _s(s.reference),
        "price_source": s.price_source,
        "group": s.group,
        "reason": s.reason,
    }


def _spec_from(d: Mapping[str, Any]) -> LocalExitSpec:
    return LocalExitSpec(
        venue=Venue(d["venue"]),
        symbol=d["symbol"],
        side=Side(d["side"]),
        qty=Decimal(d["qty"]),
        kind=ExitKind(d["kind"]),
        origin=d.get("origin", "manual"),
        at_ms=d.get("at_ms"),
        trail=_d(d.get("trail")),
        level=_d(d.get("level")),
        reference=_d(d.get("reference")),
        price_source=PriceSource(d.get("price_source", PriceSource.LAST)),
        group=d.get("group"),
        reason=d.get("reason", ""),
    )

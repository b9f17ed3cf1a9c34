"""Brackets (entry + take-profit + stop-loss) and OCO pairs, managed on top of the OMS.

No venue here gets a native bracket/OCO order: the terminal places plain orders through
``OrderManager.submit`` (so every child passes the filters, the risk checks and the journal)
and links them itself:

* bracket: the entry goes first; once it is filled (or ends partly filled) a take-profit
  LIMIT and a stop-loss STOP_MARKET (STOP_LIMIT with ``stop_limit``) for the filled quantity
  are placed on the other side, reduce-only where the venue supports it (futures);
* OCO: the two exits at once, no entry;
* exits: when one leg is FILLED the other is cancelled; a partial fill of one leg resizes the
  other (``OrderManager.amend``) to the exposure still open; a leg that ends unfilled (a user's
  cancel, the kill switch) leaves the other alone; both ended = the bracket is done. A leg
  amended elsewhere (orders table, chart) is followed to its replacement ("amend of <id>");
* spot: the exits sell what the entry received (filled quantity minus fees paid in the base
  asset). Both exits are live orders, so on spot each locks that quantity: the account must
  hold it twice (a native OCO would lock it once; the adapters do not place one).

State survives a restart through the journal, with no schema of its own: the audit log holds
``bracket_open`` (the full spec), ``bracket_leg`` (role -> client id), ``bracket_done``; the
OMS's own ``amend`` audit records follow a leg through its replacements; and every leg's order
reason is ``"<kind> <id> <role>"`` so a leg placed just before a crash (its ``bracket_leg``
record never written) is still found. ``restore()`` rebuilds the open ones and re-evaluates
them against the orders' current state.

The manager is driven by ``OrderChanged`` events but decides from the orders' *current* state
(``oms.order``), never from the event alone: events can repeat or race the manager's own
requests, and restart recovery is the same code path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from terminal.bus import EventBus
from terminal.model import Order, OrderStatus, OrderType, Side, TimeInForce, TradingState, Venue
from terminal.storage.journal import AuditEntry
from terminal.trading.oms import AmendFailed, OrderChanged, OrderIntent, OrderManager
from terminal.venues.events import FillEvent

__all__ = [
    "Bracket",
    "BracketKind",
    "BracketManager",
    "BracketPhase",
    "EntrySpec",
    "ExitSpec",
]

log = logging.getLogger(__name__)
ZERO = Decimal(0)

AUDIT_OPEN = "bracket_open"
AUDIT_LEG = "bracket_leg"
AUDIT_DONE = "bracket_done"
AUDIT_ERROR = "bracket_error"
AMEND_PREFIX = "amend of "  # OrderManager.amend's reason for a replacement


class BracketKind(StrEnum):
    BRACKET = "bracket"
    OCO = "oco"


class BracketPhase(StrEnum):
    ENTRY = "entry"  # waiting for the entry to fill
    EXITS = "exits"  # take-profit and stop-loss working
    DONE = "done"


class Role(StrEnum):
    ENTRY = "entry"
    TP = "tp"
    SL = "sl"


@dataclass(frozen=True, slots=True)
class EntrySpec:
    type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False


@dataclass(frozen=True, slots=True)
class ExitSpec:
    """The exits' terms; ``side`` is the exits' side (SELL closes a long)."""

    venue: Venue
    symbol: str
    side: Side
    qty: Decimal
    take_profit: Decimal  # LIMIT price
    stop_loss: Decimal  # trigger price
    stop_limit: Decimal | None = None  # STOP_LIMIT price; None = STOP_MARKET
    origin: str = "manual"


@dataclass(slots=True)
class Bracket:
    id: str
    kind: BracketKind
    exits: ExitSpec
    entry: EntrySpec | None
    opened_at: int
    phase: BracketPhase = BracketPhase.ENTRY
    legs: dict[Role, str] = field(default_factory=dict)  # role -> current client id
    retired_fill: Decimal = ZERO  # exits filled on legs since replaced by an amend
    exit_qty: Decimal = ZERO  # the exposure the exits were placed for
    done_reason: str | None = None

    @property
    def entry_id(self) -> str | None:
        return self.legs.get(Role.ENTRY)

    @property
    def tp_id(self) -> str | None:
        return self.legs.get(Role.TP)

    @property
    def sl_id(self) -> str | None:
        return self.legs.get(Role.SL)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BracketManager:
    def __init__(self, oms: OrderManager, bus: EventBus, *, clock_ms: Callable[[], int] = _now_ms) -> None:
        self.oms = oms
        self.bus = bus
        self._clock_ms = clock_ms
        self.brackets: dict[str, Bracket] = {}
        self._by_cid: dict[str, str] = {}  # leg client id -> bracket id
        self._dirty: set[str] = set()
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._not_ours: set[str] = set()  # order ids known not to replace a leg
        # Fills too: a spot entry's exits wait for its fee (in the base asset) to be journalled.
        # The OMS subscribed first, so the journal has a fill before this manager hears of it.
        self._unsubscribe = [
            bus.subscribe(OrderChanged, self._on_order_changed),
            bus.subscribe(FillEvent, self._on_fill),
        ]

    def close(self) -> None:
        """Stop listening; idempotent."""
        unsubscribe, self._unsubscribe = self._unsubscribe, []
        for unsub in unsubscribe:
            unsub()
        for task in self._tasks:
            task.cancel()

    # ------------------------------------------------------------------ queries

    def active(self) -> list[Bracket]:
        return [b for b in self.brackets.values() if b.phase is not BracketPhase.DONE]

    def bracket_of(self, client_id: str) -> Bracket | None:
        """The unfinished bracket ``client_id`` is a leg of."""
        bid = self._by_cid.get(client_id)
        return None if bid is None else self.brackets.get(bid)

    # ------------------------------------------------------------------ placing

    async def place_bracket(self, entry_side: Side, exits: ExitSpec, entry: EntrySpec) -> Bracket:
        """Submit the entry (``entry_side``; ``exits.side`` must be its opposite); the exits
        follow its fill. Raises what ``submit`` raises for the entry (then nothing is working)."""
        if exits.side is not entry_side.opposite:
            raise ValueError(f"bracket exits must be {entry_side.opposite} for a {entry_side} entry")
        if entry.type not in (OrderType.MARKET, OrderType.LIMIT):
            raise ValueError(f"a bracket entry is MARKET or LIMIT, not {entry.type}")
        _check_prices(exits)
        # The bracket's record rides in the entry order's journal transaction: one fsync before
        # the entry goes out, and never an entry without its bracket (or the other way round).
        b = self._open(BracketKind.BRACKET, exits, entry, journal=False)
        intent = OrderIntent(
            venue=exits.venue,
            symbol=exits.symbol,
            side=entry_side,
            type=entry.type,
            qty=exits.qty,
            price=entry.price,
            stop_price=entry.stop_price,
            tif=entry.tif,
            post_only=entry.post_only,
            origin=exits.origin,
            reason=f"{b.kind} {b.id} {Role.ENTRY}",
        )
        try:
            order = await self.oms.submit(intent, audit=self._open_record(b))
        except Exception as exc:
            self._finish(b, f"entry refused: {exc}")
            raise
        self._link(b, Role.ENTRY, order.client_id)
        self._kick(b)
        return b

    async def place_oco(self, exits: ExitSpec) -> Bracket:
        """Both exits now (closing an existing position/holding); one filled cancels the other.
        Raises if the first leg is refused; a refused second leg cancels the first."""
        _check_prices(exits)
        b = self._open(BracketKind.OCO, exits, None)
        b.phase = BracketPhase.EXITS
        b.exit_qty = exits.qty
        try:
            await self._place_leg(b, Role.TP, exits.qty)
        except Exception as exc:
            self._finish(b, f"take-profit refused: {exc}")
            raise
        try:
            await self._place_leg(b, Role.SL, exits.qty)
        except Exception as exc:
            tp = b.tp_id
            if tp is not None:
                await self.oms.cancel(tp)
            self._finish(b, f"stop-loss refused: {exc}")
            raise
        self._kick(b)
        return b

    def _open(
        self, kind: BracketKind, exits: ExitSpec, entry: EntrySpec | None, *, journal: bool = True
    ) -> Bracket:
        now = self._clock_ms()
        b = Bracket(f"{kind}-{now:x}{secrets.token_hex(3)}", kind, exits, entry, now)
        self.brackets[b.id] = b
        if journal:
            self.oms.journal.audit(exits.origin, AUDIT_OPEN, _spec_detail(b), ts=now)
        return b

    def _open_record(self, b: Bracket) -> AuditEntry:
        return AuditEntry(b.exits.origin, AUDIT_OPEN, _spec_detail(b), ts=b.opened_at)

    def _link(self, b: Bracket, role: Role, client_id: str) -> None:
        old = b.legs.get(role)
        if old is not None:
            self._by_cid.pop(old, None)
        b.legs[role] = client_id
        self._by_cid[client_id] = b.id
        self.oms.journal.audit(
            b.exits.origin, AUDIT_LEG, {"bracket": b.id, "role": role, "client_id": client_id}
        )

    async def _place_leg(self, b: Bracket, role: Role, qty: Decimal) -> Order:
        x = b.exits
        adapter = self.oms.adapters[x.venue]
        reduce_only = adapter.capabilities.reduce_only  # futures: an exit must never open a position
        if role is Role.TP:
            intent = OrderIntent(
                x.venue, x.symbol, x.side, OrderType.LIMIT, qty, price=x.take_profit, reduce_only=reduce_only
            )
        else:
            kind = OrderType.STOP_MARKET if x.stop_limit is None else OrderType.STOP_LIMIT
            intent = OrderIntent(
                x.venue,
                x.symbol,
                x.side,
                kind,
                qty,
                price=x.stop_limit,
                stop_price=x.stop_loss,
                reduce_only=reduce_only,
            )
        # allow_duplicate: a resize or a second bracket may repeat terms within the guard's window.
        intent = dataclasses.replace(
            intent, origin=x.origin, reason=f"{b.kind} {b.id} {role}", allow_duplicate=True
        )
        order = await self.oms.submit(intent)
        self._link(b, role, order.client_id)
        return order

    # ------------------------------------------------------------------ driving

    def _on_order_changed(self, event: OrderChanged) -> None:
        cid = event.order.client_id
        bid = self._by_cid.get(cid)
        if bid is None and self._by_cid and cid not in self._not_ours:
            bid = self._follow_amend(cid)
        if bid is not None:
            self._kick(self.brackets[bid])

    def _follow_amend(self, cid: str) -> str | None:
        """A leg amended elsewhere (the orders table, a chart drag) comes back as a new order whose
        reason is "amend of <leg id>": it takes the old leg's place. Looked up once per order."""
        if len(self._not_ours) > 10_000:
            self._not_ours.clear()
        self._not_ours.add(cid)
        rec = self.oms.journal.order_record(cid)
        reason = rec.reason if rec is not None else None
        old = reason.removeprefix(AMEND_PREFIX) if reason and reason.startswith(AMEND_PREFIX) else None
        bid = self._by_cid.get(old) if old else None
        if bid is None or old is None:
            return None
        b = self.brackets[bid]
        role = next((r for r, c in b.legs.items() if c == old), None)
        if role is None or role is Role.ENTRY or b.phase is BracketPhase.DONE:
            return None
        self._replace_leg(b, role, old, cid)
        return bid

    def _replace_leg(self, b: Bracket, role: Role, old: str, new: str) -> None:
        if b.legs.get(role) == new:
            return  # already followed (the amend's own OrderChanged came first)
        previous = self.oms.order(old)
        b.retired_fill += previous.filled_qty if previous is not None else ZERO
        self._link(b, role, new)

    def _on_fill(self, event: FillEvent) -> None:
        bid = self._by_cid.get(event.fill.client_id)
        if bid is not None:
            self._kick(self.brackets[bid])

    def _kick(self, b: Bracket) -> None:
        if b.phase is BracketPhase.DONE:
            return
        self._dirty.add(b.id)
        if b.id not in self._running:
            self._running.add(b.id)
            task = asyncio.ensure_future(self._drive(b))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drive(self, b: Bracket) -> None:
        # One driver per bracket: events arriving while it awaits a request only mark it dirty.
        try:
            while b.id in self._dirty and b.phase is not BracketPhase.DONE:
                self._dirty.discard(b.id)
                try:
                    await self._step(b)
                except Exception as exc:  # keep the bracket alive; the next event retries
                    log.exception("bracket %s: step failed", b.id)
                    self.oms.journal.audit(b.exits.origin, AUDIT_ERROR, {"bracket": b.id, "error": str(exc)})
        finally:
            self._running.discard(b.id)
            self._dirty.discard(b.id)

    async def settle(self) -> None:
        """Wait until no bracket has work in flight (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _step(self, b: Bracket) -> None:
        if b.phase is BracketPhase.ENTRY:
            await self._step_entry(b)
        if b.phase is BracketPhase.EXITS:
            await self._step_exits(b)

    async def _step_entry(self, b: Bracket) -> None:
        entry = self.oms.order(b.entry_id) if b.entry_id else None
        if entry is None:
            return
        if entry.status is OrderStatus.FILLED or (entry.is_terminal and entry.filled_qty > 0):
            qty = self._holding(b, entry)
            if qty is None:
                return  # a spot entry's fills are not all journalled yet: the next one kicks us
            b.phase = BracketPhase.EXITS
            b.exit_qty = qty
            for role in (Role.SL, Role.TP):  # the stop first: it is the protection
                try:
                    await self._place_leg(b, role, qty)
                except Exception as exc:
                    log.error("bracket %s: %s leg refused: %s", b.id, role, exc)
                    self.oms.journal.audit(
                        b.exits.origin, AUDIT_ERROR, {"bracket": b.id, "role": role, "error": str(exc)}
                    )
            if b.tp_id is None and b.sl_id is None:
                self._finish(b, "entry filled but no exit could be placed")
        elif entry.is_terminal:
            self._finish(b, f"entry {entry.status} without a fill")

    def _holding(self, b: Bracket, entry: Order) -> Decimal | None:
        """What the exits close: the filled quantity; on spot minus fees paid in the base asset
        (a spot sell of more than was received would sell older holdings), None until every
        fill of the entry is journalled."""
        adapter = self.oms.adapters[b.exits.venue]
        inst = adapter.instrument(b.exits.symbol)
        if inst.is_derivative:
            return entry.filled_qty
        fills = [f for f in self.oms.journal.fills(symbol=inst.symbol) if f.client_id == entry.client_id]
        if sum((f.qty for f in fills), ZERO) < entry.filled_qty:
            return None
        fee = sum((f.fee for f in fills if f.fee_asset == inst.base), ZERO)
        return inst.round_qty(entry.filled_qty - fee)

    async def _step_exits(self, b: Bracket) -> None:
        legs = {role: o for role in (Role.TP, Role.SL) if (o := self._leg(b, role)) is not None}
        filled = [role for role, o in legs.items() if o.status is OrderStatus.FILLED]
        if filled:
            for role, o in legs.items():
                if role not in filled and not o.is_terminal:
                    await self.oms.cancel(o.client_id)
            legs = {role: self._leg(b, role) or o for role, o in legs.items()}
            if all(o.is_terminal for o in legs.values()):
                self._finish(b, f"{'+'.join(filled)} filled")
            return
        if all(o.is_terminal for o in legs.values()):
            self._finish(
                b, "exits ended without a fill: " + ", ".join(f"{r} {o.status}" for r, o in legs.items())
            )
            return
        if self.oms.risk.state is TradingState.HALTED:
            return  # a resize would cancel a protecting order the risk check then refuses to replace
        exposure = b.exit_qty - b.retired_fill - sum((o.filled_qty for o in legs.values()), ZERO)
        inst = self.oms.adapters[b.exits.venue].instrument(b.exits.symbol)
        target = inst.round_qty(exposure)
        for role, o in legs.items():
            if o.is_terminal or o.remaining_qty <= exposure or target <= 0 or target < inst.min_qty:
                continue
            try:
                replacement = await self.oms.amend(o.client_id, qty=target)
            except AmendFailed as exc:
                log.info("bracket %s: resize of %s skipped: %s", b.id, role, exc)
                self._dirty.add(b.id)  # it filled or moved meanwhile: look again
                continue
            self._replace_leg(b, role, o.client_id, replacement.client_id)

    def _leg(self, b: Bracket, role: Role) -> Order | None:
        cid = b.legs.get(role)
        return None if cid is None else self.oms.order(cid)

    def _finish(self, b: Bracket, reason: str) -> None:
        if b.phase is BracketPhase.DONE:
            return
        b.phase = BracketPhase.DONE
        b.done_reason = reason
        for cid in b.legs.values():  # later events of its orders need no look
            self._by_cid.pop(cid, None)
        self.oms.journal.audit(b.exits.origin, AUDIT_DONE, {"bracket": b.id, "reason": reason})
        log.info("bracket %s done: %s", b.id, reason)

    # ------------------------------------------------------------------ restart

    def restore(self) -> list[Bracket]:
        """Rebuild the brackets the journal shows unfinished and re-evaluate them."""
        journal = self.oms.journal
        found: dict[str, Bracket] = {}
        done: set[str] = set()
        amended: dict[str, str] = {}
        for rec in journal.audit_log(actions=(AUDIT_OPEN, AUDIT_LEG, AUDIT_DONE, "amend")):
            d = rec.detail
            if rec.action == AUDIT_OPEN:
                try:
                    found[d["bracket"]] = _bracket_from(d, rec.ts)
                except (KeyError, ValueError, ArithmeticError) as exc:
                    log.error("bracket record %s unreadable: %s", rec.seq, exc)
            elif rec.action == AUDIT_LEG and d.get("bracket") in found:
                found[d["bracket"]].legs[Role(d["role"])] = d["client_id"]
            elif rec.action == AUDIT_DONE:
                done.add(d.get("bracket", ""))
            elif rec.action == "amend" and d.get("new_client_id"):
                amended[d["client_id"]] = d["new_client_id"]
        restored = []
        for bid, b in found.items():
            if bid in done or bid in self.brackets:
                continue
            self._legs_from_reasons(b)
            for role, cid in list(b.legs.items()):
                seen = {cid}
                while cid in amended and amended[cid] not in seen:  # follow cancel-replaces
                    cid = amended[cid]
                    seen.add(cid)
                b.legs[role] = cid
            if b.tp_id or b.sl_id:
                b.phase = BracketPhase.EXITS
                b.exit_qty = self._exit_qty(b)
            self.brackets[bid] = b
            for cid in b.legs.values():
                self._by_cid[cid] = bid
            restored.append(b)
            self._kick(b)
        return restored

    def _legs_from_reasons(self, b: Bracket) -> None:
        """Legs whose ``bracket_leg`` record a crash cut off, found by their order reason."""
        prefix = f"{b.kind} {b.id} "
        for order in self.oms.journal.orders(b.exits.venue):
            if order.created_at < b.opened_at:
                continue
            rec = self.oms.journal.order_record(order.client_id)
            if rec is not None and rec.reason and rec.reason.startswith(prefix):
                role = Role(rec.reason[len(prefix) :])
                b.legs.setdefault(role, order.client_id)

    def _exit_qty(self, b: Bracket) -> Decimal:
        if b.kind is BracketKind.OCO or b.entry_id is None:
            return b.exits.qty
        entry = self.oms.order(b.entry_id)
        return entry.filled_qty if entry is not None and entry.filled_qty > 0 else b.exits.qty


# ---------------------------------------------------------------------- helpers


def _check_prices(x: ExitSpec) -> None:
    if x.qty <= 0 or x.take_profit <= 0 or x.stop_loss <= 0:
        raise ValueError("bracket quantity, take-profit and stop-loss must be positive")
    # A sell exit takes profit above its stop, a buy exit below it.
    if (x.side is Side.SELL and x.take_profit <= x.stop_loss) or (
        x.side is Side.BUY and x.take_profit >= x.stop_loss
    ):
        raise ValueError(
            f"{x.side} exits need the take-profit ({x.take_profit}) "
            f"{'above' if x.side is Side.SELL else 'below'} the stop-loss ({x.stop_loss})"
        )


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _d(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)


def _spec_detail(b: Bracket) -> dict[str, Any]:
    x, e = b.exits, b.entry
    detail: dict[str, Any] = {
        "bracket": b.id,
        "kind": b.kind,
        "venue": x.venue,
        "symbol": x.symbol,
        "side": x.side,
        "qty": _s(x.qty),
        "take_profit": _s(x.take_profit),
        "stop_loss": _s(x.stop_loss),
        "stop_limit": _s(x.stop_limit),
        "origin": x.origin,
    }
    if e is not None:
        detail["entry"] = {
            "type": e.type,
            "price": _s(e.price),
            "stop_price": _s(e.stop_price),
            "tif": e.tif,
            "post_only": e.post_only,
        }
    return detail


def _bracket_from(d: Mapping[str, Any], ts: int) -> Bracket:
    exits = ExitSpec(
        venue=Venue(d["venue"]),
        symbol=d["symbol"],
        side=Side(d["side"]),
        qty=Decimal(d["qty"]),
        take_profit=Decimal(d["take_profit"]),
        stop_loss=Decimal(d["stop_loss"]),
        stop_limit=_d(d.get("stop_limit")),
        origin=d.get("origin", "manual"),
    )
    e = d.get("entry")
    entry = (
        None
        if e is None
        else EntrySpec(
            type=OrderType(e["type"]),
            price=_d(e.get("price")),
            stop_price=_d(e.get("stop_price")),
            tif=TimeInForce(e.get("tif", "GTC")),
            post_only=bool(e.get("post_only")),
        )
    )
    return Bracket(d["bracket"], BracketKind(d["kind"]), exits, entry, ts)

"""Intent -> sized order(s) through the OMS: the only path from automation to the venue.

Per (origin, venue, symbol) one intent at a time (a lock), so two bars or two deliveries in
quick succession can never open two positions. Rules, in order:

* a signal opens at most one position, whichever strategy answers it first (MarketRaker's
  momentum and overbought/oversold may both be armed on a symbol; the reference integration
  let both enter on one signal);
* OPEN while already holding that side: skipped; holding the other side: close it first;
* a spot SELL-to-open (a short) is refused: spot can only sell what it holds;
* size from the sizer (under venue filters, free balance and limits), then the OMS's own
  risk checks; stop + target -> a bracket (exits follow the entry's fill); time exits and
  trailing stops are registered with the local exit watcher when one is given.

Every outcome is journaled as an ``intent`` audit record carrying the signal id: the
correlation from signal to order to fill.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from terminal.automation.arming import ArmKey
from terminal.automation.context import clamp_to_account
from terminal.automation.events import IntentOutcome, IntentResult
from terminal.automation.ledger import StrategyLedger
from terminal.bus import EventBus
from terminal.model import InstrumentKind, Order, OrderType, Side, Venue
from terminal.strategies.base import EntryKind, Intent, IntentAction
from terminal.trading.brackets import BracketManager, EntrySpec, ExitSpec
from terminal.trading.exits import ExitKind, ExitPlan, ExitWatcher, LocalExitSpec, place_exits
from terminal.trading.oms import OrderIntent, OrderManager
from terminal.trading.sizing import SizedOrder

__all__ = ["AUDIT_INTENT", "IntentExecutor", "Sizer", "SizingRefused"]

log = logging.getLogger(__name__)

AUDIT_INTENT = "intent"
ZERO = Decimal(0)


class SizingRefused(Exception):
    """No order: the message names the rule (balance, filter, limit)."""


@dataclass(frozen=True, slots=True)
class SizeRequest:
    origin: str
    venue: Venue
    intent: Intent
    entry_price: Decimal  # the price sizing assumes (limit price or current mid)
    position: Decimal  # the strategy's signed position now


class Sizer(Protocol):
    def size(self, req: SizeRequest) -> SizedOrder:
        """Quantity on the venue's step and the stop to place; raises SizingRefused."""
        ...


class IntentExecutor:
    def __init__(
        self,
        oms: OrderManager,
        brackets: BracketManager,
        ledger: StrategyLedger,
        bus: EventBus,
        sizer: Sizer,
        *,
        price_of: Callable[[Venue, str], Decimal | None],
        exits: ExitWatcher | None = None,
        max_leverage: int = 5,
    ) -> None:
        self.oms = oms
        self.brackets = brackets
        self.ledger = ledger
        self.bus = bus
        self.sizer = sizer
        self.exits = exits
        self.max_leverage = max_leverage
        self._price_of = price_of
        self._locks: dict[tuple[str, Venue, str], asyncio.Lock] = {}
        self._signal_owner: dict[str, str] = {}
        self._leverage_set: dict[tuple[Venue, str], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._restore_signal_owners()

    def _restore_signal_owners(self) -> None:
        for rec in self.oms.journal.audit_log(actions=(AUDIT_INTENT,)):
            if rec.action == AUDIT_INTENT and rec.detail.get("outcome") == IntentOutcome.PLACED:
                sid = rec.detail.get("signal_id")
                if sid:
                    self._signal_owner[str(sid)] = rec.actor

    # ------------------------------------------------------------------ entry point
    async def execute(
        self, origin: str, venue: Venue, intent: Intent, key: ArmKey | None = None
    ) -> IntentResult:
        sid = intent.signal_id if intent.action is IntentAction.OPEN else None
        owner = self._signal_owner.get(sid) if sid else None
        if sid and owner is None:
            # Claimed now, before any await: two strategies (or venues) answering the same signal
            # run concurrently, and only the first may open a position on it.
            self._signal_owner[sid] = origin
        lock = self._locks.setdefault((origin, venue, intent.symbol), asyncio.Lock())
        async with lock:
            try:
                if owner is not None:
                    result = IntentResult(
                        key, origin, intent, IntentOutcome.SKIPPED, f"signal already acted on by {owner}"
                    )
                else:
                    result = await self._execute(origin, venue, intent, key)
            except SizingRefused as exc:
                result = IntentResult(key, origin, intent, IntentOutcome.REFUSED, str(exc))
            except Exception as exc:  # the OMS's FilterRejected/RiskRejected/OrderRejected, venue errors
                outcome = IntentOutcome.REFUSED if type(exc).__name__ in _REFUSALS else IntentOutcome.FAILED
                result = IntentResult(key, origin, intent, outcome, f"{type(exc).__name__}: {exc}")
        if sid and owner is None and result.outcome is not IntentOutcome.PLACED:
            self._signal_owner.pop(sid, None)  # nothing opened: another strategy may still act on it
        self.oms.journal.audit(origin, AUDIT_INTENT, _detail(venue, result))
        level = (
            logging.INFO
            if result.outcome in (IntentOutcome.PLACED, IntentOutcome.SKIPPED)
            else logging.WARNING
        )
        log.log(
            level,
            "%s %s %s %s: %s %s",
            origin,
            venue,
            intent.symbol,
            intent.side,
            result.outcome,
            result.message,
        )
        self.bus.publish(result)
        return result

    async def _execute(self, origin: str, venue: Venue, intent: Intent, key: ArmKey | None) -> IntentResult:
        own = clamp_to_account(
            self.ledger.position(origin, venue, intent.symbol), self.oms.position(venue, intent.symbol)
        )
        if intent.action is IntentAction.CLOSE:
            if own == 0:
                return IntentResult(key, origin, intent, IntentOutcome.SKIPPED, "flat already")
            cid = await self._close(origin, venue, intent.symbol, own, intent.reason)
            return IntentResult(key, origin, intent, IntentOutcome.PLACED, "closed", cid, abs(own))

        want = 1 if intent.side is Side.BUY else -1
        if own != 0 and (own > 0) == (want > 0):
            return IntentResult(
                key,
                origin,
                intent,
                IntentOutcome.SKIPPED,
                f"already {'long' if want > 0 else 'short'} {abs(own)}",
            )
        derivative = self._is_derivative(venue, intent.symbol)
        if want < 0 and not derivative and own == 0:
            return IntentResult(key, origin, intent, IntentOutcome.REFUSED, "spot cannot open a short")
        if own != 0:
            await self._close(origin, venue, intent.symbol, own, f"reverse: {intent.reason}")
            if not derivative:
                # Spot: the sale *was* the sell intent; buying back is never what "sell" meant.
                return IntentResult(
                    key, origin, intent, IntentOutcome.PLACED, "sold the holding", None, abs(own)
                )

        entry_price = (
            intent.price if intent.entry is EntryKind.LIMIT else self._price_of(venue, intent.symbol)
        )
        if entry_price is None:
            raise SizingRefused(f"no live price for {intent.symbol} on {venue}")
        sized = self.sizer.size(SizeRequest(origin, venue, intent, entry_price, own))
        qty, stop = sized.qty, sized.stop if sized.stop is not None else intent.stop
        if derivative and intent.leverage:
            await self._ensure_leverage(origin, venue, intent.symbol, min(intent.leverage, self.max_leverage))

        reason = f"{intent.reason} [signal {intent.signal_id}]" if intent.signal_id else intent.reason
        limit = intent.entry is EntryKind.LIMIT
        plan = ExitPlan(
            venue,
            intent.symbol,
            intent.side.opposite,
            qty,
            stop=stop,
            target=intent.target,
            time_exit_ms=intent.time_exit_ms,
            trailing=intent.trailing,
            reference=entry_price,
            origin=origin,
        )
        local_only = plan.time_exit_ms is None and plan.trailing is None
        if stop is not None and intent.target is not None and (local_only or self.exits is not None):
            # The bracket manager owns the common case: its exits follow the entry's fill, even
            # across a restart. Time/trailing exits join the bracket's group in the watcher.
            entry = EntrySpec(
                type=OrderType.LIMIT if limit else OrderType.MARKET, price=intent.price if limit else None
            )
            exits = ExitSpec(
                venue, intent.symbol, intent.side.opposite, qty, intent.target, stop, origin=origin
            )
            bracket = await self.brackets.place_bracket(intent.side, exits, entry)
            cid = bracket.entry_id
            message = f"bracket {bracket.id}: {reason}"
            if not local_only and self.exits is not None:
                self._arm_local(plan, bracket.id)
        elif stop is None and intent.target is None and local_only:
            order = await self._entry(venue, intent, qty, origin, reason)
            cid, message = order.client_id, reason
        elif self.exits is None:
            raise SizingRefused("this intent needs exits the session cannot place (no exit watcher)")
        else:
            order = await self._entry(venue, intent, qty, origin, reason)
            cid, message = order.client_id, f"{reason}; exits after the fill"
            self._spawn_exits(cid, plan)
        return IntentResult(key, origin, intent, IntentOutcome.PLACED, message, cid, qty)

    # ------------------------------------------------------------------ helpers
    async def _entry(self, venue: Venue, intent: Intent, qty: Decimal, origin: str, reason: str) -> Order:
        limit = intent.entry is EntryKind.LIMIT
        return await self.oms.submit(
            OrderIntent(
                venue,
                intent.symbol,
                intent.side,
                OrderType.LIMIT if limit else OrderType.MARKET,
                qty,
                price=intent.price if limit else None,
                origin=origin,
                reason=reason,
            )
        )

    def _arm_local(self, plan: ExitPlan, bracket_id: str) -> None:
        assert self.exits is not None
        group = f"g-{bracket_id}"
        self.exits.link(group, plan.venue, plan.symbol, bracket=bracket_id, origin=plan.origin)
        common = {"origin": plan.origin, "group": group}
        if plan.trailing is not None:
            kw = {"trail": plan.trailing, "reference": plan.reference}
            self.exits.arm(LocalExitSpec(*_leg(plan), ExitKind.TRAILING, **common, **kw))
        if plan.time_exit_ms is not None:
            self.exits.arm(LocalExitSpec(*_leg(plan), ExitKind.TIME, **common, at_ms=plan.time_exit_ms))

    def _spawn_exits(self, cid: str, plan: ExitPlan) -> None:
        task = asyncio.ensure_future(self._exits_after_fill(cid, plan))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _exits_after_fill(self, cid: str, plan: ExitPlan) -> None:
        """Exits for what the entry filled, once it is done filling. (Not restart-safe while the
        entry still rests: a LIMIT entry with a lone stop is rare; brackets cover the rest.)"""
        assert self.exits is not None
        while True:
            order = self.oms.order(cid)
            if order is not None and order.status.is_terminal:
                break
            await asyncio.sleep(0.05)
        if order.filled_qty <= 0:
            return
        plan = dataclasses.replace(plan, qty=order.filled_qty, reference=order.avg_price or plan.reference)
        try:
            placed = await place_exits(plan, self.oms, self.exits, brackets=self.brackets)
            log.info("%s exits for %s: %s", plan.origin, cid, placed)
        except Exception as exc:
            # The position is open without its exits: say so loudly, the user must act.
            log.error(
                "%s: placing the exits of %s failed: %s - the position is UNPROTECTED", plan.origin, cid, exc
            )
            self.oms.journal.audit(plan.origin, "exit_error", {"client_id": cid, "error": str(exc)})

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _close(self, origin: str, venue: Venue, symbol: str, own: Decimal, reason: str) -> str:
        """Cancel this origin's working orders on the symbol (its exits), then close ``own``."""
        for order in self.oms.open_orders(venue, symbol):
            if self.ledger.origin_of(order.client_id) == origin:
                try:
                    await self.oms.cancel(order.client_id)
                except Exception as exc:
                    log.warning("%s: cancelling %s before closing failed: %s", origin, order.client_id, exc)
        derivative = self._is_derivative(venue, symbol)
        order = await self.oms.submit(
            OrderIntent(
                venue,
                symbol,
                Side.SELL if own > 0 else Side.BUY,
                OrderType.MARKET,
                abs(own),
                reduce_only=derivative,
                origin=origin,
                reason=f"close: {reason}",
                allow_duplicate=True,
            )
        )
        return order.client_id

    async def _ensure_leverage(self, origin: str, venue: Venue, symbol: str, leverage: int) -> None:
        if self._leverage_set.get((venue, symbol)) == leverage:
            return
        await self.oms.set_leverage(venue, symbol, Decimal(leverage), actor=origin)
        self._leverage_set[(venue, symbol)] = leverage

    def _is_derivative(self, venue: Venue, symbol: str) -> bool:
        adapter = self.oms.adapters.get(venue)
        inst = adapter.instruments.get(symbol) if adapter is not None else None
        return inst is not None and inst.kind is not InstrumentKind.SPOT


def _leg(plan: ExitPlan) -> tuple[Venue, str, Side, Decimal]:
    return plan.venue, plan.symbol, plan.side, plan.qty


_REFUSALS = {"FilterRejected", "RiskRejected", "SizingRefused", "UnknownSymbol"}


def _detail(venue: Venue, r: IntentResult) -> dict[str, Any]:
    i = r.intent
    return {
        "venue": venue.value,
        "symbol": i.symbol,
        "strategy": i.strategy,
        "action": i.action.value,
        "side": i.side.value,
        "entry": i.entry.value,
        "price": None if i.price is None else str(i.price),
        "stop": None if i.stop is None else str(i.stop),
        "target": None if i.target is None else str(i.target),
        "time_exit_ms": i.time_exit_ms,
        "signal_id": i.signal_id,
        "reason": i.reason,
        "outcome": r.outcome.value,
        "message": r.message,
        "client_id": r.client_id,
        "qty": None if r.qty is None else str(r.qty),
    }

"""Pre-trade risk: limits every order must pass before the OMS journals and sends it.

Each check returns a typed ``Verdict`` with a human reason; every rejection and every change
of the trading state is written to the journal's audit log. The rules:

* trading state: ACTIVE (anything), REDUCING (only orders that shrink a position), HALTED
  (nothing; the kill switch's own flattening orders pass with ``bypass_halt``);
* duplicate guard: the same venue/symbol/side/type/qty/price again within a short window is
  refused unless the caller says it is intended (a double click, a replayed webhook);
* order rate per second and per minute; max open orders;
* max order notional and max position (per symbol, quantity and/or notional). Orders that
  reduce a position skip these two: limits exist to cap risk, never to trap it.

The kill switch itself lives in the OMS (it has to cancel and trade); it sets HALTED here.

Loss limits and per-strategy limits:

* ``PnlTracker`` keeps equity from fills (realized PnL, fees) and marks (unrealized PnL), per
  account and per strategy, with a trading day that starts at a configurable UTC hour;
  ``PnlFeed`` feeds it from the bus (fills attributed to strategies through the journal's order
  origin) and can replay the journal after a restart;
* ``LossLimits``: the day's loss and the drawdown from the peak equity move the state to
  REDUCING or HALTED automatically (audited ``loss_limit``). They only escalate: resuming is a
  person's decision (``set_state``), except that ``resume_next_day`` lifts a state a daily-loss
  limit set once a new trading day starts;
* ``StrategyLimits`` for orders of origin ``strategy:<name>`` (and ``webhook:<name>``): max open
  positions, max notional, the strategy's own daily loss, and one position per symbol unless
  configured otherwise. Entries still working count as positions, so two quick intents cannot
  both slip through. Like the exposure limits, they never block an order that reduces.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from terminal.bus import EventBus
from terminal.model import Fill, Instrument, Order, Position, PositionSide, Side, TradingState, Venue
from terminal.storage.journal import Journal
from terminal.trading.events import TradingStateChanged
from terminal.venues.events import BalancesEvent, FillEvent, MarkPriceEvent, PublicTradeEvent

__all__ = [
    "LossLimits",
    "PnlFeed",
    "PnlSnapshot",
    "PnlTracker",
    "RiskLimits",
    "RiskManager",
    "RiskRule",
    "StrategyLimits",
    "StrategyPnl",
    "Verdict",
    "reduces_position",
    "strategy_of",
]

log = logging.getLogger(__name__)

ZERO = Decimal(0)


class RiskRule(StrEnum):
    HALTED = "halted"
    REDUCING = "reducing_only"
    DUPLICATE = "duplicate"
    RATE = "order_rate"
    OPEN_ORDERS = "max_open_orders"
    ORDER_NOTIONAL = "max_order_notional"
    POSITION = "max_position"
    NO_PRICE = "no_reference_price"
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "max_drawdown"
    STRATEGY_DAILY_LOSS = "strategy_daily_loss"
    STRATEGY_POSITIONS = "strategy_max_open_positions"
    STRATEGY_NOTIONAL = "strategy_max_notional"
    ONE_POSITION = "one_position_per_symbol"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str
    rule: RiskRule | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Verdict(True, "ok")


@dataclass(frozen=True, slots=True)
class LossLimits:
    """Account loss limits; ``None`` disables one. Daily amounts are in the quote currency,
    drawdowns fractions of the peak equity (0.1 = 10 % below the best equity seen)."""

    daily_loss_reduce: Decimal | None = None  # the day's loss at which only reducing orders pass
    daily_loss_halt: Decimal | None = None  # ... at which nothing passes
    drawdown_reduce: Decimal | None = None
    drawdown_halt: Decimal | None = None
    day_start_hour_utc: int = 0  # the trading day starts at this UTC hour
    resume_next_day: bool = False  # a new day lifts a state a daily-loss limit set

    def __post_init__(self) -> None:
        for name in ("daily_loss_reduce", "daily_loss_halt", "drawdown_reduce", "drawdown_halt"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"loss limit {name} must be positive or None, got {value}")
        for name in ("drawdown_reduce", "drawdown_halt"):
            value = getattr(self, name)
            if value is not None and value >= 1:
                raise ValueError(f"loss limit {name} is a fraction below 1, got {value}")
        if not 0 <= self.day_start_hour_utc <= 23:
            raise ValueError(f"day_start_hour_utc must be within 0..23, got {self.day_start_hour_utc}")


@dataclass(frozen=True, slots=True)
class StrategyLimits:
    """Limits of one strategy's orders (origin ``strategy:<name>``); ``None`` disables one."""

    max_open_positions: int | None = None  # symbols with a position or a working entry
    max_notional: Decimal | None = None  # positions at mark + working entries, quote currency
    daily_loss: Decimal | None = None  # the strategy's loss today at which its entries stop
    one_position_per_symbol: bool = True  # no adding to a position or a second working entry

    def __post_init__(self) -> None:
        if self.max_open_positions is not None and self.max_open_positions < 1:
            raise ValueError(f"max_open_positions must be at least 1, got {self.max_open_positions}")
        for name in ("max_notional", "daily_loss"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"strategy limit {name} must be positive or None, got {value}")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """``None`` disables a limit. Per-symbol maps are keyed by symbol (e.g. "BTCUSDT")."""

    max_order_notional: Decimal | None = None  # quote currency
    max_position_qty: Mapping[str, Decimal] = field(default_factory=dict)  # base qty, absolute
    max_position_notional: Decimal | None = None  # per symbol, quote currency
    max_open_orders: int | None = None
    max_orders_per_second: int | None = None
    max_orders_per_minute: int | None = None
    duplicate_window_s: float = 2.0  # 0 disables the duplicate guard
    loss: LossLimits = field(default_factory=LossLimits)
    # Per strategy name (``strategy:<name>`` -> "<name>"; webhooks keep "webhook:<name>");
    # strategies not listed get ``strategy_default``.
    strategies: Mapping[str, StrategyLimits] = field(default_factory=dict)
    strategy_default: StrategyLimits = field(default_factory=StrategyLimits)

    def for_strategy(self, name: str) -> StrategyLimits:
        return self.strategies.get(name, self.strategy_default)


def reduces_position(order: Order, position_qty: Decimal) -> bool:
    """True if ``order`` can only shrink the (signed) position: reduce-only, or opposite to it
    and not larger than it."""
    if order.reduce_only:
        return True
    if position_qty == 0:
        return False
    opposite = (position_qty > 0 and order.side is Side.SELL) or (position_qty < 0 and order.side is Side.BUY)
    return opposite and order.qty <= abs(position_qty)


def strategy_of(origin: str | None) -> str | None:
    """The strategy key of an order origin: ``strategy:macd`` -> "macd", ``webhook:tv`` ->
    "webhook:tv"; None for manual, external and kill-switch orders."""
    if origin is None:
        return None
    if origin.startswith("strategy:"):
        return origin.removeprefix("strategy:")
    if origin.startswith("webhook:"):
        return origin
    return None


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class RiskManager:
    def __init__(
        self,
        limits: RiskLimits,
        journal: Journal,
        *,
        state: TradingState = TradingState.ACTIVE,
        clock: Callable[[], float] = time.monotonic,
        pnl: PnlTracker | None = None,
        wall_ms: Callable[[], int] = _wall_ms,
        pending_grace_s: float = 2.0,
        bus: EventBus | None = None,
    ) -> None:
        self.limits = limits
        self.bus = bus  # TradingStateChanged goes here (notifications, the status bar)
        self._journal = journal
        self._state = state
        self._clock = clock
        self._wall_ms = wall_ms
        self._sent: deque[float] = deque()  # submission times within the last minute
        self._recent: dict[tuple[object, ...], float] = {}  # duplicate key -> last time
        self.pnl = pnl or PnlTracker(day_start_hour_utc=limits.loss.day_start_hour_utc)
        if self.pnl.day_start_hour_utc != limits.loss.day_start_hour_utc:
            raise ValueError(
                f"the PnL tracker's day starts at {self.pnl.day_start_hour_utc}h UTC, "
                f"the loss limits' at {limits.loss.day_start_hour_utc}h"
            )
        # Strategy entries that passed and may still be working: client id -> entry.
        self._pending: dict[str, _PendingEntry] = {}
        self._pending_grace_s = pending_grace_s
        self._loss_cause: RiskRule | None = None  # the loss rule behind the current state, if any
        self._loss_day: int | None = None
        self._strategy_breached: set[tuple[str, int]] = set()  # (strategy, day) audited once

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> TradingState:
        return self._state

    def set_state(self, state: TradingState, *, actor: str, reason: str) -> None:
        if state is self._state:
            return
        self._journal.audit(actor, "trading_state", {"from": self._state, "to": state, "reason": reason})
        previous, self._state = self._state, state
        self._loss_cause = None
        if self.bus is not None:
            self.bus.publish(TradingStateChanged(previous, state, actor, reason, self._wall_ms()))

    def set_limits(self, limits: RiskLimits, *, actor: str = "user") -> TradingState:
        """Replace the limits at run time (Settings → Risk limits); returns the state after.

        The day's PnL, the peak, the order-rate memory and the working strategy entries stay:
        only the thresholds change. The new loss limits are applied at once, so a tighter one
        the day's loss already exceeds moves to REDUCING/HALTED now (audited, published like any
        change). A looser one never lifts REDUCING/HALTED: resuming stays a person's
        ``set_state`` (or ``resume_next_day`` at the next trading day). The trading day's start
        hour cannot move under a running tracker (it would restart the day and forget its
        loss): ValueError, nothing changed."""
        from terminal.settings_file import describe_limits  # it imports this module

        if limits.loss.day_start_hour_utc != self.pnl.day_start_hour_utc:
            raise ValueError(
                f"the trading day starts at {self.pnl.day_start_hour_utc}h UTC in this session; "
                f"day_start_hour_utc={limits.loss.day_start_hour_utc} takes effect at the next start"
            )
        text = describe_limits(limits)
        self._journal.audit(actor, "risk_limits", {"limits": text, "state": self._state})
        self.limits = limits
        log.info("risk limits set by %s: %s", actor, text)
        return self.evaluate_losses()

    # ------------------------------------------------------------------ loss limits

    def evaluate_losses(self, now_ms: int | None = None) -> TradingState:
        """Apply the loss limits to the tracker's equity now; escalate the state if one is hit.
        Called by ``PnlFeed`` on every fill and mark, and before every check."""
        now = self._wall_ms() if now_ms is None else now_ms
        self.pnl.roll(now)
        lim = self.limits.loss
        day = self.pnl.day
        if self._loss_day is not None and day > self._loss_day:
            self._new_day(day)
        self._loss_day = day
        limits = (lim.daily_loss_reduce, lim.daily_loss_halt, lim.drawdown_reduce, lim.drawdown_halt)
        if all(x is None for x in limits):
            return self._state
        snap = self.pnl.snapshot()
        loss = -snap.day_pnl
        breaches: list[tuple[TradingState, RiskRule, str]] = []
        if lim.daily_loss_halt is not None and loss >= lim.daily_loss_halt:
            breaches.append(
                (TradingState.HALTED, RiskRule.DAILY_LOSS, f"day loss {loss} >= {lim.daily_loss_halt}")
            )
        elif lim.daily_loss_reduce is not None and loss >= lim.daily_loss_reduce:
            breaches.append(
                (TradingState.REDUCING, RiskRule.DAILY_LOSS, f"day loss {loss} >= {lim.daily_loss_reduce}")
            )
        dd = snap.drawdown
        if lim.drawdown_halt is not None and dd >= lim.drawdown_halt:
            breaches.append(
                (TradingState.HALTED, RiskRule.DRAWDOWN, f"drawdown {dd:.4%} >= {lim.drawdown_halt:.4%}")
            )
        elif lim.drawdown_reduce is not None and dd >= lim.drawdown_reduce:
            breaches.append(
                (TradingState.REDUCING, RiskRule.DRAWDOWN, f"drawdown {dd:.4%} >= {lim.drawdown_reduce:.4%}")
            )
        for target, rule, text in sorted(breaches, key=lambda b: _SEVERITY[b[0]], reverse=True):
            if _SEVERITY[target] <= _SEVERITY[self._state]:
                continue  # limits only escalate
            self._journal.audit(
                "risk",
                "loss_limit",
                {
                    "rule": rule,
                    "to": target,
                    "reason": text,
                    "equity": snap.equity,
                    "day_pnl": snap.day_pnl,
                    "drawdown": snap.drawdown,
                    "peak_equity": snap.peak_equity,
                },
            )
            self.set_state(target, actor="risk", reason=f"{rule}: {text}")
            self._loss_cause = rule
            break
        return self._state

    def _new_day(self, day: int) -> None:
        lim = self.limits.loss
        if lim.resume_next_day and self._loss_cause is RiskRule.DAILY_LOSS:
            self.set_state(
                TradingState.ACTIVE, actor="risk", reason=f"new trading day {day}: daily loss reset"
            )
        self._strategy_breached = {k for k in self._strategy_breached if k[1] >= day}

    # ------------------------------------------------------------------ checks

    def check(
        self,
        order: Order,
        *,
        open_orders: Sequence[Order],
        position_qty: Decimal = ZERO,
        price: Decimal | None = None,
        allow_duplicate: bool = False,
        bypass_halt: bool = False,
        actor: str = "risk",
        origin: str | None = None,
    ) -> Verdict:
        """Judge ``order`` (prices/quantities already rounded). ``price`` is the price used for
        notional limits when the order has none (market orders: the book's mid). ``origin``
        (``strategy:<name>``...) enables that strategy's limits.
        A rejection is audited before it is returned."""
        self.evaluate_losses()
        verdict = self._judge(order, open_orders, position_qty, price, allow_duplicate, bypass_halt)
        strategy = strategy_of(origin)
        if verdict.allowed and strategy is not None and not reduces_position(order, position_qty):
            verdict = self._judge_strategy(strategy, order, open_orders, price)
            if verdict.allowed:
                ref = order.price if order.price is not None else price
                self._pending[order.client_id] = _PendingEntry(
                    strategy, order.venue, order.symbol, order.qty * (ref or ZERO), self._clock()
                )
        if not verdict.allowed:
            self._journal.audit(
                actor,
                "risk_reject",
                {
                    "client_id": order.client_id,
                    "venue": order.venue,
                    "symbol": order.symbol,
                    "side": order.side,
                    "type": order.type,
                    "qty": order.qty,
                    "price": order.price,
                    "rule": verdict.rule,
                    "reason": verdict.reason,
                    **({"origin": origin} if origin is not None else {}),
                },
            )
        return verdict

    def _judge(
        self,
        order: Order,
        open_orders: Sequence[Order],
        position_qty: Decimal,
        price: Decimal | None,
        allow_duplicate: bool,
        bypass_halt: bool,
    ) -> Verdict:
        lim = self.limits
        reducing = reduces_position(order, position_qty)
        if self._state is TradingState.HALTED and not bypass_halt:
            return Verdict(False, "trading is HALTED (kill switch): no new orders", RiskRule.HALTED)
        if self._state is TradingState.REDUCING and not reducing:
            return Verdict(
                False,
                f"trading is REDUCING: only orders that reduce the position (now {position_qty}) pass",
                RiskRule.REDUCING,
            )
        now = self._clock()
        if lim.duplicate_window_s > 0 and not allow_duplicate:
            last = self._recent.get(_dup_key(order))
            if last is not None and now - last < lim.duplicate_window_s:
                return Verdict(
                    False,
                    f"duplicate of an order sent {now - last:.2f}s ago "
                    f"(same {order.symbol} {order.side} {order.type} {order.qty} @ {order.price}); "
                    "resubmit with allow_duplicate if intended",
                    RiskRule.DUPLICATE,
                )
        self._expire(now)
        if lim.max_orders_per_second is not None:
            last_second = sum(1 for t in self._sent if now - t < 1.0)
            if last_second >= lim.max_orders_per_second:
                return Verdict(
                    False,
                    f"order rate: {last_second} orders in the last second (max {lim.max_orders_per_second})",
                    RiskRule.RATE,
                )
        if lim.max_orders_per_minute is not None and len(self._sent) >= lim.max_orders_per_minute:
            return Verdict(
                False,
                f"order rate: {len(self._sent)} orders in the last minute (max {lim.max_orders_per_minute})",
                RiskRule.RATE,
            )
        if lim.max_open_orders is not None:
            n_open = sum(1 for o in open_orders if not o.is_terminal)
            if n_open >= lim.max_open_orders:
                return Verdict(
                    False, f"{n_open} open orders (max {lim.max_open_orders})", RiskRule.OPEN_ORDERS
                )
        if reducing:
            return ALLOWED
        ref = order.price if order.price is not None else price
        if ref is None and (lim.max_order_notional is not None or lim.max_position_notional is not None):
            return Verdict(
                False,
                f"no price to check the notional of this {order.type} order (watch the book)",
                RiskRule.NO_PRICE,
            )
        if lim.max_order_notional is not None and ref is not None:
            notional = ref * order.qty
            if notional > lim.max_order_notional:
                return Verdict(
                    False,
                    f"order notional {notional} exceeds max {lim.max_order_notional}",
                    RiskRule.ORDER_NOTIONAL,
                )
        projected = position_qty + order.side.sign * order.qty
        max_qty = lim.max_position_qty.get(order.symbol)
        if max_qty is not None and abs(projected) > max_qty:
            return Verdict(
                False,
                f"position {order.symbol} would be {projected} (max {max_qty})",
                RiskRule.POSITION,
            )
        if lim.max_position_notional is not None and ref is not None:
            value = abs(projected) * ref
            if value > lim.max_position_notional:
                return Verdict(
                    False,
                    f"position {order.symbol} would be worth {value} (max {lim.max_position_notional})",
                    RiskRule.POSITION,
                )
        return ALLOWED

    def _judge_strategy(
        self, strategy: str, order: Order, open_orders: Sequence[Order], price: Decimal | None
    ) -> Verdict:
        lim = self.limits.for_strategy(strategy)
        pending = self._working_entries(open_orders)
        book = self.pnl.strategy(strategy)
        key = (order.venue, order.symbol)
        if lim.daily_loss is not None and -book.day_pnl >= lim.daily_loss:
            day_key = (strategy, self.pnl.day)
            if day_key not in self._strategy_breached:
                self._strategy_breached.add(day_key)
                self._journal.audit(
                    "risk",
                    "strategy_loss_limit",
                    {"strategy": strategy, "day_pnl": book.day_pnl, "limit": lim.daily_loss},
                )
            return Verdict(
                False,
                f"strategy {strategy} lost {-book.day_pnl} today (limit {lim.daily_loss}): "
                "its entries stop until the next trading day",
                RiskRule.STRATEGY_DAILY_LOSS,
            )
        working = {(p.venue, p.symbol) for p in pending if p.strategy == strategy}
        held = {k for k, qty in book.positions.items() if qty != 0}
        if lim.one_position_per_symbol and (key in held or key in working):
            what = "a position" if key in held else "an entry working"
            return Verdict(
                False,
                f"strategy {strategy} already has {what} on {order.symbol} (one position per symbol)",
                RiskRule.ONE_POSITION,
            )
        if lim.max_open_positions is not None:
            open_keys = held | working
            if key not in open_keys and len(open_keys) >= lim.max_open_positions:
                return Verdict(
                    False,
                    f"strategy {strategy} has {len(open_keys)} open positions (max {lim.max_open_positions})",
                    RiskRule.STRATEGY_POSITIONS,
                )
        if lim.max_notional is not None:
            ref = order.price if order.price is not None else price
            if ref is None:
                return Verdict(
                    False, f"no price to check strategy {strategy}'s notional limit", RiskRule.NO_PRICE
                )
            committed = book.notional + sum((p.notional for p in pending if p.strategy == strategy), ZERO)
            total = committed + order.qty * ref
            if total > lim.max_notional:
                return Verdict(
                    False,
                    f"strategy {strategy} would hold {total} (max {lim.max_notional})",
                    RiskRule.STRATEGY_NOTIONAL,
                )
        return ALLOWED

    def _working_entries(self, open_orders: Sequence[Order]) -> list[_PendingEntry]:
        """Strategy entries still working. An entry that ended stays counted until its fill
        reached the tracker (or a short grace passed): the order's FILLED report can come
        before the fill itself, and in between the position would count nowhere."""
        live = {o.client_id for o in open_orders if not o.is_terminal}
        now = self._clock()
        for cid in list(self._pending):
            if cid in live:
                continue
            if self.pnl.has_fills(cid) or now - self._pending[cid].since >= self._pending_grace_s:
                del self._pending[cid]
        return list(self._pending.values())

    def restore_pending(self) -> int:
        """After a restart: count the journal's working strategy entries (not reduce-only, and
        not against the strategy's position); returns how many."""
        for order in self._journal.open_orders():
            rec = self._journal.order_record(order.client_id)
            strategy = strategy_of(rec.origin if rec is not None else None)
            if strategy is None or order.reduce_only:
                continue
            held = self.pnl.strategy(strategy).positions.get((order.venue, order.symbol), ZERO)
            if held != 0 and (held > 0) != (order.side is Side.BUY):
                continue  # an exit of the strategy's position
            ref = order.price or order.stop_price or ZERO
            self._pending[order.client_id] = _PendingEntry(
                strategy, order.venue, order.symbol, order.qty * ref, self._clock()
            )
        return len(self._pending)

    def order_ended(self, order: Order) -> None:
        """The OMS saw ``order`` end. Without a fill (canceled - e.g. the first half of an amend -,
        rejected, expired) nothing can arrive later: its entry stops counting at once."""
        if order.filled_qty == 0:
            self._pending.pop(order.client_id, None)

    def record_submission(self, order: Order) -> None:
        """Count an order that passed and is being sent (rate and duplicate memory)."""
        now = self._clock()
        self._sent.append(now)
        self._recent[_dup_key(order)] = now

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        window = self.limits.duplicate_window_s
        if len(self._recent) > 1024:
            self._recent = {k: t for k, t in self._recent.items() if now - t < window}


def _dup_key(order: Order) -> tuple[Venue, str, Side, str, Decimal, Decimal | None, Decimal | None]:
    return (order.venue, order.symbol, order.side, order.type, order.qty, order.price, order.stop_price)


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(frozen=True, slots=True)
class _PendingEntry:
    strategy: str
    venue: Venue
    symbol: str
    notional: Decimal
    since: float  # RiskManager clock


# ---------------------------------------------------------------------- PnL

DAY_MS = 86_400_000
_SPOT_VENUES = frozenset({Venue.BINANCE_SPOT, Venue.BYBIT_SPOT})
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB")

BookKey = tuple[Venue, str, PositionSide]
_OPENING = {PositionSide.LONG: Side.BUY, PositionSide.SHORT: Side.SELL}
InstrumentLookup = Callable[[Venue, str], Instrument | None]


@dataclass(frozen=True, slots=True)
class PnlSnapshot:
    equity: Decimal  # base equity + realized - fees + unrealized
    realized: Decimal  # gross price PnL of closed quantity, all time
    fees: Decimal  # paid, in the quote currency
    unrealized: Decimal  # open positions at their last mark
    day: int  # trading day number (days since the epoch, shifted by the day start hour)
    day_start_equity: Decimal
    peak_equity: Decimal
    unpriced_fees: Mapping[str, Decimal]  # fees in an asset that is neither base nor quote (BNB)

    @property
    def day_pnl(self) -> Decimal:
        return self.equity - self.day_start_equity

    @property
    def drawdown(self) -> Decimal:
        """Fraction below the peak equity (0 at a new high or without a positive peak)."""
        if self.peak_equity <= 0 or self.equity >= self.peak_equity:
            return ZERO
        return (self.peak_equity - self.equity) / self.peak_equity


@dataclass(frozen=True, slots=True)
class StrategyPnl:
    strategy: str
    pnl: Decimal  # realized - fees + unrealized, all time
    day_pnl: Decimal  # since the trading day started
    positions: Mapping[tuple[Venue, str], Decimal]  # signed qty per (venue, symbol), flat ones dropped
    notional: Decimal  # open positions at mark (entry without a mark)


@dataclass(slots=True)
class _Ledger:
    """One account's or one strategy's PnL: positions per (venue, symbol, leg) with their
    realized PnL (``Position.apply_fill``'s arithmetic), fees, and the value at the day start."""

    books: dict[BookKey, Position] = field(default_factory=dict)
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    day_start: Decimal = ZERO  # pnl() when the day began

    def unrealized(self, marks: Mapping[tuple[Venue, str], Decimal]) -> Decimal:
        total = ZERO
        for (venue, symbol, _), p in self.books.items():
            if p.qty != 0:
                mark = marks.get((venue, symbol), p.entry_price)
                total += p.signed_qty * (mark - p.entry_price)
        return total

    def pnl(self, marks: Mapping[tuple[Venue, str], Decimal]) -> Decimal:
        return self.realized - self.fees + self.unrealized(marks)

    def apply(self, fill: Fill, fee_cost: Decimal, base_fee: Decimal) -> None:
        key = (fill.venue, fill.symbol, fill.position_side)
        p = self.books.get(key) or Position(fill.venue, fill.symbol, fill.position_side)
        qty = fill.qty
        if fill.venue in _SPOT_VENUES and fill.side is Side.SELL:
            # Spot cannot go short: selling more than this ledger bought sells holdings it
            # never saw (a deposit); only what it holds is closed.
            qty = min(qty, max(p.qty, ZERO))
        elif p.side is not PositionSide.BOTH and fill.side is not _OPENING[p.side]:
            qty = min(qty, p.qty)  # a hedge leg cannot flip: never close more than it holds
        if qty > 0:
            before = p.realized_pnl
            p = p.apply_fill(fill.side, qty, fill.price, ts=fill.ts)
            self.realized += p.realized_pnl - before
        if base_fee > 0 and fill.venue in _SPOT_VENUES and p.qty > 0:
            # A fee paid in the base asset shrinks the holding; its value is in fee_cost.
            before = p.realized_pnl
            p = p.apply_fill(Side.SELL, min(base_fee, p.qty), fill.price, ts=fill.ts)
            self.realized += p.realized_pnl - before
        self.fees += fee_cost
        self.books[key] = p

    def positions(self) -> dict[tuple[Venue, str], Decimal]:
        out: dict[tuple[Venue, str], Decimal] = {}
        for (venue, symbol, _), p in self.books.items():
            if p.qty != 0:
                out[(venue, symbol)] = out.get((venue, symbol), ZERO) + p.signed_qty
        return out

    def notional(self, marks: Mapping[tuple[Venue, str], Decimal]) -> Decimal:
        return sum(
            (abs(p.qty) * marks.get((v, s), p.entry_price) for (v, s, _), p in self.books.items() if p.qty),
            ZERO,
        )


class PnlTracker:
    """Equity from fills and marks, for the account and per strategy.

    Positions and realized PnL follow the fills (average entry price; linear contracts and
    spot, in the quote currency); unrealized PnL uses the last mark per symbol. Fees are taken
    in the quote currency; a fee in the base asset is valued at the fill price (and on spot
    shrinks the holding); any other fee asset is listed in ``unpriced_fees`` only.

    Equity = ``base_equity`` + PnL. ``rebase(equity)`` sets the base so that equity matches the
    account's balances (after replaying the journal's fills): the day start and the peak move
    with it, so the day's loss and the drawdown stay what the fills made them.
    """

    def __init__(
        self,
        *,
        base_equity: Decimal = ZERO,
        day_start_hour_utc: int = 0,
        instruments: InstrumentLookup | None = None,
    ) -> None:
        if not 0 <= day_start_hour_utc <= 23:
            raise ValueError(f"day_start_hour_utc must be within 0..23, got {day_start_hour_utc}")
        self.base_equity = base_equity
        self.day_start_hour_utc = day_start_hour_utc
        self._offset_ms = day_start_hour_utc * 3_600_000
        self._instruments = instruments
        self._account = _Ledger()
        self._strategies: dict[str, _Ledger] = {}
        self._marks: dict[tuple[Venue, str], Decimal] = {}
        self._fills_by_cid: dict[str, Decimal] = {}
        self._unpriced: dict[str, Decimal] = {}
        self.day: int = -1  # set by the first event
        self._day_start_equity = base_equity
        self._peak = base_equity

    # ------------------------------------------------------------------ time

    def day_of(self, ts_ms: int) -> int:
        return (ts_ms - self._offset_ms) // DAY_MS

    def roll(self, now_ms: int) -> bool:
        """Start a new trading day if ``now_ms`` is in one; True if it did. The day's start
        values are taken before anything of the new day is applied."""
        day = self.day_of(now_ms)
        if day <= self.day:
            return False
        self.day = day
        self._day_start_equity = self.equity()
        self._account.day_start = self._account.pnl(self._marks)
        for ledger in self._strategies.values():
            ledger.day_start = ledger.pnl(self._marks)
        return True

    # ------------------------------------------------------------------ input

    def on_fill(self, fill: Fill, *, strategy: str | None = None) -> None:
        """Apply one fill (the caller dedupes by trade id: the journal does)."""
        self.roll(fill.ts)
        fee_cost, base_fee = self._fee(fill)
        self._account.apply(fill, fee_cost, base_fee)
        if strategy is not None:
            self._strategies.setdefault(strategy, _Ledger()).apply(fill, fee_cost, base_fee)
        self._fills_by_cid[fill.client_id] = self._fills_by_cid.get(fill.client_id, ZERO) + fill.qty
        if len(self._fills_by_cid) > 100_000:  # only recent orders are asked about
            self._fills_by_cid = dict(list(self._fills_by_cid.items())[-10_000:])
        self._marks.setdefault((fill.venue, fill.symbol), fill.price)
        self._peak = max(self._peak, self.equity())

    def on_mark(self, venue: Venue, symbol: str, price: Decimal, ts_ms: int) -> None:
        self.roll(ts_ms)
        self._marks[(venue, symbol)] = price
        self._peak = max(self._peak, self.equity())

    def rebase(self, equity: Decimal) -> None:
        """Make ``equity()`` equal ``equity`` (the account's value from its balances)."""
        shift = equity - self.equity()
        self.base_equity += shift
        self._day_start_equity += shift
        self._peak += shift

    def _fee(self, fill: Fill) -> tuple[Decimal, Decimal]:
        """(fee cost in quote, fee quantity in the base asset)."""
        if fill.fee == 0:
            return ZERO, ZERO
        base, quote = self._assets(fill.venue, fill.symbol)
        if fill.fee_asset == quote or not fill.fee_asset:
            return fill.fee, ZERO
        if fill.fee_asset == base:
            return fill.fee * fill.price, fill.fee
        self._unpriced[fill.fee_asset] = self._unpriced.get(fill.fee_asset, ZERO) + fill.fee
        return ZERO, ZERO

    def _assets(self, venue: Venue, symbol: str) -> tuple[str | None, str | None]:
        inst = self._instruments(venue, symbol) if self._instruments is not None else None
        if inst is not None:
            return inst.base, inst.quote
        for quote in _QUOTES:
            if symbol.endswith(quote) and len(symbol) > len(quote):
                return symbol[: -len(quote)], quote
        return None, None

    # ------------------------------------------------------------------ output

    def equity(self) -> Decimal:
        return self.base_equity + self._account.pnl(self._marks)

    def mark(self, venue: Venue, symbol: str) -> Decimal | None:
        return self._marks.get((venue, symbol))

    def has_fills(self, client_id: str) -> bool:
        return client_id in self._fills_by_cid

    def snapshot(self) -> PnlSnapshot:
        a = self._account
        unrealized = a.unrealized(self._marks)
        return PnlSnapshot(
            equity=self.base_equity + a.realized - a.fees + unrealized,
            realized=a.realized,
            fees=a.fees,
            unrealized=unrealized,
            day=self.day,
            day_start_equity=self._day_start_equity,
            peak_equity=self._peak,
            unpriced_fees=dict(self._unpriced),
        )

    def strategy_position(self, name: str, venue: Venue, symbol: str) -> Decimal:
        """One strategy's signed position on one market (the automation host reads it per intent)."""
        ledger = self._strategies.get(name)
        return ZERO if ledger is None else ledger.positions().get((venue, symbol), ZERO)

    def strategy(self, name: str) -> StrategyPnl:
        ledger = self._strategies.get(name)
        if ledger is None:
            return StrategyPnl(name, ZERO, ZERO, {}, ZERO)
        pnl = ledger.pnl(self._marks)
        return StrategyPnl(
            name, pnl, pnl - ledger.day_start, ledger.positions(), ledger.notional(self._marks)
        )

    def strategies(self) -> list[str]:
        return sorted(self._strategies)


class PnlFeed:
    """Feeds a ``RiskManager``'s tracker from the bus and applies the loss limits as equity moves.

    Fills come from ``FillEvent``, and from the journal after a reconcile (fills recovered after
    an outage are journalled by the OMS without an event; the reconcile ends with a balances
    snapshot, which triggers the catch-up). A fill counts once (trade id). Each is attributed to
    the strategy of its order's origin in the journal. Marks come from ``MarkPriceEvent``
    (derivatives) or, for symbols without one, the last public trade.
    """

    _SLACK_MS = 60_000  # journal catch-up reads back this far before the newest fill applied

    def __init__(self, risk: RiskManager, journal: Journal, bus: EventBus | None = None) -> None:
        self.risk = risk
        self.journal = journal
        self._origins: dict[str, str | None] = {}
        self._seen: dict[tuple[Venue, str, str], int] = {}  # trade key -> fill ts
        self._newest_ts: int | None = None
        self._has_mark: set[tuple[Venue, str]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        if bus is not None:
            self._unsubscribe = [
                bus.subscribe(FillEvent, self._on_fill_event),
                bus.subscribe(MarkPriceEvent, self._on_mark_event),
                bus.subscribe(PublicTradeEvent, self._on_trade_event),
                bus.subscribe(BalancesEvent, self._on_balances_event),
            ]

    def close(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, []
        for unsub in unsubscribe:
            unsub()

    def replay(self, *, since_ms: int | None = None) -> int:
        """Apply the journal's fills not applied yet (at start, after a restart: then
        ``risk.pnl.rebase(equity from balances)`` anchors the equity); returns how many."""
        n = 0
        for fill in self.journal.fills(since=since_ms):
            n += self.on_fill(fill, evaluate=False)
        self.risk.evaluate_losses()
        return n

    def catch_up(self) -> int:
        """Apply journalled fills newer than what was applied (minus a slack for clock skew)."""
        since = None if self._newest_ts is None else self._newest_ts - self._SLACK_MS
        return self.replay(since_ms=since)

    def on_fill(self, fill: Fill, *, evaluate: bool = True) -> bool:
        key = (fill.venue, fill.symbol, fill.trade_id)
        if key in self._seen:
            return False
        self._seen[key] = fill.ts
        self._newest_ts = fill.ts if self._newest_ts is None else max(self._newest_ts, fill.ts)
        if len(self._seen) > 200_000:  # keep a day of keys: catch-up never reads further back
            cutoff = self._newest_ts - DAY_MS
            self._seen = {k: ts for k, ts in self._seen.items() if ts >= cutoff}
        self.risk.pnl.on_fill(fill, strategy=strategy_of(self._origin(fill.client_id)))
        if evaluate:
            self.risk.evaluate_losses()
        return True

    def _origin(self, client_id: str) -> str | None:
        if client_id not in self._origins:
            if len(self._origins) > 50_000:
                self._origins.clear()
            rec = self.journal.order_record(client_id)
            self._origins[client_id] = rec.origin if rec is not None else None
        return self._origins[client_id]

    def _on_fill_event(self, event: FillEvent) -> None:
        self.on_fill(event.fill)

    def _on_balances_event(self, event: BalancesEvent) -> None:
        if event.snapshot:
            self.catch_up()

    def _on_mark_event(self, event: MarkPriceEvent) -> None:
        m = event.mark
        self._has_mark.add((m.venue, m.symbol))
        self.risk.pnl.on_mark(m.venue, m.symbol, m.mark_price, m.ts)
        self.risk.evaluate_losses(m.ts or None)

    def _on_trade_event(self, event: PublicTradeEvent) -> None:
        t = event.trade
        if (t.venue, t.symbol) in self._has_mark:
            return
        self.risk.pnl.on_mark(t.venue, t.symbol, t.price, t.ts)
        self.risk.evaluate_losses(t.ts or None)

"""Position sizing: how much to buy or sell for an intent, before the OMS sees it.

Three modes (``SizingMode``):

* FIXED_QUOTE: a fixed notional in the quote asset (100 USDT per trade);
* RISK_PCT: lose at most ``risk_fraction`` of equity if the stop is hit:
  ``qty = equity x risk / |entry - stop|``;
* ATR: the stop is ``k x ATR`` from the entry (below for a buy), then risk sizing.

The raw size is then capped, smallest wins: the free balance (x leverage on derivatives; the
part that only closes an opposite position needs none), the max position (quantity and
notional), the max leverage (position notional <= equity x max leverage), the venue's
max quantity / max notional. Then it is rounded DOWN to the step (sizing never exceeds what
the caps allowed) and checked against min quantity and min notional: too small is refused,
with a reason that names the filter. Decimal throughout: these numbers become orders.

``Balancer`` scales a batch of buys (the MACD daily sweep over a symbol list) so their total
fits the free quote balance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from terminal.model import FilterName, Instrument, Side
from terminal.strategies.base import EntryKind, Intent, IntentAction, SizeHint

__all__ = [
    "BalancedBatch",
    "Balancer",
    "SizedOrder",
    "SizingCap",
    "SizingConfig",
    "SizingMode",
    "SizingRefused",
    "size_intent",
    "size_order",
]

ZERO = Decimal(0)
ONE = Decimal(1)


class SizingMode(StrEnum):
    FIXED_QUOTE = "fixed_quote"
    RISK_PCT = "risk_pct"
    ATR = "atr"


class SizingCap(StrEnum):
    """What bound a size (or, in a refusal, what left no room)."""

    FREE_BALANCE = "free_balance"
    MAX_POSITION_QTY = "max_position_qty"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MAX_LEVERAGE = "max_leverage"
    VENUE_MAX_QTY = "venue_max_qty"
    VENUE_MAX_NOTIONAL = "venue_max_notional"
    SPOT_HOLDING = "spot_holding"  # spot sells: only what is held
    BALANCER = "balancer"


@dataclass(frozen=True, slots=True)
class SizingConfig:
    mode: SizingMode = SizingMode.FIXED_QUOTE
    quote_notional: Decimal = Decimal(100)  # FIXED_QUOTE: quote asset per trade
    risk_fraction: Decimal = Decimal("0.01")  # RISK_PCT / ATR: equity lost at the stop (0.01 = 1 %)
    atr_multiple: Decimal = Decimal(2)  # ATR: stop distance = atr_multiple x ATR
    max_position_qty: Decimal | None = None  # base asset, absolute, after the order
    max_position_notional: Decimal | None = None  # quote asset, after the order
    max_leverage: Decimal = ONE  # position notional <= equity x max_leverage; caps the venue leverage
    # Fraction of the free balance never committed: fees and a market order's slippage past the
    # reference price must still fit.
    balance_reserve: Decimal = Decimal("0.002")

    def __post_init__(self) -> None:
        for name in ("quote_notional", "risk_fraction", "atr_multiple", "max_leverage"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sizing {name} must be positive, got {getattr(self, name)}")
        if self.risk_fraction >= 1:
            raise ValueError(f"sizing risk_fraction must be below 1 (a fraction), got {self.risk_fraction}")
        for name in ("max_position_qty", "max_position_notional"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"sizing {name} must be positive or None, got {value}")
        if not ZERO <= self.balance_reserve < 1:
            raise ValueError(f"sizing balance_reserve must be within [0, 1), got {self.balance_reserve}")


@dataclass(frozen=True, slots=True)
class SizedOrder:
    instrument: Instrument
    side: Side
    qty: Decimal  # a multiple of the step, within every filter
    entry: Decimal  # the price it was sized at
    stop: Decimal | None  # the stop to place: the intent's, or the ATR stop
    mode: SizingMode
    capped_by: tuple[SizingCap, ...] = ()  # caps that reduced the raw size

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def notional(self) -> Decimal:
        return self.qty * self.entry

    @property
    def risk(self) -> Decimal | None:
        """Quote lost if the stop is hit (before fees and slippage); None without a stop."""
        return None if self.stop is None else self.qty * abs(self.entry - self.stop)


@dataclass(frozen=True, slots=True)
class SizingRefused:
    """No order: ``reason`` says why; ``filter`` names the venue filter, ``cap`` the limit."""

    symbol: str
    reason: str
    filter: FilterName | None = None
    cap: SizingCap | None = None

    def __bool__(self) -> bool:
        return False


def size_order(
    config: SizingConfig,
    instrument: Instrument,
    *,
    side: Side,
    entry: Decimal,
    equity: Decimal,
    free_balance: Decimal,
    stop: Decimal | None = None,
    position_qty: Decimal = ZERO,
    atr: Decimal | None = None,
    leverage: Decimal = ONE,
    hint: SizeHint | None = None,
) -> SizedOrder | SizingRefused:
    """Size an order opening (or adding to) a position on ``side``.

    ``entry`` is the expected fill price (the limit price, or the book's price for a market
    entry); ``free_balance`` the free quote balance (spot) or available margin (derivatives);
    ``position_qty`` the current signed position (spot: the holding); ``leverage`` the
    symbol's venue leverage (derivatives). ``hint`` overrides the mode (a webhook's qty, quote
    or risk); the caps still apply. Bad inputs raise ValueError; an order that cannot be
    sized (no stop for risk sizing, below a venue minimum, no room left) is a ``SizingRefused``.
    """
    sym = instrument.symbol
    if entry <= 0:
        raise ValueError(f"{sym}: entry price must be positive, got {entry}")
    if leverage <= 0:
        raise ValueError(f"{sym}: leverage must be positive, got {leverage}")
    if stop is not None and stop <= 0:
        raise ValueError(f"{sym}: stop must be positive, got {stop}")

    raw = _raw_qty(config, sym, side, entry, equity, stop, atr, hint)
    if isinstance(raw, SizingRefused):
        return raw
    qty, stop = raw

    caps = _caps(config, instrument, side, entry, equity, free_balance, position_qty, leverage)
    capped_by: list[SizingCap] = []
    for cap, limit in caps:
        if limit <= 0:
            return SizingRefused(sym, _no_room(cap, position_qty), cap=cap)
        if qty > limit:
            qty = limit
            capped_by = [c for c in capped_by if c is not cap] + [cap]
    return _finish(instrument, side, qty, entry, stop, _mode(config, hint), tuple(capped_by))


def size_intent(
    config: SizingConfig,
    instrument: Instrument,
    intent: Intent,
    *,
    reference_price: Decimal | None,
    equity: Decimal,
    free_balance: Decimal,
    position_qty: Decimal = ZERO,
    atr: Decimal | None = None,
    leverage: Decimal = ONE,
) -> SizedOrder | SizingRefused:
    """``size_order`` for a strategy's OPEN intent: a LIMIT entry is sized at its price, a
    MARKET one at ``reference_price`` (the book), else at the intent's own price."""
    if intent.action is not IntentAction.OPEN:
        raise ValueError("only OPEN intents are sized; a CLOSE is sized by the position it closes")
    if intent.symbol != instrument.symbol:
        raise ValueError(f"intent for {intent.symbol} sized with the {instrument.symbol} instrument")
    entry = intent.price if intent.entry is EntryKind.LIMIT else (reference_price or intent.price)
    if entry is None:
        return SizingRefused(instrument.symbol, "no price to size a MARKET entry at (watch the book)")
    return size_order(
        config,
        instrument,
        side=intent.side,
        entry=entry,
        equity=equity,
        free_balance=free_balance,
        stop=intent.stop,
        position_qty=position_qty,
        atr=atr,
        leverage=leverage,
        hint=intent.size,
    )


def _mode(config: SizingConfig, hint: SizeHint | None) -> SizingMode:
    if hint is None:
        return config.mode
    if hint.risk is not None:
        return SizingMode.ATR if config.mode is SizingMode.ATR else SizingMode.RISK_PCT
    return SizingMode.FIXED_QUOTE


def _raw_qty(
    config: SizingConfig,
    sym: str,
    side: Side,
    entry: Decimal,
    equity: Decimal,
    stop: Decimal | None,
    atr: Decimal | None,
    hint: SizeHint | None,
) -> tuple[Decimal, Decimal | None] | SizingRefused:
    if hint is not None and hint.qty is not None:
        return hint.qty, stop
    if hint is not None and hint.quote is not None:
        return hint.quote / entry, stop
    risk_fraction = hint.risk if hint is not None and hint.risk is not None else config.risk_fraction
    if hint is None and config.mode is SizingMode.FIXED_QUOTE:
        return config.quote_notional / entry, stop
    if config.mode is SizingMode.ATR:
        if atr is None or atr <= 0:
            return SizingRefused(sym, f"ATR sizing needs a positive ATR value, got {atr}")
        distance = config.atr_multiple * atr
        if distance >= entry and side is Side.BUY:
            return SizingRefused(sym, f"ATR stop distance {distance} is not below the entry {entry}")
        stop = entry - distance if side is Side.BUY else entry + distance
    if stop is None:
        return SizingRefused(sym, "risk sizing needs a stop price (the intent has none)")
    distance = entry - stop if side is Side.BUY else stop - entry
    if distance <= 0:
        return SizingRefused(sym, f"stop {stop} is on the wrong side of the entry {entry} for a {side}")
    if equity <= 0:
        return SizingRefused(sym, f"risk sizing needs positive equity, got {equity}")
    return equity * risk_fraction / distance, stop


def _caps(
    config: SizingConfig,
    inst: Instrument,
    side: Side,
    entry: Decimal,
    equity: Decimal,
    free_balance: Decimal,
    position_qty: Decimal,
    leverage: Decimal,
) -> list[tuple[SizingCap, Decimal]]:
    """Each cap as the largest order quantity it allows."""
    same_way = position_qty == 0 or (position_qty > 0) == (side is Side.BUY)
    held = abs(position_qty)
    # An order against the position first closes it (that part needs no margin and adds no
    # exposure); only the rest opens.
    closing = ZERO if same_way else held
    caps: list[tuple[SizingCap, Decimal]] = []
    usable = max(free_balance, ZERO) * (ONE - config.balance_reserve)
    if not inst.is_derivative:
        if side is Side.SELL:
            # Spot cannot go short: a sell is bounded by what is held (the caller sizes closes).
            caps.append((SizingCap.SPOT_HOLDING, max(position_qty, ZERO)))
        else:
            caps.append((SizingCap.FREE_BALANCE, usable / entry))
    else:
        lev = min(leverage, config.max_leverage)
        caps.append((SizingCap.FREE_BALANCE, closing + usable * lev / entry))

    def exposure_cap(limit_qty: Decimal) -> Decimal:
        # |position after| <= limit_qty
        return limit_qty - held if same_way else held + limit_qty

    if config.max_position_qty is not None:
        caps.append((SizingCap.MAX_POSITION_QTY, exposure_cap(config.max_position_qty)))
    if config.max_position_notional is not None:
        caps.append((SizingCap.MAX_POSITION_NOTIONAL, exposure_cap(config.max_position_notional / entry)))
    if inst.is_derivative or side is Side.BUY:
        caps.append((SizingCap.MAX_LEVERAGE, exposure_cap(max(equity, ZERO) * config.max_leverage / entry)))
    # The entry may be a market order: keep within the tighter market maximum too.
    venue_max = [m for m in (inst.max_qty, inst.market_max_qty) if m is not None]
    if venue_max:
        caps.append((SizingCap.VENUE_MAX_QTY, min(venue_max)))
    if inst.max_notional is not None:
        caps.append((SizingCap.VENUE_MAX_NOTIONAL, inst.max_notional / entry))
    return caps


def _no_room(cap: SizingCap, position_qty: Decimal) -> str:
    if cap is SizingCap.FREE_BALANCE:
        return "no free balance to size an order with"
    if cap is SizingCap.SPOT_HOLDING:
        return "spot cannot sell short: nothing held to sell"
    if cap is SizingCap.MAX_LEVERAGE:
        return f"max leverage reached (position {position_qty}, or equity is not positive)"
    return f"{cap} reached: position is already {position_qty}"


def _finish(
    inst: Instrument,
    side: Side,
    qty: Decimal,
    entry: Decimal,
    stop: Decimal | None,
    mode: SizingMode,
    capped_by: tuple[SizingCap, ...],
) -> SizedOrder | SizingRefused:
    rounded = inst.round_qty_down(qty)
    sym = inst.symbol
    if rounded <= 0:
        return SizingRefused(
            sym,
            f"LOT_SIZE: size {qty:.8g} rounds down to 0 (step {inst.step_size})"
            + (f"; capped by {', '.join(capped_by)}" if capped_by else ""),
            filter=FilterName.LOT_SIZE,
            cap=capped_by[-1] if capped_by else None,
        )
    if rounded < inst.min_qty:
        return SizingRefused(
            sym,
            f"LOT_SIZE: size {rounded} is below the minimum quantity {inst.min_qty}"
            + (f"; capped by {', '.join(capped_by)}" if capped_by else ""),
            filter=FilterName.LOT_SIZE,
            cap=capped_by[-1] if capped_by else None,
        )
    if rounded * entry < inst.min_notional:
        return SizingRefused(
            sym,
            f"MIN_NOTIONAL: {rounded} x {entry} = {rounded * entry} is below the minimum {inst.min_notional}"
            + (f"; capped by {', '.join(capped_by)}" if capped_by else ""),
            filter=FilterName.MIN_NOTIONAL,
            cap=capped_by[-1] if capped_by else None,
        )
    return SizedOrder(inst, side, rounded, entry, stop, mode, capped_by)


# ---------------------------------------------------------------------- batches


@dataclass(frozen=True, slots=True)
class BalancedBatch:
    orders: tuple[SizedOrder, ...]  # what to send, scaled to fit
    dropped: tuple[SizingRefused, ...]  # scaled below a venue minimum
    scale: Decimal  # the factor applied to every order's notional (1 = untouched)

    @property
    def notional(self) -> Decimal:
        return sum((o.notional for o in self.orders), ZERO)


class Balancer:
    """Scales a batch of buys, each sized on its own against the whole free balance, so that
    together they fit it: every order's quantity by the same factor, rounded down to its step.
    An order that falls below its venue minimum is dropped and the rest are scaled again
    (what it would have used goes to the others), until the batch is stable."""

    def __init__(self, *, reserve: Decimal = Decimal("0.002")) -> None:
        if not ZERO <= reserve < 1:
            raise ValueError(f"balancer reserve must be within [0, 1), got {reserve}")
        self.reserve = reserve

    def balance(self, orders: Sequence[SizedOrder], free_quote: Decimal) -> BalancedBatch:
        if any(o.side is not Side.BUY for o in orders):
            raise ValueError("the balancer scales buys only (sells free balance, they do not use it)")
        quotes = {o.instrument.quote for o in orders}
        if len(quotes) > 1:
            raise ValueError(f"the balancer needs one quote asset per batch, got {', '.join(sorted(quotes))}")
        budget = max(free_quote, ZERO) * (ONE - self.reserve)
        kept = list(orders)
        dropped: list[SizingRefused] = []
        scale = ONE
        while kept:
            total = sum((o.notional for o in kept), ZERO)
            scale = ONE if total <= budget else budget / total
            if scale == ONE:
                return BalancedBatch(tuple(kept), tuple(dropped), ONE)
            scaled: list[SizedOrder] = []
            survivors: list[SizedOrder] = []
            for o in kept:
                done = _finish(o.instrument, o.side, o.qty * scale, o.entry, o.stop, o.mode, o.capped_by)
                if isinstance(done, SizingRefused):
                    dropped.append(dataclasses.replace(done, cap=SizingCap.BALANCER))
                else:
                    scaled.append(dataclasses.replace(done, capped_by=(*o.capped_by, SizingCap.BALANCER)))
                    survivors.append(o)
            if len(survivors) == len(kept):
                return BalancedBatch(tuple(scaled), tuple(dropped), scale)
            kept = survivors  # rescale the rest from their original sizes with the freed budget
        return BalancedBatch((), tuple(dropped), scale)

"""The strategy contract: one interface for live, paper, demo and backtest.

A strategy reads closed candles, external signals or a schedule and emits ``Intent``s - what it
would like to hold and why. It never places orders: the automation host sizes an intent under
the risk manager and hands it to the order manager (live/paper/demo) or to the backtester's
fill model. So the same class, with the same parameters, runs everywhere.

Candle strategies are written as an incremental state machine (``on_candle``) over incremental
indicators; they may also offer ``target_positions`` over whole numpy arrays for the
backtester's fast path, and tests prove the two agree bar for bar.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from terminal.model import Candle, Side, Signal, Venue

__all__ = [
    "CandleSource",
    "EntryKind",
    "InputKind",
    "Intent",
    "IntentAction",
    "ParamError",
    "SizeHint",
    "Skip",
    "Strategy",
    "StrategyContext",
    "StrategyError",
    "check_params",
    "param",
]


_MAX_SKIPS = 1000


class InputKind(StrEnum):
    CANDLES = "candles"  # closed bars of ``Strategy.timeframes()``
    SIGNALS = "signals"  # accepted external signals (MarketRaker, generic webhooks)
    SCHEDULE = "schedule"  # ``on_schedule`` at the times of the ``schedule`` parameter (cron)


class IntentAction(StrEnum):
    OPEN = "open"  # enter (or hold) a position on ``side``: BUY = long, SELL = short
    CLOSE = "close"  # flatten this strategy's position on the symbol


class EntryKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"  # at ``Intent.price``


@dataclass(frozen=True, slots=True)
class SizeHint:
    """An explicit size from the sender (generic webhooks): exactly one of the three.
    ``risk`` is the fraction of equity to lose if the stop is hit (0.01 = 1 %)."""

    qty: Decimal | None = None
    quote: Decimal | None = None
    risk: Decimal | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.qty, self.quote, self.risk) if v is not None]
        if len(given) != 1:
            raise ValueError("a size hint needs exactly one of qty, quote, risk")
        if given[0] <= 0:
            raise ValueError("a size hint must be positive")


@dataclass(frozen=True, slots=True)
class Intent:
    """What a strategy wants. Prices are absolute; the host rounds them to the venue's tick."""

    strategy: str  # registry name of the strategy that emitted it
    symbol: str  # venue symbol, e.g. "SOLUSDT"
    side: Side  # OPEN: direction of the position (BUY = long); CLOSE: side of the closing order
    action: IntentAction = IntentAction.OPEN
    entry: EntryKind = EntryKind.MARKET
    price: Decimal | None = None  # LIMIT entry price; for MARKET the reference price if known
    stop: Decimal | None = None  # stop-loss trigger
    target: Decimal | None = None  # take-profit price
    time_exit_ms: int | None = None  # close the position at this time if still open
    trailing: Decimal | None = None  # trailing stop distance as a fraction (0.02 = 2 %)
    leverage: int | None = None  # suggested leverage (derivatives)
    confidence: float | None = None  # 0..1
    reason: str = ""  # human text: why (shown in the UI and journaled)
    signal_id: str | None = None  # the signal this answers: the correlation id of the chain
    at_ms: int = 0  # when it was decided: bar close time or signal receipt
    size: SizeHint | None = None  # None: the host's sizing mode decides

    def __post_init__(self) -> None:
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"intent confidence must be within 0..1, got {self.confidence}")
        if self.entry is EntryKind.LIMIT and self.price is None:
            raise ValueError("a LIMIT intent needs a price")
        if self.action is IntentAction.OPEN and self.stop is not None and self.price is not None:
            wrong = self.stop >= self.price if self.side is Side.BUY else self.stop <= self.price
            if wrong:
                raise ValueError(
                    f"stop {self.stop} is on the wrong side of entry {self.price} for {self.side}"
                )


@dataclass(frozen=True, slots=True)
class Skip:
    """An input a strategy looked at and chose not to act on, with why (e.g. a MarketRaker
    signal whose price was worse than buy_price, a spot "Short"). The host drains these after
    each hook (``Strategy.drain_skips``), journals them and shows them in the signals dock."""

    strategy: str
    symbol: str
    reason: str
    signal_id: str | None = None
    at_ms: int = 0


class StrategyError(Exception):
    """A strategy failed; the host disarms it and tells the user."""


class ParamError(ValueError):
    """A parameter value is invalid; the message names the parameter."""


def param(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A dataclass field for a strategy parameter, with the text and bounds the UI shows."""
    meta = {"help": help, "min": minimum, "max": maximum, "choices": tuple(choices) if choices else None}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def check_params(params: Any) -> None:
    """Raise ParamError if a field of a ``param``-built dataclass is out of its bounds."""
    for f in fields(params):
        value = getattr(params, f.name)
        lo, hi, choices = f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("choices")
        if lo is not None and value < lo:
            raise ParamError(f"{f.name} must be >= {lo}, got {value}")
        if hi is not None and value > hi:
            raise ParamError(f"{f.name} must be <= {hi}, got {value}")
        if choices and value not in choices:
            raise ParamError(f"{f.name} must be one of {', '.join(map(str, choices))}, got {value}")


class StrategyContext(Protocol):
    """What a strategy may read. The automation host implements it on the live engine, the
    backtester on its own arrays; a strategy must not reach for anything else."""

    venue: Venue
    symbol: str  # the symbol it is armed on (a sweep strategy may emit for others)

    def now_ms(self) -> int: ...

    def last_price(self, symbol: str) -> Decimal | None: ...

    def position(self, symbol: str) -> Decimal:
        """This strategy's signed position on ``symbol`` (base qty; + long, - short)."""
        ...

    def can_short(self, symbol: str) -> bool:
        """True on derivatives; spot can only sell what it holds."""
        ...


@runtime_checkable
class CandleSource(Protocol):
    """Optional extra a context may offer: closed-bar history of any symbol (the MACD daily
    sweep reads symbols it is not armed on). Kept out of ``StrategyContext`` so contexts
    without it still satisfy that protocol; strategies check ``isinstance(ctx, CandleSource)``."""

    def candles(self, symbol: str, interval: str) -> dict[str, np.ndarray]:
        """Closed bars, oldest first: "open", "high", "low", "close", "volume" (float64) and
        "time" (int64 open time, ms) arrays of equal length; empty arrays if none."""
        ...


class Strategy(ABC):
    """Subclasses set the class attributes, define a frozen ``Params`` dataclass whose fields
    are built with ``param`` (every one has a default), and override the ``on_*`` hooks of
    their ``inputs``. Hooks return the intents of this step (usually none or one)."""

    name: ClassVar[str]  # registry key, e.g. "ema_cross"
    title: ClassVar[str]  # shown in the UI
    doc: ClassVar[str]  # one paragraph: what it does, when it enters and exits
    inputs: ClassVar[frozenset[InputKind]]
    Params: ClassVar[type]

    def __init__(self, params: Any, ctx: StrategyContext) -> None:
        check_params(params)
        self.params = params
        self.ctx = ctx
        self._skips: list[Skip] = []

    # -- what it needs
    def timeframes(self) -> tuple[str, ...]:
        """Candle intervals it reads, lowest first (e.g. ("15m", "4h") for LTF/HTF)."""
        return ()

    def warmup_bars(self) -> int:
        """Closed bars of history (per timeframe) it needs before its first decision."""
        return 0

    def schedule(self) -> str | None:
        """A cron expression ("m h dom mon dow", UTC) for ``on_schedule``, or None."""
        return None

    # -- what it reacts to (closed candles only: a forming bar is never passed)
    def on_candle(self, candle: Candle) -> Sequence[Intent]:
        return ()

    def on_signal(self, signal: Signal) -> Sequence[Intent]:
        return ()

    def on_schedule(self, now_ms: int) -> Sequence[Intent]:
        return ()

    # -- why an input was not acted on (the host drains and journals these after each hook)
    def skip(
        self, reason: str, *, symbol: str | None = None, signal_id: str | None = None, at_ms: int = 0
    ) -> None:
        self._skips.append(Skip(self.name, symbol or self.ctx.symbol, reason, signal_id, at_ms))
        if len(self._skips) > _MAX_SKIPS:  # a host that never drains must not grow memory
            del self._skips[: len(self._skips) - _MAX_SKIPS]

    def drain_skips(self) -> list[Skip]:
        out, self._skips = self._skips, []
        return out

    # -- backtester fast path (optional): target position per bar (-1, 0, +1) over arrays of
    # one timeframe, decided at each bar's close; must equal what on_candle decides.
    def target_positions(self, bars: dict[str, np.ndarray]) -> np.ndarray | None:
        return None

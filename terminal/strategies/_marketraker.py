"""What both MarketRaker strategies share: reading the typed indicator behind a signal,
answering each signal at most once, and the checks every entry needs.

One intent per signal at most, per strategy: a signal id is remembered whether it led to an
intent or to a skip, so a re-delivery (or the host calling twice) decides nothing new. Two
strategies armed on one symbol each may answer the same signal; their intents carry the
signal's id and the host opens at most one position per signal id (the first accepted).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from terminal.model import Side, Signal
from terminal.signals.indicator import MarketRakerIndicator, indicator_of
from terminal.strategies._common import SeenIds
from terminal.strategies.base import InputKind, Intent, Strategy, StrategyContext

HUNDRED = Decimal(100)


class MarketRakerStrategy(Strategy):
    inputs = frozenset({InputKind.SIGNALS})

    def __init__(self, params: Any, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._seen = SeenIds()

    def on_signal(self, signal: Signal) -> Sequence[Intent]:
        if signal.symbol != self.ctx.symbol:
            return ()  # armed on another symbol: not ours to judge
        indicator = indicator_of(signal)
        if indicator is None:
            return ()  # not a MarketRaker signal
        now = self.ctx.now_ms()
        if not self._seen.add(signal.id):
            self.skip("signal already handled", signal_id=signal.id, at_ms=now)
            return ()
        decision = self.decide(indicator, signal, now)
        if isinstance(decision, str):
            self.skip(decision, signal_id=signal.id, at_ms=now)
            return ()
        return (decision,)

    @abstractmethod
    def decide(self, ind: MarketRakerIndicator, signal: Signal, now_ms: int) -> Intent | str:
        """The intent for this signal, or why there is none."""

    # -- checks shared by both
    def entry_checks(self, side: Side, risk: int) -> str | None:
        if risk > self.params.max_risk:
            return f"risk {risk} is above max_risk {self.params.max_risk}"
        if side is Side.SELL and not self.ctx.can_short(self.ctx.symbol):
            return "a Short signal on spot: this venue cannot short, so nothing is entered"
        return None

    def leverage(self, suggested: int | None) -> int | None:
        """The signal's leverage capped by ``max_leverage``; None on spot (no leverage)."""
        if not self.ctx.can_short(self.ctx.symbol):
            return None
        return max(1, min(suggested or 1, self.params.max_leverage))


def stop_problem(side: Side, entry: Decimal, stop: Decimal) -> str | None:
    ok = stop < entry if side is Side.BUY else stop > entry
    return None if ok else f"stop {stop} is not {'below' if side is Side.BUY else 'above'} entry {entry}"


def target_problem(side: Side, entry: Decimal, target: Decimal) -> str | None:
    ok = target > entry if side is Side.BUY else target < entry
    return None if ok else f"target {target} is not {'above' if side is Side.BUY else 'below'} entry {entry}"

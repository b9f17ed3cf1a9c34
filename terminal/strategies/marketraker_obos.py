"""MarketRaker overbought/oversold on the 24-hour horizon (MARKETRAKER.md).

Reads percentage_change_24h against ±``threshold`` (5 %). Two modes, because MarketRaker's
README and code disagree: ``contrarian`` (default, the README) fades the move - Bull and above
+threshold -> short, Bear and below -threshold -> long; ``follow`` (the code) trades with it.
Enters at market; uses the 24 h fields: leverage_24h (else leverage), risk_24h (else risk) and
stoploss_24h when it lies on the protective side of the entry (a stop for the predicted side is
on the wrong side for a fade), else ``default_stop_pct``. Target: in follow mode the predicted
24 h move from entry; in contrarian mode ``target_pct`` from entry. Time exit: buy_date +
``horizon_hours``.

Armed together with momentum on one symbol, both may answer the same signal; the host opens at
most one position per signal id (whichever intent it accepts first), and each strategy answers a
signal at most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from terminal.model import Side, Signal
from terminal.signals.indicator import Direction, MarketRakerIndicator
from terminal.strategies._common import pct_away
from terminal.strategies._marketraker import (
    HUNDRED,
    MarketRakerStrategy,
    stop_problem,
    target_problem,
)
from terminal.strategies.base import EntryKind, Intent, ParamError, param


class ObosMode(StrEnum):
    CONTRARIAN = "contrarian"
    FOLLOW = "follow"


@dataclass(frozen=True, slots=True)
class ObosParams:
    threshold: float = param(
        5.0, "|percentage_change_24h| in % that counts as overbought/oversold", minimum=0.0, maximum=100.0
    )
    mode: ObosMode = param(  # noqa: RUF009 - param() returns a dataclasses.field
        ObosMode.CONTRARIAN,
        "contrarian: fade the 24 h move (README); follow: trade with it (reference code)",
        choices=list(ObosMode),
    )
    target_pct: float = param(3.0, "Contrarian target distance in % from entry", minimum=0.1, maximum=50.0)
    default_stop_pct: float = param(
        3.0, "Stop distance in % when stoploss_24h is absent or unusable", minimum=0.1, maximum=50.0
    )
    max_leverage: int = param(3, "Cap on the suggested leverage (derivatives)", minimum=1, maximum=125)
    max_risk: int = param(
        10, "Skip signals whose 24 h risk (1 low .. 10 high) is above this", minimum=1, maximum=10
    )
    horizon_hours: float = param(
        24.0, "Close this long after buy_date if still open (0 = no time exit)", minimum=0.0, maximum=720.0
    )

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", ObosMode(self.mode))
        except ValueError:
            raise ParamError(f"mode must be one of {', '.join(ObosMode)}, got {self.mode!r}") from None


class MarketRakerObos(MarketRakerStrategy):
    name = "marketraker_obos"
    title = "MarketRaker overbought/oversold (24 h)"
    doc = (
        "Acts on MarketRaker's 24-hour prediction when it is extreme (beyond ±5 %): by default "
        "fades it (short an overbought Bull, buy an oversold Bear), or follows it. Uses the 24 h "
        "leverage and stop; exits at the stop, the target or after the 24 h horizon."
    )
    Params = ObosParams
    params: ObosParams

    def decide(self, ind: MarketRakerIndicator, signal: Signal, now_ms: int) -> Intent | str:
        p = self.params
        pct = ind.percentage_change_24h
        if pct is None:
            return "the signal has no percentage_change_24h"
        th = Decimal(repr(p.threshold))
        follow = p.mode is ObosMode.FOLLOW
        if ind.market_direction is Direction.BULL and pct > th:
            side = Side.BUY if follow else Side.SELL
        elif ind.market_direction is Direction.BEAR and pct < -th:
            side = Side.SELL if follow else Side.BUY
        else:
            return f"{ind.market_direction.value} with percentage_change_24h {pct}% is not beyond ±{p.threshold}%"
        risk = ind.risk_24h if ind.risk_24h is not None else ind.risk
        problem = self.entry_checks(side, risk)
        if problem:
            return problem
        entry = self.ctx.last_price(self.ctx.symbol)
        if entry is None:
            return "no current price for the symbol"
        stop = ind.stoploss_24h
        stop_note = "stoploss_24h"
        if stop is None or stop_problem(side, entry, stop):
            stop = pct_away(entry, side.sign, p.default_stop_pct)
            stop_note = f"{p.default_stop_pct}% stop" + (
                "" if ind.stoploss_24h is None else f" (stoploss_24h {ind.stoploss_24h} is on the wrong side)"
            )
        if follow:
            target = entry * (1 + pct / HUNDRED)
        else:
            target = pct_away(entry, side.sign, -p.target_pct)
        problem = target_problem(side, entry, target)
        if problem:
            return problem
        time_exit = None
        if p.horizon_hours > 0:
            time_exit = ind.buy_date * 1000 + int(p.horizon_hours * 3_600_000)
            if time_exit <= now_ms:
                return f"the {p.horizon_hours:g} h horizon after buy_date is already over"
        lev = ind.leverage_24h if ind.leverage_24h is not None else ind.leverage
        return Intent(
            strategy=self.name,
            symbol=self.ctx.symbol,
            side=side,
            entry=EntryKind.MARKET,
            price=entry,
            stop=stop,
            target=target,
            time_exit_ms=time_exit,
            leverage=self.leverage(lev),
            # risk 1 (low) .. 10 (high) as Signal.confidence; risk_24h is not range-checked upstream
            confidence=min(1.0, max(0.0, (11 - risk) / 10)),
            reason=(
                f"MarketRaker 24 h {p.mode.value}: {ind.market_direction.value} {pct:+}% beyond ±{p.threshold}%, "
                f"{side.value} at {entry}, {stop_note}"
            ),
            signal_id=signal.id,
            at_ms=now_ms,
        )

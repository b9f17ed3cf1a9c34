"""MarketRaker momentum (MARKETRAKER.md, "Reference strategies"), configurable and without the
reference integration's gaps.

Long if market_direction is Bull and percentage_change > threshold; Short if Bear and
percentage_change < -threshold. Enter at market only if the current price is at or better than
buy_price (<= for a long, >= for a short; ``entry_tolerance_pct`` allows a little worse), or,
with ``limit_if_worse``, rest a LIMIT at buy_price instead of skipping. Stop = the signal's
stoploss (or ``default_stop_pct`` from entry when it is null), target = sell_price, time exit =
sell_prediction_date. A "Short" on spot is not entered (nothing to sell): a skip says so.
Sizing is the host's (risk manager), never 1/leverage units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from terminal.model import Side, Signal
from terminal.signals.indicator import Direction, MarketRakerIndicator
from terminal.strategies._common import pct_away
from terminal.strategies._marketraker import (
    HUNDRED,
    MarketRakerStrategy,
    stop_problem,
    target_problem,
)
from terminal.strategies.base import EntryKind, Intent, param


@dataclass(frozen=True, slots=True)
class MomentumParams:
    threshold: float = param(2.0, "Minimum |percentage_change| in % to act", minimum=0.0, maximum=100.0)
    entry_tolerance_pct: float = param(
        0.0, "Accept a price this % worse than buy_price", minimum=0.0, maximum=10.0
    )
    limit_if_worse: bool = param(
        False, "Price worse than buy_price: rest a LIMIT at buy_price instead of skipping"
    )
    default_stop_pct: float = param(
        3.0, "Stop distance in % when the signal has no stoploss", minimum=0.1, maximum=50.0
    )
    max_leverage: int = param(
        3, "Cap on the signal's suggested leverage (derivatives)", minimum=1, maximum=125
    )
    max_risk: int = param(
        10, "Skip signals whose risk (1 low .. 10 high) is above this", minimum=1, maximum=10
    )
    require_side_agreement: bool = param(True, "Skip when trading_type disagrees with market_direction")
    use_time_exit: bool = param(True, "Close at sell_prediction_date if still open")


class MarketRakerMomentum(MarketRakerStrategy):
    name = "marketraker_momentum"
    title = "MarketRaker momentum"
    doc = (
        "Follows MarketRaker indicators with a strong predicted move: long on Bull with "
        "percentage_change above the threshold, short on Bear below minus the threshold, only "
        "when the price is at or better than buy_price. Exits at the signal's stoploss, its "
        "sell_price target or its sell_prediction_date."
    )
    Params = MomentumParams
    params: MomentumParams

    def decide(self, ind: MarketRakerIndicator, signal: Signal, now_ms: int) -> Intent | str:
        p = self.params
        th = Decimal(repr(p.threshold))
        pct = ind.percentage_change
        if ind.market_direction is Direction.BULL and pct > th:
            side = Side.BUY
        elif ind.market_direction is Direction.BEAR and pct < -th:
            side = Side.SELL
        else:
            return f"{ind.market_direction.value} with percentage_change {pct}% is not beyond ±{p.threshold}%"
        if p.require_side_agreement and ind.side is not side:
            return f"trading_type {ind.trading_type.value} disagrees with {ind.market_direction.value} {pct}%"
        problem = self.entry_checks(side, ind.risk)
        if problem:
            return problem
        price = self.ctx.last_price(self.ctx.symbol)
        if price is None:
            return "no current price for the symbol"
        tol = Decimal(repr(p.entry_tolerance_pct)) / HUNDRED
        worst = ind.buy_price * (1 + side.sign * tol)
        at_or_better = price <= worst if side is Side.BUY else price >= worst
        if at_or_better:
            entry, kind = price, EntryKind.MARKET
        elif p.limit_if_worse:
            entry, kind = ind.buy_price, EntryKind.LIMIT
        else:
            word = "above" if side is Side.BUY else "below"
            return f"price {price} is {word} buy_price {ind.buy_price} (tolerance {p.entry_tolerance_pct}%)"
        stop = ind.stoploss if ind.stoploss is not None else pct_away(entry, side.sign, p.default_stop_pct)
        problem = stop_problem(side, entry, stop) or target_problem(side, entry, ind.sell_price)
        if problem:
            return problem
        time_exit = ind.sell_prediction_date * 1000 if p.use_time_exit else None
        if time_exit is not None and time_exit <= now_ms:
            return "sell_prediction_date has already passed"
        return Intent(
            strategy=self.name,
            symbol=self.ctx.symbol,
            side=side,
            entry=kind,
            price=entry,
            stop=stop,
            target=ind.sell_price,
            time_exit_ms=time_exit,
            leverage=self.leverage(ind.leverage),
            confidence=signal.confidence,
            reason=(
                f"MarketRaker momentum: {ind.market_direction.value} {pct:+}% beyond ±{p.threshold}%, "
                f"{kind.value} at {entry} (buy_price {ind.buy_price})"
                + ("" if ind.stoploss is not None else f", stop {p.default_stop_pct}% (signal has none)")
            ),
            signal_id=signal.id,
            at_ms=now_ms,
        )

"""The event loop: strategies' ``on_candle`` (and ``on_schedule``) bar by bar, with a fill model.

Fill rules (the simulator's matching, on bars):

* Strategies see a bar only once it has closed; what they decide at bar i's close is acted on
  from bar i+1 (never at a price they could not have traded at).
* MARKET (entries, CLOSE intents, time exits) fill at the next bar's open, moved
  ``slippage_bps`` against the order; taker fee on the notional.
* LIMIT entries rest (good till replaced or cancelled by a CLOSE) and fill on a later bar that
  trades THROUGH the price (buy: low < price; sell: high > price), at the price or at the open
  if the bar opens beyond it; maker fee. Touching the price is not enough (queue position
  unknown).
* Stops and targets of an open position are checked on each bar's high/low from the bar its
  entry filled at the open (a limit entry filled inside a bar: from the next bar). A stop
  triggers when the bar touches it and fills at the stop, or at the open if the bar gapped past
  it, minus slippage, taker fee; a target fills like a limit order (through, maker fee).
  A bar that reaches both the stop and the target counts as the STOP (the intrabar path is
  unknown: the conservative assumption). Trailing stops ratchet at each close from the best
  high/low since entry, so a bar cannot trail and trigger on its own extreme.
* An OPEN on the side already held is ignored; an OPEN against the position closes it and
  opens the new one at the same fill. Spot cannot go short: such intents are rejected.
* Futures pay funding at every ``funding_interval_ms`` (UTC epoch multiples): position held
  into that time x the bar's open x ``funding_rate`` (longs pay a positive rate).
* Equity = cash + position x close, marked at each close (no margin or liquidation model).
* Several symbols share one cash balance; bars of different symbols at the same time are
  processed symbol by symbol, and a strategy's HTF bar is delivered before the LTF bar that
  closes with it (both closed at that moment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from terminal.backtest.config import BacktestConfig
from terminal.backtest.data import Bars, resample
from terminal.backtest.result import ExitReason, Trade, TradeTable
from terminal.model import Candle, Side, Venue
from terminal.strategies.base import EntryKind, Intent, IntentAction, Strategy
from terminal.trading.scheduler import next_fire

__all__ = ["EventLoop", "LoopOutput"]

_NEG_INF = float("-inf")
_POS_INF = float("inf")


@dataclass(slots=True)
class _Order:
    action: IntentAction
    sign: int  # position direction to open (OPEN); unused for CLOSE
    entry: EntryKind
    price: float  # LIMIT price; 0 for MARKET
    qty: float
    stop: float | None
    target: float | None
    trailing: float | None
    time_exit_ms: int | None


@dataclass(slots=True)
class _Position:
    sign: int
    qty: float
    entry_time: int
    entry_price: float
    fees: float
    funding: float = 0.0
    stop: float | None = None
    target: float | None = None
    trailing: float | None = None
    time_exit_ms: int | None = None
    extreme: float = 0.0  # best price since entry (trailing)
    active_from: int = 0  # bar index from which the brackets are checked


@dataclass(slots=True)
class _Sym:
    bars: Bars
    o: list[float]
    h: list[float]
    lo: list[float]
    c: list[float]
    v: list[float]
    t: list[int]
    i: int = -1  # index of the bar being processed (-1: none yet)
    pending: list[_Order] = field(default_factory=list)
    pos: _Position | None = None
    htf: dict[str, tuple[Bars, int]] = field(default_factory=dict)  # interval -> (bars, delivered)


@dataclass(frozen=True, slots=True)
class LoopOutput:
    time: np.ndarray
    equity: np.ndarray
    gross: np.ndarray  # gross position notional at each close
    trades: TradeTable
    fills: int
    fees: float
    funding: float
    rejected: int


class EventLoop:
    """Run ``strategies`` (one per armed symbol; built by ``make(state)``) over ``bars`` (one
    execution-interval ``Bars`` per symbol)."""

    def __init__(
        self,
        bars: Mapping[str, Bars],
        config: BacktestConfig,
        venue: Venue,
    ) -> None:
        self.config = config
        self.venue = venue
        self.syms = {
            s: _Sym(b, *(a.tolist() for a in (b.open, b.high, b.low, b.close, b.volume, b.time)))
            for s, b in bars.items()
        }
        self.cash = config.initial_cash
        self._now = 0
        self._trades: list[Trade] = []
        self._fills = 0
        self._fees = 0.0
        self._funding = 0.0
        self.rejected = 0
        self._resampled: dict[tuple[str, str], Bars] = {}

    # -- MarketState (what the strategies' context reads)
    def now(self) -> int:
        return self._now

    def price(self, symbol: str) -> float | None:
        s = self.syms.get(symbol)
        return None if s is None or s.i < 0 else s.c[s.i]

    def qty(self, symbol: str) -> float:
        s = self.syms.get(symbol)
        return 0.0 if s is None or s.pos is None else s.pos.sign * s.pos.qty

    def history(self, symbol: str, interval: str) -> dict[str, np.ndarray]:
        s = self.syms.get(symbol)
        if s is None or s.i < 0:
            return _empty()
        bars = self._interval_bars(symbol, interval)
        if bars is None:
            return _empty()
        # closed by now: bars whose close time (open + length - 1) is before the current time
        n = int(np.searchsorted(bars.time + bars.interval_ms - 1, self._now, "right"))
        return bars.take(slice(0, n)).arrays()

    def _interval_bars(self, symbol: str, interval: str) -> Bars | None:
        base = self.syms[symbol].bars
        if interval == base.interval:
            return base
        key = (symbol, interval)
        if key not in self._resampled:
            try:
                self._resampled[key] = resample(base, interval)
            except ValueError:
                return None  # finer than the data: not available
        return self._resampled[key]

    # -- running
    def run(self, strategies: Sequence[Strategy]) -> LoopOutput:
        for strat in strategies:
            sym = self.syms[strat.ctx.symbol]
            for interval in strat.timeframes()[1:]:
                bars = self._interval_bars(strat.ctx.symbol, interval)
                if bars is not None:
                    sym.htf[interval] = (bars, 0)
        schedules = [(s, s.schedule()) for s in strategies if s.schedule()]
        timeline = np.unique(np.concatenate([s.bars.time for s in self.syms.values()]))
        present = {name: set() for name in self.syms} if len(self.syms) > 1 else None
        if present is not None:
            for name, s in self.syms.items():
                present[name] = set(s.t)
        fires = (
            {id(s): next_fire(expr, int(timeline[0]) - 1) for s, expr in schedules} if len(timeline) else {}
        )
        n = len(timeline)
        equity = np.empty(n)
        gross = np.empty(n)
        by_symbol: dict[str, list[Strategy]] = {}
        for strat in strategies:
            by_symbol.setdefault(strat.ctx.symbol, []).append(strat)
        for k, t in enumerate(timeline.tolist()):
            stepped: list[_Sym] = []
            for name, s in self.syms.items():
                if present is not None and t not in present[name]:
                    continue
                s.i += 1
                self._bar(name, s)
                stepped.append(s)
            value, exposure = self.cash, 0.0
            for s in self.syms.values():
                if s.pos is not None and s.i >= 0:
                    px = s.c[s.i]
                    value += s.pos.sign * s.pos.qty * px
                    exposure += s.pos.qty * px
            equity[k] = value
            gross[k] = exposure
            for s in stepped:
                close_time = s.t[s.i] + s.bars.interval_ms - 1
                self._now = close_time
                for strat in by_symbol.get(s.bars.symbol, ()):
                    self._deliver(strat, s, close_time)
            for strat, expr in schedules:
                end = t + next(iter(self.syms.values())).bars.interval_ms - 1
                while fires[id(strat)] <= end:
                    self._now = fires[id(strat)]
                    self._take(strat, strat.on_schedule(self._now))
                    fires[id(strat)] = next_fire(expr, self._now)
        for name, s in self.syms.items():
            if s.pos is not None:  # still open: report it marked at the last close
                self._record(name, s, s.c[s.i], s.t[s.i], 0.0, ExitReason.OPEN)
        self._trades.sort(key=lambda tr: tr.entry_time)
        return LoopOutput(
            timeline,
            equity,
            gross,
            TradeTable.from_records(self._trades),
            self._fills,
            self._fees,
            self._funding,
            self.rejected,
        )

    def _deliver(self, strat: Strategy, s: _Sym, close_time: int) -> None:
        for interval, (bars, done) in list(s.htf.items()):
            while done < len(bars) and int(bars.time[done]) + bars.interval_ms - 1 <= close_time:
                self._take(strat, strat.on_candle(_candle(self.venue, bars, done)))
                done += 1
            s.htf[interval] = (bars, done)
        i, t = s.i, s.t[s.i]
        candle = Candle(
            self.venue,
            s.bars.symbol,
            s.bars.interval,
            t,
            close_time,
            s.o[i],
            s.h[i],
            s.lo[i],
            s.c[i],
            s.v[i],
            closed=True,
        )
        self._take(strat, strat.on_candle(candle))

    # -- intents -> orders
    def _take(self, strat: Strategy, intents: Sequence[Intent]) -> None:
        strat.drain_skips()  # a backtest has no journal to show them in
        for intent in intents:
            s = self.syms.get(intent.symbol)
            if s is None:
                self.rejected += 1  # no data for that symbol
                continue
            if intent.action is IntentAction.CLOSE:
                s.pending = [o for o in s.pending if o.action is not IntentAction.OPEN]
                s.pending.append(
                    _Order(IntentAction.CLOSE, 0, EntryKind.MARKET, 0.0, 0.0, None, None, None, None)
                )
                continue
            sign = intent.side.sign
            if sign < 0 and not self.config.can_short:
                self.rejected += 1
                continue
            qty = self._size(intent, s)
            if qty is None:
                self.rejected += 1
                continue
            s.pending = [o for o in s.pending if o.action is not IntentAction.OPEN]
            s.pending.append(
                _Order(
                    IntentAction.OPEN,
                    sign,
                    intent.entry,
                    float(intent.price)
                    if intent.entry is EntryKind.LIMIT and intent.price is not None
                    else 0.0,
                    qty,
                    None if intent.stop is None else float(intent.stop),
                    None if intent.target is None else float(intent.target),
                    None if intent.trailing is None else float(intent.trailing),
                    intent.time_exit_ms,
                )
            )

    def _size(self, intent: Intent, s: _Sym) -> float | None:
        hint = intent.size
        if hint is None:
            return self.config.qty
        ref = float(intent.price) if intent.price is not None else (s.c[s.i] if s.i >= 0 else None)
        if hint.qty is not None:
            return float(hint.qty)
        if ref is None or ref <= 0:
            return None
        if hint.quote is not None:
            return float(hint.quote) / ref
        if intent.stop is None or float(intent.stop) == ref:
            return None  # risk sizing needs a stop distance
        equity = self.cash + sum(
            x.pos.sign * x.pos.qty * x.c[x.i] for x in self.syms.values() if x.pos and x.i >= 0
        )
        return max(equity, 0.0) * float(hint.risk or 0) / abs(ref - float(intent.stop))

    # -- one bar of one symbol: funding, orders, brackets
    def _bar(self, name: str, s: _Sym) -> None:
        i = s.i
        o, h, lo, t = s.o[i], s.h[i], s.lo[i], s.t[i]
        cfg = self.config
        if s.pos is not None and cfg.funded and i > 0:
            count = t // cfg.funding_interval_ms - s.t[i - 1] // cfg.funding_interval_ms
            if count:
                paid = s.pos.sign * s.pos.qty * o * cfg.funding_rate * count
                self.cash -= paid
                self._funding += paid
                s.pos.funding += paid
        if s.pos is not None and s.pos.time_exit_ms is not None and t >= s.pos.time_exit_ms:
            self._close(name, s, self._market(o, -s.pos.sign), t, cfg.taker, ExitReason.TIME)
        if s.pending:
            keep: list[_Order] = []
            for order in s.pending:
                if not self._try(name, s, order, o, h, lo, t, i):
                    keep.append(order)
            s.pending = keep
        pos = s.pos
        if pos is None or pos.active_from > i:
            return
        if pos.sign > 0:
            if pos.stop is not None and lo <= pos.stop:
                self._close(name, s, min(o, pos.stop) * (1 - cfg.slippage), t, cfg.taker, ExitReason.STOP)
            elif pos.target is not None and h > pos.target:
                self._close(name, s, max(o, pos.target), t, cfg.maker, ExitReason.TARGET)
            elif pos.trailing is not None:
                pos.extreme = max(pos.extreme, h)
                pos.stop = max(
                    pos.stop if pos.stop is not None else _NEG_INF, pos.extreme * (1 - pos.trailing)
                )
        else:
            if pos.stop is not None and h >= pos.stop:
                self._close(name, s, max(o, pos.stop) * (1 + cfg.slippage), t, cfg.taker, ExitReason.STOP)
            elif pos.target is not None and lo < pos.target:
                self._close(name, s, min(o, pos.target), t, cfg.maker, ExitReason.TARGET)
            elif pos.trailing is not None:
                pos.extreme = min(pos.extreme, lo)
                pos.stop = min(
                    pos.stop if pos.stop is not None else _POS_INF, pos.extreme * (1 + pos.trailing)
                )

    def _market(self, open_: float, sign: int) -> float:
        return open_ * (1 + self.config.slippage * sign)

    def _try(self, name: str, s: _Sym, order: _Order, o: float, h: float, lo: float, t: int, i: int) -> bool:
        """Fill ``order`` on this bar if it can; True when it is done (filled or moot)."""
        cfg = self.config
        if order.action is IntentAction.CLOSE:
            if s.pos is not None:
                self._close(name, s, self._market(o, -s.pos.sign), t, cfg.taker, ExitReason.SIGNAL)
            return True
        if s.pos is not None and s.pos.sign == order.sign:
            return True  # already holding that side
        if order.entry is EntryKind.MARKET:
            price, fee, active = self._market(o, order.sign), cfg.taker, i
        elif order.sign > 0 and lo < order.price:
            price, fee, active = min(o, order.price), cfg.maker, i if o <= order.price else i + 1
        elif order.sign < 0 and h > order.price:
            price, fee, active = max(o, order.price), cfg.maker, i if o >= order.price else i + 1
        else:
            return False
        if s.pos is not None:  # a reversal: out of the old one at the same fill
            self._close(name, s, price, t, fee, ExitReason.SIGNAL)
        cost = order.qty * price * fee
        self.cash -= order.sign * order.qty * price + cost
        self._fees += cost
        self._fills += 1
        s.pos = _Position(
            order.sign,
            order.qty,
            t,
            price,
            cost,
            stop=order.stop,
            target=order.target,
            trailing=order.trailing,
            time_exit_ms=order.time_exit_ms,
            extreme=price,
            active_from=active,
        )
        return True

    def _close(self, name: str, s: _Sym, price: float, t: int, fee_rate: float, reason: ExitReason) -> None:
        pos = s.pos
        assert pos is not None
        cost = pos.qty * price * fee_rate
        self.cash += pos.sign * pos.qty * price - cost
        self._fees += cost
        self._fills += 1
        self._record(name, s, price, t, cost, reason)
        s.pos = None

    def _record(self, name: str, s: _Sym, price: float, t: int, exit_fee: float, reason: ExitReason) -> None:
        pos = s.pos
        assert pos is not None
        fees = pos.fees + exit_fee
        pnl = pos.sign * pos.qty * (price - pos.entry_price) - fees - pos.funding
        side = Side.BUY if pos.sign > 0 else Side.SELL
        self._trades.append(
            Trade(
                name, side, pos.qty, pos.entry_time, pos.entry_price, t, price, fees, pos.funding, pnl, reason
            )
        )


def _candle(venue: Venue, bars: Bars, i: int) -> Candle:
    t = int(bars.time[i])
    return Candle(
        venue=venue,
        symbol=bars.symbol,
        interval=bars.interval,
        open_time=t,
        close_time=t + bars.interval_ms - 1,
        open=float(bars.open[i]),
        high=float(bars.high[i]),
        low=float(bars.low[i]),
        close=float(bars.close[i]),
        volume=float(bars.volume[i]),
        closed=True,
    )


def _empty() -> dict[str, np.ndarray]:
    return {k: np.empty(0) for k in ("open", "high", "low", "close", "volume")} | {
        "time": np.empty(0, np.int64)
    }

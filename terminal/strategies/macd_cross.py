"""MACD crossover, on candles or as a scheduled sweep over a symbol list.

Candle mode (``schedule`` empty): the side follows the sign of the histogram (MACD line minus
signal line), a tie keeping the previous sign - but nothing is entered until the first actual
cross is seen (a line already above its signal when the strategy starts is not a cross). From
then on: line above signal -> long; below -> flat, or short where allowed.

Sweep mode (``schedule`` = a cron expression, e.g. "0 0 * * *" for a daily sweep at 00:00 UTC):
at each run, for every symbol of ``symbols`` (or the armed one), the same rule over that
symbol's closed ``timeframe`` bars (read through the context's ``candles``) gives the wanted
side; intents move this strategy's position there (BUY where it wants long and holds nothing,
CLOSE where it holds and no longer wants to). The host sizes the batch of BUYs together, its
balancer scaling them to the free quote balance. Comparing with the held position (rather than
acting only on a cross on the last bar) makes a missed run harmless.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from terminal.indicators import macd
from terminal.indicators.incremental import Macd
from terminal.model import Candle, Side
from terminal.strategies._common import check_timeframe, dec, ffill_nonzero, pct_away
from terminal.strategies._target import TargetStrategy, clamp_shorts
from terminal.strategies.base import (
    CandleSource,
    EntryKind,
    InputKind,
    Intent,
    IntentAction,
    ParamError,
    StrategyContext,
    StrategyError,
    param,
)

_CRON_FIELD = re.compile(r"^[0-9*,/\-]+$")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


@dataclass(frozen=True, slots=True)
class MacdCrossParams:
    timeframe: str = param("1h", "Candle interval (in sweep mode: the bars each symbol is judged on)")
    fast: int = param(12, "Fast EMA period", minimum=1, maximum=1000)
    slow: int = param(26, "Slow EMA period (must exceed fast)", minimum=2, maximum=5000)
    signal: int = param(9, "Signal line EMA period", minimum=1, maximum=1000)
    allow_short: bool = param(False, "Go short on a bearish cross (derivatives only)")
    stop_pct: float = param(
        0.0, "Protective stop distance in % of entry (0 = none)", minimum=0.0, maximum=50.0
    )
    schedule: str = param("", "Cron 'm h dom mon dow' (UTC) for a sweep; empty = trade each closed bar")
    symbols: tuple[str, ...] = param((), "Sweep symbols, comma separated (empty = the armed symbol)")

    def __post_init__(self) -> None:
        check_timeframe("timeframe", self.timeframe)
        if self.fast >= self.slow:
            raise ParamError(f"fast must be below slow, got fast={self.fast} slow={self.slow}")
        if self.schedule:
            parts = self.schedule.split()
            if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
                raise ParamError(
                    f"schedule must be a cron expression 'm h dom mon dow', got {self.schedule!r}"
                )
        symbols = tuple(s.strip().upper() if isinstance(s, str) else s for s in self.symbols)
        object.__setattr__(self, "symbols", symbols)
        for s in symbols:
            if not isinstance(s, str) or not _SYMBOL.match(s):
                raise ParamError(f"symbols: {s!r} is not a venue symbol like BTCUSDT")


def macd_targets(close: np.ndarray, p: MacdCrossParams, shorts: bool) -> np.ndarray:
    hist = macd(close, p.fast, p.slow, p.signal).hist
    sign = ffill_nonzero(np.sign(np.nan_to_num(hist, nan=0.0)).astype(np.int8))
    crossed = (sign[1:] != sign[:-1]) & (sign[:-1] != 0)
    first = np.flatnonzero(crossed)
    out = np.zeros(len(close), dtype=np.int8)
    if len(first):
        start = first[0] + 1
        out[start:] = sign[start:]
    return clamp_shorts(out, shorts)


class MacdCross(TargetStrategy):
    name = "macd_cross"
    title = "MACD crossover"
    doc = (
        "Long after the MACD line crosses above its signal line, flat (or short on derivatives) "
        "after it crosses below. Optionally runs on a schedule instead, e.g. a daily sweep over a "
        "symbol list, buying the bullish ones (the host scales the batch to the free balance) and "
        "closing the bearish ones it holds."
    )
    inputs = frozenset({InputKind.CANDLES, InputKind.SCHEDULE})
    Params = MacdCrossParams
    params: MacdCrossParams

    def __init__(self, params: MacdCrossParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._macd = Macd(params.fast, params.slow, params.signal)
        self._sign = 0  # last non-tie sign of the histogram
        self._crossed = False

    # -- mode: the host feeds candles when timeframes() is non-empty, schedules when schedule() is set
    def timeframes(self) -> tuple[str, ...]:
        return () if self.params.schedule else (self.params.timeframe,)

    def schedule(self) -> str | None:
        return self.params.schedule or None

    def warmup_bars(self) -> int:
        return self.params.slow + self.params.signal

    # -- candle mode
    def decide(self, candle: Candle) -> tuple[int, str]:
        m = self._macd
        m.update(candle.close)
        if math.isnan(m.hist):
            return 0, "warming up"
        sign = 1 if m.hist > 0 else -1 if m.hist < 0 else self._sign
        if sign != self._sign and self._sign != 0:
            self._crossed = True
        self._sign = sign
        want = sign if self._crossed else 0
        if want < 0 and not self.shorts_allowed():
            want = 0
        return want, f"MACD {m.line:.6g} vs signal {m.signal:.6g} (hist {m.hist:+.6g})"

    def targets(self, bars: dict[str, np.ndarray]) -> np.ndarray:
        close = np.asarray(bars["close"], dtype=np.float64)
        return macd_targets(close, self.params, self.shorts_allowed())

    # -- sweep mode
    def on_schedule(self, now_ms: int) -> Sequence[Intent]:
        if not self.params.schedule:
            return ()
        source = self.ctx
        if not isinstance(source, CandleSource):
            raise StrategyError("the MACD sweep needs a host that provides candles(symbol, interval)")
        out: list[Intent] = []
        for symbol in self.params.symbols or (self.ctx.symbol,):
            out.extend(self._sweep_one(source, symbol, now_ms))
        return out

    def _sweep_one(self, source: CandleSource, symbol: str, now_ms: int) -> list[Intent]:
        bars = source.candles(symbol, self.params.timeframe)
        close = np.asarray(bars.get("close", ()), dtype=np.float64)
        if len(close) < self.warmup_bars() + 1:
            self.skip(
                f"{len(close)} {self.params.timeframe} bars, need {self.warmup_bars() + 1}",
                symbol=symbol,
                at_ms=now_ms,
            )
            return []
        shorts = self.params.allow_short and self.ctx.can_short(symbol)
        want = int(macd_targets(close, self.params, shorts)[-1])
        pos = self.ctx.position(symbol)
        have = 1 if pos > 0 else -1 if pos < 0 else 0
        if want == have:
            return []
        last = self.ctx.last_price(symbol)
        price = last if last is not None else dec(close[-1])
        reason = f"MACD sweep {self.params.timeframe}: wants {('flat', 'long', 'short')[want]}"
        out: list[Intent] = []
        if have != 0:
            side = Side.SELL if have > 0 else Side.BUY
            out.append(self._intent(symbol, side, IntentAction.CLOSE, price, reason, now_ms))
        if want != 0:
            side = Side.BUY if want > 0 else Side.SELL
            out.append(self._intent(symbol, side, IntentAction.OPEN, price, reason, now_ms))
        return out

    def _intent(
        self, symbol: str, side: Side, action: IntentAction, price: Decimal, reason: str, now_ms: int
    ) -> Intent:
        stop = None
        if action is IntentAction.OPEN and self.params.stop_pct > 0:
            stop = pct_away(price, side.sign, self.params.stop_pct)
        return Intent(
            strategy=self.name,
            symbol=symbol,
            side=side,
            action=action,
            entry=EntryKind.MARKET,
            price=price,
            stop=stop,
            reason=reason,
            at_ms=now_ms,
        )

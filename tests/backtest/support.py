"""Constructed bars and a scripted strategy (a real ``Strategy`` subclass) for fill-rule tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from terminal.backtest import BacktestConfig, Bars
from terminal.backtest.context import BacktestContext
from terminal.backtest.engine import EventLoop, LoopOutput
from terminal.model import Candle, Side
from terminal.strategies.base import CandleSource, InputKind, Intent, IntentAction, Strategy, StrategyContext

MIN = 60_000


def bars(
    ohlc: Sequence[tuple[float, float, float, float]],
    symbol: str = "BTCUSDT",
    interval: str = "1m",
    t0: int = 0,
) -> Bars:
    a = np.array(ohlc, dtype=np.float64).reshape(-1, 4)
    step = {"1m": MIN, "5m": 5 * MIN, "1h": 60 * MIN}[interval]
    time = t0 + np.arange(len(a), dtype=np.int64) * step
    return Bars.from_arrays(symbol, interval, time, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.ones(len(a)))


def walk(n: int, seed: int = 7, symbol: str = "BTCUSDT", vol: float = 0.002) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, vol / 2, n))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    time = np.arange(n, dtype=np.int64) * MIN
    return Bars.from_arrays(symbol, "1m", time, open_, high, low, close, np.ones(n))


@dataclass(frozen=True, slots=True)
class ScriptParams:
    timeframe: str = "1m"


class Scripted(Strategy):
    """Emits ``script[i]`` after the i-th candle it sees; records every candle it got."""

    name = "scripted"
    title = "scripted"
    doc = "test"
    inputs = frozenset({InputKind.CANDLES})
    Params = ScriptParams

    def __init__(
        self, ctx: StrategyContext, script: dict[int, list[Intent]], frames: tuple[str, ...] = ("1m",)
    ) -> None:
        super().__init__(ScriptParams(), ctx)
        self.script = script
        self.frames = frames
        self.seen: list[Candle] = []
        self.now_at_candle: list[int] = []
        self.history_len: list[int] = []  # closed base bars the CandleSource offered at each candle

    def timeframes(self) -> tuple[str, ...]:
        return self.frames

    def on_candle(self, candle: Candle) -> Sequence[Intent]:
        self.seen.append(candle)
        self.now_at_candle.append(self.ctx.now_ms())
        if isinstance(self.ctx, CandleSource):
            self.history_len.append(len(self.ctx.candles(self.ctx.symbol, self.frames[0])["close"]))
        if candle.interval != self.frames[0]:
            return ()
        k = sum(1 for c in self.seen if c.interval == self.frames[0]) - 1
        return self.script.get(k, [])


def run_script(
    data: dict[str, Bars] | Bars,
    scripts: dict[str, dict[int, list[Intent]]] | dict[int, list[Intent]],
    config: BacktestConfig,
    frames: tuple[str, ...] = ("1m",),
) -> tuple[LoopOutput, dict[str, Scripted]]:
    """Run scripted strategies (one per symbol) through the event loop."""
    by_symbol = {data.symbol: data} if isinstance(data, Bars) else data
    if not isinstance(data, dict):
        scripts = {data.symbol: scripts}  # type: ignore[dict-item]
    loop = EventLoop(by_symbol, config, config.venue)
    strats = {
        sym: Scripted(
            BacktestContext(config.venue, sym, config.can_short, loop), scripts.get(sym, {}), frames
        )  # type: ignore[arg-type]
        for sym in by_symbol
    }
    return loop.run(list(strats.values())), strats


def intent(
    side: Side, action: IntentAction = IntentAction.OPEN, symbol: str = "BTCUSDT", **kw: object
) -> Intent:
    return Intent(strategy="scripted", symbol=symbol, side=side, action=action, **kw)  # type: ignore[arg-type]

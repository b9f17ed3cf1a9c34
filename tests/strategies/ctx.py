"""A plain in-test StrategyContext (the protocol is four reads) plus candle builders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from terminal.model import Candle, Venue
from terminal.strategies._common import timeframe_ms

T0 = 1_700_000_000_000  # ms; bar 0 opens here


@dataclass
class FakeContext:
    symbol: str = "BTCUSDT"
    venue: Venue = Venue.BINANCE_USDM
    now: int = T0
    prices: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, Decimal] = field(default_factory=dict)
    shortable: bool = True

    def now_ms(self) -> int:
        return self.now

    def last_price(self, symbol: str) -> Decimal | None:
        return self.prices.get(symbol)

    def position(self, symbol: str) -> Decimal:
        return self.positions.get(symbol, Decimal(0))

    def can_short(self, symbol: str) -> bool:
        return self.shortable


@dataclass
class HistoryContext(FakeContext):
    """Also a CandleSource: closed bars of any symbol (the MACD sweep reads them)."""

    history: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)

    def candles(self, symbol: str, interval: str) -> dict[str, np.ndarray]:
        empty = np.empty(0, dtype=np.float64)
        return self.history.get((symbol, interval), {"close": empty})


def spot(symbol: str = "BTCUSDT", **kw: object) -> FakeContext:
    return FakeContext(symbol=symbol, venue=Venue.BINANCE_SPOT, shortable=False, **kw)  # type: ignore[arg-type]


def bars_from_close(close: Sequence[float] | np.ndarray, interval: str = "1h") -> dict[str, np.ndarray]:
    """Arrays as the backtester passes them; open = previous close, high/low around both."""
    c = np.asarray(close, dtype=np.float64)
    o = np.concatenate(([c[0]], c[:-1])) if len(c) else c
    step = timeframe_ms(interval)
    return {
        "open": o,
        "high": np.maximum(o, c) * 1.001,
        "low": np.minimum(o, c) * 0.999,
        "close": c,
        "volume": np.ones(len(c)),
        "time": T0 + np.arange(len(c), dtype=np.int64) * step,
    }


def candles(
    bars: dict[str, np.ndarray], symbol: str = "BTCUSDT", interval: str = "1h", start: int = T0
) -> list[Candle]:
    step = timeframe_ms(interval)
    out = []
    for i in range(len(bars["close"])):
        t = start + i * step
        out.append(
            Candle(
                venue=Venue.BINANCE_USDM,
                symbol=symbol,
                interval=interval,
                open_time=t,
                close_time=t + step - 1,
                open=float(bars["open"][i]),
                high=float(bars["high"][i]),
                low=float(bars["low"][i]),
                close=float(bars["close"][i]),
                volume=1.0,
                closed=True,
            )
        )
    return out


def ohlc(rows: Sequence[tuple[float, float, float, float]]) -> dict[str, np.ndarray]:
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return {"open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3]}


def random_walk(n: int, seed: int, level: float = 100.0, vol: float = 0.004) -> np.ndarray:
    """Seeded geometric random walk (the bench's kind of data)."""
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0.0, vol, n)))

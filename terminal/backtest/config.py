"""What a backtest simulates besides the strategy: capital, market kind, fees, slippage, funding."""

from __future__ import annotations

import math
from dataclasses import dataclass

from terminal.model import InstrumentKind, Venue

__all__ = ["HOUR_MS", "BacktestConfig"]

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    initial_cash: float = 10_000.0  # quote asset
    kind: InstrumentKind = InstrumentKind.LINEAR_PERPETUAL  # SPOT: no shorts, no funding
    venue: Venue = Venue.BINANCE_USDM  # what the strategy context reports
    qty: float = 1.0  # base units per position when an intent carries no size hint
    taker_fee_bps: float = 10.0  # market entries/exits and stops, on traded notional
    maker_fee_bps: float = 10.0  # limit entries and take-profit targets
    slippage_bps: float = 0.0  # market and stop fills move this much against the order
    funding_rate: float = 0.0001  # futures: paid by longs to shorts per interval (negative: reverse)
    funding_interval_ms: int = 8 * HOUR_MS  # funding at every multiple of this since the epoch (UTC)

    def __post_init__(self) -> None:
        for name in ("initial_cash", "qty"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"backtest {name} must be a positive number, got {value}")
        for name in ("taker_fee_bps", "maker_fee_bps", "slippage_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value < 10_000):
                raise ValueError(f"backtest {name} must be within [0, 10000), got {value}")
        if not math.isfinite(self.funding_rate) or abs(self.funding_rate) >= 1:
            raise ValueError(
                f"backtest funding_rate must be a fraction within (-1, 1), got {self.funding_rate}"
            )
        if self.funding_interval_ms <= 0:
            raise ValueError(f"backtest funding_interval_ms must be positive, got {self.funding_interval_ms}")

    @property
    def can_short(self) -> bool:
        return self.kind is not InstrumentKind.SPOT

    @property
    def funded(self) -> bool:
        return self.kind is not InstrumentKind.SPOT and self.funding_rate != 0.0

    @property
    def taker(self) -> float:
        return self.taker_fee_bps / 10_000

    @property
    def maker(self) -> float:
        return self.maker_fee_bps / 10_000

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10_000

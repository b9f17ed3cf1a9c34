"""The live sizer: ``trading.sizing.size_order`` fed from the engine's account snapshots."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from terminal.automation.executor import SizeRequest, SizingRefused
from terminal.engine.engine import Engine
from terminal.indicators.atr import atr
from terminal.model import InstrumentKind
from terminal.trading import sizing
from terminal.trading.sizing import SizedOrder, SizingConfig, SizingMode

__all__ = ["EngineSizer"]

ONE = Decimal(1)


class EngineSizer:
    """Equity = the quote asset's total balance (spot: plus the base holding at the entry
    price); free = the quote asset's free balance (derivatives: available margin). The ATR is
    read from ``atr_interval`` candles the engine tracks for the symbol."""

    def __init__(
        self,
        config: SizingConfig,
        engine: Engine,
        adapters: Any,
        *,
        atr_interval: str = "1m",
        atr_period: int = 14,
    ) -> None:
        self.config = config
        self._engine = engine
        self._adapters = adapters
        self._atr_interval = atr_interval
        self._atr_period = atr_period

    def size(self, req: SizeRequest) -> SizedOrder:
        inst = self._adapters[req.venue].instrument(req.intent.symbol)
        balances = self._engine.balances(req.venue)
        quote = balances.get(inst.quote)
        free = quote.free if quote is not None else Decimal(0)
        equity = quote.total if quote is not None else Decimal(0)
        if inst.kind is InstrumentKind.SPOT:
            base = balances.get(inst.base)
            if base is not None:
                equity += base.total * req.entry_price
        leverage = ONE
        for p in self._engine.positions(req.venue):
            if p.symbol == inst.symbol and p.leverage > 0:
                leverage = p.leverage
        if req.intent.leverage:
            leverage = min(Decimal(req.intent.leverage), self.config.max_leverage)
        result = sizing.size_order(
            self.config,
            inst,
            side=req.intent.side,
            entry=req.entry_price,
            equity=equity,
            free_balance=free,
            stop=req.intent.stop,
            position_qty=req.position,
            atr=self._atr(req) if self.config.mode is SizingMode.ATR and req.intent.size is None else None,
            leverage=leverage,
            hint=req.intent.size,
        )
        if isinstance(result, sizing.SizingRefused):
            raise SizingRefused(result.reason)
        return result

    def _atr(self, req: SizeRequest) -> Decimal | None:
        bars = [
            b for b in self._engine.candle_bars(req.venue, req.intent.symbol, self._atr_interval) if b.closed
        ]
        if len(bars) <= self._atr_period:
            return None
        h = np.fromiter((b.high for b in bars), np.float64, len(bars))
        lo = np.fromiter((b.low for b in bars), np.float64, len(bars))
        c = np.fromiter((b.close for b in bars), np.float64, len(bars))
        value = float(atr(h, lo, c, self._atr_period)[-1])
        return Decimal(repr(value)) if np.isfinite(value) and value > 0 else None

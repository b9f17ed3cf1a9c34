"""Trade signals from outside (MarketRaker, generic webhooks) or inside (strategies, manual).

A Signal is an idea, not an order: strategies turn it into an intent, risk sizes it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from terminal.model.enums import Side

__all__ = ["Signal", "SignalSource"]


class SignalSource(StrEnum):
    MARKETRAKER = "marketraker"
    WEBHOOK = "webhook"
    STRATEGY = "strategy"
    MANUAL = "manual"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Signal:
    id: str  # stable id from the sender when it has one: the dedupe key
    source: SignalSource
    symbol: str  # venue symbol after normalisation, e.g. "SOLUSDT"
    side: Side
    received_at: int  # ms, local clock
    entry: Decimal | None = None  # suggested entry price (None = at market)
    stop: Decimal | None = None
    target: Decimal | None = None
    horizon: int | None = None  # ms epoch by which the target is expected
    confidence: float | None = None  # 0..1, normalised from the sender's scale
    # The payload as received, read-only; excluded from equality/hash (dicts aren't hashable
    # and two deliveries of one signal may differ in irrelevant fields).
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False)

    def __post_init__(self) -> None:
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"signal {self.id}: confidence must be within 0..1, got {self.confidence}")
        if not isinstance(self.raw, MappingProxyType):
            # Deep copy so later mutation of the caller's dict cannot change a recorded signal.
            object.__setattr__(self, "raw", MappingProxyType(copy.deepcopy(dict(self.raw))))

    @property
    def risk_reward(self) -> Decimal | None:
        """|target - entry| / |entry - stop|, when all three are known and the stop is sane."""
        if self.entry is None or self.stop is None or self.target is None:
            return None
        risk = abs(self.entry - self.stop)
        return None if risk == 0 else abs(self.target - self.entry) / risk

    def is_expired(self, now_ms: int) -> bool:
        return self.horizon is not None and now_ms > self.horizon

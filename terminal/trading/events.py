"""Bus events of the trading layer that are not order updates."""

from __future__ import annotations

from dataclasses import dataclass

from terminal.model import TradingState

__all__ = ["TradingStateChanged"]


@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    """The risk manager's state moved (ACTIVE / REDUCING / HALTED): the kill switch, a loss
    limit, or the user."""

    previous: TradingState
    state: TradingState
    actor: str  # "risk", "manual", ...
    reason: str
    ts: int = 0  # ms

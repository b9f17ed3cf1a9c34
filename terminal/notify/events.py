"""Bus events the notifier needs that no other module publishes yet.

``TradingStateChanged`` belongs with the risk manager (``terminal/trading/events.py``): the lead
moves it there and has ``RiskManager.set_state`` publish it; until then it lives here so the
notifier and its tests have a type to subscribe to.
"""

from __future__ import annotations

from dataclasses import dataclass

from terminal.model import TradingState

__all__ = ["TradingStateChanged"]


@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    previous: TradingState
    state: TradingState
    actor: str  # "risk", "manual", ...
    reason: str
    ts: int = 0  # ms

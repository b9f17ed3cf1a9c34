"""Bus events of the automation host, for the UI's strategies/signals docks and notifications."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from terminal.automation.arming import ArmKey
from terminal.strategies.base import Intent

__all__ = ["ArmState", "IntentOutcome", "IntentResult", "StrategyStateChanged"]


class ArmState(StrEnum):
    WARMING = "warming"  # armed, loading history before its first decision
    ARMED = "armed"
    DISARMED = "disarmed"
    ERROR = "error"  # raised: disarmed, ``message`` says why


@dataclass(frozen=True, slots=True)
class StrategyStateChanged:
    key: ArmKey
    state: ArmState
    message: str = ""


class IntentOutcome(StrEnum):
    PLACED = "placed"  # an order (or a bracket) went to the OMS
    SKIPPED = "skipped"  # nothing to do (already in that position, signal already used, stale bar)
    REFUSED = "refused"  # sizing or risk said no; ``message`` says which rule
    FAILED = "failed"  # the venue or the OMS raised


@dataclass(frozen=True, slots=True)
class IntentResult:
    key: ArmKey | None  # None for a generic webhook order (no strategy)
    origin: str  # strategy:<name> or webhook:<name>
    intent: Intent
    outcome: IntentOutcome
    message: str = ""
    client_id: str | None = None  # the entry order
    qty: Decimal | None = None

"""Bus events the webhook listener publishes."""

from __future__ import annotations

from dataclasses import dataclass

from terminal.model import Signal

__all__ = ["SignalAccepted", "SignalRejected"]


@dataclass(frozen=True, slots=True)
class SignalAccepted:
    """A verified, well-formed, first delivery: the automation host acts on it."""

    signal: Signal
    hook: str  # "marketraker" or the generic hook's name


@dataclass(frozen=True, slots=True)
class SignalRejected:
    """A request that was refused (for the UI's signals dock and notifications)."""

    hook: str
    status: int  # the HTTP status answered
    reason: str  # what was wrong, as answered to the sender
    received_at: int  # ms

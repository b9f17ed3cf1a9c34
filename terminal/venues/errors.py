"""What can go wrong talking to a venue, as types the OMS can act on.

The distinction that matters for money: ``OrderRejected`` means the venue certainly did *not*
take the order; ``OutcomeUnknown`` means it may have (timeout, dropped connection, 5xx) and the
OMS must find out by querying the client order id before it sends anything again.
Messages never contain API keys or signatures.
"""

from __future__ import annotations

from terminal.model import FilterViolation, Venue

__all__ = [
    "AuthFailed",
    "ClockSkew",
    "FilterRejected",
    "OrderNotFound",
    "OrderRejected",
    "OutcomeUnknown",
    "RateLimited",
    "UnknownSymbol",
    "VenueError",
]


class VenueError(Exception):
    """Base: a venue request failed. ``code`` is the venue's own error code when there is one."""

    def __init__(self, venue: Venue, message: str, *, code: int | None = None) -> None:
        super().__init__(f"{venue}: {message}" + (f" (code {code})" if code is not None else ""))
        self.venue = venue
        self.code = code
        self.venue_message = message


class OrderRejected(VenueError):
    """The venue refused the order (or cancel); nothing was created."""


class FilterRejected(OrderRejected):
    """Refused locally, before sending: the order breaks an instrument filter."""

    def __init__(self, venue: Venue, symbol: str, violations: list[FilterViolation]) -> None:
        text = "; ".join(str(v) for v in violations)
        super().__init__(venue, f"{symbol} rejected locally: {text}")
        self.symbol = symbol
        self.violations = violations


class OrderNotFound(VenueError):
    """The venue does not know this order (cancel/query of an unknown id)."""


class OutcomeUnknown(VenueError):
    """The request may or may not have been executed (timeout, connection lost, HTTP 5xx)."""


class RateLimited(VenueError):
    """HTTP 429/418 (Binance) or 10006/403 (Bybit); do not call before ``retry_after_s``."""

    def __init__(self, venue: Venue, message: str, *, retry_after_s: float, code: int | None = None) -> None:
        super().__init__(venue, message, code=code)
        self.retry_after_s = retry_after_s


class ClockSkew(VenueError):
    """Timestamp outside the venue's recv window even after one resync (-1021 / 10002)."""


class AuthFailed(VenueError):
    """Bad key, signature or permissions."""


class UnknownSymbol(VenueError):
    """The symbol is not listed (or not trading) on this venue."""

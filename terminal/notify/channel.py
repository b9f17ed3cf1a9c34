"""A delivery channel, and the error that tells its worker whether to try again."""

from __future__ import annotations

from abc import ABC, abstractmethod

from terminal.notify.model import ChannelKind, Notice

__all__ = ["Channel", "DeliveryError", "scrub"]


class DeliveryError(Exception):
    """A send failed. ``permanent``: retrying cannot help (bad token, unknown chat, rejected
    address). ``retry_after``: the server said how long to wait (Telegram 429)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced: library errors quote URLs (the bot token is in
    Telegram's URL path) and server replies."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class Channel(ABC):
    kind: ChannelKind

    @abstractmethod
    async def send(self, notice: Notice) -> None:
        """Deliver one notice or raise ``DeliveryError`` (never anything else)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most channels hold nothing
        """Release connections; called once by the notifier after its worker stopped."""

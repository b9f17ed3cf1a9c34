"""Channels from the config, with their secrets read through the key store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from terminal.notify.channel import Channel
from terminal.notify.config import SMTP_PASSWORD_SECRET, TELEGRAM_TOKEN_SECRET, NotifyConfig
from terminal.notify.model import Notice
from terminal.notify.smtp import EmailChannel
from terminal.notify.telegram import TelegramChannel
from terminal.notify.tray import TrayChannel

__all__ = ["SecretSource", "build_channels"]


class SecretSource(Protocol):
    """``terminal.secrets.KeyStore`` as the notifier uses it."""

    def secret(self, name: str) -> str | None: ...


def build_channels(
    config: NotifyConfig, secrets: SecretSource, *, tray: Callable[[Notice], None] | None = None
) -> list[Channel]:
    """The tray channel always (headless it logs), Telegram and e-mail when configured.
    Secrets are read lazily, at the first send, so a locked key store delays nothing here."""
    channels: list[Channel] = [TrayChannel(tray)]
    if config.telegram is not None:
        channels.append(TelegramChannel(config.telegram, lambda: secrets.secret(TELEGRAM_TOKEN_SECRET)))
    if config.email is not None:
        channels.append(EmailChannel(config.email, lambda: secrets.secret(SMTP_PASSWORD_SECRET)))
    return channels

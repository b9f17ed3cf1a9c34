"""Notification settings: which channels each kind of notice goes to, and how to reach them.

Secrets are not here: the Telegram bot token and the SMTP password live in the key store under
``TELEGRAM_TOKEN_SECRET`` / ``SMTP_PASSWORD_SECRET`` and are read when a message is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from terminal.notify.model import ChannelKind, NoticeKind

__all__ = [
    "SMTP_PASSWORD_SECRET",
    "TELEGRAM_TOKEN_SECRET",
    "EmailConfig",
    "NotifyConfig",
    "NotifyConfigError",
    "RetryPolicy",
    "SmtpSecurity",
    "TelegramConfig",
]

_E = TypeVar("_E", bound=StrEnum)

TELEGRAM_TOKEN_SECRET = "telegram:bot_token"
SMTP_PASSWORD_SECRET = "smtp:password"
TELEGRAM_API = "https://api.telegram.org"


class NotifyConfigError(ValueError):
    """A notification setting is wrong; the message names the setting."""


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # plain connect, then upgrade (port 587)
    TLS = "tls"  # implicit TLS from the first byte (port 465)
    NONE = "none"  # no encryption: only for a relay on localhost


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # sends per notice, the first included
    base_s: float = 1.0  # first back-off; doubles per failure
    max_s: float = 60.0  # cap of one back-off (a 429's retry_after is honoured up to this too)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise NotifyConfigError(f"notify.retry.attempts must be >= 1, got {self.attempts}")
        if self.base_s < 0 or self.max_s < self.base_s:
            raise NotifyConfigError(
                f"notify.retry: need 0 <= base_s <= max_s, got base_s={self.base_s} max_s={self.max_s}"
            )

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` failed sends (1 = the first failed)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_s)
        return min(self.base_s * 2 ** (failures - 1), self.max_s)


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    chat_id: str  # a user/group id ("123456", "-100…") or "@channelname"
    base_url: str = TELEGRAM_API  # tests point it at a local fake
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not str(self.chat_id).strip():
            raise NotifyConfigError("notify.telegram.chat_id is empty")
        if not self.base_url.startswith(("http://", "https://")):
            raise NotifyConfigError(f"notify.telegram.base_url must be http(s)://…, got {self.base_url!r}")


@dataclass(frozen=True, slots=True)
class EmailConfig:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None  # None: no AUTH (a local relay)
    ca_file: Path | None = None  # extra CA to trust (a self-hosted server's certificate)
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise NotifyConfigError("notify.email.host is empty")
        if not 0 < self.port < 65536:
            raise NotifyConfigError(f"notify.email.port must be 1..65535, got {self.port}")
        if "@" not in self.sender:
            raise NotifyConfigError(f"notify.email.sender is not an address: {self.sender!r}")
        if not self.recipients:
            raise NotifyConfigError("notify.email.recipients is empty")
        bad = [r for r in self.recipients if "@" not in r]
        if bad:
            raise NotifyConfigError(f"notify.email.recipients: not addresses: {bad}")


def _all_tray() -> dict[NoticeKind, frozenset[ChannelKind]]:
    return {kind: frozenset({ChannelKind.TRAY}) for kind in NoticeKind}


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    # Per kind, the channels it goes to; a kind missing here goes nowhere.
    routes: Mapping[NoticeKind, frozenset[ChannelKind]] = field(default_factory=_all_tray)
    queue_size: int = 200  # per channel; the oldest is dropped (and counted) past this
    coalesce_s: float = 1.0  # bursts of COALESCED kinds within this window become one message
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    close_timeout_s: float = 5.0
    telegram: TelegramConfig | None = None
    email: EmailConfig | None = None

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise NotifyConfigError(f"notify.queue_size must be >= 1, got {self.queue_size}")
        if self.coalesce_s < 0:
            raise NotifyConfigError(f"notify.coalesce_s must be >= 0, got {self.coalesce_s}")
        used = set().union(*self.routes.values()) if self.routes else set()
        if ChannelKind.TELEGRAM in used and self.telegram is None:
            raise NotifyConfigError("notify.routes sends to telegram but notify.telegram is not set")
        if ChannelKind.EMAIL in used and self.email is None:
            raise NotifyConfigError("notify.routes sends to email but notify.email is not set")

    def channels_for(self, kind: NoticeKind) -> frozenset[ChannelKind]:
        return self.routes.get(kind, frozenset())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``from_dict`` reads back (and ``--notify-config`` accepts); no secrets.

        Every kind is written, an unrouted one as ``[]``: ``from_dict`` would route a missing
        kind to the tray."""
        doc: dict[str, Any] = {
            "routes": {kind.value: sorted(c.value for c in self.channels_for(kind)) for kind in NoticeKind},
            "queue_size": self.queue_size,
            "coalesce_s": self.coalesce_s,
            "retry": {
                "attempts": self.retry.attempts,
                "base_s": self.retry.base_s,
                "max_s": self.retry.max_s,
            },
            "close_timeout_s": self.close_timeout_s,
        }
        if self.telegram is not None:
            tg = self.telegram
            doc["telegram"] = {"chat_id": tg.chat_id, "base_url": tg.base_url, "timeout_s": tg.timeout_s}
        if self.email is not None:
            em = self.email
            doc["email"] = {
                "host": em.host,
                "port": em.port,
                "security": em.security.value,
                "username": em.username,
                "sender": em.sender,
                "recipients": list(em.recipients),
                "ca_file": None if em.ca_file is None else str(em.ca_file),
                "timeout_s": em.timeout_s,
            }
        return doc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NotifyConfig:
        """Parse the ``notify`` section of the settings; errors name the offending key."""
        known = {"routes", "queue_size", "coalesce_s", "retry", "close_timeout_s", "telegram", "email"}
        _no_unknown(data, known, "notify")
        kwargs: dict[str, Any] = {}
        if "routes" in data:
            kwargs["routes"] = _routes(data["routes"])
        for key in ("queue_size",):
            if key in data:
                kwargs[key] = _typed(data[key], int, f"notify.{key}")
        for key in ("coalesce_s", "close_timeout_s"):
            if key in data:
                kwargs[key] = float(_typed(data[key], (int, float), f"notify.{key}"))
        if "retry" in data:
            retry = _section(data["retry"], "notify.retry", {"attempts", "base_s", "max_s"})
            kwargs["retry"] = RetryPolicy(**retry)
        if data.get("telegram") is not None:
            tg = _section(data["telegram"], "notify.telegram", {"chat_id", "base_url", "timeout_s"})
            if "chat_id" not in tg:
                raise NotifyConfigError("notify.telegram.chat_id is missing")
            kwargs["telegram"] = TelegramConfig(**{**tg, "chat_id": str(tg["chat_id"])})
        if data.get("email") is not None:
            kwargs["email"] = _email(data["email"])
        return cls(**kwargs)


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise NotifyConfigError(f"{where}: unknown setting(s) {unknown} (known: {sorted(known)})")


def _section(value: object, where: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise NotifyConfigError(f"{where} must be a table, got {type(value).__name__}")
    _no_unknown(value, known, where)
    return dict(value)


def _typed(value: object, types: type | tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, types):
        raise NotifyConfigError(f"{where} has the wrong type: {value!r}")
    return value


def _enum(enum: type[_E], value: object, where: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise NotifyConfigError(
            f"{where}: unknown value {value!r} (known: {', '.join(e.value for e in enum)})"
        ) from None


def _routes(value: object) -> dict[NoticeKind, frozenset[ChannelKind]]:
    if not isinstance(value, Mapping):
        raise NotifyConfigError(f"notify.routes must be a table, got {type(value).__name__}")
    routes = _all_tray()
    for key, channels in value.items():
        kind = _enum(NoticeKind, key, "notify.routes")
        if isinstance(channels, str) or not isinstance(channels, (list, tuple, set, frozenset)):
            raise NotifyConfigError(f"notify.routes.{key} must be a list of channels, got {channels!r}")
        routes[kind] = frozenset(_enum(ChannelKind, c, f"notify.routes.{key}") for c in channels)
    return routes


def _email(value: object) -> EmailConfig:
    known = {"host", "port", "security", "username", "sender", "recipients", "ca_file", "timeout_s"}
    em = _section(value, "notify.email", known)
    for required in ("host", "sender", "recipients"):
        if required not in em:
            raise NotifyConfigError(f"notify.email.{required} is missing")
    recipients = em["recipients"]
    em["recipients"] = (recipients,) if isinstance(recipients, str) else tuple(recipients)
    if "port" in em:
        em["port"] = _typed(em["port"], int, "notify.email.port")
    if "security" in em:
        em["security"] = _enum(SmtpSecurity, em["security"], "notify.email.security")
    if em.get("ca_file") is not None:
        em["ca_file"] = Path(em["ca_file"])
    return EmailConfig(**em)

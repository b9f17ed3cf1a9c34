"""E-mail channel: SMTP with STARTTLS or implicit TLS via aiosmtplib.

aiosmtplib rather than smtplib in an executor: it is asyncio-native (no thread parked per
send, a send in progress is cancelled cleanly by ``close()``), and it does STARTTLS, implicit
TLS, AUTH and timeouts itself. The password comes from the key store and is scrubbed from errors.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from terminal.notify.channel import Channel, DeliveryError, scrub
from terminal.notify.config import SMTP_PASSWORD_SECRET, EmailConfig, SmtpSecurity
from terminal.notify.model import ChannelKind, Notice

__all__ = ["EmailChannel", "build_message"]

SUBJECT_PREFIX = "[terminal]"


def build_message(config: EmailConfig, notice: Notice) -> EmailMessage:
    msg = EmailMessage()
    severity = "" if notice.severity == "info" else f"{notice.severity.upper()}: "
    msg["Subject"] = f"{SUBJECT_PREFIX} {severity}{notice.title}"
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.recipients)
    msg["Date"] = formatdate(notice.ts / 1000 if notice.ts else time.time(), localtime=False)
    msg["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or None)
    msg["X-Terminal-Notice"] = str(notice.kind)
    msg.set_content(notice.body or notice.title)
    return msg


class EmailChannel(Channel):
    kind = ChannelKind.EMAIL

    def __init__(self, config: EmailConfig, password: Callable[[], str | None]) -> None:
        self.config = config
        self._password_source = password  # e.g. lambda: keystore.secret(SMTP_PASSWORD_SECRET)
        self._password: str | None = None

    def __repr__(self) -> str:
        c = self.config
        return f"EmailChannel({c.host}:{c.port} {c.security}, to={list(c.recipients)})"

    def _tls_context(self) -> ssl.SSLContext:
        ca = self.config.ca_file
        return ssl.create_default_context(cafile=str(ca) if ca is not None else None)

    def _read_password(self) -> str | None:
        if self.config.username is None:
            return None
        if self._password is None:
            try:
                password = self._password_source()
            except Exception as exc:
                raise DeliveryError(f"email: cannot read the SMTP password: {exc}", permanent=True) from None
            if not password:
                raise DeliveryError(
                    f"email: no SMTP password stored (key store secret {SMTP_PASSWORD_SECRET!r})",
                    permanent=True,
                )
            self._password = password
        return self._password

    async def send(self, notice: Notice) -> None:
        c = self.config
        password = self._read_password()
        try:
            await aiosmtplib.send(
                build_message(c, notice),
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=password,
                use_tls=c.security is SmtpSecurity.TLS,
                start_tls=c.security is SmtpSecurity.STARTTLS,
                tls_context=self._tls_context() if c.security is not SmtpSecurity.NONE else None,
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                self._password = None  # changed in the key store? read it again next time
            text = scrub(f"email: SMTP {exc.code}: {exc.message}", password)
            # 5xx: the server refuses (bad login, unknown recipient); 4xx: try again later.
            raise DeliveryError(text, permanent=500 <= exc.code < 600) from None
        except (aiosmtplib.SMTPException, ssl.SSLError, OSError, TimeoutError) as exc:
            raise DeliveryError(scrub(f"email: {type(exc).__name__}: {exc}", password)) from None

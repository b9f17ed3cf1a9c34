"""Local servers for the notification tests: a fake Telegram Bot API (aiohttp) and a real SMTP
server (aiosmtpd) with a self-signed certificate made here."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN = "123456:AAE-test-token-never-log-me"
PASSWORD = "smtp-pass-never-log-me"
USER = "bot@example.test"


# ---------------------------------------------------------------------- Telegram


@dataclass
class TelegramRequest:
    token: str
    payload: dict[str, Any]
    at: float  # loop time


@dataclass
class FakeTelegram:
    """Answers ``POST /bot<token>/sendMessage``; ``script`` holds (status, body) answers to give
    before answering ok; ``hang`` holds every request open until the server stops (a server
    that accepted the connection and died)."""

    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    hang: bool = False
    requests: list[TelegramRequest] = field(default_factory=list)
    url: str = ""
    hung: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def delivered(self) -> list[TelegramRequest]:
        return [r for r in self.requests if r.payload.get("_status") == 200]

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        token = request.match_info["token"]
        if self.hang:
            self.hung += 1
            await self.release.wait()
            raise web.HTTPServiceUnavailable()
        status, body = self.script.pop(0) if self.script else (200, {"ok": True, "result": {"message_id": 1}})
        if token != TOKEN and status == 200:
            status, body = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        payload["_status"] = status
        self.requests.append(TelegramRequest(token, payload, asyncio.get_running_loop().time()))
        return web.json_response(body, status=status)


def too_many(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


@asynccontextmanager
async def telegram_server(fake: FakeTelegram | None = None) -> AsyncIterator[FakeTelegram]:
    fake = fake or FakeTelegram()
    app = web.Application()
    app.router.add_post(r"/bot{token}/sendMessage", fake.handle)
    runner = web.AppRunner(app, access_log=None)  # the real server is not ours to log
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


# ---------------------------------------------------------------------- TLS + SMTP


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def free_port() -> int:
    # aiosmtpd's Controller connects to its port to confirm the start, so it needs a real
    # number up front rather than 0.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticator(box: Mailbox):  # type: ignore[no-untyped-def]
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if (
            isinstance(data, LoginPassword)
            and data.login.decode() == USER
            and data.password.decode() == PASSWORD
        ):
            box.logins.append(USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return check


@contextmanager
def smtp_server(cert: Path, key: Path, *, implicit_tls: bool):  # type: ignore[no-untyped-def]
    """A real SMTP server on 127.0.0.1 requiring TLS (STARTTLS or implicit) and AUTH."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    box = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {
        "authenticator": _authenticator(box),
        "auth_required": True,
        "auth_require_tls": True,
    }
    if implicit_tls:
        # aiosmtpd only counts STARTTLS as "TLS" for auth_require_tls; the socket here is TLS
        # from the first byte, so AUTH is safe to offer.
        kwargs.update(ssl_context=ctx, auth_require_tls=False)
    else:
        kwargs.update(tls_context=ctx, require_starttls=True)
    controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()

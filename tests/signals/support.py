"""Shared wiring for the webhook listener tests: keys, signing, a running server, a bus recorder."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from terminal.bus import EventBus
from terminal.signals.events import SignalAccepted, SignalRejected
from terminal.signals.server import WebhookConfig, WebhookServer
from terminal.storage.journal import Journal

# ../shared/fixtures beside the checkout (issue 5's acceptance data).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "marketraker"

PSS_MAX = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
HOOK_SECRET = "tv-hook-secret-0123456789"

INDICATOR: dict[str, Any] = {
    "trading_type": "Long",
    "leverage": 2,
    "buy_price": 100.5,
    "sell_price": 110.0,
    "buy_date": 1733913000,
    "sell_prediction_date": 1733999400,
    "risk": 3,
    "market_direction": "Bull",
    "percentage_change": 4.2,
    "stoploss": 95,
    "trading_type_24h": None,
    "percentage_change_24h": -1.5,
    "risk_24h": 5,
    "leverage_24h": 2,
    "stoploss_24h": 90,
    "trading_pair": "ETH/USD",
}


_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def private_key(n: int = 0) -> rsa.RSAPrivateKey:
    """RSA-2048 key pairs generated once per test session (``n`` tells them apart)."""
    if n not in _KEYS:
        _KEYS[n] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEYS[n]


def public_pem(n: int = 0) -> str:
    return (
        private_key(n)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(message: bytes, n: int = 0, pss: padding.PSS = PSS_MAX) -> str:
    return base64.b64encode(private_key(n).sign(message, pss, hashes.SHA256())).decode()


def indicator(**changes: Any) -> dict[str, Any]:
    return {**INDICATOR, **changes}


def live_body(data: dict[str, Any], kind: str = "indicator") -> tuple[bytes, str]:
    """MarketRaker's live form: ``data`` a JSON string, the envelope as Python serialises it;
    the raw body is exactly what is signed (form 1)."""
    body = json.dumps({"type": kind, "data": json.dumps(data)}).encode()
    return body, sign(body)


def object_body(data: dict[str, Any], kind: str = "indicator") -> tuple[bytes, str]:
    """A hand-made test request: ``data`` an object, pretty-printed; signed in form 2."""
    body = json.dumps({"type": kind, "data": data}, indent=4).replace("\n", "\r\n").encode()
    signed = json.dumps({"type": kind, "data": json.dumps(data)}).encode()
    return body, sign(signed)


@dataclass
class Recorder:
    accepted: list[SignalAccepted] = field(default_factory=list)
    rejected: list[SignalRejected] = field(default_factory=list)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(SignalAccepted, self.accepted.append)
        bus.subscribe(SignalRejected, self.rejected.append)


@dataclass
class Live:
    server: WebhookServer
    journal: Journal
    bus: EventBus
    events: Recorder
    http: aiohttp.ClientSession

    @property
    def mr_url(self) -> str:
        return self.server.marketraker_url

    async def post(
        self, url: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        async with self.http.post(url, data=body, headers=hdrs) as resp:
            text = await resp.text()
            return resp.status, json.loads(text), resp.headers

    async def mr(self, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        status, payload, _ = await self.post(
            self.mr_url, body, {} if signature is None else {"x-signature": signature}
        )
        return status, payload


@asynccontextmanager
async def running(
    tmp_path: Path,
    *,
    secret_for: Callable[[str], str | bytes | None] | None = None,
    journal: Journal | None = None,
    **config: Any,
) -> AsyncIterator[Live]:
    """A started listener (own key, hook "tv" unless overridden) with its journal and bus."""
    config.setdefault("marketraker_key", public_pem())
    config.setdefault("generic_hooks", ("tv",))
    own_journal = journal is None
    journal = journal or Journal.open(tmp_path / "journal.sqlite3")
    bus = EventBus()
    events = Recorder()
    events.attach(bus)
    server = WebhookServer(
        WebhookConfig(**config),
        bus=bus,
        journal=journal,
        secret_for=secret_for if secret_for is not None else {"tv": HOOK_SECRET}.get,
    )
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Live(server, journal, bus, events, http)
    finally:
        await server.stop()
        if own_journal:
            journal.close()

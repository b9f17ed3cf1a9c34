"""Generic HMAC hooks over real sockets."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.model import Side, SignalSource
from terminal.signals.generic import generic_of, sign_hmac
from terminal.storage.journal import SignalVerdict, WebhookOutcome

from .support import HOOK_SECRET, running

pytestmark = pytest.mark.timeout(60)

GOOD = {"symbol": "BTCUSDT", "side": "buy", "type": "market", "quote": "250", "stop": 90000, "id": "a1"}


def _body(payload: object) -> bytes:
    return json.dumps(payload).encode()


async def test_good_hmac_accepted_and_published(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        body = _body(GOOD)
        status, payload, _ = await live.post(
            live.server.hook_url("tv"), body, {"X-Signature": sign_hmac(HOOK_SECRET, body)}
        )
        assert (status, payload) == (200, {"ok": True, "signal_id": "wh-tv-a1"})
        (event,) = live.events.accepted
        assert event.hook == "tv" and event.signal.source is SignalSource.WEBHOOK
        assert event.signal.side is Side.BUY and event.signal.stop == Decimal("90000")
        assert event.signal.raw["quote"] == "250"
        parsed = generic_of(event.signal)
        assert parsed is not None and parsed.quote == Decimal("250") and parsed.id == "a1"
        # GitHub-style prefix; re-sent with the same id: a duplicate, not a second order.
        status, payload, _ = await live.post(
            live.server.hook_url("tv"),
            body + b"\n",
            {"X-Signature": "sha256=" + sign_hmac(HOOK_SECRET, body + b"\n")},
        )
        assert (status, payload) == (200, {"ok": True, "duplicate": True, "signal_id": "wh-tv-a1"})
        assert len(live.events.accepted) == 1
        assert [s.verdict for s in live.journal.signals()] == [
            SignalVerdict.ACCEPTED,
            SignalVerdict.DUPLICATE,
        ]


async def test_authentication_and_routing_failures(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        body = _body(GOOD)
        url = live.server.hook_url("tv")
        assert (await live.post(url, body, {"X-Signature": sign_hmac("wrong", body)}))[:2] == (
            401,
            {"ok": False, "error": "invalid signature"},
        )
        assert (await live.post(url, body))[:2] == (401, {"ok": False, "error": "missing X-Signature header"})
        status, payload, _ = await live.post(
            live.server.hook_url("nope"), body, {"X-Signature": sign_hmac(HOOK_SECRET, body)}
        )
        assert (status, payload) == (404, {"ok": False, "error": "no webhook hook named 'nope'"})
        assert live.events.accepted == []
        rows = live.journal.webhook_requests()
        assert [(r.hook, r.outcome) for r in rows] == [
            ("tv", WebhookOutcome.UNAUTHORIZED),
            ("tv", WebhookOutcome.UNAUTHORIZED),
            ("nope", WebhookOutcome.NOT_FOUND),
        ]
        assert rows[2].body is None  # an unknown hook's body is not even read


async def test_schema_errors_are_400_listing_every_problem(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        url = live.server.hook_url("tv")

        async def send(payload: object) -> tuple[int, dict[str, object]]:
            raw = payload if isinstance(payload, bytes) else _body(payload)
            status, answer, _ = await live.post(url, raw, {"X-Signature": sign_hmac(HOOK_SECRET, raw)})
            return status, answer

        status, answer = await send(
            {"symbol": "BTCUSDT", "side": "long", "type": "limit", "qty": 1, "quote": 5}
        )
        assert status == 400 and answer["error"] == "invalid signal"
        assert answer["problems"] == [
            "side: expected one of buy, sell, got 'long'",
            "size: exactly one of qty, quote, risk is required (got qty, quote)",
            "price: required for a limit order",
        ]
        status, answer = await send(b"not json")
        assert status == 400 and str(answer["error"]).startswith("body is not valid JSON")
        assert (await send([GOOD]))[1]["problems"] == ["body: expected a JSON object, got list"]
        assert live.events.accepted == []
        assert {r.status for r in live.journal.webhook_requests()} == {400}


async def test_secret_unavailable_is_503_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def locked(name: str) -> str:
        raise RuntimeError(f"keyring locked; would have been {HOOK_SECRET}")

    caplog.set_level(logging.DEBUG)
    async with running(tmp_path, secret_for=locked, generic_hooks=("tv",)) as live:
        body = _body(GOOD)
        status, payload, _ = await live.post(
            live.server.hook_url("tv"), body, {"X-Signature": sign_hmac(HOOK_SECRET, body)}
        )
        assert (status, payload) == (503, {"ok": False, "error": "the secret of hook 'tv' is unavailable"})
    async with running(tmp_path / "b", secret_for=lambda name: None) as live:
        status, payload, _ = await live.post(live.server.hook_url("tv"), body, {"X-Signature": "00"})
        assert (status, payload["error"]) == (503, "no secret is configured for hook 'tv'")
        assert live.events.accepted == []
    assert HOOK_SECRET not in caplog.text

"""The MarketRaker route over real sockets: acceptance requests, every rejection rule, the
journal and the bus."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from terminal.model import Side, SignalSource
from terminal.signals.server import WebhookConfig, WebhookError, WebhookServer
from terminal.storage.journal import Journal, SignalVerdict, WebhookOutcome

from .support import (
    FIXTURES,
    INDICATOR,
    indicator,
    live_body,
    object_body,
    public_pem,
    running,
    sign,
)

pytestmark = pytest.mark.timeout(60)


def _postman() -> list[tuple[str, bytes, dict[str, str]]]:
    collection = json.loads((FIXTURES / "postman_collection.json").read_text())
    out = []
    for item in collection["item"]:
        req = item["request"]
        headers = {h["key"]: h["value"] for h in req["header"]}
        if req["body"].get("options", {}).get("raw", {}).get("language") == "json":
            headers["Content-Type"] = "application/json"  # what Postman adds for a JSON body
        out.append((item["name"], req["body"]["raw"].encode(), headers))
    return out


async def test_postman_collection_eight_accepted_invalid_rejected(tmp_path: Path) -> None:
    async with running(tmp_path, marketraker_key=FIXTURES / "public_key.pem") as live:
        answers: dict[str, tuple[int, dict[str, Any]]] = {}
        for name, body, headers in _postman():
            async with live.http.post(live.mr_url, data=body, headers=headers) as resp:
                answers[name] = (resp.status, await resp.json())
        invalid = answers.pop("Invalid Indicator")
        assert invalid == (401, {"ok": False, "error": "invalid signature"})
        assert {status for status, _ in answers.values()} == {200}
        ids = [payload["signal_id"] for _, payload in answers.values()]
        assert len(set(ids)) == 8
        published = {e.signal.id: e.signal for e in live.events.accepted}
        assert sorted(published) == sorted(ids)  # the invalid one published nothing
        assert {e.hook for e in live.events.accepted} == {"marketraker"}
        by_name = {name: published[payload["signal_id"]] for name, (_, payload) in answers.items()}
        assert by_name["Trading Pair BTC_USD"].symbol == "BTCUSDT"
        assert by_name["Successful indicator"].symbol == "SOLUSDT"
        assert by_name["Trading Type Short"].side is Side.SELL
        assert by_name["Sell Price 235"].target == Decimal("235.0")
        assert by_name["Successful indicator"].stop == Decimal("200")
        assert all(s.source is SignalSource.MARKETRAKER for s in published.values())
        assert [r.status for r in live.events.rejected] == [401]

        rows = live.journal.webhook_requests()
        assert len(rows) == 9
        assert [r.outcome for r in rows].count(WebhookOutcome.ACCEPTED) == 8
        bad = next(r for r in rows if r.outcome is WebhookOutcome.UNAUTHORIZED)
        assert bad.status == 401 and bad.signal_id is None and bad.reason == "invalid signature"
        assert bad.headers["X-Signature"] == "(present, not stored)"
        signals = live.journal.signals()
        assert len(signals) == 8 and {s.verdict for s in signals} == {SignalVerdict.ACCEPTED}


@pytest.mark.parametrize("key_form", ["pem", "one_line", "path"])
async def test_own_key_live_object_and_form3(tmp_path: Path, key_form: str) -> None:
    pem = public_pem()
    key: str | Path = {"pem": pem, "one_line": pem.strip().replace("\n", "\\n"), "path": tmp_path / "k.pem"}[
        key_form
    ]
    (tmp_path / "k.pem").write_text(pem)
    async with running(tmp_path, marketraker_key=key) as live:
        body, sig = live_body(indicator(risk=1))
        assert await live.mr(body, sig) == (
            200,
            {"ok": True, "signal_id": live.events.accepted[-1].signal.id},
        )
        body, sig = object_body(indicator(risk=2))
        status, payload = await live.mr(body, sig)
        assert status == 200 and payload["signal_id"] == live.events.accepted[-1].signal.id
        data = indicator(risk=3)
        body = json.dumps({"type": "indicator", "data": data}).encode()
        status, _ = await live.mr(body, sign(json.dumps(data).encode()))  # form 3
        assert status == 200
        signals = [e.signal for e in live.events.accepted]
        assert [s.confidence for s in signals] == [1.0, 0.9, 0.8]
        assert signals[0].symbol == "ETHUSDT" and signals[0].entry == Decimal("100.5")
        assert signals[0].horizon == INDICATOR["sell_prediction_date"] * 1000


async def test_signature_rejections_are_401_and_publish_nothing(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        body, sig = live_body(indicator())
        cases = {
            "missing x-signature header": None,
            "x-signature is not valid base64": "%%%",
            "invalid signature": sign(body, n=1),  # another key
        }
        for reason, signature in cases.items():
            assert await live.mr(body, signature) == (401, {"ok": False, "error": reason})
        tampered = body.replace(b"100.5", b"100.6")
        assert (await live.mr(tampered, sig))[0] == 401
        # Authentication comes before parsing: an unsigned malformed or unknown-type body is a 401.
        assert (await live.mr(b"{not json", None))[0] == 401
        assert (await live.mr(live_body({"x": 1}, kind="market_direction")[0], None))[0] == 401
        assert live.events.accepted == []
        assert [e.status for e in live.events.rejected] == [401] * 6
        assert {r.outcome for r in live.journal.webhook_requests()} == {WebhookOutcome.UNAUTHORIZED}


async def test_parse_rejections_are_400_with_what_is_wrong(tmp_path: Path) -> None:
    async with running(tmp_path) as live:

        async def signed_raw(body: bytes) -> tuple[int, dict[str, Any]]:
            return await live.mr(body, sign(body))

        status, payload = await signed_raw(b'{"type": "indicator", "data": ')
        assert status == 400 and payload["error"].startswith("body is not valid JSON")
        assert await signed_raw(b"[1, 2]") == (
            400,
            {"ok": False, "error": "body: expected a JSON object {type, data}"},
        )
        assert (await signed_raw(b'{"data": {}}'))[1]["error"] == "type: missing or not a string"
        assert (await signed_raw(b'{"type": "indicator"}'))[1]["error"] == "data: missing"
        status, payload = await signed_raw(b'{"type": "indicator", "data": "{oops"}')
        assert status == 400 and payload["error"].startswith("data: not valid JSON")

        data = indicator(leverage="2", trading_type="Sideways")
        del data["risk"]
        status, payload = await live.mr(*live_body(data))
        assert status == 400 and payload["error"] == "invalid indicator"
        assert payload["problems"] == [
            "trading_type: expected one of Long, Short, got 'Sideways'",
            "leverage: expected an integer, got str",
            "risk: missing",
        ]
        assert live.events.accepted == []
        rows = live.journal.webhook_requests()
        assert len(rows) == 6 and {r.status for r in rows} == {400}
        assert "risk: missing" in (rows[-1].reason or "")
        assert live.journal.signals() == []


async def test_unknown_type_is_202_journaled_not_published(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        body, sig = live_body({"direction": "Bull", "pair": "BTC/USD"}, kind="market_direction")
        status, payload = await live.mr(body, sig)
        assert status == 202
        assert payload == {
            "ok": True,
            "ignored": True,
            "reason": "notification type 'market_direction' is not actionable",
        }
        assert live.events.accepted == [] and live.events.rejected == []
        (row,) = live.journal.webhook_requests()
        assert row.outcome is WebhookOutcome.IGNORED and row.status == 202
        assert row.body is not None and "market_direction" in row.body


async def test_duplicates_across_forms_and_the_window(tmp_path: Path) -> None:
    clock = [1000.0]
    journal = Journal.open(tmp_path / "j.sqlite3")
    bus_events: list[Any] = []
    config = WebhookConfig(marketraker_key=public_pem(), duplicate_window_s=600)
    from terminal.bus import EventBus
    from terminal.signals.events import SignalAccepted

    bus = EventBus()
    bus.subscribe(SignalAccepted, bus_events.append)
    server = WebhookServer(config, bus=bus, journal=journal, monotonic=lambda: clock[0])
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:

            async def post(body: bytes, sig: str) -> dict[str, Any]:
                async with http.post(server.marketraker_url, data=body, headers={"x-signature": sig}) as r:
                    assert r.status == 200
                    return await r.json()

            first = await post(*live_body(indicator()))
            again = await post(*object_body(indicator()))  # same indicator, test-request form
            assert again == {"ok": True, "duplicate": True, "signal_id": first["signal_id"]}
            assert len(bus_events) == 1
            clock[0] += 601  # past the window: a new delivery
            assert await post(*live_body(indicator())) == first
            assert len(bus_events) == 2
    finally:
        await server.stop()
    verdicts = [s.verdict for s in journal.signals()]
    assert verdicts == [SignalVerdict.ACCEPTED, SignalVerdict.DUPLICATE, SignalVerdict.ACCEPTED]
    outcomes = [r.outcome for r in journal.webhook_requests()]
    assert outcomes == [WebhookOutcome.ACCEPTED, WebhookOutcome.DUPLICATE, WebhookOutcome.ACCEPTED]

    # A restart within the window still knows the last delivery (seeded from the journal).
    async with running(tmp_path, journal=journal) as live:
        assert (await live.mr(*live_body(indicator())))[1]["duplicate"] is True
        assert live.events.accepted == []
    journal.close()


async def test_flood_is_429_with_retry_after(tmp_path: Path) -> None:
    async with running(tmp_path, rate_per_minute=3) as live:
        answers = []
        for i in range(5):
            status, payload, headers = await live.post(
                live.mr_url, *(lambda b, s: (b, {"x-signature": s}))(*live_body(indicator(risk=i + 1)))
            )
            answers.append((status, headers.get("Retry-After")))
        assert [a[0] for a in answers] == [200, 200, 200, 429, 429]
        assert answers[3][1] == "20"  # 3/min: a token every 20 s
        assert payload == {"ok": False, "error": "more than 3 requests per minute", "retry_after_s": 20}
        assert len(live.events.accepted) == 3
        assert [e.status for e in live.events.rejected] == [429, 429]
        # A generic hook has its own bucket.
        status, _, _ = await live.post(live.server.hook_url("tv"), b"{}", {"X-Signature": "x"})
        assert status == 401
        rows = live.journal.webhook_requests()
        assert [r.status for r in rows] == [200, 200, 200, 429, 429, 401]


async def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    async with running(tmp_path, max_body=2048) as live:
        big = json.dumps({"type": "indicator", "data": "x" * 4000}).encode()
        status, payload = await live.mr(big, sign(big))
        assert (
            status == 413 and payload["error"] == f"body larger than 2048 bytes (Content-Length {len(big)})"
        )

        async def chunked() -> Any:  # no Content-Length: cut off while streaming
            for _ in range(10):
                yield b" " * 512

        async with live.http.post(live.mr_url, data=chunked(), headers={"x-signature": "x"}) as resp:
            assert resp.status == 413
            assert await resp.json() == {"ok": False, "error": "body larger than 2048 bytes"}
        body, sig = live_body(indicator())  # the connection pool still works after a 413
        assert (await live.mr(body, sig))[0] == 200
        rows = live.journal.webhook_requests()
        assert [r.outcome for r in rows] == [WebhookOutcome.TOO_LARGE] * 2 + [WebhookOutcome.ACCEPTED]
        assert rows[0].body is None and rows[0].body_size == len(big)


async def test_slow_body_is_408(tmp_path: Path) -> None:
    async with running(tmp_path, read_timeout_s=0.3) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.server.port)
        writer.write(
            b'POST /marketraker/notification HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"type"'
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408")
        writer.close()
        (row,) = live.journal.webhook_requests()
        assert row.outcome is WebhookOutcome.TIMEOUT


async def test_no_key_and_broken_journal_answer_503_never_500(tmp_path: Path) -> None:
    async with running(tmp_path, marketraker_key=None) as live:
        status, payload = await live.mr(*live_body(indicator()))
        assert (status, payload["error"]) == (503, "no MarketRaker verification key is configured")
        live.server.set_marketraker_key(public_pem())  # the settings dialog loads one later
        assert (await live.mr(*live_body(indicator())))[0] == 200
        live.journal.close()  # disk gone: the signal cannot be journaled, so it is not accepted
        status, payload = await live.mr(*live_body(indicator(risk=9)))
        assert (status, payload["error"]) == (503, "journal unavailable; the signal was not accepted")
        assert len(live.events.accepted) == 1
        assert live.server.journal_errors == 2  # the signal row and the request row
        live.journal = Journal.open(tmp_path / "journal.sqlite3")  # for the fixture's close()


async def test_routing_errors_are_journaled_json(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        async with live.http.get(live.mr_url) as resp:
            assert resp.status == 405
            assert await resp.json() == {"ok": False, "error": "method GET not allowed"}
        async with live.http.post(live.server.url + "/wp-login.php", data=b"x") as resp:
            assert resp.status == 404 and (await resp.json())["error"] == "no such route"
        rows = live.journal.webhook_requests()
        assert [(r.status, r.outcome) for r in rows] == [
            (405, WebhookOutcome.NOT_FOUND),
            (404, WebhookOutcome.NOT_FOUND),
        ]
        assert live.events.rejected == []  # not a hook: nothing for the signals dock


async def test_healthz_counts_and_extra(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        await live.mr(*live_body(indicator()))
        await live.mr(b"{}", None)
        live.server.health_extra = lambda: {"engine": {"mode": "demo"}}
        async with live.http.get(live.server.url + "/healthz") as resp:
            health = await resp.json()
        assert resp.status == 200 and health["ok"] is True and health["uptime_s"] >= 0
        assert health["counts"]["accepted"] == 1 and health["counts"]["unauthorized"] == 1
        assert health["requests"] == 2 and health["engine"] == {"mode": "demo"}
        assert health["marketraker"]["key_loaded"] is True and health["marketraker"]["verify_us_mean"] > 0
        assert health["hooks"] == ["tv"] and health["url"] == live.server.url

        def broken() -> dict[str, Any]:
            raise RuntimeError("boom")

        live.server.health_extra = broken
        async with live.http.get(live.server.url + "/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["extra_error"] == "RuntimeError"
        assert len(live.journal.webhook_requests()) == 2  # health polls are not journaled


async def test_journal_never_holds_signatures_or_secrets(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        body, sig = live_body(indicator())
        await live.mr(body, sig)
        secretish = json.dumps({"type": "x", "passphrase": "hunter2-pass", "data": {"api_key": "AK-123456"}})
        await live.mr(secretish.encode(), sign(secretish.encode()))
        await live.post(
            live.server.hook_url("tv"),
            b'{"symbol": "BTCUSDT"}',
            {"X-Signature": "deadbeef" * 8, "Authorization": "Bearer tok-987654", "Cookie": "c=cookie-555"},
        )
        rows = live.journal.webhook_requests()
        assert len(rows) == 3
        assert rows[1].outcome is WebhookOutcome.IGNORED and '"passphrase": "***"' in (rows[1].body or "")
        assert "Authorization" not in rows[2].headers and "Cookie" not in rows[2].headers
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite3*"))
    for needle in (sig, "hunter2-pass", "AK-123456", "tok-987654", "cookie-555", "deadbeef" * 8):
        assert needle.encode() not in stored, needle


async def test_config_and_start_errors(tmp_path: Path) -> None:
    with pytest.raises(WebhookError, match="marketraker_path"):
        WebhookConfig(marketraker_path="/signal/x")
    with pytest.raises(WebhookError, match="hook names"):
        WebhookConfig(generic_hooks=("a/b",))
    with pytest.raises(WebhookError, match="rate_per_minute"):
        WebhookConfig(rate_per_minute=0)
    async with running(tmp_path) as live:
        from terminal.bus import EventBus

        clash = WebhookServer(WebhookConfig(port=live.server.port), bus=EventBus(), journal=live.journal)
        with pytest.raises(WebhookError, match="cannot listen"):
            await clash.start()
        assert not clash.running
        with pytest.raises(WebhookError, match="already started"):
            await live.server.start()


async def test_an_internal_error_is_a_logged_503(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running(tmp_path) as live:

        def broken(key: str) -> bool:
            raise RuntimeError("bug in a guard")

        live.server._dups.seen = broken  # type: ignore[method-assign]
        status, payload = await live.mr(*live_body(indicator()))
        assert (status, payload) == (503, {"ok": False, "error": "internal error; the request was logged"})
        assert "bug in a guard" in caplog.text
        assert live.events.accepted == []
        (row,) = live.journal.webhook_requests()
        assert row.outcome is WebhookOutcome.UNAVAILABLE

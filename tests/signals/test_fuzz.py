"""Property-based fuzzing of the listener over real sockets: bodies, headers, random bytes and
mutated valid requests. Never a 5xx; never a SignalAccepted from an input that was refused;
an accepted request always carries exactly the content that was signed.

One server per module, on its own loop in a background thread, so hypothesis drives it from
plain synchronous tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminal.bus import EventBus
from terminal.signals.events import SignalAccepted
from terminal.signals.generic import GenericSignalError, parse_generic, sign_hmac
from terminal.signals.indicator import IndicatorError, parse_indicator
from terminal.signals.server import WebhookConfig, WebhookServer
from terminal.storage.journal import Journal

from .support import HOOK_SECRET, INDICATOR, indicator, object_body, public_pem, sign

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
T = TypeVar("T")
MISSING = object()


class Harness:
    """A listener on a private loop; calls block the test thread until answered."""

    def __init__(self, path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="webhook-fuzz", daemon=True)
        self.thread.start()
        self.journal = Journal.open(path)
        self.bus = EventBus()
        self.accepted: list[SignalAccepted] = []
        self.bus.subscribe(SignalAccepted, self.accepted.append)
        config = WebhookConfig(
            marketraker_key=public_pem(),
            generic_hooks=("tv",),
            rate_per_minute=10**7,
            max_body=8192,
            read_timeout_s=2.0,
        )
        self.server = WebhookServer(
            config, bus=self.bus, journal=self.journal, secret_for={"tv": HOOK_SECRET}.get
        )
        self.run(self.server.start())
        self.http: aiohttp.ClientSession = self.run(self._session())

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            async with self.http.post(self.server.url + path, data=body, headers=headers) as resp:
                text = await resp.text()
                try:
                    return resp.status, json.loads(text)
                except ValueError:
                    return resp.status, text

        return self.run(go())

    def raw(self, data: bytes) -> bytes:
        """Write ``data`` on a fresh connection and return the answer; a request the server
        is still waiting on is half-closed after a moment (aiohttp then hangs up quietly)."""

        async def go() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
            try:
                writer.write(data)
                await writer.drain()
                try:
                    return await asyncio.wait_for(reader.read(65536), 0.05)
                except TimeoutError:
                    writer.write_eof()
                    return await asyncio.wait_for(reader.read(65536), 5)
            except (ConnectionError, TimeoutError):
                return b""
            finally:
                writer.close()

        return self.run(go())

    def close(self) -> None:
        self.run(self.http.close())
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        self.journal.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("fuzz") / "journal.sqlite3")
    yield h
    h.close()
    assert h.server.journal_errors == 0


def _check(h: Harness, before: int, status: int, payload: Any) -> list[SignalAccepted]:
    """The shared properties; returns the events this request published."""
    assert status < 500, (status, payload)
    new = h.accepted[before:]
    if status == 200 and isinstance(payload, dict) and payload.get("ok") and not payload.get("duplicate"):
        assert [e.signal.id for e in new] == [payload["signal_id"]]
    else:
        assert new == [], (status, payload)
    return new


# ---------------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def indicator_data(draw: st.DrawFn) -> dict[str, Any]:
    """Indicator fields each kept, dropped or replaced by junk; sometimes an extra field."""
    out: dict[str, Any] = {}
    for name, good in INDICATOR.items():
        choice = draw(st.sampled_from(["keep", "keep", "keep", "drop", "junk"]))
        if choice == "keep":
            out[name] = good
        elif choice == "junk":
            out[name] = draw(json_values)
    if draw(st.booleans()):
        out["risk"] = draw(st.integers(-2, 12))  # around the 1..10 bounds, and fresh content
    if draw(st.booleans()):
        out[draw(st.text(max_size=8))] = draw(json_values)
    return out


header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-XYZ", min_size=1, max_size=12).filter(
    lambda n: (
        n.lower() not in {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade"}
    )
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


# ---------------------------------------------------------------------- properties


@FUZZ
@given(data=indicator_data(), live_form=st.booleans())
def test_signed_indicators_accepted_exactly_when_valid(
    harness: Harness, data: dict[str, Any], live_form: bool
) -> None:
    if live_form:
        body = json.dumps({"type": "indicator", "data": json.dumps(data)}).encode()
        sig = sign(body)
    else:
        body, sig = object_body(data)
    try:
        expected_id: str | None = parse_indicator(data).signal_id()
    except IndicatorError:
        expected_id = None
    before = len(harness.accepted)
    status, payload = harness.post("/marketraker/notification", body, {"x-signature": sig})
    _check(harness, before, status, payload)
    if expected_id is None:
        assert status == 400 and payload["error"] == "invalid indicator" and payload["problems"]
    else:
        assert status == 200 and payload["signal_id"] == expected_id


@FUZZ
@given(value=json_values, kind=st.sampled_from(["indicator", "Indicator", "market_direction", "", None, 3]))
def test_signed_arbitrary_json_never_5xx(harness: Harness, value: Any, kind: Any) -> None:
    envelope = value if isinstance(value, dict) and kind is None else {"type": kind, "data": value}
    body = json.dumps(envelope).encode()
    before = len(harness.accepted)
    status, payload = harness.post("/marketraker/notification", body, {"x-signature": sign(body)})
    _check(harness, before, status, payload)
    assert status in (200, 202, 400)


@FUZZ
@given(
    headers=st.dictionaries(header_names, header_values, max_size=5),
    signature=st.one_of(
        st.none(),
        header_values,
        st.binary(min_size=256, max_size=256).map(lambda b: base64.b64encode(b).decode()),
        st.just("GOOD"),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
    encoding=st.sampled_from([None, "gzip", "deflate", "br", "identity", "zz"]),
)
def test_headers_never_5xx_and_only_the_right_signature_passes(
    harness: Harness, headers: dict[str, str], signature: str | None, content_type: str, encoding: str | None
) -> None:
    body = json.dumps({"type": "indicator", "data": json.dumps(indicator(risk=7))}).encode()
    sent = {k: v for k, v in headers.items() if k.lower() not in {"x-signature", "content-encoding"}}
    sent["Content-Type"] = content_type
    if encoding is not None:
        sent["Content-Encoding"] = encoding
    if signature is not None:
        sent["x-signature"] = sign(body) if signature == "GOOD" else signature
    before = len(harness.accepted)
    status, payload = harness.post("/marketraker/notification", body, sent)
    new = _check(harness, before, status, payload)
    if signature != "GOOD":
        assert new == [] and status in (400, 401)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, str]:
    body, sig = object_body(indicator())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "sig"]))
        i = draw(st.integers(0, len(body) - 1))
        if op == "flip":
            body = body[:i] + bytes([body[i] ^ draw(st.integers(1, 255))]) + body[i + 1 :]
        elif op == "delete":
            body = body[:i] + body[i + draw(st.integers(1, 8)) :]
        elif op == "insert":
            body = body[:i] + draw(st.binary(min_size=1, max_size=4)) + body[i:]
        else:
            j = draw(st.integers(0, len(sig) - 1))
            sig = sig[:j] + draw(st.sampled_from("ABCxyz019+/=")) + sig[j + 1 :]
    return body, sig


@FUZZ
@given(mutated=mutations())
def test_mutated_requests_never_accept_other_content(harness: Harness, mutated: tuple[bytes, str]) -> None:
    body, sig = mutated
    original_id = parse_indicator(indicator()).signal_id()
    before = len(harness.accepted)
    status, payload = harness.post("/marketraker/notification", body, {"x-signature": sig})
    _check(harness, before, status, payload)
    if status == 200:
        # Only whitespace-level changes keep a form-2 signature valid: the content is the same.
        assert payload["signal_id"] == original_id
    else:
        assert status in (400, 401)


@FUZZ
@given(
    body=st.binary(max_size=600),
    path=st.sampled_from(["/marketraker/notification", "/signal/tv", "/signal/x"]),
)
def test_random_bytes_never_5xx(harness: Harness, body: bytes, path: str) -> None:
    before = len(harness.accepted)
    status, payload = harness.post(path, body, {"x-signature": base64.b64encode(body[:256]).decode()})
    _check(harness, before, status, payload)
    assert status in (401, 404)


@FUZZ
@given(
    prefix=st.sampled_from(
        [
            b"",
            b"POST /marketraker/notification HTTP/1.1\r\n",
            b"POST /signal/tv HTTP/1.1\r\nHost: x\r\n",
            b"POST /marketraker/notification HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\n",
        ]
    ),
    garbage=st.binary(max_size=300),
    end=st.sampled_from([b"", b"\r\n\r\n"]),
)
def test_raw_socket_garbage_never_5xx(harness: Harness, prefix: bytes, garbage: bytes, end: bytes) -> None:
    before = len(harness.accepted)
    answer = harness.raw(prefix + garbage + end)
    if answer.startswith(b"HTTP/"):
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:200]
    assert harness.accepted[before:] == []


def test_raw_socket_garbage_is_answered(harness: Harness) -> None:
    """The garbage property above is not vacuous: the server does answer such bytes."""
    for data in (
        b"\x00\x01garbage\r\n\r\n",
        b"POST /signal/tv HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
    ):
        assert harness.raw(data).split(b" ", 2)[1] == b"400", data


generic_fields = st.fixed_dictionaries(
    {},
    optional={
        "symbol": st.one_of(st.sampled_from(["BTCUSDT", "eth/usd", "", "X"]), json_values),
        "side": st.one_of(st.sampled_from(["buy", "SELL", "hold"]), json_values),
        "type": st.one_of(st.sampled_from(["market", "limit"]), json_values),
        "qty": st.one_of(st.sampled_from([1, "0.5", 0, -1, "1e3"]), json_values),
        "quote": st.one_of(st.sampled_from([100, "25.5"]), json_values),
        "risk": st.one_of(st.sampled_from(["0.01", 0.2]), json_values),
        "price": st.one_of(st.sampled_from([100, "99.5"]), json_values),
        "stop": st.one_of(st.sampled_from([90, "110"]), json_values),
        "target": st.one_of(st.sampled_from([120, 80]), json_values),
        "leverage": st.one_of(st.integers(-1, 200), json_values),
        "id": st.one_of(st.text(max_size=10), st.integers(), json_values),
        "extra": json_values,
    },
)


@FUZZ
@given(fields=generic_fields)
def test_generic_bodies_accepted_exactly_when_valid(harness: Harness, fields: dict[str, Any]) -> None:
    body = json.dumps(fields).encode()
    try:
        expected: str | None = parse_generic("tv", fields, None).signal_id()
    except GenericSignalError:
        expected = None
    before = len(harness.accepted)
    status, payload = harness.post("/signal/tv", body, {"X-Signature": sign_hmac(HOOK_SECRET, body)})
    _check(harness, before, status, payload)
    if expected is None:
        assert status == 400 and payload["problems"]
    else:
        assert status == 200 and payload["signal_id"] == expected

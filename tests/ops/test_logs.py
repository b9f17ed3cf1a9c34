"""configure_logging: JSON lines with correlation ids, the rotating file, secret scrubbing."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.ops import SecretScrubber, configure_logging, scrub, use_correlation
from terminal.ops.logs import LogHandles

log = logging.getLogger("terminal.test.ops")

BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"


@pytest.fixture
def json_logs(tmp_path: Path) -> Iterator[tuple[LogHandles, io.StringIO]]:
    console = io.StringIO()
    handles = configure_logging(tmp_path, json=True, level="DEBUG", stream=console)
    try:
        yield handles, console
    finally:
        handles.close()


def records(handles: LogHandles) -> list[dict[str, object]]:
    handles.file.flush()
    return [json.loads(line) for line in handles.path.read_text().splitlines()]


def test_json_lines_carry_the_correlation_id_and_extras(json_logs) -> None:
    handles, console = json_logs
    log.info("before")
    with use_correlation("mr-abc123"):
        log.warning("order %s placed", "t-1", extra={"venue": "binance_usdm"})
    log.info("after")
    rows = records(handles)
    assert [r["msg"] for r in rows] == ["before", "order t-1 placed", "after"]
    assert "correlation_id" not in rows[0] and "correlation_id" not in rows[2]
    assert rows[1]["correlation_id"] == "mr-abc123"
    assert rows[1]["level"] == "WARNING" and rows[1]["logger"] == "terminal.test.ops"
    assert rows[1]["venue"] == "binance_usdm"
    assert str(rows[1]["ts"]).endswith("+00:00")
    assert [json.loads(x)["msg"] for x in console.getvalue().splitlines()] == [r["msg"] for r in rows]
    assert handles.path == Path(handles.path.parent.parent) / "logs" / "terminal.log"
    assert stat.S_IMODE(handles.path.stat().st_mode) == 0o600


async def test_tasks_inherit_the_correlation_id(json_logs) -> None:
    handles, _ = json_logs

    async def child() -> None:
        await asyncio.sleep(0)
        log.info("in a task")

    with use_correlation("sig-7"):
        task = asyncio.ensure_future(child())  # copies the context here
    log.info("outside")
    await task
    rows = {r["msg"]: r.get("correlation_id") for r in records(handles) if r["logger"] == log.name}
    assert rows == {"outside": None, "in a task": "sig-7"}


def test_text_format_and_exceptions(tmp_path: Path) -> None:
    console = io.StringIO()
    handles = configure_logging(tmp_path, level=logging.INFO, stream=console)
    try:
        log.debug("hidden")
        with use_correlation("c-1"):
            log.info("visible")
        try:
            raise RuntimeError(f"venue said: bad api_key={BINANCE_KEY}")
        except RuntimeError:
            log.exception("request failed")
    finally:
        handles.close()
    text = handles.path.read_text()
    assert "hidden" not in text
    assert "terminal.test.ops [c-1]: visible" in text
    assert "RuntimeError: venue said: bad api_key=***" in text and "Traceback" in text
    assert BINANCE_KEY not in text and BINANCE_KEY not in console.getvalue()


def test_the_file_rotates(tmp_path: Path) -> None:
    handles = configure_logging(tmp_path, console=False, max_bytes=2048, backups=2)
    try:
        for i in range(200):
            log.info("line %04d %s", i, "x" * 40)
    finally:
        handles.close()
    files = sorted(p.name for p in handles.path.parent.iterdir())
    assert files == ["terminal.log", "terminal.log.1", "terminal.log.2"]
    assert all(p.stat().st_size <= 2048 for p in handles.path.parent.iterdir())
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in handles.path.parent.iterdir())
    assert "line 0199" in handles.path.read_text()  # the newest lines are in the current file


def test_secrets_are_scrubbed(json_logs) -> None:
    handles, _ = json_logs
    handles.scrubber.add("hunter2-registered")
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    log.info("GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=%s", "a" * 20 + "1" * 44)
    log.info("headers %s", {"X-MBX-APIKEY": BINANCE_KEY, "Content-Type": "application/json"})
    log.info('body {"passphrase": "tv pass phrase", "symbol": "BTCUSDT", "qty": "0.5"}')
    log.info("telegram https://api.telegram.org/bot%s/sendMessage failed", TG_TOKEN)
    log.info("Authorization: Bearer abcdefghijklmnop123")
    log.info("loaded %s", pem)
    log.info("password is hunter2-registered, keep it")
    log.info("key alone %s", BINANCE_KEY)
    log.info("order t-0mxbkpya5oxwgg7pjca BUY 0.5 BTCUSDT @ 65000.12 (trade 100000001)")
    text = handles.path.read_text()
    for secret in (
        BINANCE_KEY,
        "tv pass phrase",
        TG_TOKEN,
        "abcdefghijklmnop123",
        "MIIEvQ",
        "hunter2",
        "1" * 44,
    ):
        assert secret not in text, secret
    msgs = [r["msg"] for r in records(handles)]
    assert "symbol=BTCUSDT&timestamp=1&signature=***" in msgs[0]
    assert '"symbol": "BTCUSDT", "qty": "0.5"' in msgs[2]
    # Ordinary trading lines are left alone: ids, prices, trade ids.
    assert msgs[-1] == "order t-0mxbkpya5oxwgg7pjca BUY 0.5 BTCUSDT @ 65000.12 (trade 100000001)"


def test_scrub_and_scrubber_directly() -> None:
    assert scrub("api_secret=abc123def") == "api_secret=***"
    assert scrub("'secret': 'xyz'") == "'secret': '***'"
    assert scrub("price 65000.12 qty 0.001") == "price 65000.12 qty 0.001"
    s = SecretScrubber(("short", "long-enough-secret"))
    assert s.scrub("short and long-enough-secret") == "short and ***"  # under 6 chars: not masked


def test_bad_options_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging(tmp_path, level="LOUD")
    with pytest.raises(ValueError, match="max_bytes"):
        configure_logging(tmp_path, max_bytes=10)


def test_reconfigure_replaces_and_close_restores(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    first = configure_logging(tmp_path / "a", console=False)
    second = configure_logging(tmp_path / "b", console=False)
    ours = [h for h in root.handlers if h not in before]
    assert ours == [second.file]  # the first call's handler was replaced, not stacked
    second.close()
    first.close()
    assert root.handlers == before

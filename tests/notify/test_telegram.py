"""TelegramChannel against a fake Bot API on 127.0.0.1: content, 429/500 handling, no token leaks."""

from __future__ import annotations

import asyncio
import logging

import pytest

from terminal.bus import EventBus
from terminal.notify import (
    ChannelKind,
    DeliveryError,
    Notice,
    NoticeKind,
    Notifier,
    NotifyConfig,
    RetryPolicy,
    Severity,
    TelegramChannel,
    TelegramConfig,
)
from terminal.notify.telegram import MAX_TEXT

from .support import TOKEN, FakeTelegram, telegram_server, too_many

NOTICE = Notice(NoticeKind.TEST, title="Hello", body="line two", severity=Severity.WARNING)


async def test_sends_chat_id_and_text_to_the_token_path() -> None:
    async with telegram_server() as fake:
        ch = TelegramChannel(TelegramConfig(chat_id="-1001", base_url=fake.url), lambda: TOKEN)
        await ch.send(NOTICE)
        await ch.aclose()
    (req,) = fake.requests
    assert req.token == TOKEN
    assert req.payload["chat_id"] == "-1001"
    assert req.payload["text"] == "Hello\nline two"


async def test_long_text_is_cut_to_the_api_limit() -> None:
    async with telegram_server() as fake:
        ch = TelegramChannel(TelegramConfig(chat_id="1", base_url=fake.url), lambda: TOKEN)
        await ch.send(Notice(NoticeKind.TEST, title="x", body="y" * 10_000))
        await ch.aclose()
    assert len(fake.requests[0].payload["text"]) == MAX_TEXT


async def test_429_is_retryable_with_the_servers_retry_after() -> None:
    async with telegram_server(FakeTelegram(script=[too_many(7)])) as fake:
        ch = TelegramChannel(TelegramConfig(chat_id="1", base_url=fake.url), lambda: TOKEN)
        with pytest.raises(DeliveryError) as err:
            await ch.send(NOTICE)
        await ch.aclose()
    assert not err.value.permanent
    assert err.value.retry_after == 7
    assert TOKEN not in str(err.value)


async def test_unauthorized_is_permanent_and_the_token_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "999:wrong-token-secret"
    async with telegram_server() as fake:
        config = NotifyConfig(
            routes={NoticeKind.TEST: frozenset({ChannelKind.TELEGRAM})},
            telegram=TelegramConfig(chat_id="1", base_url=fake.url),
            retry=RetryPolicy(attempts=3, base_s=0.01, max_s=0.05),
        )
        notifier = Notifier(EventBus(), config, [TelegramChannel(config.telegram, lambda: bad)])  # type: ignore[arg-type]
        notifier.start()
        notifier.post(NOTICE)
        await notifier.close(timeout_s=5)
    stats = notifier.stats()[ChannelKind.TELEGRAM]
    assert len(fake.requests) == 1  # a permanent error is not retried
    assert stats.failed == 1 and stats.sent == 0
    assert "401" in stats.last_error
    assert bad not in caplog.text and bad not in stats.last_error
    assert "gave up" in caplog.text


async def test_connection_errors_are_scrubbed_of_the_token() -> None:
    # Nothing listens on this port: aiohttp's error may quote the URL, which holds the token.
    ch = TelegramChannel(TelegramConfig(chat_id="1", base_url="http://127.0.0.1:9"), lambda: TOKEN)
    with pytest.raises(DeliveryError) as err:
        await ch.send(NOTICE)
    await ch.aclose()
    assert not err.value.permanent
    assert TOKEN not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


async def test_missing_token_is_a_clear_permanent_error() -> None:
    ch = TelegramChannel(TelegramConfig(chat_id="1"), lambda: None)
    with pytest.raises(DeliveryError, match=r"no bot token stored.*telegram:bot_token") as err:
        await ch.send(NOTICE)
    assert err.value.permanent


async def test_worker_honours_429_then_retries_500_then_delivers() -> None:
    script = [too_many(1), (500, {"ok": False, "error_code": 500, "description": "Internal"})]
    async with telegram_server(FakeTelegram(script=list(script))) as fake:
        config = NotifyConfig(
            routes={NoticeKind.TEST: frozenset({ChannelKind.TELEGRAM})},
            telegram=TelegramConfig(chat_id="1", base_url=fake.url),
            retry=RetryPolicy(attempts=4, base_s=0.05, max_s=5),
        )
        notifier = Notifier(EventBus(), config, [TelegramChannel(config.telegram, lambda: TOKEN)])  # type: ignore[arg-type]
        notifier.start()
        notifier.post(NOTICE)
        await notifier.close(timeout_s=10)
    statuses = [r.payload["_status"] for r in fake.requests]
    assert statuses == [429, 500, 200]
    gap_429 = fake.requests[1].at - fake.requests[0].at
    gap_500 = fake.requests[2].at - fake.requests[1].at
    assert 0.95 <= gap_429 < 2.0  # retry_after=1 honoured (not the 0.05 s back-off)
    assert 0.09 <= gap_500 < 0.8  # second failure: base_s * 2
    stats = notifier.stats()[ChannelKind.TELEGRAM]
    assert (stats.sent, stats.retries, stats.failed) == (1, 2, 0)


async def test_gives_up_after_the_policys_attempts() -> None:
    fail = (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    async with telegram_server(FakeTelegram(script=[fail] * 5)) as fake:
        config = NotifyConfig(
            routes={NoticeKind.TEST: frozenset({ChannelKind.TELEGRAM})},
            telegram=TelegramConfig(chat_id="1", base_url=fake.url),
            retry=RetryPolicy(attempts=3, base_s=0.01, max_s=0.02),
        )
        notifier = Notifier(EventBus(), config, [TelegramChannel(config.telegram, lambda: TOKEN)])  # type: ignore[arg-type]
        notifier.start()
        notifier.post(NOTICE)
        await asyncio.sleep(0)
        assert await notifier.close(timeout_s=5)
    assert len(fake.requests) == 3
    assert notifier.stats()[ChannelKind.TELEGRAM].failed == 1

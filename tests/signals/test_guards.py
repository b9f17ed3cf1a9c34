"""Rate limiter, duplicate window and bounded body reading, on a controlled clock."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from terminal.signals.guards import BodyTooLarge, DuplicateWindow, RateLimiter, TokenBucket, read_limited


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_burst_refill_and_retry_after() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_minute=6, burst=3, clock=clock)  # one token per 10 s
    assert [bucket.take().allowed for _ in range(4)] == [True, True, True, False]
    assert bucket.take().retry_after_s == 10
    clock.t += 4
    assert bucket.take().retry_after_s == 6
    clock.t += 6
    assert bucket.take().allowed
    assert not bucket.take().allowed
    clock.t += 1000  # refills to the burst, not beyond
    assert [bucket.take().allowed for _ in range(4)] == [True, True, True, False]
    clock.t -= 500  # a clock stepping back must not refill or drain
    assert not bucket.take().allowed


def test_rate_limiter_is_per_key_and_defaults_burst_to_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(120, clock=clock)
    assert limiter.burst == 120
    assert all(limiter.check("a").allowed for _ in range(120))
    assert not limiter.check("a").allowed
    assert limiter.check("b").allowed  # another hook has its own bucket
    clock.t += 0.5  # 120/min = 2/s
    assert limiter.check("a").allowed
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_duplicate_window_expires_and_is_bounded() -> None:
    clock = Clock()
    window = DuplicateWindow(600, max_entries=3, clock=clock)
    window.remember("a")
    clock.t += 300
    window.remember("b")
    assert window.seen("a") and window.seen("b") and not window.seen("c")
    clock.t += 300  # "a" is exactly window_s old: expired
    assert not window.seen("a") and window.seen("b")
    for key in "cde":
        window.remember(key)
    assert len(window) == 3 and not window.seen("b")  # oldest evicted by the bound
    window.remember("old", at=clock.t - 700)  # seeded from the journal, already expired
    assert not window.seen("old")


async def _stream(chunks: list[bytes]) -> StreamReader:
    loop = asyncio.get_running_loop()
    reader = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def test_read_limited() -> None:
    assert await read_limited(await _stream([b"ab", b"cd"]), 4, None) == b"abcd"
    with pytest.raises(BodyTooLarge, match="larger than 4 bytes"):
        await read_limited(await _stream([b"ab", b"cde"]), 4, None)
    with pytest.raises(BodyTooLarge, match="Content-Length 10"):
        await read_limited(await _stream([]), 4, 10)

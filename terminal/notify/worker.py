"""One queue and one task per channel: a slow or dead channel delays nobody else.

``post`` is O(1) and never awaits (it runs inside bus handlers, on the trading path). The task
sends in order, merges bursts of coalescing kinds, retries with back-off (a server's
``retry_after`` wins) and gives a notice up after the policy's attempts — logged, counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from terminal.notify.channel import Channel, DeliveryError
from terminal.notify.config import RetryPolicy
from terminal.notify.format import coalesce
from terminal.notify.model import COALESCED, Notice

__all__ = ["ChannelStats", "ChannelWorker"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ChannelStats:
    posted: int = 0
    sent: int = 0  # messages delivered (a coalesced burst counts once)
    dropped: int = 0  # the queue was full: the oldest went
    replaced: int = 0  # superseded in the queue by a newer notice with the same dedupe key
    retries: int = 0
    failed: int = 0  # given up on (permanent error or out of attempts)
    last_error: str = ""


class ChannelWorker:
    def __init__(self, channel: Channel, *, queue_size: int, retry: RetryPolicy, coalesce_s: float) -> None:
        self.channel = channel
        self.retry = retry
        self.coalesce_s = coalesce_s
        self.stats = ChannelStats()
        self._queue: deque[Notice] = deque(maxlen=queue_size)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def name(self) -> str:
        return str(self.channel.kind)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"notify-{self.name}")

    def post(self, notice: Notice) -> None:
        if self._closing:
            return
        self.stats.posted += 1
        if notice.dedupe_key is not None:
            for i, queued in enumerate(self._queue):
                if queued.dedupe_key == notice.dedupe_key:
                    del self._queue[i]
                    self.stats.replaced += 1
                    break
        if len(self._queue) == self._queue.maxlen:
            self.stats.dropped += 1
            # Counted, and logged at powers of two so a flood cannot flood the log too.
            if self.stats.dropped & (self.stats.dropped - 1) == 0:
                log.warning(
                    "notify %s: queue full (%d), dropped the oldest notice (%d dropped so far)",
                    self.name,
                    self._queue.maxlen,
                    self.stats.dropped,
                )
        self._queue.append(notice)  # a full deque drops its left end itself
        self._idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._queue[0].kind in COALESCED and self.coalesce_s > 0 and not self._closing:
                await asyncio.sleep(self.coalesce_s)  # let the burst arrive, then send it as one
            await self._deliver(self._take())

    def _take(self) -> Notice:
        """The head notice, merged with every queued notice of its kind if that kind coalesces."""
        head = self._queue.popleft()
        if head.kind not in COALESCED:
            return head
        same = [n for n in self._queue if n.kind is head.kind]
        for n in same:
            self._queue.remove(n)
        return coalesce([head, *same])

    async def _deliver(self, notice: Notice) -> None:
        for attempt in range(1, self.retry.attempts + 1):
            try:
                await self.channel.send(notice)
            except DeliveryError as exc:
                self.stats.last_error = str(exc)
                if exc.permanent or attempt == self.retry.attempts:
                    self.stats.failed += 1
                    log.error(
                        "notify %s: gave up on %r after %d attempt(s): %s",
                        self.name,
                        notice.title,
                        attempt,
                        exc,
                    )
                    return
                delay = self.retry.delay(attempt, exc.retry_after)
                self.stats.retries += 1
                log.warning("notify %s: %s; retry %d in %.1f s", self.name, exc, attempt, delay)
                await asyncio.sleep(delay)
            except Exception as exc:  # a channel bug: log it, keep the worker alive
                self.stats.failed += 1
                self.stats.last_error = f"{type(exc).__name__}"
                log.error("notify %s: channel raised %s on %r", self.name, type(exc).__name__, notice.title)
                return
            else:
                self.stats.sent += 1
                return

    async def close(self, timeout_s: float) -> bool:
        """Stop taking notices, send what is queued for up to ``timeout_s``; True if all went."""
        self._closing = True
        drained = not self._queue
        if self._task is not None:
            drained = True
            try:
                await asyncio.wait_for(self._idle.wait(), timeout_s)
            except TimeoutError:
                drained = False
                log.warning(
                    "notify %s: gave up at close with %d notice(s) queued", self.name, len(self._queue)
                )
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.channel.aclose()
        return drained

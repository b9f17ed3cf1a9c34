"""One server-side websocket peer with a bounded outgoing queue.

Publishers serialise a message once and ``send`` the same bytes to every peer; a
writer task drains each peer's queue. A peer that cannot keep up is cut off, as
the real venues do with slow consumers, instead of growing memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

_CLOSE = object()


class WsPeer:
    def __init__(self, ws: web.WebSocketResponse, name: str, max_queue: int = 50_000) -> None:
        self.ws = ws
        self.name = name
        self._queue: asyncio.Queue[str | bytes | object] = asyncio.Queue(max_queue)
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self.sent = 0

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, payload: str | bytes) -> None:
        """Queue a text frame (bytes are sent as UTF-8 text, as the venues do)."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            log.warning("%s: slow consumer, disconnecting", self.name)
            self.drop()

    def drop(self) -> None:
        """Cut the TCP connection with no close frame (what a network failure looks like)."""
        if self.closed:
            return
        self.closed = True
        transport = self.ws._req.transport if self.ws._req is not None else None
        if transport is not None:
            transport.abort()
        if self._writer is not None:
            self._writer.cancel()

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        if self.closed:
            return
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=message)

    async def _write_loop(self) -> None:
        ws = self.ws
        queue = self._queue
        try:
            while True:
                item = await queue.get()
                if item is _CLOSE:
                    return
                if isinstance(item, bytes):
                    await ws.send_str(item.decode())
                else:
                    await ws.send_str(item)  # type: ignore[arg-type]
                self.sent += 1
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("%s: writer failed", self.name)
        finally:
            self.closed = True


async def iter_text(ws: web.WebSocketResponse):
    """Yield incoming text frames until the peer goes away."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            yield msg.data
        elif msg.type == WSMsgType.BINARY:
            yield msg.data.decode(errors="replace")
        elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return

"""A supervised asyncio websocket client (aiohttp) for market and user data.

Why our own: python-binance gives up after 5 reconnects and pybit's thread dies on odd frames
(PROTOCOLS.md §2). A dropped or silent stream must heal by itself, forever, so this layer:

- reconnects with full-jitter exponential backoff that never gives up;
- calls an async ``subscribe(ws)`` hook after every (re)connect (resubscription);
- keeps the socket honest with aiohttp's ping/pong heartbeat plus an optional application ping
  (Bybit wants ``{"op":"ping"}`` every 20 s, a protocol ping does not count there);
- runs a staleness watchdog per stream key: a key silent for ``stale_after_s`` is STALE, and when
  the whole connection has had no data for that long it is torn down and reconnected - a stall on
  an open socket whose pongs still arrive would otherwise never heal;
- reports ``FeedStatus`` changes (connecting → live → stale/reconnecting → live), and every lost
  connection as a new RECONNECTING, even one lost before its first data frame.

Parsing belongs to the adapter: frames are handed over as raw strings with their receive time,
``time.perf_counter_ns()`` taken as the frame is read (monotonic, for latency figures; the same
clock as ``BookUpdated.recv_ns``). The optional ``stream_key`` callable tells data frames (-> their
stream key) from control frames such as acks and pongs (-> None), which must not count as liveness.

Per data frame the bookkeeping is a few counter stores (``_Track``); a ``FeedStatus`` (immutable,
wall-clock ms for display) is built only on a state change or when ``status``/``key_status`` is
read, not per frame: that replace() was ~2.5 µs twice per frame, the biggest live-path cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from terminal.model.enums import FeedState, Venue
from terminal.model.feed import FeedStatus

__all__ = ["Backoff", "SupervisedStream"]

log = logging.getLogger(__name__)

UrlFactory = Callable[[], str | Awaitable[str]]
MessageHandler = Callable[[str, int], None]  # (raw text frame, receive time: time.perf_counter_ns)
StatusHandler = Callable[[FeedStatus], None]
SubscribeHook = Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]]
StreamKeyFn = Callable[[str], str | None]

_MAX_EXPONENT = 30  # 0.25 s * 2**30 is far past any cap; keeps the float finite forever


@dataclass(slots=True)
class Backoff:
    """Full-jitter exponential backoff: delay ~ U(0, min(cap, base * 2**attempt)).

    Full jitter spreads the reconnects of many clients after a venue outage. There is no attempt
    limit on purpose; ``reset()`` (after a connection stayed healthy ``reset_after_s``) starts over.
    """

    base_s: float = 0.25
    cap_s: float = 30.0
    reset_after_s: float = 10.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def ceiling(self) -> float:
        return min(self.cap_s, self.base_s * 2 ** min(self.attempt, _MAX_EXPONENT))

    def next_delay(self) -> float:
        delay = self.rng.uniform(0.0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


_LIVE = FeedState.LIVE


def _next_status(old: FeedStatus, state: FeedState, detail: str, new_outage: bool) -> FeedStatus:
    """``old.with_state``, except that a ``new_outage`` in the state ``old`` is already in (a
    reconnected socket lost before its first data frame) starts over: a fresh object (so it is
    reported), ``since`` now, one more reconnect counted."""
    now = _wall_ms()
    if new_outage and old.state is state:
        reconnects = old.reconnects + (1 if state is FeedState.RECONNECTING else 0)
        return dataclasses.replace(old, since=now, detail=detail, reconnects=reconnects)
    return old.with_state(state, now, detail)


class _Track:
    """Live counters of one connection or stream key; ``status`` holds the rest (state, since,
    detail, reconnects) and is brought up to date from the counters only when read."""

    __slots__ = ("last", "last_ns", "messages", "status")

    def __init__(self, status: FeedStatus, last: float = 0.0) -> None:
        self.status = status
        self.messages = status.messages
        self.last_ns = 0  # perf_counter_ns of the last data frame (0: none yet)
        self.last = last  # supervisor clock (monotonic s) of the last data frame / connect

    def current(self) -> FeedStatus:
        st = self.status
        if st.messages != self.messages:
            # perf_counter_ns -> wall ms: now minus how long ago it was
            ago_ns = time.perf_counter_ns() - self.last_ns
            st = self.status = dataclasses.replace(
                st, messages=self.messages, last_message_at=(time.time_ns() - ago_ns) // 1_000_000
            )
        return st


class SupervisedStream:
    """One websocket connection kept alive forever; see the module docstring.

    ``clock`` (monotonic seconds) drives the watchdog and backoff reset, so tests may inject one.
    Status timestamps (``since``, ``last_message_at``) are wall-clock ms for display; the receive
    time handed to ``on_message`` is ``time.perf_counter_ns()``.
    """

    def __init__(
        self,
        url_factory: UrlFactory,
        *,
        name: str,
        venue: Venue,
        on_message: MessageHandler,
        on_status: StatusHandler,
        subscribe: SubscribeHook | None = None,
        stream_key: StreamKeyFn | None = None,
        heartbeat_s: float = 10.0,
        stale_after_s: float = 10.0,
        backoff: Backoff | None = None,
        app_ping: Callable[[], str] | None = None,
        app_ping_interval_s: float = 20.0,
        connect_timeout_s: float = 10.0,
        close_timeout_s: float = 1.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch_interval_s: float | None = None,
    ) -> None:
        self.name = name
        self.venue = venue
        self._url_factory = url_factory
        self._on_message = on_message
        self._on_status = on_status
        self._subscribe = subscribe
        self._stream_key = stream_key
        self._heartbeat_s = heartbeat_s
        self._stale_after_s = stale_after_s
        self.backoff = backoff or Backoff()
        self._app_ping = app_ping
        self._app_ping_interval_s = app_ping_interval_s
        self._connect_timeout_s = connect_timeout_s
        self._close_timeout_s = close_timeout_s
        self._session = session
        self._own_session = session is None
        self._clock = clock
        # The watchdog wakes often enough to notice staleness within ~25% of the threshold.
        self._tick_s = watch_interval_s or max(0.02, min(1.0, stale_after_s / 4))

        self._conn = _Track(FeedStatus(stream_id=name, venue=venue, since=_wall_ms()))
        self._keys: dict[str, _Track] = {}
        self.connects = 0  # successful handshakes
        self.attempts = 0  # connection attempts, successful or not
        self.delays: deque[float] = deque(maxlen=256)  # recent backoff delays (observability)
        self._last_data: float | None = None  # monotonic time of the last data frame
        self._connected_at = 0.0
        self._task: asyncio.Task[None] | None = None

    # ---- status (materialised on read) ----
    @property
    def status(self) -> FeedStatus:
        """The connection's status, message count and last-message time up to date."""
        return self._conn.current()

    @property
    def key_status(self) -> dict[str, FeedStatus]:
        """Per stream key statuses (a fresh dict, up to date)."""
        return {key: track.current() for key, track in self._keys.items()}

    # ---- lifecycle ----
    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self.name}: already started")
        self._emit(FeedState.CONNECTING, "starting")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ws:{self.name}")

    async def stop(self) -> None:
        """Close the socket, cancel every task this stream started, report STOPPED."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        for key in list(self._keys):
            self._key_state(key, FeedState.STOPPED, "stopped")
        self._emit(FeedState.STOPPED, "stopped")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # ---- supervision loop ----
    async def _run(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        while True:
            self.attempts += 1
            connected_at: float | None = None
            try:
                url = await self._resolve_url()
                ws = await self._connect(url)
                connected_at = self._clock()
                try:
                    detail = await self._serve(ws)
                finally:
                    await self._close(ws)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                detail = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a failing url_factory/subscribe hook must not end supervision
                log.exception("%s: connection failed", self.name)
                detail = f"{type(exc).__name__}: {exc}"
            # A connection that stayed healthy long enough earns a fresh, short backoff.
            if connected_at is not None and self._clock() - connected_at >= self.backoff.reset_after_s:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            self.delays.append(delay)
            # A connection that came up and was lost is a new outage even when no data frame
            # made it LIVE in between (state and detail may repeat exactly): always report it.
            lost = connected_at is not None
            self._emit(FeedState.RECONNECTING, f"{detail}; retry in {delay:.2f}s", new_outage=lost)
            for key in list(self._keys):
                self._key_state(key, FeedState.RECONNECTING, detail, new_outage=lost)
            await asyncio.sleep(delay)

    async def _resolve_url(self) -> str:
        url = self._url_factory()
        return await url if inspect.isawaitable(url) else url

    async def _connect(self, url: str) -> aiohttp.ClientWebSocketResponse:
        assert self._session is not None
        async with asyncio.timeout(self._connect_timeout_s):
            ws = await self._session.ws_connect(
                url,
                heartbeat=self._heartbeat_s,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self._close_timeout_s),
            )
        self.connects += 1
        return ws

    async def _close(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # Bounded: a half-dead peer must not hold up the reconnect (or stop()).
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._close_timeout_s + 0.5):
                await ws.close()

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Run one connection until it ends or goes stale; return the reason."""
        now = self._clock()
        self._last_data = None
        self._connected_at = now
        # Silence on each known key is measured from this connect, not from before the outage.
        for track in self._keys.values():
            track.last = now
        if self._subscribe is not None:
            # bounded: a hook stuck on a half-open socket must not stall supervision
            async with asyncio.timeout(self._connect_timeout_s):
                await self._subscribe(ws)
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read(ws), name=f"ws:{self.name}:read")
        tasks = [reader]
        if self._app_ping is not None:
            tasks.append(loop.create_task(self._ping_loop(ws), name=f"ws:{self.name}:ping"))
        try:
            while True:
                done, _ = await asyncio.wait({reader}, timeout=self._tick_s)
                if done:
                    return reader.result()
                stale = self._watch()
                if stale is not None:
                    return stale
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                self._deliver(msg.data)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                return f"socket error: {ws.exception() or msg.data}"
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                # heartbeat timeouts and TCP aborts surface here, with the cause in exception()
                cause = ws.exception()
                return f"closed (code {ws.close_code})" + (f": {cause!r}" if cause else "")
            # BINARY/PING/PONG: nothing our venues send as data

    async def _ping_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        assert self._app_ping is not None
        while True:
            await asyncio.sleep(self._app_ping_interval_s)
            await ws.send_str(self._app_ping())

    # ---- messages and watchdog ----
    def _deliver(self, raw: str) -> None:
        recv_ns = time.perf_counter_ns()
        stream_key = self._stream_key
        if stream_key is None:
            key: str | None = self.name
        else:
            try:
                key = stream_key(raw)
            except Exception:  # an unparseable frame is not proof of a healthy feed
                log.warning("%s: stream_key failed on %.80r", self.name, raw)
                key = None
        if key is not None:  # control frames (acks, pongs) do not prove the data is flowing
            now = self._clock()
            self._last_data = now
            conn = self._conn
            conn.messages += 1
            conn.last_ns = recv_ns
            if conn.status.state is not _LIVE:
                self._went_live(conn)
            if stream_key is not None:
                track = self._keys.get(key)
                if track is not None and track.status.state is _LIVE:
                    track.messages += 1
                    track.last_ns = recv_ns
                    track.last = now
                else:
                    self._key_live(key, recv_ns, now)
        try:
            self._on_message(raw, recv_ns)
        except Exception:  # one bad frame must not take the feed down; the adapter logs/handles it
            log.exception("%s: on_message failed", self.name)

    def _went_live(self, conn: _Track) -> None:
        conn.status = conn.current().with_state(_LIVE, _wall_ms(), "")
        self._notify(conn.status)

    def _key_live(self, key: str, recv_ns: int, now: float) -> None:
        """A key's first frame, or its first after STALE/RECONNECTING: count it, go LIVE, notify."""
        now_ms = _wall_ms()
        track = self._keys.get(key)
        if track is None:
            track = self._keys[key] = _Track(
                FeedStatus(stream_id=f"{self.name}:{key}", venue=self.venue, since=now_ms)
            )
        track.messages += 1
        track.last_ns = recv_ns
        track.last = now
        track.status = track.current().with_state(_LIVE, now_ms, "")
        self._notify(track.status)

    def _watch(self) -> str | None:
        """Mark silent keys STALE; return a reason when the whole connection must be recycled."""
        now = self._clock()
        limit = self._stale_after_s
        for key, track in self._keys.items():
            if track.status.state is _LIVE and now - track.last > limit:
                self._key_state(key, FeedState.STALE, f"no data for {now - track.last:.1f}s")
        last_any = self._last_data if self._last_data is not None else self._connected_at
        silence = now - last_any
        if silence <= limit:
            return None
        detail = f"no data for {silence:.1f}s"
        self._emit(FeedState.STALE, detail)
        return f"stale: {detail}"

    # ---- status plumbing ----
    def _emit(self, state: FeedState, detail: str, *, new_outage: bool = False) -> None:
        conn = self._conn
        old = conn.current()
        new = _next_status(old, state, detail, new_outage)
        if new is not old:
            conn.status = new
            self._notify(new)

    def _key_state(self, key: str, state: FeedState, detail: str, *, new_outage: bool = False) -> None:
        track = self._keys[key]
        old = track.current()
        new = track.status = _next_status(old, state, detail, new_outage)
        if new_outage or new.state is not old.state or new.detail != old.detail:
            self._notify(new)

    def _notify(self, status: FeedStatus) -> None:
        try:
            self._on_status(status)
        except Exception:
            log.exception("%s: on_status failed", self.name)

"""SupervisedStream against the running simulator over real sockets: flow, drops, stalls,
resubscription, per-key staleness, never-ending backoff and a clean stop()."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from terminal.model.enums import FeedState, Venue
from terminal.model.feed import FeedStatus
from terminal.sim.faults import StreamFault
from terminal.sim.server import RunningSim, SimConfig, start_sim
from terminal.venues.ws import Backoff, SupervisedStream

pytestmark = pytest.mark.timeout(30)

BINANCE_STREAMS = "btcusdt@trade/btcusdt@depth@100ms"
BYBIT_TOPICS = ["publicTrade.BTCUSDT", "orderbook.50.BTCUSDT"]


@dataclass
class Recorder:
    """Collects what the stream hands over, in arrival order."""

    frames: list[str] = field(default_factory=list)
    statuses: list[FeedStatus] = field(default_factory=list)

    def on_message(self, raw: str, recv_ts_ns: int) -> None:
        assert isinstance(raw, str) and recv_ts_ns > 0
        self.frames.append(raw)

    def on_status(self, status: FeedStatus) -> None:
        self.statuses.append(status)

    def states(self, stream_id: str, start: int = 0) -> list[FeedState]:
        return [s.state for s in self.statuses[start:] if s.stream_id == stream_id]


async def wait_for(pred: Callable[[], bool], timeout: float = 8.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


def binance_key(raw: str) -> str | None:
    return json.loads(raw).get("stream")


def bybit_key(raw: str) -> str | None:
    # acks and pongs carry "op", data carries "topic"
    return json.loads(raw).get("topic")


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    running = await start_sim(SimConfig(history_days=1, generator=True))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def started() -> AsyncIterator[Callable[[SupervisedStream], SupervisedStream]]:
    """Start streams; whatever a failing test leaves running is stopped at teardown."""
    streams: list[SupervisedStream] = []

    def start(stream: SupervisedStream) -> SupervisedStream:
        streams.append(stream)
        stream.start()
        return stream

    yield start
    for stream in streams:
        await stream.stop()  # idempotent


def fast_backoff(seed: int = 1) -> Backoff:
    return Backoff(base_s=0.05, cap_s=0.2, reset_after_s=5.0, rng=random.Random(seed))


async def stop_and_check_no_leaks(stream: SupervisedStream, before: set[asyncio.Task]) -> None:
    started = time.monotonic()
    await stream.stop()
    assert time.monotonic() - started < 2.0
    assert stream.status.state is FeedState.STOPPED and not stream.running
    await asyncio.sleep(0)  # let cancelled callbacks settle
    leaked = {t for t in asyncio.all_tasks() if not t.done()} - before
    assert not [t for t in leaked if t.get_name().startswith("ws:")], leaked


# ---- backoff ----
@pytest.mark.timeout(10)
def test_backoff_full_jitter_grows_caps_and_never_gives_up() -> None:
    b = Backoff(base_s=0.25, cap_s=30.0, rng=random.Random(42))
    delays = [b.next_delay() for _ in range(12)]
    ref = random.Random(42)
    expected = [ref.uniform(0.0, min(30.0, 0.25 * 2**i)) for i in range(12)]
    assert delays == expected
    ceilings = [min(30.0, 0.25 * 2**i) for i in range(12)]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert ceilings[-1] == 30.0  # capped, not growing past 30 s
    # no attempt limit: thousands more attempts still produce capped delays
    more = [b.next_delay() for _ in range(5000)]
    assert all(0.0 <= d <= 30.0 for d in more) and b.attempt == 5012
    assert max(more) > 25.0  # full jitter over the whole [0, cap] range
    b.reset()
    assert b.ceiling() == 0.25


@pytest.mark.timeout(15)
async def test_dead_port_keeps_retrying_with_seeded_delays_and_stops_promptly(started) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = Recorder()
    before = set(asyncio.all_tasks())
    stream = SupervisedStream(
        lambda: f"ws://127.0.0.1:{port}/ws/btcusdt@trade",
        name="dead",
        venue=Venue.BINANCE_SPOT,
        on_message=rec.on_message,
        on_status=rec.on_status,
        heartbeat_s=5.0,
        stale_after_s=5.0,
        backoff=Backoff(base_s=0.005, cap_s=0.04, rng=random.Random(7)),
    )
    started(stream)
    await wait_for(lambda: stream.attempts >= 12, what="12 attempts")
    assert stream.status.state is FeedState.RECONNECTING and stream.connects == 0
    assert "retry in" in stream.status.detail
    ref = Backoff(base_s=0.005, cap_s=0.04, rng=random.Random(7))
    seen = list(stream.delays)
    assert seen == [ref.next_delay() for _ in seen]  # never reset: it never connected
    assert stream.backoff.ceiling() == 0.04
    assert rec.states("dead")[:2] == [FeedState.CONNECTING, FeedState.RECONNECTING]
    await stop_and_check_no_leaks(stream, before)


# ---- Binance spot combined stream ----
def binance_stream(sim: RunningSim, rec: Recorder, stale_after_s: float = 5.0) -> SupervisedStream:
    return SupervisedStream(
        lambda: f"{sim.ws_url}/stream?streams={BINANCE_STREAMS}",
        name="bn",
        venue=Venue.BINANCE_SPOT,
        on_message=rec.on_message,
        on_status=rec.on_status,
        stream_key=binance_key,
        heartbeat_s=2.0,
        stale_after_s=stale_after_s,
        backoff=fast_backoff(),
    )


@pytest.mark.timeout(20)
async def test_binance_flows_live_then_heals_after_drop(sim: RunningSim, started) -> None:
    rec = Recorder()
    before = set(asyncio.all_tasks())
    stream = binance_stream(sim, rec)
    started(stream)
    await wait_for(lambda: stream.status.state is FeedState.LIVE, what="LIVE")
    await wait_for(
        lambda: set(stream.key_status) == {"btcusdt@trade", "btcusdt@depth@100ms"}, what="both keys"
    )
    assert json.loads(rec.frames[0])["data"]["s"] == "BTCUSDT"
    assert stream.status.messages >= 1 and stream.status.last_message_at is not None

    mark, frames_before = len(rec.statuses), len(rec.frames)
    sim.exchange.faults.inject_stream(StreamFault.DROP, Venue.BINANCE_SPOT)
    await wait_for(lambda: FeedState.RECONNECTING in rec.states("bn", mark), what="RECONNECTING")
    await wait_for(lambda: stream.status.state is FeedState.LIVE and stream.connects == 2, what="LIVE again")
    await wait_for(lambda: len(rec.frames) > frames_before + 5, what="messages resume")
    assert rec.states("bn", mark) == [FeedState.RECONNECTING, FeedState.LIVE]
    assert stream.status.reconnects == 1
    await wait_for(lambda: stream.key_status["btcusdt@depth@100ms"].state is FeedState.LIVE)
    await stop_and_check_no_leaks(stream, before)


@pytest.mark.timeout(20)
async def test_stall_on_open_socket_goes_stale_recycles_and_heals(sim: RunningSim, started) -> None:
    rec = Recorder()
    before = set(asyncio.all_tasks())
    stream = binance_stream(sim, rec, stale_after_s=1.0)
    started(stream)
    await wait_for(lambda: len(stream.key_status) == 2, what="both keys LIVE")
    mark = len(rec.statuses)
    stalled_at = time.monotonic()
    sim.exchange.faults.inject_stream(StreamFault.STALL, Venue.BINANCE_SPOT, duration_s=3.0)
    await wait_for(lambda: FeedState.STALE in rec.states("bn", mark), what="STALE")
    assert 0.9 < time.monotonic() - stalled_at < 2.5
    assert stream.key_status["btcusdt@depth@100ms"].state is not FeedState.LIVE
    await wait_for(lambda: stream.connects >= 2, what="recycled connection")
    await wait_for(lambda: stream.status.state is FeedState.LIVE, what="LIVE after the stall")
    assert time.monotonic() - stalled_at > 2.5  # healed only once the venue talks again
    states = rec.states("bn", mark)
    assert (
        states[0] is FeedState.STALE and states[1] is FeedState.RECONNECTING and states[-1] is FeedState.LIVE
    )
    assert stream.status.reconnects >= 1
    await stop_and_check_no_leaks(stream, before)


@pytest.mark.timeout(20)
async def test_one_silent_key_is_stale_without_recycling_the_connection(sim: RunningSim, started) -> None:
    rec = Recorder()
    stream = SupervisedStream(
        lambda: f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms",
        name="two",
        venue=Venue.BINANCE_SPOT,
        on_message=rec.on_message,
        on_status=rec.on_status,
        stream_key=binance_key,
        heartbeat_s=2.0,
        stale_after_s=0.8,
        backoff=fast_backoff(),
    )
    started(stream)
    await wait_for(lambda: len(stream.key_status) == 2, what="both keys")
    sim.exchange.faults.inject_stream(StreamFault.STALL, Venue.BINANCE_SPOT, symbol="ETHUSDT", duration_s=2.0)
    await wait_for(
        lambda: stream.key_status["ethusdt@depth@100ms"].state is FeedState.STALE, what="ETH STALE"
    )
    assert stream.key_status["btcusdt@depth@100ms"].state is FeedState.LIVE
    assert stream.status.state is FeedState.LIVE and stream.connects == 1
    await wait_for(lambda: stream.key_status["ethusdt@depth@100ms"].state is FeedState.LIVE, what="ETH back")
    assert stream.connects == 1


# ---- Bybit: subscribe hook + application ping ----
@pytest.mark.timeout(20)
async def test_bybit_resubscribes_after_drop_and_gets_a_fresh_snapshot(sim: RunningSim, started) -> None:
    rec = Recorder()
    req_ids: list[str] = []

    async def subscribe(ws) -> None:
        req_ids.append(f"sub-{len(req_ids) + 1}")
        await ws.send_str(json.dumps({"op": "subscribe", "req_id": req_ids[-1], "args": BYBIT_TOPICS}))

    def snapshots() -> list[dict]:
        msgs = [json.loads(f) for f in rec.frames]
        return [m for m in msgs if m.get("topic") == BYBIT_TOPICS[1] and m["type"] == "snapshot"]

    before = set(asyncio.all_tasks())
    stream = SupervisedStream(
        lambda: f"{sim.ws_url}/v5/public/linear",
        name="bybit",
        venue=Venue.BYBIT_LINEAR,
        on_message=rec.on_message,
        on_status=rec.on_status,
        subscribe=subscribe,
        stream_key=bybit_key,
        heartbeat_s=2.0,
        stale_after_s=5.0,
        backoff=fast_backoff(),
        app_ping=lambda: json.dumps({"op": "ping"}),
        app_ping_interval_s=0.2,
    )
    started(stream)
    await wait_for(lambda: len(snapshots()) == 1 and stream.status.state is FeedState.LIVE, what="snapshot")
    acks = [json.loads(f) for f in rec.frames if '"op"' in f]
    assert any(a.get("op") == "subscribe" and a.get("req_id") == "sub-1" and a.get("success") for a in acks)
    await wait_for(lambda: any('"pong"' in f for f in rec.frames), what="pong to the app ping")

    sim.exchange.faults.inject_stream(StreamFault.DROP, Venue.BYBIT_LINEAR)
    await wait_for(lambda: len(snapshots()) == 2, what="fresh snapshot after the drop")
    assert req_ids == ["sub-1", "sub-2"] and stream.connects == 2
    assert stream.status.state is FeedState.LIVE and stream.status.reconnects == 1
    acks = [json.loads(f) for f in rec.frames if '"op"' in f]
    assert any(a.get("op") == "subscribe" and a.get("req_id") == "sub-2" for a in acks)
    # pongs and acks are control frames: they never became stream keys
    assert set(stream.key_status) <= set(BYBIT_TOPICS)
    await stop_and_check_no_leaks(stream, before)


@pytest.mark.timeout(20)
async def test_watchdog_follows_the_injected_clock(sim: RunningSim, started) -> None:
    """A frozen fake clock: data keeps flowing but only moving the clock 61 s makes it stale."""
    rec = Recorder()
    now = [1000.0]
    stream = SupervisedStream(
        lambda: f"{sim.ws_url}/stream?streams={BINANCE_STREAMS}",
        name="clock",
        venue=Venue.BINANCE_SPOT,
        on_message=rec.on_message,
        on_status=rec.on_status,
        stream_key=binance_key,
        stale_after_s=60.0,
        watch_interval_s=0.1,
        backoff=fast_backoff(),
        clock=lambda: now[0],
    )
    started(stream)
    await wait_for(lambda: stream.status.state is FeedState.LIVE, what="LIVE")
    mark = len(rec.statuses)
    await asyncio.sleep(0.5)  # several watchdog ticks: the fake clock has not moved
    assert rec.states("clock", mark) == [] and stream.connects == 1
    # hold the data back briefly, or a frame landing before the next watchdog tick would
    # refresh the (fake) last-message time and hide the jump
    sim.exchange.faults.inject_stream(StreamFault.STALL, Venue.BINANCE_SPOT, duration_s=1.0)
    now[0] += 61.0
    await wait_for(lambda: FeedState.STALE in rec.states("clock", mark), what="STALE", timeout=3)
    await wait_for(lambda: stream.connects == 2 and stream.status.state is FeedState.LIVE)
    assert rec.states("clock", mark) == [FeedState.STALE, FeedState.RECONNECTING, FeedState.LIVE]


@pytest.mark.timeout(20)
async def test_receive_time_is_perf_counter_and_status_counts_on_read(sim: RunningSim, started) -> None:
    """on_message gets time.perf_counter_ns (one clock with BookUpdated.recv_ns); the statuses,
    kept as counters per frame, read back exact message counts and wall-clock ms."""
    stamps: list[int] = []
    rec = Recorder()

    def on_message(raw: str, recv_ns: int) -> None:
        stamps.append(recv_ns)
        rec.on_message(raw, recv_ns)

    stream = SupervisedStream(
        lambda: f"{sim.ws_url}/stream?streams={BINANCE_STREAMS}",
        name="clk",
        venue=Venue.BINANCE_SPOT,
        on_message=on_message,
        on_status=rec.on_status,
        stream_key=binance_key,
        stale_after_s=5.0,
        backoff=fast_backoff(),
    )
    before_ns = time.perf_counter_ns()
    started(stream)
    await wait_for(lambda: len(stream.key_status) == 2 and len(rec.frames) >= 10, what="frames")
    after_ns = time.perf_counter_ns()
    assert all(before_ns <= s <= after_ns for s in stamps) and stamps == sorted(stamps)
    status, keys = stream.status, stream.key_status
    data = [f for f in rec.frames if binance_key(f) is not None]
    assert status.messages == len(data)  # no await between the reads: nothing arrived since
    assert sum(k.messages for k in keys.values()) == len(data)
    assert status.state is FeedState.LIVE and all(k.state is FeedState.LIVE for k in keys.values())
    wall_ms = time.time_ns() // 1_000_000
    assert status.last_message_at is not None and 0 <= wall_ms - status.last_message_at < 5_000
    # one LIVE notification per key and for the connection, not one status per frame
    assert len([s for s in rec.statuses if s.state is FeedState.LIVE]) == 3


@pytest.mark.timeout(20)
async def test_connection_lost_before_any_data_is_still_reported(sim: RunningSim, started) -> None:
    """A socket that connects and is lost before its first data frame never went LIVE, so its
    status is still RECONNECTING with (often) the very same detail: the new outage must be
    reported all the same. (Adapters that call a subscribed connection LIVE - Bybit's private
    stream - otherwise show LIVE across an outage: the flaky bybit_spot soak DROP.)"""
    rec = Recorder()
    hooks = 0

    async def subscribe(ws) -> None:
        nonlocal hooks
        hooks += 1
        if hooks <= 2:  # connected and silent (nothing subscribed yet): the network fails
            sim.exchange.faults.inject_stream(StreamFault.DROP, Venue.BYBIT_LINEAR)
            return
        await ws.send_str(json.dumps({"op": "subscribe", "req_id": "s", "args": BYBIT_TOPICS}))

    stream = SupervisedStream(
        lambda: f"{sim.ws_url}/v5/public/linear",
        name="early",
        venue=Venue.BYBIT_LINEAR,
        on_message=rec.on_message,
        on_status=rec.on_status,
        subscribe=subscribe,
        stream_key=bybit_key,
        heartbeat_s=2.0,
        stale_after_s=5.0,
        backoff=Backoff(base_s=0.0, cap_s=0.0),  # "retry in 0.00s" every time: details repeat
    )
    started(stream)
    await wait_for(lambda: stream.status.state is FeedState.LIVE, what="LIVE after two early drops")
    assert stream.connects == 3
    assert rec.states("early") == [
        FeedState.CONNECTING,
        FeedState.RECONNECTING,
        FeedState.RECONNECTING,  # the second connection's loss: a new outage, not a repeat
        FeedState.LIVE,
    ]
    assert stream.status.reconnects == 2

"""Demo mode with the exchange simulator in a child process (``SimProcess.CHILD``): real
processes, real sockets, the real adapters and OMS. The child must never outlive the terminal,
not even one killed with SIGKILL, and a child that dies while in use comes back on its port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import App, AppConfig, AppError, Mode, SimProcess
from terminal.cli import _build_parser
from terminal.model import FeedState, OrderStatus, OrderType, Side, Venue
from terminal.sim.child import SimChild, SimChildConfig, SimChildError, sim_command
from terminal.trading.oms import OrderIntent
from terminal.venues.events import FeedEvent

pytestmark = pytest.mark.timeout(60)

SPOT = Venue.BINANCE_SPOT
SYM = "BTCUSDT"


def child_demo(data_dir: Path, **kw: object) -> AppConfig:
    base: dict[str, object] = {
        "mode": Mode.DEMO,
        "venues": (SPOT,),
        "symbols": (SYM,),
        "candle_history": 30,
        "sim_history_days": 1,
        "sim_process": SimProcess.CHILD,
    }
    return AppConfig(data_dir=data_dir, **(base | kw))  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def live_book(app: App) -> bool:
    top = app.engine.top_of_book(SPOT, SYM)
    return top is not None and top.live and top.bid is not None and top.ask is not None and top.bid < top.ask


async def place_and_cancel(app: App) -> None:
    intent = OrderIntent(SPOT, SYM, Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal("50000"))
    order = await app.oms.submit(intent)  # far below the market: it rests
    assert order.status is OrderStatus.NEW, order
    cancelled = await app.oms.cancel(order.client_id)
    assert cancelled.status is OrderStatus.CANCELED, cancelled


# ---------------------------------------------------------------------- the App with a child simulator
async def test_demo_app_streams_books_and_trades_against_a_child_simulator(tmp_path: Path) -> None:
    app = App(child_demo(tmp_path))
    spawned = app.spawn_sim()  # before start, as the window does: it boots meanwhile
    assert spawned is not None and spawned != os.getpid() and alive(spawned)
    await app.start()
    try:
        sim = app.sim
        assert isinstance(sim, SimChild) and sim.pid == spawned  # start() adopted the early child
        assert sim.url.startswith("http://127.0.0.1:") and sim.port > 0
        with pytest.raises(AttributeError, match="child process"):
            sim.exchange  # noqa: B018 - no in-process exchange to poke at: says so
        await until(lambda: live_book(app), 15, "a live book from the child simulator")
        await place_and_cancel(app)
    finally:
        await app.stop()
    assert app.sim is None and not alive(spawned)


async def test_app_stop_before_start_ends_the_spawned_child(tmp_path: Path) -> None:
    app = App(child_demo(tmp_path))
    pid = app.spawn_sim()
    assert pid is not None and alive(pid)
    await app.stop()  # the window closed before the App started
    assert not alive(pid)


async def test_spawn_sim_is_a_no_op_in_process(tmp_path: Path) -> None:
    app = App(child_demo(tmp_path, sim_process=SimProcess.INPROCESS))
    assert app.spawn_sim() is None
    await app.stop()


async def test_a_killed_child_is_restarted_on_its_port_and_the_feeds_come_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(child_demo(tmp_path))
    await app.start()
    try:
        sim = app.sim
        await until(lambda: live_book(app), 15, "a live book")
        old_pid, url = sim.pid, sim.url
        relive: list[FeedEvent] = []
        app.bus.subscribe(FeedEvent, lambda ev: ev.status.state is FeedState.LIVE and relive.append(ev))
        caplog.set_level(logging.WARNING, logger="terminal.sim.child")
        os.kill(old_pid, signal.SIGKILL)
        await until(lambda: sim.restarts == 1, 20, "the simulator restarted")
        assert sim.pid != old_pid and sim.url == url and alive(sim.pid)
        died = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert died and f"child process {old_pid}" in died[0].getMessage()
        assert "exited unexpectedly" in died[0].getMessage()
        await until(lambda: relive, 20, "a feed live again after the restart")
        await until(lambda: live_book(app), 15, "a live book after the restart")
        await place_and_cancel(app)  # the restarted child accepts the keys the adapters sign with
    finally:
        await app.stop()
    assert not alive(sim.pid)


async def test_a_child_dying_too_often_stays_down_with_an_error(caplog: pytest.LogCaptureFixture) -> None:
    child = SimChild(SimChildConfig(symbols=(SYM,), max_restarts=1))
    await child.start()
    try:
        caplog.set_level(logging.ERROR, logger="terminal.sim.child")
        os.kill(child.pid, signal.SIGKILL)
        await until(lambda: child.restarts == 1, 20, "the first restart")
        second = child.pid
        os.kill(second, signal.SIGKILL)
        await until(lambda: "not restarting it again" in caplog.text, 10, "the give-up error")
        assert child.pid == second and not child.running and child.restarts == 1
    finally:
        await child.stop()


# ---------------------------------------------------------------------- no orphans
PARENT = """
import asyncio, sys
from pathlib import Path
from terminal.app import App, AppConfig, Mode, SimProcess
from terminal.model import Venue

async def main():
    config = AppConfig(mode=Mode.DEMO, venues=(Venue.BINANCE_SPOT,), symbols=("BTCUSDT",),
                       data_dir=Path(sys.argv[1]), candle_history=20, sim_process=SimProcess.CHILD)
    app = App(config)
    await app.start()
    print("child", app.sim.pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_a_sigkilled_terminal_leaves_no_simulator_behind(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = ""
        for line in parent.stdout:
            if line.startswith("child "):
                break
        assert line.startswith("child "), f"the parent never reported its child; last line: {line!r}"
        child = int(line.split()[1])
        assert alive(child)
        parent.kill()  # SIGKILL: no cleanup code runs in the parent
        parent.wait(10)
        deadline = time.monotonic() + 15
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child), f"simulator child {child} outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_the_child_stops_cleanly_when_its_stdin_closes() -> None:
    argv = sim_command(SimChildConfig(symbols=(SYM,)), 0)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().startswith(b"ready http://127.0.0.1:")
        proc.stdin.close()  # what the OS does for a parent that died
        assert proc.wait(10) == 0  # a graceful stop, not the watchdog's hard exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------- failing starts
async def test_a_child_that_cannot_start_is_a_clear_app_error(tmp_path: Path) -> None:
    app = App(child_demo(tmp_path, symbols=("NOPEUSDT",)))  # the simulator refuses the symbol
    with pytest.raises(AppError) as err:
        await app.start()
    text = str(err.value)
    assert "demo exchange simulator" in text and "exited with code 2 before it was ready" in text
    assert "unknown symbol(s) NOPEUSDT" in text  # the child's stderr tail says why
    assert app.sim is None


async def test_a_busy_port_names_the_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        child = SimChild(SimChildConfig(symbols=(SYM,), port=port))
        with pytest.raises(SimChildError, match=f"cannot listen on 127.0.0.1:{port}"):
            await child.start()
        assert not child.running


async def test_no_ready_line_in_time_kills_the_child_and_says_so() -> None:
    child = SimChild(SimChildConfig(symbols=(SYM,), ready_timeout_s=0.05))
    child.spawn()
    pid = child.pid
    assert pid is not None
    with pytest.raises(SimChildError, match=r"did not print its ready line within 0\.05 s"):
        await child.start()
    assert not alive(pid)


# ---------------------------------------------------------------------- the frozen build
def test_a_frozen_build_runs_itself_with_the_sim_subcommand() -> None:
    config = SimChildConfig(symbols=(SYM, "ETHUSDT"), seed=7, history_days=2, depth_rate=1100.0)
    frozen = sim_command(config, 8123, executable="/opt/terminal/terminal", frozen=True)
    assert frozen[0] == "/opt/terminal/terminal" and "-m" not in frozen
    args = _build_parser().parse_args(frozen[1:])  # what the frozen binary's cli.main parses
    assert args.command == "sim" and args.exit_with_parent and args.log_level == "WARNING"
    assert (args.port, args.seed, args.history_days, args.depth_rate) == (8123, 7, 2, 1100.0)
    assert args.symbols == (SYM, "ETHUSDT")
    source = sim_command(config, 0, executable="/usr/bin/python3", frozen=False)
    assert source[:3] == ["/usr/bin/python3", "-m", "terminal"]
    assert source[3:] == sim_command(config, 0, executable="x", frozen=True)[1:]  # same arguments

"""Qt + asyncio fixtures for the UI tests (ENVIRONMENT.md's qasync recipe).

Tests here are plain (sync) functions: they drive the qasync loop with ``run(qloop, coro)`` /
``wait_until(qloop, predicate)``; never ``qtbot.wait*`` inside a coroutine (it hangs). The
``demo_app`` fixture is the real App in demo mode (in-process simulator over loopback sockets,
real adapters, real journal under tmp_path) on that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from terminal.app import App, AppConfig, Mode
from terminal.model import Venue

T = TypeVar("T")

# Demo app for UI tests: two markets keep start-up quick; tests that need all four build their own.
UI_VENUES = (Venue.BINANCE_SPOT, Venue.BINANCE_USDM)
UI_SYMBOL = "BTCUSDT"


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coro`` on the qasync loop (Qt events are processed meanwhile)."""
    future = asyncio.ensure_future(asyncio.wait_for(coro, timeout), loop=loop)
    future.add_done_callback(lambda _f: loop.stop())
    loop.run_forever()
    if not future.done():
        raise RuntimeError("the loop stopped before the coroutine ended")
    return future.result()


def wait_until(
    loop: asyncio.AbstractEventLoop, predicate: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Spin the loop (Qt events included) until ``predicate()`` is truthy."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    try:
        run(loop, poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}") from None


@pytest.fixture
def qloop(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop whose tasks always see it as their running loop.

    Qt event passes outside the loop would step asyncio tasks with no running loop, and they
    die with "no running event loop" (the simulator's publishers stop, feeds go stale, books
    stay resyncing): qasync 0.28's ``run_forever`` processes events once more after clearing
    the running loop, and pytest-qt calls ``processEvents()`` around every test phase. So the
    loop stays registered as running between steps (as qasync itself does while it runs) and
    pytest-qt's event processing happens with it registered.
    """
    from asyncio import events

    import pytestqt.plugin

    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    run_forever = loop.run_forever

    def forever() -> object:
        try:
            return run_forever()
        finally:
            events._set_running_loop(loop)  # for qasync's trailing processEvents()

    def process_events() -> None:
        if loop.is_closed() or loop.is_running():
            qapp.processEvents()
            return
        events._set_running_loop(loop)
        try:
            qapp.processEvents()
        finally:
            events._set_running_loop(None)

    monkeypatch.setattr(loop, "run_forever", forever)
    monkeypatch.setattr(pytestqt.plugin, "_process_events", process_events)
    try:
        yield loop
    finally:
        events._set_running_loop(None)
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        events._set_running_loop(None)
        loop.close()
        asyncio.set_event_loop(None)


def demo_config(data_dir: Path, venues: tuple[Venue, ...] = UI_VENUES) -> AppConfig:
    return AppConfig(
        mode=Mode.DEMO,
        venues=venues,
        symbols=(UI_SYMBOL, "ETHUSDT"),
        data_dir=data_dir,
        candle_intervals=("1m",),
        candle_history=300,
        sim_history_days=1,
    )


@pytest.fixture
def demo_app(qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[App]:
    app = App(demo_config(tmp_path / "data"))
    run(qloop, app.start(), 60)
    try:
        yield app
    finally:
        run(qloop, app.stop(), 30)

"""Run the desktop terminal: QApplication + qasync loop, window first, then the App.

ENVIRONMENT.md's recipe: ``setQuitOnLastWindowClosed(False)`` and quit explicitly (closing
the window must not stop the loop mid-future), no modal ``exec()`` inside coroutines.

A session = one App + one MainWindow. The window is shown at once in a "starting…" state and
the App starts behind it, so something is on screen within a second. Switching mode in the
toolbar ends the session and starts a new one with the config the window hands over (its own
data dir per mode, ``AppConfig.for_mode``); closing the window stops the App (journal closed)
and ends the process.

Live is never started by a mode name alone: ``--mode live`` or a remembered (and confirmed)
live mode starts a demo session that opens the ``LiveOptIn`` dialog at once; only its "Go
live" restarts in live (``live_opt_in=True``, the one venue named, the shared key store).

``--self-test`` opens a demo session in a throw-away data dir, waits for candles on the chart
and levels in the book, optionally saves a screenshot, and exits 0 — non-zero with a reason on
timeout. It is what CI runs against the frozen build.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from terminal.app import App, AppConfig, AppError, Mode, SimProcess
from terminal.gctune import tune_for_interactive
from terminal.model import Venue
from terminal.ui.context import Selection, UiContext
from terminal.ui.main_window import DEFAULT_SIZE, MainWindow
from terminal.venues.errors import VenueError

__all__ = ["SelfTestResult", "run_gui"]

log = logging.getLogger(__name__)

SELF_TEST_TIMEOUT_S = 60.0


@dataclass(slots=True)
class SelfTestResult:
    ok: bool
    reason: str
    candles: int = 0
    bids: int = 0
    asks: int = 0
    webhook: str = "not checked"
    first_window_s: float = 0.0
    ready_s: float = 0.0


@dataclass(slots=True)
class _Outcome:
    next_config: AppConfig | None = None  # set when the user switched mode: start a new session


def run_gui(
    config: AppConfig,
    *,
    self_test: bool = False,
    screenshot: Path | str | None = None,
    timeout_s: float = SELF_TEST_TIMEOUT_S,
    remember: bool = False,
    sim_process: SimProcess = SimProcess.CHILD,
) -> int:
    """The GUI process: returns the exit code.

    ``remember``: the user gave no ``--mode``: start in demo unless the last session used another
    mode and the user confirms it now; remember mode and market for next time (terminal.prefs).
    ``sim_process``: the demo simulator runs in a child process, so its work never lags the
    window's event loop (issue 4's loop-lag target); INPROCESS is for debugging it.
    """
    import qasync

    config = dataclasses.replace(config, sim_process=sim_process)

    from terminal.ui.theme import apply_dark

    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(qapp, QApplication)
    qapp.setApplicationName("crypto-terminal")
    qapp.setQuitOnLastWindowClosed(False)
    apply_dark(qapp)
    prefs = _load_prefs(config) if remember and not self_test else None
    if prefs is not None:
        config = dataclasses.replace(config, mode=prefs.mode)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(_loop_exception)
    try:
        if self_test:
            return loop.run_until_complete(_self_test(config, screenshot, timeout_s))
        return loop.run_until_complete(_run_sessions(config, prefs))
    except KeyboardInterrupt:
        return 130
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


@dataclass(slots=True)
class _Remembered:
    store: Any  # terminal.prefs.PrefsStore
    prefs: Any  # terminal.prefs.Prefs
    mode: Mode


def _load_prefs(config: AppConfig) -> _Remembered | None:
    """Read the last session's choices; a non-demo mode is used only if the user confirms it.

    Runs before the qasync loop exists, so the blocking start-up question is safe here."""
    try:
        from terminal.prefs import PrefsStore, startup_mode
        from terminal.ui.live_optin import ask_start_mode
    except ImportError as exc:
        log.warning("preferences unavailable (%s): starting in %s", exc, config.mode.value)
        return None
    store = PrefsStore()
    prefs = store.load()
    mode = startup_mode(prefs, ask_start_mode)
    return _Remembered(store, prefs, mode)


def _save_prefs(remembered: _Remembered | None, mode: Mode, selection: Selection) -> None:
    if remembered is None:
        return
    prefs = remembered.prefs
    prefs.last_mode, prefs.last_venue = mode, selection.venue
    prefs.last_symbol, prefs.last_interval = selection.symbol, selection.interval
    try:
        remembered.store.save(prefs)
    except OSError as exc:
        log.warning("could not save preferences to %s: %s", remembered.store.path, exc)


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    # Tasks nobody awaited: log them (the log dock shows them) instead of losing them.
    exc = context.get("exception")
    log.error("background task error: %s", context.get("message", ""), exc_info=exc)


def _selection(config: AppConfig, remembered: _Remembered | None = None) -> Selection:
    venue, symbol, interval = config.venues[0], config.symbols[0], config.candle_intervals[0]
    if remembered is not None:  # the last market, if this session streams it
        p = remembered.prefs
        if p.last_venue in config.venues and p.last_symbol in config.symbols:
            venue, symbol, interval = p.last_venue, p.last_symbol, p.last_interval
    return Selection(venue, symbol, interval)


class _Stop:
    """SIGINT/SIGTERM end the session like closing the window.

    Python runs signal handlers only between bytecodes; under Qt's C++ loop a short timer
    gives it those moments."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event
        self._old: dict[int, object] = {}
        self._timer = QTimer()
        self._timer.setInterval(200)
        self._timer.timeout.connect(lambda: None)

    def __enter__(self) -> _Stop:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                self._old[sig] = signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self._event.set))
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.stop()
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


async def _start_app(app: App, window: MainWindow) -> bool:
    try:
        await app.start()
    except (AppError, VenueError, OSError) as exc:
        window.on_app_failed(str(exc))
        return False
    except Exception as exc:  # a bug: still say so in the window, with the traceback in the log
        log.exception("the app failed to start")
        window.on_app_failed(f"unexpected error: {exc!r} (see the log)")
        return False
    window.on_app_started()
    tune_for_interactive()  # after start: the start-up heap leaves the collector's scans
    return True


async def _run_sessions(config: AppConfig, remembered: _Remembered | None = None) -> int:
    base = config  # the user's start config: each mode's config derives from it
    pending_live: Venue | None = None
    if config.mode is Mode.LIVE and not config.live_opt_in:
        # Demo until the user opts in for a named venue (the dialog opens with the window).
        last = remembered.prefs.last_venue if remembered is not None else None
        pending_live = last if last in config.venues else config.venues[0]
        config = dataclasses.replace(config, mode=Mode.DEMO)
        log.info("live mode asked for: starting in demo until the live opt-in for %s", pending_live)
    notice = remembered.store.warning if remembered is not None else None
    while True:
        outcome = await _session(config, remembered, base, pending_live=pending_live, notice=notice)
        if outcome.next_config is None:
            return 0
        config, pending_live, notice = outcome.next_config, None, None


async def _session(
    config: AppConfig,
    remembered: _Remembered | None = None,
    base: AppConfig | None = None,
    *,
    pending_live: Venue | None = None,
    notice: str | None = None,
) -> _Outcome:
    app = App(config)
    app.spawn_sim()  # the simulator's child boots while the window is built
    ctx = UiContext(app, _selection(config, remembered))
    done = asyncio.Event()
    outcome = _Outcome()

    def restart(next_config: AppConfig) -> None:
        outcome.next_config = next_config
        done.set()

    window = MainWindow(ctx, on_restart=restart, base_config=base or config)
    app.tray = lambda notice: window.notify(notice.title, notice.body)  # notifications' tray channel
    window.closed.connect(done.set)
    window.show()
    if notice:
        window.show_warning(notice, "preferences file: defaults used (hover for why)")
    await asyncio.sleep(0.05)  # paint the "starting…" window before the App's work begins
    if pending_live is not None:
        window.request_live(pending_live)
    with _Stop(done):
        start = asyncio.ensure_future(_start_app(app, window))
        await done.wait()
        if not start.done():
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await start
    started = start.done() and not start.cancelled() and start.result()  # never raises: see _start_app
    # Remember a mode only once it has really run; a mode switch remembers the new one.
    next_mode = outcome.next_config.mode if outcome.next_config is not None else None
    _save_prefs(remembered, next_mode or (config.mode if started else Mode.DEMO), ctx.selection)
    if window.isVisible():
        window.close()  # saves the layout, stops timers
    await app.stop()
    window.deleteLater()
    await asyncio.sleep(0)
    return outcome


async def _self_test(config: AppConfig, screenshot: Path | str | None, timeout_s: float) -> int:
    with contextlib.ExitStack() as stack:
        if config.data_dir is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="terminal-self-test-"))
            config = dataclasses.replace(config, data_dir=Path(tmp))
        config = dataclasses.replace(config, mode=Mode.DEMO)
        if config.automation is not None and config.automation.webhook is None:
            from terminal.automation.wiring import AutomationConfig
            from terminal.signals.server import WebhookConfig

            # The listener on a free loopback port: the self-test proves it answers.
            config.automation = AutomationConfig(webhook=WebhookConfig(port=0))
        result = await self_test_session(config, screenshot, timeout_s)
    if result.ok:
        print(
            f"self-test ok: window in {result.first_window_s:.2f} s, live data in {result.ready_s:.2f} s; "
            f"webhook {result.webhook}; "
            f"chart {result.candles} candles, book {result.bids} bids / {result.asks} asks"
            + (f"; screenshot {screenshot}" if screenshot else ""),
            flush=True,
        )
        return 0
    print(f"self-test FAILED: {result.reason}", file=sys.stderr, flush=True)
    return 1


async def self_test_session(
    config: AppConfig, screenshot: Path | str | None, timeout_s: float
) -> SelfTestResult:
    t0 = time.perf_counter()
    app = App(config)
    app.spawn_sim()  # the simulator's child boots while the window is built
    ctx = UiContext(app, _selection(config))
    window = MainWindow(ctx, layout_path=Path(app.data_dir) / "layout.ini")
    window.resize(*DEFAULT_SIZE)
    window.show()
    await asyncio.sleep(0.05)
    result = SelfTestResult(False, "", first_window_s=time.perf_counter() - t0)
    try:
        try:
            await asyncio.wait_for(app.start(), timeout_s)
        except (AppError, VenueError, OSError, TimeoutError) as exc:
            result.reason = f"the demo app did not start: {exc or type(exc).__name__}"
            return result
        window.on_app_started()
        result.reason = await _wait_live(window, t0 + timeout_s)
        if result.reason:
            return result
        _fill_counts(window, result)
        result.ready_s = time.perf_counter() - t0
        result.reason = await _check_webhook(app, result)
        if result.reason:
            return result
        await _feeds_settled(window, min(5.0, max(0.0, t0 + timeout_s - time.perf_counter())))
        if screenshot is not None:
            path = Path(screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(path)) or path.stat().st_size == 0:
                result.reason = f"could not write the screenshot to {path}"
                return result
        result.ok = True
        return result
    finally:
        window.close()
        await app.stop()
        window.deleteLater()
        await asyncio.sleep(0)


async def _check_webhook(app: App, result: SelfTestResult) -> str:
    """'' if the webhook listener (when configured) answers GET /healthz; else why not."""
    webhooks = app.automation.webhooks if app.automation is not None else None
    if webhooks is None:
        result.webhook = "not configured"
        return ""
    from terminal.ui.signals_panel import check_health

    health = await check_health(webhooks.url)
    if not health.ok:
        return f"the webhook listener at {webhooks.url} does not answer: {health.text}"
    result.webhook = f"ok at {webhooks.url}"
    return ""


def _fill_counts(window: MainWindow, result: SelfTestResult) -> None:
    sel, engine = window.ctx.selection, window.ctx.engine
    result.candles = len(engine.candle_bars(sel.venue, sel.symbol, sel.interval))
    snap = engine.book_snapshot(sel.venue, sel.symbol)
    if snap is not None:
        result.bids, result.asks = len(snap.bids), len(snap.asks)


async def _feeds_settled(window: MainWindow, timeout_s: float) -> None:
    """Give every venue's feed light a moment to turn live (a screenshot should not show the
    start-up amber); not a failure if one stays amber: the picture then shows the truth."""
    deadline = time.perf_counter() + timeout_s
    feeds = window.feed_indicators
    while time.perf_counter() < deadline:
        window.update_status()
        if all(feeds.state(v) == "live" for v in feeds.indicators):
            return
        await asyncio.sleep(0.1)


async def _wait_live(window: MainWindow, deadline: float) -> str:
    """'' once the chart has candles and the book levels (and both were painted); else why not."""
    sel, engine = window.ctx.selection, window.ctx.engine
    missing = "candles and book levels"
    frames_at_ready: int | None = None
    while time.perf_counter() < deadline:
        snap = engine.book_snapshot(sel.venue, sel.symbol)
        has_candles = bool(engine.candle_bars(sel.venue, sel.symbol, sel.interval))
        has_book = snap is not None and bool(snap.bids) and bool(snap.asks)
        if has_candles and has_book:
            # Two more refresh frames: the panels have drawn what the engine holds.
            frames = window.refresher.frames
            if frames_at_ready is None:
                frames_at_ready = frames
            elif frames >= frames_at_ready + 2:
                return ""
        else:
            missing = " and ".join(
                w for w, ok in (("chart candles", has_candles), ("book levels", has_book)) if not ok
            )
        await asyncio.sleep(0.05)
    return f"timed out waiting for {missing} on {sel.venue} {sel.symbol}"

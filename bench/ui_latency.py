"""UI latency under a market-data flood: tick-to-paint, event-loop lag, cold start.

    python -m bench.ui_latency [--seconds 10] [--depth-rate 1100] [--sim inprocess|child]

The real main window (offscreen) on the demo App, all four markets, with the simulator's
generator turned up so the adapters receive ~5k websocket messages/s. Measured:

* tick-to-paint: for every ``BookUpdated`` of the market on screen, its ``recv_ns`` (the
  ``perf_counter_ns`` when the websocket frame was read) to the window repaint that follows the
  order-book panel's refresh with it (``PaintSentinel``: painted in the same frame, after the
  book). p50/p99 over the run.
* event-loop lag: a 1 ms ``Qt.PreciseTimer``; lateness = interval - 1 ms. p50/p99.
* cold start: window constructed -> first repaint showing a live book (after Python imports;
  the import time is printed separately).

``--sim child`` (default) is demo mode as the window runs it: the simulator in a child process
(``SimProcess.CHILD``, spawned before the window is built, so its boot counts in the cold start);
``inprocess`` shares this process's loop and GIL with it (``SimProcess.INPROCESS``).

Also reported: each panel's refresh p99 (``<key>:throttled``: the overview panels' draws,
which run in a ``refresh.FrameSlots`` slot after the refresh asked for them) and the cyclic
GC's pauses during the run (in-process, a full collection of the simulator's heap stalls the
loop ~100 ms; the app tunes the GC once started, as this bench does; ``--no-gc-tune`` shows the defaults).

Targets: tick-to-paint p99 <= 33 ms, loop lag p99 <= 5 ms, cold start <= 2 s.
Last line printed: one JSON object.
"""

from __future__ import annotations

import time

_T_IMPORT = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync  # noqa: E402
from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from terminal.app import App, AppConfig, Mode, SimProcess  # noqa: E402
from terminal.gctune import tune_for_interactive  # noqa: E402
from terminal.model import Venue  # noqa: E402
from terminal.ui.context import Selection, UiContext  # noqa: E402
from terminal.ui.main_window import MainWindow  # noqa: E402
from terminal.ui.theme import apply_dark  # noqa: E402
from terminal.venues.events import (  # noqa: E402
    BookTickerEvent,
    BookUpdated,
    CandleEvent,
    MarkPriceEvent,
    PublicTradeEvent,
    TickerEvent,
)

IMPORT_S = time.perf_counter() - _T_IMPORT

TARGET_TICK_TO_PAINT_P99_MS = 33.0
TARGET_LOOP_LAG_P99_MS = 5.0
TARGET_COLD_START_S = 2.0
TARGET_MSGS_PER_S = 5000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
VENUE, SYMBOL = Venue.BINANCE_SPOT, "BTCUSDT"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Tracker:
    """BookUpdated recv_ns -> refreshed into the book panel -> painted."""

    measuring: bool = False
    pending: list[int] = field(default_factory=list)  # received, not yet handed to the panel
    refreshed: list[int] = field(default_factory=list)  # handed to the panel, not yet painted
    tick_to_paint_ms: list[float] = field(default_factory=list)
    first_live_frame_ns: int | None = None
    book_has_levels: bool = False
    paints: int = 0

    def on_book(self, ev: BookUpdated) -> None:
        if ev.venue is VENUE and ev.symbol == SYMBOL:
            self.pending.append(ev.recv_ns)

    def on_refreshed(self, has_levels: bool) -> None:
        self.refreshed.extend(self.pending)
        self.pending.clear()
        self.book_has_levels = self.book_has_levels or has_levels

    def on_paint(self) -> None:
        now = time.perf_counter_ns()
        self.paints += 1
        if self.first_live_frame_ns is None and self.book_has_levels and self.refreshed:
            self.first_live_frame_ns = now
        if self.measuring:
            self.tick_to_paint_ms.extend((now - r) / 1e6 for r in self.refreshed)
        self.refreshed.clear()


class PaintSentinel(QWidget):
    """A 2x2 transparent child of the window, raised above the docks and marked dirty whenever
    the book panel is refreshed. Qt paints a window's dirty widgets in one backing-store sync,
    parents before children and siblings in stacking order, so this paint event runs in the
    same frame as the book's repaint, after it: its time is the frame that shows the update."""

    def __init__(self, window: QWidget, tracker: Tracker) -> None:
        super().__init__(window)
        self.tracker = tracker
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setGeometry(0, 0, 2, 2)
        self.raise_()
        self.show()

    def paintEvent(self, event: Any) -> None:
        self.tracker.on_paint()


class LoopLag:
    def __init__(self) -> None:
        self.lag_ms: list[float] = []
        self.measuring = False
        self._last = time.perf_counter_ns()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter_ns()
        if self.measuring:
            self.lag_ms.append(max(0.0, (now - self._last) / 1e6 - 1.0))
        self._last = now


# ---------------------------------------------------------------------------- run
class MarketCounter:
    """Market-data events the adapters publish (one per applied depth diff, trade, ticker...)."""

    KINDS = (BookUpdated, PublicTradeEvent, TickerEvent, BookTickerEvent, MarkPriceEvent, CandleEvent)

    def __init__(self, app: App) -> None:
        self.count = 0
        for kind in self.KINDS:
            app.bus.subscribe(kind, self._on)

    def _on(self, _ev: object) -> None:
        self.count += 1


def timed_refresh(key: str, panel: Any, out: dict[str, list[float]], tracker: Tracker) -> None:
    inner = panel.refresh
    samples = out.setdefault(key, [])

    def refresh(versions: Any) -> None:
        t = time.perf_counter_ns()
        inner(versions)
        if tracker.measuring:
            samples.append((time.perf_counter_ns() - t) / 1e6)

    panel.refresh = refresh
    throttle = getattr(panel, "throttle", None)
    if throttle is not None:  # overview panels draw later, in a frame slot (refresh.Throttle)
        draw = throttle._draw
        drawn = out.setdefault(f"{key}:throttled", [])

        def throttled() -> None:
            t = time.perf_counter_ns()
            draw()
            if tracker.measuring:
                drawn.append((time.perf_counter_ns() - t) / 1e6)

        throttle._draw = throttled


async def run(
    seconds: float,
    depth_rate: float,
    sim_mode: str,
    profiler: cProfile.Profile | None = None,
    gc_tune: bool = True,
) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="bench-ui-")
    t0 = time.perf_counter_ns()
    config = AppConfig(
        mode=Mode.DEMO,
        symbols=SYMBOLS,
        data_dir=Path(tmp.name),
        candle_history=500,
        sim_history_days=1,
        sim_process=SimProcess(sim_mode),
        sim_depth_rate=depth_rate,
    )
    app = App(config)
    app.spawn_sim()  # as terminal/ui/run.py does: the child boots while the window is built
    tracker = Tracker()
    counter = MarketCounter(app)
    app.bus.subscribe(BookUpdated, tracker.on_book)
    ctx = UiContext(app, Selection(VENUE, SYMBOL))
    window = MainWindow(ctx, layout_path=Path(tmp.name) / "layout.ini")
    book = window.panels["book"]
    original_refresh = book.refresh

    def refresh(versions: Any) -> None:
        original_refresh(versions)
        snap = app.engine.book_snapshot(VENUE, SYMBOL, 1)
        tracker.on_refreshed(snap is not None and bool(snap.bids) and bool(snap.asks))
        sentinel.update()

    book.refresh = refresh  # type: ignore[method-assign]
    panel_ms: dict[str, list[float]] = {}
    for key, panel in window.panels.items():
        timed_refresh(key, panel, panel_ms, tracker)
    sentinel = PaintSentinel(window, tracker)
    window.show()
    lag = LoopLag()
    lag.timer.start()
    try:
        await app.start()
        window.on_app_started()
        deadline = time.monotonic() + 30
        while tracker.first_live_frame_ns is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        cold_start_s = (
            (tracker.first_live_frame_ns - t0) / 1e9 if tracker.first_live_frame_ns is not None else None
        )
        if gc_tune:  # what terminal/ui/run.py does once the app has started
            tune_for_interactive()
        gc_pauses.clear()
        await asyncio.sleep(2.0)  # warm-up at the full rate
        gc_pauses.clear()
        frames0, events0, paints0 = counter.count, app.bus.published, tracker.paints
        tracker.measuring = lag.measuring = True
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await asyncio.sleep(seconds)
        if profiler is not None:
            profiler.disable()
        tracker.measuring = lag.measuring = False
        measured_gc = list(gc_pauses)
        elapsed = time.perf_counter() - start
        frames = counter.count - frames0
        events = app.bus.published - events0
        paints = tracker.paints - paints0
        refresher_ms = window.refresher.last_frame_ms
    finally:
        lag.timer.stop()
        window.close()
        await app.stop()
        tmp.cleanup()
    t2p, lags = tracker.tick_to_paint_ms, lag.lag_ms
    return {
        "sim": sim_mode,
        "seconds": round(elapsed, 2),
        "market_msgs_per_s": round(frames / elapsed),
        "bus_events_per_s": round(events / elapsed),
        "paints_per_s": round(paints / elapsed, 1),
        "book_updates_measured": len(t2p),
        "tick_to_paint_p50_ms": round(pct(t2p, 0.50), 2),
        "tick_to_paint_p99_ms": round(pct(t2p, 0.99), 2),
        "tick_to_paint_max_ms": round(max(t2p), 2) if t2p else None,
        "loop_lag_p50_ms": round(pct(lags, 0.50), 3),
        "loop_lag_p99_ms": round(pct(lags, 0.99), 3),
        "loop_lag_mean_ms": round(statistics.fmean(lags), 3) if lags else None,
        "loop_lag_p999_ms": round(pct(lags, 0.999), 2),
        "loop_lag_max_ms": round(max(lags), 2) if lags else None,
        # How often the loop was blocked longer than the target (each such stall is one late tick).
        "stalls_over_5ms_per_s": round(sum(1 for x in lags if x > TARGET_LOOP_LAG_P99_MS) / elapsed, 1),
        "last_refresh_frame_ms": round(refresher_ms, 2),
        "cold_start_s": round(cold_start_s, 3) if cold_start_s is not None else None,
        "imports_s": round(IMPORT_S, 3),
        "panel_refresh_p99_ms": {k: round(pct(v, 0.99), 2) for k, v in panel_ms.items() if v},
        "gc_pauses_over_5ms": sum(1 for d in measured_gc if d > 5),
        "gc_pause_max_ms": round(max(measured_gc), 2) if measured_gc else None,
        "gc_tuned": gc_tune,
        "panel_refresh_total_ms_per_s": round(sum(sum(v) for v in panel_ms.values()) / elapsed, 1),
        "placeholders": window.placeholders(),
    }


gc_pauses: list[float] = []  # ms of each cyclic-GC pass during the run
_gc_start: list[int] = [0]


def _on_gc(phase: str, _info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_start[0] = time.perf_counter_ns()
    else:
        gc_pauses.append((time.perf_counter_ns() - _gc_start[0]) / 1e6)


gc.callbacks.append(_on_gc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui_latency")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--depth-rate",
        type=float,
        default=1100.0,
        help="generator level changes/s per flow (1100: ~5k msgs/s)",
    )
    parser.add_argument("--sim", choices=[p.value for p in SimProcess], default=SimProcess.CHILD.value)
    parser.add_argument("--profile", action="store_true", help="print the cProfile top of the measured run")
    parser.add_argument(
        "--no-gc-tune",
        action="store_true",
        help="keep CPython's default GC settings (the app tunes them once started: terminal/gctune.py)",
    )
    args = parser.parse_args(argv)
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setQuitOnLastWindowClosed(False)
    apply_dark(qapp)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    profiler = cProfile.Profile() if args.profile else None
    result = loop.run_until_complete(
        run(args.seconds, args.depth_rate, args.sim, profiler, not args.no_gc_tune)
    )
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    loop.close()
    result.update(
        {
            "target_tick_to_paint_p99_ms": TARGET_TICK_TO_PAINT_P99_MS,
            "target_loop_lag_p99_ms": TARGET_LOOP_LAG_P99_MS,
            "target_cold_start_s": TARGET_COLD_START_S,
            "target_market_msgs_per_s": TARGET_MSGS_PER_S,
        }
    )
    t2p_ok = result["tick_to_paint_p99_ms"] <= TARGET_TICK_TO_PAINT_P99_MS
    lag_ok = result["loop_lag_p99_ms"] <= TARGET_LOOP_LAG_P99_MS
    cold = result["cold_start_s"]
    cold_ok = cold is not None and cold <= TARGET_COLD_START_S
    print(
        f"sim {result['sim']}: {result['market_msgs_per_s']} market msgs/s ({result['bus_events_per_s']} bus events/s), {result['paints_per_s']} paints/s"
    )
    print(
        f"tick-to-paint p50 {result['tick_to_paint_p50_ms']} ms, p99 {result['tick_to_paint_p99_ms']} ms "
        f"(target <= {TARGET_TICK_TO_PAINT_P99_MS}) {'OK' if t2p_ok else 'MISSED'}; n={result['book_updates_measured']}"
    )
    print(
        f"event-loop lag p50 {result['loop_lag_p50_ms']} ms, p99 {result['loop_lag_p99_ms']} ms "
        f"(target <= {TARGET_LOOP_LAG_P99_MS}) {'OK' if lag_ok else 'MISSED'}; "
        f"max {result['loop_lag_max_ms']} ms, {result['stalls_over_5ms_per_s']} stalls > 5 ms per s"
    )
    print(
        f"cold start to first live frame {cold} s (target <= {TARGET_COLD_START_S}) {'OK' if cold_ok else 'MISSED'}; imports {result['imports_s']} s"
    )
    if result["placeholders"]:
        print(f"note: placeholder panels (not built yet): {', '.join(result['placeholders'])}")
    result["ok"] = t2p_ok and lag_ok and cold_ok
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Chart frame time with 1,000,000 candles in a 1600x900 view: ours vs finplot, same run.

``python -m bench.chart_frame [N] [--reps R] [--no-finplot]`` (offscreen). Both charts get the
same synthetic candles (a seeded random walk, 1m bars) in a price + volume layout and are
rendered with ``QWidget.grab()`` (a full paint into an image, as the screen would get it):

first   data handed to the chart + view set + first render of the (already shown and once
        painted, empty) window (ours: ``ChartCanvas`` with the
        store filled from numpy columns; finplot: ``candlestick_ochl`` + ``volume_ocv`` on a
        DataFrame, then the zoom)
pan     the view moved by 10% of its width, then render (median of R pans)
cached  render again with nothing changed (median of R)

each zoomed out (all bars in view) and on the last 200 bars; wall time (median and best) and
the process CPU time of the frame (the wall time on a machine shared with other jobs includes
waiting for a core). Targets: first and pan zoomed out
<= 10 ms. finplot is a bench-only dependency, installed without its own dependencies
(``pip install --no-deps finplot pandas python-dateutil``): it declares PyQt6, and pyqtgraph
prefers PyQt6 when both bindings are installed. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np
from PySide6.QtWidgets import QApplication

W, H = 1600, 900
TARGET_MS = 10.0


def synthetic(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 60_000.0 + np.cumsum(rng.normal(0.0, 18.0, n))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + rng.exponential(8.0, n)
    low = np.minimum(open_, close) - rng.exponential(8.0, n)
    volume = rng.exponential(3.0, n)
    t = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 60_000
    return {"t": t, "o": open_, "h": high, "l": low, "c": close, "v": volume}


_cpu: list[tuple[str, float]] = []  # (chart, CPU ms) per timed frame


def _ms(fn: Callable[[], object], who: str = "") -> float:
    """Wall ms of ``fn``; its CPU ms (this process) goes to ``_cpu``: on a machine shared with
    other jobs the wall time includes waiting for a core, the CPU time does not."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    wall = (time.perf_counter() - t0) * 1000
    _cpu.append((who, (time.process_time() - c0) * 1000))
    return wall


def _stats(
    firsts: list[float], pans: list[float], cached: list[float], cpu: dict[str, list[float]]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, xs in (("first", firsts), ("pan", pans), ("cached", cached)):
        out[f"{name}_ms"] = round(statistics.median(xs), 2)
        out[f"{name}_min_ms"] = round(min(xs), 2)
        out[f"{name}_cpu_ms"] = round(statistics.median(cpu[name]), 2)
    return out


def _take_cpu() -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"first": [], "pan": [], "cached": []}
    for who, ms in _cpu:
        out[who].append(ms)
    _cpu.clear()
    return out


def _views(n: int) -> dict[str, tuple[float, float]]:
    return {"all": (-0.5, n - 0.5), "last200": (n - 200.5, n - 0.5)}


# ---------------------------------------------------------------------- ours
def bench_ours(app: QApplication, d: dict[str, np.ndarray], reps: int) -> dict[str, Any]:
    from terminal.ui.chart.canvas import ChartCanvas

    n = len(d["t"])
    out: dict[str, Any] = {}
    for zoom, (x0, x1) in _views(n).items():
        firsts, pans, cached, columns = [], [], [], 0
        for _ in range(reps):
            canvas = ChartCanvas()
            canvas.resize(W, H)
            canvas.show()
            app.processEvents()
            canvas.grab()  # the window has painted once (empty) before the data arrives

            def first(canvas: ChartCanvas = canvas, x0: float = x0, x1: float = x1) -> None:
                canvas.store.set_arrays(d["t"], d["o"], d["h"], d["l"], d["c"], d["v"])
                canvas.data_reset()
                canvas.show_range(x0, x1)
                canvas.grab()

            firsts.append(_ms(first, "first"))
            width = x1 - x0
            for i in range(reps):
                shift = -0.1 * width * (1 if i % 2 == 0 else -1)  # back and forth inside the data

                def pan(canvas: ChartCanvas = canvas, shift: float = shift) -> None:
                    a, b = canvas.price_vb.viewRange()[0]
                    canvas.show_range(a + shift, b + shift)
                    canvas.grab()

                pans.append(_ms(pan, "pan"))
                cached.append(_ms(canvas.grab, "cached"))
            columns = canvas.price_hist.last_columns
            builds = canvas.price_hist.picture_builds
            canvas.close()
            canvas.deleteLater()
            app.processEvents()
        out[zoom] = {
            **_stats(firsts, pans, cached, _take_cpu()),
            "columns_drawn": columns,
            "picture_builds": builds,
        }
    return out


# ---------------------------------------------------------------------- finplot
def bench_finplot(app: QApplication, d: dict[str, np.ndarray], reps: int) -> dict[str, Any]:
    import finplot as fplt
    import pandas as pd

    n = len(d["t"])
    df = pd.DataFrame(
        {
            "time": pd.to_datetime(d["t"], unit="ms"),
            "open": d["o"],
            "close": d["c"],
            "high": d["h"],
            "low": d["l"],
            "volume": d["v"],
        }
    )
    out: dict[str, Any] = {}
    for zoom, (x0, x1) in _views(n).items():
        firsts, pans, cached = [], [], []
        for _ in range(reps):
            ax, axv = fplt.create_plot("bench", rows=2, maximize=False)
            win = ax.vb.win
            win.resize(W, H)
            win.show()
            app.processEvents()
            win.grab()

            def first(ax: Any = ax, axv: Any = axv, win: Any = win, x0: float = x0, x1: float = x1) -> None:
                fplt.candlestick_ochl(df[["time", "open", "close", "high", "low"]], ax=ax)
                fplt.volume_ocv(df[["time", "open", "close", "volume"]], ax=axv)
                fplt.refresh()
                ax.vb.update_y_zoom(x0, x1)
                fplt._repaint_candles()
                win.grab()

            firsts.append(_ms(first, "first"))
            width = x1 - x0
            for i in range(reps):
                shift = -0.1 * width * (1 if i % 2 == 0 else -1)

                def pan(ax: Any = ax, win: Any = win, shift: float = shift) -> None:
                    r = ax.vb.targetRect()
                    ax.vb.update_y_zoom(r.left() + shift, r.right() + shift)
                    fplt._repaint_candles()
                    win.grab()

                pans.append(_ms(pan, "pan"))
                cached.append(_ms(win.grab, "cached"))
            win.close()
            fplt.windows.clear()
            fplt.master_data.clear()
            fplt._clear_timers()
            win.deleteLater()
            app.processEvents()
        out[zoom] = _stats(firsts, pans, cached, _take_cpu())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-finplot", action="store_true")
    args = ap.parse_args()

    app = QApplication.instance() or QApplication([])
    from terminal.ui.theme import apply_dark

    apply_dark(app)  # type: ignore[arg-type]
    d = synthetic(args.n)
    ours = bench_ours(app, d, args.reps)  # type: ignore[arg-type]
    fin: dict[str, Any] | None = None
    if not args.no_finplot:
        try:
            fin = bench_finplot(app, d, args.reps)  # type: ignore[arg-type]
        except ImportError as exc:
            print(f"finplot not available ({exc}); pip install --no-deps finplot pandas python-dateutil")
    load = os.getloadavg()[0]
    print(
        f"{args.n:,} candles, {W}x{H}, median of {args.reps} (best; CPU time in brackets); load average {load:.2f}"
    )
    result: dict[str, Any] = {
        "bench": "chart_frame",
        "candles": args.n,
        "view": f"{W}x{H}",
        "load_avg": round(load, 2),
        "ours": ours,
    }
    ratios: dict[str, float] = {}
    for zoom in ("all", "last200"):
        for what in ("first_ms", "pan_ms", "cached_ms"):
            mine, best = ours[zoom][what], ours[zoom][what.replace("_ms", "_min_ms")]
            cpu = ours[zoom][what.replace("_ms", "_cpu_ms")]
            line = f"{zoom:8s} {what[:-3]:7s} ours {mine:8.2f} ms ({best:6.2f}; cpu {cpu:6.2f})"
            if fin is not None:
                theirs, fbest = fin[zoom][what], fin[zoom][what.replace("_ms", "_min_ms")]
                ratios[f"{zoom}_{what[:-3]}"] = round(theirs / mine, 1) if mine > 0 else float("inf")
                line += f"   finplot {theirs:8.2f} ms ({fbest:7.2f})   finplot/ours {theirs / mine:6.1f}x"
            print(line)
    print(f"columns drawn zoomed out: {ours['all']['columns_drawn']} (pixel-bounded)")
    if load > 1.5:
        print(f"note: load average {load:.1f} on {os.cpu_count()} cores: absolute times are inflated")
    targets = {
        "first_all_le_10ms": ours["all"]["first_ms"] <= TARGET_MS,
        "pan_all_le_10ms": ours["all"]["pan_ms"] <= TARGET_MS,
    }
    print("targets:", ", ".join(f"{k}={'ok' if v else 'MISSED'}" for k, v in targets.items()))
    result.update({"finplot": fin, "finplot_over_ours": ratios, "targets_met": targets})
    print(json.dumps(result))


if __name__ == "__main__":
    main()

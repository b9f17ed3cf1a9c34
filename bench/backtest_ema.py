"""EMA(12/26) cross over 1,000,000 synthetic 1-minute candles, four ways in one process.

``python -m bench.backtest_ema [N] [--backtrader-bars M] [--seed S]``

Rules (issue 6): a seeded geometric random walk; EMAs seeded with the SMA of their first N
closes; at each close the signal is sign(fast - slow), a tie keeps the previous one; target
+-1 unit, filled at the next bar's open; 0.1 % commission on notional; equity = cash +
position x close, marked at each close.

* ours: ``run_backtest("ema_cross", ...)`` with the real ``EmaCross`` class (its
  ``target_positions`` fast path + the array simulation + all metrics);
* numpy: an independent reference (EMAs by a plain recursion, its own fill loop on arrays);
* vectorbt: its numba EWM (seeded by giving it the SMA as first value) and
  ``Portfolio.from_orders`` with target amounts at the open; numba compile time excluded
  (warmed up on a small series first);
* backtrader: ``bt.ind.EMA`` (SMA-seeded), ``order_target_size`` (fills at the next open),
  0.1 % commission; on the first ``--backtrader-bars`` candles (default all: ~1 min here).

Counts are orders (position changes; a reversal is one order of 2 units). They must agree
exactly; final equity within 1e-6 relative of the numpy reference (float rounding of
different but equivalent arithmetic). Bench-only dependencies: vectorbt, backtrader (not in
pyproject). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from terminal.backtest import BacktestConfig, Bars, run_backtest

FAST, SLOW = 12, 26
FEE = 0.001
CASH = 100_000.0
REL_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    bars: int
    seconds: float
    orders: int
    final_equity: float

    @property
    def rate(self) -> float:
        return self.bars / self.seconds if self.seconds > 0 else float("inf")


def candles(n: int, seed: int) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.0005, n))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    t0 = 1_600_000_000_000
    time_ = t0 + np.arange(n, dtype=np.int64) * 60_000
    return Bars.from_arrays("SYNUSDT", "1m", time_, open_, high, low, close, np.ones(n))


def timed(fn: Callable[[], tuple[int, float]], name: str, n: int) -> Run:
    start = time.perf_counter()
    orders, equity = fn()
    return Run(name, n, time.perf_counter() - start, orders, equity)


# -- ours
def ours(b: Bars) -> tuple[int, float]:
    cfg = BacktestConfig(initial_cash=CASH, taker_fee_bps=FEE * 10_000, slippage_bps=0.0, funding_rate=0.0)
    r = run_backtest("ema_cross", {"timeframe": "1m", "fast": FAST, "slow": SLOW}, b, cfg)
    assert r.fast_path
    return r.fills, float(r.equity[-1])


# -- numpy reference (independent of terminal/)
def _ema_plain(close: np.ndarray, period: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    if len(close) < period:
        return out
    alpha = 2.0 / (period + 1)
    y = float(np.mean(close[:period]))
    out[period - 1] = y
    xs = close.tolist()
    vals = out.tolist()
    for i in range(period, len(xs)):
        y = y + alpha * (xs[i] - y)
        vals[i] = y
    return np.array(vals)


def reference_targets(close: np.ndarray) -> np.ndarray:
    diff = _ema_plain(close, FAST) - _ema_plain(close, SLOW)
    sign = np.sign(np.nan_to_num(diff, nan=0.0))
    # a tie keeps the previous signal: carry the last non-zero forward
    idx = np.where(sign != 0, np.arange(len(sign)), 0)
    np.maximum.accumulate(idx, out=idx)
    return np.where(sign[idx] != 0, sign[idx], 0.0)


def numpy_reference(b: Bars) -> tuple[int, float]:
    target = reference_targets(b.close)
    held = np.concatenate(([0.0], target[:-1]))
    trade = np.diff(np.concatenate(([0.0], held)))
    cash = CASH - np.cumsum(trade * b.open + np.abs(trade) * b.open * FEE)
    equity = cash + held * b.close
    return int(np.count_nonzero(trade)), float(equity[-1])


# -- vectorbt
def vectorbt_run(b: Bars) -> tuple[int, float]:
    import vectorbt as vbt
    from vectorbt.generic.nb import ewm_mean_1d_nb

    def seeded(period: int) -> np.ndarray:
        a = b.close.copy()
        a[: period - 1] = np.nan
        a[period - 1] = b.close[:period].mean()
        return ewm_mean_1d_nb(a, period, 1, False)

    diff = seeded(FAST) - seeded(SLOW)
    sign = np.sign(np.nan_to_num(diff, nan=0.0))
    idx = np.where(sign != 0, np.arange(len(sign)), 0)
    np.maximum.accumulate(idx, out=idx)
    target = np.where(sign[idx] != 0, sign[idx], 0.0)
    size = np.full(len(target), np.nan)  # NaN: no order on this bar
    change = np.flatnonzero(np.diff(np.concatenate(([0.0], target))))
    size[change[change + 1 < len(target)] + 1] = target[change[change + 1 < len(target)]]
    pf = vbt.Portfolio.from_orders(
        close=b.close,
        size=size,
        size_type="targetamount",
        direction="both",
        price=b.open,
        fees=FEE,
        init_cash=CASH,
        freq="1min",
    )
    return int(pf.orders.count()), float(pf.value().to_numpy()[-1])


# -- backtrader
def backtrader_run(b: Bars) -> tuple[int, float]:
    import backtrader as bt
    import pandas as pd

    frame = pd.DataFrame(
        {"open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume},
        index=pd.to_datetime(b.time, unit="ms"),
    )

    class Cross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast = bt.ind.EMA(self.data.close, period=FAST)
            self.slow = bt.ind.EMA(self.data.close, period=SLOW)
            self.signal = 0
            self.orders = 0

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.orders += 1

        def next(self) -> None:
            f, s = self.fast[0], self.slow[0]
            if f > s:
                self.signal = 1
            elif f < s:
                self.signal = -1
            if self.signal != self.position.size:
                self.order_target_size(target=self.signal)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=FEE)
    cerebro.broker.set_checksubmit(False)  # shorts and reversals without a cash check
    strat = cerebro.run()[0]
    return strat.orders, float(cerebro.broker.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--backtrader-bars", type=int, default=None, help="default: all n")
    args = ap.parse_args(argv)
    data = candles(args.n, args.seed)
    ours(candles(1_000, 1))  # import and first-call costs out of the timing, as for numba
    runs = [timed(lambda: ours(data), "ours", args.n), timed(lambda: numpy_reference(data), "numpy", args.n)]
    problems: list[str] = []
    try:
        vectorbt_run(candles(1_000, 1))  # numba compilation
        runs.append(timed(lambda: vectorbt_run(data), "vectorbt", args.n))
    except ImportError as exc:
        problems.append(f"vectorbt unavailable: {exc}")
    bt_n = min(args.backtrader_bars or args.n, args.n)
    bt_data = data.take(slice(0, bt_n))
    bt_ref: Run | None = None
    try:
        runs.append(timed(lambda: backtrader_run(bt_data), "backtrader", bt_n))
        if bt_n != args.n:
            bt_ref = timed(lambda: numpy_reference(bt_data), "numpy", bt_n)
    except ImportError as exc:
        problems.append(f"backtrader unavailable: {exc}")
    ref = runs[1]
    print(f"{'engine':<11} {'bars':>9} {'seconds':>9} {'candles/s':>12} {'orders':>8} {'final equity':>16}")
    for r in runs:
        print(
            f"{r.name:<11} {r.bars:>9} {r.seconds:>9.3f} {r.rate:>12,.0f} {r.orders:>8} {r.final_equity:>16.6f}"
        )
        base = bt_ref if (r.name == "backtrader" and bt_ref is not None) else ref
        if r.orders != base.orders:
            problems.append(f"{r.name}: {r.orders} orders, reference {base.orders}")
        if abs(r.final_equity - base.final_equity) > REL_TOL * abs(base.final_equity):
            problems.append(f"{r.name}: final equity {r.final_equity!r}, reference {base.final_equity!r}")
    by = {r.name: r for r in runs}
    ratio = by["ours"].rate / by["vectorbt"].rate if "vectorbt" in by else None
    if ratio is not None:
        print(f"ours / vectorbt speed: {ratio:.2f}x (target >= 1.0x)")
    for p in problems:
        print(f"MISMATCH: {p}", file=sys.stderr)
    summary = {
        "bench": "backtest_ema",
        "candles": args.n,
        "seed": args.seed,
        "agree": not [p for p in problems if "unavailable" not in p],
        "tolerance_rel_equity": REL_TOL,
        "ours_vs_vectorbt": ratio,
        "problems": problems,
        **{
            r.name: {
                "bars": r.bars,
                "seconds": round(r.seconds, 4),
                "candles_per_s": round(r.rate),
                "orders": r.orders,
                "final_equity": r.final_equity,
            }
            for r in runs
        },
    }
    print(json.dumps(summary))
    return 0 if summary["agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""``terminal backtest``: run one strategy over a CSV file or a venue's REST klines, print metrics.

Every bad input (unknown strategy or parameter, unreadable file, empty range, venue error)
is one ``error: ...`` line on stderr and exit status 2; nothing is half-printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from terminal.backtest.config import BacktestConfig
from terminal.backtest.data import Bars, DataError, check_interval, fetch_bars, load_csv, parse_time
from terminal.backtest.result import BacktestResult
from terminal.backtest.runner import run_backtest
from terminal.model import InstrumentKind, Venue
from terminal.strategies import registry
from terminal.strategies._common import timeframe_ms

__all__ = ["add_parser", "run"]

_SPOT = {Venue.BINANCE_SPOT, Venue.BYBIT_SPOT}
_DEFAULT_BARS = 1000  # --venue without --start: this many bars before --end


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("backtest", help="backtest a strategy over candles from a CSV file or a venue")
    p.add_argument("--strategy", required=True, help=f"one of: {', '.join(registry.names())}")
    p.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    p.add_argument("--timeframe", default="1m", help="interval of the data (default 1m)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        type=Path,
        help="CSV (Binance kline layout or time,open,high,low,close,volume), or a recording directory "
        "(terminal --record DIR: its closed candles)",
    )
    src.add_argument(
        "--venue", help=f"REST klines, or with --store stored ones: {', '.join(v.value for v in Venue)}"
    )
    p.add_argument("--base-url", default=None, help="with --venue: a simulator's http://127.0.0.1:PORT")
    p.add_argument(
        "--store",
        action="store_true",
        help="with --venue: read the local candle store (terminal history download) instead of the venue",
    )
    p.add_argument(
        "--network",
        choices=["live", "testnet"],
        default="live",
        help="with --store: whose store (default live)",
    )
    p.add_argument(
        "--store-dir",
        type=Path,
        default=None,
        help="with --store: a store of your own (--data-dir of history download)",
    )
    p.add_argument(
        "--recorded-venue",
        default=None,
        help="with --data DIR: the recorded venue (when it recorded several)",
    )
    p.add_argument("--start", default=None, help="ISO-8601 (UTC) or ms: first bar's open time")
    p.add_argument("--end", default=None, help="ISO-8601 (UTC) or ms: bars open before this")
    p.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="strategy parameter (repeatable)"
    )
    p.add_argument(
        "--market",
        choices=[k.value for k in InstrumentKind],
        default=None,
        help="spot or linear_perpetual (default: from --venue, else linear_perpetual)",
    )
    p.add_argument("--cash", type=float, default=10_000.0, help="initial capital (quote)")
    p.add_argument("--qty", type=float, default=1.0, help="base units per position")
    p.add_argument("--fee-bps", type=float, default=10.0, help="taker fee, bps of notional")
    p.add_argument("--maker-fee-bps", type=float, default=None, help="maker fee (default: --fee-bps)")
    p.add_argument("--slippage-bps", type=float, default=0.0)
    p.add_argument("--funding-rate", type=float, default=0.0001, help="futures: per 8 h")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--trades", action="store_true", help="include the trade list (with --json)")
    return p


class _Refused(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    try:
        result = _run(args)
    except (_Refused, ValueError, OSError) as exc:  # ParamError, DataError, BacktestError included
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(trades=args.trades), indent=2))
    else:
        _print_table(result)
    return 0


def _run(args: argparse.Namespace) -> BacktestResult:
    check_interval(args.timeframe)
    params = _params(args.param)
    registry.parse_params(args.strategy, params)  # fail on names/values before loading data
    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end) if args.end else None
    if start is not None and end is not None and end <= start:
        raise _Refused(f"--end {args.end} is not after --start {args.start}")
    symbol = args.symbol.strip().upper()
    venue: Venue | None = None
    if args.venue is not None:
        try:
            venue = Venue(args.venue.strip().lower())
        except ValueError:
            raise _Refused(
                f"unknown venue {args.venue!r}; known: {', '.join(v.value for v in Venue)}"
            ) from None
        now = int(time.time() * 1000)
        end = end if end is not None else now
        if args.store:
            if args.base_url:
                raise _Refused("--store reads the local store: drop --base-url")
            bars = _stored(args, venue, symbol, start, end, now)
        else:
            start = start if start is not None else end - _DEFAULT_BARS * timeframe_ms(args.timeframe)
            bars = asyncio.run(_fetch(venue, args.base_url, symbol, args.timeframe, start, end))
    else:
        if args.base_url or args.store:
            raise _Refused("--base-url and --store go with --venue")
        if args.data.is_dir():
            bars = _recorded(args, symbol).between(start, end)
        else:
            bars = load_csv(args.data, symbol, args.timeframe).between(start, end)
    if len(bars) == 0:
        raise _Refused(f"no {symbol} {args.timeframe} bars in the chosen range")
    kind = (
        InstrumentKind(args.market)
        if args.market
        else (InstrumentKind.SPOT if venue in _SPOT else InstrumentKind.LINEAR_PERPETUAL)
    )
    config = BacktestConfig(
        initial_cash=args.cash,
        kind=kind,
        venue=venue or (Venue.BINANCE_SPOT if kind is InstrumentKind.SPOT else Venue.BINANCE_USDM),
        qty=args.qty,
        taker_fee_bps=args.fee_bps,
        maker_fee_bps=args.fee_bps if args.maker_fee_bps is None else args.maker_fee_bps,
        slippage_bps=args.slippage_bps,
        funding_rate=args.funding_rate,
    )
    return run_backtest(args.strategy, params, bars, config)


def _stored(
    args: argparse.Namespace, venue: Venue, symbol: str, start: int | None, end: int, now: int
) -> Bars:
    from terminal.backtest.stored import stored_bars
    from terminal.storage.history import HistoryStore, history_dir
    from terminal.venues.base import Network

    where = args.store_dir if args.store_dir is not None else history_dir(Network(args.network))
    with HistoryStore.open_in(where) as store:
        got = stored_bars(store, venue, symbol, args.timeframe, start, end, now)
    if got.holes:
        lost = sum(h.bars(timeframe_ms(args.timeframe)) for h in got.holes)
        print(
            f"note: {lost} bars missing in the store ({len(got.holes)} holes) were run over", file=sys.stderr
        )
    return got.bars


def _recorded(args: argparse.Namespace, symbol: str) -> Bars:
    from terminal.storage.recorder import recorded_bars, recorded_venues

    venues = recorded_venues(args.data, symbol, args.timeframe)
    if args.recorded_venue is not None:
        try:
            venue = Venue(args.recorded_venue.strip().lower())
        except ValueError:
            raise _Refused(f"unknown venue {args.recorded_venue!r}") from None
        if venue not in venues:
            raise _Refused(f"{args.data} has no closed {symbol} {args.timeframe} candles of {venue}")
    elif len(venues) == 1:
        venue = venues[0]
    elif not venues:
        raise _Refused(f"{args.data} has no closed {symbol} {args.timeframe} candles")
    else:
        raise _Refused(
            f"{args.data} recorded {symbol} {args.timeframe} on {', '.join(venues)}: pick one with --recorded-venue"
        )
    return recorded_bars(args.data, venue, symbol, args.timeframe)


def _params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _Refused(f"--param {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


async def _fetch(
    venue: Venue, base_url: str | None, symbol: str, interval: str, start: int, end: int
) -> Bars:
    from terminal.app import adapter_class
    from terminal.venues.base import Network, VenueConfig

    network = Network.CUSTOM if base_url else Network.LIVE
    adapter = adapter_class(venue)(VenueConfig(venue, network, base_url), lambda _ev: None)
    try:
        await adapter.start()
        return await fetch_bars(adapter, symbol, interval, start, end)
    except DataError:
        raise
    except Exception as exc:  # the venue's own error text (unknown symbol, network down)
        raise _Refused(f"{venue}: cannot fetch {symbol} {interval} klines: {exc}") from None
    finally:
        await adapter.close()


def _print_table(result: BacktestResult) -> None:
    m = result.metrics
    rows = [
        ("strategy", f"{result.strategy} {result.params}"),
        ("symbols", ", ".join(result.symbols) + f" ({result.interval}, {m.bars} bars)"),
        ("path", "fast (target positions)" if result.fast_path else "event loop"),
        ("final equity", f"{m.final_equity:.2f} (from {m.initial_equity:.2f})"),
        ("total return", f"{m.total_return:.4%}"),
        ("CAGR", f"{m.cagr:.4%}"),
        ("Sharpe / Sortino", f"{m.sharpe:.3f} / {m.sortino:.3f}"),
        ("Calmar", f"{m.calmar:.3f}"),
        ("max drawdown", f"{m.max_drawdown:.4%} over {m.max_drawdown_bars} bars"),
        ("trades", f"{m.trades} closed, win rate {m.win_rate:.2%}"),
        ("profit factor", f"{m.profit_factor:.3f}"),
        ("expectancy", f"{m.expectancy:.4f}"),
        ("exposure", f"{m.exposure:.2%}"),
        ("fees / funding", f"{result.fees:.2f} / {result.funding:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")

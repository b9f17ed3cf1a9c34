"""``terminal history download|list``: fill the local candle store from a venue, show what it holds.

Every bad input (unknown venue, bad time, empty range, unreachable venue) ends as one
``error: ...`` line and exit status 2; Ctrl-C keeps every page already stored (run the same
command again to continue).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from terminal.model import Venue
from terminal.storage.history import DownloadProgress, DownloadReport, HistoryStore, download, history_dir
from terminal.venues.base import Network
from terminal.venues.errors import RateLimited, VenueError

if TYPE_CHECKING:
    from terminal.venues.base import VenueAdapter

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("history", help="download candle history into the local store, or list it")
    actions = p.add_subparsers(dest="history_command", required=True)
    dl = actions.add_parser("download", help="download klines (resumable: run again to continue)")
    dl.add_argument("--venue", required=True, help=", ".join(v.value for v in Venue))
    dl.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    dl.add_argument("--interval", default="1m", help="1m, 5m, 1h, 1d, ... (default 1m)")
    dl.add_argument("--start", required=True, help="ISO-8601 (UTC unless given) or ms")
    dl.add_argument("--end", default=None, help="ISO-8601 or ms (default: now)")
    dl.add_argument(
        "--base-url",
        default=None,
        help="a simulator's http://127.0.0.1:PORT (needs --data-dir: its bars are synthetic)",
    )
    ls = actions.add_parser("list", help="the stored series with their bar counts and ranges")
    for q in (dl, ls):
        q.add_argument(
            "--network",
            choices=[Network.LIVE.value, Network.TESTNET.value],
            default=Network.LIVE.value,
            help="whose klines: the live venue's (paper and live read them) or testnet's (default live)",
        )
        # its own dest: a subparser default would overwrite the top-level --data-dir
        q.add_argument(
            "--data-dir",
            dest="history_data_dir",
            type=Path,
            default=None,
            help="a store of your own (default: the network's store, which the chart reads)",
        )
    return p


class _Refused(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    try:
        with HistoryStore.open_in(_data_dir(args)) as store:
            if args.history_command == "list":
                _list(store)
                return 0
            report = asyncio.run(_download(args, store))
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the pages stored so far are kept; run the same command to continue",
            file=sys.stderr,
        )
        return 130
    except (_Refused, ValueError, OSError) as exc:  # HistoryError and DataError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gaps = ", ".join(f"{_iso(g.start_ms)}..{_iso(g.end_ms)}" for g in report.gaps) or "none"
    print(
        f"\ndone: {report.bars} bars in {report.pages} pages, {report.retries} rate-limit waits; gaps: {gaps}"
    )
    return 0


def _data_dir(args: argparse.Namespace) -> Path:
    chosen = args.history_data_dir
    if chosen is not None:
        return Path(chosen)
    if getattr(args, "base_url", None):
        raise _Refused(
            "--base-url (a simulator) needs --data-dir: synthetic bars must not go into the "
            f"{args.network} store the chart and the backtester read"
        )
    return history_dir(Network(args.network))


def _list(store: HistoryStore) -> None:
    rows = store.series()
    if not rows:
        print(f"{store.path}: no candles stored")
        return
    print(f"{'venue':<14}{'symbol':<12}{'interval':<9}{'bars':>10}  first → last")
    for s in rows:
        print(
            f"{s.venue.value:<14}{s.symbol:<12}{s.interval:<9}{s.bars:>10}  {_iso(s.first_ms)} → {_iso(s.last_ms)}"
        )


async def _download(args: argparse.Namespace, store: HistoryStore) -> DownloadReport:
    from terminal.app import adapter_class
    from terminal.backtest.data import parse_time
    from terminal.venues.base import VenueConfig

    try:
        venue = Venue(args.venue.strip().lower())
    except ValueError:
        raise _Refused(f"unknown venue {args.venue!r}; known: {', '.join(v.value for v in Venue)}") from None
    start = parse_time(args.start)
    end = parse_time(args.end) if args.end else int(datetime.now(UTC).timestamp() * 1000)
    symbol = args.symbol.strip().upper()
    network = Network.CUSTOM if args.base_url else Network(args.network)
    adapter = adapter_class(venue)(VenueConfig(venue, network, args.base_url), lambda _ev: None)
    try:
        try:
            await _start(adapter)
            adapter.instrument(symbol)
        except Exception as exc:  # the venue's own words: unknown symbol, unreachable
            raise _Refused(f"{venue}: {exc}") from None
        try:
            return await download(adapter, store, symbol, args.interval, start, end, progress=_print_progress)
        except VenueError as exc:  # not a rate limit (those are waited out): e.g. the venue went away
            raise _Refused(f"{exc} (the pages stored so far are kept; run again to continue)") from None
    finally:
        await adapter.close()


async def _start(adapter: VenueAdapter) -> None:
    """Start the adapter; a rate limit on its first requests is waited out like one on a page."""
    while True:
        try:
            return await adapter.start()
        except RateLimited as exc:
            print(f"rate limited, waiting {exc.retry_after_s:.0f} s", file=sys.stderr)
            await asyncio.sleep(exc.retry_after_s)  # start() is safe to call again


def _print_progress(p: DownloadProgress) -> None:
    line = f"\r{p.fraction:6.1%}  {p.bars} bars, {p.pages} pages, {p.retries} waits, at {_iso(p.done_ms)}"
    print(line, end="", file=sys.stderr, flush=True)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")

"""Builds the simulated exchange from a SimConfig: markets, accounts, history, generator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal

from terminal.model.enums import Venue
from terminal.sim.accounts import AccountBook, SimAccount
from terminal.sim.exchange import SimConfig, SimExchange
from terminal.sim.instruments import make_instrument
from terminal.sim.market import FeeSchedule, SimMarket

# Default fee tiers (VIP 0) of each venue.
FEES: dict[Venue, FeeSchedule] = {
    Venue.BINANCE_SPOT: FeeSchedule(Decimal("0.001"), Decimal("0.001")),
    Venue.BINANCE_USDM: FeeSchedule(Decimal("0.0002"), Decimal("0.0005"), Decimal("0.004")),
    Venue.BYBIT_SPOT: FeeSchedule(Decimal("0.001"), Decimal("0.001")),
    Venue.BYBIT_LINEAR: FeeSchedule(Decimal("0.0002"), Decimal("0.00055"), Decimal("0.005")),
}


def _spot_funding(config: SimConfig):
    def fund(acct: SimAccount) -> None:
        for asset, amount in config.spot_balances.items():
            acct.balance(asset).free = amount

    return fund


def _futures_funding(config: SimConfig):
    def fund(acct: SimAccount) -> None:
        acct.balance("USDT").free = config.futures_balance

    return fund


def build_exchange(config: SimConfig) -> SimExchange:
    exchange = SimExchange(config)
    spot_accounts = AccountBook(_spot_funding(config))
    futures_accounts = AccountBook(_futures_funding(config), default_leverage=20)
    # Bybit's unified account: one wallet for spot and linear.
    bybit_accounts = AccountBook(_spot_funding(config), default_leverage=10)
    books = {
        Venue.BINANCE_SPOT: spot_accounts,
        Venue.BINANCE_USDM: futures_accounts,
        Venue.BYBIT_SPOT: bybit_accounts,
        Venue.BYBIT_LINEAR: bybit_accounts,
    }
    for venue, accounts in books.items():
        instruments = {s: make_instrument(venue, s) for s in config.symbols}
        exchange.markets[venue] = SimMarket(venue, instruments, accounts, FEES[venue])
    if config.replay is not None:
        from terminal.sim.replay import ReplayGenerator, check_replay_path

        summary = check_replay_path(config.replay.path)  # type: ignore[attr-defined]
        # the synthetic history ends where the recording starts: no seam on the chart
        _load_history(exchange, {s: summary.price_of(s) for s in config.symbols})
        exchange.generator = ReplayGenerator(exchange, config.replay, summary)  # type: ignore[arg-type]
    else:
        _load_history(exchange)
        from terminal.sim.generator import MarketGenerator

        exchange.generator = MarketGenerator(exchange)
    exchange.generator.seed_books()
    return exchange


def _load_history(exchange: SimExchange, start_prices: dict[str, Decimal | None] | None = None) -> None:
    config = exchange.config
    if config.history_days <= 0:
        return
    from terminal.sim.history import generate_history

    end_ms = int(time.time() * 1000)
    for symbol in config.symbols:
        start = (start_prices or {}).get(symbol) or make_instrument(Venue.BINANCE_SPOT, symbol).start_price
        bars = generate_history(symbol, float(start), config.history_days, config.seed, end_ms)
        for market in exchange.markets.values():
            market.load_history(symbol, bars)


async def start_exchange(exchange: SimExchange) -> None:
    if exchange.config.generator:
        exchange.generator_task = asyncio.get_running_loop().create_task(exchange.generator.run())


async def stop_exchange(exchange: SimExchange) -> None:
    task = getattr(exchange, "generator_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

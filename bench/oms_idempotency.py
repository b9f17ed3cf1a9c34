"""OMS idempotency under lost answers: N order submissions while the simulator drops or
times out a share of order requests *after* executing them.

``python -m bench.oms_idempotency [N] [LOSS] [--venue VENUE]`` (default 1000 orders, 0.10 loss:
half dropped connections, half answers held past the client's timeout; venue binance_spot,
binance_usdm, bybit_spot or bybit_linear). The venue's real adapter, real sockets,
in-process simulator. Checks that the venue holds exactly N orders, one per client id, all
matching the journal. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from terminal.bus import EventBus
from terminal.model import Order, OrderType, Side, Venue
from terminal.sim.exchange import SimConfig
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault
from terminal.sim.server import start_sim
from terminal.storage.journal import Journal
from terminal.trading.oms import OrderIntent, OrderManager
from terminal.trading.risk import RiskLimits, RiskManager
from terminal.venues.base import ApiCredentials, Network, VenueAdapter, VenueConfig

SYM = "BTCUSDT"
# Per venue: a quantity above its minimum notional at the bench's resting prices.
QTY = {
    Venue.BINANCE_SPOT: Decimal("0.001"),
    Venue.BINANCE_USDM: Decimal("0.003"),
    Venue.BYBIT_SPOT: Decimal("0.001"),
    Venue.BYBIT_LINEAR: Decimal("0.001"),
}


def adapter_class(venue: Venue) -> type[VenueAdapter]:
    if venue is Venue.BINANCE_SPOT:
        from terminal.venues.binance.spot import BinanceSpotAdapter

        return BinanceSpotAdapter
    if venue is Venue.BINANCE_USDM:
        from terminal.venues.binance.futures import BinanceFuturesAdapter

        return BinanceFuturesAdapter
    from terminal.venues.bybit import BybitAdapter

    return BybitAdapter


async def run(n: int, loss: float, venue: Venue = Venue.BINANCE_SPOT) -> dict[str, object]:
    sim = await start_sim(SimConfig(generator=False, history_days=1))
    creds = sim.exchange.default_credentials
    config = VenueConfig(
        venue,
        Network.CUSTOM,
        base_url=sim.url,
        credentials=ApiCredentials(creds.api_key, creds.api_secret),
        request_timeout_s=0.5,
    )
    bus = EventBus()
    adapter = adapter_class(venue)(config, bus.publish)
    await adapter.start()
    await adapter.watch_user()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "j.sqlite3")
        oms = OrderManager(
            journal,
            {venue: adapter},
            RiskManager(RiskLimits(duplicate_window_s=0), journal),
            bus,
            retry_backoff_s=0.05,
        )
        faults = sim.exchange.faults
        half = loss / 2
        faults.inject_http(
            HttpFault.DROP_RESPONSE, venue, 10**9, probability=half, paths=ORDER_PLACEMENT_PATHS, seed=1
        )
        faults.inject_http(
            HttpFault.TIMEOUT_RESPONSE,
            venue,
            10**9,
            delay_s=0.8,
            probability=half,
            paths=ORDER_PLACEMENT_PATHS,
            seed=2,
        )
        gate = asyncio.Semaphore(16)

        async def one(i: int):
            # Spread over prices far below the market so every order rests.
            price = Decimal(40000 + (i % 20000))
            async with gate:
                return await oms.submit(OrderIntent(venue, SYM, Side.BUY, OrderType.LIMIT, QTY[venue], price))

        t0 = time.perf_counter()
        orders = await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - t0
        faults.clear()
        unknown_before = len(oms.outcome_unknown)
        if oms.outcome_unknown:
            await oms.reconcile(venue)
        account = creds.account_id
        venue_ids = Counter(o.client_id for o in sim.exchange.markets[venue].all_orders(account))
        ours = {o.client_id for o in orders}
        # Bybit's create answers with ids only: a state its query missed comes on the stream.
        deadline = time.monotonic() + 10
        while not (agree := _all_new(journal, orders)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        result = {
            "bench": "oms_idempotency",
            "venue": venue.value,
            "orders_submitted": n,
            "loss": loss,
            "faults_struck": faults.injected.get("drop_response", 0)
            + faults.injected.get("timeout_response", 0),
            "venue_orders": sum(venue_ids.values()),
            "duplicated_ids": sum(1 for c in venue_ids.values() if c > 1),
            "missing": len(ours - set(venue_ids)),
            "unknown_after_retries": unknown_before,
            "journal_agrees": agree,
            "seconds": round(elapsed, 2),
            "orders_per_s": round(n / elapsed, 1),
            "ok": sum(venue_ids.values()) == n and set(venue_ids) == ours and agree,
        }
        oms.close()
        journal.close()
    await adapter.close()
    await sim.stop()
    return result


def _all_new(journal: Journal, orders: list[Order]) -> bool:
    return all((j := journal.order(o.client_id)) is not None and j.status.value == "NEW" for o in orders)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.oms_idempotency", description=__doc__.split("\n")[0]
    )
    parser.add_argument("n", nargs="?", type=int, default=1000, help="order submissions (1000)")
    parser.add_argument("loss", nargs="?", type=float, default=0.10, help="share of lost answers (0.10)")
    parser.add_argument(
        "--venue", type=Venue, default=Venue.BINANCE_SPOT, choices=list(QTY), help="venue (binance_spot)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.n, args.loss, args.venue))
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

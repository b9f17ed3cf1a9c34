"""OMS idempotency under lost answers: N order submissions while the simulator drops or
times out a share of order requests *after* executing them.

``python -m bench.oms_idempotency [N] [LOSS]`` (default 1000 orders, 0.10 loss: half dropped
connections, half answers held past the client's timeout). Real Binance spot adapter, real
sockets, in-process simulator. Checks that the venue holds exactly N orders, one per client
id, all matching the journal. Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from terminal.bus import EventBus
from terminal.model import OrderType, Side, Venue
from terminal.sim.exchange import SimConfig
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault
from terminal.sim.server import start_sim
from terminal.storage.journal import Journal
from terminal.trading.oms import OrderIntent, OrderManager
from terminal.trading.risk import RiskLimits, RiskManager
from terminal.venues.base import ApiCredentials, Network, VenueConfig

VENUE = Venue.BINANCE_SPOT
SYM = "BTCUSDT"


async def run(n: int, loss: float) -> dict[str, object]:
    from terminal.venues.binance.spot import BinanceSpotAdapter

    sim = await start_sim(SimConfig(generator=False, history_days=1))
    creds = sim.exchange.default_credentials
    config = VenueConfig(
        VENUE,
        Network.CUSTOM,
        base_url=sim.url,
        credentials=ApiCredentials(creds.api_key, creds.api_secret),
        request_timeout_s=0.5,
    )
    bus = EventBus()
    adapter = BinanceSpotAdapter(config, bus.publish)
    await adapter.start()
    await adapter.watch_user()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "j.sqlite3")
        oms = OrderManager(
            journal,
            {VENUE: adapter},
            RiskManager(RiskLimits(duplicate_window_s=0), journal),
            bus,
            retry_backoff_s=0.05,
        )
        faults = sim.exchange.faults
        half = loss / 2
        faults.inject_http(
            HttpFault.DROP_RESPONSE, VENUE, 10**9, probability=half, paths=ORDER_PLACEMENT_PATHS, seed=1
        )
        faults.inject_http(
            HttpFault.TIMEOUT_RESPONSE,
            VENUE,
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
                return await oms.submit(
                    OrderIntent(VENUE, SYM, Side.BUY, OrderType.LIMIT, Decimal("0.001"), price)
                )

        t0 = time.perf_counter()
        orders = await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - t0
        faults.clear()
        unknown_before = len(oms.outcome_unknown)
        if oms.outcome_unknown:
            await oms.reconcile(VENUE)
        account = creds.account_id
        venue_ids = Counter(o.client_id for o in sim.exchange.markets[VENUE].all_orders(account))
        ours = {o.client_id for o in orders}
        agree = all((j := journal.order(o.client_id)) is not None and j.status.value == "NEW" for o in orders)
        result = {
            "bench": "oms_idempotency",
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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    loss = float(sys.argv[2]) if len(sys.argv) > 2 else 0.10
    result = asyncio.run(run(n, loss))
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

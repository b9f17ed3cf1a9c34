"""Child process for the restart test: trades through a real OrderManager until killed.

Run as ``python -m tests.trading.oms_child URL JOURNAL [VENUE]`` (default binance_spot); the
simulator's key pair comes in
the environment (SIM_API_KEY / SIM_API_SECRET), never on the command line. Prints
``ready`` once started, then ``done <n>`` after each round; the parent kills it with SIGKILL
mid-trading, so intents, requests and events are cut wherever they happen to be.
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal
from pathlib import Path

from terminal.model import OrderType, Side, Venue
from terminal.trading.oms import OrderIntent
from terminal.venues.base import ApiCredentials, Network, VenueConfig
from terminal.venues.errors import VenueError
from tests.trading.sim_support import ORDER_QTY, SYM, start_harness


async def main(url: str, journal: str, venue: Venue) -> None:
    creds = ApiCredentials(os.environ["SIM_API_KEY"], os.environ["SIM_API_SECRET"])
    config = VenueConfig(venue, Network.CUSTOM, base_url=url, credentials=creds, request_timeout_s=2.0)
    qty = ORDER_QTY[venue]
    # Spot sells half of what it buys (it must own the coin); derivatives may go short.
    sell_qty = qty / 2 if venue in (Venue.BINANCE_SPOT, Venue.BYBIT_SPOT) else qty
    h = await start_harness(config, Path(journal))
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        intents = [
            OrderIntent(venue, SYM, Side.BUY, OrderType.LIMIT, qty, Decimal(50000 + n)),
            OrderIntent(venue, SYM, Side.BUY, OrderType.MARKET, qty),
            OrderIntent(venue, SYM, Side.SELL, OrderType.LIMIT, qty, Decimal(65050 + n)),
            OrderIntent(venue, SYM, Side.SELL, OrderType.MARKET, sell_qty),
        ]
        results = await asyncio.gather(*(h.oms.submit(i) for i in intents), return_exceptions=True)
        for r in results:
            if isinstance(r, VenueError):
                print(f"error {r}", flush=True)
        opens = h.oms.open_orders(venue, SYM)
        if n % 2 == 0 and opens:
            await h.oms.cancel(opens[0].client_id)
        print(f"done {n}", flush=True)


if __name__ == "__main__":
    asyncio.run(
        main(sys.argv[1], sys.argv[2], Venue(sys.argv[3]) if len(sys.argv) > 3 else Venue.BINANCE_SPOT)
    )

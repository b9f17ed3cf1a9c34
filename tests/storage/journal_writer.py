"""Child process for the kill -9 test: journals an intent and a fill per step, forever,
and prints each step's number only after both writes returned (i.e. committed)."""

from __future__ import annotations

import sys
from decimal import Decimal

from terminal.model import Fill, Order, OrderType, Side, Venue
from terminal.storage import Journal


def main(path: str) -> None:
    journal = Journal.open(path)
    i = 0
    while True:
        cid = f"k9-{i}"
        journal.record_order_intent(
            Order.new(
                cid, Venue.BINANCE_SPOT, "BTCUSDT", Side.BUY, OrderType.LIMIT, "0.001", "50000.10", ts=i + 1
            ),
            "manual",
        )
        journal.record_fill(
            Fill(
                Venue.BINANCE_SPOT,
                "BTCUSDT",
                cid,
                None,
                f"t{i}",
                Side.BUY,
                Decimal("50000.10"),
                Decimal("0.001"),
                i + 1,
                fee=Decimal("0.00000100"),
            )
        )
        print(i, flush=True)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1])

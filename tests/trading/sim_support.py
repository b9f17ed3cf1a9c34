"""Wiring for OMS tests against the simulator with the real Binance spot adapter."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from terminal.bus import EventBus
from terminal.model import OrderStatus, Venue
from terminal.sim.server import RunningSim
from terminal.storage.journal import Journal
from terminal.trading.oms import OrderManager
from terminal.trading.risk import RiskLimits, RiskManager
from terminal.venues.base import VenueAdapter, VenueConfig

VENUE = Venue.BINANCE_SPOT
SYM = "BTCUSDT"


def spot_adapter_class() -> type[VenueAdapter]:
    from terminal.venues.binance.spot import BinanceSpotAdapter

    return BinanceSpotAdapter


def futures_adapter_class() -> type[VenueAdapter]:
    from terminal.venues.binance.futures import BinanceFuturesAdapter

    return BinanceFuturesAdapter


@dataclass
class Harness:
    bus: EventBus
    adapter: VenueAdapter
    journal: Journal
    risk: RiskManager
    oms: OrderManager

    async def close(self) -> None:
        self.oms.close()
        await self.adapter.close()
        self.journal.close()


async def start_harness(
    config: VenueConfig,
    journal_path: Path,
    *,
    limits: RiskLimits | None = None,
    watch_user: bool = True,
    adapter_cls: type[VenueAdapter] | None = None,
    **oms_kw: object,
) -> Harness:
    bus = EventBus()
    adapter = (adapter_cls or spot_adapter_class())(config, bus.publish)
    await adapter.start()
    if watch_user:
        await adapter.watch_user()
    journal = Journal.open(journal_path)
    risk = RiskManager(limits or RiskLimits(duplicate_window_s=0), journal)
    oms = OrderManager(journal, {config.venue: adapter}, risk, bus, **oms_kw)  # type: ignore[arg-type]
    return Harness(bus, adapter, journal, risk, oms)


def sim_orders(running: RunningSim, venue: Venue = VENUE) -> list:
    account = running.exchange.default_credentials.account_id
    return running.exchange.markets[venue].all_orders(account)


def sim_fills(running: RunningSim, venue: Venue = VENUE) -> list:
    account = running.exchange.default_credentials.account_id
    return running.exchange.markets[venue].fills(account)


def journal_vs_venue(journal: Journal, running: RunningSim, venue: Venue = VENUE) -> list[str]:
    """Every disagreement between the journal and the simulator, as readable lines (empty = agree).

    Orders rejected locally or settled as never placed must be absent from the venue; every
    other journal order must exist exactly once there with the same status and filled qty;
    fills must match by trade id."""
    problems: list[str] = []
    venue_orders = sim_orders(running, venue)
    counts = Counter(o.client_id for o in venue_orders)
    problems += [f"{cid}: {n} orders on the venue" for cid, n in counts.items() if n > 1]
    by_cid = {o.client_id: o for o in venue_orders}
    rows = journal._read("SELECT client_order_id FROM orders WHERE venue=?", (venue.value,))
    journal_ids = {r[0] for r in rows}
    for cid in journal_ids:
        order = journal.order(cid)
        assert order is not None
        remote = by_cid.get(cid)
        if remote is None:
            if order.status is not OrderStatus.REJECTED:
                problems.append(f"{cid}: journal {order.status}, absent on the venue")
            continue
        if order.status is not remote.status or order.filled_qty != remote.filled_qty:
            problems.append(
                f"{cid}: journal {order.status} {order.filled_qty} vs venue {remote.status} {remote.filled_qty}"
            )
    problems += [f"{cid}: on the venue, not in the journal" for cid in by_cid.keys() - journal_ids]
    venue_trades = {str(f.trade_id) for f in sim_fills(running, venue)}
    journal_trades = {f.trade_id for f in journal.fills() if f.venue is venue}
    if venue_trades != journal_trades:
        problems.append(
            f"fills differ: missing {sorted(venue_trades - journal_trades)[:5]}, "
            f"extra {sorted(journal_trades - venue_trades)[:5]}"
        )
    return problems


ZERO = Decimal(0)

"""Wiring for OMS tests against the simulator with the real venue adapters (Binance spot and
USDⓈ-M, Bybit spot and linear)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def bybit_adapter_class() -> type[VenueAdapter]:
    from terminal.venues.bybit import BybitAdapter

    return BybitAdapter


def adapter_class(venue: Venue) -> type[VenueAdapter]:
    """The real adapter class for ``venue`` (ImportError if it is not written yet)."""
    if venue is Venue.BINANCE_SPOT:
        return spot_adapter_class()
    if venue is Venue.BINANCE_USDM:
        return futures_adapter_class()
    if venue in (Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR):
        return bybit_adapter_class()
    raise ValueError(f"no adapter for {venue}")


# Smallest comfortable order quantity per venue (futures need more for their minimum notional).
ORDER_QTY = {
    Venue.BINANCE_SPOT: Decimal("0.001"),
    Venue.BINANCE_USDM: Decimal("0.003"),
    Venue.BYBIT_SPOT: Decimal("0.001"),
    Venue.BYBIT_LINEAR: Decimal("0.001"),
}


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
    adapter = (adapter_cls or adapter_class(config.venue))(config, bus.publish)
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


def venue_trade_id(venue: Venue, fill: Any) -> str:
    """The trade id the venue shows for a simulator fill (Bybit: the execId)."""
    if venue in (Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR):
        from terminal.sim import bybit_format

        category = "spot" if venue is Venue.BYBIT_SPOT else "linear"
        return bybit_format.exec_id_str(category, fill.order_id, fill.trade_id)
    return str(fill.trade_id)


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
    journal_orders = {o.client_id: o for o in journal.orders(venue)}
    journal_ids = set(journal_orders)
    for cid, order in journal_orders.items():
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
    venue_trades = {venue_trade_id(venue, f) for f in sim_fills(running, venue)}
    journal_trades = {f.trade_id for f in journal.fills() if f.venue is venue}
    if venue_trades != journal_trades:
        problems.append(
            f"fills differ: missing {sorted(venue_trades - journal_trades)[:5]}, "
            f"extra {sorted(journal_trades - venue_trades)[:5]}"
        )
    return problems

"""Crash recovery: a child process trading through the OMS is killed with SIGKILL mid-trading;
a new OrderManager on the same journal reconciles, and journal and venue agree on every
order (status, filled quantity) and every fill (trade ids).

The simulator runs in this process; the child talks to it over real sockets. Parametrized
over Binance spot and Bybit linear (the child takes the venue as an argument).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from decimal import Decimal

import pytest

from terminal.model import OrderStatus, Side, Venue
from terminal.sim.server import RunningSim
from tests.trading.sim_support import SYM, adapter_class, journal_vs_venue, sim_orders, start_harness
from tests.venues.binance_support import sim, venue_config  # noqa: F401 - fixture


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


pytestmark = pytest.mark.timeout(90)

ROUNDS_BEFORE_KILL = 8
VENUES = [Venue.BINANCE_SPOT, Venue.BYBIT_LINEAR]


async def place_by_hand(running: RunningSim, venue: Venue) -> None:
    """An order placed outside the terminal (the venue's web UI; here: the venue's own client)."""
    creds = running.exchange.default_credentials
    if venue is Venue.BINANCE_SPOT:
        from tests.support.binance_clients import make_async_client

        web = await make_async_client(running.url, creds.api_key, creds.api_secret)
        try:
            await web.create_order(
                symbol=SYM,
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="0.002",
                price="51000.00",
                newClientOrderId="web_manual_1",
            )
        finally:
            await web.close_connection()
        return
    from tests.support.bybit_clients import make_http

    http = make_http(running.url, creds.api_key, creds.api_secret)  # pybit: blocking, so in a thread
    await asyncio.to_thread(
        http.place_order,
        category="linear",
        symbol=SYM,
        side="Buy",
        orderType="Limit",
        qty="0.002",
        price="51000",
        orderLinkId="web_manual_1",
    )


@pytest.mark.parametrize("venue", VENUES, ids=[v.value for v in VENUES])
async def test_kill_9_mid_trading_then_reconcile(sim, tmp_path, venue):  # noqa: F811
    try:
        adapter_class(venue)
    except ImportError:
        pytest.skip(f"{venue} adapter not written yet")
    journal_path = tmp_path / "journal.sqlite3"
    creds = sim.exchange.default_credentials
    env = {**os.environ, "SIM_API_KEY": creds.api_key, "SIM_API_SECRET": creds.api_secret}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.trading.oms_child",
        sim.url,
        str(journal_path),
        venue.value,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=os.getcwd(),
    )
    try:
        rounds = 0
        assert child.stdout is not None
        while rounds < ROUNDS_BEFORE_KILL:
            line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
            if not line:
                err = await child.stderr.read() if child.stderr else b""
                pytest.fail(f"child exited early: {err.decode()[-2000:]}")
            if line.startswith(b"done"):
                rounds += 1
        # Let the next round get under way, then kill it wherever it is.
        await asyncio.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()

    orders_before = len(sim_orders(sim, venue))
    assert orders_before >= ROUNDS_BEFORE_KILL * 3
    # While the OMS is down the market moves through its resting sells: fills it never saw.
    market = sim.exchange.markets[venue]
    market.mm_take(SYM, Side.BUY, market.instruments[SYM].lots(Decimal("40")))
    filled_while_down = [
        o for o in sim_orders(sim, venue) if o.side is Side.SELL and o.price > 0 and o.filled_qty > 0
    ]
    assert filled_while_down
    # And someone places an order by hand in the venue's web UI.
    await place_by_hand(sim, venue)

    # The restart is judged as if it came 10 s later: an order journalled but never sent is
    # "never placed" only once the venue's recvWindow (5 s) has passed, since a request still
    # on its way could be executed until then.
    h = await start_harness(
        venue_config(sim, venue), journal_path, unknown_grace_ms=0, clock_ms=lambda: _now_ms() + 10_000
    )
    try:
        left_open = h.journal.open_orders()
        await h.oms.reconcile(venue)
        (summary,) = [a.detail for a in h.journal.audit_log() if a.action == "reconcile"]
        print(
            f"venue_orders={orders_before} journal_open_at_restart={len(left_open)} "
            f"pending_new={sum(o.status is OrderStatus.PENDING_NEW for o in left_open)} reconcile={summary}"
        )
        problems = journal_vs_venue(h.journal, sim, venue)
        assert problems == [], "\n".join(problems)
        # The journal is consistent with itself too: no order left half-way.
        assert all(o.status is not OrderStatus.PENDING_NEW for o in h.journal.open_orders())
        assert h.journal.integrity_check() == "ok"
        assert summary["adopted"] == 1
        web = h.journal.order_record("web_manual_1")
        assert web is not None and web.origin == "external"
        assert summary["new_fills"] > 0  # the fills made while it was down were recovered
    finally:
        await h.close()

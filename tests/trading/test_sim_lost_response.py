"""Simulator faults that lose the answer after the venue executed the request.

Driven with the real python-binance client over real sockets: the client sees an error
(connection dropped / timeout) although the order exists on the venue, which is exactly the
situation the OMS must settle by querying the client order id instead of resending blindly.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from terminal.model.enums import Venue
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault
from tests.sim.test_binance_spot_fixtures import client, sim  # noqa: F401 - fixtures
from tests.support.bybit_clients import make_http

pytestmark = pytest.mark.timeout(30)

SYM = "BTCUSDT"
VENUE = Venue.BINANCE_SPOT


def sim_client_ids(running) -> list[str]:
    account = running.exchange.default_credentials.account_id
    return [o.client_id for o in running.exchange.markets[VENUE].all_orders(account, SYM)]


async def place(client, cid: str) -> dict:  # noqa: F811
    # Far below the market: rests, never fills, so the test is about existence only.
    return await client.create_order(
        symbol=SYM,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="60000.00",
        newClientOrderId=cid,
    )


async def test_drop_response_order_exists_although_client_saw_error(sim, client):  # noqa: F811
    sim.exchange.faults.inject_http(HttpFault.DROP_RESPONSE, VENUE, count=1, paths=ORDER_PLACEMENT_PATHS)
    # A query on the same path (GET) is not an order placement: not struck.
    with pytest.raises(Exception):  # noqa: B017 - python-binance maps nothing here: the raw aiohttp error
        await place(client, "lost-1")
    assert "lost-1" in sim_client_ids(sim)
    got = await client.get_order(symbol=SYM, origClientOrderId="lost-1")
    assert got["status"] == "NEW"
    # The fault is used up: the next order is answered normally.
    ok = await place(client, "lost-2")
    assert ok["clientOrderId"] == "lost-2"
    assert sim.exchange.faults.injected["drop_response"] == 1


async def test_timeout_response_holds_the_answer(sim, client):  # noqa: F811
    sim.exchange.faults.inject_http(
        HttpFault.TIMEOUT_RESPONSE, VENUE, count=1, delay_s=2.0, paths=ORDER_PLACEMENT_PATHS
    )
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(place(client, "slow-1"), timeout=0.5)
    assert "slow-1" in sim_client_ids(sim)  # executed before the answer was held back


async def test_probabilistic_faults_strike_only_order_placement(sim, client):  # noqa: F811
    sim.exchange.faults.inject_http(
        HttpFault.DROP_RESPONSE, VENUE, count=1000, probability=0.3, paths=ORDER_PLACEMENT_PATHS, seed=7
    )
    errors = 0
    for i in range(40):
        try:
            await place(client, f"p-{i}")
        except Exception:
            errors += 1
        # Queries and cancels on other routes are never struck.
        await client.get_open_orders(symbol=SYM)
    assert 4 <= errors <= 24  # ~30 % of 40, seeded
    assert sim.exchange.faults.injected["drop_response"] == errors
    # Every order exists exactly once, whether or not its answer was lost.
    ids = sim_client_ids(sim)
    assert sorted(ids) == sorted(f"p-{i}" for i in range(40))


async def test_control_plane_arms_lost_response_faults(sim, client):  # noqa: F811
    async with aiohttp.ClientSession() as http:
        body = {"kind": "drop_response", "venue": VENUE.value, "count": 1, "paths": "orders"}
        async with http.post(f"{sim.url}/sim/faults", data=orjson.dumps(body)) as resp:
            assert resp.status == 200
        bad = {"kind": "drop_response", "probability": 2}
        async with http.post(f"{sim.url}/sim/faults", data=orjson.dumps(bad)) as resp:
            assert resp.status == 400
    with pytest.raises(Exception):  # noqa: B017
        await place(client, "ctl-1")
    assert "ctl-1" in sim_client_ids(sim)


async def test_bybit_order_create_drop_and_timeout(sim):  # noqa: F811
    """Bybit /v5/order/create: executed, answer lost (pybit sees a connection error / timeout)."""
    creds = sim.exchange.default_credentials
    # max_retries=1: one attempt (pybit 5.x fails with UnboundLocalError on 0).
    http = make_http(sim.url, creds.api_key, creds.api_secret, max_retries=1, timeout=1)
    faults = sim.exchange.faults
    faults.inject_http(HttpFault.DROP_RESPONSE, Venue.BYBIT_LINEAR, count=1, paths=ORDER_PLACEMENT_PATHS)
    faults.inject_http(
        HttpFault.TIMEOUT_RESPONSE, Venue.BYBIT_LINEAR, count=1, delay_s=2.0, paths=ORDER_PLACEMENT_PATHS
    )
    loop = asyncio.get_running_loop()

    def create(link_id: str) -> dict:
        return http.place_order(
            category="linear",
            symbol=SYM,
            side="Buy",
            orderType="Limit",
            qty="0.01",
            price="60000",
            orderLinkId=link_id,
        )

    for link_id in ("by-drop", "by-slow"):
        with pytest.raises(Exception):  # noqa: B017 - requests' own connection/timeout errors
            await loop.run_in_executor(None, create, link_id)
    account = creds.account_id
    ids = [o.client_id for o in sim.exchange.markets[Venue.BYBIT_LINEAR].all_orders(account, SYM)]
    assert sorted(ids) == ["by-drop", "by-slow"]
    assert faults.injected["drop_response"] == 1 and faults.injected["timeout_response"] == 1
    # A query on another route is unaffected and finds both.
    got = await loop.run_in_executor(None, lambda: http.get_open_orders(category="linear", symbol=SYM))
    assert {o["orderLinkId"] for o in got["result"]["list"]} == {"by-drop", "by-slow"}

"""Bad Bybit requests: the right retCode (or HTTP status), and nothing changes.

Also the injected HTTP faults as pybit experiences them: 10002 makes pybit widen its
recv_window and retry, 10006 makes it sleep until X-Bapi-Limit-Reset-Timestamp and
retry, the IP limit is an HTTP 403, a server error an HTTP 5xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

import aiohttp
import orjson
import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError

from terminal.model.enums import Venue
from terminal.sim.faults import HttpFault
from tests.sim.test_bybit_helpers import http_for, market, ok, running_sim
from tests.support.bybit_clients import make_http

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"


async def _state(http) -> tuple:
    wallet = await ok(http.get_wallet_balance, accountType="UNIFIED")
    positions = await ok(http.get_positions, category="linear", symbol=SYMBOL)
    open_lin = await ok(http.get_open_orders, category="linear")
    open_spot = await ok(http.get_open_orders, category="spot")
    return wallet, positions["list"], open_lin["list"], open_spot["list"]


async def _refused(http, code: int, method: str, **kwargs) -> None:
    before = await _state(http)
    with pytest.raises(InvalidRequestError) as err:
        await asyncio.to_thread(getattr(http, method), **kwargs)
    assert err.value.status_code == code, err.value
    assert await _state(http) == before, f"{method} {kwargs} changed state"


async def test_order_refusals_change_nothing() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "linear")
        # some state to protect: a long, a resting linear order, a resting spot order
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.02"
        )
        bid = m.instruments[SYMBOL].price(m.books[SYMBOL].best_bid())
        await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty="0.01",
            price=str(bid - 200),
        )
        await ok(
            http.place_order,
            category="spot",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty="0.01",
            price="60000",
        )

        lin = {"category": "linear", "symbol": SYMBOL}
        spot = {"category": "spot", "symbol": SYMBOL}
        await _refused(
            http, 10001, "place_order", **lin, side="Buy", orderType="Market", qty="0.0015"
        )  # step
        await _refused(
            http, 10001, "place_order", **lin, side="Buy", orderType="Limit", qty="0.01"
        )  # no price
        await _refused(http, 10001, "place_order", **lin, side="Up", orderType="Market", qty="0.01")
        await _refused(
            http,
            10001,
            "place_order",
            category="option",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="1",
        )
        await _refused(http, 170137, "place_order", **spot, side="Sell", orderType="Market", qty="0.000015")
        await _refused(http, 110007, "place_order", **lin, side="Buy", orderType="Market", qty="100")
        await _refused(http, 170131, "place_order", **spot, side="Sell", orderType="Market", qty="5")
        await _refused(
            http, 170131, "place_order", **spot, side="Buy", orderType="Limit", qty="2", price="60000"
        )
        await _refused(
            http, 110094, "place_order", **lin, side="Buy", orderType="Limit", qty="0.001", price="1000"
        )
        await _refused(
            http, 170140, "place_order", **spot, side="Buy", orderType="Limit", qty="0.00001", price="60000"
        )
        await _refused(
            http, 110017, "place_order", **lin, side="Buy", orderType="Market", qty="0.01", reduceOnly=True
        )
        await _refused(http, 110001, "cancel_order", **lin, orderId="00000000-0000-0000-0000-000000000001")
        await _refused(http, 110001, "cancel_order", **lin, orderLinkId="never-placed")
        await _refused(http, 170213, "cancel_order", **spot, orderId="12345")
        await _refused(http, 110001, "amend_order", **lin, orderLinkId="never-placed", qty="0.02")
        await _refused(http, 10001, "get_positions", category="linear")  # symbol or settleCoin
        await _refused(http, 10001, "get_wallet_balance", accountType="SPOT")


async def test_auth_errors() -> None:
    async with running_sim() as sim:
        creds = sim.exchange.default_credentials
        good = http_for(sim)
        before = await _state(good)
        for key, secret, code in (("not-a-key", creds.api_secret, 10003), (creds.api_key, "wrong", 10004)):
            http = make_http(sim.url, key, secret)
            with pytest.raises(InvalidRequestError) as err:
                await asyncio.to_thread(
                    http.place_order,
                    category="linear",
                    symbol=SYMBOL,
                    side="Buy",
                    orderType="Market",
                    qty="0.01",
                )
            assert err.value.status_code == code
        assert await _state(good) == before

        # a stale timestamp, signed correctly: 10002 (raw request: pybit would retry)
        async with aiohttp.ClientSession() as session:
            body = orjson.dumps(
                {"category": "linear", "symbol": SYMBOL, "side": "Buy", "orderType": "Market", "qty": "0.01"}
            )
            ts = str(int(time.time() * 1000) - 20_000)
            sign = hmac.new(
                creds.api_secret.encode(), (ts + creds.api_key + "5000").encode() + body, hashlib.sha256
            )
            headers = {
                "X-BAPI-API-KEY": creds.api_key,
                "X-BAPI-SIGN": sign.hexdigest(),
                "X-BAPI-SIGN-TYPE": "2",
                "X-BAPI-TIMESTAMP": ts,
                "X-BAPI-RECV-WINDOW": "5000",
                "Content-Type": "application/json",
            }
            async with session.post(f"{sim.url}/v5/order/create", data=body, headers=headers) as resp:
                assert resp.status == 200
                data = await resp.json()
            assert data["retCode"] == 10002 and data["result"] == {}
            # the same body re-signed with a fresh timestamp works
            ts = str(int(time.time() * 1000))
            sign = hmac.new(
                creds.api_secret.encode(), (ts + creds.api_key + "5000").encode() + body, hashlib.sha256
            )
            headers |= {"X-BAPI-TIMESTAMP": ts, "X-BAPI-SIGN": sign.hexdigest()}
            async with session.post(f"{sim.url}/v5/order/create", data=body, headers=headers) as resp:
                assert (await resp.json())["retCode"] == 0
                assert resp.headers["X-Bapi-Limit-Status"] and resp.headers["X-Bapi-Limit-Reset-Timestamp"]


async def test_injected_http_faults_as_pybit_sees_them() -> None:
    async with running_sim() as sim:
        faults = sim.exchange.faults
        http = http_for(sim, retry_delay=0.05)

        # 10002: pybit widens recv_window by 2.5 s and retries on its own
        faults.inject_http(HttpFault.TIMESTAMP, Venue.BYBIT_LINEAR)
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.01"
        )
        assert faults.injected["timestamp"] == 1
        assert len((await ok(http.get_executions, category="linear"))["list"]) >= 1

        # 10006: pybit sleeps until X-Bapi-Limit-Reset-Timestamp, then retries
        faults.inject_http(HttpFault.RATE_LIMIT, Venue.BYBIT_LINEAR, retry_after_s=1)
        t0 = time.monotonic()
        pos = await ok(http.get_positions, category="linear", symbol=SYMBOL)
        assert time.monotonic() - t0 >= 0.8 and pos["list"][0]["size"] == "0.010"
        assert faults.injected["rate_limit"] == 1

        faults.inject_http(HttpFault.IP_BAN, Venue.BYBIT_SPOT)
        with pytest.raises(FailedRequestError) as failed:
            await asyncio.to_thread(http.get_orderbook, category="spot", symbol=SYMBOL)
        assert failed.value.status_code == 403
        faults.inject_http(HttpFault.SERVER_ERROR, None, status=503)
        with pytest.raises(FailedRequestError) as failed:
            await asyncio.to_thread(http.get_server_time)
        assert failed.value.status_code == 503

        faults.inject_http(HttpFault.DELAY, Venue.BYBIT_LINEAR, delay_s=0.3)
        t0 = time.monotonic()
        await ok(http.get_tickers, category="linear", symbol=SYMBOL)
        assert time.monotonic() - t0 >= 0.3

        # a raw look at the rate-limit answer
        faults.inject_http(HttpFault.RATE_LIMIT, None, retry_after_s=2)
        async with aiohttp.ClientSession() as session, session.get(f"{sim.url}/v5/market/time") as resp:
            data = await resp.json()
            reset = int(resp.headers["X-Bapi-Limit-Reset-Timestamp"])
        assert data["retCode"] == 10006 and data["retMsg"] == "Too many visits!"
        assert reset >= time.time() * 1000 + 1500

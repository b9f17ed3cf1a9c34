"""Bad requests get Binance's code and change nothing; request weight, bans and injected faults."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from binance.exceptions import BinanceAPIException

from terminal.model.enums import Venue
from terminal.sim.binance_spot import LIMITER_KEY
from terminal.sim.faults import HttpFault
from tests.sim.test_binance_spot_fixtures import balances, client, market, sim  # noqa: F401 - fixtures
from tests.support.binance_clients import make_async_client

pytestmark = pytest.mark.timeout(30)

SYM = "BTCUSDT"


async def _state(client):  # noqa: F811
    return await balances(client), await client.get_open_orders()


async def _expect(coro, code: int, status: int = 400, msg: str | None = None) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as exc:
        await coro
    assert exc.value.code == code, exc.value.message
    assert exc.value.status_code == status
    if msg is not None:
        assert exc.value.message == msg
    return exc.value


async def test_bad_requests_change_nothing(sim, client):  # noqa: F811
    # one resting order so "nothing changed" covers open orders too
    bid = market(sim).books[SYM].best_bid()
    price = f"{market(sim).instruments[SYM].price(bid - 1000):.2f}"
    await client.order_limit_buy(symbol=SYM, quantity="0.01", price=price)
    before = await _state(client)

    cases = [
        (
            client.create_order(symbol="NOPEUSDT", side="BUY", type="MARKET", quantity="1"),
            -1121,
            "Invalid symbol.",
        ),
        (
            client.order_limit_buy(symbol=SYM, quantity="0.000015", price=price),
            -1013,
            "Filter failure: LOT_SIZE",
        ),
        (
            client.order_limit_buy(symbol=SYM, quantity="0.01", price="60000.005"),
            -1013,
            "Filter failure: PRICE_FILTER",
        ),
        (
            client.order_limit_buy(symbol=SYM, quantity="0.00001", price=price),
            -1013,
            "Filter failure: NOTIONAL",
        ),
        (
            client.order_limit_buy(symbol=SYM, quantity="2", price=price),
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (client.order_market_sell(symbol=SYM, quantity="5"), -2010, None),
        (
            client.order_limit_buy(symbol=SYM, quantity="0.000000001", price=price),
            -1111,
            "Parameter 'quantity' has too much precision.",
        ),
        (client.order_limit_buy(symbol=SYM, quantity="1e-3", price=price), -1100, None),
        (
            client.create_order(symbol=SYM, side="BUY", type="LIMIT", quantity="0.01", price=price),
            -1102,
            None,
        ),
        (
            client.create_order(symbol=SYM, side="BUY", type="BOGUS", quantity="0.01"),
            -1116,
            "Invalid orderType.",
        ),
        (client.create_order(symbol=SYM, side="UP", type="MARKET", quantity="0.01"), -1117, "Invalid side."),
        (client.order_market_buy(symbol=SYM), -1102, None),
        (client.cancel_order(symbol=SYM, orderId=123456), -2011, "Unknown order sent."),
        (client.get_order(symbol=SYM, orderId=123456), -2013, "Order does not exist."),
        (client.get_order(symbol=SYM), -1102, None),
    ]
    for coro, code, msg in cases:
        await _expect(coro, code, 400, msg)
        assert await _state(client) == before, f"code {code} changed state"


async def test_auth_failures(sim, client):  # noqa: F811
    creds = sim.exchange.default_credentials
    before = await _state(client)
    wrong_secret = await make_async_client(sim.url, creds.api_key, "0" * 64)
    unknown_key = await make_async_client(sim.url, "f" * 64, creds.api_secret)
    try:
        await _expect(
            wrong_secret.order_market_buy(symbol=SYM, quantity="0.01"),
            -1022,
            400,
            "Signature for this request is not valid.",
        )
        await _expect(
            unknown_key.get_account(), -2015, 401, "Invalid API-key, IP, or permissions for action."
        )
        # public endpoints need no key at all
        assert (await wrong_secret.get_server_time())["serverTime"] > 0
    finally:
        await wrong_secret.close_connection()
        await unknown_key.close_connection()
    # stale and future timestamps (python-binance sends recvWindow=10000)
    client.timestamp_offset -= 20_000
    await _expect(
        client.order_market_buy(symbol=SYM, quantity="0.01"),
        -1021,
        400,
        "Timestamp for this request is outside of the recvWindow.",
    )
    client.timestamp_offset += 25_000
    await _expect(
        client.get_account(), -1021, 400, "Timestamp for this request was 1000ms ahead of the server's time."
    )
    client.timestamp_offset -= 5_000
    assert await _state(client) == before


async def test_weight_limit_then_ip_ban(sim, client):  # noqa: F811
    limiter = sim.runner.app[LIMITER_KEY]
    limiter.reset()
    limiter.window_s = 1e9  # one window for the whole test: no wall-clock minute rollover
    limiter.limit = 40
    limiter.ban_after = 2
    await client.get_order_book(symbol=SYM)  # weight 5
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "5"
    for _ in range(7):
        await client.get_order_book(symbol=SYM)
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "40"
    for _ in range(2):
        err = await _expect(client.get_order_book(symbol=SYM), -1003, 429)
        assert "current limit is 40 request weight per 1 MINUTE" in err.message
        assert int(err.response.headers["Retry-After"]) > 0
    # going on after the 429s gets the IP banned: 418 with Retry-After, for every endpoint
    err = await _expect(client.get_server_time(), -1003, 418)
    assert "IP banned until" in err.message
    assert int(err.response.headers["Retry-After"]) >= 100
    await _expect(client.ping(), -1003, 418)
    limiter.reset()
    limiter.limit = 6000
    assert await client.ping() == {}


async def test_injected_http_faults(sim, client):  # noqa: F811
    faults = sim.exchange.faults
    faults.inject_http(HttpFault.RATE_LIMIT, Venue.BINANCE_SPOT, retry_after_s=7)
    err = await _expect(client.get_ticker(symbol=SYM), -1003, 429)
    assert err.response.headers["Retry-After"] == "7"
    assert await client.ping() == {}  # struck once only

    faults.inject_http(HttpFault.IP_BAN, Venue.BINANCE_SPOT, retry_after_s=120)
    err = await _expect(client.ping(), -1003, 418)
    assert err.response.headers["Retry-After"] in ("119", "120")

    faults.inject_http(HttpFault.SERVER_ERROR, Venue.BINANCE_SPOT, status=503)
    await _expect(client.ping(), -1008, 503)
    faults.inject_http(HttpFault.SERVER_ERROR, Venue.BINANCE_SPOT, status=502)
    err = await _expect(client.ping(), 0, 502)  # an HTML gateway page: no JSON code
    assert "Invalid JSON" in err.message

    # a TIMESTAMP fault waits for a signed request; unsigned ones pass
    before = await balances(client)
    faults.inject_http(HttpFault.TIMESTAMP, Venue.BINANCE_SPOT)
    assert await client.ping() == {}
    await _expect(client.order_market_buy(symbol=SYM, quantity="0.01"), -1021, 400)
    assert await balances(client) == before

    faults.inject_http(HttpFault.DELAY, Venue.BINANCE_SPOT, delay_s=0.4)
    t0 = time.monotonic()
    assert (await client.get_symbol_ticker(symbol=SYM))["symbol"] == SYM
    assert time.monotonic() - t0 >= 0.4
    # other venues' faults do not touch spot
    faults.inject_http(HttpFault.SERVER_ERROR, Venue.BYBIT_LINEAR, status=503)
    assert await client.ping() == {}
    faults.clear()
    assert Decimal((await client.get_symbol_ticker(symbol=SYM))["price"]) > 0

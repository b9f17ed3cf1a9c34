"""The Binance USDⓈ-M user data stream through python-binance's futures_user_socket:
ORDER_TRADE_UPDATE / ACCOUNT_UPDATE / ALGO_UPDATE / ACCOUNT_CONFIG_UPDATE matching REST,
listenKey life cycle and the injected ``listenKeyExpired``."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import pytest
from binance.exceptions import BinanceAPIException

from terminal.model.enums import Side
from terminal.sim.faults import StreamFault
from tests.sim.test_binance_futures_fixtures import (  # noqa: F401 - fixtures
    SYMBOL,
    VENUE,
    client,
    dec,
    inst,
    lots_to_move,
    market,
    recv_until,
    silent_for,
    sim,
    socket_manager,
    take,
    user_socket,
)

pytestmark = pytest.mark.timeout(40)


def is_order(x: str, status: str | None = None):
    def pred(m: dict) -> bool:
        return (
            m.get("e") == "ORDER_TRADE_UPDATE"
            and m["o"]["x"] == x
            and (status is None or m["o"]["X"] == status)
        )

    return pred


def is_event(e: str, **fields):
    def pred(m: dict) -> bool:
        body = m.get("o", m)
        return m.get("e") == e and all(body.get(k) == v for k, v in fields.items())

    return pred


async def test_order_and_account_updates_match_rest(sim, client):  # noqa: F811
    i = inst(sim)
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    async with sock:
        await asyncio.sleep(0.1)
        bid = market(sim).books[SYMBOL].best_bid()
        rest = await client.futures_create_order(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.020",
            price=i.fmt_price(bid - 20),
            newClientOrderId="my-limit-1",
        )
        new = (await recv_until(sock, is_order("NEW")))["o"]
        assert (new["i"], new["c"], new["X"], new["S"], new["o"], new["f"]) == (
            rest["orderId"],
            "my-limit-1",
            "NEW",
            "BUY",
            "LIMIT",
            "GTC",
        )
        assert (new["q"], new["p"], new["z"], new["ps"], new["R"]) == (
            "0.020",
            i.fmt_price(bid - 20),
            "0.000",
            "BOTH",
            False,
        )
        await client.futures_cancel_order(symbol=SYMBOL, orderId=rest["orderId"])
        cancelled = (await recv_until(sock, is_order("CANCELED")))["o"]
        assert cancelled["i"] == rest["orderId"] and cancelled["X"] == "CANCELED"

        seen: list[dict] = []
        res = await client.futures_create_order(
            symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.300", newOrderRespType="RESULT"
        )
        await recv_until(sock, is_order("TRADE", "FILLED"), seen=seen)
        await recv_until(sock, lambda m: m.get("e") == "ACCOUNT_UPDATE", seen=seen)
    trades = [m["o"] for m in seen if is_order("TRADE")(m)]
    lites = [m for m in seen if m.get("e") == "TRADE_LITE"]
    rest_trades = await client.futures_account_trades(symbol=SYMBOL, orderId=res["orderId"])
    assert [(t["t"], t["L"], t["l"], t["n"], t["N"]) for t in trades] == [
        (r["id"], r["price"], r["qty"], r["commission"], "USDT") for r in rest_trades
    ]
    assert [x["t"] for x in lites] == [r["id"] for r in rest_trades]
    assert trades[-1]["z"] == res["executedQty"] and dec(trades[-1]["ap"]) == dec(res["avgPrice"])
    assert all(t["m"] is False and t["i"] == res["orderId"] for t in trades)
    # the last ACCOUNT_UPDATE equals what REST says now
    acct = [m for m in seen if m.get("e") == "ACCOUNT_UPDATE"][-1]["a"]
    assert acct["m"] == "ORDER"
    bal = next(b for b in await client.futures_account_balance() if b["asset"] == "USDT")
    assert acct["B"] == [{"a": "USDT", "wb": bal["balance"], "cw": bal["crossWalletBalance"], "bc": "0"}]
    pos = (await client.futures_position_information(symbol=SYMBOL))[0]
    (p,) = acct["P"]
    assert (p["s"], p["pa"], p["ps"], p["mt"]) == (SYMBOL, pos["positionAmt"], "BOTH", "cross")
    assert dec(p["ep"]) == dec(pos["entryPrice"]) and p["up"] == pos["unRealizedProfit"]


async def test_leverage_change_sends_account_config_update(sim, client):  # noqa: F811
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    async with sock:
        await asyncio.sleep(0.1)
        await client.futures_change_leverage(symbol=SYMBOL, leverage=7)
        msg = await recv_until(sock, lambda m: m.get("e") == "ACCOUNT_CONFIG_UPDATE")
    assert msg["ac"] == {"s": SYMBOL, "l": 7} and isinstance(msg["E"], int)


async def test_algo_order_updates_through_the_trigger(sim, client):  # noqa: F811
    i = inst(sim)
    m = market(sim)
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    async with sock:
        await asyncio.sleep(0.1)
        await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
        trigger = m.last_price_ticks(SYMBOL) - 5
        algo = await client.futures_create_order(
            symbol=SYMBOL,
            side="SELL",
            type="STOP_MARKET",
            quantity="0.010",
            stopPrice=i.fmt_price(trigger),
            reduceOnly="true",
            clientAlgoId="my-stop",
        )
        new = (await recv_until(sock, is_event("ALGO_UPDATE", X="NEW")))["o"]
        assert (new["aid"], new["caid"], new["at"], new["o"], new["tp"], new["R"]) == (
            algo["algoId"],
            "my-stop",
            "CONDITIONAL",
            "STOP_MARKET",
            i.fmt_price(trigger),
            True,
        )
        while m.last_price_ticks(SYMBOL) > trigger:
            take(sim, Side.SELL, lots_to_move(sim, Side.SELL, 3))
        seen: list[dict] = []
        await recv_until(sock, is_event("ALGO_UPDATE", X="FINISHED"), seen=seen)
    statuses = [x["o"]["X"] for x in seen if x.get("e") == "ALGO_UPDATE"]
    assert statuses == ["TRIGGERING", "TRIGGERED", "FINISHED"]
    triggered = next(x["o"] for x in seen if is_event("ALGO_UPDATE", X="TRIGGERED")(x))
    orders = [x["o"] for x in seen if x.get("e") == "ORDER_TRADE_UPDATE"]
    assert orders[0]["x"] == "NEW" and orders[-1]["X"] == "FILLED"
    assert {o["i"] for o in orders} == {int(triggered["ai"])}
    assert all(o["si"] == algo["algoId"] and o["ot"] == "STOP_MARKET" and o["o"] == "MARKET" for o in orders)
    finished = seen[-1]["o"]
    assert finished["aq"] == "0.010" and dec(finished["ap"]) > 0


async def test_listen_key_expiry_then_silence_then_a_new_key_works(sim, client):  # noqa: F811
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    async with sock:
        await asyncio.sleep(0.1)
        old_key = sock._listen_key
        sim.exchange.faults.inject_stream(StreamFault.EXPIRE_LISTEN_KEY, VENUE)
        msg = await recv_until(sock, lambda m: m.get("e") == "listenKeyExpired", timeout=3)
        assert msg["listenKey"] == old_key and isinstance(msg["E"], int)
        await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
        assert await silent_for(sock, 1.0) == []
    with pytest.raises(BinanceAPIException) as err:
        await client.futures_stream_keepalive(old_key)
    assert (err.value.code, err.value.message) == (-1125, "This listenKey does not exist.")
    # a fresh key, a fresh socket: events flow again
    bsm2 = socket_manager(client, sim)
    sock2 = user_socket(bsm2)
    async with sock2:
        await asyncio.sleep(0.1)
        assert sock2._listen_key != old_key
        res = await client.futures_create_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.010")
        msg = await recv_until(sock2, is_order("TRADE"))
        assert msg["o"]["i"] == res["orderId"]


async def test_listen_key_life_cycle(sim, client):  # noqa: F811
    key = await client.futures_stream_get_listen_key()
    assert len(key) == 64
    assert await client.futures_stream_get_listen_key() == key  # the live key is returned again
    assert (await client.futures_stream_keepalive(key))["listenKey"] == key
    assert await client.futures_stream_close(key) == {}
    with pytest.raises(BinanceAPIException) as err:
        await client.futures_stream_keepalive(key)
    assert err.value.code == -1125
    assert await client.futures_stream_get_listen_key() != key
    # the key endpoints need the API key
    async with aiohttp.ClientSession() as session, session.post(sim.url + "/fapi/v1/listenKey") as resp:
        assert resp.status == 401 and (await resp.json())["code"] == -2014
    # an unknown key is refused at the websocket handshake
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as hs:
            await session.ws_connect(sim.ws_url + "/private/ws?listenKey=nope")
    assert hs.value.status == 400


async def test_dropped_user_socket_reconnects_with_the_live_key(sim, client):  # noqa: F811
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    async with sock:
        await asyncio.sleep(0.1)
        sim.exchange.faults.inject_stream(StreamFault.DROP, VENUE)
        err = await asyncio.wait_for(sock.recv(), 3)
        assert err["e"] == "error"  # python-binance reports the cut, then reconnects
        if (await asyncio.wait_for(sock.recv(), 3))["e"] != "error":
            pytest.fail("expected python-binance's second error notice")
        for _ in range(50):  # python-binance waits 1-2 s before reconnecting
            await asyncio.sleep(0.1)
            if sock.ws is not None and sock.ws_state.name == "STREAMING":
                break
        await asyncio.sleep(0.2)
        res = await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
        msg = await recv_until(sock, is_order("TRADE"), timeout=5)
        assert msg["o"]["i"] == res["orderId"]
    assert dec((await client.futures_position_information(symbol=SYMBOL))[0]["positionAmt"]) == Decimal(
        "0.010"
    )


async def test_listen_key_expires_after_its_life(sim, client):  # noqa: F811
    import time

    from terminal.sim.binance_futures import FUTURES_KEY

    users = sim.runner.app[FUTURES_KEY].users
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    async with sock:
        await asyncio.sleep(0.1)
        lk = users.keys[sock._listen_key]
        assert 3590 < lk.expires_at - time.monotonic() <= 3600  # 60 minutes
        lk.expires_at = time.monotonic()  # an hour without keepalive, fast-forwarded
        msg = await recv_until(sock, lambda m: m.get("e") == "listenKeyExpired", timeout=3)
        assert msg["listenKey"] == lk.key and not lk.alive

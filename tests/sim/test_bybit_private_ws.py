"""Private Bybit stream through the real pybit ``WebSocket(channel_type="private")``:
order / execution / position / wallet messages arrive and agree with REST."""

from __future__ import annotations

import pytest

from tests.sim.test_bybit_helpers import (
    Inbox,
    close_ws,
    coin,
    http_for,
    market,
    ok,
    open_ws,
    running_sim,
    wait_for,
    ws_server,
)

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"


async def _subscribe_all(ws, inbox: Inbox) -> None:
    import asyncio

    for stream in (ws.order_stream, ws.execution_stream, ws.position_stream, ws.wallet_stream):
        await asyncio.to_thread(stream, inbox)


async def test_private_stream_agrees_with_rest() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        inbox = Inbox()
        ws = await open_ws(sim, "private", private=True)
        try:
            await wait_for(lambda: ws.auth, timeout=5)
            await _subscribe_all(ws, inbox)
            server = next(iter(ws_server(sim).private.by_account.values()))
            await wait_for(lambda: all(len(c.topics) == 4 for c in server), timeout=5)

            # spot market buy: executions and the final order state match REST
            spot = await ok(
                http.place_order,
                category="spot",
                symbol=SYMBOL,
                side="Buy",
                orderType="Market",
                qty="0.002",
                marketUnit="baseCoin",
                orderLinkId="ws-spot",
            )
            rest_execs = (await ok(http.get_executions, category="spot", orderId=spot["orderId"]))["list"]
            await wait_for(
                lambda: (
                    len([r for r in inbox.rows("execution") if r["orderId"] == spot["orderId"]])
                    == len(rest_execs)
                )
            )
            ws_execs = {r["execId"]: r for r in inbox.rows("execution") if r["orderId"] == spot["orderId"]}
            for row in rest_execs:
                got = ws_execs[row["execId"]]
                for key in ("execPrice", "execQty", "execFee", "execValue", "side", "orderLinkId", "isMaker"):
                    assert got[key] == row[key], key
                assert got["category"] == "spot"
            filled = await inbox.wait(
                lambda r: r["orderId"] == spot["orderId"] and r["orderStatus"] == "Filled", "order"
            )
            rest_order = (await ok(http.get_order_history, category="spot", orderId=spot["orderId"]))["list"][
                0
            ]
            for key in ("cumExecQty", "cumExecValue", "cumExecFee", "avgPrice", "orderLinkId", "qty", "side"):
                assert filled[key] == rest_order[key], key

            # linear: position and wallet follow
            lin = await ok(
                http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.03"
            )
            rest_pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
            pos = await inbox.wait(
                lambda r: r["symbol"] == SYMBOL and r["size"] == rest_pos["size"], "position"
            )
            for key in ("side", "size", "positionIdx", "leverage", "cumRealisedPnl", "curRealisedPnl"):
                assert pos[key] == rest_pos[key], key
            assert pos["entryPrice"] == rest_pos["avgPrice"]
            lin_execs = (await ok(http.get_executions, category="linear", orderId=lin["orderId"]))["list"]
            await wait_for(
                lambda: {r["execId"] for r in inbox.rows("execution")} >= {r["execId"] for r in lin_execs}
            )
            assert {r["closedSize"] for r in inbox.rows("execution") if r["orderId"] == lin["orderId"]} == {
                "0.000"
            }

            async def wallet_matches() -> bool:
                rest_usdt = coin(await ok(http.get_wallet_balance, accountType="UNIFIED"), "USDT")
                rows = inbox.rows("wallet")
                if not rows:
                    return False
                ws_usdt = next(c for c in rows[-1]["coin"] if c["coin"] == "USDT")
                return (
                    ws_usdt["walletBalance"] == rest_usdt["walletBalance"]
                    and ws_usdt["totalPositionIM"] == rest_usdt["totalPositionIM"]
                )

            for _ in range(200):
                if await wallet_matches():
                    break
                import asyncio

                await asyncio.sleep(0.01)
            else:
                raise AssertionError("wallet stream never matched REST")

            # a resting limit: New, then Cancelled by the user
            m = market(sim, "linear")
            bid = m.instruments[SYMBOL].price(m.books[SYMBOL].best_bid()) - 100
            lim = await ok(
                http.place_order,
                category="linear",
                symbol=SYMBOL,
                side="Buy",
                orderType="Limit",
                qty="0.01",
                price=str(bid),
            )
            await inbox.wait(lambda r: r["orderId"] == lim["orderId"] and r["orderStatus"] == "New", "order")
            await ok(http.cancel_order, category="linear", symbol=SYMBOL, orderId=lim["orderId"])
            gone = await inbox.wait(
                lambda r: r["orderId"] == lim["orderId"] and r["orderStatus"] == "Cancelled", "order"
            )
            assert gone["cancelType"] == "CancelByUser" and gone["leavesQty"] == "0.000"

            # PostOnly that would take: the order topic tells why it was cancelled
            ask = m.instruments[SYMBOL].price(m.books[SYMBOL].best_ask())
            po = await ok(
                http.place_order,
                category="linear",
                symbol=SYMBOL,
                side="Buy",
                orderType="Limit",
                qty="0.01",
                price=str(ask),
                timeInForce="PostOnly",
            )
            row = await inbox.wait(lambda r: r["orderId"] == po["orderId"], "order")
            assert row["orderStatus"] == "Cancelled" and row["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"

            # trading-stop shows on the position topic
            tp = m.instruments[SYMBOL].price(m.last_price[SYMBOL]) + 500
            await ok(
                http.set_trading_stop, category="linear", symbol=SYMBOL, takeProfit=str(tp), positionIdx=0
            )
            await inbox.wait(lambda r: r["takeProfit"] == m.instruments[SYMBOL].fmt_price_dec(tp), "position")
            untriggered = await inbox.wait(lambda r: r["stopOrderType"] == "TakeProfit", "order")
            assert (
                untriggered["orderStatus"] == "Untriggered"
                and untriggered["createType"] == "CreateByTakeProfit"
            )
            assert ws.is_connected()
        finally:
            await close_ws(ws)


async def test_private_auth_and_subscribe_errors() -> None:
    """Raw protocol: bad key, bad signature, expired, subscribe before auth, pong shape."""
    import hashlib
    import hmac
    import time

    import aiohttp

    async with running_sim() as sim:
        creds = sim.exchange.default_credentials
        url = f"{sim.ws_url}/v5/private"

        def sign(expires: int, secret: str = creds.api_secret) -> str:
            return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()

        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_json({"op": "subscribe", "req_id": "early", "args": ["order"]})
            ack = await ws.receive_json(timeout=5)
            assert ack["success"] is False and ack["op"] == "subscribe" and ack["req_id"] == "early"
            expires = int(time.time() * 1000) + 5000
            for args, code in (
                (["nope", expires, sign(expires)], 10003),
                ([creds.api_key, expires, sign(expires, "wrong")], 10004),
                ([creds.api_key, expires - 60_000, sign(expires - 60_000)], 10002),
            ):
                await ws.send_json({"op": "auth", "args": args})
                ack = await ws.receive_json(timeout=5)
                assert ack["op"] == "auth" and ack["success"] is False and ack["retCode"] == code, ack
            await ws.send_json(
                {"op": "auth", "args": [creds.api_key, expires, sign(expires)], "req_id": "a1"}
            )
            ack = await ws.receive_json(timeout=5)
            assert ack["success"] is True and ack["retCode"] == 0 and ack["req_id"] == "a1"
            assert ack["conn_id"] == ack["connId"] and ack["ret_msg"] == ""
            await ws.send_json({"op": "subscribe", "req_id": "s1", "args": ["order", "bogus"]})
            ack = await ws.receive_json(timeout=5)
            assert ack["success"] is False and ack["req_id"] == "s1"
            await ws.send_json({"op": "subscribe", "req_id": "s2", "args": ["order.linear", "wallet"]})
            ack = await ws.receive_json(timeout=5)
            assert ack == {
                "success": True,
                "ret_msg": "",
                "op": "subscribe",
                "conn_id": ack["conn_id"],
                "req_id": "s2",
            }
            await ws.send_json({"op": "ping"})
            pong = await ws.receive_json(timeout=5)
            assert pong["op"] == "pong" and int(pong["args"][0]) > 0 and "conn_id" in pong

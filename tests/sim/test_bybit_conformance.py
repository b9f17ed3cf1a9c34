"""Every Bybit REST result and WS message the simulator emits has the keys and JSON types
of the matching payload fixture (``shared/fixtures/exchange-payloads/bybit``).

Deliberate extras, each a field the live venue sends and the example omits: ``category``
in list results, ``retExtInfo``/``time`` on examples that dropped the envelope tail,
``cts`` on orderbook messages, ``L``/``seq`` on public trades, ``id`` on execution.fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from decimal import Decimal

import aiohttp
import pytest

from terminal.model.enums import Side
from tests.sim.test_bybit_helpers import http_for, market, ok, running_sim, wait_for
from tests.support.shapes import assert_same_shape, load_fixture

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"
ENVELOPE_TAIL = {"$.retExtInfo", "$.time"}


def fx(name: str) -> dict:
    return load_fixture(f"bybit/examples/{name}")


async def _raw(http, method: str, **kwargs) -> dict:
    resp = await asyncio.to_thread(getattr(http, method), **kwargs)
    assert resp["retCode"] == 0, resp
    return resp


async def test_rest_shapes() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "linear")
        inst = m.instruments[SYMBOL]

        assert_same_shape(
            await _raw(http, "get_instruments_info", category="spot"),
            fx("http_get_instruments_spot.json"),
            allow_extra={"$.result.category"},
        )
        assert_same_shape(
            await _raw(http, "get_instruments_info", category="linear"),
            fx("http_get_instruments_linear.json"),
            allow_extra={"$.result.category"},
        )
        assert_same_shape(
            await _raw(http, "get_instruments_info", category="linear"),
            fx("http_get_instruments_linear_symbol_type.json"),
            allow_extra={"$.result.category", "maxMktOrderQty"},  # the variant example trims these
            # newer instrument fields the simulator does not send yet
            allow_missing={"symbolId", "symbolType"},
        )
        for category in ("spot", "linear"):
            assert_same_shape(
                await _raw(http, "get_orderbook", category=category, symbol=SYMBOL, limit=3),
                fx("http_get_orderbook.json"),
                allow_extra=ENVELOPE_TAIL,
            )
        assert_same_shape(
            await _raw(http, "get_kline", category="linear", symbol=SYMBOL, interval="1", limit=2),
            fx("http_get_klines_linear.json"),
        )
        m.mm_take(SYMBOL, Side.BUY, 2)
        assert_same_shape(
            await _raw(http, "get_public_trade_history", category="linear", symbol=SYMBOL, limit=1),
            fx("http_get_trades_recent.json"),
            allow_extra=ENVELOPE_TAIL,
        )

        # account state: an open limit, a filled market order, a position with TP/SL orders
        bid = inst.price(m.books[SYMBOL].best_bid()) - 50
        await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty="0.01",
            price=str(bid),
        )
        assert_same_shape(
            await _raw(http, "get_open_orders", category="linear", symbol=SYMBOL),
            fx("http_get_orders_realtime.json"),
            allow_extra={"$.result.category"},
        )
        await ok(http.cancel_all_orders, category="linear", symbol=SYMBOL)
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.02"
        )
        last = inst.price(m.last_price[SYMBOL])
        await ok(
            http.set_trading_stop,
            category="linear",
            symbol=SYMBOL,
            takeProfit=str(last + 100),
            stopLoss=str(last - 100),
        )
        assert_same_shape(
            await _raw(http, "get_open_orders", category="linear", symbol=SYMBOL),
            fx("http_get_orders_realtime_tp_sl.json"),
            allow_extra={"$.result.category"},
        )
        assert_same_shape(
            await _raw(http, "get_order_history", category="linear"),
            fx("http_get_orders_history.json"),
            allow_extra={"$.result.category"},
        )
        for variant in (
            "http_get_orders_history_with_duplicate.json",
            "http_get_order_partially_filled_rejected.json",
        ):
            assert_same_shape(
                await _raw(http, "get_order_history", category="linear"),
                fx(variant),
                allow_extra={"$.result.category"},
            )
        assert_same_shape(
            await _raw(http, "get_positions", category="linear", symbol=SYMBOL),
            fx("http_get_positions.json"),
            allow_extra={"openTime"},  # newer than this example (see the with_open_time variant)
        )
        assert_same_shape(
            await _raw(http, "get_positions", category="linear", symbol=SYMBOL),
            fx("http_get_positions_with_open_time.json"),
            # fields http_get_positions.json has and this trimmed variant leaves out
            allow_extra={"seq", "isReduceOnly", "mmrSysUpdatedTime", "leverageSysUpdatedTime"},
        )
        assert_same_shape(
            await _raw(http, "get_executions", category="linear", symbol=SYMBOL),
            fx("http_get_executions.json"),
        )
        await ok(http.place_order, category="spot", symbol=SYMBOL, side="Buy", orderType="Market", qty="50")
        assert_same_shape(await _raw(http, "get_executions", category="spot"), fx("http_get_executions.json"))
        assert_same_shape(
            await _raw(http, "get_wallet_balance", accountType="UNIFIED"), fx("http_get_wallet_balance.json")
        )
        assert_same_shape(
            await _raw(http, "get_wallet_balance", accountType="UNIFIED"),
            fx("http_get_wallet_balance_with_spot_borrow.json"),
            # like the spot_short variant: no IM/MM per coin, and spotHedgingQty
            ignore_keys={"spotHedgingQty"},
            allow_extra={"totalOrderIM", "totalPositionIM", "totalPositionMM"},
        )
        assert_same_shape(
            await _raw(http, "get_wallet_balance", accountType="UNIFIED"),
            fx("http_get_wallet_balance_spot_short.json"),
            ignore_keys={"spotHedgingQty"},  # the variant drops the IM/MM fields the other example has
            allow_extra={"totalOrderIM", "totalPositionIM", "totalPositionMM"},
        )
        assert_same_shape(await _raw(http, "get_fee_rates", category="linear"), fx("http_get_fee_rate.json"))
        assert_same_shape(
            await _raw(http, "get_account_info"), fx("http_get_account_info.json"), allow_extra=ENVELOPE_TAIL
        )


async def _recv_topic(ws: aiohttp.ClientWebSocketResponse, pred, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive_json(timeout=max(0.01, deadline - time.monotonic()))
        if pred(msg):
            return msg


async def test_public_ws_shapes() -> None:
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        m = market(sim, "linear")
        async with session.ws_connect(f"{sim.ws_url}/v5/public/linear") as ws:
            await ws.send_json({"op": "subscribe", "req_id": "sub-1", "args": [f"orderbook.50.{SYMBOL}"]})
            assert_same_shape(await ws.receive_json(timeout=5), fx("ws_subscription_ack.json"))
            snap = await _recv_topic(ws, lambda x: x.get("type") == "snapshot")
            assert_same_shape(snap, fx("ws_orderbook_snapshot.json"), allow_extra={"$.cts"})
            m.mm_take(SYMBOL, Side.SELL, 3)
            delta = await _recv_topic(ws, lambda x: x.get("type") == "delta")
            assert_same_shape(delta, fx("ws_orderbook_delta.json"), allow_extra={"$.cts"})

            await ws.send_json({"op": "subscribe", "args": ["invalid.topic.BTCUSDT"]})
            fail = await _recv_topic(ws, lambda x: x.get("op") == "subscribe")
            assert fail["success"] is False
            assert_same_shape(fail, fx("ws_subscription_failure.json"), allow_extra={"$.req_id"})

            args = [f"publicTrade.{SYMBOL}", f"kline.5.{SYMBOL}", f"tickers.{SYMBOL}"]
            await ws.send_json({"op": "subscribe", "req_id": "sub-2", "args": args})
            await _recv_topic(ws, lambda x: x.get("op") == "subscribe")
            kline = await _recv_topic(ws, lambda x: x.get("topic", "").startswith("kline."))
            assert_same_shape(kline, fx("ws_kline.json"))
            ticker = await _recv_topic(ws, lambda x: x.get("topic", "").startswith("tickers."))
            assert ticker["type"] == "snapshot"
            assert_same_shape(ticker, fx("ws_ticker_linear.json"))
            m.mm_take(SYMBOL, Side.BUY, 5)
            trade = await _recv_topic(ws, lambda x: x.get("topic", "").startswith("publicTrade."))
            # the example's topic is made up; the real one is publicTrade.<SYMBOL>
            assert trade["topic"] == f"publicTrade.{SYMBOL}"
            assert_same_shape(trade, fx("ws_public_trade.json"), allow_extra={"L", "seq"})
            delta = await _recv_topic(
                ws, lambda x: x.get("topic", "").startswith("tickers.") and x["type"] == "delta"
            )
            assert set(delta["data"]) < set(ticker["data"]) and "lastPrice" in delta["data"]
            assert_same_shape(
                delta, fx("ws_ticker_linear.json"), allow_missing=set(ticker["data"]) - {"symbol"}
            )


async def test_private_ws_shapes() -> None:
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        http = http_for(sim)
        m = market(sim, "linear")
        inst = m.instruments[SYMBOL]
        creds = sim.exchange.default_credentials
        async with session.ws_connect(f"{sim.ws_url}/v5/private") as ws:
            expires = int(time.time() * 1000) + 5000
            bad = hmac.new(b"nope", f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
            await ws.send_json({"op": "auth", "args": [creds.api_key, expires, bad]})
            extra = {"$.ret_msg", "$.conn_id"}
            assert_same_shape(await ws.receive_json(timeout=5), fx("ws_auth_failure.json"), allow_extra=extra)
            good = hmac.new(
                creds.api_secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256
            ).hexdigest()
            await ws.send_json({"op": "auth", "args": [creds.api_key, expires, good]})
            assert_same_shape(await ws.receive_json(timeout=5), fx("ws_auth_success.json"), allow_extra=extra)
            topics = ["order", "execution", "execution.fast", "position", "wallet"]
            await ws.send_json({"op": "subscribe", "req_id": "p1", "args": topics})
            await _recv_topic(ws, lambda x: x.get("op") == "subscribe")

            msgs: list[dict] = []

            async def pump() -> None:
                while True:
                    msgs.append(await ws.receive_json())

            task = asyncio.get_running_loop().create_task(pump())
            try:
                await ok(
                    http.place_order,
                    category="linear",
                    symbol=SYMBOL,
                    side="Buy",
                    orderType="Market",
                    qty="0.02",
                )
                last = inst.price(m.last_price[SYMBOL])
                await ok(
                    http.place_order,
                    category="linear",
                    symbol=SYMBOL,
                    side="Sell",
                    orderType="Market",
                    qty="0.01",
                    triggerPrice=str(last - 100),
                    triggerDirection=2,
                )
                await ok(http.set_trading_stop, category="linear", symbol=SYMBOL, takeProfit=str(last + 100))
                await ok(
                    http.place_order, category="spot", symbol=SYMBOL, side="Buy", orderType="Market", qty="20"
                )

                def by_topic(topic: str) -> list[dict]:
                    return [x for x in msgs if x.get("topic") == topic]

                await wait_for(lambda: len(by_topic("wallet")) >= 2 and len(by_topic("execution")) >= 2)
                await wait_for(
                    lambda: any(
                        r["stopOrderType"] == "TakeProfit" for x in by_topic("order") for r in x["data"]
                    )
                )
            finally:
                task.cancel()
            kinds: set[str] = set()
            for msg in by_topic("order"):
                row = msg["data"][0]
                if row["stopOrderType"] == "TakeProfit":
                    assert_same_shape(msg, fx("ws_account_order_take_profit.json"))
                    # a position stop-loss order differs from the take-profit only in values
                    assert_same_shape(msg, fx("ws_account_order_stop_loss.json"))
                elif row["stopOrderType"] == "Stop":
                    assert_same_shape(msg, fx("ws_account_order_stop_market.json"))
                    # conditional orders of every trigger kind share one row shape
                    for variant in (
                        "ws_account_order_buy_stop_market.json",
                        "ws_account_order_stop_limit.json",
                        "ws_account_order_limit_if_touched.json",
                        "ws_account_order_market_if_touched.json",
                        "ws_account_order_sell_market_if_touched.json",
                    ):
                        assert_same_shape(msg, fx(variant))
                elif row["orderStatus"] == "Filled":
                    assert_same_shape(msg, fx("ws_account_order_filled.json"))
                assert_same_shape(msg, fx("ws_account_order.json"))
                assert_same_shape(msg, fx("ws_account_order_partially_filled_rejected.json"))
                kinds.add(f"{row['category']}:{row['stopOrderType'] or row['orderStatus']}")
            assert {"linear:TakeProfit", "linear:Stop", "linear:Filled", "spot:Filled"} <= kinds
            for msg in by_topic("execution"):
                assert_same_shape(msg, fx("ws_account_execution.json"))
            for msg in by_topic("execution.fast"):
                assert_same_shape(msg, fx("ws_account_execution_fast.json"), allow_extra={"$.id"})
                assert_same_shape(msg, fx("ws_account_execution_fast_envelope_id.json"))
            for msg in by_topic("position"):
                # openTime is newer than these two examples (see the with_open_time variant)
                assert_same_shape(msg, fx("ws_account_position.json"), allow_extra={"openTime"})
                assert_same_shape(msg, fx("ws_account_position_short.json"), allow_extra={"openTime"})
                for row in msg["data"]:  # this example is one bare position row
                    assert_same_shape(
                        row,
                        fx("ws_account_position_with_open_time.json"),
                        # fields ws_account_position.json has and this trimmed row leaves out
                        allow_extra={"leverageSysUpdatedTime", "mmrSysUpdatedTime", "seq", "isReduceOnly"},
                    )
            for msg in by_topic("wallet"):
                assert_same_shape(msg, fx("ws_account_wallet.json"))
                assert_same_shape(msg, fx("ws_account_wallet_locked_exceeds_total.json"))
                assert_same_shape(msg, fx("ws_account_wallet_small_order.json"))
            positions = [r for x in by_topic("position") for r in x["data"]]
            assert Decimal(positions[-1]["size"]) == Decimal("0.02")

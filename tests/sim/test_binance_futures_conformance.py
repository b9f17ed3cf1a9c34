"""Every REST body and stream payload of the simulated USDⓈ-M venue has the keys and JSON types
of the matching real payload in shared/fixtures/exchange-payloads/binance.

Intentional differences (each listed where it is allowed below):

- Newer fields the current official docs add over an older fixture are kept: bookTicker
  ``lastUpdateId``, fundingRate ``markPrice``, order ``priceMatch``/``selfTradePreventionMode``/
  ``goodTillDate``, positionRisk ``breakEvenPrice``/``notional``/``isolatedWallet``,
  ORDER_TRADE_UPDATE ``pm``/``gtd``/``W``, depth ``ps``/``st``.
- Algo orders follow the official docs' ``orderType`` (the hand-edited example fixture
  says ``type``) and carry the documented extra fields.
- Fields for features the simulator has no notion of are absent rather than faked:
  trailing-stop ``activatePrice``/``priceRate`` on regular orders, ALGO_UPDATE ``rm``
  unless rejected.
- The POST /order response carries ``cumQty`` and no ``time`` (that is what the venue
  sends); the example fixture is a GET /order body.
"""

from __future__ import annotations

import asyncio

import pytest

from terminal.model.enums import Side
from tests.sim.test_binance_futures_fixtures import (  # noqa: F401 - fixtures
    SYMBOL,
    client,
    inst,
    live_client,
    live_sim,
    lots_to_move,
    market,
    quick,
    recv_until,
    sim,
    socket_manager,
    take,
    user_socket,
)
from tests.support.shapes import assert_same_shape, load_fixture

pytestmark = pytest.mark.timeout(40)

REST = "binance/captured/rest/"
WS = "binance/captured/ws/"
EX = "binance/examples/futures/"


def data(fixture: dict) -> dict:
    """Captured user-stream fixtures are wrapped by the recorder as {"stream", "data"}."""
    return fixture["data"] if "data" in fixture and "stream" in fixture else fixture


async def test_market_data_rest_shapes(sim, client):  # noqa: F811
    take(sim, Side.BUY, 2)
    assert_same_shape(
        await client.futures_exchange_info(), load_fixture(REST + "http_futures_market_exchange_info.json")
    )
    assert_same_shape(
        await client.futures_order_book(symbol=SYMBOL), load_fixture(REST + "http_futures_market_depth.json")
    )
    assert_same_shape(
        await client.futures_klines(symbol=SYMBOL, interval="1m", limit=3),
        load_fixture(REST + "http_futures_market_klines.json"),
    )
    assert_same_shape(
        await client.futures_recent_trades(symbol=SYMBOL),
        load_fixture(REST + "http_futures_market_trades.json"),
    )
    assert_same_shape(
        await client.futures_aggregate_trades(symbol=SYMBOL),
        load_fixture(REST + "http_futures_market_agg_trades.json"),
    )
    assert_same_shape(
        await client.futures_ticker(symbol=SYMBOL),
        load_fixture(REST + "http_futures_market_ticker_24hr.json"),
    )
    assert_same_shape(
        await client.futures_symbol_ticker(symbol=SYMBOL),
        load_fixture(REST + "http_futures_market_ticker_price.json"),
    )
    assert_same_shape(
        await client.futures_orderbook_ticker(symbol=SYMBOL),
        load_fixture(REST + "http_futures_market_book_ticker.json"),
        allow_extra={"lastUpdateId"},
    )
    assert_same_shape(
        await client.futures_mark_price(symbol=SYMBOL),
        load_fixture(REST + "http_futures_market_premium_index.json"),
    )
    assert_same_shape(
        await client.futures_funding_rate(symbol=SYMBOL, limit=2),
        load_fixture(REST + "http_futures_market_funding_rate.json"),
        allow_extra={"markPrice"},
    )


async def test_account_rest_shapes(sim, client):  # noqa: F811
    i = inst(sim)
    res = await client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010", newOrderRespType="RESULT"
    )
    bid = market(sim).books[SYMBOL].best_bid()
    limit = await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.010",
        price=i.fmt_price(bid - 30),
    )
    order_fixture = load_fixture(EX + "http_json/order_response.json")
    assert_same_shape(res, order_fixture, allow_missing={"time"}, allow_extra={"cumQty"})
    assert_same_shape(limit, order_fixture, allow_missing={"time"}, allow_extra={"cumQty"})
    got = await client.futures_get_order(symbol=SYMBOL, orderId=limit["orderId"])
    assert_same_shape(got, order_fixture)
    assert_same_shape(
        await client.futures_get_all_orders(symbol=SYMBOL),
        load_fixture(REST + "http_futures_account_orders.json"),
        allow_missing={"activatePrice", "priceRate"},
        allow_extra={"priceMatch", "selfTradePreventionMode", "goodTillDate"},
    )
    assert_same_shape(
        await client.futures_account_trades(symbol=SYMBOL),
        load_fixture(REST + "http_futures_account_trades.json"),
    )
    risk_v2 = await client.futures_position_information(symbol=SYMBOL, version=2)
    assert_same_shape(risk_v2, load_fixture(EX + "http_json/position_risk.json"))
    for captured in (
        "http_futures_account_positions_one_way.json",
        "http_futures_account_positions_hedge.json",
    ):
        assert_same_shape(
            risk_v2,
            load_fixture(REST + captured),
            allow_extra={"breakEvenPrice", "notional", "isolatedWallet"},
        )
    assert_same_shape(await client.futures_account_balance(), load_fixture(EX + "http_json/balance.json"))
    assert_same_shape(
        await client.futures_account(version=2), load_fixture(EX + "http_json/account_info_v2.json")
    )
    assert_same_shape(
        await client.futures_get_position_mode(),
        load_fixture(REST + "http_futures_account_position_side_dual.json"),
    )
    assert_same_shape(
        await client.futures_symbol_config(), load_fixture(REST + "http_futures_account_symbol_config.json")
    )
    assert_same_shape(
        await client.futures_commission_rate(symbol=SYMBOL),
        load_fixture(REST + "http_futures_wallet_commission_rate_btcusdt.json"),
    )
    assert_same_shape(
        await client.futures_commission_rate(symbol="ETHUSDT"),
        load_fixture(REST + "http_futures_wallet_commission_rate_ethusdt.json"),
    )
    # delivery contracts are not simulated; the quarterly capture is the same message for another symbol
    assert_same_shape(
        await client.futures_commission_rate(symbol=SYMBOL),
        load_fixture(REST + "http_futures_wallet_commission_rate_btcusdt_quarterly.json"),
    )
    last = market(sim).last_price_ticks(SYMBOL)
    await client.futures_create_order(
        symbol=SYMBOL, side="SELL", type="STOP_MARKET", quantity="0.010", stopPrice=i.fmt_price(last - 50)
    )
    algo_extra = {
        "orderType",
        "price",
        "icebergQuantity",
        "selfTradePreventionMode",
        "priceMatch",
        "closePosition",
        "priceProtect",
        "activatePrice",
        "callbackRate",
        "triggerTime",
        "goodTillDate",
        "actualOrderId",
        "actualPrice",
        "tpTriggerPrice",
        "tpPrice",
        "slTriggerPrice",
        "slPrice",
        "tpOrderType",
    }
    assert_same_shape(
        await client.futures_get_open_orders(symbol=SYMBOL, conditional=True),
        load_fixture(EX + "http_json/open_algo_orders.json"),
        allow_missing={"type"},
        allow_extra=algo_extra,
    )


async def _stream_payload(sock, pred=lambda d: True) -> dict:
    msg = await recv_until(sock, lambda m: "data" in m and pred(m["data"]), timeout=5)
    return msg["data"]


async def test_market_stream_shapes(live_sim, live_client):  # noqa: F811
    bsm = socket_manager(live_client, live_sim)
    public = quick(
        bsm.futures_multiplex_socket(
            ["btcusdt@depth@100ms", "btcusdt@depth5@100ms", "btcusdt@bookTicker"], category="public"
        )
    )
    async with public:
        diff = await _stream_payload(public, lambda d: d.get("e") == "depthUpdate" and len(d["b"]) != 5)
        partial = None
        while partial is None:
            d = await _stream_payload(public, lambda d: d.get("e") == "depthUpdate")
            if len(d["b"]) == 5 and len(d["a"]) == 5:
                partial = d
        book_ticker = await _stream_payload(public, lambda d: d.get("e") == "bookTicker")
    assert_same_shape(diff, load_fixture(EX + "market_data_json/depth_update_stream.json"))
    assert_same_shape(diff, load_fixture(WS + "ws_futures_depth_diff_update.json"), allow_extra={"ps", "st"})
    assert_same_shape(partial, load_fixture(WS + "ws_futures_depth_update.json"))
    assert_same_shape(book_ticker, load_fixture(WS + "ws_futures_book_ticker.json"))
    assert_same_shape(book_ticker, load_fixture(EX + "market_data_json/book_ticker_stream.json"))

    market_streams = quick(
        bsm.futures_multiplex_socket(
            [
                "btcusdt@aggTrade",
                "btcusdt@markPrice@1s",
                "btcusdt@kline_1m",
                "btcusdt@ticker",
                "btcusdt@trade",
            ]
        )
    )
    got: dict[str, dict] = {}
    async with market_streams:
        while len(got) < 5:
            d = await _stream_payload(market_streams)
            got.setdefault(d["e"], d)
    assert_same_shape(got["aggTrade"], load_fixture(EX + "market_data_json/agg_trade_stream.json"))
    assert_same_shape(got["markPriceUpdate"], load_fixture(EX + "market_data_json/mark_price_stream.json"))
    assert_same_shape(got["kline"], load_fixture(EX + "market_data_json/kline_stream_open.json"))
    assert_same_shape(got["24hrTicker"], load_fixture(WS + "ws_futures_ticker_24hr.json"))
    assert_same_shape(got["24hrTicker"], load_fixture(EX + "market_data_json/ticker_stream.json"))
    # a closed kline differs from an open one only in the value of "x"; waiting a minute for
    # the close would only slow the suite down
    assert_same_shape(got["kline"], load_fixture(EX + "market_data_json/kline_stream_closed.json"))
    assert_same_shape(
        got["trade"], load_fixture(EX + "market_data_json/trade_stream.json"), allow_extra={"X"}
    )


async def test_user_stream_shapes(sim, client):  # noqa: F811
    i = inst(sim)
    m = market(sim)
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    seen: list[dict] = []
    async with sock:
        await asyncio.sleep(0.1)
        await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
        await recv_until(sock, lambda x: x.get("e") == "ACCOUNT_UPDATE", seen=seen)
        trigger = m.last_price_ticks(SYMBOL) - 5
        await client.futures_create_order(
            symbol=SYMBOL,
            side="SELL",
            type="STOP_MARKET",
            quantity="0.010",
            stopPrice=i.fmt_price(trigger),
            reduceOnly="true",
        )
        while m.last_price_ticks(SYMBOL) > trigger:
            take(sim, Side.SELL, lots_to_move(sim, Side.SELL, 3))
        await recv_until(sock, lambda x: x.get("e") == "ALGO_UPDATE" and x["o"]["X"] == "FINISHED", seen=seen)
    by_kind: dict[tuple[str, str], dict] = {}
    for msg in seen:
        key = (msg["e"], msg["o"]["x"] if msg["e"] == "ORDER_TRADE_UPDATE" else msg.get("o", {}).get("X", ""))
        by_kind.setdefault(key, msg)
    newer = {"pm"}  # in the official docs, not in the older captures
    new = by_kind[("ORDER_TRADE_UPDATE", "NEW")]
    trade = by_kind[("ORDER_TRADE_UPDATE", "TRADE")]
    assert_same_shape(
        new, data(load_fixture(WS + "ws_futures_order_update_new_price_match.json")), allow_extra=newer
    )
    assert_same_shape(
        trade,
        data(load_fixture(WS + "ws_futures_order_update_trade_reduce_only_qty.json")),
        allow_extra=newer,
    )
    assert_same_shape(
        trade, load_fixture(EX + "user_data_json/order_update_trade.json"), allow_extra=newer | {"gtd", "W"}
    )
    lite = next(x for x in seen if x["e"] == "TRADE_LITE")
    assert_same_shape(lite, load_fixture(WS + "ws_futures_trade_lite.json"))
    assert_same_shape(lite, load_fixture(EX + "user_data_json/trade_lite.json"))
    account = by_kind[("ACCOUNT_UPDATE", "")]
    assert_same_shape(account, load_fixture(EX + "user_data_json/account_update.json"))
    # the BNFCR (credits-trading) variant carries the same balance fields and an empty P
    assert_same_shape(account, load_fixture(EX + "user_data_json/account_update_bnfcr.json"))
    for msg in seen:
        if msg["e"] == "ORDER_TRADE_UPDATE" and msg["o"]["x"] == "NEW":
            assert_same_shape(
                msg,
                load_fixture(EX + "user_data_json/order_update_new.json"),
                allow_extra=newer | {"gtd", "W"},
                # a live NEW update sends null commission fields (see the capture below); the
                # docs example shows "USDT"/"0"
                ignore_keys={"$.o.N", "$.o.n"},
            )
            for captured in (
                "ws_futures_order_update_new_reduce_only_qty.json",
                "ws_futures_order_update_new_stop_limit_price_match.json",
                "ws_futures_order_update_new_limit_if_touched_price_match.json",
            ):
                assert_same_shape(msg, data(load_fixture(WS + captured)), allow_extra=newer)
    algo_new = by_kind[("ALGO_UPDATE", "NEW")]
    assert_same_shape(
        algo_new, load_fixture(EX + "user_data_json/algo_update_new.json"), allow_missing={"rm"}
    )
    for status, fixture in (
        ("TRIGGERING", "ws_futures_algo_update_triggering.json"),
        ("TRIGGERED", "ws_futures_algo_update_triggered.json"),
        ("FINISHED", "ws_futures_algo_update_finished.json"),
    ):
        assert_same_shape(by_kind[("ALGO_UPDATE", status)], data(load_fixture(WS + fixture)))


async def test_user_stream_variants(sim, client):  # noqa: F811
    """A partial fill and a canceled algo order, against their fixtures."""
    i = inst(sim)
    m = market(sim)
    bsm = socket_manager(client, sim)
    sock = user_socket(bsm)
    seen: list[dict] = []
    async with sock:
        await asyncio.sleep(0.1)
        ask, ask_lots = m.books[SYMBOL].best_ask_level()
        await client.futures_create_order(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity=i.fmt_qty(ask_lots + i.lots(i.qty(1))),
            price=i.fmt_price(ask),
        )
        await recv_until(
            sock,
            lambda x: x.get("e") == "ORDER_TRADE_UPDATE" and x["o"]["X"] == "PARTIALLY_FILLED",
            seen=seen,
        )
        algo = await client.futures_create_order(
            symbol=SYMBOL,
            side="SELL",
            type="TAKE_PROFIT_MARKET",
            quantity="0.010",
            stopPrice=i.fmt_price(m.last_price_ticks(SYMBOL) + 500),
        )
        await client.futures_cancel_order(symbol=SYMBOL, algoId=algo["algoId"])
        await recv_until(sock, lambda x: x.get("e") == "ALGO_UPDATE" and x["o"]["X"] == "CANCELED", seen=seen)
    partial = next(
        x for x in seen if x.get("e") == "ORDER_TRADE_UPDATE" and x["o"]["X"] == "PARTIALLY_FILLED"
    )
    assert_same_shape(
        partial,
        load_fixture(EX + "user_data_json/order_update_trade_partial.json"),
        allow_extra={"pm", "gtd", "W"},  # newer than the docs example, as for order_update_trade.json
    )
    canceled = next(x for x in seen if x.get("e") == "ALGO_UPDATE" and x["o"]["X"] == "CANCELED")
    # "rm" (reject reason) is only sent when the venue rejected the order
    assert_same_shape(
        canceled, load_fixture(EX + "user_data_json/algo_update_canceled.json"), allow_missing={"rm"}
    )
    assert_same_shape(canceled, data(load_fixture(WS + "ws_futures_algo_update_finished_canceled.json")))

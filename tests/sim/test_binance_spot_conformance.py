"""Every message the spot simulator emits has the keys and JSON types of a real payload.

Captured payloads are preferred, documentation examples where nothing was captured.
Intentional differences (each listed where it is allowed):
- exchangeInfo follows today's docs (NOTIONAL filter, permissionSets, otoAllowed, ...), the
  capture is from 2021 (MIN_NOTIONAL, PERCENT_PRICE): compared with the docs example, and each
  filter with the rules of ``_FILTER_KEYS``.
- the captured bookTicker carries ``E``/``T``, which spot's documented bookTicker does not have.
- the captured aggTrade carries an undocumented ``st``.
- executionReport adds ``W`` (working time) and ``V`` (STP mode), documented but absent from the
  captures; ``W`` is omitted while a stop order waits for its trigger, as Binance does.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model.enums import Side
from tests.sim.test_binance_spot_fixtures import (  # noqa: F401 - fixtures
    client,
    market,
    recv_until,
    sim,
    socket_manager,
)
from tests.support.shapes import assert_same_shape, load_fixture

pytestmark = pytest.mark.timeout(40)

SYM = "BTCUSDT"
CAP = "binance/captured/rest/"
CAPWS = "binance/captured/ws/"
EX = "binance/examples/spot/http_json/"
EXU = "binance/examples/spot/user_data_json/"

# executionReport fields the documentation examples leave out (the captures have them)
DOC_TRIMMED = ["F", "g", "I", "M", "Y", "Q", "W", "V"]

_FILTER_KEYS = {
    "PRICE_FILTER": {"filterType", "minPrice", "maxPrice", "tickSize"},
    "LOT_SIZE": {"filterType", "minQty", "maxQty", "stepSize"},
    "MARKET_LOT_SIZE": {"filterType", "minQty", "maxQty", "stepSize"},
    "ICEBERG_PARTS": {"filterType", "limit"},
    "NOTIONAL": {
        "filterType",
        "minNotional",
        "applyMinToMarket",
        "maxNotional",
        "applyMaxToMarket",
        "avgPriceMins",
    },
    "MAX_NUM_ORDERS": {"filterType", "maxNumOrders"},
    "MAX_NUM_ALGO_ORDERS": {"filterType", "maxNumAlgoOrders"},
    "TRAILING_DELTA": {
        "filterType",
        "minTrailingAboveDelta",
        "maxTrailingAboveDelta",
        "minTrailingBelowDelta",
        "maxTrailingBelowDelta",
    },
    "PERCENT_PRICE_BY_SIDE": {
        "filterType",
        "bidMultiplierUp",
        "bidMultiplierDown",
        "askMultiplierUp",
        "askMultiplierDown",
        "avgPriceMins",
    },
}


async def test_rest_market_data_shapes(sim, client):  # noqa: F811
    m = market(sim)
    m.mm_take(SYM, Side.BUY, 100)
    m.mm_take(SYM, Side.SELL, 100)
    assert_same_shape(await client.ping(), load_fixture(CAP + "http_spot_market_ping.json"))
    assert_same_shape(await client.get_server_time(), load_fixture(CAP + "http_spot_market_time.json"))
    assert_same_shape(
        await client.get_order_book(symbol=SYM), load_fixture(CAP + "http_spot_market_depth.json")
    )
    assert_same_shape(
        await client.get_recent_trades(symbol=SYM), load_fixture(CAP + "http_spot_market_trades.json")
    )
    assert_same_shape(
        await client.get_historical_trades(symbol=SYM),
        load_fixture(CAP + "http_spot_market_historical_trades.json"),
    )
    assert_same_shape(
        await client.get_aggregate_trades(symbol=SYM), load_fixture(CAP + "http_spot_market_agg_trades.json")
    )
    assert_same_shape(
        await client.get_klines(symbol=SYM, interval="1m", limit=20),
        load_fixture(CAP + "http_spot_market_klines.json"),
    )
    assert_same_shape(
        await client.get_avg_price(symbol=SYM),
        load_fixture(CAP + "http_spot_market_avg_price.json"),
        allow_extra=["closeTime"],  # added to the API in 2023
    )
    assert_same_shape(await client.get_avg_price(symbol=SYM), load_fixture(EX + "avg_price_response.json"))
    assert_same_shape(
        await client.get_orderbook_ticker(symbol=SYM), load_fixture(CAP + "http_spot_market_book_ticker.json")
    )
    assert_same_shape(
        await client.get_symbol_ticker(symbol=SYM), load_fixture(CAP + "http_spot_market_ticker_price.json")
    )
    assert_same_shape(await client.get_ticker(symbol=SYM), load_fixture(EX + "ticker_24hr_response.json"))
    # documentation examples of the same endpoints
    assert_same_shape(await client.get_recent_trades(symbol=SYM), load_fixture(EX + "trades_response.json"))
    assert_same_shape(await client.ping(), load_fixture(EX + "ping_response.json"))
    assert_same_shape(await client.get_server_time(), load_fixture(EX + "server_time_response.json"))
    assert_same_shape(
        await client.get_klines(symbol=SYM, interval="1m", limit=20),
        load_fixture(EX + "klines_response.json"),
    )
    assert_same_shape(
        await client.get_symbol_ticker(symbol=SYM), load_fixture(EX + "ticker_price_response.json")
    )
    assert_same_shape(
        await client.get_orderbook_ticker(symbol=SYM), load_fixture(EX + "book_ticker_response.json")
    )
    assert_same_shape(
        await client.get_all_tickers(), [load_fixture(CAP + "http_spot_market_ticker_price.json")]
    )

    info = await client.get_exchange_info()
    assert_same_shape(info, load_fixture(EX + "exchange_info_response.json"), ignore_keys=["filters", "sors"])
    assert_same_shape(
        info, load_fixture(CAP + "http_spot_market_exchange_info.json"), ignore_keys=["symbols"]
    )
    for sym in info["symbols"]:
        for f in sym["filters"]:
            assert set(f) == _FILTER_KEYS[f["filterType"]], f
            assert all(isinstance(v, str | int | bool) for v in f.values())


async def test_rest_account_and_order_shapes(sim, client):  # noqa: F811
    m = market(sim)
    inst = m.instruments[SYM]
    price = f"{inst.price(m.books[SYM].best_bid() - 500):.2f}"
    full = await client.order_market_buy(symbol=SYM, quantity="0.01")
    assert full["fills"]
    assert_same_shape(full, load_fixture(EX + "new_order_full_response.json"))
    resting = await client.order_limit_buy(
        symbol=SYM, quantity="0.01", price=price, newOrderRespType="RESULT"
    )
    assert_same_shape(resting, load_fixture(EX + "new_order_full_response.json"), allow_missing=["fills"])
    ack = await client.order_limit_buy(symbol=SYM, quantity="0.01", price=price, newOrderRespType="ACK")
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    q = await client.get_order(symbol=SYM, orderId=resting["orderId"])
    assert_same_shape(q, load_fixture(EX + "order_response.json"))
    assert_same_shape(
        await client.get_open_orders(symbol=SYM), load_fixture(EX + "open_orders_response.json")
    )
    assert_same_shape(await client.get_all_orders(symbol=SYM), load_fixture(EX + "all_orders_response.json"))
    assert_same_shape(
        await client.get_my_trades(symbol=SYM), load_fixture(EX + "account_trades_response.json")
    )
    acct = await client.get_account()
    assert_same_shape(acct, load_fixture(EX + "account_response.json"))
    assert_same_shape(
        acct,
        load_fixture(CAP + "http_spot_wallet_account.json"),
        # documented since the capture was taken
        allow_extra=["commissionRates", "brokered", "requireSelfTradePrevention", "preventSor", "uid"],
    )
    cancel = await client.cancel_order(symbol=SYM, orderId=resting["orderId"])
    assert_same_shape(cancel, load_fixture(EX + "cancel_order_response.json"))
    cancel_all = await client.cancel_all_open_orders(symbol=SYM)
    assert_same_shape(cancel_all, load_fixture(EX + "cancel_open_orders_response.json"))
    assert await client.create_test_order(symbol=SYM, side="BUY", type="MARKET", quantity="0.01") == {}


async def test_stream_shapes(sim, client):  # noqa: F811
    m = market(sim)
    bm = socket_manager(client, sim)
    streams = [
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@bookTicker",
        "btcusdt@depth@100ms",
        "btcusdt@ticker",
        "btcusdt@kline_1m",
        "btcusdt@depth5@100ms",
        "btcusdt@miniTicker",
    ]
    got: dict[str, dict] = {}

    async def keep(msg: dict) -> None:
        got.setdefault(msg["stream"], msg)

    async with bm.multiplex_socket(streams) as mx:
        for _ in range(20):
            m.mm_take(SYM, Side.BUY, 20)
            m.mm_take(SYM, Side.SELL, 20)
            try:
                await recv_until(mx, lambda x: len(got) == len(streams), on_msg=keep, timeout=0.3)
                break
            except TimeoutError:
                continue
    assert set(got) == set(streams)
    assert_same_shape(got["btcusdt@trade"], load_fixture(CAPWS + "ws_spot_trade.json"))
    assert_same_shape(
        got["btcusdt@aggTrade"], load_fixture(CAPWS + "ws_spot_agg_trade.json"), allow_missing=["st"]
    )
    assert_same_shape(
        got["btcusdt@bookTicker"], load_fixture(CAPWS + "ws_spot_ticker_book.json"), allow_missing=["E", "T"]
    )
    depth = got["btcusdt@depth@100ms"]["data"]
    assert_same_shape(
        depth, load_fixture(CAPWS + "ws_futures_depth_update.json"), allow_missing=["T", "pu", "ps", "st"]
    )
    assert_same_shape(got["btcusdt@ticker"]["data"], load_fixture(CAPWS + "ws_spot_ticker_24hr.json"))
    assert_same_shape(
        got["btcusdt@kline_1m"]["data"],
        load_fixture("binance/examples/futures/market_data_json/kline_stream_open.json"),
    )
    partial = got["btcusdt@depth5@100ms"]["data"]
    assert_same_shape(partial, load_fixture(EX + "depth_response.json"))
    assert len(partial["bids"]) == 5
    mini = got["btcusdt@miniTicker"]["data"]
    assert set(mini) == {"e", "E", "s", "c", "o", "h", "l", "v", "q"} and mini["e"] == "24hrMiniTicker"


async def test_user_event_shapes(sim, client):  # noqa: F811
    m = market(sim)
    inst = m.instruments[SYM]
    bm = socket_manager(client, sim)
    events: list[dict] = []

    async def keep(msg: dict) -> None:
        events.append(msg)

    last = m.last_price_ticks(SYM)
    async with bm.user_socket() as us:
        resting = await client.order_limit_buy(
            symbol=SYM, quantity="0.01", price=f"{inst.price(m.books[SYM].best_bid() - 300):.2f}"
        )
        await client.order_market_buy(symbol=SYM, quantity="0.01")
        await client.cancel_order(symbol=SYM, orderId=resting["orderId"])
        await client.order_oco_sell(
            symbol=SYM,
            quantity="0.01",
            aboveType="LIMIT_MAKER",
            abovePrice=f"{inst.price(m.books[SYM].best_ask() + 100):.2f}",
            belowType="STOP_LOSS_LIMIT",
            belowStopPrice=f"{inst.price(last - 300):.2f}",
            belowPrice=f"{inst.price(last - 310):.2f}",
            belowTimeInForce="GTC",
        )
        m.deposit("demo", "USDT", Decimal("25"))
        await recv_until(us, lambda e: e.get("e") == "balanceUpdate", on_msg=keep)

    def wrapped(event: dict) -> dict:
        return {"stream": event["e"], "data": event}

    reports = {e["x"]: e for e in events if e["e"] == "executionReport"}
    assert {"NEW", "TRADE", "CANCELED"} <= set(reports)
    extra = ["W", "V"]
    assert_same_shape(
        wrapped(reports["NEW"]), load_fixture(CAPWS + "ws_spot_execution_report_new.json"), allow_extra=extra
    )
    assert_same_shape(
        wrapped(reports["TRADE"]),
        load_fixture(CAPWS + "ws_spot_execution_report_trade.json"),
        allow_extra=extra,
    )
    assert_same_shape(
        wrapped(reports["CANCELED"]),
        load_fixture(CAPWS + "ws_spot_execution_report_canceled.json"),
        allow_extra=extra,
    )
    for r in reports.values():
        assert_same_shape(
            {"subscriptionId": 0, "event": r},
            load_fixture(EXU + "execution_report_wrapped.json"),
            allow_missing=["W"],
        )
    # the docs' unwrapped executionReport examples trim fields the live venue sends
    for x, fixture in (
        ("NEW", "execution_report_new.json"),
        ("TRADE", "execution_report_trade.json"),
        ("CANCELED", "execution_report_canceled.json"),
    ):
        assert_same_shape(reports[x], load_fixture(EXU + fixture), allow_extra=DOC_TRIMMED)
    by_type = {e["e"]: e for e in events}
    assert_same_shape(by_type["outboundAccountPosition"], load_fixture(EXU + "account_position.json"))
    assert_same_shape(by_type["balanceUpdate"], load_fixture(EXU + "balance_update.json"))
    assert_same_shape(
        {"subscriptionId": 0, "event": by_type["outboundAccountPosition"]},
        load_fixture(EXU + "account_position_wrapped.json"),
    )
    assert_same_shape(
        {"subscriptionId": 0, "event": by_type["balanceUpdate"]},
        load_fixture(EXU + "balance_update_wrapped.json"),
    )
    assert by_type["balanceUpdate"]["d"] == "25.00000000"
    assert_same_shape(
        {"subscriptionId": 0, "event": by_type["listStatus"]}, load_fixture(EXU + "list_status_wrapped.json")
    )


async def test_execution_report_variants(sim, client):  # noqa: F811
    """Each captured executionReport variant against the simulator's report of that kind."""
    m = market(sim)
    inst = m.instruments[SYM]
    bm = socket_manager(client, sim)
    events: list[dict] = []

    async def keep(msg: dict) -> None:
        events.append(msg)

    book = m.books[SYM]
    last = m.last_price_ticks(SYM)
    async with bm.user_socket() as us:
        # a resting limit with a custom client id
        resting = await client.order_limit_buy(
            symbol=SYM,
            quantity="0.01",
            price=f"{inst.price(book.best_bid() - 300):.2f}",
            newClientOrderId="INIT-BTC-1234567890",
        )
        # a limit buy at the best ask for more than the level holds: fills part, rests the rest
        ask_price, ask_lots = book.best_ask_level()
        partial = await client.order_limit_buy(
            symbol=SYM,
            quantity=inst.fmt_qty(ask_lots + inst.lots(inst.qty(1))),
            price=inst.fmt_price(ask_price),
        )
        # an IOC far below the ask: expires untouched
        await client.order_limit_buy(
            symbol=SYM,
            quantity="0.01",
            price=f"{inst.price(book.best_bid() - 500):.2f}",
            timeInForce="IOC",
        )
        # stop orders waiting for their trigger
        await client.create_order(
            symbol=SYM,
            side="SELL",
            type="STOP_LOSS_LIMIT",
            quantity="0.01",
            stopPrice=f"{inst.price(last - 300):.2f}",
            price=f"{inst.price(last - 310):.2f}",
            timeInForce="GTC",
        )
        await client.create_order(
            symbol=SYM,
            side="SELL",
            type="TAKE_PROFIT_LIMIT",
            quantity="0.01",
            stopPrice=f"{inst.price(last + 300):.2f}",
            price=f"{inst.price(last + 310):.2f}",
            timeInForce="GTC",
        )
        await client.order_market_buy(symbol=SYM, quantity="0.01")
        await client.cancel_order(symbol=SYM, orderId=partial["orderId"])
        await client.cancel_order(symbol=SYM, orderId=resting["orderId"])
        await recv_until(
            us,
            lambda e: (
                e.get("e") == "executionReport" and e["i"] == resting["orderId"] and e["x"] == "CANCELED"
            ),
            on_msg=keep,
        )
    reports = [e for e in events if e["e"] == "executionReport"]

    def one(pred) -> dict:
        found = [r for r in reports if pred(r)]
        assert found, [(r["x"], r["X"], r["o"], r["f"]) for r in reports]
        return found[0]

    def wrapped(event: dict) -> dict:
        return {"stream": event["e"], "data": event}

    new_limit = one(lambda r: r["x"] == "NEW" and r["o"] == "LIMIT" and r["c"] == "INIT-BTC-1234567890")
    new_stop = one(lambda r: r["x"] == "NEW" and r["o"] == "STOP_LOSS_LIMIT")
    new_tp = one(lambda r: r["x"] == "NEW" and r["o"] == "TAKE_PROFIT_LIMIT")
    part = one(lambda r: r["x"] == "TRADE" and r["X"] == "PARTIALLY_FILLED")
    filled = one(lambda r: r["x"] == "TRADE" and r["X"] == "FILLED")
    canceled = one(lambda r: r["x"] == "CANCELED" and r["i"] == partial["orderId"])
    expired = one(lambda r: r["x"] == "EXPIRED" and r["f"] == "IOC")
    assert "W" not in new_stop and "W" not in new_tp  # not working until triggered

    wv = ["W", "V"]  # captures older than the W/V fields
    for fixture, report, extra in (
        ("ws_spot_execution_report_new_price_match.json", new_limit, wv),
        ("ws_spot_execution_report_new_stop_limit_price_match.json", new_stop, ["V"]),
        ("ws_spot_execution_report_new_limit_if_touched_price_match.json", new_tp, ["V"]),
        ("ws_spot_execution_report_custom_client_id.json", part, wv),
        ("ws_spot_execution_report_empty_client_id.json", part, wv),
        ("ws_spot_execution_report_binance_us.json", filled, []),
        ("ws_spot_execution_report_expired.json", expired, wv),
        # the l=0 TRADE rows carry the same fields as the report of the order's status
        ("ws_spot_execution_report_trade_l_zero.json", filled, []),
        ("ws_spot_execution_report_trade_l_zero_partial.json", part, []),
        ("ws_spot_execution_report_trade_l_zero_new.json", new_limit, []),
        ("ws_spot_execution_report_trade_l_zero_canceled.json", canceled, []),
        ("ws_spot_execution_report_trade_l_zero_expired.json", expired, wv),
    ):
        assert_same_shape(wrapped(report), load_fixture(CAPWS + fixture), allow_extra=extra)
    assert_same_shape(
        new_stop, load_fixture(EXU + "execution_report_stop_loss.json"), allow_extra=DOC_TRIMMED
    )
    assert_same_shape(
        expired,
        load_fixture(EXU + "execution_report_expired.json"),
        allow_extra=DOC_TRIMMED,
        allow_missing=["eR"],  # expiry reason: the simulator does not send it
    )

"""Every Bybit payload under shared/fixtures/exchange-payloads parses into the model with the
values asserted (``terminal.venues.bybit.parse``), or is exempt with a reason. A new fixture
that no test here loads and that is not exempt fails ``test_every_bybit_fixture_is_parsed_or_exempt``."""

from __future__ import annotations

import io
import json
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from terminal.market.orderbook import ApplyResult, BybitBookSync
from terminal.model import (
    FilterName,
    InstrumentKind,
    MarginMode,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    Venue,
)
from terminal.venues.bybit import parse
from terminal.venues.events import ReportSource
from tests.support.fixture_registry import fixtures_dir

pytestmark = pytest.mark.timeout(30)

D = Decimal
SPOT, LINEAR = Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR
EX = "bybit/examples/"

EXEMPT: dict[str, str] = {
    EX + "http_get_account_info.json": "account settings (margin mode, UTA status): not used by the adapter",
    EX + "http_get_fee_rate.json": "fee tiers: fills carry the actual execFee",
    EX + "http_get_funding_history.json": "funding history is not part of the adapter interface",
    EX + "http_get_instruments_inverse.json": "inverse contracts are not a supported category",
    EX + "http_get_instruments_inverse_symbol_type.json": "inverse contracts are not a supported category",
    EX + "http_get_instruments_option.json": "options are not a supported category",
    EX + "http_get_instruments_option_symbol_id.json": "options are not a supported category",
    EX + "http_get_user_escrow_sub_members.json": "sub-account administration: not trading",
    EX + "http_get_user_query_api.json": "API-key administration: not trading",
    EX + "http_get_user_sub_apikeys.json": "sub-account administration: not trading",
    EX + "http_get_user_sub_members.json": "sub-account administration: not trading",
    EX + "http_get_user_sub_members_paged.json": "sub-account administration: not trading",
    EX + "http_post_user_update_master_api.json": "API-key administration: not trading",
    EX + "http_post_user_update_sub_api.json": "sub-account administration: not trading",
    EX + "ws_account_execution_fast.json": "execution.fast has no fee; the adapter subscribes to execution",
    EX + "ws_account_execution_fast_envelope_id.json": "execution.fast: see ws_account_execution_fast",
    EX + "ws_auth_failure.json": "control frame: the adapter's auth handshake reads success/ret_msg",
    EX + "ws_auth_success.json": "control frame: the adapter's auth handshake reads success/ret_msg",
    EX + "ws_order_response.json": "WS trade API (/v5/trade): orders go over REST",
    EX + "ws_subscription_ack.json": "control frame: matched by req_id in the adapter (sim tests)",
    EX + "ws_subscription_failure.json": "control frame: a refused subscribe fails watch_market (sim tests)",
    EX + "ws_ticker_option.json": "options are not a supported category",
}
CAPTURED_BOOK = "bybit/captured/xrpusdt-ob500.data.zip"


def load(name: str) -> Any:
    return json.loads((fixtures_dir() / EX / name).read_text())


def rows(name: str) -> list[dict[str, Any]]:
    doc = load(name)
    if "data" in doc:
        return doc["data"]
    if "result" in doc:
        return doc["result"]["list"]
    return [doc]  # a bare row


# ---------------------------------------------------------------- instruments
def test_instruments_spot() -> None:
    btc, eth = parse.parse_instruments(SPOT, load("http_get_instruments_spot.json")["result"])
    assert (btc.symbol, btc.base, btc.quote, btc.kind) == ("BTCUSDT", "BTC", "USDT", InstrumentKind.SPOT)
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.max_qty) == (
        D("0.1"),
        D("0.0001"),
        D("0.001"),
        D(100),
    )
    assert (btc.min_notional, btc.max_notional) == (D(10), D(1000000))
    assert (eth.tick_size, eth.step_size) == (D("0.01"), D("0.00001"))
    [aapl] = parse.parse_instruments(SPOT, load("http_get_instruments_spot_xstocks.json")["result"])
    assert (aapl.symbol, aapl.base, aapl.tick_size, aapl.step_size) == (
        "AAPLUSDT",
        "AAPL",
        D("0.01"),
        D("0.0001"),
    )


def test_instruments_linear() -> None:
    btc, eth = parse.parse_instruments(LINEAR, load("http_get_instruments_linear.json")["result"])
    assert btc.kind is InstrumentKind.LINEAR_PERPETUAL
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.max_qty) == (
        D("0.5"),
        D("0.001"),
        D("0.001"),
        D(100),
    )
    assert (btc.market_max_qty, btc.min_notional, btc.min_price, btc.max_price) == (
        D(50),
        D(5),
        D(1),
        D(1000000),
    )
    assert (eth.tick_size, eth.step_size, eth.min_qty) == (D("0.05"), D("0.01"), D("0.01"))
    # a filter breach is named like Binance's filters
    v = btc.validate(Side.BUY, OrderType.LIMIT, D("100.25"), D("0.001"))
    assert {x.filter for x in v} == {FilterName.PRICE_FILTER, FilterName.MIN_NOTIONAL}
    result = load("http_get_instruments_linear_symbol_type.json")["result"]
    parsed = parse.parse_instruments(LINEAR, result, trading_only=False)
    perps = [r for r in result["list"] if r.get("contractType", "LinearPerpetual") == "LinearPerpetual"]
    assert [i.symbol for i in parsed] == [r["symbol"] for r in perps] and parsed
    for inst, row in zip(parsed, perps, strict=True):
        assert inst.tick_size == D(row["priceFilter"]["tickSize"])
        assert inst.step_size == D(row["lotSizeFilter"]["qtyStep"])


# ---------------------------------------------------------------- public market data
def test_orderbook_rest_and_stream() -> None:
    snap = parse.parse_orderbook_rest(LINEAR, load("http_get_orderbook.json")["result"])
    assert snap.best_bid is not None and snap.best_ask is not None
    assert (snap.best_bid.price, snap.best_bid.qty) == (D("27450.50"), D("1.500"))
    assert (snap.best_ask.price, snap.best_ask.qty) == (D("27451.00"), D("1.200"))
    assert (len(snap.bids), len(snap.asks), snap.last_update_id) == (3, 3, 1234567)

    book = BybitBookSync("BTCUSDT", "0.5")
    assert book.on_message(load("ws_orderbook_snapshot.json")) is ApplyResult.APPLIED
    assert book.on_message(load("ws_orderbook_delta.json")) is ApplyResult.APPLIED
    s = book.snapshot(5)
    assert [(lv.price, lv.qty) for lv in s.bids] == [(D("27450.00"), D("0.4")), (D("27449.50"), D("1.0"))]
    assert [(lv.price, lv.qty) for lv in s.asks] == [(D("27451.50"), D("0.9"))]  # 27451.00 deleted
    assert book.update_id == 123456790


def test_captured_orderbook_500_replays_without_gaps() -> None:
    """The live capture (orderbook.500.XRPUSDT): a snapshot, then deltas with u+1 each."""
    with zipfile.ZipFile(fixtures_dir() / CAPTURED_BOOK) as z:
        lines = io.TextIOWrapper(z.open(z.namelist()[0]), encoding="utf-8").read().splitlines()
    book = BybitBookSync("XRPUSDT", "0.0001", SPOT)
    results = [book.on_message(json.loads(line)) for line in lines if line.strip()]
    assert results and all(r is ApplyResult.APPLIED for r in results)
    assert book.is_live and book.best_bid() is not None and book.best_ask() is not None
    assert book.best_bid().price < book.best_ask().price  # type: ignore[union-attr]


def test_public_trade() -> None:
    [t] = parse.parse_public_trades(LINEAR, load("ws_public_trade.json"))  # made-up topic, real data shape
    assert (t.symbol, t.price, t.qty, t.taker_side, t.ts) == (
        "BTCUSDT",
        D("27451.00"),
        D("0.010"),
        Side.BUY,
        1709891679000,
    )
    assert t.trade_id == "9dc75fca-4bdd-4773-9f78-6f5d7ab2a110"
    [r] = rows("http_get_trades_recent.json")
    rt = parse.parse_trade_rest(LINEAR, r)
    assert (rt.price, rt.qty, rt.taker_side, rt.ts) == (D("27450.50"), D("0.005"), Side.BUY, 1709891679000)


def test_klines() -> None:
    [c] = [parse.parse_candle_ws(LINEAR, "BTCUSDT", r) for r in rows("ws_kline.json")]
    assert (c.interval, c.open_time, c.close_time) == ("5m", 1672324800000, 1672325099999)
    assert (c.open, c.high, c.low, c.close, c.volume, c.quote_volume) == (
        16649.5,
        16677,
        16608,
        16677,
        2.081,
        34666.4005,
    )
    assert c.closed is False
    closed = parse.parse_candle_ws(LINEAR, "BTCUSDT", rows("ws_kline.json")[0] | {"confirm": True})
    assert closed.closed is True

    result = load("http_get_klines_linear.json")["result"]
    [k] = parse.parse_rest_klines(LINEAR, "BTCUSDT", "1", result, now_ms=1709891679050)
    assert (k.open_time, k.close_time, k.open, k.high, k.low, k.close) == (
        1709891679000,
        1709891738999,
        27450,
        27460,
        27440,
        27455,
    )
    assert (k.volume, k.quote_volume, k.closed) == (123.45, 3390000, False)  # still forming at `time`
    newest_first = {
        "list": [["120000", "2", "2", "2", "2", "1", "1"], ["60000", "1", "1", "1", "1", "1", "1"]]
    }
    bars = parse.parse_rest_klines(LINEAR, "X", "1", newest_first, now_ms=10**9)
    assert [b.open_time for b in bars] == [60000, 120000] and all(b.closed for b in bars)
    assert [parse.bybit_interval(x) for x in ("1m", "1h", "1d")] == ["1", "60", "D"]
    assert [parse.interval_label(x) for x in ("1", "60", "D")] == ["1m", "1h", "1d"]


def test_ticker_linear_snapshot_then_delta_merges() -> None:
    state = parse.TickerState(LINEAR, "BTCUSDT")
    msg = load("ws_ticker_linear.json")
    ticker, mark = state.apply(msg)
    assert ticker is not None and mark is not None
    assert (ticker.last, ticker.bid, ticker.ask, ticker.open_24h) == (
        D("17216.00"),
        D("17215.50"),
        D("17216.00"),
        D("16926.50"),
    )
    assert (ticker.high_24h, ticker.low_24h, ticker.volume_24h, ticker.ts) == (
        D("17281.50"),
        D("16915.00"),
        D("91705.276"),
        1673272861686,
    )
    assert (mark.mark_price, mark.index_price, mark.funding_rate) == (
        D("17217.33"),
        D("17227.36"),
        D("-0.000212"),
    )
    assert mark.next_funding_time == 1673280000000
    # a delta carries only what changed; the rest keeps its last value
    ticker, mark = state.apply(
        {
            "topic": msg["topic"],
            "type": "delta",
            "ts": 1673272861700,
            "data": {"symbol": "BTCUSDT", "markPrice": "17220.00"},
        }
    )
    assert ticker is not None and mark is not None
    assert (mark.mark_price, mark.index_price, ticker.last, ticker.ts) == (
        D("17220.00"),
        D("17227.36"),
        D("17216.00"),
        1673272861700,
    )
    spot_ticker, spot_mark = parse.TickerState(SPOT, "BTCUSDT").apply(msg)
    assert spot_ticker is not None and spot_mark is None


# ---------------------------------------------------------------- orders
def order(name: str, i: int = 0, venue: Venue = LINEAR):
    return parse.parse_order(venue, rows(name)[i], ReportSource.STREAM).order


def test_orders_ws() -> None:
    o = order("ws_account_order.json")
    assert (o.client_id, o.venue_order_id, o.side, o.type, o.status) == (
        "client-1",
        "abcdef123456",
        Side.BUY,
        OrderType.LIMIT,
        OrderStatus.CANCELED,
    )
    assert (o.qty, o.price, o.filled_qty, o.avg_price, o.reason) == (
        D("0.010"),
        D(30000),
        0,
        None,
        "CancelByUser",
    )
    f = order("ws_account_order_filled.json")
    assert (f.status, f.filled_qty, f.avg_price, f.type, f.stop_price) == (
        OrderStatus.FILLED,
        D("0.100"),
        D("30000.50"),
        OrderType.STOP_LIMIT,
        D("29500.00"),
    )
    pr = order("ws_account_order_partially_filled_rejected.json", venue=SPOT)
    assert (pr.status, pr.qty, pr.filled_qty, pr.avg_price, pr.reason) == (
        OrderStatus.REJECTED,
        D(100),
        D(50),
        D("1.500"),
        "UNKNOWN",
    )
    expected = {
        "ws_account_order_buy_stop_market.json": (Side.BUY, OrderType.STOP_MARKET, D("55000.00"), False),
        "ws_account_order_stop_market.json": (Side.SELL, OrderType.STOP_MARKET, D("45000.00"), False),
        "ws_account_order_stop_limit.json": (Side.SELL, OrderType.STOP_LIMIT, D("45000.00"), False),
        "ws_account_order_stop_loss.json": (Side.SELL, OrderType.STOP_MARKET, D("48000.00"), True),
        "ws_account_order_take_profit.json": (Side.SELL, OrderType.TAKE_PROFIT_MARKET, D("55000.00"), True),
        "ws_account_order_limit_if_touched.json": (
            Side.BUY,
            OrderType.TAKE_PROFIT_LIMIT,
            D("55000.00"),
            False,
        ),
        "ws_account_order_market_if_touched.json": (
            Side.BUY,
            OrderType.TAKE_PROFIT_MARKET,
            D("55000.00"),
            False,
        ),
        "ws_account_order_sell_market_if_touched.json": (
            Side.SELL,
            OrderType.TAKE_PROFIT_MARKET,
            D("55000.00"),
            False,
        ),
    }
    for name, (side, otype, trigger, reduce_only) in expected.items():
        c = order(name)
        assert (c.side, c.type, c.stop_price, c.reduce_only, c.status) == (
            side,
            otype,
            trigger,
            reduce_only,
            OrderStatus.UNTRIGGERED,
        ), name
        assert c.price == (
            D("44500.00")
            if otype is OrderType.STOP_LIMIT
            else D("55500.00")
            if otype is OrderType.TAKE_PROFIT_LIMIT
            else None
        ), name
    lit = order("ws_account_order_limit_if_touched.json")
    assert (
        lit.price == D("55500.00") and lit.position_side is PositionSide.BOTH and lit.tif is TimeInForce.GTC
    )


def test_orders_rest() -> None:
    a, b = (parse.parse_order(LINEAR, r, ReportSource.REST) for r in rows("http_get_orders_realtime.json"))
    assert (a.order.client_id, a.order.status, a.order.price, a.order.side, a.ts) == (
        "client-open-1",
        OrderStatus.NEW,
        D("3930.41"),
        Side.BUY,
        1761355905606,
    )
    assert (b.order.client_id, b.order.side, b.order.price, b.source) == (
        "client-open-2",
        Side.SELL,
        D("3940.42"),
        ReportSource.REST,
    )
    [tp] = [
        parse.parse_order(LINEAR, r, ReportSource.REST).order
        for r in rows("http_get_orders_realtime_tp_sl.json")
    ][:1]
    assert (tp.type, tp.stop_price, tp.reduce_only, tp.status, tp.price) == (
        OrderType.TAKE_PROFIT_MARKET,
        D("55000.00"),
        True,
        OrderStatus.UNTRIGGERED,
        None,
    )
    [h] = [
        parse.parse_order(LINEAR, r, ReportSource.REST).order for r in rows("http_get_orders_history.json")
    ]
    assert (h.client_id, h.status, h.reason, h.type) == (
        "client-1",
        OrderStatus.CANCELED,
        "CancelByUser",
        OrderType.LIMIT,
    )
    dup = [
        parse.parse_order(LINEAR, r, ReportSource.REST).order
        for r in rows("http_get_orders_history_with_duplicate.json")
    ]
    assert [(o.client_id, o.status) for o in dup] == [
        ("client-open-1", OrderStatus.NEW),
        ("client-closed-1", OrderStatus.CANCELED),
    ]
    [rej] = [
        parse.parse_order(LINEAR, r, ReportSource.REST).order
        for r in rows("http_get_order_partially_filled_rejected.json")
    ]
    assert (rej.status, rej.filled_qty, rej.avg_price, rej.reason) == (
        OrderStatus.REJECTED,
        D("0.005"),
        D(30000),
        "INSUFFICIENT_MARGIN",
    )


def test_status_map_is_complete() -> None:
    want = {
        "New": OrderStatus.NEW,
        "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
        "Filled": OrderStatus.FILLED,
        "Cancelled": OrderStatus.CANCELED,
        "Rejected": OrderStatus.REJECTED,
        "Untriggered": OrderStatus.UNTRIGGERED,
        "Triggered": OrderStatus.NEW,
        "Deactivated": OrderStatus.CANCELED,
        "PartiallyFilledCanceled": OrderStatus.CANCELED,
    }
    assert {k: parse.order_status(k) for k in want} == want
    with pytest.raises(ValueError):
        parse.order_status("Whatever")
    row = rows("ws_account_order.json")[0] | {
        "timeInForce": "PostOnly",
        "positionIdx": 2,
        "triggerPrice": "0",
    }
    o = parse.parse_order(LINEAR, row, ReportSource.STREAM).order
    assert (o.tif, o.post_only, o.position_side) == (TimeInForce.POST_ONLY, True, PositionSide.SHORT)


# ---------------------------------------------------------------- executions, positions, wallet
def test_executions() -> None:
    [ws] = [
        parse.parse_execution(LINEAR, r, quote="USDT", base="BTC") for r in rows("ws_account_execution.json")
    ]
    assert ws is not None
    assert (ws.trade_id, ws.client_id, ws.venue_order_id) == (
        "0ab1bdf7-4219-438b-b30a-32ec863018f7",
        "test-order-link-001",
        "9aac161b-8ed6-450d-9cab-c5cc67c21784",
    )
    assert (ws.side, ws.price, ws.qty, ws.fee, ws.fee_asset, ws.is_maker, ws.ts) == (
        Side.SELL,
        D("95900.1"),
        D("0.5"),
        D("26.3725275"),
        "USDT",
        False,
        1746270400353,
    )
    [adl] = [parse.parse_execution(LINEAR, r, quote="USDT") for r in rows("ws_account_execution_adl.json")]
    assert adl is not None and (adl.fee, adl.price, adl.client_id) == (0, D("95850.0"), "")
    a, b = (parse.parse_execution(LINEAR, r) for r in rows("http_get_executions.json"))
    assert a is not None and b is not None
    assert (a.symbol, a.side, a.price, a.qty, a.fee, a.fee_asset, a.is_maker) == (
        "BTCUSDT",
        Side.BUY,
        D("50000.00"),
        D("0.100"),
        D("0.0150"),
        "USDT",
        True,
    )
    assert (b.symbol, b.side, b.qty, b.fee, b.is_maker, b.ts) == (
        "ETHUSDT",
        Side.SELL,
        D("0.500"),
        D("0.9000"),
        False,
        1672282822529,
    )
    # spot without feeCurrency: the fee is charged in what was received
    spot_buy = parse.parse_execution(
        SPOT, rows("ws_account_execution.json")[0] | {"side": "Buy"}, quote="USDT", base="BTC"
    )
    assert spot_buy is not None and spot_buy.fee_asset == "BTC"
    assert (
        parse.parse_execution(LINEAR, rows("ws_account_execution.json")[0] | {"execType": "Funding"}) is None
    )


def test_positions() -> None:
    btc, eth, sol = (parse.parse_position(LINEAR, r) for r in rows("http_get_positions.json"))
    assert sol.is_flat and sol.entry_price == 0 and sol.liquidation_price is None
    assert (btc.qty, btc.entry_price, btc.mark_price, btc.leverage, btc.liquidation_price) == (
        D("0.5"),
        D("50000.00"),
        D("50500.00"),
        D(10),
        D("45000.00"),
    )
    assert (eth.qty, eth.entry_price, eth.side, eth.margin_mode) == (
        D("-5.0"),
        D("3000.00"),
        PositionSide.BOTH,
        MarginMode.CROSS,
    )
    for r in rows("http_get_positions_with_open_time.json"):
        p = parse.parse_position(LINEAR, r)
        assert abs(p.qty) == D(r["size"]) and p.leverage == D(r["leverage"]), r
    [ws] = [parse.parse_position(LINEAR, r) for r in rows("ws_account_position.json")]
    assert (ws.symbol, ws.qty, ws.entry_price, ws.mark_price, ws.leverage) == (
        "ETHUSDT",
        D("-0.01"),
        D("3641.075"),
        D("3641.33"),
        D(30),
    )
    assert ws.liquidation_price == D("51764.83003276") and ws.updated_at == 1762199125472
    [short] = [parse.parse_position(LINEAR, r) for r in rows("ws_account_position_short.json")]
    assert short.qty < 0 and short.direction is Side.SELL
    for r in rows("ws_account_position_with_open_time.json"):
        p = parse.parse_position(LINEAR, r)
        assert abs(p.qty) == D(r["size"]), r
    hedge = parse.parse_position(
        LINEAR, rows("http_get_positions.json")[1] | {"positionIdx": 2, "tradeMode": 1}
    )
    assert (hedge.side, hedge.qty, hedge.margin_mode) == (PositionSide.SHORT, D("5.0"), MarginMode.ISOLATED)


def balances(name: str) -> dict[str, Any]:
    return {b.asset: b for b in parse.parse_balances(rows(name))}


def test_wallets() -> None:
    rest = balances("http_get_wallet_balance.json")
    assert (rest["USDT"].free, rest["USDT"].locked) == (D("1000.50"), 0)
    assert rest["BTC"].total == 0 and rest["ETH"].total == 0  # borrowed ETH: wallet 0
    ws = balances("ws_account_wallet.json")
    assert (ws["BTC"].total, ws["BTC"].locked, ws["BTC"].free) == (
        D("0.00102964"),
        D("0.0001"),
        D("0.00092964"),
    )
    assert (ws["USDT"].total, ws["USDT"].locked) == (D("9647.75537647"), D("127.8573161"))
    over = balances("ws_account_wallet_locked_exceeds_total.json")["USDT"]
    assert (over.total, over.locked, over.free) == (D(100), D(100), 0)  # margin 120 > wallet 100: capped
    small = balances("ws_account_wallet_small_order.json")["USDT"]
    assert (small.locked, small.free) == (D("50.028"), D("51333.82543837") - D("50.028"))
    short = balances("http_get_wallet_balance_spot_short.json")
    borrow = balances("http_get_wallet_balance_with_spot_borrow.json")
    for bal, name in (
        (short, "http_get_wallet_balance_spot_short.json"),
        (borrow, "http_get_wallet_balance_with_spot_borrow.json"),
    ):
        for c in rows(name)[0]["coin"]:
            assert bal[c["coin"]].total == D(c["walletBalance"] or "0"), (name, c["coin"])
            assert bal[c["coin"]].free >= 0 and bal[c["coin"]].locked >= 0


# ---------------------------------------------------------------- registry
def _all_fixtures() -> list[str]:
    root = fixtures_dir()
    return sorted(str(p.relative_to(root)) for p in (root / "bybit").rglob("*") if p.is_file())


# load(NAME) / rows(NAME) / order(NAME) / balances(NAME) calls, and the keys of the
# name -> expected-values tables fed to order() in a loop
_LOADED = re.compile(r'(?:(?:load|rows|order|balances)\(\s*"([^"]+)")|(?:"([^"]+\.json)":\s*\()')


def _referenced() -> set[str]:
    """Fixture names that a parse test above loads (static, so it holds under xdist too)."""
    source = Path(__file__).read_text()
    return {EX + (a or b) for a, b in _LOADED.findall(source)} | {CAPTURED_BOOK}


@pytest.mark.parametrize("name", _all_fixtures())
def test_every_bybit_fixture_is_parsed_or_exempt(name: str) -> None:
    if name in EXEMPT:
        assert EXEMPT[name].strip(), name
        assert name not in _referenced(), f"{name} is both parsed and exempt"
        return
    assert name in _referenced(), f"{name}: neither parsed by a test here nor exempt with a reason"


def test_exemptions_name_existing_files() -> None:
    assert set(EXEMPT) <= set(_all_fixtures())

"""Every Binance spot payload fixture parses into the model with the right values.

``test_every_spot_fixture_is_parsed_or_exempt`` lists every spot fixture file under
``shared/fixtures/exchange-payloads`` and fails for a file that is neither checked in
``CHECKS`` nor exempted (with a reason) in ``EXEMPT``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from terminal.market.orderbook import ApplyResult, BinanceSpotBookSync
from terminal.model import InstrumentKind, OrderStatus, OrderType, Side, TimeInForce, Venue
from terminal.venues.binance import parse_spot as P
from terminal.venues.events import ReportSource
from tests.support.shapes import fixtures_dir

pytestmark = pytest.mark.timeout(30)

V = Venue.BINANCE_SPOT
D = Decimal
ROOT = fixtures_dir()
_BR = "binance/captured/rest/"
_BW = "binance/captured/ws/"
_SH = "binance/examples/spot/http_json/"
_SU = "binance/examples/spot/user_data_json/"
_SBE = "binance/examples/spot/user_data_sbe/mainnet/"


def _is_spot(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return rel.startswith("binance/") and (
        rel.startswith("binance/examples/spot/")
        or name.startswith(("ws_spot_", "http_spot_", "http_wallet_"))
    )


def spot_fixtures() -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file() and _is_spot(p.relative_to(ROOT).as_posix())
    )


def load(rel: str) -> Any:
    return json.loads((ROOT / rel).read_text())


# ---------------------------------------------------------------------- checks per file


def _exec(rel: str) -> P.ExecutionReport:
    return P.execution_report(P.loads(load(rel)))


def check_exec_new(rel: str) -> None:
    r = _exec(rel)
    o = r.report.order
    assert r.fill is None and r.exec_type == "NEW" and r.report.source is ReportSource.STREAM
    assert o.status is OrderStatus.NEW and o.filled_qty == 0 and o.avg_price is None
    raw = P.loads(load(rel))
    assert o.client_id == raw["c"] and o.venue_order_id == str(raw["i"]) and o.symbol == raw["s"]
    assert o.qty == D(raw["q"]) and o.side is Side(raw["S"]) and r.report.ts == raw["E"]


def check_exec_ws_new(rel: str) -> None:
    check_exec_new(rel)
    o = _exec(rel).report.order
    assert (o.type, o.price, o.tif) == (OrderType.LIMIT, D("2500"), TimeInForce.GTC)


def check_exec_price_match(rel: str) -> None:
    check_exec_new(rel)
    o = _exec(rel).report.order
    assert o.type is OrderType.LIMIT and o.price == D("2495.5") and o.stop_price is None


def check_exec_tp_limit(rel: str) -> None:
    check_exec_new(rel)
    o = _exec(rel).report.order
    assert o.type is OrderType.TAKE_PROFIT_LIMIT and o.price == D("2505.25") and o.stop_price == D("2500")


def check_exec_stop_limit(rel: str) -> None:
    check_exec_new(rel)
    o = _exec(rel).report.order
    assert o.type is OrderType.STOP_LIMIT and o.side is Side.SELL
    assert o.price == D("2405.75") and o.stop_price == D("2400")


def check_exec_stop_loss_example(rel: str) -> None:
    check_exec_new(rel)
    o = _exec(rel).report.order
    assert o.type is OrderType.STOP_LIMIT and o.price == D("2400") and o.stop_price == D("2450")


def check_exec_wrapped(rel: str) -> None:
    assert "subscriptionId" in load(rel)  # the user-stream envelope is stripped by loads()
    check_exec_new(rel)
    o = _exec(rel).report.order
    assert (o.symbol, o.price, o.client_id) == ("ETHBTC", D("0.10264410"), "mUvoqJxFIILMdfAW5iGSOW")


def check_exec_trade_partial(rel: str) -> None:
    r = _exec(rel)
    o, f = r.report.order, r.fill
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == D("0.5")
    assert o.avg_price == D("2499.5")  # Z / z
    assert f is not None
    assert (f.price, f.qty, f.fee, f.fee_asset, f.is_maker) == (
        D("2499.5"),
        D("0.5"),
        D("0.0005"),
        "ETH",
        True,
    )
    assert (f.trade_id, f.venue_order_id, f.client_id, f.side) == (
        "98765432",
        "1234567890",
        o.client_id,
        Side.BUY,
    )
    assert f.ts == 1759347763167


def check_exec_custom_id(rel: str) -> None:
    check_exec_trade_partial(rel)
    assert _exec(rel).report.order.client_id == "INIT-BTC-1234567890"


def check_exec_empty_id(rel: str) -> None:
    check_exec_trade_partial(rel)
    r = _exec(rel)
    assert r.report.order.client_id == "" and r.fill is not None and r.fill.client_id == ""


def check_exec_trade_filled_us(rel: str) -> None:
    r = _exec(rel)
    o, f = r.report.order, r.fill
    assert o.status is OrderStatus.FILLED and o.filled_qty == D("0.00042") and o.symbol == "BTCUSD"
    assert f is not None and (f.price, f.qty, f.fee, f.fee_asset, f.is_maker, f.side) == (
        D("117290.77"),
        D("0.00042"),
        D("0.00492621"),
        "USD",
        False,
        Side.SELL,
    )
    assert o.avg_price == D("49.26212340") / D("0.00042")


def check_exec_trade_example(rel: str) -> None:
    r = _exec(rel)
    assert r.report.order.status is OrderStatus.FILLED and r.report.order.avg_price == D("2500")
    assert r.fill is not None and (r.fill.qty, r.fill.price, r.fill.fee, r.fill.fee_asset) == (
        D("1"),
        D("2500"),
        D("0.001"),
        "ETH",
    )


def check_exec_calculated(rel: str) -> None:
    r = _exec(rel)
    assert r.exec_type == "CALCULATED" and r.report.order.status is OrderStatus.FILLED
    assert r.fill is not None and (r.fill.price, r.fill.qty, r.fill.fee) == (
        D("49500"),
        D("0.01"),
        D("2.475"),
    )


def check_exec_canceled(rel: str) -> None:
    r = _exec(rel)
    o = r.report.order
    assert r.fill is None and o.status is OrderStatus.CANCELED
    assert o.filled_qty == D(P.loads(load(rel))["z"])


def check_exec_canceled_partial(rel: str) -> None:
    check_exec_canceled(rel)
    o = _exec(rel).report.order
    assert o.filled_qty == D("0.1") and o.avg_price == D("2500") and o.side is Side.SELL


def check_exec_pending_cancel(rel: str) -> None:
    r = _exec(rel)
    assert r.fill is None and r.report.order.status is OrderStatus.PENDING_CANCEL
    assert r.report.order.filled_qty == D("0.1")


def check_exec_expired(rel: str) -> None:
    r = _exec(rel)
    assert r.fill is None and r.report.order.status is OrderStatus.EXPIRED and r.report.order.filled_qty == 0


def check_exec_expired_gtd(rel: str) -> None:
    check_exec_expired(rel)
    assert _exec(rel).report.order.tif is TimeInForce.GTC  # GTD has no model TIF: rests like GTC


def check_exec_expired_ioc(rel: str) -> None:
    check_exec_expired(rel)
    assert _exec(rel).report.order.tif is TimeInForce.IOC


def check_exec_rejected(rel: str) -> None:
    r = _exec(rel)
    o = r.report.order
    assert r.fill is None and o.status is OrderStatus.REJECTED and o.reason == "GTX_ORDER_REJECT"
    assert o.tif is TimeInForce.POST_ONLY and o.post_only


def check_exec_l_zero_price(rel: str) -> None:
    # l > 0 but L = 0: not a usable execution (no price); the order state still says FILLED
    r = _exec(rel)
    assert r.fill is None and r.report.order.status is OrderStatus.FILLED
    assert r.report.order.filled_qty == D("0.001") and r.report.order.avg_price is None


def check_exec_l_zero(status: OrderStatus, filled: str) -> Callable[[str], None]:
    def check(rel: str) -> None:
        r = _exec(rel)
        assert r.exec_type == "TRADE" and r.fill is None
        assert r.report.order.status is status and r.report.order.filled_qty == D(filled)

    return check


def check_exec_stp(rel: str) -> None:
    r = _exec(rel)
    o = r.report.order
    assert r.exec_type == "TRADE_PREVENTION" and r.fill is None  # no trade happened (t = -1)
    assert o.status is OrderStatus.EXPIRED and o.reason == "SELF_TRADE_PREVENTION"


def check_agg_trade(rel: str) -> None:
    t = P.agg_trade(P.loads(load(rel)))
    assert (t.venue, t.symbol, t.trade_id, t.price, t.qty) == (
        V,
        "ETHUSDT",
        226532,
        D("1632.46"),
        D("0.34305"),
    )
    assert t.taker_side is Side.BUY and t.ts == 1675759520847


def check_trade_ws(rel: str) -> None:
    t = P.trade(P.loads(load(rel)))
    assert (t.symbol, t.trade_id, t.price, t.qty, t.ts) == (
        "ETHUSDT",
        705291099,
        D("4149.74"),
        D("0.4387"),
        1639351062243,
    )
    assert t.taker_side is Side.SELL  # m: buyer is maker


def check_book_ticker_ws(rel: str) -> None:
    b = P.book_ticker(P.loads(load(rel)))
    assert (b.symbol, b.bid, b.bid_qty, b.ask, b.ask_qty) == (
        "ETHUSDT",
        D("4507.24"),
        D("2.3595"),
        D("4507.25"),
        D("2.8457"),
    )
    assert b.ts == 1646199228121  # transaction time T (when the book changed), not push time E


def check_ticker_ws(rel: str) -> None:
    t = P.ticker_24h(P.loads(load(rel)))
    assert (t.symbol, t.last, t.bid, t.ask, t.open_24h) == (
        "BNBBTC",
        D("0.0025"),
        D("0.0024"),
        D("0.0026"),
        D("0.0010"),
    )
    assert (t.high_24h, t.low_24h, t.volume_24h, t.quote_volume_24h, t.ts) == (
        D("0.0025"),
        D("0.0010"),
        D("10000"),
        D("18"),
        123456789,
    )
    assert t.change_pct_24h == D(150)


def check_rest_trades(rel: str) -> None:
    rows = load(rel)
    trades = [P.rest_trade(r, "BTCUSDT") for r in rows]
    assert [t.trade_id for t in trades] == [r["id"] for r in rows]
    assert all(
        t.price == D(r["price"]) and t.qty == D(r["qty"]) and t.ts == r["time"]
        for t, r in zip(trades, rows, strict=True)
    )
    assert [t.taker_side for t in trades] == [Side.SELL if r["isBuyerMaker"] else Side.BUY for r in rows]


def check_rest_agg_trades(rel: str) -> None:
    rows = load(rel)
    trades = [P.rest_agg_trade(r, "BTCUSDT") for r in rows]
    assert (
        trades[0].trade_id == 966492862 and trades[0].price == D("60759.6") and trades[0].qty == D("0.00841")
    )
    assert trades[0].taker_side is Side.BUY and trades[0].ts == rows[0]["T"]
    assert len(trades) == len(rows)


def check_rest_klines(rel: str) -> None:
    rows = load(rel)
    now = rows[-1][6]  # "now" = the last bar's close time: that bar is still forming
    candles = [P.rest_kline(r, "BTCUSDT", "1m", now) for r in rows]
    c = candles[0]
    assert (c.open_time, c.close_time, c.open, c.high, c.low, c.close) == (
        rows[0][0],
        rows[0][6],
        float(rows[0][1]),
        float(rows[0][2]),
        float(rows[0][3]),
        float(rows[0][4]),
    )
    assert (c.volume, c.quote_volume, c.trades) == (float(rows[0][5]), float(rows[0][7]), rows[0][8])
    assert all(x.closed for x in candles[:-1]) and not candles[-1].closed


def check_rest_book_ticker(rel: str) -> None:
    b = P.rest_book_ticker(load(rel))
    raw = load(rel)
    assert (b.symbol, b.bid, b.bid_qty, b.ask, b.ask_qty) == (
        raw["symbol"],
        D(raw["bidPrice"]),
        D(raw["bidQty"]),
        D(raw["askPrice"]),
        D(raw["askQty"]),
    )


def check_depth(rel: str) -> None:
    raw = load(rel)
    book = BinanceSpotBookSync("X", "0.00000001")
    assert book.on_snapshot(raw) is ApplyResult.APPLIED
    assert book.update_id == raw["lastUpdateId"] and book.is_live
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert best_bid is not None and best_ask is not None
    assert best_bid.price == max(D(p) for p, _ in raw["bids"])
    assert best_ask.price == min(D(p) for p, _ in raw["asks"])
    assert len(book.bids) == len(raw["bids"]) and len(book.asks) == len(raw["asks"])


def check_exchange_info_captured(rel: str) -> None:
    insts = P.instruments(load(rel))
    btc = insts["BTCUSDT"]
    assert (btc.kind, btc.base, btc.quote) == (InstrumentKind.SPOT, "BTC", "USDT")
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.max_qty) == (
        D("0.01"),
        D("0.00001"),
        D("0.00001"),
        D("9000"),
    )
    assert btc.min_notional == D("10") and btc.market_max_qty == D("112.21108820")  # old MIN_NOTIONAL
    assert (btc.min_price, btc.max_price) == (D("0.01"), D("1000000"))
    assert (btc.percent_price_up, btc.percent_price_down) == (D("5"), D("0.2"))
    assert insts["ETHUSDT"].step_size == D("0.0001")


def check_exchange_info_example(rel: str) -> None:
    insts = P.instruments(load(rel))
    eth = insts["ETHBTC"]
    # this documentation example lists no filters: precision decides tick/step, no limits
    assert (eth.tick_size, eth.step_size, eth.min_notional, eth.max_qty) == (D("1e-8"), D("1e-8"), 0, None)


def check_account(rel: str) -> None:
    raw = load(rel)
    bals = P.account_balances(raw)
    assert [(b.asset, b.free, b.locked) for b in bals] == [
        (r["asset"], D(r["free"]), D(r["locked"])) for r in raw["balances"]
    ]


def check_my_trades(rel: str) -> None:
    f = P.my_trade(load(rel)[0], "cid-9")
    assert (f.symbol, f.trade_id, f.venue_order_id, f.client_id) == ("BNBBTC", "28457", "100234", "cid-9")
    assert (f.price, f.qty, f.fee, f.fee_asset, f.side, f.is_maker, f.ts) == (
        D("4.000001"),
        D("12"),
        D("10.1"),
        "BNB",
        Side.BUY,
        False,
        1499865549590,
    )


def check_order_query(rel: str) -> None:
    raw = load(rel)
    row = raw[0] if isinstance(raw, list) else raw
    rep, fills = P.order_response(row, ReportSource.RECONCILE)
    o = rep.order
    assert fills == [] and rep.source is ReportSource.RECONCILE
    assert (o.client_id, o.venue_order_id, o.symbol, o.status) == ("myOrder1", "1", "LTCBTC", OrderStatus.NEW)
    assert (o.type, o.side, o.price, o.qty, o.filled_qty, o.stop_price) == (
        OrderType.LIMIT,
        Side.BUY,
        D("0.1"),
        D("1.0"),
        0,
        None,
    )
    assert rep.ts == 1499827319559 and o.created_at == 1499827319559


def check_cancel(rel: str) -> None:
    rep, _ = P.order_response(load(rel))
    o = rep.order
    # the order's own id, not the cancel request's (clientOrderId)
    assert (o.client_id, o.status, o.venue_order_id, rep.ts) == (
        "myOrder1",
        OrderStatus.CANCELED,
        "4",
        1684804350068,
    )


def check_cancel_open_orders(rel: str) -> None:
    rows = load(rel)
    singles = [r for r in rows if "orders" not in r]
    reps = [P.order_response(r)[0] for r in singles]
    assert [r.order.client_id for r in reps] == ["E6APeyTJvkMvLMYMqu1KQ4", "A3EF2HCwxgZPFMrfwbgrhv"]
    assert all(r.order.status is OrderStatus.CANCELED for r in reps)
    # the OCO summary in the same list: its legs come as executionReports on the stream
    (oco,) = [r for r in rows if "orders" in r]
    assert oco["contingencyType"] == "OCO" and len(oco["orders"]) == 2


def check_new_order_full(rel: str) -> None:
    rep, fills = P.order_response(load(rel))
    o = rep.order
    assert (o.status, o.type, o.side, o.qty, o.filled_qty) == (
        OrderStatus.FILLED,
        OrderType.MARKET,
        Side.SELL,
        D("10"),
        D("10"),
    )
    assert o.price is None and rep.source is ReportSource.REST and rep.ts == 1507725176595
    assert [f.trade_id for f in fills] == ["56", "57", "58", "59", "60"]
    assert sum(f.qty for f in fills) == D(10)
    assert (fills[1].price, fills[1].qty, fills[1].fee, fills[1].fee_asset) == (
        D("3999"),
        D("5"),
        D("19.995"),
        "USDT",
    )
    assert all(
        f.client_id == "6gCrw2kRUAF9CvJDGP16IP" and f.venue_order_id == "28" and not f.is_maker for f in fills
    )


def check_rest_ticker_24h(rel: str) -> None:
    t = P.rest_ticker_24h(load(rel))
    assert (t.symbol, t.last, t.bid, t.ask, t.open_24h, t.high_24h, t.low_24h) == (
        "BNBBTC",
        D("4.000002"),
        D("4"),
        D("4.000002"),
        D("99"),
        D("100"),
        D("0.1"),
    )
    assert (t.volume_24h, t.quote_volume_24h, t.ts) == (D("8913.3"), D("15.3"), 1499869899040)


def check_account_position(rel: str) -> None:
    ev = P.account_position(P.loads(load(rel)))
    raw = P.loads(load(rel))
    assert not ev.snapshot and ev.ts == raw["E"] and ev.venue is V
    assert [(b.asset, b.free, b.locked) for b in ev.balances] == [
        (r["a"], D(r["f"]), D(r["l"])) for r in raw["B"]
    ]


def check_balance_update(rel: str) -> None:
    raw = P.loads(load(rel))
    d = P.balance_update(raw)
    assert raw["e"] == "balanceUpdate"
    assert (d.asset, d.delta, d.ts) == (raw["a"], D(raw["d"]), raw["T"])
    assert d.delta > 0 and d.asset == "BTC"


def check_list_status(rel: str) -> None:
    ls = P.list_status(P.loads(load(rel)))
    assert (ls.symbol, ls.list_id, ls.contingency, ls.list_status, ls.list_order_status) == (
        "ETHBTC",
        2,
        "OCO",
        "EXEC_STARTED",
        "EXECUTING",
    )
    assert ls.orders == (("17", "AJYsMjErWJesZvqlJCTUgL"), ("18", "bfYPSQdLoqAJeNrOr9adzq"))


CHECKS: dict[str, Callable[[str], None]] = {
    # streams and user data (captured)
    _BW + "ws_spot_agg_trade.json": check_agg_trade,
    _BW + "ws_spot_trade.json": check_trade_ws,
    _BW + "ws_spot_ticker_book.json": check_book_ticker_ws,
    _BW + "ws_spot_ticker_24hr.json": check_ticker_ws,
    _BW + "ws_spot_execution_report_new.json": check_exec_ws_new,
    _BW + "ws_spot_execution_report_new_price_match.json": check_exec_price_match,
    _BW + "ws_spot_execution_report_new_limit_if_touched_price_match.json": check_exec_tp_limit,
    _BW + "ws_spot_execution_report_new_stop_limit_price_match.json": check_exec_stop_limit,
    _BW + "ws_spot_execution_report_trade.json": check_exec_trade_partial,
    _BW + "ws_spot_execution_report_custom_client_id.json": check_exec_custom_id,
    _BW + "ws_spot_execution_report_empty_client_id.json": check_exec_empty_id,
    _BW + "ws_spot_execution_report_binance_us.json": check_exec_trade_filled_us,
    _BW + "ws_spot_execution_report_calculated.json": check_exec_calculated,
    _BW + "ws_spot_execution_report_canceled.json": check_exec_canceled_partial,
    _BW + "ws_spot_execution_report_pending_cancel.json": check_exec_pending_cancel,
    _BW + "ws_spot_execution_report_expired.json": check_exec_expired_gtd,
    _BW + "ws_spot_execution_report_rejected.json": check_exec_rejected,
    _BW + "ws_spot_execution_report_trade_l_zero.json": check_exec_l_zero_price,
    _BW + "ws_spot_execution_report_trade_l_zero_canceled.json": check_exec_l_zero(OrderStatus.CANCELED, "0"),
    _BW + "ws_spot_execution_report_trade_l_zero_expired.json": check_exec_l_zero(OrderStatus.EXPIRED, "0"),
    _BW + "ws_spot_execution_report_trade_l_zero_new.json": check_exec_l_zero(OrderStatus.NEW, "0"),
    _BW + "ws_spot_execution_report_trade_l_zero_partial.json": check_exec_l_zero(
        OrderStatus.PARTIALLY_FILLED, "0.5"
    ),
    _BW + "ws_spot_execution_report_trade_prevention.json": check_exec_stp,
    # user data (documentation examples)
    _SU + "execution_report_new.json": check_exec_ws_new,
    _SU + "execution_report_wrapped.json": check_exec_wrapped,
    _SU + "execution_report_stop_loss.json": check_exec_stop_loss_example,
    _SU + "execution_report_trade.json": check_exec_trade_example,
    _SU + "execution_report_canceled.json": check_exec_canceled,
    _SU + "execution_report_expired.json": check_exec_expired_ioc,
    _SU + "account_position.json": check_account_position,
    _SU + "account_position_wrapped.json": check_account_position,
    _SU + "balance_update.json": check_balance_update,
    _SU + "balance_update_wrapped.json": check_balance_update,
    _SU + "list_status_wrapped.json": check_list_status,
    # REST (captured)
    _BR + "http_spot_market_agg_trades.json": check_rest_agg_trades,
    _BR + "http_spot_market_book_ticker.json": check_rest_book_ticker,
    _BR + "http_spot_market_depth.json": check_depth,
    _BR + "http_spot_market_exchange_info.json": check_exchange_info_captured,
    _BR + "http_spot_market_historical_trades.json": check_rest_trades,
    _BR + "http_spot_market_klines.json": check_rest_klines,
    _BR + "http_spot_market_trades.json": check_rest_trades,
    _BR + "http_spot_wallet_account.json": check_account,
    # REST (documentation examples)
    _SH + "account_response.json": check_account,
    _SH + "account_trades_response.json": check_my_trades,
    _SH + "all_orders_response.json": check_order_query,
    _SH + "open_orders_response.json": check_order_query,
    _SH + "order_response.json": check_order_query,
    _SH + "cancel_order_response.json": check_cancel,
    _SH + "cancel_open_orders_response.json": check_cancel_open_orders,
    _SH + "new_order_full_response.json": check_new_order_full,
    _SH + "book_ticker_response.json": check_rest_book_ticker,
    _SH + "depth_response.json": check_depth,
    _SH + "exchange_info_response.json": check_exchange_info_example,
    _SH + "klines_response.json": check_rest_klines,
    _SH + "ticker_24hr_response.json": check_rest_ticker_24h,
    _SH + "trades_response.json": check_rest_trades,
}

_NOT_USED = "endpoint the adapter does not call"
_SBE_WHY = "SBE binary encoding metadata; the adapter speaks JSON only"
EXEMPT: dict[str, str] = {
    _BR + "http_spot_market_avg_price.json": _NOT_USED + " (avgPrice; the book mid is the reference price)",
    _SH + "avg_price_response.json": _NOT_USED + " (avgPrice)",
    _BR + "http_spot_market_ping.json": "empty body {}: nothing to parse",
    _SH + "ping_response.json": "empty body {}: nothing to parse",
    _BR
    + "http_spot_market_time.json": "serverTime: read by BinanceRest.sync_clock, covered by the adapter tests",
    _SH
    + "server_time_response.json": "serverTime: read by BinanceRest.sync_clock, covered by the adapter tests",
    _BR + "http_spot_market_ticker_price.json": _NOT_USED + " (ticker/price; the stream 24hr ticker is used)",
    _SH + "ticker_price_response.json": _NOT_USED + " (ticker/price)",
    _BR + "http_wallet_trading_fee.json": _NOT_USED + " (sapi tradeFee; fees come with each fill)",
    _BR + "http_wallet_trading_fees.json": _NOT_USED + " (sapi tradeFee; fees come with each fill)",
    _SBE + "manifest.json": _SBE_WHY,
    _SBE + "execution_report_event_1.metadata.json": _SBE_WHY,
    _SBE + "execution_report_event_2.metadata.json": _SBE_WHY,
    _SBE + "outbound_account_position_event_1.metadata.json": _SBE_WHY,
    _SBE + "outbound_account_position_event_2.metadata.json": _SBE_WHY,
    _SBE + "web_socket_response_1.metadata.json": _SBE_WHY,
    _SBE + "web_socket_response_2.metadata.json": _SBE_WHY,
}


def test_registry_lists_only_existing_spot_fixtures() -> None:
    files = set(spot_fixtures())
    assert files, f"no spot fixtures found under {ROOT}"
    assert not set(CHECKS) & set(EXEMPT)
    assert (set(CHECKS) | set(EXEMPT)) <= files, sorted((set(CHECKS) | set(EXEMPT)) - files)


@pytest.mark.parametrize("rel", spot_fixtures())
def test_every_spot_fixture_is_parsed_or_exempt(rel: str) -> None:
    if rel in EXEMPT:
        assert EXEMPT[rel].strip()
        return
    assert rel in CHECKS, f"{rel}: neither parsed (CHECKS) nor exempted with a reason (EXEMPT)"
    CHECKS[rel](rel)


# ---------------------------------------------------------------------- no spot fixture exists


@pytest.mark.parametrize("name", ["kline_stream_closed.json", "kline_stream_open.json"])
def test_kline_closed_is_exactly_x(name: str) -> None:
    """No spot kline fixture exists; the futures documentation's kline has the same shape."""
    raw = load("binance/examples/futures/market_data_json/" + name)
    c = P.kline(raw)
    k = raw["k"]
    assert c.closed is k["x"] and (c.open_time, c.close_time, c.interval) == (k["t"], k["T"], k["i"])
    assert (c.open, c.close, c.high, c.low, c.volume, c.trades) == (
        float(k["o"]),
        float(k["c"]),
        float(k["h"]),
        float(k["l"]),
        float(k["v"]),
        k["n"],
    )
    # closedness never comes from the clock: an event long after T with x=false stays open
    late = {**raw, "E": k["T"] + 10**9, "k": {**k, "x": False}}
    assert P.kline(late).closed is False


def test_order_type_mapping_round_trips() -> None:
    assert P.order_type_to_wire(OrderType.LIMIT, True) == "LIMIT_MAKER"
    assert P.order_type_to_wire(OrderType.STOP_MARKET, False) == "STOP_LOSS"
    assert P.order_type_to_wire(OrderType.TAKE_PROFIT_LIMIT, False) == "TAKE_PROFIT_LIMIT"
    with pytest.raises(ValueError):
        P.order_type_to_wire(OrderType.TRAILING_STOP_MARKET, False)
    base = P.loads(load(_BW + "ws_spot_execution_report_new.json"))
    for wire, (otype, post_only) in {
        "LIMIT_MAKER": (OrderType.LIMIT, True),
        "STOP_LOSS": (OrderType.STOP_MARKET, False),
        "TAKE_PROFIT": (OrderType.TAKE_PROFIT_MARKET, False),
    }.items():
        o = P.execution_report({**base, "o": wire, "P": "2400.00000000"}).report.order
        assert (o.type, o.post_only) == (otype, post_only)
    for wire, status in {
        "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
        "PENDING_NEW": OrderStatus.UNTRIGGERED,
    }.items():
        assert P.execution_report({**base, "X": wire}).report.order.status is status


def test_loads_accepts_bytes_and_unwraps() -> None:
    raw = (ROOT / (_BW + "ws_spot_trade.json")).read_bytes()
    assert P.loads(raw)["e"] == "trade"
    assert P.loads(raw.decode())["t"] == 705291099
    assert Path(ROOT).is_dir()

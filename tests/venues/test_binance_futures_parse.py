"""Every Binance USDⓈ-M payload fixture parses into the model with asserted values, or is
exempt with a reason. A new futures fixture that is neither fails ``test_every_futures_fixture_is_handled``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from terminal.market.orderbook import ApplyResult, BinanceFuturesBookSync
from terminal.model import MarginMode, OrderStatus, OrderType, PositionSide, Side, TimeInForce, Venue
from terminal.venues.binance import parse_futures as pf
from terminal.venues.events import ReportSource
from tests.support.shapes import fixtures_dir, load_fixture

pytestmark = pytest.mark.timeout(20)

V = Venue.BINANCE_USDM
_BR = "binance/captured/rest/"
_BW = "binance/captured/ws/"
_FH = "binance/examples/futures/http_json/"
_FM = "binance/examples/futures/market_data_json/"
_FU = "binance/examples/futures/user_data_json/"


def _futures_fixtures() -> list[str]:
    root = fixtures_dir()
    out = []
    for p in sorted((root / "binance").rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and ("futures" in p.name or "/futures/" in rel):
            out.append(rel)
    return out


# ------------------------------------------------------------------ market data


def _kline_closed(m: Any) -> None:
    c = pf.parse_kline(m)
    assert (c.symbol, c.interval, c.open_time, c.close_time) == (
        "BTCUSDT",
        "1m",
        1638747660000,
        1638747719999,
    )
    assert (c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades) == (
        0.001,
        0.0025,
        0.001,
        0.002,
        1000.0,
        1.0,
        100,
    )
    assert c.closed is True and c.venue is V


def _kline_open(m: Any) -> None:
    c = pf.parse_kline(m)
    assert c.closed is False and c.low == 0.0015


def _kline_rows(m: Any) -> None:
    (c,) = [pf.parse_kline_row("BTCUSDT", "1w", r, now_ms=1499644800000) for r in m]
    assert (c.open_time, c.close_time, c.open, c.high, c.low, c.close) == (
        1499040000000,
        1499644799999,
        0.0163479,
        0.8,
        0.015758,
        0.015771,
    )
    assert (c.volume, c.quote_volume, c.trades, c.closed) == (148976.11427815, 2434.19055334, 308, True)
    # the same row seen before its close time is still forming
    assert pf.parse_kline_row("BTCUSDT", "1w", m[0], now_ms=1499644799999).closed is False


def _other_kline_rows(m: Any) -> None:
    # continuous / index / mark / BLVT klines share the row layout
    c = pf.parse_kline_row("X", "1m", m[0], now_ms=1 << 62)
    assert c.open_time == m[0][0] and c.close == float(m[0][4]) and c.trades == m[0][8] and c.closed


def _agg_trade_stream(m: Any) -> None:
    t = pf.parse_agg_trade(m)
    assert (t.symbol, t.trade_id, t.price, t.qty, t.taker_side, t.ts) == (
        "BTCUSDT",
        5933014,
        D("0.001"),
        D("100"),
        Side.SELL,
        123456785,
    )


def _trade_stream(m: Any) -> None:
    t = pf.parse_trade(m)
    assert (t.trade_id, t.price, t.qty, t.taker_side, t.ts) == (
        5933014,
        D("0.001"),
        D("100"),
        Side.SELL,
        123456785,
    )


def _rest_agg_trades(m: Any) -> None:
    (t,) = [pf.parse_rest_agg_trade("BTCUSDT", r) for r in m]
    assert (t.trade_id, t.price, t.qty, t.taker_side, t.ts) == (
        26129,
        D("0.01633102"),
        D("4.70443515"),
        Side.SELL,
        1498793709153,
    )


def _rest_trades(m: Any) -> None:
    (t,) = [pf.parse_rest_trade("BTCUSDT", r) for r in m]
    assert (t.trade_id, t.price, t.qty, t.taker_side, t.ts) == (
        28457,
        D("4.00000100"),
        D("12.00000000"),
        Side.SELL,
        1499865549590,
    )


def _book_ticker_stream(m: Any) -> None:
    b = pf.parse_book_ticker(m)
    assert (b.symbol, b.bid, b.bid_qty, b.ask, b.ask_qty, b.ts) == (
        "BNBUSDT",
        D("25.3519"),
        D("31.21"),
        D("25.3652"),
        D("40.66"),
        1568014460891,
    )


def _rest_book_ticker(m: Any) -> None:
    b = pf.parse_rest_book_ticker(m)
    assert (b.symbol, b.bid, b.bid_qty, b.ask, b.ask_qty, b.ts) == (
        "BTCUSDT",
        D("4"),
        D("431"),
        D("4.000002"),
        D("9"),
        1589437530011,
    )


def _ticker_stream(m: Any) -> None:
    t = pf.parse_ticker(m)
    assert (t.symbol, t.last, t.open_24h, t.high_24h, t.low_24h) == (
        "BTCUSDT",
        D("16584.6"),
        D("16716"),
        D("16764.89"),
        D("16456.51"),
    )
    assert (t.volume_24h, t.quote_volume_24h, t.ts) == (
        D("122474.816"),
        D("2036102085.697464"),
        1672515782136,
    )
    assert t.change_24h == D("-131.4")


def _ticker_captured(m: Any) -> None:
    t = pf.parse_ticker(m)
    assert (t.last, t.open_24h, t.volume_24h, t.ts) == (D("0.0025"), D("0.0010"), D("10000"), 123456789)


def _rest_ticker(m: Any) -> None:
    t = pf.parse_rest_ticker(m)
    assert (t.last, t.open_24h, t.high_24h, t.low_24h, t.volume_24h, t.quote_volume_24h) == (
        D("4.000002"),
        D("99"),
        D("100"),
        D("0.1"),
        D("8913.3"),
        D("15.3"),
    )
    assert t.ts == 1499869899040


def _ticker_price(m: Any) -> None:
    t = pf.parse_ticker_price(m)
    assert (t.symbol, t.last, t.ts) == ("BTCUSDT", D("6000.01"), 1589437530011)


def _mark_price_stream(m: Any) -> None:
    mp = pf.parse_mark_price(m)
    assert (mp.symbol, mp.mark_price, mp.index_price, mp.funding_rate, mp.next_funding_time, mp.ts) == (
        "BTCUSDT",
        D("11794.15"),
        D("11784.62659091"),
        D("0.00038167"),
        1562306400000,
        1562305380000,
    )


def _premium_index(m: Any) -> None:
    mp = pf.parse_premium_index(m)
    assert (mp.mark_price, mp.index_price, mp.funding_rate, mp.next_funding_time, mp.ts) == (
        D("11793.63104562"),
        D("11781.80495970"),
        D("0.00038246"),
        1597392000000,
        1597370495002,
    )


def _funding_rate(m: Any) -> None:
    a, b = [pf.parse_funding_rate(r) for r in m]
    assert (a.rate, a.funding_time, b.rate, b.funding_time) == (
        D("-0.0375"),
        1570608000000,
        D("0.0001"),
        1570636800000,
    )


def _depth(m: Any) -> None:
    s = pf.parse_depth_snapshot("BTCUSDT", m)
    assert s.last_update_id == 1027024 and s.ts == 1589436922972
    assert (s.best_bid.price, s.best_bid.qty, s.best_ask.price, s.best_ask.qty) == (
        D("4"),
        D("431"),
        D("4.000002"),
        D("12"),
    )


def _depth_diff_small(m: Any) -> None:
    book = BinanceFuturesBookSync("BTCUSDT", "0.0001")
    assert book.on_diff(m) is ApplyResult.BUFFERED
    # snapshot at 158 is inside [U=157, u=160]: the diff applies
    assert book.on_snapshot({"lastUpdateId": 158, "bids": [], "asks": []}) is ApplyResult.APPLIED
    assert book.update_id == 160
    assert (book.best_bid().price, book.best_bid().qty, book.best_ask().price, book.best_ask().qty) == (
        D("0.0024"),
        D("10"),
        D("0.0026"),
        D("100"),
    )


def _depth_diff_big(m: Any) -> None:
    book = BinanceFuturesBookSync("BTCUSDT", "0.01")
    book.on_diff(m)
    assert book.on_snapshot({"lastUpdateId": 390497800, "bids": [], "asks": []}) is ApplyResult.APPLIED
    assert book.best_bid().price == D("7405.43") and book.best_ask().price == D("7405.96")
    # the next diff must chain with pu == 390497878
    nxt = dict(m, U=390497879, u=390497880, pu=390497870, b=[], a=[])
    assert book.on_diff(nxt) is ApplyResult.GAP


def _exchange_info(m: Any) -> None:
    insts = {i.symbol: i for i in pf.parse_exchange_info(m)}
    assert set(insts) == {"BTCUSDT", "ETHUSDT"}  # the quarterly contract is not a perpetual
    btc = insts["BTCUSDT"]
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.max_qty, btc.market_max_qty) == (
        D("0.10"),
        D("0.001"),
        D("0.001"),
        D("1000"),
        D("1000"),
    )
    assert (btc.min_notional, btc.min_price, btc.max_price) == (D("10"), D("402"), D("1246396.60"))
    assert (btc.percent_price_up, btc.percent_price_down, btc.base, btc.quote) == (
        D("1.1"),
        D("0.5454"),
        "BTC",
        "USDT",
    )
    assert btc.price_precision == 1 and btc.qty_precision == 3  # from tick/step, not pricePrecision


def _symbol_config(m: Any) -> None:
    eth, btc = [pf.parse_symbol_config(r) for r in m]
    assert (eth.symbol, eth.leverage, eth.margin_mode) == ("ETHUSDT", D(20), MarginMode.CROSS)
    assert (btc.symbol, btc.leverage, btc.margin_mode) == ("BTCUSDT", D(25), MarginMode.ISOLATED)


def _position_side_dual(m: Any) -> None:
    assert m == {"dualSidePosition": True}  # read directly by BinanceFuturesAdapter.hedge_mode()


# ------------------------------------------------------------------ account / orders (REST)


def _positions_hedge(m: Any) -> None:
    long, short = [pf.parse_position_risk(r) for r in m]
    assert (long.side, long.qty, long.entry_price, long.leverage, long.margin_mode) == (
        PositionSide.LONG,
        D("20"),
        D("6563.665"),
        D(10),
        MarginMode.ISOLATED,
    )
    assert (long.mark_price, long.liquidation_price, long.updated_at) == (
        D("6679.50671178"),
        D("5930.78"),
        1625474304765,
    )
    assert (short.side, short.qty, short.signed_qty, short.liquidation_price) == (
        PositionSide.SHORT,
        D("10"),
        D("-10"),
        D("7189.95"),
    )


def _positions_one_way(m: Any) -> None:
    (p,) = [pf.parse_position_risk(r) for r in m]
    assert (p.side, p.qty, p.is_flat, p.liquidation_price, p.entry_price) == (
        PositionSide.BOTH,
        D(0),
        True,
        None,
        D(0),
    )


def _position_risk_example(m: Any) -> None:
    (p,) = [pf.parse_position_risk(r) for r in m]
    assert (p.qty, p.entry_price, p.mark_price, p.liquidation_price, p.leverage, p.margin_mode) == (
        D("0.001"),
        D("50000"),
        D("51000"),
        D("45000"),
        D(20),
        MarginMode.CROSS,
    )
    assert p.unrealized_pnl == D("1")


def _balance(m: Any) -> None:
    (b,) = [pf.parse_balance(r) for r in m]
    assert (b.asset, b.free, b.locked, b.total) == ("USDT", D("122.12345678"), D(0), D("122.12345678"))


def _account_v2(m: Any) -> None:
    balances, positions = pf.parse_account_v2(m)
    assert [(b.asset, b.free, b.total) for b in balances] == [("USDT", D("23.72469206"), D("23.72469206"))]
    assert positions == []  # the only listed position is flat


def _account_trades(m: Any) -> None:
    a, b = [pf.parse_user_trade(r) for r in m]
    assert (a.symbol, a.trade_id, a.venue_order_id, a.side, a.price, a.qty) == (
        "ETHUSDT",
        "82357626",
        "831238666",
        Side.SELL,
        D("2778.35"),
        D("0.005"),
    )
    assert (a.fee, a.fee_asset, a.is_maker, a.realized_pnl, a.ts) == (
        D("0.0055567"),
        "USDT",
        False,
        D(0),
        1645930322371,
    )
    assert (b.side, b.realized_pnl, b.position_side, b.client_id) == (
        Side.BUY,
        D("-0.00325"),
        PositionSide.BOTH,
        "",
    )


def _account_orders(m: Any) -> None:
    (r,) = [pf.parse_order(x) for x in m]
    o = r.order
    assert (o.client_id, o.venue_order_id, o.type, o.side, o.position_side, o.status) == (
        "abc",
        "1917641",
        OrderType.TRAILING_STOP_MARKET,
        Side.BUY,
        PositionSide.SHORT,
        OrderStatus.NEW,
    )
    assert (o.qty, o.filled_qty, o.price, o.stop_price, r.ts, r.source) == (
        D("0.40"),
        D(0),
        None,
        D("9300"),
        1579276756075,
        ReportSource.REST,
    )


def _order_response(m: Any) -> None:
    o = pf.parse_order(m).order
    assert (o.client_id, o.venue_order_id, o.type, o.status, o.price, o.qty, o.tif) == (
        "testOrder123",
        "12345678",
        OrderType.LIMIT,
        OrderStatus.NEW,
        D("50000"),
        D("0.001"),
        TimeInForce.GTC,
    )
    assert o.avg_price is None and o.stop_price is None and o.created_at == 1625474304765


def _open_algo_orders(m: Any) -> None:
    (r,) = [pf.parse_algo_order(x) for x in m]
    o = r.order
    assert (o.client_id, o.venue_order_id, o.type, o.status, o.stop_price, o.qty) == (
        "test-algo-order-1",
        "algo:123456789",
        OrderType.STOP_MARKET,
        OrderStatus.UNTRIGGERED,
        D("45000"),
        D("0.001"),
    )


# ------------------------------------------------------------------ user data stream


def _ou_new_trailing(m: Any) -> None:
    u = pf.parse_order_trade_update(m)
    o = u.report.order
    assert u.fill is None and u.report.source is ReportSource.STREAM and u.report.ts == 1568879465651
    assert (o.client_id, o.type, o.status, o.stop_price, o.position_side, o.venue_order_id) == (
        "TEST",
        OrderType.TRAILING_STOP_MARKET,
        OrderStatus.NEW,
        D("7103.04"),
        PositionSide.LONG,
        "8886774",
    )


def _ou_trade(m: Any) -> None:
    u = pf.parse_order_trade_update(m)
    f, o = u.fill, u.report.order
    assert (o.status, o.filled_qty, o.avg_price) == (OrderStatus.PARTIALLY_FILLED, D("0.001"), D("7100.5"))
    assert (f.trade_id, f.price, f.qty, f.fee, f.fee_asset, f.is_maker) == (
        "12345678",
        D("7100.5"),
        D("0.001"),
        D("0.01"),
        "USDT",
        True,
    )
    assert (f.realized_pnl, f.position_side, f.client_id, f.venue_order_id) == (
        D("12.34"),
        PositionSide.LONG,
        "TEST",
        "8886774",
    )


def _ou_trade_partial(m: Any) -> None:
    u = pf.parse_order_trade_update(m)
    assert (u.report.order.qty, u.report.order.filled_qty, u.fill.qty) == (D("0.002"), D("0.001"), D("0.001"))


def _ou_captured_new(expected: dict[str, Any]) -> Callable[[Any], None]:
    def check(m: Any) -> None:
        u = pf.parse_order_trade_update(m)
        o = u.report.order
        assert u.fill is None and o.status is OrderStatus.NEW
        got = {k: getattr(o, k) for k in expected}
        assert got == expected

    return check


def _ou_trade_reduce_only(m: Any) -> None:
    u = pf.parse_order_trade_update(m)
    o, f = u.report.order, u.fill
    assert (o.reduce_only, o.status, o.filled_qty) == (True, OrderStatus.FILLED, D("1"))
    assert (f.trade_id, f.qty, f.price, f.fee, f.realized_pnl, f.is_maker) == (
        "9988776655",
        D("1"),
        D("2500"),
        D("0.5"),
        D(0),
        False,
    )


def _ou_forced(status: OrderStatus, fee: str, rp: str | None) -> Callable[[Any], None]:
    """Liquidation / ADL / settlement: a real execution on our account, reported as a fill."""

    def check(m: Any) -> None:
        u = pf.parse_order_trade_update(m)
        assert u.report.order.status is status
        assert u.fill is not None and u.fill.fee == D(fee)
        if rp is not None:
            assert u.fill.realized_pnl == D(rp)

    return check


def _ou_calculated_pending(m: Any) -> None:
    u = pf.parse_order_trade_update(m)
    assert (
        u.fill is None and u.report.order.status is OrderStatus.NEW and u.report.order.reason == "CALCULATED"
    )


def _ou_liquidation_zero(m: Any) -> None:
    u = pf.parse_order_trade_update(m)
    assert u.report is None and u.fill is None  # q=0 placeholder: nothing to report


def _algo_update(status: OrderStatus, filled: str, reason: str | None = None) -> Callable[[Any], None]:
    def check(m: Any) -> None:
        r = pf.parse_algo_update(m)
        o = r.order
        assert o.status is status and o.filled_qty == D(filled)
        assert o.venue_order_id.startswith(pf.ALGO_PREFIX) and o.type.is_conditional
        assert o.stop_price is not None and o.stop_price > 0
        if reason is not None:
            assert o.reason == reason

    return check


def _algo_finished(m: Any) -> None:
    _algo_update(OrderStatus.FILLED, "38")(m)
    o = pf.parse_algo_update(m).order
    assert (o.client_id, o.venue_order_id, o.type, o.avg_price, o.stop_price) == (
        "O-20251211-053131-TEST-000-1",
        "algo:1000000033225453",
        OrderType.STOP_MARKET,
        D("0.13856"),
        D("0.13855"),
    )


def _account_update(m: Any) -> None:
    bal, pos = pf.parse_account_update(m, leverage={"BTCUSDT": D(10)})
    assert (bal.snapshot, pos.snapshot, bal.ts) == (False, False, 1564745798939)
    assert [(b.asset, b.total) for b in bal.balances] == [("USDT", D("122624.12345678"))]
    flat, long, short = pos.positions
    assert (flat.is_flat, flat.realized_pnl, flat.margin_mode) == (True, D(200), MarginMode.ISOLATED)
    assert (long.side, long.qty, long.entry_price, long.leverage) == (
        PositionSide.LONG,
        D(20),
        D("6563.6"),
        D(10),
    )
    assert long.unrealized_pnl == D("2850.212")  # mark derived from up
    assert (short.side, short.qty, short.signed_qty, short.realized_pnl) == (
        PositionSide.SHORT,
        D(10),
        D(-10),
        D("-45.04"),
    )
    assert short.unrealized_pnl == D("-1423.156")


def _account_update_bnfcr(m: Any) -> None:
    bal, pos = pf.parse_account_update(m)
    assert [(b.asset, b.total) for b in bal.balances] == [
        ("BNFCR", D("5001.28983031"))
    ] and pos.positions == ()


_STATS = "market statistics endpoint: the terminal does not use it"
_TRADE_LITE = (
    "TRADE_LITE duplicates ORDER_TRADE_UPDATE TRADE without fee/realized pnl; the adapter ignores it"
)

PARSED: dict[str, Callable[[Any], None]] = {
    # REST market data
    _BR + "http_futures_market_agg_trades.json": _rest_agg_trades,
    _BR + "http_futures_market_book_ticker.json": _rest_book_ticker,
    _BR + "http_futures_market_depth.json": _depth,
    _BR + "http_futures_market_exchange_info.json": _exchange_info,
    _BR + "http_futures_market_funding_rate.json": _funding_rate,
    _BR + "http_futures_market_klines.json": _kline_rows,
    _BR + "http_futures_market_continuous_klines.json": _other_kline_rows,
    _BR + "http_futures_market_index_price_klines.json": _other_kline_rows,
    _BR + "http_futures_market_mark_price_klines.json": _other_kline_rows,
    _BR + "http_futures_market_blvt_nav_kline.json": _other_kline_rows,
    _BR + "http_futures_market_premium_index.json": _premium_index,
    _BR + "http_futures_market_ticker_24hr.json": _rest_ticker,
    _BR + "http_futures_market_ticker_price.json": _ticker_price,
    _BR + "http_futures_market_trades.json": _rest_trades,
    _BR + "http_futures_market_historical_trades.json": _rest_trades,
    # REST account
    _BR + "http_futures_account_orders.json": _account_orders,
    _BR + "http_futures_account_position_side_dual.json": _position_side_dual,
    _BR + "http_futures_account_positions_hedge.json": _positions_hedge,
    _BR + "http_futures_account_positions_one_way.json": _positions_one_way,
    _BR + "http_futures_account_symbol_config.json": _symbol_config,
    _BR + "http_futures_account_trades.json": _account_trades,
    _FH + "account_info_v2.json": _account_v2,
    _FH + "balance.json": _balance,
    _FH + "open_algo_orders.json": _open_algo_orders,
    _FH + "order_response.json": _order_response,
    _FH + "position_risk.json": _position_risk_example,
    # streams
    _BW + "ws_futures_book_ticker.json": _book_ticker_stream,
    _BW + "ws_futures_depth_diff_update.json": _depth_diff_small,
    _BW + "ws_futures_depth_update.json": _depth_diff_big,
    _BW + "ws_futures_ticker_24hr.json": _ticker_captured,
    _FM + "agg_trade_stream.json": _agg_trade_stream,
    _FM + "book_ticker_stream.json": _book_ticker_stream,
    _FM + "depth_update_stream.json": _depth_diff_small,
    _FM + "kline_stream_closed.json": _kline_closed,
    _FM + "kline_stream_open.json": _kline_open,
    _FM + "mark_price_stream.json": _mark_price_stream,
    _FM + "ticker_stream.json": _ticker_stream,
    _FM + "trade_stream.json": _trade_stream,
    # user data
    _FU + "order_update_new.json": _ou_new_trailing,
    _FU + "order_update_trade.json": _ou_trade,
    _FU + "order_update_trade_partial.json": _ou_trade_partial,
    _FU + "order_update_calculated.json": _ou_forced(OrderStatus.FILLED, "0.06937084", "-5.67"),
    _FU + "order_update_calculated_pending.json": _ou_calculated_pending,
    _FU + "order_update_adl.json": _ou_forced(OrderStatus.FILLED, "0.105", "-2.50"),
    _FU + "order_update_insurance.json": _ou_forced(OrderStatus.FILLED, "0.45", None),
    _FU + "order_update_settlement.json": _ou_forced(OrderStatus.FILLED, "0.25", "-10.00"),
    _FU + "order_update_delivery.json": _ou_forced(OrderStatus.FILLED, "0", None),
    _FU + "account_update.json": _account_update,
    _FU + "account_update_bnfcr.json": _account_update_bnfcr,
    _FU + "algo_update_new.json": _algo_update(OrderStatus.UNTRIGGERED, "0"),
    _FU + "algo_update_canceled.json": _algo_update(OrderStatus.CANCELED, "0", "Reduce Only reject"),
    _BW + "ws_futures_algo_update_triggering.json": _algo_update(OrderStatus.NEW, "0"),
    _BW + "ws_futures_algo_update_triggered.json": _algo_update(OrderStatus.NEW, "0"),
    _BW + "ws_futures_algo_update_finished.json": _algo_finished,
    _BW + "ws_futures_algo_update_finished_canceled.json": _algo_update(OrderStatus.CANCELED, "0"),
    _BW + "ws_futures_order_update_adl.json": _ou_forced(OrderStatus.FILLED, "2.5", None),
    _BW + "ws_futures_order_update_adl_filled.json": _ou_forced(OrderStatus.FILLED, "2.5", None),
    _BW + "ws_futures_order_update_liquidation.json": _ou_forced(OrderStatus.FILLED, "5", None),
    _BW + "ws_futures_order_update_liquidation_zero_qty.json": _ou_liquidation_zero,
    _BW + "ws_futures_order_update_settlement.json": _ou_forced(OrderStatus.FILLED, "2.55", None),
    _BW + "ws_futures_order_update_trade_reduce_only_qty.json": _ou_trade_reduce_only,
    _BW + "ws_futures_order_update_new_price_match.json": _ou_captured_new(
        {
            "type": OrderType.LIMIT,
            "price": D("2495.50"),
            "position_side": PositionSide.LONG,
            "stop_price": None,
        }
    ),
    _BW + "ws_futures_order_update_new_reduce_only_qty.json": _ou_captured_new(
        {"reduce_only": True, "side": Side.SELL, "qty": D(1), "price": D(2500)}
    ),
    _BW + "ws_futures_order_update_new_stop_limit_price_match.json": _ou_captured_new(
        {
            "type": OrderType.STOP_LIMIT,
            "price": D("2405.75"),
            "stop_price": D(2400),
            "position_side": PositionSide.SHORT,
        }
    ),
    _BW + "ws_futures_order_update_new_limit_if_touched_price_match.json": _ou_captured_new(
        {"type": OrderType.TAKE_PROFIT_LIMIT, "price": D("2505.25"), "stop_price": D(2500)}
    ),
}

EXEMPT: dict[str, str] = {
    _BR + "http_futures_market_asset_index.json": _STATS,
    _BR + "http_futures_market_global_long_short_account_ratio.json": _STATS,
    _BR + "http_futures_market_index_info.json": _STATS,
    _BR + "http_futures_market_open_interest.json": _STATS,
    _BR + "http_futures_market_open_interest_historical.json": _STATS,
    _BR + "http_futures_market_taker_long_short_ratio.json": _STATS,
    _BR + "http_futures_market_top_long_short_account_ratio.json": _STATS,
    _BR + "http_futures_market_top_long_short_position_ratio.json": _STATS,
    _BR
    + "http_futures_wallet_commission_rate_btcusdt.json": "fees come with each fill (n/N); rates not modelled",
    _BR
    + "http_futures_wallet_commission_rate_btcusdt_quarterly.json": "fees come with each fill; rates not modelled",
    _BR + "http_futures_wallet_commission_rate_ethusdt.json": "fees come with each fill; rates not modelled",
    _BW + "ws_futures_trade_lite.json": _TRADE_LITE,
    _FU + "trade_lite.json": _TRADE_LITE,
    _FM + "liquidation_stream.json": "forceOrder (others' liquidations) stream: not consumed by the terminal",
}


@pytest.mark.parametrize("relpath", _futures_fixtures())
def test_every_futures_fixture_is_handled(relpath: str) -> None:
    if relpath in EXEMPT:
        assert EXEMPT[relpath]
        return
    assert relpath in PARSED, f"{relpath}: neither parsed nor exempted in test_binance_futures_parse.py"
    PARSED[relpath](load_fixture(relpath))


def test_registry_names_only_existing_files() -> None:
    present = set(_futures_fixtures())
    assert not (set(PARSED) | set(EXEMPT)) - present
    assert not set(PARSED) & set(EXEMPT)


def test_unknown_status_and_type_raise() -> None:
    m = load_fixture(_FU + "order_update_new.json")
    bad = {**m, "o": {**m["o"], "X": "SOMETHING_NEW"}}
    with pytest.raises(ValueError, match="status"):
        pf.parse_order_trade_update(bad)
    bad = {**m, "o": {**m["o"], "ot": "WEIRD", "o": "WEIRD"}}
    with pytest.raises(ValueError, match="type"):
        pf.parse_order_trade_update(bad)


def test_triggered_conditional_keeps_its_algo_id() -> None:
    """ORDER_TRADE_UPDATE of a triggered algo order names the parent in ``si``: one venue id per order."""
    m = load_fixture(_FU + "order_update_trade.json")
    m = {**m, "o": {**m["o"], "o": "MARKET", "ot": "STOP_MARKET", "si": 1000000000000007, "sp": "7000"}}
    u = pf.parse_order_trade_update(m)
    assert u.report.order.venue_order_id == "algo:1000000000000007" == u.fill.venue_order_id
    assert u.report.order.type is OrderType.STOP_MARKET

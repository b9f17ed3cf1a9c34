"""Binance endpoints per network: live, testnet, or a custom base URL (the local simulator).

All three go through the same code path: the REST client gets these as its URL class attributes
(``testnet=False`` always, so python-binance's own testnet switches never pick a URL), and the
streaming layer builds its websocket URLs from the same object.
"""

from __future__ import annotations

from dataclasses import dataclass

from terminal.venues.base import Network, VenueConfig

__all__ = ["BinanceUrls", "binance_urls"]


@dataclass(frozen=True, slots=True)
class BinanceUrls:
    api: str  # spot REST root: {api}/v3/...
    futures: str  # USDⓈ-M REST root: {futures}/v1/...
    futures_data: str  # {futures_data}/... (ratios, open interest history)
    ws_api: str  # spot WebSocket API (user data subscription)
    ws_futures_api: str  # futures WebSocket API
    spot_stream: str  # spot market streams: {spot_stream}/stream?streams=a/b, {spot_stream}/ws/a
    futures_stream: str  # futures streams: {futures_stream}/{public|market|private}/...


_LIVE = BinanceUrls(
    api="https://api.binance.com/api",
    futures="https://fapi.binance.com/fapi",
    futures_data="https://fapi.binance.com/futures/data",
    ws_api="wss://ws-api.binance.com:443/ws-api/v3",
    ws_futures_api="wss://ws-fapi.binance.com/ws-fapi/v1",
    spot_stream="wss://stream.binance.com:9443",
    futures_stream="wss://fstream.binance.com",
)

_TESTNET = BinanceUrls(
    api="https://testnet.binance.vision/api",
    futures="https://testnet.binancefuture.com/fapi",
    futures_data="https://testnet.binancefuture.com/futures/data",
    ws_api="wss://ws-api.testnet.binance.vision/ws-api/v3",
    ws_futures_api="wss://testnet.binancefuture.com/ws-fapi/v1",
    spot_stream="wss://stream.testnet.binance.vision",
    futures_stream="wss://stream.binancefuture.com",
)


def _custom(base_url: str) -> BinanceUrls:
    http = base_url.rstrip("/")
    ws = "ws" + http.removeprefix("http")  # http->ws, https->wss
    return BinanceUrls(
        api=f"{http}/api",
        futures=f"{http}/fapi",
        futures_data=f"{http}/futures/data",
        ws_api=f"{ws}/ws-api/v3",
        ws_futures_api=f"{ws}/ws-fapi/v1",
        spot_stream=ws,
        futures_stream=ws,
    )


def binance_urls(config: VenueConfig) -> BinanceUrls:
    if config.network is Network.LIVE:
        return _LIVE
    if config.network is Network.TESTNET:
        return _TESTNET
    assert config.base_url is not None  # VenueConfig enforces it for CUSTOM
    return _custom(config.base_url)

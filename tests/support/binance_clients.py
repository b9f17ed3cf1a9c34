"""The real python-binance clients, pointed at the local simulator (PROTOCOLS.md §1)."""

from __future__ import annotations

from binance import AsyncClient, BinanceSocketManager


async def make_async_client(base_http: str, api_key: str, api_secret: str) -> AsyncClient:
    """An unmodified ``AsyncClient`` whose URL class attributes point at ``base_http``.

    ``create()`` pings and fetches the server time, so the simulator must be listening.
    """
    ws = base_http.replace("http://", "ws://", 1)

    class SimAsyncClient(AsyncClient):
        API_URL = f"{base_http}/api"
        FUTURES_URL = f"{base_http}/fapi"
        FUTURES_DATA_URL = f"{base_http}/futures/data"
        WS_API_URL = f"{ws}/ws-api/v3"
        WS_FUTURES_URL = f"{ws}/ws-fapi/v1"

    return await SimAsyncClient.create(api_key, api_secret, testnet=False)


def make_socket_manager(client: AsyncClient, base_http: str, **kwargs) -> BinanceSocketManager:
    ws = base_http.replace("http://", "ws://", 1)

    class SimSocketManager(BinanceSocketManager):
        STREAM_URL = f"{ws}/"
        FSTREAM_URL = f"{ws}/"

    return SimSocketManager(client, **kwargs)

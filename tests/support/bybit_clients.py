"""The real pybit clients, pointed at the local simulator (PROTOCOLS.md §1).

pybit is blocking (requests, websocket-client threads): call it from an executor in
async tests.
"""

from __future__ import annotations

import pybit.unified_trading as ut
from pybit.unified_trading import HTTP, WebSocket


def make_http(base_http: str, api_key: str = "", api_secret: str = "", **kwargs) -> HTTP:
    session = HTTP(testnet=False, api_key=api_key or None, api_secret=api_secret or None, **kwargs)
    session.endpoint = base_http
    return session


def make_ws(
    base_http: str, channel_type: str, api_key: str = "", api_secret: str = "", **kwargs
) -> WebSocket:
    """Construct a pybit WebSocket (it connects in __init__) against the simulator."""
    ws = base_http.replace("http://", "ws://", 1)
    ut.PUBLIC_WSS = f"{ws}/v5/public/{{CHANNEL_TYPE}}"
    ut.PRIVATE_WSS = f"{ws}/v5/private"
    if channel_type == "private":
        return WebSocket(
            testnet=False, channel_type="private", api_key=api_key, api_secret=api_secret, **kwargs
        )
    return WebSocket(testnet=False, channel_type=channel_type, **kwargs)

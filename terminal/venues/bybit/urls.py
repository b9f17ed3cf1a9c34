"""Where Bybit lives per ``Network``: live, testnet, or a custom base URL (the simulator).

All three go through the same code path; only these strings differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from terminal.venues.base import Network, VenueConfig

__all__ = ["BybitUrls", "urls_for"]

_LIVE = ("https://api.bybit.com", "wss://stream.bybit.com")
_TESTNET = ("https://api-testnet.bybit.com", "wss://stream-testnet.bybit.com")


@dataclass(frozen=True, slots=True)
class BybitUrls:
    rest: str  # e.g. https://api.bybit.com (paths start with /v5/...)
    ws: str  # e.g. wss://stream.bybit.com

    def public_ws(self, category: str) -> str:
        return f"{self.ws}/v5/public/{category}"

    @property
    def private_ws(self) -> str:
        return f"{self.ws}/v5/private"


def urls_for(config: VenueConfig) -> BybitUrls:
    if config.network is Network.LIVE:
        return BybitUrls(*_LIVE)
    if config.network is Network.TESTNET:
        return BybitUrls(*_TESTNET)
    assert config.base_url is not None and config.ws_base_url is not None  # VenueConfig checks
    return BybitUrls(config.base_url.rstrip("/"), config.ws_base_url.rstrip("/"))

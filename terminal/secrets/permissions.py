"""What a key may do, from the venue's own account/key answers (pure parsing + one fetch).

* Binance (spot ``GET /api/v3/account``, USDⓈ-M ``GET /fapi/v2/account``): the account's
  ``canTrade`` / ``canWithdraw`` flags (account level; Binance reports per-key restrictions
  only on ``/sapi``, which testnets do not serve).
* Bybit ``GET /v5/user/query-api``: the key's own ``readOnly``, permission groups and IP list.

A trading key should trade and not withdraw; the summary warns when a key (Bybit) can withdraw.
Binance's account flags say what the account allows, not this key, so they get no warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from terminal.model import Venue
from terminal.venues.base import VenueConfig

__all__ = ["KeyPermissions", "fetch_permissions", "from_binance_account", "from_bybit_query_api"]

_BINANCE = (Venue.BINANCE_SPOT, Venue.BINANCE_USDM)


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    trade: bool | None  # None: not reported
    withdraw: bool | None
    ip_restricted: bool | None = None
    scope: str = "key"  # "key" (per-key permissions) or "account" (account-level flags)
    groups: tuple[str, ...] = ()  # the venue's permission names, e.g. ("SPOT",) or ("Spot:SpotTrade",)

    def summary(self) -> str:
        withdraw = f"withdrawals {_yes_no(self.withdraw)}"
        if self.withdraw and self.scope == "key":
            withdraw = "withdrawals ENABLED (a trading key should not allow them)"
        parts = [f"{self.scope} permissions: trading {_yes_no(self.trade)}", withdraw]
        if self.ip_restricted is not None:
            parts.append("IP-restricted" if self.ip_restricted else "no IP restriction")
        if self.groups:
            parts.append("[" + ", ".join(self.groups[:6]) + (", …" if len(self.groups) > 6 else "") + "]")
        return "; ".join(parts)


def _yes_no(flag: bool | None) -> str:
    return "not reported" if flag is None else ("allowed" if flag else "not allowed")


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def from_binance_account(doc: Mapping[str, Any]) -> KeyPermissions:
    """Spot ``/api/v3/account`` or futures ``/fapi/v2/account``: account-level flags."""
    groups = tuple(str(p) for p in doc.get("permissions") or ())
    return KeyPermissions(
        trade=_flag(doc.get("canTrade")),
        withdraw=_flag(doc.get("canWithdraw")),
        scope="account",
        groups=groups,
    )


def from_bybit_query_api(result: Mapping[str, Any]) -> KeyPermissions:
    """The ``result`` of ``/v5/user/query-api``: the key's own permissions."""
    perms: Mapping[str, Any] = result.get("permissions") or {}
    groups = tuple(f"{area}:{name}" for area, names in perms.items() for name in names or ())
    read_only = result.get("readOnly")
    ips = [str(ip) for ip in result.get("ips") or ()]
    return KeyPermissions(
        trade=None if read_only is None else not bool(int(read_only)),
        withdraw="Withdraw" in (perms.get("Wallet") or ()),
        ip_restricted=bool(ips) and ips != ["*"],
        scope="key",
        groups=groups,
    )


async def fetch_permissions(config: VenueConfig) -> KeyPermissions:
    """One signed request to the venue's account/key endpoint; raises ``VenueError`` on failure."""
    if config.venue in _BINANCE:
        from terminal.venues.binance.client import BinanceApi, BinanceRest

        rest = BinanceRest(config)
        try:
            await rest.open()
            if config.venue is Venue.BINANCE_SPOT:
                doc = await rest.call("GET", "account", signed=True)
            else:
                doc = await rest.call("GET", "account", signed=True, api=BinanceApi.FUTURES, version=2)
        finally:
            await rest.close()
        return from_binance_account(doc)

    from terminal.venues.bybit.rest import BybitRest
    from terminal.venues.bybit.urls import urls_for
    from terminal.venues.ratelimit import RateGate

    bybit = BybitRest(
        config.venue,
        urls_for(config).rest,
        config.credentials,
        gate=RateGate(config.venue, weight_limit=10**9),
        timeout_s=config.request_timeout_s,
    )
    try:
        await bybit.start()
        result = await bybit.get("/v5/user/query-api")
    finally:
        await bybit.close()
    return from_bybit_query_api(result)

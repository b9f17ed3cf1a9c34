"""Test connection: does this key pair open the account on that venue and network?

Builds the venue's real adapter (the same one the app trades through), starts it (clock and
instruments), fetches balances with the keys — a signed request — and closes it again; then
asks the venue what the key may do (``permissions``: trading, withdrawals, IP restriction).
Success returns one line for the settings dialog; failure raises with the venue's own error text
(``VenueError``: bad key, bad signature, IP not allowed...) or ``ConnectionTestFailed`` for a
network problem. Neither ever contains the key or the secret.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from terminal.model import Balance, Venue
from terminal.venues.base import ApiCredentials, Network, VenueConfig
from terminal.venues.errors import VenueError

__all__ = ["ConnectionTestFailed", "summarize_balances", "test_connection"]

_SHOWN_ASSETS = 4


class ConnectionTestFailed(Exception):
    """The venue could not be reached (or answered nonsense); the message says why."""


def summarize_balances(balances: list[Balance]) -> str:
    held = sorted((b for b in balances if b.total > 0), key=lambda b: (-b.total, b.asset))
    if not held:
        return "the account holds no assets"
    shown = ", ".join(f"{b.asset} {_fmt(b.total)}" for b in held[:_SHOWN_ASSETS])
    more = f" and {len(held) - _SHOWN_ASSETS} more" if len(held) > _SHOWN_ASSETS else ""
    return f"{len(held)} asset{'s' if len(held) != 1 else ''} held: {shown}{more}"


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


async def test_connection(
    venue: Venue,
    network: Network,
    creds: ApiCredentials,
    *,
    base_url: str | None = None,
    timeout_s: float = 20.0,
) -> str:
    """One line such as ``"OK: binance_spot testnet — key accepted; account permissions: trading
    allowed; withdrawals not allowed; [SPOT]; 3 assets held: ..."``.

    ``base_url`` with ``Network.CUSTOM`` points the adapter elsewhere (the local simulator).
    """
    from terminal.app import adapter_class

    config = VenueConfig(
        venue=venue, network=network, base_url=base_url, credentials=creds, request_timeout_s=timeout_s
    )
    adapter = adapter_class(venue)(config, lambda _event: None)  # no streams: nothing to emit
    try:
        async with asyncio.timeout(timeout_s):
            await adapter.start()
            balances = await adapter.fetch_balances()
    except VenueError:
        raise  # the venue's own words (code + message); never carries keys
    except TimeoutError:
        raise ConnectionTestFailed(f"{venue} {network}: no answer within {timeout_s:.0f} s") from None
    except Exception as exc:  # DNS, refused connection, TLS, unexpected payload
        detail = f"{type(exc).__name__}: {exc}".replace(creds.secret, "***").replace(creds.key, "***")
        raise ConnectionTestFailed(f"{venue} {network}: cannot connect ({detail})") from None
    finally:
        await adapter.close()
    rights = await _permissions(config, creds, timeout_s)
    return f"OK: {venue} {network} — key accepted; {rights}; {summarize_balances(balances)}"


async def _permissions(config: VenueConfig, creds: ApiCredentials, timeout_s: float) -> str:
    """Best effort: the key works (balances came back); what it may do is extra information."""
    from terminal.secrets.permissions import fetch_permissions

    try:
        async with asyncio.timeout(timeout_s):
            return (await fetch_permissions(config)).summary()
    except Exception as exc:  # e.g. an endpoint a testnet (or the simulator) does not serve
        detail = str(exc).replace(creds.secret, "***").replace(creds.key, "***")
        return f"permissions not reported ({detail})"


# ``test_*`` at module level would be collected by pytest if a test imported it by name.
test_connection.__test__ = False  # type: ignore[attr-defined]

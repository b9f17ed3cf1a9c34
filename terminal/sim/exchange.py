"""The simulated exchange: four markets, credentials, faults, shared by all protocol servers."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from terminal.model.enums import Venue
from terminal.sim.faults import FaultController
from terminal.sim.instruments import DEFAULT_SYMBOLS


@dataclass(slots=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    api_key: str = ""  # generated when empty
    api_secret: str = ""
    history_days: int = 14  # 1m candle history generated before "now"
    depth_rate: float = 400.0  # target depth-level changes per second per symbol and market
    generator: bool = True  # False: books only move through user orders (deterministic tests)
    # terminal.sim.replay.ReplaySpec: the markets replay a recording instead of the random walk
    replay: object | None = None
    spot_balances: dict[str, Decimal] = field(
        default_factory=lambda: {
            "USDT": Decimal("100000"),
            "BTC": Decimal("1"),
            "ETH": Decimal("10"),
            "SOL": Decimal("100"),
            "BNB": Decimal("50"),
            "XRP": Decimal("10000"),
            "DOGE": Decimal("50000"),
        }
    )
    futures_balance: Decimal = Decimal("100000")  # USDT


@dataclass(slots=True, frozen=True)
class Credentials:
    api_key: str
    api_secret: str
    account_id: str


def generate_credentials(account_id: str = "demo") -> Credentials:
    return Credentials(secrets.token_hex(32), secrets.token_hex(32), account_id)


class SimExchange:
    """Holds the markets (``markets[Venue]``), the accounts' credentials and the faults."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.faults = FaultController()
        self.credentials: dict[str, Credentials] = {}
        self.markets: dict = {}  # Venue -> SimMarket, built by terminal.sim.build
        self.generator = None  # MarketGenerator, set by terminal.sim.build
        self.generator_task = None
        key = config.api_key or secrets.token_hex(32)
        secret = config.api_secret or secrets.token_hex(32)
        self.add_credentials(Credentials(key, secret, "demo"))

    @property
    def default_credentials(self) -> Credentials:
        return next(iter(self.credentials.values()))

    def add_credentials(self, creds: Credentials) -> None:
        self.credentials[creds.api_key] = creds

    def credentials_for(self, api_key: str | None) -> Credentials | None:
        if not api_key:
            return None
        return self.credentials.get(api_key)

    def market(self, venue: Venue):
        return self.markets[venue]

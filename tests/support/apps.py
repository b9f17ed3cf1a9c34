"""AppConfig for a demo App against a simulator the test runs (``AppConfig.sim_url``): the
simulator outlives the App, and the test moves prices / injects faults through its Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from terminal.app import AppConfig, Mode
from terminal.model import Venue
from terminal.sim.server import RunningSim
from terminal.venues.base import ApiCredentials


def external_demo(
    running: RunningSim, data_dir: Path, venues: tuple[Venue, ...], symbols: tuple[str, ...], **kw: Any
) -> AppConfig:
    c = running.exchange.default_credentials
    key = ApiCredentials(c.api_key, c.api_secret)
    kw.setdefault("candle_history", 50)
    return AppConfig(
        mode=Mode.DEMO,
        venues=venues,
        symbols=symbols,
        data_dir=data_dir,
        sim_url=running.url,
        credentials=dict.fromkeys(venues, key),
        **kw,
    )

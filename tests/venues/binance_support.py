"""Shared fixtures for the Binance adapter tests: a simulator and a VenueConfig pointing at it.

Import the fixtures into a test module (``from tests.venues.binance_support import sim, ...``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from terminal.model import Venue
from terminal.sim.exchange import SimConfig
from terminal.sim.server import RunningSim, start_sim
from terminal.venues.base import ApiCredentials, Network, VenueConfig

__all__ = [
    "live_sim",
    "sim",
    "sim_config",
    "start_test_sim",
    "venue_config",
    "wait_for",
]


async def start_test_sim(generator: bool = False, **kwargs: Any) -> RunningSim:
    return await start_sim(
        SimConfig(generator=generator, history_days=kwargs.pop("history_days", 1), **kwargs)
    )


def venue_config(running: RunningSim, venue: Venue, *, credentials: bool = True, **kw: Any) -> VenueConfig:
    """A CUSTOM-network config for ``running`` with its default account's key pair.

    Small staleness and timeouts keep fault tests fast."""
    creds = running.exchange.default_credentials
    kw.setdefault("stale_after_s", 1.0)
    kw.setdefault("request_timeout_s", 5.0)
    return VenueConfig(
        venue=venue,
        network=Network.CUSTOM,
        base_url=running.url,
        credentials=ApiCredentials(creds.api_key, creds.api_secret) if credentials else None,
        **kw,
    )


sim_config = venue_config  # alias


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    """Static books (no generator): deterministic."""
    running = await start_test_sim(generator=False)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def live_sim() -> AsyncIterator[RunningSim]:
    """The market generator runs: books and trades move."""
    running = await start_test_sim(generator=True)
    try:
        yield running
    finally:
        await running.stop()


async def wait_for(pred: Callable[[], bool], timeout: float = 8.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)

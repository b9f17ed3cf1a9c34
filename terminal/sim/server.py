"""The simulator's aiohttp application: every venue's REST and WebSocket on one port."""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass

from aiohttp import web

from terminal.sim.exchange import SimConfig, SimExchange

log = logging.getLogger(__name__)

# Each protocol module exposes ``setup(app, exchange)``: it adds its routes and its
# publishers (started/stopped with the app's on_startup/on_cleanup hooks).
PROTOCOL_MODULES = (
    "terminal.sim.binance_spot",
    "terminal.sim.binance_futures",
    "terminal.sim.bybit",
    "terminal.sim.control",
)

EXCHANGE_KEY = web.AppKey("exchange", SimExchange)


def build_app(exchange: SimExchange) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app[EXCHANGE_KEY] = exchange
    for name in PROTOCOL_MODULES:
        module = importlib.import_module(name)
        module.setup(app, exchange)
    return app


@dataclass(slots=True)
class RunningSim:
    exchange: SimExchange
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def stop(self) -> None:
        from terminal.sim.build import stop_exchange

        await stop_exchange(self.exchange)
        await self.runner.cleanup()


async def start_sim(config: SimConfig | None = None) -> RunningSim:
    """Build the markets, start the generator and serve on ``config.host:config.port`` (0: free port)."""
    from terminal.sim.build import build_exchange, start_exchange

    config = config or SimConfig()
    exchange = build_exchange(config)
    app = build_app(exchange)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    await start_exchange(exchange)
    return RunningSim(exchange, runner, config.host, port)


async def serve_forever(config: SimConfig) -> None:
    sim = await start_sim(config)
    print(f"ready {sim.url}", flush=True)
    if not config.api_key:
        log.info("demo credentials generated; GET %s/sim/credentials returns them", sim.url)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()

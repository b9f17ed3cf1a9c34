"""Builds the automation stack on a started ``App``: strategy ledger, sizer, exit watcher,
scheduler, intent executor, strategy host and (when configured) the webhook listener.

Kept out of ``App`` so the composition root stays a list of parts; ``App`` calls
``Automation.start`` after its OMS and bracket manager exist and ``stop`` before them.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from terminal.automation.arming import ArmedStore
from terminal.automation.context import market_price
from terminal.automation.executor import IntentExecutor
from terminal.automation.host import StrategyHost
from terminal.automation.ledger import StrategyLedger
from terminal.automation.sizer import EngineSizer
from terminal.model import Venue
from terminal.ops import Ops, OpsConfig
from terminal.ops.listener import OpsListener, OpsListenerError
from terminal.signals.server import WebhookConfig, WebhookError, WebhookServer
from terminal.signals.verify import KeyLoadError
from terminal.trading.exits import ExitWatcher
from terminal.trading.scheduler import Scheduler
from terminal.trading.sizing import SizingConfig

__all__ = ["Automation", "AutomationConfig"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AutomationConfig:
    sizing: SizingConfig = field(default_factory=SizingConfig)
    webhook: WebhookConfig | None = None  # None: no listener
    webhook_venue: Venue | None = None  # generic hooks' orders go here; None: the session's first venue
    max_leverage: int = 5
    ops: OpsConfig = field(default_factory=OpsConfig)  # /metrics, /healthz rule


class Automation:
    def __init__(self, app: Any, config: AutomationConfig) -> None:
        self.app = app
        self.config = config
        # First on the bus: the correlation id must be set before the host spawns intent tasks.
        self.ops = Ops(app, config.ops)
        self.ledger = StrategyLedger(app.journal, app.oms.risk.pnl)
        self.exits = ExitWatcher(app.oms, app.bus, brackets=app.brackets)
        self.scheduler = Scheduler()
        self.executor = IntentExecutor(
            app.oms,
            app.brackets,
            self.ledger,
            app.bus,
            EngineSizer(config.sizing, app.engine, app.adapters),
            price_of=functools.partial(market_price, app.engine),
            exits=self.exits,
            max_leverage=config.max_leverage,
        )
        self.host = StrategyHost(
            bus=app.bus,
            engine=app.engine,
            executor=self.executor,
            ledger=self.ledger,
            store=ArmedStore(app.data_dir),
            watch=app.watch,
            adapters=app.adapters,
            live=app.config.mode.value == "live",
            scheduler=self.scheduler,
            default_venue=config.webhook_venue or next(iter(app.adapters), None),
        )
        self.webhooks: WebhookServer | None = None
        self.ops_listener: OpsListener | None = None  # /metrics, /healthz when there is no webhook listener
        self.problems: list[str] = []

    async def start(self) -> None:
        restored = self.exits.restore()  # after the bracket manager's restore (App builds that first)
        if restored:
            log.info("restored %d local exit(s) from the journal", len(restored))
        self.problems = await self.host.start()
        cfg = self.config.webhook
        if cfg is None and self.config.ops.listen_port is not None:
            from terminal.app import AppError

            listener = OpsListener(self.ops, self.config.ops.listen_host, self.config.ops.listen_port)
            try:
                await listener.start()
            except OpsListenerError as exc:
                raise AppError(str(exc)) from exc
            self.ops_listener = listener
        if cfg is not None:
            keystore = None
            if cfg.generic_hooks:
                from terminal.secrets import default_keystore

                keystore = self.app.config.keystore or default_keystore()
            from terminal.app import AppError

            try:
                server = WebhookServer(
                    cfg,
                    bus=self.app.bus,
                    journal=self.app.journal,
                    secret_for=_secret_lookup(keystore),
                    health_extra=self.health,
                )
                self.ops.install(server)  # GET /metrics, GET /healthz (200/503 by the ops rule)
                await server.start()
            except (WebhookError, KeyLoadError) as exc:  # port taken, unreadable key: say which
                raise AppError(f"webhook listener: {exc}") from exc
            self.webhooks = server
            log.info(
                "webhook listener at %s (MarketRaker: %s)", self.webhooks.url, self.webhooks.marketraker_url
            )

    def health(self) -> dict[str, Any]:
        app = self.app
        return {
            "mode": app.config.mode.value,
            "trading_state": str(app.oms.risk.state) if app.oms is not None else None,
            "feeds": {k: str(v.state) for k, v in app.engine.feed_statuses().items()},
            "armed": [str(k) for k in self.host.armed],
        }

    async def settle(self) -> None:
        await self.host.settle()
        await self.executor.settle()
        await self.exits.settle()

    async def stop(self) -> None:
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.ops_listener is not None:
            await self.ops_listener.stop()
        await self.host.close()
        await self.scheduler.close()
        self.exits.close()
        self.ops.close()


def _secret_lookup(keystore: Any) -> Any:
    """Generic hooks' HMAC secrets from the key store, cached (called per request)."""
    if keystore is None:
        return None
    cache: dict[str, str | None] = {}

    def secret_for(hook: str) -> str | None:
        if hook not in cache:
            try:
                cache[hook] = keystore.secret(f"webhook:{hook}")
            except Exception as exc:
                log.error("webhook %s: its secret could not be read (%s)", hook, exc)
                return None
        return cache[hook]

    return secret_for

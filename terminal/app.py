"""Composition root: build and run the headless trading core for one mode.

demo    the simulator on 127.0.0.1 (free port) with its generated credentials; the four
        markets' real adapters point at it (``Network.CUSTOM``). ``AppConfig.sim_process``: in a
        child process (``CHILD``, what the window runs: "another machine" with its own GIL, so
        the GUI loop does not pay for it; ``spawn_sim()`` boots it while the window is built) or
        in this process (``INPROCESS``, the default for headless runs and tests, whose faults and
        inspection go through ``app.sim.exchange``). ``AppConfig.sim_url``
        instead connects to an already running simulator (``terminal sim``) with the keys in
        ``AppConfig.credentials``: tests and power users whose simulator must outlive the App.
paper   real public market data (no keys), orders matched locally by ``PaperBroker``;
        ``paper_data=CUSTOM`` takes the data from an in-process simulator instead (offline).
testnet / live   the venues' networks with API keys: ``AppConfig.credentials`` first, else the
        key store (OS keyring or the unlocked encrypted key file, ``terminal.secrets``); a venue
        without keys refuses to start and names the settings dialog. Live keys from the store
        also need ``AppConfig.live_opt_in`` (set after the UI's explicit opt-in).

Order of start: event bus -> engine -> adapters (start: clock + instruments) -> journal ->
order manager + bracket manager (restored from the journal) -> user streams -> market streams
-> candle history. ``stop()`` undoes it in reverse and is idempotent; a failure during start
stops what was started. ``watch()`` adds a market to a running App (the symbol search).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from terminal.bus import EventBus
from terminal.engine import Engine
from terminal.model import Venue
from terminal.venues.base import ApiCredentials, Network, VenueAdapter, VenueConfig
from terminal.venues.errors import VenueError
from terminal.venues.events import EventSink, FeedEvent

__all__ = [
    "MARKETS",
    "App",
    "AppConfig",
    "AppError",
    "HeadlessReporter",
    "Mode",
    "SimProcess",
    "default_data_dir",
    "run_headless",
]

log = logging.getLogger(__name__)

MARKETS: tuple[Venue, ...] = (Venue.BINANCE_SPOT, Venue.BINANCE_USDM, Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR)

# Imported lazily: the adapters pull in their wire code only when a mode needs them.
_ADAPTERS: dict[Venue, tuple[str, str]] = {
    Venue.BINANCE_SPOT: ("terminal.venues.binance.spot", "BinanceSpotAdapter"),
    Venue.BINANCE_USDM: ("terminal.venues.binance.futures", "BinanceFuturesAdapter"),
    Venue.BYBIT_SPOT: ("terminal.venues.bybit.adapter", "BybitAdapter"),
    Venue.BYBIT_LINEAR: ("terminal.venues.bybit.adapter", "BybitAdapter"),
}

_PAPER_BALANCES: dict[str, str] = {"USDT": "100000", "BTC": "1", "ETH": "10"}


class Mode(StrEnum):
    DEMO = "demo"
    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


class SimProcess(StrEnum):
    """Where demo mode (and paper on simulator data) runs the exchange simulator."""

    CHILD = "child"  # its own process: the GUI's loop and GIL stay the UI's
    INPROCESS = "inprocess"  # this process's loop: ``app.sim.exchange`` is the live exchange object


class AppError(RuntimeError):
    """The app cannot start as configured (the message says why and what to do)."""


def default_data_dir(mode: Mode) -> Path:
    """Per-mode directory: a demo journal must never mix with a live one."""
    from platformdirs import user_data_path

    return user_data_path("crypto-terminal") / mode.value


@dataclass(slots=True)
class AppConfig:
    mode: Mode = Mode.DEMO
    venues: tuple[Venue, ...] = MARKETS
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    data_dir: Path | None = None  # None: default_data_dir(mode)
    candle_intervals: tuple[str, ...] = ("1m",)
    candle_history: int = 500
    credentials: Mapping[Venue, ApiCredentials] = field(default_factory=dict)
    paper_data: Network = Network.LIVE
    sim_history_days: int = 1  # demo: 1m history the simulator generates
    sim_seed: int = 1
    sim_process: SimProcess = SimProcess.INPROCESS  # the window sets CHILD (terminal.ui.run)
    sim_depth_rate: float | None = None  # book level changes/s per symbol and market; None: default
    keystore: Any = None  # terminal.secrets.KeyStore for testnet/live keys; None: default_keystore()
    # Live keys from the key store are used only after the user's explicit opt-in (the UI's
    # LiveOptIn dialog sets this): keys merely being stored must never start live trading.
    live_opt_in: bool = False
    # demo only: an already running simulator (e.g. ``terminal sim --api-key K --api-secret S``)
    # instead of the in-process one; its keys go in ``credentials``. The simulator then outlives
    # the App (restart tests, several terminals on one simulated exchange).
    sim_url: str | None = None
    # Strategies, the intent executor and (with ``automation.webhook``) the webhook listener;
    # None: a session without automation (manual trading only).
    automation: Any = field(default_factory=lambda: _default_automation())
    risk_limits: Any = None  # terminal.trading.risk.RiskLimits; None: the permissive defaults
    # terminal.trading.risk_store.StartLimits: where risk_limits came from (--config, the saved
    # settings or none), for the settings tab and the start-up log; None: set by code (tests)
    risk_source: Any = None
    # terminal.notify.NotifyConfig: which events go to the tray, Telegram, email; None: none
    notify: Any = None
    # demo only: terminal.sim.replay.ReplaySpec - the simulator replays this recording instead
    # of its random walk (the user trades against the recorded book and tape)
    replay: Any = None
    # record this session's public trades, candles and books here (terminal.storage.recorder)
    record_dir: Path | None = None
    # the candle store's directory; None: the network's default (terminal.storage.history_dir)
    history_dir: Path | None = None

    def for_mode(self, mode: Mode, *, live_venue: Venue | None = None, keystore: Any = None) -> AppConfig:
        """This (the user's start) config for a new session in ``mode``.

        A journal per mode (a demo journal must never mix with a live one): an explicit data dir
        gets a sub-directory per mode, none means ``default_data_dir(mode)``. Live trades exactly
        the one venue the user opted in for (``live_venue``) and carries that opt-in.
        """
        live = mode is Mode.LIVE
        if live and live_venue is None:
            raise ValueError("a live session needs the venue the user opted in for")
        return replace(
            self,
            mode=mode,
            venues=(live_venue,) if live and live_venue is not None else self.venues,
            data_dir=None if self.data_dir is None else self.data_dir / mode.value,
            live_opt_in=live,
            keystore=keystore if keystore is not None else self.keystore,
            replay=self.replay if mode is Mode.DEMO else None,  # a replay is the demo's market
            record_dir=None,  # a recording is of one session's market: it ends with the session
        )


_STABLE = frozenset({"USDT", "USDC", "FDUSD"})


def _default_automation() -> Any:
    from terminal.automation.wiring import AutomationConfig

    return AutomationConfig()


def adapter_class(venue: Venue) -> type[VenueAdapter]:
    module_name, cls_name = _ADAPTERS[venue]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise AppError(f"the {venue} adapter ({module_name}) is not available yet") from exc
        raise
    return getattr(module, cls_name)


class App:
    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.bus = EventBus()
        self.engine = Engine(self.bus)
        self.adapters: dict[Venue, VenueAdapter] = {}
        # demo: terminal.sim.server.RunningSim (INPROCESS) or terminal.sim.child.SimChild (CHILD)
        self.sim: Any = None
        self._sim_child: Any = None  # the SimChild from spawn_sim(), before start() adopts it
        self.journal: Any = None
        self.oms: Any = None
        self.brackets: Any = None  # terminal.trading.brackets.BracketManager, once the OMS exists
        self.automation: Any = None  # terminal.automation.wiring.Automation, once the OMS exists
        self.pnl_feed: Any = None  # terminal.trading.risk.PnlFeed, with the OMS
        self.notifier: Any = None  # terminal.notify.Notifier when AppConfig.notify is set
        self.tray: Any = None  # the window's notice callable (Notice -> None); headless: a log line
        self._summaries: asyncio.Task[None] | None = None
        self.recorder: Any = None  # terminal.storage.recorder.Recorder with AppConfig.record_dir
        self.data_dir = config.data_dir or default_data_dir(config.mode)
        self._started = False
        self._stopped = False
        # (venue, symbol) -> its watch_market + track_candles; done ones are watched markets
        self._watches: dict[tuple[Venue, str], asyncio.Future[None]] = {}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            raise RuntimeError("App.start() called twice")
        self._started = True
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cfg = self.config
        classes = {v: adapter_class(v) for v in cfg.venues}  # fail before starting anything
        base_url, creds = await self._network()
        for venue in cfg.venues:
            self.adapters[venue] = self._build(classes, venue, base_url, creds.get(venue))
        await asyncio.gather(*(a.start() for a in self.adapters.values()))
        for adapter in self.adapters.values():
            self.engine.attach(adapter)
        if cfg.record_dir is not None:
            self._start_recorder(cfg.record_dir)  # before the streams: their first books are snapshots

        from terminal.storage.journal import Journal

        self.journal = Journal.open_in(self.data_dir)
        store_dir = self._history_dir()
        if store_dir is not None:
            from terminal.engine.history import open_chart_store

            self.engine.history_store = open_chart_store(store_dir)
        if cfg.notify is not None:
            self._start_notifier()
        self.oms = self._build_oms()
        self.brackets = self._build_brackets()

        self._anchor_equity_on_balances({v for v in self.adapters if self._has_account(v, creds)})
        await asyncio.gather(
            *(a.watch_user() for v, a in self.adapters.items() if self._has_account(v, creds))
        )
        await asyncio.gather(
            *(
                a.watch_market(s, candles=cfg.candle_intervals)
                for a in self.adapters.values()
                for s in cfg.symbols
            )
        )
        await asyncio.gather(
            *(
                self.engine.track_candles(v, s, i, cfg.candle_history)
                for v in self.adapters
                for s in cfg.symbols
                for i in cfg.candle_intervals
            )
        )
        loop = asyncio.get_running_loop()
        for venue in self.adapters:
            for symbol in cfg.symbols:
                self._watches[(venue, symbol)] = done = loop.create_future()
                done.set_result(None)
        if cfg.automation is not None:
            from terminal.automation.wiring import Automation

            self.automation = Automation(self, cfg.automation)
            await self.automation.start()
        log.info(
            "app started: mode=%s venues=%s symbols=%s data_dir=%s",
            cfg.mode,
            ",".join(self.adapters),
            ",".join(cfg.symbols),
            self.data_dir,
        )

    def _history_dir(self) -> Path | None:
        """The candle store the chart reads older bars from (and writes venue pages to): the
        session's network's (paper and live share the live one, testnet has its own), where
        ``terminal history download`` puts them too. None for the simulator: its history is a
        new synthetic path on every start, so stored bars would not match the next run's."""
        cfg = self.config
        if cfg.mode is Mode.DEMO or (cfg.mode is Mode.PAPER and cfg.paper_data is not Network.LIVE):
            return None
        if cfg.history_dir is not None:
            return cfg.history_dir
        from terminal.storage.history import history_dir

        return history_dir(Network.TESTNET if cfg.mode is Mode.TESTNET else Network.LIVE)

    def _has_account(self, venue: Venue, creds: Mapping[Venue, ApiCredentials]) -> bool:
        return self.config.mode is Mode.PAPER or venue in creds

    async def _network(self) -> tuple[str | None, Mapping[Venue, ApiCredentials]]:
        """Where the adapters connect and with which keys."""
        cfg = self.config
        if cfg.replay is not None and (cfg.mode is not Mode.DEMO or cfg.sim_url is not None):
            raise AppError(
                "a replay runs on the session's own demo simulator: use it with --mode demo "
                "and without an external simulator"
            )
        if cfg.mode is Mode.DEMO and cfg.sim_url is not None:
            missing = [v for v in cfg.venues if v not in cfg.credentials]
            if missing:
                raise AppError(
                    f"demo mode against the simulator at {cfg.sim_url} needs its API key in "
                    f"AppConfig.credentials (missing for {', '.join(missing)})"
                )
            log.info("demo exchange simulator (external) at %s", cfg.sim_url)
            return cfg.sim_url.rstrip("/"), {v: cfg.credentials[v] for v in cfg.venues}
        if cfg.sim_url is not None:
            raise AppError(f"sim_url is for demo mode only, not {cfg.mode}")
        if self._runs_sim():
            await self._start_sim()
            if cfg.mode is Mode.PAPER:
                return self.sim.url, {}  # public data only: the paper broker keeps the account
            child = cfg.sim_process is SimProcess.CHILD
            c = self.sim.credentials if child else self.sim.exchange.default_credentials
            key = ApiCredentials(c.api_key, c.api_secret)
            return self.sim.url, dict.fromkeys(cfg.venues, key)
        if cfg.mode is Mode.PAPER:
            return None, {}
        return None, self._stored_credentials()

    def _stored_credentials(self) -> dict[Venue, ApiCredentials]:
        """testnet/live keys: the config's, else the key store's; every venue must have a pair."""
        from terminal.secrets import KeyStoreError, NoKeyringBackend, VaultLocked, default_keystore

        cfg = self.config
        network = Network.TESTNET if cfg.mode is Mode.TESTNET else Network.LIVE
        creds = {v: cfg.credentials[v] for v in cfg.venues if v in cfg.credentials}
        problems: list[str] = []
        store = cfg.keystore
        if len(creds) < len(cfg.venues):
            store = store or default_keystore()
            for venue in cfg.venues:
                if venue in creds:
                    continue
                try:
                    found = store.load(venue, network)
                except (NoKeyringBackend, VaultLocked):
                    continue  # store.describe() below says which
                except KeyStoreError as exc:  # the keyring itself failed (locked, D-Bus error)
                    problems.append(str(exc))
                    continue
                if found is not None:
                    creds[venue] = found
        from_store = [v for v in creds if v not in cfg.credentials]
        if cfg.mode is Mode.LIVE and from_store and not cfg.live_opt_in:
            raise AppError(
                f"live mode with the stored keys for {', '.join(from_store)} needs the explicit live "
                "opt-in (the terminal's Go-live dialog, which names the venue and account); "
                "use --mode demo, paper or testnet otherwise."
            )
        missing = [v for v in cfg.venues if v not in creds]
        if missing:
            # "... not available yet without API keys" is what scripts and tests look for.
            where = store.describe() if store is not None else "the key store"
            raise AppError(
                f"{cfg.mode} mode is not available yet without API keys: no {network} keys for "
                f"{', '.join(missing)} (key store: {where}). Add them in the settings dialog "
                "(Settings → API keys), or use --mode demo or --mode paper."
                + ("".join(f" [{p}]" for p in problems[:1]) if problems else "")
            )
        return creds

    def _runs_sim(self) -> bool:
        """This session runs its own simulator (demo, or paper on simulator data)."""
        cfg = self.config
        return cfg.sim_url is None and (
            cfg.mode is Mode.DEMO or (cfg.mode is Mode.PAPER and cfg.paper_data is Network.CUSTOM)
        )

    def spawn_sim(self) -> int | None:
        """Start the simulator's child process now, so it boots while the window is being built;
        ``start()`` then waits for it. Returns its pid; None (nothing done) unless this session
        runs its simulator in a child (``SimProcess.CHILD``) and has not started yet. A child that
        cannot even be spawned is reported by ``start()``."""
        if self._started or not self._runs_sim() or self.config.sim_process is not SimProcess.CHILD:
            return None
        from terminal.sim.child import SimChild, SimChildError

        if self._sim_child is None:
            self._sim_child = SimChild(self._sim_child_config())
        with contextlib.suppress(SimChildError):
            self._sim_child.spawn()
        return self._sim_child.pid

    def _sim_child_config(self) -> Any:
        from terminal.sim.child import SimChildConfig

        cfg = self.config
        return SimChildConfig(
            symbols=cfg.symbols,
            seed=cfg.sim_seed,
            history_days=cfg.sim_history_days,
            depth_rate=cfg.sim_depth_rate,
            replay=cfg.replay,
        )

    async def _start_sim(self) -> None:
        cfg = self.config
        if cfg.sim_process is SimProcess.CHILD:
            from terminal.sim.child import SimChild, SimChildError

            if self._sim_child is None:
                self._sim_child = SimChild(self._sim_child_config())
            try:
                await self._sim_child.start()
            except SimChildError as exc:
                raise AppError(str(exc)) from None
            self.sim = self._sim_child
            log.info("demo exchange simulator (child process %d) at %s", self.sim.pid, self.sim.url)
            return

        from terminal.sim.exchange import SimConfig
        from terminal.sim.server import start_sim

        rate = {} if cfg.sim_depth_rate is None else {"depth_rate": cfg.sim_depth_rate}
        self.sim = await start_sim(
            SimConfig(
                host="127.0.0.1",
                port=0,
                seed=cfg.sim_seed,
                symbols=cfg.symbols,
                history_days=cfg.sim_history_days,
                replay=cfg.replay,
                **rate,  # type: ignore[arg-type]
            )
        )
        log.info("demo exchange simulator at %s", self.sim.url)

    def _build(
        self,
        classes: Mapping[Venue, type[VenueAdapter]],
        venue: Venue,
        base_url: str | None,
        creds: ApiCredentials | None,
    ) -> VenueAdapter:
        cfg = self.config
        if base_url is not None:
            network = Network.CUSTOM
        elif cfg.mode is Mode.TESTNET:
            network = Network.TESTNET
        else:
            network = Network.LIVE
        vc = VenueConfig(venue=venue, network=network, base_url=base_url, credentials=creds)
        emit: EventSink = self.bus.publish
        if cfg.mode is not Mode.PAPER:
            return classes[venue](vc, emit)
        from terminal.venues.paper import PaperAccountConfig, PaperBroker

        account = PaperAccountConfig({a: Decimal(q) for a, q in _PAPER_BALANCES.items()})
        return PaperBroker(lambda sink: classes[venue](vc, sink), account, emit)

    def start_recording(self, path: Path) -> None:
        """Record this running session's public trades, candles and books to ``path`` (the
        window's File → Record market data). AppError if it is not running or already records."""
        if self.oms is None:
            raise AppError("the app is not running")
        if self.recorder is not None:
            raise AppError(f"already recording to {self.recorder.path}")
        # the streams are already up: the recorder writes each market's first book update it
        # sees as a full snapshot, so a recording started mid-session replays from its start
        self._start_recorder(path)

    async def stop_recording(self) -> tuple[Path, int] | None:
        """Stop a recording; returns (its directory, records written), None if none was running."""
        recorder = self.recorder
        if recorder is None:
            return None
        await self._stop_recorder()
        return recorder.path, recorder.records

    def _start_recorder(self, path: Path) -> None:
        from terminal.storage.recorder import Recorder

        def book_of(venue: Venue, symbol: str) -> Any:
            adapter = self.adapters.get(venue)
            return adapter.book(symbol) if adapter is not None else None

        self.recorder = Recorder(self.bus, path, books=book_of)
        log.info("recording public trades, candles and books to %s", path)

    async def _stop_recorder(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.stop()
            await recorder.close()
            log.info("recording stopped: %d records in %s", recorder.records, recorder.path)

    def _start_notifier(self) -> None:
        from terminal.notify import Notifier, build_channels
        from terminal.notify.summary import run_daily_summaries
        from terminal.secrets import default_keystore

        cfg = self.config.notify
        secrets = self.config.keystore or default_keystore()
        self.notifier = Notifier(self.bus, cfg, build_channels(cfg, secrets, tray=self.tray))
        self.notifier.start()
        self._summaries = asyncio.ensure_future(run_daily_summaries(self.notifier.post, self.journal))

    async def _stop_notifier(self) -> None:
        if self._summaries is not None:
            self._summaries.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._summaries
            self._summaries = None
        notifier, self.notifier = self.notifier, None
        if notifier is not None and not await notifier.close():
            log.warning("notifications still queued at shutdown were dropped")

    async def apply_notify(self, config: Any) -> None:
        """Settings → Notifications saved: replace the running notifier by one for ``config``
        (a ``NotifyConfig``; None: notifications off). Before start() the config is only kept
        (start builds it); after stop() nothing starts."""
        # Loop until none is left: a second apply racing this one must not leave two notifiers.
        while self.notifier is not None or self._summaries is not None:
            await self._stop_notifier()
        self.config.notify = config
        # No await from the check to the start: _start() opens the journal and starts the
        # notifier in one step, so exactly one of the two starts it.
        if config is not None and self.journal is not None and not self._stopped:
            self._start_notifier()
        log.info("notifications %s", "reconfigured" if config is not None else "off")

    def apply_risk_limits(self, limits: Any) -> Any:
        """Settings → Risk limits saved: the running risk manager takes ``limits`` (a
        ``RiskLimits``) now, and a later session of this App's config starts with them. Returns
        the limits in force: a running session keeps its trading day's start hour (moving it
        would restart the day and forget its loss), a new hour applies from the next start."""
        import dataclasses

        self.config.risk_limits = limits
        if self.oms is None:  # before start() (it builds the OMS from the config) or never started
            return limits
        risk = self.oms.risk
        running_hour = risk.pnl.day_start_hour_utc
        if limits.loss.day_start_hour_utc != running_hour:
            log.info(
                "risk limits: the trading day keeps starting at %dh UTC until the next start (%dh then)",
                running_hour,
                limits.loss.day_start_hour_utc,
            )
            limits = dataclasses.replace(
                limits, loss=dataclasses.replace(limits.loss, day_start_hour_utc=running_hour)
            )
        risk.set_limits(limits, actor="user")
        return limits

    def _anchor_equity_on_balances(self, venues: set[Venue]) -> None:
        """The loss limits measure from the account's value: the stable-coin balances across the
        session's venues (spot holdings enter through their fills and marks). Anchored as each
        venue's first balances snapshot arrives, until all have."""
        from terminal.venues.events import BalancesEvent

        waiting = set(venues)

        def on_balances(ev: BalancesEvent) -> None:
            if ev.venue not in waiting or not ev.snapshot:
                return
            waiting.discard(ev.venue)
            total = sum(
                (b.total for v in venues for a, b in self.engine.balances(v).items() if a in _STABLE),
                Decimal(0),
            )
            if self.oms is not None and total > 0:
                self.oms.risk.pnl.rebase(total)
            if not waiting:
                unsubscribe()

        unsubscribe = self.bus.subscribe(BalancesEvent, on_balances)
        if not waiting:
            unsubscribe()

    def _build_oms(self) -> Any:
        """The order manager under ``AppConfig.risk_limits`` (permissive defaults until a settings UI sets them)."""
        from terminal.trading.oms import OrderManager
        from terminal.trading.risk import PnlFeed, RiskLimits, RiskManager

        limits = self.config.risk_limits if self.config.risk_limits is not None else RiskLimits()
        risk = RiskManager(limits, self.journal, bus=self.bus)
        # Realized/unrealized PnL per strategy and for the account, from fills and marks: the
        # loss limits and the per-strategy limits judge from it. The journal's fills first.
        self.pnl_feed = PnlFeed(risk, self.journal, self.bus)
        self.pnl_feed.replay()
        return OrderManager(self.journal, self.adapters, risk, self.bus)

    def _build_brackets(self) -> Any:
        """The one BracketManager (the ticket, and later strategies, place brackets through it):
        the unfinished brackets in the journal are rebuilt and driven again."""
        from terminal.trading.brackets import BracketManager

        manager = BracketManager(self.oms, self.bus)
        restored = manager.restore()
        if restored:
            log.info("restored %d open bracket(s)/OCO(s) from the journal", len(restored))
        return manager

    # ------------------------------------------------------------------ markets
    async def watch(self, venue: Venue, symbol: str) -> None:
        """Stream ``symbol`` on ``venue`` as well: book, trades, ticker and the configured candle
        intervals with history. Idempotent (a second call waits for the first); a failed watch
        raises and may be retried."""
        if self.oms is None:
            raise AppError("the app is not running")
        adapter = self.adapters.get(venue)
        if adapter is None:
            raise AppError(f"{venue} is not part of this session ({', '.join(self.adapters)})")
        key = (venue, symbol.strip().upper())
        pending = self._watches.get(key)
        if pending is None:
            pending = self._watches[key] = asyncio.ensure_future(self._watch(adapter, *key))

            def forget_failure(f: asyncio.Future[None]) -> None:
                if (f.cancelled() or f.exception() is not None) and self._watches.get(key) is f:
                    del self._watches[key]

            pending.add_done_callback(forget_failure)
        await asyncio.shield(pending)  # a caller giving up must not cancel the others' watch

    async def _watch(self, adapter: VenueAdapter, venue: Venue, symbol: str) -> None:
        cfg = self.config
        await adapter.watch_market(symbol, candles=cfg.candle_intervals)
        await asyncio.gather(
            *(self.engine.track_candles(venue, symbol, i, cfg.candle_history) for i in cfg.candle_intervals)
        )
        log.info("watching %s %s", venue, symbol)

    def is_watched(self, venue: Venue, symbol: str) -> bool:
        f = self._watches.get((venue, symbol))
        return f is not None and f.done() and not f.cancelled() and f.exception() is None

    async def stop(self) -> None:
        """Stop everything that was started, newest first; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for pending in self._watches.values():
            pending.cancel()
        await self._stop_notifier()  # first: shutting down must not notify anything
        automation, self.automation = self.automation, None
        if automation is not None:
            await automation.stop()  # first: no strategy may act on a closing OMS
        brackets, self.brackets = self.brackets, None
        if brackets is not None:
            brackets.close()  # before the OMS: no bracket step may start on a closing OMS
        if self.pnl_feed is not None:
            self.pnl_feed.close()
            self.pnl_feed = None
        oms, self.oms = self.oms, None
        if oms is not None and hasattr(oms, "close"):
            with contextlib.suppress(Exception):
                result = oms.close()
                if asyncio.iscoroutine(result):
                    await result
        await self._stop_recorder()
        results = await asyncio.gather(*(a.close() for a in self.adapters.values()), return_exceptions=True)
        for venue, res in zip(self.adapters, results, strict=True):
            if isinstance(res, BaseException):
                log.warning("closing %s failed: %r", venue, res)
        await self.engine.close()
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        sim, self.sim = self.sim, None
        child, self._sim_child = self._sim_child, None
        if sim is not None:
            await sim.stop()
        if child is not None and child is not sim:  # spawned, never (successfully) started
            await child.stop()
        log.info("app stopped")

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ---------------------------------------------------------------------- headless run
class HeadlessReporter:
    """Logs every feed state change, and once per ``interval_s`` the top of book per market."""

    def __init__(self, app: App, interval_s: float = 1.0) -> None:
        self.app = app
        self.interval_s = interval_s
        self._unsubscribe = app.bus.subscribe(FeedEvent, self._on_feed)

    def _on_feed(self, ev: FeedEvent) -> None:
        st = ev.status
        log.info(
            "feed %s %s %s%s",
            st.venue,
            st.stream_id,
            st.state.value.upper(),
            f" ({st.detail})" if st.detail else "",
        )

    def report_books(self) -> None:
        for venue in self.app.adapters:
            for symbol in self.app.config.symbols:
                top = self.app.engine.top_of_book(venue, symbol)
                if top is None:
                    log.info("book %s %s: not watched", venue, symbol)
                elif top.bid is None or top.ask is None:
                    log.info("book %s %s: empty (%s)", venue, symbol, "live" if top.live else "syncing")
                else:
                    log.info(
                        "book %s %s bid=%s ask=%s spread=%s u=%d %s",
                        venue,
                        symbol,
                        top.bid,
                        top.ask,
                        top.spread,
                        top.update_id,
                        "live" if top.live else "syncing",
                    )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
            if not stop.is_set():
                self.report_books()

    def close(self) -> None:
        self._unsubscribe()


async def run_headless(config: AppConfig, *, duration_s: float | None = None) -> int:
    """Run until SIGINT/SIGTERM (or ``duration_s``); returns the process exit code."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    app = App(config)
    reporter = HeadlessReporter(app)  # subscribed before start: the first feed states are logged
    try:
        try:
            await app.start()
        except AppError as exc:
            log.error("%s", exc)
            return 2
        except VenueError as exc:  # unreachable venue, bad keys, unknown symbol: say which
            log.error("cannot start: %s", exc)
            return 1
        webhooks = app.automation.webhooks if app.automation is not None else None
        if webhooks is not None:
            print(f"webhook {webhooks.url}", flush=True)  # scripts wait for this line
        ops = app.automation.ops_listener if app.automation is not None else None
        if ops is not None:
            print(f"ops {ops.url}", flush=True)  # /metrics and /healthz
        if duration_s is not None:
            loop.call_later(duration_s, stop.set)
        await reporter.run(stop)
        log.info("shutting down")
        return 0
    finally:
        reporter.close()
        await app.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)

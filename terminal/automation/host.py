"""The automation host: arms strategies per strategy x venue x symbol and runs them live.

It feeds each armed strategy what it asked for - closed candles of its timeframes (history
first, as warm-up whose intents are dropped), accepted signals for its symbol, and its cron
schedule - and passes every intent to the ``IntentExecutor``. A strategy that raises is
disarmed and the user told (``StrategyStateChanged`` ERROR, an ERROR log line, an audit
record); the others go on. Generic webhook orders (no strategy) are executed directly with
the hook as their origin.

Bars are fed from the engine's candle series, not from the stream events alone: after an
outage the engine backfills the missed bars and the strategy sees every bar exactly once, in
order. Intents decided on a bar older than ``stale_bars`` intervals are not executed (the
market has moved on since); the strategy's state still advances.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from terminal.automation.arming import ArmedStore, ArmedStoreError, Arming, ArmKey
from terminal.automation.context import LiveContext
from terminal.automation.events import ArmState, IntentResult, StrategyStateChanged
from terminal.automation.executor import IntentExecutor
from terminal.automation.ledger import StrategyLedger
from terminal.bus import EventBus
from terminal.engine.engine import Engine
from terminal.model import Candle, Signal, SignalSource, Venue
from terminal.signals.events import SignalAccepted
from terminal.signals.generic import GenericEntry, generic_of
from terminal.strategies import registry
from terminal.strategies.base import EntryKind, InputKind, Intent, Strategy
from terminal.venues.events import CandleEvent

__all__ = ["ArmError", "ArmNeedsConfirmation", "ArmedStrategy", "StrategyHost", "interval_ms"]

log = logging.getLogger(__name__)

AUDIT_ARM = "strategy_armed"
AUDIT_DISARM = "strategy_disarmed"
AUDIT_ERROR = "strategy_error"
AUDIT_SKIP = "strategy_skip"
_WARMUP_SLACK = 10


class ArmError(Exception):
    """The strategy could not be armed; the message says why."""


class ArmNeedsConfirmation(ArmError):
    """Live mode: arming trades real money and needs the user's explicit confirmation."""


_UNITS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def interval_ms(interval: str) -> int:
    try:
        return int(interval[:-1]) * _UNITS[interval[-1]]
    except (KeyError, ValueError):
        raise ValueError(f"unknown candle interval {interval!r}") from None


@dataclass(slots=True)
class ArmedStrategy:
    arming: Arming
    strategy: Strategy
    state: ArmState = ArmState.WARMING
    message: str = ""
    last_fed: dict[str, int] = field(default_factory=dict)  # interval -> open_time of the last bar fed
    intents: int = 0

    @property
    def key(self) -> ArmKey:
        return self.arming.key

    @property
    def origin(self) -> str:
        return f"strategy:{self.key.strategy}"


class StrategyHost:
    def __init__(
        self,
        *,
        bus: EventBus,
        engine: Engine,
        executor: IntentExecutor,
        ledger: StrategyLedger,
        store: ArmedStore,
        watch: Callable[[Venue, str], Awaitable[None]],
        adapters: Mapping[Venue, Any],
        live: bool,
        scheduler: Any = None,
        default_venue: Venue | None = None,
        stale_bars: int = 2,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.bus = bus
        self.engine = engine
        self.executor = executor
        self.ledger = ledger
        self.store = store
        self.live = live
        self.scheduler = scheduler
        self.default_venue = default_venue
        self.stale_bars = stale_bars
        self._watch = watch
        self._adapters = adapters
        self._clock_ms = clock_ms
        self.armed: dict[ArmKey, ArmedStrategy] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsub: list[Callable[[], None]] = []
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> list[str]:
        """Listen, and re-arm the saved set. Returns the
        problems met (each also logged and published) - a bad entry never blocks the others."""
        self._unsub = [
            self.bus.subscribe(CandleEvent, self._on_candle),
            self.bus.subscribe(SignalAccepted, self._on_signal),
        ]
        problems: list[str] = []
        try:
            saved = self.store.load()
        except ArmedStoreError as exc:
            log.error("%s", exc)
            return [str(exc)]
        for arming in saved:
            try:
                # Re-arming what the user armed before (and confirmed, in live) is not a new decision.
                await self.arm(arming.key, arming.params, confirmed=True, persist=False)
            except Exception as exc:
                msg = f"could not re-arm {arming.key}: {exc}"
                log.error("%s", msg)
                problems.append(msg)
                self.bus.publish(StrategyStateChanged(arming.key, ArmState.ERROR, msg))
        return problems

    async def close(self) -> None:
        self._closed = True
        for unsub in self._unsub:
            unsub()
        self._unsub.clear()
        for armed in list(self.armed.values()):
            self._unschedule(armed)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ arming
    async def arm(
        self,
        key: ArmKey,
        params: Mapping[str, str] | None = None,
        *,
        confirmed: bool = False,
        persist: bool = True,
    ) -> ArmedStrategy:
        if self.live and not confirmed:
            raise ArmNeedsConfirmation(f"arming {key} trades real money: confirm first")
        adapter = self._adapters.get(key.venue)
        if adapter is None:
            raise ArmError(f"{key.venue} is not part of this session")
        if key.symbol not in adapter.instruments:
            raise ArmError(f"{key.symbol} is not listed on {key.venue}")
        if key in self.armed:
            await self.disarm(key, "re-armed with new parameters", persist=False)
        params = dict(params or {})
        ctx = LiveContext(
            key.venue, key.symbol, f"strategy:{key.strategy}", self.engine, self.ledger, self.executor.oms
        )
        try:
            strategy = registry.make(key.strategy, params, ctx)
        except registry.UnknownStrategy:
            raise ArmError(f"no strategy named {key.strategy!r}") from None
        armed = ArmedStrategy(Arming(key, params, self._clock_ms()), strategy)
        self.armed[key] = armed
        self._publish(armed, ArmState.WARMING, "loading history")
        try:
            await self._warm_up(armed)
        except Exception as exc:
            self.armed.pop(key, None)
            self._publish(armed, ArmState.ERROR, f"warm-up failed: {exc}")
            raise ArmError(f"{key}: warm-up failed: {exc}") from exc
        schedule = strategy.schedule()
        if schedule and self.scheduler is not None:
            self.scheduler.add(str(key), schedule, lambda now_ms, a=armed: self._run_schedule(a, now_ms))
        self._publish(armed, ArmState.ARMED, "")
        self.executor.oms.journal.audit(armed.origin, AUDIT_ARM, {"key": str(key), "params": params})
        if persist:
            self._save()
        return armed

    async def disarm(self, key: ArmKey, reason: str = "by the user", *, persist: bool = True) -> None:
        armed = self.armed.pop(key, None)
        if armed is None:
            return
        self._unschedule(armed)
        self.executor.oms.journal.audit(armed.origin, AUDIT_DISARM, {"key": str(key), "reason": reason})
        self._publish(armed, ArmState.DISARMED, reason)
        if persist:
            self._save()

    def _save(self) -> None:
        self.store.save(a.arming for a in self.armed.values())

    def _unschedule(self, armed: ArmedStrategy) -> None:
        if self.scheduler is not None:
            self.scheduler.remove(str(armed.key))

    def _publish(self, armed: ArmedStrategy, state: ArmState, message: str) -> None:
        armed.state, armed.message = state, message
        self.bus.publish(StrategyStateChanged(armed.key, state, message))

    def _fail(self, armed: ArmedStrategy, exc: BaseException) -> None:
        """A strategy raised: disarm it (persisted - a broken strategy must not re-arm itself
        on the next start) and tell the user."""
        msg = f"{type(exc).__name__}: {exc}"
        log.error("strategy %s raised and was disarmed: %s", armed.key, msg, exc_info=exc)
        self.armed.pop(armed.key, None)
        self._unschedule(armed)
        self.executor.oms.journal.audit(armed.origin, AUDIT_ERROR, {"key": str(armed.key), "error": msg})
        self._publish(armed, ArmState.ERROR, f"disarmed: {msg}")
        self._save()

    # ------------------------------------------------------------------ candles
    async def _warm_up(self, armed: ArmedStrategy) -> None:
        key = armed.key
        await self._watch(key.venue, key.symbol)
        tfs = armed.strategy.timeframes()
        if not tfs:
            return
        adapter = self._adapters[key.venue]
        await adapter.watch_market(key.symbol, book=False, trades=False, tickers=False, candles=tfs)
        history = armed.strategy.warmup_bars() + _WARMUP_SLACK
        for tf in tfs:
            if (
                not self.engine.is_tracked(key.venue, key.symbol, tf)
                or len(self._closed_bars(key, tf)) < history
            ):
                await self.engine.track_candles(key.venue, key.symbol, tf, max(history, 500))
        # Interleave the timeframes by close time, as they would have arrived live.
        bars = sorted(
            (b for tf in tfs for b in self._closed_bars(key, tf)),
            key=lambda b: (b.close_time, -interval_ms(b.interval)),
        )
        for bar in bars:
            armed.strategy.on_candle(bar)  # warm-up: decisions on history are not traded
            armed.last_fed[bar.interval] = bar.open_time
        armed.strategy.drain_skips()

    def _closed_bars(self, key: ArmKey, interval: str) -> list[Candle]:
        return [b for b in self.engine.candle_bars(key.venue, key.symbol, interval) if b.closed]

    def _on_candle(self, ev: CandleEvent) -> None:
        c = ev.candle
        if not c.closed or self._closed:
            return
        for armed in list(self.armed.values()):
            k = armed.key
            same_market = k.venue is c.venue and k.symbol == c.symbol
            if armed.state is ArmState.ARMED and same_market and c.interval in armed.strategy.timeframes():
                self._feed(armed, c.interval)

    def _feed(self, armed: ArmedStrategy, interval: str) -> None:
        last = armed.last_fed.get(interval, -1)
        now = self._clock_ms()
        horizon = self.stale_bars * interval_ms(interval)
        for bar in self._closed_bars(armed.key, interval):
            if bar.open_time <= last:
                continue
            armed.last_fed[interval] = bar.open_time
            try:
                intents = list(armed.strategy.on_candle(bar))
            except Exception as exc:
                self._fail(armed, exc)
                return
            if intents and now - bar.close_time > horizon:
                log.warning(
                    "%s: %d intent(s) on a stale %s bar (closed %d ms ago) not executed",
                    armed.key,
                    len(intents),
                    interval,
                    now - bar.close_time,
                )
                continue
            self._execute(armed, intents)

    # ------------------------------------------------------------------ signals, schedule
    def _on_signal(self, ev: SignalAccepted) -> None:
        if self._closed:
            return
        signal = ev.signal
        if signal.source is SignalSource.WEBHOOK:
            self._spawn(self._generic(ev.hook, signal))
            return
        for armed in list(self.armed.values()):
            k = armed.key
            if armed.state is not ArmState.ARMED or k.symbol != signal.symbol:
                continue
            if InputKind.SIGNALS not in type(armed.strategy).inputs:
                continue
            try:
                intents = list(armed.strategy.on_signal(signal))
            except Exception as exc:
                self._fail(armed, exc)
                continue
            self._execute(armed, intents)

    def _run_schedule(self, armed: ArmedStrategy, now_ms: int) -> None:
        if armed.key not in self.armed:
            return
        try:
            intents = list(armed.strategy.on_schedule(now_ms))
        except Exception as exc:
            self._fail(armed, exc)
            return
        self._execute(armed, intents)

    def _execute(self, armed: ArmedStrategy, intents: Iterable[Intent]) -> None:
        for skip in armed.strategy.drain_skips():
            # Why a strategy did nothing is as important to the user as what it did.
            log.info("%s skipped: %s", armed.key, skip.reason)
            self.executor.oms.journal.audit(
                armed.origin,
                AUDIT_SKIP,
                {"key": str(armed.key), "reason": skip.reason, "signal_id": skip.signal_id},
            )
            self.bus.publish(skip)
        for intent in intents:
            armed.intents += 1
            self._spawn(self.executor.execute(armed.origin, armed.key.venue, intent, armed.key))

    async def _generic(self, hook: str, signal: Signal) -> IntentResult | None:
        venue = self.default_venue
        if venue is None or venue not in self._adapters:
            log.error("webhook %s: signal %s names no venue of this session", hook, signal.id)
            return None
        intent = generic_intent(hook, signal)
        return await self.executor.execute(f"webhook:{hook}", venue, intent)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the intents in flight (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def generic_intent(hook: str, signal: Signal) -> Intent:
    """A generic webhook's order as an intent (the listener validated the fields)."""
    order = generic_of(signal)
    if order is None:
        raise ValueError(f"signal {signal.id} is not a generic webhook order")
    limit = order.type is GenericEntry.LIMIT
    return Intent(
        strategy=f"webhook:{hook}",
        symbol=order.symbol,
        side=order.side,
        entry=EntryKind.LIMIT if limit else EntryKind.MARKET,
        price=order.price if limit else None,
        stop=order.stop,
        target=order.target,
        time_exit_ms=order.time_exit * 1000 if order.time_exit is not None else None,
        leverage=order.leverage,
        reason=f"webhook {hook}",
        signal_id=signal.id,
        at_ms=signal.received_at,
        size=order.size_hint,
    )

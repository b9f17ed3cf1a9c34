"""The fan-out: bus events -> notices -> the channels configured for each kind.

Bus handlers only format a notice and append it to each routed channel's queue (microseconds,
no I/O, no await); delivery happens in the channels' own tasks. So a dead SMTP server or a
rate-limited bot never slows the publisher, the OMS, or the other channels.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable

from terminal.automation.events import IntentResult, StrategyStateChanged
from terminal.bus import EventBus
from terminal.notify import format as fmt
from terminal.notify.channel import Channel
from terminal.notify.config import NotifyConfig, NotifyConfigError
from terminal.notify.model import ChannelKind, Notice
from terminal.notify.worker import ChannelStats, ChannelWorker
from terminal.signals.events import SignalAccepted, SignalRejected
from terminal.trading.events import TradingStateChanged
from terminal.venues.events import FeedEvent, FillEvent

__all__ = ["Notifier"]

log = logging.getLogger(__name__)

SEEN_FILLS = 10_000  # trade ids remembered for de-duplication


class Notifier:
    def __init__(self, bus: EventBus, config: NotifyConfig, channels: Iterable[Channel]) -> None:
        self.config = config
        self._workers: dict[ChannelKind, ChannelWorker] = {}
        for channel in channels:
            if channel.kind in self._workers:
                raise NotifyConfigError(f"two channels of kind {channel.kind}")
            self._workers[channel.kind] = ChannelWorker(
                channel, queue_size=config.queue_size, retry=config.retry, coalesce_s=config.coalesce_s
            )
        routed = set().union(*config.routes.values()) if config.routes else set()
        missing = sorted(routed - set(self._workers))
        if missing:
            raise NotifyConfigError(f"notify.routes use channel(s) {missing} that were not built")
        self._feed_down: dict[str, bool] = {}
        self._seen_fills: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(FillEvent, self._on_fill),
            bus.subscribe(SignalAccepted, lambda ev: self.post(fmt.signal_accepted_notice(ev))),
            bus.subscribe(SignalRejected, lambda ev: self.post(fmt.signal_rejected_notice(ev))),
            bus.subscribe(StrategyStateChanged, lambda ev: self.post(fmt.strategy_notice(ev))),
            bus.subscribe(IntentResult, self._on_intent),
            bus.subscribe(FeedEvent, self._on_feed),
            bus.subscribe(TradingStateChanged, lambda ev: self.post(fmt.risk_notice(ev))),
        ]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the channel tasks (needs the running loop). Notices posted before are kept."""
        for worker in self._workers.values():
            worker.start()

    async def close(self, timeout_s: float | None = None) -> bool:
        """Unsubscribe, then let every channel send what it has queued, all at once, for at most
        ``timeout_s`` (default: the config's); True if nothing was left unsent."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        timeout = self.config.close_timeout_s if timeout_s is None else timeout_s
        results = await asyncio.gather(*(w.close(timeout) for w in self._workers.values()))
        return all(results)

    # ------------------------------------------------------------------ posting
    def post(self, notice: Notice) -> None:
        """Queue ``notice`` on each channel its kind is routed to (never blocks, never raises
        for a channel's sake)."""
        for kind in self.config.channels_for(notice.kind):
            self._workers[kind].post(notice)

    def stats(self) -> dict[ChannelKind, ChannelStats]:
        return {kind: w.stats for kind, w in self._workers.items()}

    def pending(self) -> int:
        return sum(w.pending for w in self._workers.values())

    # ------------------------------------------------------------------ event handlers
    def _on_fill(self, ev: FillEvent) -> None:
        # The stream and a reconcile poll after a reconnect can both report one trade: tell it once.
        f = ev.fill
        key = (f.venue, f.symbol, f.trade_id)
        if key in self._seen_fills:
            return
        self._seen_fills[key] = None
        if len(self._seen_fills) > SEEN_FILLS:
            self._seen_fills.popitem(last=False)
        self.post(fmt.fill_notice(ev))

    def _on_intent(self, ev: IntentResult) -> None:
        notice = fmt.intent_notice(ev)
        if notice is not None:
            self.post(notice)

    def _on_feed(self, ev: FeedEvent) -> None:
        stream = ev.status.stream_id
        was_down = self._feed_down.get(stream, False)
        notice = fmt.feed_notice(ev, was_down)
        if notice is None:
            return
        self._feed_down[stream] = ev.status.state in fmt.DOWN_STATES
        self.post(notice)

"""The market generator: a fair-value process per symbol and order flow per market.

One regime-switching geometric random walk per symbol drives all four markets
(Binance spot/USDⓈ-M, Bybit spot/linear). Each (market, symbol) has its own flow of
passive limit adds near the touch, cancels of the generator's own orders and
marketable orders, all through the core's integer fast path (``mm_add``,
``mm_cancel``, ``mm_take``). Prices move only through trades: when the fair value
moves past resting orders, a taker consumes them (user orders included), and
market makers then re-quote around the new price.

Deterministic: the same seed and the same sequence of ``step(dt_s)`` calls give the
same sequence of book actions. ``run()`` calls ``step`` with real elapsed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from terminal.model.enums import InstrumentKind, Side, Venue
from terminal.sim.history import (
    ACTIVITY_SD,
    ACTIVITY_TAU_S,
    JUMP_RATE_PER_S,
    JUMP_SIGMA,
    REGIME_NEXT,
    REGIMES,
    symbol_key,
    symbol_profile,
)

log = logging.getLogger(__name__)

VENUE_ORDER: tuple[Venue, ...] = (
    Venue.BINANCE_SPOT,
    Venue.BINANCE_USDM,
    Venue.BYBIT_SPOT,
    Venue.BYBIT_LINEAR,
)

STEP_INTERVAL_S = 0.015  # run(): target time between steps
MAX_STEP_DT_S = 0.25  # run(): a stalled loop does not turn into one giant burst
LEVELS_TARGET = 360  # distinct price levels kept per side (Bybit orderbook.200 needs 200)
MIN_LEVELS = 250  # below this, depth is refilled beyond the configured change rate
REFILL_MAX_PER_STEP = 40
NEAR_BP = 0.3  # mean distance of near-touch adds from the quote, basis points
FAR_BP = 60.0  # far adds spread uniformly over this distance, basis points
NEAR_SHARE = 0.65  # share of adds that go near the touch
DISCOVERY_BP = 1.0  # fair value this far past the touch (bp, min 1 tick) brings a taker
MAX_SPREAD_TICKS = 2  # wider than this, market makers re-quote inside the spread
ORDER_QUOTE_MULT = 4.0  # median passive order notional, in average trade notionals
SIZE_SIGMA = 1.0  # lognormal sigma of order and taker sizes
TAKE_SHARE = 0.10  # share of random actions that are marketable (x regime flow)
BASIS_SIGMA_BP = 0.4  # per-market deviation from the shared fair value (OU), bp
BASIS_TAU_S = 8.0
PERP_PREMIUM_BP = 1.0  # perpetuals trade a little above spot
DRAW_BLOCK = 4096  # fair-value random draws fetched per numpy call
PRUNE_EVERY_STEPS = 50  # forget filled own orders this often


def _stream(seed: int, *keys: int) -> np.random.Generator:
    """A child random stream keyed by stable names, not by construction order."""
    return np.random.Generator(np.random.PCG64([seed, *keys]))


def _venue_key(venue: Venue) -> int:
    return zlib.crc32(venue.value.encode())


class FairValue:
    """Shared fair value of one symbol: regime-switching GBM with jumps."""

    def __init__(self, symbol: str, start_price: float, seed: int) -> None:
        self.symbol = symbol
        self.log_price = math.log(start_price)
        self.vol_mult = symbol_profile(symbol).vol_mult
        self._rng = _stream(seed, symbol_key(symbol), 0xFA1)
        self.regime = int(self._rng.integers(0, len(REGIMES)))
        self._cum_next = np.cumsum(REGIME_NEXT, axis=1).tolist()
        self._normals: list[float] = []
        self._uniforms: list[float] = []
        self.activity = float(self._rng.standard_normal()) * ACTIVITY_SD  # slow log-vol factor
        self._activity_mult = math.exp(self.activity)
        self.last_return = 0.0
        self.hold = False  # True: the regime stays until changed by hand

    @property
    def price(self) -> float:
        return math.exp(self.log_price)

    @property
    def flow(self) -> float:
        """Relative trading intensity now."""
        return REGIMES[self.regime].flow * self._activity_mult

    @property
    def sigma(self) -> float:
        """Current volatility, log-return per sqrt(second)."""
        return REGIMES[self.regime].sigma_per_sqrt_s * self.vol_mult * self._activity_mult

    def _normal(self) -> float:
        if not self._normals:
            self._normals = self._rng.standard_normal(DRAW_BLOCK).tolist()
        return self._normals.pop()

    def _uniform(self) -> float:
        if not self._uniforms:
            self._uniforms = self._rng.random(DRAW_BLOCK).tolist()
        return self._uniforms.pop()

    def step(self, dt: float) -> None:
        regime = REGIMES[self.regime]
        ret = self._normal() * self.sigma * math.sqrt(dt)
        if self._uniform() < JUMP_RATE_PER_S[self.regime] * dt:
            ret += self._normal() * JUMP_SIGMA * self.vol_mult
        self.log_price += ret
        self.last_return = ret
        self.activity += (
            -self.activity * dt / ACTIVITY_TAU_S
            + ACTIVITY_SD * math.sqrt(2 * dt / ACTIVITY_TAU_S) * self._normal()
        )
        self._activity_mult = math.exp(self.activity)
        if self._uniform() < -math.expm1(-dt / regime.mean_dwell_s) and not self.hold:
            u = self._uniform()
            row = self._cum_next[self.regime]
            self.regime = next((i for i, c in enumerate(row) if u < c), len(row) - 1)


@dataclass(slots=True)
class FlowStats:
    adds: int = 0
    cancels: int = 0
    takes: int = 0
    sweeps: int = 0


@dataclass(slots=True)
class _Draws:
    """Random numbers for one step's actions, drawn in a few numpy calls."""

    kind: list[float]
    side: list[float]
    pick: list[float]
    near: list[float]  # exponential(1)
    far: list[float]  # uniform(0, 1)
    size: list[float]  # standard normal, for lognormal sizes


class SymbolFlow:
    """Order flow of one symbol on one market."""

    def __init__(self, market, venue: Venue, symbol: str, fair: FairValue, seed: int, rate: float) -> None:
        self.market = market
        self.venue = venue
        self.symbol = symbol
        self.fair = fair
        self.book = market.books[symbol]
        self.rate = rate
        self.stats = FlowStats()
        inst = market.instruments[symbol]
        self._rng = _stream(seed, symbol_key(symbol), _venue_key(venue))
        price = fair.price
        tick = float(inst.tick)
        self._tick = tick
        tick_bp = tick / price * 1e4
        self.near_mean = max(1.0, NEAR_BP / tick_bp)
        self.far_range = max(2.0 * LEVELS_TARGET, FAR_BP / tick_bp)
        self.discovery = max(1.0, DISCOVERY_BP / tick_bp)
        lot_quote = price * float(inst.step)
        avg_trade = symbol_profile(symbol).avg_trade_quote
        self.order_mu = math.log(max(1.0, ORDER_QUOTE_MULT * avg_trade / lot_quote))
        self.take_mu = math.log(max(1.0, avg_trade / lot_quote))
        self.max_lots = max(1, int(float(inst.max_qty) / float(inst.step)))
        self.premium = PERP_PREMIUM_BP * 1e-4 if inst.kind is InstrumentKind.LINEAR_PERPETUAL else 0.0
        self.basis = 0.0
        self.credit = 0.0  # level changes owed (+) or overspent (-)
        self.own_bids: list[int] = []
        self.own_asks: list[int] = []
        self._steps = 0

    # ---- helpers ---------------------------------------------------------
    def anchor(self) -> float:
        """This market's fair value in ticks (shared fair x own basis)."""
        return self.fair.price * (1.0 + self.premium + self.basis) / self._tick

    def _lots(self, z: float, mu: float) -> int:
        return max(1, min(self.max_lots, int(math.exp(mu + SIZE_SIGMA * z))))

    def _add(self, is_bid: bool, price: int, lots: int) -> None:
        if price < 1:
            return
        oid = self.market.mm_add(self.symbol, Side.BUY if is_bid else Side.SELL, price, lots)
        if oid:  # 0: it traded away entirely (only if the book moved under a stale quote)
            (self.own_bids if is_bid else self.own_asks).append(oid)
        self.stats.adds += 1

    def _cancel_random(self, is_bid: bool, u: float) -> None:
        own = self.own_bids if is_bid else self.own_asks
        if not own:
            return
        i = int(u * len(own))
        oid = own[i]
        own[i] = own[-1]
        own.pop()
        if self.market.mm_cancel(self.symbol, oid):
            self.stats.cancels += 1

    def _take(self, is_bid: bool, lots: int) -> None:
        if lots > 0 and self.market.mm_take(self.symbol, Side.BUY if is_bid else Side.SELL, lots):
            self.stats.takes += 1

    def _prune(self) -> None:
        """Forget own orders that were filled (cancelling them would do nothing)."""
        live = self.book.orders
        self.own_bids = [o for o in self.own_bids if o in live]
        self.own_asks = [o for o in self.own_asks if o in live]

    def _draws(self, n: int) -> _Draws:
        rng = self._rng
        u = rng.random((4, n))
        return _Draws(
            kind=u[0].tolist(),
            side=u[1].tolist(),
            pick=u[2].tolist(),
            far=u[3].tolist(),
            near=rng.standard_exponential(n).tolist(),
            size=rng.standard_normal(n).tolist(),
        )

    # ---- seeding -----------------------------------------------------------
    def seed(self) -> None:
        """Two deep sides around the anchor: dense near the touch, sparse far out."""
        anchor = self.anchor()
        bid0 = math.floor(anchor - 0.5)
        ask0 = bid0 + 1
        n = 2 * LEVELS_TARGET
        for is_bid, ref in ((True, bid0), (False, ask0)):
            d = self._draws(n)
            sign = -1 if is_bid else 1
            for j in range(n):
                if j < n // 2:
                    dist = int(d.near[j] * self.near_mean * (1 + j / 8)) if j else 0
                    mu = self.order_mu
                else:
                    dist = int(d.far[j] * self.far_range)
                    mu = self.order_mu + 0.7  # deeper levels hold more size
                self._add(is_bid, ref + sign * dist, self._lots(d.size[j], mu))
            side = self.book.bids if is_bid else self.book.asks
            extra = 0
            while len(side) < LEVELS_TARGET and extra < 10 * LEVELS_TARGET:
                extra += 1
                dist = int(self._rng.random() * self.far_range)
                self._add(is_bid, ref + sign * dist, self._lots(0.0, self.order_mu))

    # ---- one step ----------------------------------------------------------
    def step(self, dt: float) -> int:
        """Advance by ``dt`` seconds; returns the number of level changes made."""
        book = self.book
        start = book.update_id
        self.basis += -self.basis * dt / BASIS_TAU_S + BASIS_SIGMA_BP * 1e-4 * math.sqrt(
            2 * dt / BASIS_TAU_S
        ) * float(self._rng.standard_normal())
        anchor = self.anchor()
        self._discover(anchor)
        self._requote(anchor)
        self._refill(anchor)

        self.credit += self.rate * dt
        budget = int(self.credit - (book.update_id - start))
        if budget > 0:
            self._random_actions(anchor, budget, start + int(self.credit))
            self._requote(anchor)  # a random take may have emptied the touch
        done = book.update_id - start
        # Overspending (a sweep) is paid back within about a second; shortfall carries over.
        self.credit = min(max(self.credit - done, -self.rate), self.rate * 0.25 + 1.0)
        self._steps += 1
        if self._steps % PRUNE_EVERY_STEPS == 0:
            self._prune()
        return done

    def _discover(self, anchor: float) -> None:
        """Fair value moved past the touch: a taker trades the book up (down) to it."""
        book = self.book
        ask = book.best_ask()
        if ask is not None and ask <= anchor - self.discovery:
            limit = math.floor(anchor)
            vol = 0
            for price, level in book.asks.items():
                if price > limit:
                    break
                vol += level.total
            self._take(True, vol)
            self.stats.sweeps += 1
            return
        bid = book.best_bid()
        if bid is not None and bid >= anchor + self.discovery:
            limit = math.ceil(anchor)
            vol = 0
            for price, level in book.bids.items():
                if price < limit:
                    break
                vol += level.total
            self._take(False, vol)
            self.stats.sweeps += 1

    def _requote(self, anchor: float) -> None:
        """Narrow a wide (or one-sided) book back to 1-2 ticks around the anchor."""
        book = self.book
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and ask - bid <= MAX_SPREAD_TICKS:
            return
        z = float(self._rng.standard_normal())
        lots = self._lots(z, self.order_mu)
        new_bid = math.floor(anchor - 0.5)
        if ask is not None:
            new_bid = min(new_bid, ask - 1)
        if bid is None or new_bid > bid:
            self._add(True, new_bid, lots)
            bid = new_bid
        new_ask = max(bid + 1, math.ceil(anchor + 0.5))
        if ask is None or new_ask < ask:
            self._add(False, new_ask, lots)

    def _refill(self, anchor: float) -> None:
        """Keep a floor of depth even when sweeps outrun the configured change rate."""
        book = self.book
        for is_bid, side in ((True, book.bids), (False, book.asks)):
            missing = min(MIN_LEVELS - len(side), REFILL_MAX_PER_STEP)
            if missing <= 0:
                continue
            other = book.asks if is_bid else book.bids
            if is_bid:
                ref = math.floor(anchor - 0.5)
                if other:
                    ref = min(ref, other.peekitem(0)[0] - 1)
            else:
                ref = math.ceil(anchor + 0.5)
                if other:
                    ref = max(ref, other.peekitem(0)[0] + 1)
            sign = -1 if is_bid else 1
            d = self._draws(missing)
            for j in range(missing):
                dist = 1 + int(d.far[j] * self.far_range)
                self._add(is_bid, ref + sign * dist, self._lots(d.size[j], self.order_mu + 0.7))

    def _random_actions(self, anchor: float, budget: int, target_uid: int) -> None:
        book, fair = self.book, self.fair
        n = 2 * budget + 8
        d = self._draws(n)
        p_take = min(0.5, TAKE_SHARE * fair.flow)
        bid, ask = book.best_bid(), book.best_ask()
        mid = (bid + ask) / 2 if bid is not None and ask is not None else anchor
        p_buy = 0.5 + 0.3 * math.tanh((anchor - mid) / self.discovery)
        near_mean, far_range = self.near_mean, self.far_range
        bid_ref, ask_ref = math.floor(anchor - 0.5), math.ceil(anchor + 0.5)
        bids, asks = book.bids, book.asks
        i = 0
        while book.update_id < target_uid and i < n:
            k = d.kind[i]
            if k < p_take:
                self._take(d.side[i] < p_buy, self._lots(d.size[i], self.take_mu))
                i += 1
                continue
            is_bid = d.side[i] < 0.5
            levels = len(bids if is_bid else asks)
            # Depth control: a thin side gets more adds, and more of them on new levels.
            if levels < LEVELS_TARGET:
                p_add, near_share = (0.95, 0.3) if levels < 0.8 * LEVELS_TARGET else (0.65, NEAR_SHARE)
            else:
                p_add, near_share = 0.42, NEAR_SHARE
            if (k - p_take) / (1.0 - p_take) >= p_add:
                self._cancel_random(is_bid, d.pick[i])
                i += 1
                continue
            if d.pick[i] < near_share:
                dist = int(d.near[i] * near_mean)
                mu = self.order_mu
            else:
                dist = int(d.far[i] * far_range)
                mu = self.order_mu + 0.7
            # Passive: never at or through the opposite touch.
            if is_bid:
                ref = bid_ref
                if asks:
                    ref = min(ref, asks.peekitem(0)[0] - 1)
                self._add(True, ref - dist, self._lots(d.size[i], mu))
            else:
                ref = ask_ref
                if bids:
                    ref = max(ref, bids.peekitem(0)[0] + 1)
                self._add(False, ref + dist, self._lots(d.size[i], mu))
            i += 1


@dataclass(slots=True)
class GeneratorStats:
    steps: int = 0
    level_changes: int = 0
    sim_seconds: float = 0.0
    busy_seconds: float = 0.0  # wall time spent inside step()
    per_flow: dict[tuple[Venue, str], FlowStats] = field(default_factory=dict)

    @property
    def level_changes_per_s(self) -> float:
        return self.level_changes / self.sim_seconds if self.sim_seconds else 0.0


class MarketDriver:
    """What moves the simulator's markets (the random walk, or a replayed recording): the
    control plane's pause/resume and ``run()`` as a task. Subclasses implement ``seed_books``
    (before serving) and ``run``."""

    _task_name = "sim-market-driver"

    def __init__(self) -> None:
        self._paused = False
        self._task: asyncio.Task[None] | None = None

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop all flow after the current step (books stay as they are)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def seed_books(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        raise NotImplementedError

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name=self._task_name)
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class MarketGenerator(MarketDriver):
    """Drives every market's books from one seed (see the module docstring).

    Wiring: ``gen = MarketGenerator(exchange); gen.seed_books()``; then, if
    ``exchange.config.generator``: ``gen.start()`` (an asyncio task running ``run()``)
    and ``await gen.stop()`` on shutdown.
    """

    _task_name = "sim-market-generator"

    def __init__(self, exchange) -> None:
        super().__init__()
        self.exchange = exchange
        config = exchange.config
        self.seed = int(config.seed)
        self.rate = float(config.depth_rate)
        self.fair: dict[str, FairValue] = {}
        self.flows: list[SymbolFlow] = []
        self.stats = GeneratorStats()
        for venue in VENUE_ORDER:
            market = exchange.markets.get(venue)
            if market is None:
                continue
            for symbol in config.symbols:
                inst = market.instruments.get(symbol)
                if inst is None:
                    continue
                fair = self.fair.get(symbol)
                if fair is None:
                    fair = self.fair[symbol] = FairValue(symbol, float(inst.start_price), self.seed)
                flow = SymbolFlow(market, venue, symbol, fair, self.seed, self.rate)
                self.flows.append(flow)
                self.stats.per_flow[(venue, symbol)] = flow.stats

    # ---- control -----------------------------------------------------------
    def fair_price(self, symbol: str) -> float:
        return self.fair[symbol].price

    def regime(self, symbol: str) -> str:
        return REGIMES[self.fair[symbol].regime].name

    def set_regime(self, symbol: str, name: str, hold: bool = True) -> None:
        """Switch ``symbol`` to regime ``name``; ``hold`` keeps it there (demos, tests)."""
        fair = self.fair[symbol]
        fair.regime = next(i for i, r in enumerate(REGIMES) if r.name == name)
        fair.hold = hold

    # ---- work --------------------------------------------------------------
    def seed_books(self) -> None:
        """Build every market's initial book around the fair value (no flow)."""
        for flow in self.flows:
            flow.seed()

    def step(self, dt_s: float) -> int:
        """Advance the fair values and every flow by ``dt_s`` seconds; returns level changes."""
        if dt_s <= 0:
            return 0
        t0 = time.perf_counter()
        for fair in self.fair.values():
            fair.step(dt_s)
        changes = sum(flow.step(dt_s) for flow in self.flows)
        self._record(dt_s, changes, time.perf_counter() - t0)
        return changes

    def _record(self, dt_s: float, changes: int, busy_s: float) -> None:
        st = self.stats
        st.steps += 1
        st.level_changes += changes
        st.sim_seconds += dt_s
        st.busy_seconds += busy_s

    async def run(self, interval_s: float = STEP_INTERVAL_S) -> None:
        """Step with real elapsed time every ``interval_s`` until cancelled.

        One step covers every market (~4 ms at the demo rates). Yielding between markets was
        tried for the window's loop lag and reverted: under the UI tests' qasync loop the
        depth streams then stalled (tests/ui/test_book.py resync test); not understood yet.
        """
        last = time.monotonic()
        while True:
            await asyncio.sleep(interval_s)
            now = time.monotonic()
            dt, last = min(now - last, MAX_STEP_DT_S), now
            if self._paused:
                continue
            try:
                self.step(dt)
            except Exception:  # one bad step must not stop the market
                log.exception("market generator step failed")

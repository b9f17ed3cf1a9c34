"""Webhook receipt -> order on the wire to the simulator: latency over N signed signals.

``python -m bench.webhook_to_order [N] [--kind generic|marketraker]`` (default 1000, generic).

The whole product path in one process: the aiohttp listener (HMAC check or RSA-PSS
verification, guards, journal fsync of the request and the signal), the bus, the automation
host and intent executor (sizing, risk checks, the order journaled before sending), the
Binance USDⓈ-M adapter's REST call, and the in-process simulator accepting the order.

* ``generic``: a generic hook's signed LIMIT buy far below the market (it rests, so each
  signal places a new order; the price steps by a tick so the duplicate guard stays quiet).
* ``marketraker``: a MarketRaker indicator signed with a generated RSA-2048 key, executed by
  a directly-driven executor on each signal (a new signal id each time), LIMIT entry at
  buy_price below the market.

Timing: ``t0`` just before the client sends the request, ``t1`` when the simulator's matching
engine accepts the order (its order listener, same process, same clock). One signal at a
time: the next is sent after the previous order landed. The client's own HTTP send is
inside the figure (an upper bound on the server-side path). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from terminal.app import App, AppConfig, Mode
from terminal.automation.wiring import AutomationConfig
from terminal.model import Venue
from terminal.signals.server import WebhookConfig
from terminal.sim.events import OrderEvent
from terminal.sim.exchange import SimConfig
from terminal.sim.server import start_sim
from terminal.trading.risk import RiskLimits, StrategyLimits
from terminal.venues.base import ApiCredentials

VENUE = Venue.BINANCE_USDM
SYM = "BTCUSDT"
HOOK = "bench"
SECRET = "bench-secret-not-a-real-one"


class _Secrets:
    """The key store stand-in for the one hook secret (the bench has no OS keyring)."""

    def secret(self, name: str) -> str | None:
        return SECRET if name == f"webhook:{HOOK}" else None


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run(n: int, kind: str) -> dict[str, object]:
    sim = await start_sim(SimConfig(generator=False, history_days=1))
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp / "mr.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    c = sim.exchange.default_credentials
    config = AppConfig(
        mode=Mode.DEMO,
        venues=(VENUE,),
        symbols=(SYM,),
        data_dir=tmp / "data",
        candle_history=10,
        sim_url=sim.url,
        credentials={VENUE: ApiCredentials(c.api_key, c.api_secret)},
        keystore=_Secrets(),
        # Each signal is a new resting order: the one-entry-per-symbol rule would refuse all but
        # the first (that rule is tested elsewhere; here it is the path's speed).
        risk_limits=RiskLimits(strategy_default=StrategyLimits(one_position_per_symbol=False)),
        automation=AutomationConfig(
            webhook=WebhookConfig(
                port=0,
                marketraker_key=pem,
                generic_hooks=(HOOK,),
                rate_per_minute=1_000_000,
                duplicate_window_s=1,
            )
        ),
    )
    app = App(config)
    await app.start()
    landed: dict[str, int] = {}
    market = sim.exchange.markets[VENUE]

    def on_sim(event: object) -> None:
        if isinstance(event, OrderEvent) and event.exec_type.value == "NEW":
            landed.setdefault(event.order.client_id, time.perf_counter_ns())

    market.subscribe(on_sim)
    if kind == "marketraker":
        # buy_price sits below the market: rest a LIMIT there instead of skipping the signal.
        await app.automation.host.arm(_mr_key(), {"limit_if_worse": "true"})
    top = app.engine.top_of_book(VENUE, SYM)
    while top is None or not top.live:
        await asyncio.sleep(0.05)
        top = app.engine.top_of_book(VENUE, SYM)
    base = (top.bid * Decimal("0.965")).quantize(Decimal("0.1"))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    url = app.automation.webhooks.url
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(n):
                price = base - Decimal("0.1") * (i % 5000)  # never the same terms twice (duplicate guard)
                if kind == "generic":
                    body = json.dumps(
                        {
                            "symbol": SYM,
                            "side": "buy",
                            "type": "limit",
                            "qty": "0.002",
                            "price": str(price),
                            "id": f"b{i}",
                        }
                    ).encode()
                    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                    target, headers = f"{url}/signal/{HOOK}", {"X-Signature": sig}
                else:
                    body = _mr_body(i, price)
                    sig = base64.b64encode(key.sign(body, pss, hashes.SHA256())).decode()
                    target, headers = app.automation.webhooks.marketraker_url, {"x-signature": sig}
                before = set(landed)
                t0 = time.perf_counter_ns()
                async with http.post(target, data=body, headers=headers) as resp:
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    await resp.read()
                deadline = time.monotonic() + 5
                while len(landed) == len(before) and time.monotonic() < deadline:
                    await asyncio.sleep(0)
                new = set(landed) - before
                if new:
                    latencies.append((landed[new.pop()] - t0) / 1e6)
                # Cancel it (untimed): a terminal does not sit on a thousand resting orders, and
                # the venue's and the OMS's per-order costs would grow with them.
                await app.automation.settle()
                for order in app.oms.open_orders(VENUE, SYM):
                    await app.oms.cancel(order.client_id)
    finally:
        await app.stop()
        await sim.stop()
    return {
        "bench": "webhook_to_order",
        "kind": kind,
        "signals": n,
        "orders_on_wire": len(latencies),
        "http_status": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": round(_pct(latencies, 0.50), 3) if latencies else None,
        "p99_ms": round(_pct(latencies, 0.99), 3) if latencies else None,
        "max_ms": round(max(latencies), 3) if latencies else None,
        "target_p99_ms": 5.0,
    }


def _mr_key() -> object:
    from terminal.automation.arming import ArmKey

    return ArmKey("marketraker_momentum", VENUE, SYM)


def _mr_body(i: int, price: Decimal) -> bytes:
    now = int(time.time())
    data = {
        "trading_pair": "BTC/USD", "trading_type": "Long", "market_direction": "Bull", "leverage": 1,
        "buy_price": float(price), "sell_price": float(price * Decimal("1.05")), "stoploss": float(price * Decimal("0.97")),
        "buy_date": now, "sell_prediction_date": now + 86_400 + i, "risk": 3, "percentage_change": 5.0,
    }  # fmt: skip
    return json.dumps({"type": "indicator", "data": json.dumps(data)}).encode()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int, nargs="?", default=1000)
    p.add_argument("--kind", choices=["generic", "marketraker"], default="generic")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.n, args.kind))
    print(json.dumps(result))
    return 0 if result["orders_on_wire"] == args.n else 1


if __name__ == "__main__":
    sys.exit(main())

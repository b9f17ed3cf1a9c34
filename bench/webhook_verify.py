"""Cost of authenticating a MarketRaker request, and of a whole accepted request.

``python -m bench.webhook_verify [N]`` (default 2000 verifications per case, 300 HTTP requests).
Cases, each verified with a freshly generated RSA-2048 key:

* ``live``: data as a JSON string, the raw body signed - one RSA verification;
* ``object``: pretty-printed data object, form 2 signed - raw fails, then form 2 (two);
* ``bad``: a wrong signature - every candidate tried (the worst case an attacker can cause).

Then N accepted requests (distinct indicators) over a real socket to a listener with a real
journal: the server's own handling time (journaled ``elapsed_us``: read, verify, parse,
journal the signal with fsync, publish) and the client's round trip. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from terminal.bus import EventBus
from terminal.signals.server import WebhookConfig, WebhookServer
from terminal.signals.verify import MarketRakerVerifier
from terminal.storage.journal import Journal

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
DATA: dict[str, Any] = {
    "trading_type": "Long",
    "leverage": 1,
    "buy_price": 205.0,
    "sell_price": 215.0,
    "buy_date": 1733913000,
    "sell_prediction_date": 1733999400,
    "risk": 4,
    "market_direction": "Bull",
    "percentage_change": 5.1,
    "stoploss": 200,
    "trading_pair": "SOL/USD",
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verify_costs(key: rsa.RSAPrivateKey, n: int) -> dict[str, float]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    t0 = time.perf_counter()
    verifier = MarketRakerVerifier.from_source(pem)
    out: dict[str, float] = {"key_load_us": round((time.perf_counter() - t0) * 1e6, 1)}
    live = json.dumps({"type": "indicator", "data": json.dumps(DATA)}).encode()
    obj = json.dumps({"type": "indicator", "data": DATA}, indent=4).encode()

    def sig(message: bytes) -> str:
        return base64.b64encode(key.sign(message, PSS, hashes.SHA256())).decode()

    cases = {"live": (live, sig(live)), "object": (obj, sig(live)), "bad": (live, sig(b"other"))}
    for name, (body, signature) in cases.items():
        envelope = json.loads(body)
        assert verifier.verify(body, signature, envelope).ok is (name != "bad")
        samples = []
        for _ in range(n):
            t = time.perf_counter_ns()
            verifier.verify(body, signature, json.loads(body))
            samples.append((time.perf_counter_ns() - t) / 1000)
        out[f"{name}_p50_us"] = round(_pct(samples, 0.5), 1)
        out[f"{name}_p99_us"] = round(_pct(samples, 0.99), 1)
    out["rsa_verify_mean_us"] = round(verifier.mean_verify_us, 1)
    return out


async def request_costs(key: rsa.RSAPrivateKey, n: int) -> dict[str, float]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "journal.sqlite3")
        server = WebhookServer(
            WebhookConfig(marketraker_key=pem.decode(), rate_per_minute=10**7),
            bus=EventBus(),
            journal=journal,
        )
        await server.start()
        bodies = []
        for i in range(n):  # distinct content: every request is a first delivery
            body = json.dumps({"type": "indicator", "data": json.dumps({**DATA, "buy_date": 1733913000 + i})})
            raw = body.encode()
            bodies.append((raw, base64.b64encode(key.sign(raw, PSS, hashes.SHA256())).decode()))
        round_trips = []
        try:
            async with aiohttp.ClientSession() as http:
                for raw, signature in bodies:
                    t = time.perf_counter_ns()
                    async with http.post(
                        server.marketraker_url, data=raw, headers={"x-signature": signature}
                    ) as r:
                        await r.read()
                        assert r.status == 200, r.status
                    round_trips.append((time.perf_counter_ns() - t) / 1000)
        finally:
            await server.stop()
        handled = [float(r.elapsed_us) for r in journal.webhook_requests()]
        journal.close()
    return {
        "requests": n,
        "server_p50_us": round(_pct(handled, 0.5), 1),
        "server_p99_us": round(_pct(handled, 0.99), 1),
        "round_trip_p50_us": round(_pct(round_trips, 0.5), 1),
        "round_trip_p99_us": round(_pct(round_trips, 0.99), 1),
        "round_trip_mean_us": round(statistics.fmean(round_trips), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=2000, help="verifications per case")
    parser.add_argument("--requests", type=int, default=300, help="HTTP requests to time")
    args = parser.parse_args(argv)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    result: dict[str, Any] = {"bench": "webhook_verify", "n": args.n}
    result.update(verify_costs(key, args.n))
    if args.requests > 0:
        result.update(asyncio.run(request_costs(key, args.requests)))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

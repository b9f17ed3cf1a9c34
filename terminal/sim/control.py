"""``/sim/*``: the simulator's control plane (fault injection, generator, inspection).

Not part of any venue's API; tests and benchmarks use it when the simulator runs in
another process. In-process callers use ``exchange.faults`` and friends directly.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import orjson
from aiohttp import web

from terminal.model.enums import Venue
from terminal.sim.exchange import SimExchange
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault, StreamFault


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _bad(msg: str) -> web.Response:
    return _json({"error": msg}, status=400)


def _paths(value: object) -> frozenset[str] | None:
    """``paths``: a list of "METHOD /path" or "/path", or "orders" for every order-placement route."""
    if value is None:
        return None
    if value == "orders":
        return ORDER_PLACEMENT_PATHS
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"paths must be a list of strings or 'orders', got {value!r}")
    return frozenset(value)


def restart(exchange: SimExchange) -> None:
    """What a venue restart looks like from outside: every socket cut, a burst of 503s,
    and Bybit books that come back with a u=1 snapshot."""
    faults = exchange.faults
    faults.inject_http(HttpFault.SERVER_ERROR, None, count=3, status=503)
    faults.inject_stream(StreamFault.BOOK_RESET, Venue.BYBIT_SPOT, count=len(exchange.config.symbols))
    faults.inject_stream(StreamFault.BOOK_RESET, Venue.BYBIT_LINEAR, count=len(exchange.config.symbols))
    faults.inject_stream(StreamFault.DROP, None)


def setup(app: web.Application, exchange: SimExchange) -> None:
    async def status(_: web.Request) -> web.Response:
        gen = exchange.generator
        return _json(
            {
                "symbols": list(exchange.config.symbols),
                "venues": [v.value for v in exchange.markets],
                "generator": {
                    "running": exchange.generator_task is not None,
                    "paused": bool(gen and gen.paused),
                },
                "faults_struck": dict(exchange.faults.injected),
                "books": {
                    v.value: {s: b.update_id for s, b in m.books.items()} for v, m in exchange.markets.items()
                },
            }
        )

    async def inject(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            kind = body["kind"]
            venue = Venue(body["venue"]) if body.get("venue") else None
            count = int(body.get("count", 1))
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            return _bad(f"expected JSON {{kind, venue?, count?, ...}}: {exc}")
        if kind == "restart":
            restart(exchange)
        elif kind in HttpFault._value2member_map_:
            try:
                exchange.faults.inject_http(
                    HttpFault(kind),
                    venue,
                    count,
                    status=int(body.get("status", 503)),
                    retry_after_s=int(body.get("retry_after_s", 2)),
                    delay_s=float(body.get("delay_s", 0.0)),
                    probability=float(body.get("probability", 1.0)),
                    paths=_paths(body.get("paths")),
                    seed=int(body.get("seed", 0)),
                )
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        elif kind in StreamFault._value2member_map_:
            exchange.faults.inject_stream(
                StreamFault(kind),
                venue,
                count,
                symbol=body.get("symbol"),
                duration_s=float(body.get("duration_s", 5)),
            )
        else:
            kinds = [*HttpFault._value2member_map_, *StreamFault._value2member_map_, "restart"]
            return _bad(f"unknown fault kind {kind!r}; one of {kinds}")
        return _json({"armed": kind})

    async def clear(_: web.Request) -> web.Response:
        exchange.faults.clear()
        return _json({"cleared": True})

    async def generator(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            paused = bool(body["paused"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            return _bad(f"expected JSON {{paused: bool}}: {exc}")
        gen = exchange.generator
        if gen is None:
            return _bad("no generator")
        gen.pause() if paused else gen.resume()
        return _json({"paused": gen.paused})

    async def book(request: web.Request) -> web.Response:
        try:
            market = exchange.markets[Venue(request.query["venue"])]
            symbol = request.query["symbol"]
            inst = market.instruments[symbol]
            limit = int(request.query.get("limit", 1000))
        except (KeyError, ValueError) as exc:
            return _bad(f"venue, symbol, limit?: {exc}")
        uid, bids, asks = market.depth(symbol, limit)
        return _json(
            {
                "update_id": uid,
                "bids": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in bids],
                "asks": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in asks],
            }
        )

    async def deposit(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            market = exchange.markets[Venue(body["venue"])]
            amount = Decimal(str(body["amount"]))
            asset = str(body["asset"])
            account = str(body.get("account", exchange.default_credentials.account_id))
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError, InvalidOperation) as exc:
            return _bad(f"expected JSON {{venue, asset, amount, account?}}: {exc}")
        market.deposit(account, asset, amount)
        return _json({"deposited": str(amount), "asset": asset})

    async def credentials(_: web.Request) -> web.Response:
        # The simulator's own generated demo keys (never a real venue's): clients of a
        # standalone `terminal sim` need them to sign requests.
        creds = exchange.default_credentials
        return _json({"api_key": creds.api_key, "api_secret": creds.api_secret, "account": creds.account_id})

    app.router.add_get("/sim/credentials", credentials)
    app.router.add_get("/sim/status", status)
    app.router.add_post("/sim/faults", inject)
    app.router.add_delete("/sim/faults", clear)
    app.router.add_post("/sim/generator", generator)
    app.router.add_get("/sim/book", book)
    app.router.add_post("/sim/deposit", deposit)

"""The embedded webhook listener: an aiohttp server inside the app's running loop.

Routes:

* ``POST <marketraker_path>`` (default ``/marketraker/notification``): MarketRaker
  notifications, RSA-PSS signed (``verify.py``);
* ``POST /signal/<name>``: generic hooks, HMAC-SHA256 with a per-hook secret (``generic.py``);
* ``GET /healthz``: liveness, uptime and counts by outcome;
* whatever ``add_route`` adds before start (the app's ``GET /metrics`` and its fuller
  ``GET /healthz``, ``terminal.ops``).

Every webhook request runs size -> rate -> signature -> parse -> duplicate, in that order
(the cheap checks first, cryptography before any parsing we act on), and whatever the
outcome it is journaled (``webhook_requests``, without signature headers or secrets) and
answered with JSON. Nothing escapes as a 500: an internal failure answers 503 with a reason
and is logged. Accepted signals are journaled (``signals``) *before* ``SignalAccepted`` is
published, so nothing is acted on that a restart would not know about.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from terminal.bus import EventBus
from terminal.model import Signal
from terminal.signals.events import SignalAccepted, SignalRejected
from terminal.signals.generic import GenericSignalError, check_hmac, parse_generic, valid_hook_name
from terminal.signals.guards import BodyTooLarge, DuplicateWindow, RateLimiter, read_limited
from terminal.signals.indicator import IndicatorError, parse_indicator
from terminal.signals.verify import MarketRakerVerifier
from terminal.storage.journal import Journal, SignalVerdict, WebhookOutcome

__all__ = ["MARKETRAKER_HOOK", "Verdict", "WebhookConfig", "WebhookError", "WebhookServer"]

log = logging.getLogger(__name__)

MARKETRAKER_HOOK = "marketraker"
SecretSource = Callable[[str], str | bytes | None]
HealthExtra = Callable[[], Mapping[str, Any]]
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Headers worth keeping for a post-mortem. A whitelist, not a blacklist: an unexpected
# Authorization, Cookie or X-Api-Key header can never reach the journal.
_SAFE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Encoding",
    "Transfer-Encoding",
    "User-Agent",
    "Host",
    "X-Forwarded-For",
    "X-Real-IP",
)
# JSON fields whose values are masked before a body is journaled (TradingView bot recipes
# put a "passphrase" in the alert body).
_SECRETISH = re.compile(r"secret|passphrase|password|passwd|token|api[_-]?key|signature|auth", re.I)
_MASK_DEPTH = 32
_MAX_TEXT = 512  # header values, paths and hook names in the journal


class WebhookError(Exception):
    """The listener cannot be configured or started as asked."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (read it back from ``WebhookServer.url``)
    marketraker_path: str = "/marketraker/notification"
    marketraker_key: str | Path | None = None  # PEM file, PEM text or one-line "\n" PEM
    max_body: int = 64 * 1024
    rate_per_minute: int = 120  # per hook
    rate_burst: int | None = None  # None: a minute's worth may arrive at once
    duplicate_window_s: float = 600.0
    generic_hooks: tuple[str, ...] = ()  # names served at /signal/<name>
    read_timeout_s: float = 10.0  # a body trickling in slower than this is answered 408

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be within 0..65535, got {self.port}")
        path = self.marketraker_path
        if not path.startswith("/") or path.startswith(("/signal/", "/healthz")) or "{" in path:
            problems.append(
                f"marketraker_path must start with / and not clash with /signal/ or /healthz: {path!r}"
            )
        if self.max_body < 1:
            problems.append("max_body must be positive")
        if self.rate_per_minute <= 0:
            problems.append("rate_per_minute must be positive")
        if self.rate_burst is not None and self.rate_burst < 1:
            problems.append("rate_burst must be at least 1")
        if self.duplicate_window_s < 0:
            problems.append("duplicate_window_s must not be negative")
        if self.read_timeout_s <= 0:
            problems.append("read_timeout_s must be positive")
        bad = [n for n in self.generic_hooks if not valid_hook_name(n) or n == MARKETRAKER_HOOK]
        if bad:
            problems.append(f"hook names must be letters, digits, _ . - (max 64), not 'marketraker': {bad}")
        if problems:
            raise WebhookError("webhook config: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a request is answered and journaled."""

    status: int
    outcome: WebhookOutcome
    reason: str = ""
    signal_id: str | None = None
    problems: tuple[str, ...] = ()
    retry_after_s: int | None = None

    def payload(self) -> dict[str, Any]:
        if self.outcome is WebhookOutcome.ACCEPTED:
            return {"ok": True, "signal_id": self.signal_id}
        if self.outcome is WebhookOutcome.DUPLICATE:
            return {"ok": True, "duplicate": True, "signal_id": self.signal_id}
        if self.outcome is WebhookOutcome.IGNORED:
            return {"ok": True, "ignored": True, "reason": self.reason}
        out: dict[str, Any] = {"ok": False, "error": self.reason}
        if self.problems:
            out["problems"] = list(self.problems)
        if self.retry_after_s is not None:
            out["retry_after_s"] = self.retry_after_s
        return out


class _Answer(Exception):
    """Raised by a check to stop processing and answer with ``verdict``."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def _reject(status: int, outcome: WebhookOutcome, reason: str, problems: list[str] | None = None) -> _Answer:
    return _Answer(Verdict(status, outcome, reason, problems=tuple(problems or ())))


@dataclass(slots=True)
class _Request:
    """What the journal row needs, filled in as the request is processed."""

    received_at: int
    started_ns: int
    hook: str = ""
    body: bytes | None = None
    envelope: Any = None  # the body parsed as JSON, when it parsed
    signal: Signal | None = None  # accepted or duplicate: journaled with the request row
    signal_hook: str = ""  # the hook it came through (SignalAccepted.hook)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _clean(text: str, limit: int = _MAX_TEXT) -> str:
    """Printable-safe, SQLite-safe text (no lone surrogates), truncated."""
    return text.encode("utf-8", "replace").decode("utf-8", "replace")[:limit]


def _decode_json(body: bytes | str) -> tuple[Any, str | None]:
    """(value, None) or (None, what is wrong). ``json.loads`` keeps key order, which the
    signature's re-serialised forms depend on."""
    try:
        return json.loads(body), None
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int too long
        return None, str(exc)[:200]


def _mask(value: Any, depth: int = 0) -> tuple[Any, bool]:
    if depth > _MASK_DEPTH:
        return value, False
    if isinstance(value, dict):
        out, masked = {}, False
        for k, v in value.items():
            if isinstance(k, str) and _SECRETISH.search(k) and v is not None:
                out[k], masked = "***", True
            else:
                out[k], m = _mask(v, depth + 1)
                masked |= m
        return out, masked
    if isinstance(value, list):
        items = [_mask(v, depth + 1) for v in value]
        return [v for v, _ in items], any(m for _, m in items)
    return value, False


def _body_text(body: bytes, envelope: Any) -> str:
    if envelope is not None:
        try:
            masked, changed = _mask(envelope)
            if changed:
                return json.dumps(masked)
        except (ValueError, TypeError, RecursionError):
            pass
    return body.decode("utf-8", "replace")


class WebhookServer:
    """Start with ``await start()`` inside the running loop; ``url`` is then known."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        bus: EventBus,
        journal: Journal,
        secret_for: SecretSource | None = None,
        health_extra: HealthExtra | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._bus = bus
        self._journal = journal
        self._secret_for = secret_for
        self.health_extra = health_extra  # the app fills it later; merged into /healthz
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self.verifier: MarketRakerVerifier | None = None
        if config.marketraker_key is not None:
            self.set_marketraker_key(config.marketraker_key)  # KeyLoadError: fail at construction
        self._limiter = RateLimiter(config.rate_per_minute, config.rate_burst, monotonic)
        self._dups = DuplicateWindow(config.duplicate_window_s, clock=monotonic)
        self._hooks = frozenset(config.generic_hooks)
        self.counts: Counter[WebhookOutcome] = Counter()
        self.journal_errors = 0
        self._extra_routes: list[tuple[str, str, RouteHandler]] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._started: float | None = None

    # ------------------------------------------------------------------ lifecycle

    def set_marketraker_key(self, source: str | Path | bytes | None) -> None:
        """Load (or with None, drop) the MarketRaker verification key; raises KeyLoadError."""
        self.verifier = None if source is None else MarketRakerVerifier.from_source(source)

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise WebhookError("the webhook listener is not started")
        return self._port

    @property
    def url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def marketraker_url(self) -> str:
        return self.url + self.config.marketraker_path

    def hook_url(self, name: str) -> str:
        return f"{self.url}/signal/{name}"

    def add_route(self, method: str, path: str, handler: RouteHandler) -> None:
        """Serve ``handler`` at ``method path`` too (e.g. ``GET /metrics``); before ``start``.
        A ``GET /healthz`` added here replaces the built-in one (which ``health_payload`` keeps
        available). Webhook paths cannot be taken over."""
        if self._runner is not None:
            raise WebhookError("routes must be added before the webhook listener starts")
        method = method.upper()
        if not path.startswith("/") or path.startswith("/signal/") or path == self.config.marketraker_path:
            raise WebhookError(f"route {method} {path!r} must start with / and not take a webhook path")
        if any(m == method and p == path for m, p, _ in self._extra_routes):
            raise WebhookError(f"route {method} {path} is already added")
        self._extra_routes.append((method, path, handler))

    async def start(self) -> None:
        if self._runner is not None:
            raise WebhookError("the webhook listener is already started")
        self._seed_duplicates()
        app = web.Application(middlewares=[self._middleware], client_max_size=self.config.max_body)
        app.router.add_post(self.config.marketraker_path, self._endpoint(self._marketraker))
        app.router.add_post("/signal/{name}", self._endpoint(self._generic))
        for method, path, handler in self._extra_routes:
            app.router.add_route(method, path, handler)
        if not any(m == "GET" and p == "/healthz" for m, p, _ in self._extra_routes):
            app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise WebhookError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}"
            ) from None
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self._started = self._monotonic()
        log.info("webhook listener on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("webhook listener stopped")

    def _seed_duplicates(self) -> None:
        """Signals accepted within the window before a restart are still duplicates."""
        window_ms = int(self.config.duplicate_window_s * 1000)
        now_ms, now = self._clock_ms(), self._monotonic()
        try:
            records = self._journal.signals(since=now_ms - window_ms)
        except Exception:
            log.exception("webhook: cannot read recent signals; the duplicate window starts empty")
            return
        for rec in records:
            if rec.verdict is SignalVerdict.ACCEPTED and rec.received_at <= now_ms:
                self._dups.remember(rec.signal_id, at=now - (now_ms - rec.received_at) / 1000)

    # ------------------------------------------------------------------ plumbing

    def _endpoint(
        self, process: Callable[[web.Request, _Request], Awaitable[Verdict]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            ctx = _Request(self._clock_ms(), time.perf_counter_ns())
            try:
                verdict = await process(request, ctx)
            except _Answer as answer:
                verdict = answer.verdict
            except Exception:
                log.exception("webhook %s: internal error", ctx.hook or request.path)
                verdict = Verdict(503, WebhookOutcome.UNAVAILABLE, "internal error; the request was logged")
            return self._finish(request, ctx, verdict)

        return handler

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Routes the router refuses (404/405) are answered and journaled like the others;
        anything that escapes a handler becomes a 503, never a 500."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 500 or exc.status < 400:
                raise
            ctx = _Request(self._clock_ms(), time.perf_counter_ns(), hook=_clean(request.path, 64))
            reason = "no such route" if exc.status == 404 else f"method {request.method} not allowed"
            return self._finish(request, ctx, Verdict(exc.status, WebhookOutcome.NOT_FOUND, reason))
        except Exception:
            log.exception("webhook %s: internal error", request.path)
            return web.json_response(
                {"ok": False, "error": "internal error; the request was logged"}, status=503
            )

    def _finish(self, request: web.Request, ctx: _Request, verdict: Verdict) -> web.Response:
        body = ctx.body
        headers = {name: _clean(request.headers[name]) for name in _SAFE_HEADERS if name in request.headers}
        if "X-Signature" in request.headers:
            headers["X-Signature"] = "(present, not stored)"
        reason = verdict.reason or None
        if verdict.problems:
            reason = f"{verdict.reason}: {'; '.join(verdict.problems)}"
        record = functools.partial(
            self._journal.record_webhook_request,
            received_at=ctx.received_at,
            hook=_clean(ctx.hook, 64),
            method=_clean(request.method, 16),
            path=_clean(request.rel_url.raw_path),
            remote=request.remote,
            status=verdict.status,
            outcome=verdict.outcome,
            reason=reason,
            signal_id=verdict.signal_id,
            body_size=len(body) if body is not None else (request.content_length or 0),
            body_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
            body=_body_text(body, ctx.envelope) if body is not None else None,
            headers=headers,
            elapsed_us=(time.perf_counter_ns() - ctx.started_ns) // 1000,
        )
        if ctx.signal is not None and verdict.status == 200:
            verdict = self._journal_signal(ctx, verdict, record)
            if verdict.status != 200:  # the journal failed: answer (and try to record) that
                self._record_request(
                    functools.partial(record, status=verdict.status, outcome=verdict.outcome), verdict.status
                )
        else:
            self._record_request(record, verdict.status)
        self.counts[verdict.outcome] += 1
        if verdict.status >= 400 and verdict.outcome is not WebhookOutcome.NOT_FOUND:
            self._bus.publish(SignalRejected(ctx.hook, verdict.status, reason or "", ctx.received_at))
        if verdict.status >= 400:
            level = logging.DEBUG if verdict.outcome is WebhookOutcome.RATE_LIMITED else logging.INFO
            log.log(level, "webhook %s: %s %s", ctx.hook or request.path, verdict.status, reason)
        response = web.Response(
            text=json.dumps(verdict.payload()), status=verdict.status, content_type="application/json"
        )
        if verdict.retry_after_s is not None:
            response.headers["Retry-After"] = str(verdict.retry_after_s)
        return response

    def _record_request(self, record: Callable[[], object], status: int) -> None:
        try:
            record()
        except Exception:
            self.journal_errors += 1
            log.exception("webhook: cannot journal a request (answered %s)", status)

    # ------------------------------------------------------------------ shared checks

    async def _read_body(self, request: web.Request, ctx: _Request) -> bytes:
        try:
            async with asyncio.timeout(self.config.read_timeout_s):
                body = await read_limited(request.content, self.config.max_body, request.content_length)
        except BodyTooLarge as exc:
            raise _reject(413, WebhookOutcome.TOO_LARGE, str(exc)) from None
        except TimeoutError:
            raise _reject(408, WebhookOutcome.TIMEOUT, "request body not received in time") from None
        except Exception as exc:  # broken chunking, connection reset mid-body
            raise _reject(
                400, WebhookOutcome.INVALID, f"request body unreadable ({type(exc).__name__})"
            ) from None
        ctx.body = body
        return body

    def _check_rate(self, hook: str) -> None:
        decision = self._limiter.check(hook)
        if not decision.allowed:
            raise _Answer(
                Verdict(
                    429,
                    WebhookOutcome.RATE_LIMITED,
                    f"more than {self.config.rate_per_minute} requests per minute",
                    retry_after_s=decision.retry_after_s,
                )
            )

    def _accept(self, hook: str, signal: Signal, ctx: _Request) -> Verdict:
        """Duplicate or new; ``_finish`` journals the signal with the request row (one
        transaction) and only then publishes a new one - with no await in between, so a second
        delivery cannot pass the duplicate check meanwhile."""
        ctx.signal, ctx.signal_hook = signal, hook
        if self._dups.seen(signal.id):
            return Verdict(200, WebhookOutcome.DUPLICATE, "duplicate delivery", signal.id)
        return Verdict(200, WebhookOutcome.ACCEPTED, "", signal.id)

    def _journal_signal(self, ctx: _Request, verdict: Verdict, record: Callable[[], object]) -> Verdict:
        signal = ctx.signal
        assert signal is not None
        accepted = verdict.outcome is WebhookOutcome.ACCEPTED
        try:
            with self._journal.batch():
                if accepted:
                    self._journal.record_signal(signal, SignalVerdict.ACCEPTED)
                else:
                    self._journal.record_signal(
                        signal, SignalVerdict.DUPLICATE, "re-delivered within the window"
                    )
                record()
        except Exception:
            self.journal_errors += 1
            log.exception("webhook %s: cannot journal signal %s", ctx.hook, signal.id)
            if not accepted:
                return verdict
            return Verdict(
                503, WebhookOutcome.UNAVAILABLE, "journal unavailable; the signal was not accepted"
            )
        if accepted:
            self._dups.remember(signal.id)
            self._bus.publish(SignalAccepted(signal, ctx.signal_hook))
        return verdict

    # ------------------------------------------------------------------ MarketRaker

    async def _marketraker(self, request: web.Request, ctx: _Request) -> Verdict:
        ctx.hook = MARKETRAKER_HOOK
        body = await self._read_body(request, ctx)
        self._check_rate(MARKETRAKER_HOOK)
        envelope, json_error = _decode_json(body)
        ctx.envelope = envelope
        verifier = self.verifier
        if verifier is None:
            raise _reject(503, WebhookOutcome.UNAVAILABLE, "no MarketRaker verification key is configured")
        check = verifier.verify(body, request.headers.get("x-signature"), envelope)
        if not check.ok:
            raise _reject(401, WebhookOutcome.UNAUTHORIZED, check.reason)
        if json_error is not None:
            raise _reject(400, WebhookOutcome.INVALID, f"body is not valid JSON: {json_error}")
        if not isinstance(envelope, dict):
            raise _reject(400, WebhookOutcome.INVALID, "body: expected a JSON object {type, data}")
        kind = envelope.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise _reject(400, WebhookOutcome.INVALID, "type: missing or not a string")
        if kind.strip().lower() != "indicator":
            return Verdict(202, WebhookOutcome.IGNORED, f"notification type {kind[:64]!r} is not actionable")
        if "data" not in envelope:
            raise _reject(400, WebhookOutcome.INVALID, "data: missing")
        data = envelope["data"]
        if isinstance(data, str):
            data, data_error = _decode_json(data)
            if data_error is not None:
                raise _reject(400, WebhookOutcome.INVALID, f"data: not valid JSON ({data_error})")
        try:
            indicator = parse_indicator(data)
        except IndicatorError as exc:
            raise _reject(400, WebhookOutcome.INVALID, "invalid indicator", exc.problems) from None
        return self._accept(MARKETRAKER_HOOK, indicator.to_signal(ctx.received_at), ctx)

    # ------------------------------------------------------------------ generic hooks

    def _secret(self, name: str) -> str | bytes:
        if self._secret_for is None:
            raise _reject(503, WebhookOutcome.UNAVAILABLE, "no hook secrets are configured")
        try:
            secret = self._secret_for(name)
        except Exception as exc:
            # The type only: a keyring error's text is not ours to vouch for.
            log.error("webhook %s: secret lookup failed (%s)", name, type(exc).__name__)
            raise _reject(
                503, WebhookOutcome.UNAVAILABLE, f"the secret of hook {name!r} is unavailable"
            ) from None
        if not secret:
            raise _reject(503, WebhookOutcome.UNAVAILABLE, f"no secret is configured for hook {name!r}")
        return secret

    async def _generic(self, request: web.Request, ctx: _Request) -> Verdict:
        name = request.match_info["name"]
        ctx.hook = _clean(name, 64)
        if name not in self._hooks:
            raise _reject(404, WebhookOutcome.NOT_FOUND, f"no webhook hook named {ctx.hook!r}")
        body = await self._read_body(request, ctx)
        self._check_rate(name)
        secret = self._secret(name)
        auth_error = check_hmac(secret, body, request.headers.get("X-Signature"))
        if auth_error is not None:
            raise _reject(401, WebhookOutcome.UNAUTHORIZED, auth_error)
        envelope, json_error = _decode_json(body)
        ctx.envelope = envelope
        if json_error is not None:
            raise _reject(400, WebhookOutcome.INVALID, f"body is not valid JSON: {json_error}")
        try:
            parsed = parse_generic(name, envelope, ctx.received_at)
        except GenericSignalError as exc:
            raise _reject(400, WebhookOutcome.INVALID, "invalid signal", exc.problems) from None
        return self._accept(name, parsed.to_signal(ctx.received_at), ctx)

    # ------------------------------------------------------------------ health

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(
            text=json.dumps(self.health_payload(), default=str), content_type="application/json"
        )

    def health_payload(self) -> dict[str, Any]:
        """The listener's own health (uptime, counts by outcome, key) plus ``health_extra``."""
        verifier = self.verifier
        payload: dict[str, Any] = {
            "ok": True,
            "uptime_s": round(self._monotonic() - self._started, 3) if self._started is not None else 0.0,
            "url": self.url,
            "requests": sum(self.counts.values()),
            "counts": {o.value: self.counts.get(o, 0) for o in WebhookOutcome},
            "journal_errors": self.journal_errors,
            "marketraker": {
                "path": self.config.marketraker_path,
                "key_loaded": verifier is not None,
                "verify_us_mean": round(verifier.mean_verify_us, 1) if verifier is not None else None,
            },
            "hooks": sorted(self._hooks),
        }
        if self.health_extra is not None:
            try:
                payload.update(self.health_extra())
            except Exception as exc:
                log.exception("webhook: health_extra failed")
                payload["extra_error"] = type(exc).__name__
        return payload

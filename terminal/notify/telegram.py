"""Telegram channel: Bot API ``sendMessage`` over aiohttp.

The token is read from the key store at the first send (and again after the API refused it),
never logged: it sits in the URL path, so every error text is scrubbed of it before it leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp

from terminal.notify.channel import Channel, DeliveryError, scrub
from terminal.notify.config import TELEGRAM_TOKEN_SECRET, TelegramConfig
from terminal.notify.model import ChannelKind, Notice

__all__ = ["MAX_TEXT", "TelegramChannel"]

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # Bot API limit for one message's text


class TelegramChannel(Channel):
    kind = ChannelKind.TELEGRAM

    def __init__(self, config: TelegramConfig, token: Callable[[], str | None]) -> None:
        self.config = config
        self._token_source = token  # e.g. lambda: keystore.secret(TELEGRAM_TOKEN_SECRET)
        self._token: str | None = None
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"TelegramChannel(chat_id={self.config.chat_id!r}, base_url={self.config.base_url!r})"

    def _read_token(self) -> str:
        if self._token is None:
            try:
                token = self._token_source()
            except Exception as exc:  # KeyStoreError, locked vault: its message holds no secret
                raise DeliveryError(f"telegram: cannot read the bot token: {exc}", permanent=True) from None
            if not token:
                raise DeliveryError(
                    f"telegram: no bot token stored (key store secret {TELEGRAM_TOKEN_SECRET!r})",
                    permanent=True,
                )
            self._token = token.strip()
        return self._token

    async def send(self, notice: Notice) -> None:
        token = self._read_token()
        text = notice.text()
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1] + "…"
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))
        url = f"{self.config.base_url.rstrip('/')}/bot{token}/sendMessage"
        payload = {"chat_id": self.config.chat_id, "text": text, "disable_web_page_preview": True}
        try:
            async with self._session.post(url, json=payload) as resp:
                status = resp.status
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = None
                header_retry = resp.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(scrub(f"telegram: {type(exc).__name__}: {exc}", token)) from None
        if status == 200 and isinstance(answer, dict) and answer.get("ok") is True:
            return
        self._fail(status, answer, header_retry, token)

    def _fail(self, status: int, answer: object, header_retry: str | None, token: str) -> None:
        description = ""
        retry_after: float | None = None
        if isinstance(answer, dict):
            description = str(answer.get("description", ""))[:200]
            params = answer.get("parameters")
            if isinstance(params, dict) and isinstance(params.get("retry_after"), (int, float)):
                retry_after = float(params["retry_after"])
        if retry_after is None and header_retry is not None:
            try:
                retry_after = float(header_retry)
            except ValueError:
                pass
        message = scrub(f"telegram: HTTP {status}" + (f": {description}" if description else ""), token)
        if status in (401, 404):
            self._token = None  # revoked or mistyped: read it again next time (the user may fix it)
        if status == 429 or status >= 500:
            raise DeliveryError(message, retry_after=retry_after if status == 429 else None)
        # 400 (bad chat id), 401/403/404 (bad token, bot blocked): retrying cannot help.
        raise DeliveryError(message, permanent=400 <= status < 500)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

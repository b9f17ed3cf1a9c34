"""EmailChannel against a real aiosmtpd server on 127.0.0.1 with TLS (self-signed certificate
made in the test) and AUTH required."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from terminal.bus import EventBus
from terminal.notify import (
    ChannelKind,
    DeliveryError,
    EmailChannel,
    EmailConfig,
    Notice,
    NoticeKind,
    Notifier,
    NotifyConfig,
    RetryPolicy,
    Severity,
    SmtpSecurity,
)

from .support import PASSWORD, USER, free_port, self_signed, smtp_server

# The implicit-TLS server offers AUTH on a TLS socket that aiosmtpd does not count as TLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

NOTICE = Notice(
    NoticeKind.RISK_STATE,
    title="Trading HALTED (was ACTIVE)",
    body="by risk: day loss",
    severity=Severity.CRITICAL,
)


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def _config(port: int, cert: Path, security: SmtpSecurity) -> EmailConfig:
    return EmailConfig(
        host="127.0.0.1",
        port=port,
        security=security,
        sender="terminal@example.test",
        recipients=("me@example.test", "ops@example.test"),
        username=USER,
        ca_file=cert,
        timeout_s=5,
    )


@pytest.mark.parametrize("security", [SmtpSecurity.STARTTLS, SmtpSecurity.TLS])
async def test_message_arrives_over_tls_with_auth(cert: tuple[Path, Path], security: SmtpSecurity) -> None:
    with smtp_server(*cert, implicit_tls=security is SmtpSecurity.TLS) as (box, port):
        ch = EmailChannel(_config(port, cert[0], security), lambda: PASSWORD)
        await ch.send(NOTICE)
    (msg,) = box.messages
    assert box.logins == [USER]
    assert msg["Subject"] == "[terminal] CRITICAL: Trading HALTED (was ACTIVE)"
    assert msg["From"] == "terminal@example.test"
    assert msg["X-Terminal-Notice"] == "risk_state"
    assert msg.get_payload(decode=True).decode().strip() == "by risk: day loss"
    assert box.envelopes == [("terminal@example.test", ["me@example.test", "ops@example.test"])]


async def test_untrusted_certificate_is_refused(cert: tuple[Path, Path], tmp_path: Path) -> None:
    # Without the test CA the client must not talk to the server (no silent cert bypass).
    with smtp_server(*cert, implicit_tls=True) as (box, port):
        config = _config(port, cert[0], SmtpSecurity.TLS)
        ch = EmailChannel(EmailConfig(**{**_asdict(config), "ca_file": None}), lambda: PASSWORD)
        with pytest.raises(DeliveryError):
            await ch.send(NOTICE)
    assert box.messages == []


def _asdict(c: EmailConfig) -> dict[str, object]:
    return {name: getattr(c, name) for name in c.__slots__}  # type: ignore[attr-defined]


async def test_wrong_password_is_permanent_and_never_logged(
    cert: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-pass-do-not-log"
    with smtp_server(*cert, implicit_tls=False) as (box, port):
        config = NotifyConfig(
            routes={NoticeKind.RISK_STATE: frozenset({ChannelKind.EMAIL})},
            email=_config(port, cert[0], SmtpSecurity.STARTTLS),
            retry=RetryPolicy(attempts=3, base_s=0.01, max_s=0.02),
        )
        notifier = Notifier(EventBus(), config, [EmailChannel(config.email, lambda: wrong)])  # type: ignore[arg-type]
        notifier.start()
        notifier.post(NOTICE)
        await notifier.close(timeout_s=10)
    stats = notifier.stats()[ChannelKind.EMAIL]
    assert (stats.sent, stats.failed, stats.retries) == (0, 1, 0)
    assert "535" in stats.last_error
    assert wrong not in caplog.text and wrong not in stats.last_error
    assert box.messages == []


async def test_server_down_is_retryable() -> None:
    config = EmailConfig(
        host="127.0.0.1", port=free_port(), sender="a@b.c", recipients=("d@e.f",), timeout_s=2
    )
    with pytest.raises(DeliveryError) as err:
        await EmailChannel(config, lambda: None).send(NOTICE)
    assert not err.value.permanent


async def test_missing_password_names_the_secret() -> None:
    config = EmailConfig(host="127.0.0.1", sender="a@b.c", recipients=("d@e.f",), username="u")
    with pytest.raises(DeliveryError, match="smtp:password") as err:
        await EmailChannel(config, lambda: None).send(NOTICE)
    assert err.value.permanent

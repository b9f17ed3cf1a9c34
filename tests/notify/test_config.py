"""NotifyConfig.from_dict: settings parse to types; mistakes name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminal.notify import (
    ChannelKind,
    NoticeKind,
    NotifyConfig,
    NotifyConfigError,
    RetryPolicy,
    SmtpSecurity,
)


def test_parses_routes_channels_and_retry() -> None:
    cfg = NotifyConfig.from_dict(
        {
            "routes": {"fill": ["telegram"], "risk_state": ["telegram", "email", "tray"], "feed": []},
            "telegram": {"chat_id": 12345},
            "email": {
                "host": "smtp.example.test",
                "port": 465,
                "security": "tls",
                "sender": "t@example.test",
                "recipients": "me@example.test",
                "username": "t@example.test",
                "ca_file": "/etc/ca.pem",
            },
            "retry": {"attempts": 3, "base_s": 0.5, "max_s": 10},
            "coalesce_s": 2,
        }
    )
    assert cfg.channels_for(NoticeKind.FILL) == {ChannelKind.TELEGRAM}
    assert cfg.channels_for(NoticeKind.FEED) == frozenset()
    assert cfg.channels_for(NoticeKind.DAILY_SUMMARY) == {ChannelKind.TRAY}  # default kept
    assert cfg.telegram is not None and cfg.telegram.chat_id == "12345"
    assert cfg.email is not None and cfg.email.security is SmtpSecurity.TLS
    assert cfg.email.recipients == ("me@example.test",) and cfg.email.ca_file == Path("/etc/ca.pem")
    assert cfg.retry == RetryPolicy(3, 0.5, 10) and cfg.coalesce_s == 2.0


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"routes": {"fils": ["tray"]}}, "notify.routes: unknown value 'fils'"),
        ({"routes": {"fill": ["sms"]}}, "notify.routes.fill: unknown value 'sms'"),
        ({"routes": {"fill": "tray"}}, "must be a list"),
        ({"routes": {"fill": ["telegram"]}}, "notify.telegram is not set"),
        ({"telegram": {}}, "notify.telegram.chat_id is missing"),
        ({"telegram": {"chat_id": 1, "token": "x"}}, "unknown setting(s) ['token']"),
        (
            {"email": {"host": "h", "sender": "a@b", "recipients": ["c@d"], "port": 70000}},
            "port must be 1..65535",
        ),
        ({"email": {"host": "h", "sender": "a@b", "recipients": ["nope"]}}, "not addresses"),
        ({"email": {"host": "h", "sender": "a@b", "recipients": ["c@d"], "security": "ssl"}}, "security"),
        ({"queue_size": "10"}, "notify.queue_size has the wrong type"),
        ({"retry": {"attempts": 0}}, "attempts must be >= 1"),
        ({"colour": 1}, "unknown setting(s) ['colour']"),
    ],
)
def test_mistakes_are_named(data: dict[str, object], needle: str) -> None:
    with pytest.raises(NotifyConfigError) as err:
        NotifyConfig.from_dict(data)
    assert needle in str(err.value)


def test_backoff_doubles_caps_and_prefers_retry_after() -> None:
    p = RetryPolicy(attempts=5, base_s=1, max_s=5)
    assert [p.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert p.delay(1, retry_after=3) == 3 and p.delay(1, retry_after=99) == 5

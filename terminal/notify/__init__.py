"""Notifications: bus events users care about, fanned out to tray, Telegram and e-mail."""

from terminal.notify.build import SecretSource, build_channels
from terminal.notify.channel import Channel, DeliveryError
from terminal.notify.config import (
    SMTP_PASSWORD_SECRET,
    TELEGRAM_TOKEN_SECRET,
    EmailConfig,
    NotifyConfig,
    NotifyConfigError,
    RetryPolicy,
    SmtpSecurity,
    TelegramConfig,
)
from terminal.notify.model import ChannelKind, Notice, NoticeKind, Severity
from terminal.notify.notifier import Notifier
from terminal.notify.smtp import EmailChannel
from terminal.notify.summary import DailySummary, run_daily_summaries, summarize, summary_notice
from terminal.notify.telegram import TelegramChannel
from terminal.notify.tray import TrayChannel
from terminal.notify.worker import ChannelStats
from terminal.trading.events import TradingStateChanged

__all__ = [
    "SMTP_PASSWORD_SECRET",
    "TELEGRAM_TOKEN_SECRET",
    "Channel",
    "ChannelKind",
    "ChannelStats",
    "DailySummary",
    "DeliveryError",
    "EmailChannel",
    "EmailConfig",
    "Notice",
    "NoticeKind",
    "Notifier",
    "NotifyConfig",
    "NotifyConfigError",
    "RetryPolicy",
    "SecretSource",
    "Severity",
    "SmtpSecurity",
    "TelegramChannel",
    "TelegramConfig",
    "TradingStateChanged",
    "TrayChannel",
    "build_channels",
    "run_daily_summaries",
    "summarize",
    "summary_notice",
]

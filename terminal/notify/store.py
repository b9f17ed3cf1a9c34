"""The user's notification settings (Settings → Notifications) as JSON in the config dir.

Per user, not per mode: a fill in demo and one in live go to the same phone. The file has the
``--notify-config`` format (``NotifyConfig.to_dict``) and never a secret: the bot token and the
SMTP password stay in the key store. A missing file means "no notifications configured"; a
broken one means the same plus a warning the UI shows — start-up never fails because of it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from terminal.fileio import write_atomic
from terminal.notify.config import NotifyConfig

__all__ = ["NOTIFY_FILENAME", "NotifySettingsStore", "default_notify_path"]

log = logging.getLogger(__name__)

NOTIFY_FILENAME = "notify.json"


def default_notify_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("crypto-terminal") / NOTIFY_FILENAME


class NotifySettingsStore:
    """Reads and writes one settings file; ``warning`` says what was wrong with it on the last load."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_notify_path()
        self.warning: str | None = None

    def __repr__(self) -> str:
        return f"NotifySettingsStore({str(self.path)!r})"

    def load(self) -> NotifyConfig | None:
        """The saved settings; None when there are none or they cannot be used (see ``warning``)."""
        self.warning = None
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return self._broken(f"cannot be read ({exc})")
        try:
            doc = json.loads(text)
        except ValueError as exc:
            return self._broken(f"is not valid JSON ({exc})")
        if not isinstance(doc, dict):
            return self._broken(f"holds no settings table (found {type(doc).__name__})")
        try:
            return NotifyConfig.from_dict(doc)
        # NotifyConfigError names the setting; a wrong-typed value deeper down (a number where
        # text belongs) surfaces as TypeError/AttributeError from the dataclass checks.
        except (ValueError, TypeError, AttributeError) as exc:
            return self._broken(f"has a bad setting: {exc}")

    def save(self, config: NotifyConfig) -> None:
        """Atomic (temp file + rename) and private (0600): a crash never leaves half a file."""
        write_atomic(self.path, json.dumps(config.to_dict(), indent=2) + "\n", private=True)
        self.warning = None
        log.info("notification settings saved to %s", self.path)

    def _broken(self, why: str) -> None:
        self.warning = (
            f"the notification settings file {self.path} {why}; notifications are off until saved again"
        )
        log.warning("%s", self.warning)
        return None

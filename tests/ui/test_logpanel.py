"""The log dock filters by level and by source, and never shows a secret."""

from __future__ import annotations

import logging

import pytest

from terminal.ui.logpanel import LogPanel

pytestmark = pytest.mark.timeout(30)


def test_level_and_source_filters(qtbot) -> None:
    panel = LogPanel()
    qtbot.addWidget(panel)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        logging.getLogger("terminal.automation.host").info("armed ema_cross")
        logging.getLogger("terminal.venues.binance.spot").warning("stream stale")
        logging.getLogger("terminal.venues.bybit.adapter").debug("ping")
        logging.getLogger("terminal.trading.oms").error("order rejected")
        panel.drain()
        text = panel.text()
        assert "armed ema_cross" in text and "stream stale" in text and "order rejected" in text
        assert "ping" not in text  # INFO and above by default

        panel.level.setCurrentText("WARNING")
        assert "armed ema_cross" not in panel.text() and "stream stale" in panel.text()

        panel.level.setCurrentText("DEBUG")
        panel.source.setText("venues")
        shown = panel.text()
        assert "ping" in shown and "stream stale" in shown and "order rejected" not in shown

        panel.source.setText("")
        panel.level.setCurrentText("INFO")
        assert "order rejected" in panel.text() and "ping" not in panel.text()
    finally:
        root.setLevel(old_level)
        panel.close_handler()


def test_a_secret_never_reaches_the_dock(qtbot) -> None:
    panel = LogPanel()
    qtbot.addWidget(panel)
    try:
        secret = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
        logging.getLogger("terminal.test").warning("signature with secret=%s failed", secret)
        panel.drain()
        assert secret not in panel.text()
    finally:
        panel.close_handler()

"""File menu: record the session's market, replay a recording in demo mode, end a replay.

Recording writes ``<data dir>/recordings/<UTC time>`` (``terminal.storage.recorder``); a replay
restarts the window in demo mode with the simulator driven by the chosen recording
(``terminal.sim.replay``), streaming the symbols it recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from terminal.app import AppError, Mode

if TYPE_CHECKING:
    from terminal.ui.main_window import MainWindow

__all__ = ["RecordingMenu", "recording_dir"]

log = logging.getLogger(__name__)


def recording_dir(data_dir: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return data_dir / "recordings" / stamp


class RecordingMenu(QObject):
    def __init__(self, window: MainWindow, menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.record_action = QAction("&Record market data", window)
        self.record_action.setCheckable(True)
        self.record_action.setToolTip("Record public trades, candles and order books to the data directory")
        self.record_action.toggled.connect(self._on_record_toggled)
        self.replay_action = QAction("Re&play a recording…", window)
        self.replay_action.triggered.connect(self.choose_replay)
        self.end_replay_action = QAction("&End replay", window)
        self.end_replay_action.triggered.connect(self.end_replay)
        self.end_replay_action.setEnabled(window.ctx.app.config.replay is not None)
        for action in (self.record_action, self.replay_action, self.end_replay_action):
            menu.addAction(action)
        self.dialog: QFileDialog | None = None
        self._stopping: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ recording
    def _on_record_toggled(self, on: bool) -> None:
        app = self.window.ctx.app
        if on:
            path = recording_dir(app.data_dir)
            try:
                app.start_recording(path)
            except (AppError, OSError) as exc:
                self._set_checked(False)
                self.window.show_warning(f"cannot record: {exc}", "recording failed (hover for why)")
                return
            self.window.statusBar().showMessage(f"recording market data to {path}")
            return
        self._stopping = asyncio.ensure_future(self._stop())

    async def _stop(self) -> None:
        try:
            done = await self.window.ctx.app.stop_recording()
        except OSError as exc:  # the last flush failed: what was written stays
            self.window.show_warning(f"the recording could not be finished: {exc}", "recording error")
            return
        if done is not None:
            path, records = done
            self.window.statusBar().showMessage(
                f"recorded {records} events to {path} — replay: File → Replay a recording…", 15000
            )

    def _set_checked(self, on: bool) -> None:
        self.record_action.blockSignals(True)
        self.record_action.setChecked(on)
        self.record_action.blockSignals(False)

    # ------------------------------------------------------------------ replay
    def choose_replay(self) -> None:
        """A directory picker (non-blocking: ``open()``, never ``exec()`` on the running loop)."""
        app = self.window.ctx.app
        start = app.data_dir / "recordings"
        dialog = QFileDialog(
            self.window, "Replay a recording", str(start if start.is_dir() else app.data_dir)
        )
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(lambda chosen: self.replay(Path(chosen)))
        self.dialog = dialog
        dialog.open()

    def replay(self, path: Path, speed: float = 1.0) -> bool:
        """Restart the window in demo mode replaying ``path``; False (and why) if it cannot."""
        from terminal.sim.replay import ReplayError, ReplaySpec, check_replay_path

        try:
            symbols = check_replay_path(path).symbols
            if not symbols:
                raise ReplayError(f"{path}: none of its symbols is listed by the demo exchange")
        except (ReplayError, OSError) as exc:
            self.window._show_message(QMessageBox.Icon.Warning, "Replay", str(exc))
            return False
        if self.window.on_restart is None:
            self.window._show_message(
                QMessageBox.Icon.Information, "Replay", "Replaying is not available here."
            )
            return False
        config = dataclasses.replace(
            self.window.base_config.for_mode(Mode.DEMO), replay=ReplaySpec(path, speed=speed), symbols=symbols
        )
        log.info("replaying %s (%s)", path, ", ".join(symbols))
        self.window._restart(config)
        return True

    def end_replay(self) -> None:
        if self.window.on_restart is None or self.window.ctx.app.config.replay is None:
            return
        base = self.window.base_config
        self.window._restart(dataclasses.replace(base.for_mode(Mode.DEMO), replay=None))

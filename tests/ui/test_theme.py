"""The dark theme keeps small controls visible: check boxes show a frame and a check mark."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QCheckBox

from terminal.ui.theme import ACCENT, MUTED, apply_dark, check_mark_path

pytestmark = pytest.mark.timeout(30)


def _near(c: QColor, colour: str, tolerance: int = 16) -> bool:
    want = QColor(colour)
    return all(abs(a - b) <= tolerance for a, b in zip(c.getRgb()[:3], want.getRgb()[:3], strict=True))


def _indicator_pixels(box: QCheckBox) -> list[QColor]:
    image = box.grab().toImage()
    side = min(image.height(), 20)  # the indicator sits at the left, about 13 px square
    return [image.pixelColor(x, y) for x in range(side) for y in range(image.height())]


def test_check_boxes_have_a_visible_frame_and_a_check_mark(qtbot) -> None:
    apply_dark(QApplication.instance())
    assert check_mark_path().exists()
    off, on = QCheckBox("Post-only"), QCheckBox("Reduce-only")
    on.setChecked(True)
    for box in (off, on):
        qtbot.addWidget(box)
        box.show()
    # unchecked: a frame in the muted text colour, not Fusion's near-background outline
    assert sum(_near(c, MUTED) for c in _indicator_pixels(off)) >= 20
    assert not any(_near(c, ACCENT) for c in _indicator_pixels(off))
    # checked: an accent box with a white check mark in it
    pixels = _indicator_pixels(on)
    assert sum(_near(c, ACCENT) for c in pixels) >= 40
    assert any(c.lightness() > 230 for c in pixels)

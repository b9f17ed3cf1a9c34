"""The desktop terminal (PySide6 on a qasync loop). Qt lives only in this package.

Widgets read engine snapshots (``terminal.engine.Engine`` readers) through ``UiContext`` and act
through the order manager; none calls a venue adapter directly.
"""

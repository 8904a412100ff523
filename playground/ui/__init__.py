"""The Qt user interface (PySide6 + pyqtgraph): the only layer that imports Qt.

``run_gui`` and ``screenshot`` (in :mod:`playground.ui.app`) and ``MainWindow`` are loaded
lazily, so importing a submodule such as ``playground.ui.theme`` stays light.
"""

from __future__ import annotations

__all__ = ["MainWindow", "run_gui", "screenshot"]


def __getattr__(name: str):
    if name in ("run_gui", "screenshot"):
        from . import app
        return getattr(app, name)
    if name == "MainWindow":
        from .main_window import MainWindow
        return MainWindow
    raise AttributeError(f"module 'playground.ui' has no attribute {name!r}")

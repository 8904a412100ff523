"""Entry points of the GUI: :func:`run_gui` opens the app, :func:`screenshot` renders the
main window offscreen to a PNG (the CLI's ``playground gui`` and ``playground screenshot``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from playground.project import Project, load

from .main_window import APP_NAME, MainWindow
from .theme import DARK, apply_theme

#: The project the app opens when it is given none.
DEFAULT_PRESET = "spiral_mlp"


def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("dl-playground")
    return app


def run_gui(project: str | None = None) -> int:
    """Open the app on ``project`` (a path or preset name; the default preset when None)
    in the dark theme, and run the event loop. Returns the exit code.

    Raises:
        ProjectError: the project cannot be loaded (the message names the field).
    """
    loaded = load(project or DEFAULT_PRESET)  # fail before any window appears
    app = _application()
    apply_theme(app, DARK)
    window = MainWindow(loaded)
    window.show()
    return app.exec()


def screenshot(project: str | Project | None, out_path: str | Path, steps: int = 0,
               size: tuple[int, int] = (1600, 1000)) -> Path:
    """Render the main window on ``project`` after ``steps`` training steps to a PNG.

    Training runs synchronously on the session (no thread); the plots then show the final
    snapshot, the canvas is zoomed to fit and the window is grabbed at ``size`` (width,
    height) pixels. Set ``QT_QPA_PLATFORM=offscreen`` when there is no display.

    Returns the PNG's path.

    Raises:
        ProjectError: the project cannot be loaded.
        OSError: the PNG cannot be written.
    """
    app = _application()
    apply_theme(app, DARK)
    window = MainWindow(project if project is not None else DEFAULT_PRESET)
    window.confirm_discard = lambda: True
    try:
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        window.resize(*size)
        window.show()
        app.processEvents()
        window.train_steps_sync(steps)
        _select_showcase_node(window)
        app.processEvents()
        window.canvas.zoom_to_fit()
        app.processEvents()
        pixmap = window.grab()
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not pixmap.save(str(out), "PNG"):
            raise OSError(f"{out}: cannot write the PNG")
        return out
    finally:
        window.shutdown()
        window.close()
        window.deleteLater()
        app.processEvents()


def _select_showcase_node(window: MainWindow) -> None:
    """Select a hidden layer, so that the inspector shows something worth seeing."""
    model = window.model
    linears = [n for n in model.nodes() if model.spec(n).type == "Linear"]
    pick = linears[len(linears) // 2] if linears else (model.nodes() or [""])[0]
    if not pick:
        return
    try:
        window.canvas.canvas_scene.node_item(pick).setSelected(True)
    except Exception:
        pass
    if window.inspector.node_id != pick:
        window.inspector.set_node(pick)

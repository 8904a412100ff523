"""Entry points of the GUI: :func:`run_gui` opens the app, :func:`screenshot` renders the
main window offscreen to a PNG (the CLI's ``playground gui`` and ``playground screenshot``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from playground.graph.nodes.regression import has_data_source
from playground.project import Project, load

from . import crash
from .autosave import offer_recovery
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


def run_gui(project: str | Project | None = None) -> int:
    """Open the app on ``project`` (a loaded Project, a path or a preset name; the default
    preset when None) in the dark theme, and run the event loop. Returns the exit code.

    Raises:
        ProjectError: the project cannot be loaded (the message names the field).
    """
    loaded = project if isinstance(project, Project) else \
        load(project or DEFAULT_PRESET)  # fail before any window appears
    app = _application()
    apply_theme(app, DARK)
    window = MainWindow(loaded)
    crash.install(window)  # an unexpected exception is logged and shown; the app goes on
    window.show()
    QTimer.singleShot(0, lambda: offer_recovery(window))  # work a crash lost, if any
    return app.exec()


def screenshot(project: str | Project | None, out_path: str | Path, steps: int = 0,
               size: tuple[int, int] = (1600, 1000), *, open_blocks: Sequence[str] = (),
               select: str | None = None, forward_steps: int = 0,
               backward_steps: int = 0) -> Path:
    """Render the main window on ``project`` after ``steps`` training steps to a PNG.

    Training runs synchronously on the session (no thread); the plots then show the final
    snapshot, the canvas is zoomed to fit and the window is grabbed at ``size`` (width,
    height) pixels. Set ``QT_QPA_PLATFORM=offscreen`` when there is no display.

    Args:
        open_blocks: names (or ids) of composite nodes to open in place before the shot.
        select: the name (or id) of the node to select (the inspector and the views follow
            it); by default a hidden layer.
        forward_steps, backward_steps: after training, press "Step forward" and then "Step
            backward" this many times (the stepper panel shows the last step).

    Returns the PNG's path.

    Raises:
        ProjectError: the project cannot be loaded.
        ValueError: a name in ``open_blocks`` or ``select`` is not a node (or not a block).
        OSError: the PNG cannot be written.
    """
    app = _application()
    apply_theme(app, DARK)
    # the default layout, never the user's saved one (nor saved over it on close)
    window = MainWindow(project if project is not None else DEFAULT_PRESET,
                        remember_layout=False)
    window.confirm_discard = lambda: True
    try:
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        window.resize(*size)
        window.show()
        app.processEvents()
        model = window.model
        if has_data_source(model):
            window.train_steps_sync(steps)  # (an architecture to inspect has nothing to train)
        for name in open_blocks:
            if not window.canvas.open_block(_node_id(window, name)):
                raise ValueError(f"{name!r} is not a closed block; pick one of "
                                 f"{_closed_blocks(window) or 'none (the graph has no blocks)'}")
            app.processEvents()
        if select is not None:
            _select(window, _node_id(window, select))
        else:
            _select_showcase_node(window)
        for _ in range(forward_steps):
            window.step_forward()
            window.wait_for_stepper()
        for _ in range(backward_steps):
            window.step_backward()
            window.wait_for_stepper()
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


def _node_id(window: MainWindow, name: str) -> str:
    """The id of the node named (or with id) ``name``; ValueError naming the choices."""
    model = window.model
    for node in model.nodes():
        if node == name or model.name(node) == name:
            return node
    raise ValueError(f"no node named {name!r}; the nodes are "
                     f"{', '.join(model.name(n) for n in model.nodes())}")


def _closed_blocks(window: MainWindow) -> str:
    from playground.graph import is_composite

    model = window.model
    return ", ".join(model.name(n) for n in model.nodes() if is_composite(model.spec(n)))


def _select(window: MainWindow, node_id: str) -> None:
    try:
        window.canvas.canvas_scene.node_item(node_id).setSelected(True)
    except Exception:
        pass
    if window.inspector.node_id != node_id:
        window.inspector.set_node(node_id)


def _select_showcase_node(window: MainWindow) -> None:
    """Select a hidden layer, so that the inspector shows something worth seeing."""
    model = window.model
    linears = [n for n in model.nodes() if model.spec(n).type == "Linear"]
    pick = linears[len(linears) // 2] if linears else (model.nodes() or [""])[0]
    if pick:
        _select(window, pick)

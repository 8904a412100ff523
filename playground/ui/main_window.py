"""The main window: canvas in the centre; palette, inspector and plot docks; training.

The window holds one document :class:`GraphModel`, one :class:`QUndoStack` and a
:class:`CanvasView` on them. Training runs in a :class:`TrainingWorker` that owns its own
:class:`Session` (built from a copy of the document); a 30 Hz timer reads the worker's
newest snapshot and feeds the plots. Edits of the document while training are sent to the
worker as a new graph (it keeps the weights of unchanged nodes); a graph with errors pauses
training and the first error goes to the status bar. Beside it: the Lesson dock
(``lesson.py``), where runs stop and how fast (``pace.py``), the Help menu (``help.py``),
the saved size and dock layout (``window_state.py``), the file actions (``document.py``),
autosave (``autosave.py``) and Compare Runs (``compare.py``).
"""

from __future__ import annotations


import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QLabel, QMainWindow,
                               QStyle, QToolBar, QWidget)

from playground.graph import GraphFormatError, GraphModel
from playground.graph.nodes.regression import has_data_source
from playground.project import Project, ProjectError, Training, load, preset_names
from playground.project.format import OPTIMIZERS, TRAINING_STEP_KEY
from playground.session import Session, SessionError, Snapshot, TrainingWorker
from playground.session.session import saved_run_snapshot

from .canvas import CanvasView
from . import window_state
from .document import APP_NAME, PROJECT_FILTER, DocumentMixin  # noqa: F401 (re-exported)
from .errors import ErrorsWidget
from .autosave import install_autosave
from .compare import install_compare
from .training_dock import install_training_dock
from .dataset_dialog import install_dataset_import
from .export_menu import install_export_menu
from .run_export import install_run_export
from .help import install_help
from .inspector import InspectorWidget, LogSpinBox
from .lesson import install_lesson
from .lesson_browser import install_lesson_browser
from .pace import PaceControls
from .palette import PaletteWidget
from .guard import show_culprit
from .status import StatusNumbers
from .plots import DARK_PLOT, LIGHT_PLOT, BoundaryWidget, CurvesWidget
from .stepper import install_stepper
from .summary import SummaryWidget
from .theme import DARK, LIGHT, Theme, apply_theme, current_theme
from .views import install_views

#: Refresh rate of the plots and the status bar while a worker exists (ms).
TICK_MS = 33
#: While training, the curves are redrawn at most this often (ms): painting them takes the
#: interpreter lock from the training thread (benchmarks/bench_app_train.py).
CURVES_MS = 100
#: While training, the status bar's step, loss and accuracy change at most this often (ms).
STATUS_MS = 200
#: Delay before an edit of the document reaches the worker (coalesces bursts of edits).
SYNC_MS = 40


def plot_colors(theme: Theme) -> dict:
    """The plots' colours for ``theme``."""
    base = DARK_PLOT if theme.dark else LIGHT_PLOT
    return dict(base, background=theme.plot_background, foreground=theme.plot_foreground)


class MainWindow(DocumentMixin, QMainWindow):
    """The app's window.

    Args:
        project: a :class:`Project`, a path or preset name, or None for an empty graph.
        remember_layout: restore the size and dock layout saved by the last window, and
            save them on close (see :mod:`.window_state`); screenshots say False.

    Attributes:
        model: the document graph (the canvas, inspector and undo commands work on it).
        undo_stack: the one undo stack.
        canvas: the :class:`CanvasView`.
        node_palette, inspector, curves, boundary: the dock widgets' contents.
        project: the document's file-level data (name, training settings, path, the
            weights it was loaded with).
        session, worker: the training session and its thread, or None until first needed.
    """

    def __init__(self, project: Project | str | Path | None = None, parent=None, *,
                 remember_layout: bool = True):
        super().__init__(parent)
        self.remember_layout = remember_layout
        self.model = GraphModel()
        self.undo_stack = QUndoStack(self)
        self.project = Project()
        self.session: Session | None = None
        self.worker: TrainingWorker | None = None
        self.last_message = ""
        self._loading = False
        self._session_stale = False
        self._status_at = 0.0
        self._wants_training = False     # the user pressed Train and not Pause since
        self._paused_for_errors = False  # training waits for the graph to be fixed
        self._pending_sync: Future | None = None
        self._train_marker: Future | None = None
        self._last_snapshot: Snapshot | None = None
        self._last_worker_error = ""
        self._saved_step = 0
        self._dataset_key: tuple | None = None
        self.theme = current_theme()

        self.canvas = CanvasView(self.model, self.undo_stack, self)
        self.setCentralWidget(self.canvas)
        self._make_docks()
        self._make_actions()
        self._make_menus()
        self.pace = PaceControls(self)  # where runs stop, their speed, the progress bar
        self._make_toolbar()
        self.pace.add_to(self.toolbar, self.train_menu)
        self.status_numbers = StatusNumbers(self.statusBar(), self.pace)
        n = self.status_numbers
        self.step_label, self.loss_label, self.acc_label, self.speed_label = (
            n.step_label, n.loss_label, n.acc_label, n.speed_label)
        self.live_views = install_views(self)  # view docks and the timeline bar
        self.stepper = install_stepper(self)  # its dock, actions and canvas highlights
        self.live_views.link_health_action(self.stepper.health_action)
        self.lesson = install_lesson(self)  # the project's notes, beside the inspector
        self.help_menu = install_help(self)
        self.export_menu = install_export_menu(self)  # File ▸ Export/Import ONNX…
        self.import_data_action = install_dataset_import(self)  # File ▸ Import Data…
        self.compare_action = install_compare(self)  # Train ▸ Compare Runs…
        self.training_panel = install_training_dock(self)  # every training setting, undoable
        self.lesson_browser_action = install_lesson_browser(self)  # File ▸ Presets ▸ Lessons
        self.export_tools = install_run_export(self)  # File ▸ PyTorch code, history, summary
        # a user's window autosaves its unsaved work (screenshots and tests do not)
        self.autosave = install_autosave(self) if remember_layout else None

        self._curves_shown_at = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._on_tick)
        self._sync_timer = QTimer(self)
        self._sync_timer.setSingleShot(True)
        self._sync_timer.setInterval(SYNC_MS)
        self._sync_timer.timeout.connect(self._sync_graph)

        self.canvas.selected_node_changed.connect(self.inspector.set_node)
        self.canvas.selected_node_changed.connect(self.summary.select_node)
        self.summary.node_selected.connect(self._on_node_picked)
        self.errors_panel.node_selected.connect(self._on_node_picked)
        self.errors_panel.count_changed.connect(self._on_error_count)
        self.canvas.message.connect(self._on_canvas_message)
        self.node_palette.add_requested.connect(self._on_palette_add_requested)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        for signal in (self.model.node_added, self.model.node_removed, self.model.edge_added,
                       self.model.edge_removed, self.model.param_changed):
            signal.connect(self._on_graph_edited)
        self.model.states_changed.connect(self._on_states_changed)

        window_state.fit_to_screen(self)
        self._layout_restored = remember_layout and window_state.restore(self)
        self._shown_once = False
        if project is not None:
            proj = project if isinstance(project, Project) else load(project)
            self.set_document(proj)
        else:
            self.set_document(Project())

    # ------------------------------------------------------------------ construction

    def _make_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        colors = plot_colors(self.theme)
        self.node_palette = PaletteWidget(parent=self)
        self.inspector = InspectorWidget(self.model, self.undo_stack, self)
        self.curves = CurvesWidget(self, colors)
        self.boundary = BoundaryWidget(self, colors)
        self.palette_dock = self.add_dock("Palette", self.node_palette,
                                          Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self.add_dock("Inspector", self.inspector,
                                            Qt.DockWidgetArea.RightDockWidgetArea)
        self.boundary_dock = self.add_dock("Decision boundary", self.boundary,
                                           Qt.DockWidgetArea.RightDockWidgetArea)
        self.curves_dock = self.add_dock("Training curves", self.curves,
                                         Qt.DockWidgetArea.BottomDockWidgetArea)
        self.summary = SummaryWidget(self.model, self)
        self.errors_panel = ErrorsWidget(self.model, self)
        self.summary_dock = self.add_dock("Summary", self.summary,
                                          Qt.DockWidgetArea.BottomDockWidgetArea)
        self.errors_dock = self.add_dock("Errors", self.errors_panel,
                                         Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.curves_dock, self.summary_dock)
        self.tabifyDockWidget(self.summary_dock, self.errors_dock)
        self.curves_dock.raise_()
        self.splitDockWidget(self.inspector_dock, self.boundary_dock, Qt.Orientation.Vertical)
        # (their sizes: window_state.default_sizes on the first show, or the saved layout)

    def add_dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_").lower() + "_dock")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def make_action(self, text: str, slot, shortcuts=(), tip: str = "", icon=None,
                    owner: QWidget | None = None) -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.triggered.connect(lambda *_: slot())
        (owner or self).addAction(action)
        return action

    def _make_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.new_action = self.make_action("&New", self.new_project, [QKeySequence.StandardKey.New])
        self.open_action = self.make_action("&Open…", self.open_project_dialog,
                                            [QKeySequence.StandardKey.Open])
        self.save_action = self.make_action("&Save", self.save_project,
                                            [QKeySequence.StandardKey.Save])
        self.save_as_action = self.make_action("Save &As…", self.save_project_as_dialog,
                                               ["Ctrl+Shift+S"])
        self.quit_action = self.make_action("&Quit", self.close, ["Ctrl+Q"])
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)
        # The canvas handles the Delete and Backspace keys itself (only when it has focus and
        # no gesture is under way), so the action shows the key but does not bind it.
        self.delete_action = self.make_action("&Delete\tDel", self.canvas.delete_selected,
                                              tip="Delete the selected nodes and wires")
        self.zoom_fit_action = self.make_action("&Zoom to Fit", self.canvas.zoom_to_fit, ["Ctrl+0"])
        self.arrange_action = self.make_action("&Arrange", self.canvas.arrange, ["Ctrl+L"],
                                               "Lay the graph out left to right, then zoom to fit")
        self.group_action = self.make_action("&Group", self.canvas.group_selected, ["Ctrl+G"],
                                             "Fold the selected nodes into one block (Ctrl+G)")
        self.ungroup_action = self.make_action("U&ngroup", self.canvas.ungroup_selected,
                                               ["Ctrl+Shift+G"],
                                               "Open the selected block for good (Ctrl+Shift+G)")
        self.open_block_action = self.make_action("&Open/Close Block", self.canvas.open_selected,
                                                  ["Ctrl+E"],
                                                  "Open the selected block in place, or close the "
                                                  "block the selection is in (Ctrl+E)")
        self.train_action = self.make_action("Train", self.train, ["Ctrl+Return", "F5"],
                                             "Train continuously (Ctrl+Return, F5)",
                                             sp.SP_MediaPlay)
        self.pause_action = self.make_action("Pause", self.pause, ["F6"], "Pause training (F6)",
                                             sp.SP_MediaPause)
        self.step_action = self.make_action("Step", self.step_one_batch, ["F10"],
                                            "Train on one batch (F10)", sp.SP_MediaSkipForward)
        self.reset_action = self.make_action("Reset", self.reset_training, ["Ctrl+R"],
                                             "Fresh weights and an empty history (Ctrl+R)",
                                             sp.SP_BrowserReload)
        self.pause_action.setEnabled(False)
        self.theme_group = QActionGroup(self)
        self.dark_action = QAction("&Dark theme", self, checkable=True)
        self.light_action = QAction("&Light theme", self, checkable=True)
        for action, theme in ((self.dark_action, DARK), (self.light_action, LIGHT)):
            self.theme_group.addAction(action)
            action.triggered.connect(lambda _=False, t=theme: self.set_theme(t))
        (self.dark_action if self.theme.dark else self.light_action).setChecked(True)

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_action)
        self.presets_menu = file_menu.addMenu("&Presets")
        for name in preset_names():
            action = self.presets_menu.addAction(name)
            action.triggered.connect(lambda _=False, n=name: self.open_project(n))
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.delete_action)
        edit_menu.addSeparator()
        for action in (self.group_action, self.ungroup_action, self.open_block_action):
            edit_menu.addAction(action)
        train_menu = self.train_menu = bar.addMenu("&Train")
        for action in (self.train_action, self.pause_action, self.step_action,
                       self.reset_action):
            train_menu.addAction(action)
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.zoom_fit_action)
        view_menu.addAction(self.arrange_action)
        view_menu.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.curves_dock,
                     self.boundary_dock, self.summary_dock, self.errors_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self.dark_action)
        view_menu.addAction(self.light_action)

    def _make_toolbar(self) -> None:
        bar = QToolBar("Training", self)
        bar.setObjectName("training_toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.train_action, self.pause_action, self.step_action,
                       self.reset_action):
            bar.addAction(action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Optimizer ", bar))
        self.optimizer_combo = QComboBox(bar)
        self.optimizer_combo.addItems(list(OPTIMIZERS))
        self.optimizer_combo.setToolTip("The optimizer (applies at once, also while training)")
        bar.addWidget(self.optimizer_combo)
        bar.addWidget(QLabel("  Learning rate ", bar))
        self.lr_spin = LogSpinBox(bar)
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(1e-5, 10.0)
        self.lr_spin.setKeyboardTracking(False)
        self.lr_spin.setToolTip("Learning rate; the arrows step through 1, 2, 5 × 10^k")
        bar.addWidget(self.lr_spin)
        self.optimizer_combo.currentTextChanged.connect(self._on_optimizer_changed)
        self.lr_spin.valueChanged.connect(self._on_lr_changed)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar

    # -------------------------------------------------------------------- document

    def set_document(self, project: Project) -> None:
        """Show ``project``: replaces the graph, clears undo, stops training.

        Raises GraphFormatError (naming the field) before touching anything when the
        project's graph cannot be built."""
        GraphModel.from_dict(project.graph)  # validate first: a bad file changes nothing
        self._stop_worker()
        self._loading = True
        try:
            self.inspector.set_node("")
            self.model.load(project.graph)  # one edit, one shape inference
            # a node too large to train at the batch size is red on the canvas, as Train
            # would refuse it (an architecture to inspect, without data, is not trained)
            self.model.set_batch_size(project.training.batch_size
                                      if has_data_source(self.model) else None)
        finally:
            self._loading = False
        self.project = project
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._saved_step = int((project.weights or {}).get(TRAINING_STEP_KEY, 0))  # a saved run
        self._set_training_controls(project.training)
        self.pace.set_run_length(project.training.steps)
        self.lesson.show_project(project)
        self.stepper.set_recipe(project.recipe.get("type", "supervised"))  # Step D/G: GANs
        self._refresh_points(force=True)
        self.curves.update_from(None)
        self.boundary.clear_boundary()
        self.live_views.clear()
        self.live_views.expect(self.model, project.recipe.get("type", "supervised"))
        saved = saved_run_snapshot(project.weights)  # a reopened run shows its curves
        if saved is not None:
            self.live_views.show_snapshot(saved)
        self._show_metrics(saved)
        # a graph without a Dataset (an architecture preset) has nothing to train: show its
        # costs rather than empty curves
        inspect_only = not has_data_source(self.model)
        (self.summary_dock if inspect_only else self.curves_dock).raise_()
        if inspect_only:  # room for its rows: a chain of closed blocks is one row on the canvas
            self.resizeDocks([self.summary_dock], [self.height() * 2 // 5],
                             Qt.Orientation.Vertical)
        self.update_title()
        QTimer.singleShot(0, self.canvas.zoom_to_fit)

    def _set_training_controls(self, training: Training, refresh_panel: bool = True) -> None:
        for widget, setter, value in ((self.optimizer_combo, self.optimizer_combo.setCurrentText,
                                       training.optimizer),
                                      (self.lr_spin, self.lr_spin.setValue, training.lr)):
            blocked = widget.blockSignals(True)
            setter(value)
            widget.blockSignals(blocked)
        panel = getattr(self, "training_panel", None)  # (not yet while constructing)
        if refresh_panel and panel is not None:
            panel.refresh()

    # -------------------------------------------------------------------- training

    def _ensure_session(self) -> Session | None:
        if self.session is not None:
            if self._session_stale:
                try:
                    self.session.set_graph(self.model.to_dict())
                except (SessionError, GraphFormatError) as exc:
                    self.show_message(f"Cannot train: {exc}")
                    return None
                self._session_stale = False
            return self.session
        errors = self.model.errors()
        if errors:
            self.show_message(f"Cannot train: {next(iter(errors.values()))}")
            return None
        try:
            self.session = Session(self.document_project(self.project.weights))
        except (SessionError, GraphFormatError, ProjectError, ValueError, KeyError) as exc:
            self.show_message(f"Cannot train: {exc}")
            return None
        self._session_stale = False
        return self.session

    def ensure_worker(self) -> TrainingWorker | None:
        if self.worker is not None:
            return self.worker
        session = self._ensure_session()
        if session is None:
            return None
        self.worker = TrainingWorker(session, run_length=self.pace.worker_run_length(),
                                     max_rate=self.pace.max_rate)
        self._last_worker_error = ""
        self._timer.start()
        return self.worker

    def train(self) -> None:
        """Train on the worker thread, to the next multiple of the project's
        ``training.steps``: a paused run goes on to its target, a finished one trains as
        many steps again; with Run Until Stopped, until Pause (see :mod:`.pace`)."""
        if self.model.errors():
            first = next(iter(self.model.errors().values()))
            self.show_message(f"Cannot train: {first}")
            return
        worker = self.ensure_worker()
        if worker is None:
            return
        self._wants_training = True
        self._paused_for_errors = False
        self._start_worker()

    def _start_worker(self) -> None:
        """Tell the worker to train. The marker future completes once the worker has taken
        the command, after which a worker that is not running has stopped by itself."""
        self.worker.train()
        self._train_marker = self.worker.call(lambda session: None)
        self._set_running(True)

    def pause(self) -> None:
        self._wants_training = False
        self._paused_for_errors = False
        if self.worker is not None:
            self.worker.pause()
        self._set_running(False)

    def step_one_batch(self) -> None:
        worker = self.ensure_worker()
        if worker is not None:
            worker.step_batches(1)

    def step_forward(self) -> None:
        """Run the next node of the forward pass on the current batch (see stepper.py)."""
        self.stepper.step_forward()

    def step_backward(self) -> None:
        """Backpropagate through the next op and show the chain rule there."""
        self.stepper.step_backward()

    def wait_for_stepper(self, timeout: float = 5.0) -> bool:
        """Process events until the pending steps are done and shown; False on timeout."""
        return self.stepper.wait(timeout)

    def reset_training(self) -> None:
        """Fresh weights from the seed and an empty history."""
        self._wants_training = False
        self._paused_for_errors = False
        if self.worker is not None:
            self.worker.reset()
        elif self.session is not None:
            self.session.reset()
            self._show_snapshot(self.session.snapshot())
        self._set_running(False)
        self.show_message("Reset: fresh weights")

    def train_steps_sync(self, steps: int) -> Snapshot | None:
        """Train ``steps`` steps on this thread (no worker; for screenshots and scripts) and
        show the final snapshot. Returns it, or None if the graph cannot train."""
        if self.worker is not None:
            raise RuntimeError("a worker owns the session; use train()/pause()")
        session = self._ensure_session()
        if session is None:
            return None
        if steps > 0:
            session.train(steps)
        snap = session.snapshot()
        self._show_snapshot(snap)
        self.live_views.flush()
        return snap

    def _set_running(self, running: bool) -> None:
        self.train_action.setEnabled(not running)
        self.pause_action.setEnabled(running)

    def _stop_worker(self) -> None:
        self._timer.stop()
        self._sync_timer.stop()
        if self.worker is not None:
            self.worker.stop()
        self.worker = None
        self.session = None
        self._pending_sync = None
        self._train_marker = None
        self._last_snapshot = None
        self._wants_training = False
        self._paused_for_errors = False
        self._set_running(False)

    def shutdown(self) -> None:
        """Stop the worker without asking anything (closing, tests, screenshots)."""
        self._stop_worker()

    # -------------------------------------------------------------- live graph edits

    def _on_graph_edited(self, *_: Any) -> None:
        if self._loading:
            return
        if self.worker is not None:
            self._sync_timer.start()
        elif self.session is not None:
            self._session_stale = True

    def _sync_graph(self) -> None:
        """Send the edited document to the worker; pause while it has errors."""
        worker = self.worker
        if worker is None:
            return
        errors = self.model.errors()
        if errors:  # the worker keeps its last valid graph until this one is fixed
            if self._wants_training:
                self._paused_for_errors = True
                worker.pause()
                self._set_running(False)
                self.show_message(f"Paused: {next(iter(errors.values()))}")
            return
        self._pending_sync = worker.set_graph(self.model.to_dict())
        if self._paused_for_errors and self._wants_training:
            self._paused_for_errors = False
            self._start_worker()
            self.show_message("Graph fixed: training resumed")

    def _on_states_changed(self) -> None:
        if not self._loading:
            self._refresh_points()

    def _refresh_points(self, force: bool = False) -> None:
        """Show the Dataset node's training points in the boundary plot."""
        data = [n for n in self.model.nodes() if self.model.spec(n).type == "Dataset"]
        params = self.model.params(data[0]) if data else None
        key = tuple(sorted(params.items())) if params else None
        if key != self._dataset_key or force:
            self._dataset_key = key
            self.boundary.show_dataset(params)

    # --------------------------------------------------------------------- views

    def _on_tick(self) -> None:
        worker = self.worker
        if worker is None:
            return
        fut = self._pending_sync
        if fut is not None and fut.done():
            self._pending_sync = None
            exc = fut.exception()
            if exc is not None:
                worker.pause()
                if self._wants_training:
                    self._paused_for_errors = True
                self._set_running(False)
                self.show_message(f"Paused: {exc}")
                self._last_worker_error = worker.error
        if worker.error != self._last_worker_error:
            self._last_worker_error = worker.error
            if worker.error:
                self.show_message(worker.error)
                show_culprit(self.canvas, worker)  # a NaN's node (issue 13)
        marker = self._train_marker
        if self._wants_training and not self._paused_for_errors and self._pending_sync is None \
                and (marker is None or marker.done()) and not worker.running:
            # The worker stopped by itself: the run's target, an error, or the loss diverged.
            self._wants_training = False
            self._set_running(False)
            if worker.error:
                self.show_message(worker.error)
            elif worker.at_target:
                self.show_message(f"Trained {self.pace.run_length:,} steps: Train trains "
                                  f"{self.pace.run_length:,} more (or check Run Until Stopped)")
        snap = worker.snapshot
        if snap is not self._last_snapshot:
            self._show_snapshot(snap)

    def _show_snapshot(self, snap: Snapshot) -> None:
        self._last_snapshot = snap
        self.live_views.show_snapshot(snap)  # curves, boundary and every view (throttled)
        now = time.monotonic()
        # the status bar's numbers at most every STATUS_MS while training: each change
        # repaints the bar, ~4% of the UI thread at the 30 Hz tick (bench_gui.py)
        if not snap.running or now - self._status_at >= STATUS_MS / 1000:
            self._status_at = now
            self._show_metrics(snap)
        self.setWindowModified(self.is_dirty())

    def _show_metrics(self, snap: Snapshot | None) -> None:
        self.status_numbers.show(snap)

    def show_message(self, text: str, timeout_ms: int = 10_000) -> None:
        self.last_message = text
        self.statusBar().showMessage(text, timeout_ms)

    def set_theme(self, theme: Theme) -> None:
        """Switch between the dark and light themes."""
        self.theme = theme
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, theme)
        if hasattr(self.canvas, "set_theme"):
            self.canvas.set_theme(theme)
        colors = plot_colors(theme)
        self.curves.set_colors(colors)
        self.boundary.set_colors(colors)
        self.live_views.set_colors(colors)
        (self.dark_action if theme.dark else self.light_action).setChecked(True)

    # ------------------------------------------------------------------- handlers

    def _on_palette_add_requested(self, type_name: str) -> None:
        pos = QPointF(self.canvas.mapToScene(self.canvas.viewport().rect().center()))
        scene = self.canvas.canvas_scene
        for _ in range(20):  # step off nodes already there, so repeated adds do not stack
            if scene.node_at(pos) is None:
                break
            pos += QPointF(36, 36)
        self.canvas.add_node_at(type_name, pos)

    def _on_node_picked(self, node_id: str) -> None:
        """A row of the summary or the errors panel was chosen: select the node."""
        self.canvas.select_node(node_id, center=True)

    def _on_error_count(self, count: int) -> None:
        self.errors_dock.setWindowTitle(f"Errors ({count})" if count else "Errors")

    def _on_canvas_message(self, text: str) -> None:
        if text:
            self.show_message(text)

    def _on_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(self.is_dirty())

    def _on_optimizer_changed(self, name: str) -> None:
        # the toolbar edits the same setting as the Training settings dock: one undoable edit
        if self.training_panel.edit("optimizer", name):
            self.show_message(f"Optimizer: {name}")

    def _on_lr_changed(self, lr: float) -> None:
        if lr > 0:
            self.training_panel.edit("lr", float(lr))

    def showEvent(self, event) -> None:  # Qt override: the docks' sizes, once
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._layout_restored:  # an architecture's Summary gets more room
                inspect = not has_data_source(self.model)
                window_state.default_sizes(self, 0.4 if inspect else 0.3)
                self.layout().activate()  # now, not on the next turn of the event loop
            QTimer.singleShot(0, self, lambda: window_state.hide_stale_tab_bars(self))

    def resizeEvent(self, event) -> None:  # Qt override: toolbar texts only if they fit
        super().resizeEvent(event)
        window_state.fit_toolbar(self.toolbar, self.width())

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        if not self.confirm_discard():
            event.ignore()
            return
        if self.remember_layout:
            window_state.save(self)
        if self.autosave is not None:  # saved or discarded on purpose: no recovery needed
            self.autosave.stop()
        self.shutdown()
        self.canvas.detach()  # later edits of the model must not reach a dead scene
        self.summary.detach()
        self.errors_panel.detach()
        event.accept()

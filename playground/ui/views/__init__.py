"""The live view docks and the timeline slider.

``install_views(window)`` (one line in ``MainWindow.__init__``) adds a dock per view
family, wraps the window's curves and decision-boundary docks with export buttons, adds
the timeline bar, and returns the :class:`ViewsController` that the window's tick feeds
with snapshots (``controller.show_snapshot(snap)``).

Data flow: the worker publishes immutable snapshots (their ``views`` hold compact
summaries computed on the worker thread, see ``playground.session.views``); the
controller turns the newest into a :class:`Frame` at most every ``VIEW_MS`` while training
and hands it to the views, which only draw when visible. The selected node travels the
other way, to the worker, as a command (``Session.set_focus``).

Which docks show: opening a document shows the views its graph will fill and hides the
others (``expect``; its first frame corrects the guess), whatever the last document hid,
except for docks the user has shown or hidden since it opened: theirs is the last word.

Timeline: the slider scrubs through the session's timeline entries; while scrubbed every
view shows that step (training goes on underneath). The "Live" button, the slider's right
end, or pressing Train again snaps back to the live state.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QSlider, QToolBar,
                               QToolButton, QWidget)

from playground.graph import dataset_of
from playground.graph.nodes.regression import DATA_SOURCES

from ..window_state import hide_stale_tab_bars
from .base import Frame, ViewWidget, WrappedView
from .contour import ContourView
from .generative import GanView, LatentView, SamplesView
from .reconstruction import ReconstructionView
from .language import GradThroughTimeView, SamplingView
from .layers import LayersView
from .nodes import AttentionView, EmbeddingView, FeatureMapView
from .sequence import SequenceView
from .training import HealthView, HistogramView

#: While training, the views are redrawn at most this often (ms): painting takes the
#: interpreter lock from the training thread (benchmarks/bench_gui.py).
VIEW_MS = 150
#: Most time spent drawing views in one turn of the event loop (ms); one view at least.
DRAW_BUDGET_MS = 4
#: While training, the UI thread's CPU time (views, paint, ticks) is kept under this
#: share of the wall time by spacing the views' frames (see ``frame_spacing``).
UI_SHARE = 0.12

#: Node types whose graphs get the feature-map view, and the attention view, before the
#: first frame says so.
CONV_TYPES = frozenset({"Conv2d", "ConvTranspose2d"})
ATTENTION_TYPES = frozenset({"MultiheadAttention", "ScaledDotProductAttention",
                             "MultiheadAttentionBlock"})

#: View families by dock area: the right one (beside the inspector) and the bottom one.
RIGHT_VIEWS = (FeatureMapView, AttentionView, SamplesView, GanView, LatentView, EmbeddingView,
               ContourView)
BOTTOM_VIEWS = (HistogramView, HealthView, SequenceView, SamplingView, GradThroughTimeView,
                ReconstructionView, LayersView)


class TimelineBar(QWidget):
    """A slider over the timeline's entries (one every k steps) and a Live button. The
    slider's right end is the live state.

    Signals:
        scrubbed(int): the step of the entry chosen.
        live(): back to the live state.
    """

    scrubbed = Signal(int)
    live = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 0, 6, 0)
        title = QLabel("Timeline", self)
        lay.addWidget(title)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Drag back to see every view at an earlier step; training "
                               "goes on from the live state")
        self.slider.valueChanged.connect(self._on_value)
        lay.addWidget(self.slider, 1)
        self.label = QLabel("live", self)
        self.label.setMinimumWidth(170)
        lay.addWidget(self.label)
        self.live_button = QToolButton(self)
        self.live_button.setText("Live")
        self.live_button.setToolTip("Show the live state again")
        self.live_button.clicked.connect(self.go_live)
        lay.addWidget(self.live_button)
        self.entries: tuple = ()
        self.live_step = 0
        #: the scrubbed entry's step, or None when live
        self.step: int | None = None

    def set_entries(self, entries: tuple, live_step: int) -> None:
        """The timeline's entries (oldest first) and the live step; keeps a scrubbed
        position on the nearest entry (the ring thins as the run grows)."""
        self.live_step = live_step
        if entries is self.entries:
            self._label()
            return
        self.entries = entries
        blocked = self.slider.blockSignals(True)
        # nothing recorded yet: a disabled slider resting at its live (right) end
        self.slider.setEnabled(bool(entries))
        self.slider.setRange(0, max(len(entries), 1))
        if self.step is None or not entries:
            self.slider.setValue(len(entries))
        else:
            self.slider.setValue(self.index_of(self.step))
        self.slider.blockSignals(blocked)
        self._label()

    def index_of(self, step: int) -> int:
        if not self.entries:
            return 0
        return min(range(len(self.entries)), key=lambda i: abs(self.entries[i].step - step))

    def scrub_to(self, step: int) -> None:
        """Move the slider to the entry nearest ``step`` (emits ``scrubbed``)."""
        if not self.entries:
            return
        i = self.index_of(step)
        if self.slider.value() == i:
            self._on_value(i)
        else:
            self.slider.setValue(i)

    def go_live(self) -> None:
        was = self.step
        self.step = None
        blocked = self.slider.blockSignals(True)
        self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(blocked)
        self._label()
        if was is not None:
            self.live.emit()

    def _on_value(self, value: int) -> None:
        if value >= len(self.entries):
            self.go_live()
            return
        self.step = self.entries[value].step
        self._label()
        self.scrubbed.emit(self.step)

    def _label(self) -> None:
        if self.step is None:
            self.label.setText(f"live · step {self.live_step:,}")
        else:
            self.label.setText(f"step {self.step:,} of {self.live_step:,}")


class _Names:
    """Node id -> the name drawn on the canvas."""

    def __init__(self, window):
        self.window = window

    def get(self, node, default=None):
        try:
            return self.window.model.name(node)
        except Exception:
            return default


class ViewsController(QObject):
    """Owns the view docks and the timeline bar; feeds them frames (see the module doc).

    Attributes:
        views: ``{title: view}`` for every view, including the wrapped curves and boundary.
        docks: ``{title: QDockWidget}``.
        timeline: the :class:`TimelineBar`.
        frame: the frame the views were last given.
        focus: the selected node the views follow ("" for none yet).
    """

    def __init__(self, window, colors: dict):
        super().__init__(window)
        self.window = window
        self.snapshot = None
        self.frame: Frame | None = None
        self.focus = ""
        self._focus_target = None
        self._shown_at = 0.0
        self._cpu_at = 0.0  # the UI thread's CPU time (s) when the last frame was taken
        self._was_running = False
        self._signature = None
        self._pending: list[ViewWidget] = []
        self._drain_timer = QTimer(self)
        self._drain_timer.setInterval(0)
        self._drain_timer.timeout.connect(self._drain)
        # after docks are shown or hidden: Qt's abandoned tab bars (hide_stale_tab_bars)
        self._tab_bars_timer = QTimer(self)
        self._tab_bars_timer.setSingleShot(True)
        self._tab_bars_timer.timeout.connect(lambda: hide_stale_tab_bars(self.window))
        #: keep every dock open, applicable or not (set by benchmarks and tests)
        self.show_all = False
        #: titles of the docks the user showed or hid since the document opened
        self.user_set: set[str] = set()
        names = _Names(window)
        self.views: dict[str, ViewWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        curves = WrappedView("Training curves", window.curves, colors)
        window.curves_dock.setWidget(curves)
        boundary = WrappedView("Decision boundary", window.boundary, colors)
        window.boundary_dock.setWidget(boundary)
        self.views[curves.title], self.docks[curves.title] = curves, window.curves_dock
        self.views[boundary.title], self.docks[boundary.title] = boundary, window.boundary_dock
        area = Qt.DockWidgetArea
        for classes, anchor, where in ((RIGHT_VIEWS, window.boundary_dock, area.RightDockWidgetArea),
                                       (BOTTOM_VIEWS, window.curves_dock,
                                        area.BottomDockWidgetArea)):
            for cls in classes:
                view = cls(colors, window)
                dock = window.add_dock(view.title, view, where)
                window.tabifyDockWidget(anchor, dock)
                self.views[view.title], self.docks[view.title] = view, dock
        for view in self.views.values():
            view.node_names = names
        for title, dock in self.docks.items():  # the user's own choices: see user_set
            dock.toggleViewAction().triggered.connect(
                lambda _=False, t=title: self.user_set.add(t))
            dock.installEventFilter(self)
        window.boundary_dock.raise_()
        window.curves_dock.raise_()
        self.timeline = TimelineBar(window)
        self.timeline.scrubbed.connect(self._on_scrubbed)
        self.timeline.live.connect(self._on_live)
        bar = QToolBar("Timeline", window)
        bar.setObjectName("timeline_toolbar")
        bar.setMovable(False)
        bar.addWidget(self.timeline)
        window.addToolBar(Qt.ToolBarArea.BottomToolBarArea, bar)
        self.timeline_toolbar = bar
        self._add_menu_entries()
        window.canvas.selected_node_changed.connect(self.set_node)

    def eventFilter(self, watched, event) -> bool:  # Qt override: a dock's close button
        if event.type() == QEvent.Type.Close and isinstance(watched, QDockWidget):
            self.user_set.add(next((t for t, d in self.docks.items() if d is watched), ""))
        return False

    def _add_menu_entries(self) -> None:
        for action in self.window.menuBar().actions():
            if action.text().replace("&", "") == "View" and action.menu() is not None:
                menu = action.menu()
                menu.addSeparator()
                # (the Gradient health dock comes with View ▸ Gradient Health, Ctrl+H: see
                # link_health_action)
                for title, dock in self.docks.items():
                    if title not in ("Training curves", "Decision boundary", "Gradient health"):
                        menu.addAction(dock.toggleViewAction())
                menu.addAction(self.timeline_toolbar.toggleViewAction())
                return

    # -- frames ---------------------------------------------------------------------

    def show_snapshot(self, snap) -> None:
        """Take the worker's newest snapshot: the views show it (at most every
        ``VIEW_MS`` while training) unless the timeline is scrubbed back."""
        self.snapshot = snap
        self._send_focus()
        self.timeline.set_entries(tuple(snap.timeline), snap.step)
        if snap.running and not self._was_running and self.timeline.step is not None:
            self.timeline.go_live()  # training resumed: back to the live state
        self._was_running = snap.running
        if self.timeline.step is not None:
            return
        now, cpu = time.monotonic(), time.thread_time()
        if snap.running and now - self._shown_at < self.frame_spacing(cpu):
            return
        self._shown_at, self._cpu_at = now, cpu
        self._show(Frame.from_snapshot(snap))

    def frame_spacing(self, cpu: float | None = None) -> float:
        """Seconds from one frame to the next while training: ``VIEW_MS``, or longer when
        the UI thread's CPU time since the last frame (drawing, painting, ticks) would
        exceed ``UI_SHARE`` of the wall time. The UI and the training thread share one
        interpreter lock, so this is what keeps training near its headless speed
        whatever views are open (benchmarks/bench_gui.py)."""
        spent = (time.thread_time() if cpu is None else cpu) - self._cpu_at
        return max(VIEW_MS / 1000, spent / UI_SHARE)

    def _show(self, frame: Frame, force: bool = False) -> None:
        """Give every view ``frame``. Visible views draw it a few at a time, at most
        ``DRAW_BUDGET_MS`` per event-loop turn, so that one frame never blocks the event
        loop for the sum of all views' drawing; hidden views draw it when shown."""
        self.frame = frame
        for view in self.views.values():
            view.frame = frame
        self._raise_relevant(frame)
        self._pending = [v for v in self.views.values() if v.frame is not v._drawn]
        if force:
            self._drain(budget_ms=1e9)
        elif not self._drain_timer.isActive():
            self._drain_timer.start()

    def _drain(self, budget_ms: float = None) -> None:
        """Draw pending views: at least one, then more while under the budget (their
        painting follows in the same event-loop turn, so one turn stays short)."""
        budget = (DRAW_BUDGET_MS if budget_ms is None else budget_ms) / 1000
        t0 = time.perf_counter()
        while self._pending:
            view = self._pending.pop(0)
            if view.isVisible() and view.frame is not view._drawn:
                view._draw()
                if time.perf_counter() - t0 >= budget:
                    break
        if not self._pending:
            self._drain_timer.stop()

    def flush(self) -> None:
        """Draw every visible view's pending frame now (scripts and screenshots, which do
        not wait for the drawing timer)."""
        self._drain(budget_ms=1e9)

    def link_health_action(self, action) -> None:
        """The one View ▸ Gradient Health entry (the canvas overlay's checkable action):
        switching it on also shows the Gradient health dock in front."""
        def on_triggered(checked: bool) -> None:
            if checked:
                self.user_set.add("Gradient health")
                self.docks["Gradient health"].show()
                self.docks["Gradient health"].raise_()
        action.triggered.connect(on_triggered)

    def clear(self) -> None:
        """A new document: no frame, live, placeholders; the user's dock choices of the
        last document no longer hold."""
        self.user_set.clear()
        self.snapshot = None
        self.frame = None
        self._signature = None
        self._focus_target = None
        self.focus = ""
        self.timeline.step = None
        self.timeline.set_entries((), 0)
        for view in self.views.values():
            view.show_frame(None, force=True)

    def _raise_relevant(self, frame: Frame) -> None:
        """When the kind of project changes, hide the views that do not apply to it (the
        View menu shows them again, with a note saying why they are empty) and bring its
        most telling view to the front."""
        nodes, v = frame.nodes, frame.views
        sig = (frame.recipe, "conv" in nodes, "attention" in nodes, "embedding" in nodes,
               "discriminator" in v, "samples" in v, "sequence" in v, "sampling" in v,
               "grad_through_time" in v, "reconstruction" in v, "landscape" in nodes,
               frame.boundary is not None, "layers" in nodes)
        if sig == self._signature:
            return
        self._signature = sig
        self._apply({"Feature maps": "conv" in nodes, "Attention": "attention" in nodes,
                     "Embeddings": "embedding" in nodes, "GAN": "discriminator" in v,
                     "Samples": "samples" in v, "Latent space": "latent" in v,
                     "Sequences": "sequence" in v, "Sampling": "sampling" in v,
                     "Gradients in time": "grad_through_time" in v,
                     "Reconstruction": "reconstruction" in v,
                     "Contour": "landscape" in nodes, "Layers": "layers" in nodes,
                     "Decision boundary": frame.boundary is not None or not (
                         "conv" in nodes or "attention" in nodes or "sampling" in v
                         or "embedding" in nodes or "reconstruction" in v
                         or "landscape" in nodes or "layers" in nodes
                         or frame.recipe != "supervised")})

    def expect(self, model, recipe: str = "supervised") -> None:
        """Before the first frame of a new document: show the views its graph will fill
        and hide the others (the first frame corrects the guess). A graph without a Dataset
        node (an architecture to inspect) gets no views at all."""
        types = {model.spec(n).type for n in model.nodes()}
        data = [n for n in model.nodes() if model.spec(n).type in DATA_SOURCES]
        if not data:
            self._apply(dict.fromkeys(self.docks.keys() - {"Training curves"}, False))
            return
        try:
            ds = dataset_of(model.params(data[0]))
        except Exception:
            ds = None
        conv = bool(types & CONV_TYPES)
        attention = bool(types & ATTENTION_TYPES)
        autoencoder = recipe == "supervised" and any(  # a loss fed the Dataset's own x
            e.src == data[0] and e.src_port == "x" and e.dst_port == "target"
            for e in model.edges())
        # every dock gets a say: those hidden for the last document (an architecture to
        # inspect hides them all) come back when they apply to this one
        self._apply({**dict.fromkeys(self.docks, True),
                     "Feature maps": conv, "Attention": attention,
                     "Embeddings": "Embedding" in types,
                     "GAN": recipe == "gan" and ds is not None and ds.feature_shape == (2,),
                     "Samples": recipe in ("gan", "vae"),
                     "Latent space": recipe == "vae" or autoencoder,
                     "Reconstruction": autoencoder,
                     "Contour": "TestFunction" in types,
                     "Layers": LayersView.applies(model),
                     "Sequences": ds is not None and len(ds.target_shape) > 0,  # per position
                     "Sampling": ds is not None and ds.name == "text",
                     "Gradients in time": ds is not None and ds.name == "text"
                     and bool(types & {"RNN", "LSTM", "GRU"}),
                     "Decision boundary": ds is not None and ds.feature_shape == (2,)
                     and recipe == "supervised"})

    def _apply(self, applies: dict[str, bool]) -> None:
        """Show the docks in ``applies`` that apply, hide the others (unless ``show_all``;
        never those in ``user_set``) and raise the most telling one."""
        applies = {t: ok for t, ok in applies.items() if t not in self.user_set}
        if not self.show_all:
            for title, ok in applies.items():
                self.docks[title].setVisible(ok)
            self._tab_bars_timer.start()
        for pick in ("Contour", "GAN", "Latent space", "Samples", "Attention", "Feature maps",
                     "Decision boundary", "Embeddings"):
            if applies.get(pick):
                self.docks[pick].raise_()
                break
        if applies.get("Sequences"):
            self.docks["Sequences"].raise_()
        if applies.get("Reconstruction"):
            self.docks["Reconstruction"].raise_()
        if applies.get("Layers") and not applies.get("Feature maps"):  # deep MLPs
            self.docks["Layers"].raise_()
        if applies.get("Sampling"):  # a language model: its text tells the most
            self.docks["Sampling"].raise_()

    # -- timeline -------------------------------------------------------------------

    def scrub_to(self, step: int) -> None:
        """Show every view at the timeline entry nearest ``step``."""
        self.timeline.scrub_to(step)

    def go_live(self) -> None:
        self.timeline.go_live()

    def _on_scrubbed(self, step: int) -> None:
        snap = self.snapshot
        if snap is None:
            return
        entry = next((e for e in snap.timeline if e.step == step), None)
        if entry is not None:
            self._show(Frame.from_entry(entry, snap), force=False)

    def _on_live(self) -> None:
        if self.snapshot is not None:
            self._show(Frame.from_snapshot(self.snapshot))

    # -- selection ------------------------------------------------------------------

    def set_node(self, node_id: str) -> None:
        """The views follow ``node_id`` (an empty id keeps the last selection)."""
        if not node_id or node_id == self.focus:
            return
        self.focus = node_id
        self._focus_target = None
        self._send_focus()

    def _send_focus(self) -> None:
        w = self.window
        target = w.worker if w.worker is not None else w.session
        if target is None or target is self._focus_target or not self.focus:
            return
        self._focus_target = target
        node = self.focus
        if w.worker is not None:
            w.worker.call(lambda s: s.set_focus(node))  # published after the command
        else:
            w.session.set_focus(node)
            if self.snapshot is not None:  # no worker: refresh the views here
                self.show_snapshot(w.session.snapshot())

    def set_colors(self, colors: dict) -> None:
        for view in self.views.values():
            view.set_colors(colors)


def install_views(window) -> ViewsController:
    """Add the view docks and the timeline bar to ``window`` (a MainWindow); returns the
    controller its tick feeds (``show_snapshot``)."""
    from ..main_window import plot_colors
    from .transposed import install_transposed

    controller = ViewsController(window, plot_colors(window.theme))
    install_transposed(window)  # the ConvTranspose2d trace dock (needs no session)
    return controller


__all__ = ["Frame", "TimelineBar", "ViewsController", "install_views"]

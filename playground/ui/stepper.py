"""The stepper: step the forward pass one node at a time and the backward pass one engine
op at a time, and watch the chain rule happen at each op.

- :class:`StepperPanel` (a dock's widget) shows a forward step's inputs and outputs, or a
  backward step's upstream gradient ∂L/∂y, the op's local Jacobian J for the chosen input
  (or, when J is too large, the op's rule and the tensors it saved), the downstream
  gradient ∂L/∂x, and the equation ∂L/∂x = Jᵀ · ∂L/∂y with the op's shapes written out.
  Its "Gradient check this node" button compares autograd with central differences.
- :class:`StepperController` owns the panel's dock, the toolbar actions (a GAN's Step D
  and Step G, Step Forward, Step Backward, Gradient Check Node, Gradient Health) and the
  canvas highlights. It talks
  to the worker only through Futures (``step_forward``, ``step_backward``, ``call``) and
  polls them on a timer: the UI never waits on the worker, except in
  :meth:`StepperController.wait`, which tests and screenshots use.

``install_stepper(window)`` builds all of it for a :class:`MainWindow`.
"""

from __future__ import annotations

import html
import time
from collections import deque
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import (QApplication, QDockWidget, QHBoxLayout, QLabel, QPushButton,
                               QSizePolicy, QStackedWidget, QStyle, QTabBar, QVBoxLayout, QWidget)

from playground.session.health import measure
from playground.session.stepping import BackwardRecord, ForwardRecord, GradCheck

from .canvas.style import HEALTH_LOG_MAX, HEALTH_LOG_MIN, HEALTH_STOPS
from .player_steps import PlayerSteps
from .tensor_view import TensorView, format_number, format_shape

if TYPE_CHECKING:
    from .main_window import MainWindow

#: Poll period of the pending steps (ms).
POLL_MS = 15
#: Period of the health overlay's refresh from the worker's snapshots (ms).
HEALTH_MS = 200
#: Height the stepper's dock is given when a step first shows it (px).
STEPPER_HEIGHT = 400
#: Most forward-step tensor views shown side by side (inputs then outputs).
MAX_FORWARD_VIEWS = 4


def _shape(a) -> str:
    return format_shape(np.shape(a)) if np.ndim(a) else "scalar"


def _size(a) -> int:
    return int(np.size(a))


class StepperPanel(QWidget):
    """What one step shows. Fill it with :meth:`show_forward` / :meth:`show_backward`.

    Attributes:
        upstream_view, jacobian_view, downstream_view: the backward step's tensor views
            (the middle one shows a saved tensor when there is no Jacobian).
        input_views, output_views: the forward step's views, by port.
        input_tabs: the backward step's inputs (each tab shows one input's J and ∂L/∂x).
        gradcheck_button, gradcheck_label: the gradient check and its result.

    Signals:
        gradcheck_requested(): the "Gradient check this node" button was pressed.
    """

    gradcheck_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.record: ForwardRecord | BackwardRecord | None = None
        self.shown_input = ""
        self.gradcheck_error: float | None = None
        self.gradcheck_result: GradCheck | None = None
        self._saved_names: list[str] = []

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(3)
        head = QHBoxLayout()
        self.title_label = QLabel(self)
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        head.addWidget(self.title_label, 1)
        self.gradcheck_label = QLabel("", self)
        self.gradcheck_label.setTextFormat(Qt.TextFormat.RichText)
        self.gradcheck_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        head.addWidget(self.gradcheck_label)
        self.gradcheck_button = QPushButton("Gradient check this node", self)
        self.gradcheck_button.setToolTip(
            "Compare autograd's gradients of this node's parameters and inputs with central "
            "differences (L(x+ε) − L(x−ε)) / 2ε on the current batch, in float64")
        self.gradcheck_button.clicked.connect(self.gradcheck_requested)
        head.addWidget(self.gradcheck_button)
        lay.addLayout(head)

        self.equation_label = QLabel(self)
        self.equation_label.setTextFormat(Qt.TextFormat.RichText)
        self.equation_label.setWordWrap(True)
        self.equation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.equation_label)

        self.pages = QStackedWidget(self)
        lay.addWidget(self.pages, 1)
        # the empty page: how to start
        self.hint_label = QLabel(self)
        self.hint_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint_label.setWordWrap(True)
        self.pages.addWidget(self.hint_label)
        # forward: the node's inputs, then its outputs
        self.forward_page = QWidget(self)
        fl = QHBoxLayout(self.forward_page)
        fl.setContentsMargins(0, 0, 0, 0)
        self._forward_views = [TensorView("", self.forward_page)
                               for _ in range(MAX_FORWARD_VIEWS)]
        self.arrow_label = QLabel("→", self.forward_page)
        font = self.arrow_label.font()
        font.setPointSizeF(font.pointSizeF() * 2)
        self.arrow_label.setFont(font)
        self.input_views: dict[str, TensorView] = {}
        self.output_views: dict[str, TensorView] = {}
        self._forward_layout = fl
        self.pages.addWidget(self.forward_page)
        # backward: upstream | J (or a saved tensor) | downstream, with a tab per input
        self.backward_page = QWidget(self)
        bl = QVBoxLayout(self.backward_page)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(2)
        tabs_row = QHBoxLayout()
        tabs_row.addWidget(QLabel("input:", self.backward_page))
        self.input_tabs = QTabBar(self.backward_page)
        self.input_tabs.setDrawBase(False)
        self.input_tabs.setExpanding(False)
        self.input_tabs.currentChanged.connect(self._on_input_tab)
        tabs_row.addWidget(self.input_tabs)
        tabs_row.addSpacing(16)
        self.saved_label = QLabel("saved:", self.backward_page)
        tabs_row.addWidget(self.saved_label)
        self.saved_tabs = QTabBar(self.backward_page)
        self.saved_tabs.setDrawBase(False)
        self.saved_tabs.setExpanding(False)
        self.saved_tabs.currentChanged.connect(self._on_saved_tab)
        tabs_row.addWidget(self.saved_tabs)
        tabs_row.addStretch(1)
        bl.addLayout(tabs_row)
        views = QHBoxLayout()
        self.upstream_view = TensorView("∂L/∂y (upstream)", self.backward_page)
        self.jacobian_view = TensorView("J", self.backward_page)
        self.downstream_view = TensorView("∂L/∂x (downstream)", self.backward_page)
        views.addWidget(self.upstream_view, 2)
        views.addWidget(self.jacobian_view, 3)
        views.addWidget(self.downstream_view, 2)
        bl.addLayout(views, 1)
        self.pages.addWidget(self.backward_page)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.clear()

    # -- public API ---------------------------------------------------------------------

    def clear(self, message: str = "") -> None:
        self.record = None
        self.title_label.setText("<b>Stepper</b>")
        self.equation_label.setText("")
        self.hint_label.setText(message or (
            "Step Forward (F11) runs the graph one node at a time on the current batch; "
            "Step Backward (Shift+F11) then backpropagates one op at a time and shows the "
            "chain rule at each: ∂L/∂x = Jᵀ · ∂L/∂y."))
        self.pages.setCurrentWidget(self.hint_label)

    def show_message(self, title: str, message: str) -> None:
        """A pass finished (or failed): say so, and how to go on."""
        self.record = None
        self.title_label.setText(f"<b>{html.escape(title)}</b>")
        self.equation_label.setText("")
        self.hint_label.setText(message)
        self.pages.setCurrentWidget(self.hint_label)

    def show_gradcheck(self, node: str, result: GradCheck | None, message: str = "") -> None:
        """The result of a gradient check of ``node``
        (:meth:`~playground.session.Session.gradcheck_node`): the largest relative error
        and the verdict, green when it agrees, red when it does not, with the number of
        elements skipped at a kink (ReLU at 0, a max-pool tie). ``None``: ``message``
        says why there is no result."""
        self.gradcheck_result = result
        self.gradcheck_error = None if result is None else result.max_error
        if result is None:
            self.gradcheck_label.setText(f"<span style='color:#ef5350'>"
                                         f"{html.escape(message)}</span>")
            self.gradcheck_label.setToolTip("")
            return
        color = "#66bb6a" if result.passed else "#ef5350"
        verdict = "agrees" if result.passed else result.verdict.upper()
        kinks = (f", {result.skipped_kinks} element{'s' if result.skipped_kinks != 1 else ''}"
                 " at a kink skipped" if result.skipped_kinks else "")
        self.gradcheck_label.setText(
            f"gradient check <b>{html.escape(node)}</b>: max relative error "
            f"<b style='color:{color}'>{result.max_error:.2e}</b> ({verdict}; "
            f"{result.checked} checked{kinks})")
        self.gradcheck_label.setToolTip(
            f"{result.summary()}. Pass mark: relative error ≤ {result.tolerance:g}, "
            f"absolute floor {result.atol:.1e} (rounding of the loss), ε = {result.eps:g}")

    def show_forward(self, record: ForwardRecord, description: str = "") -> None:
        """A forward step: the node's inputs (by port) → its outputs (by port)."""
        self.record = record
        self.title_label.setText(
            f"<b>Forward step {record.index + 1}</b> · node <b>{html.escape(record.node)}</b>"
            f" ({html.escape(record.type)})")
        ins = ", ".join(f"{html.escape(p)} {_shape(a)}" for p, a in record.inputs.items())
        outs = ", ".join(f"{html.escape(p)} {_shape(a)}" for p, a in record.outputs.items())
        text = f"<b>{html.escape(record.type)}</b>: {ins or 'the batch'} → {outs}"
        if description:
            text += f" &nbsp; <span style='color:gray'>{html.escape(description)}</span>"
        self.equation_label.setText(text)
        fl = self._forward_layout
        while fl.count():
            fl.takeAt(0)
        self.input_views, self.output_views = {}, {}
        views = iter(self._forward_views)
        items = [(True, p, a) for p, a in record.inputs.items()]
        items += [(False, p, a) for p, a in record.outputs.items()]
        items = items[:MAX_FORWARD_VIEWS]
        shown_arrow = False
        for is_input, port, arr in items:
            if not is_input and not shown_arrow:
                if self.input_views:
                    fl.addWidget(self.arrow_label)
                    self.arrow_label.show()
                shown_arrow = True
            view = next(views)
            view.set_array(arr, title=("in · " if is_input else "out · ") + port)
            (self.input_views if is_input else self.output_views)[port] = view
            fl.addWidget(view, 1)
            view.show()
        if not shown_arrow or not self.input_views:
            self.arrow_label.hide()
        for view in views:
            view.hide()
        self.pages.setCurrentWidget(self.forward_page)

    def show_backward(self, record: BackwardRecord) -> None:
        """A backward step: ∂L/∂y, then for the chosen input J (or the saved tensors) and
        ∂L/∂x, and the equation that links them."""
        self.record = record
        where = f" of node <b>{html.escape(record.node)}</b>" if record.node else \
            " added after the graph (the sum of the losses)"
        self.title_label.setText(f"<b>Backward step {record.index + 1}</b> · op "
                                 f"<b>{html.escape(record.op)}</b>{where}")
        self.upstream_view.set_array(record.upstream, title="∂L/∂y upstream")
        names = list(record.downstream)
        grads = [n for n in names if record.downstream[n] is not None]
        blocked = self.input_tabs.blockSignals(True)
        while self.input_tabs.count():
            self.input_tabs.removeTab(0)
        for n in names:
            src = record.sources.get(n, "")
            label = n if record.downstream[n] is not None else f"{n} (no gradient)"
            i = self.input_tabs.addTab(label)
            self.input_tabs.setTabToolTip(i, f"{n} ← {src}" if src else n)
        self.input_tabs.blockSignals(blocked)
        self._saved_names = [k for k, v in record.saved.items() if isinstance(v, np.ndarray)]
        blocked = self.saved_tabs.blockSignals(True)
        while self.saved_tabs.count():
            self.saved_tabs.removeTab(0)
        for k in self._saved_names:
            self.saved_tabs.addTab(k)
        self.saved_tabs.blockSignals(blocked)
        # first the input the gradient goes back along a wire, else one with a gradient
        pick = next((n for n in grads if n in record.wires), grads[0] if grads else
                    (names[0] if names else ""))
        self.select_input(pick)
        self.pages.setCurrentWidget(self.backward_page)

    def select_input(self, name: str) -> None:
        """Show input ``name``'s Jacobian and downstream gradient."""
        record = self.record
        if not isinstance(record, BackwardRecord):
            return
        names = list(record.downstream)
        if name in names:
            blocked = self.input_tabs.blockSignals(True)
            self.input_tabs.setCurrentIndex(names.index(name))
            self.input_tabs.blockSignals(blocked)
        self.shown_input = name
        down = record.downstream.get(name)
        jac = record.local_jacobian.get(name)
        src = record.sources.get(name, "")
        self.downstream_view.set_array(down, title=f"∂L/∂{name} downstream",
                                       note=f"→ {src}" if src else "",)
        if down is None:
            self.downstream_view.clear(f"{name} needs no gradient ({src or 'a constant'})")
        has_saved = bool(self._saved_names)
        if jac is not None:
            self.jacobian_view.set_array(jac, title=f"J = ∂y/∂{name}",
                                         note="(rows: y, cols: " + name + ")")
            self.saved_tabs.setVisible(False)
            self.saved_label.setVisible(False)
        else:
            self.saved_tabs.setVisible(has_saved)
            self.saved_label.setVisible(has_saved)
            if has_saved:
                self._on_saved_tab(max(self.saved_tabs.currentIndex(), 0))
            else:
                self.jacobian_view.clear("no Jacobian (too large) and no saved tensors")
        self.equation_label.setText(self._equation(record, name))

    # -- text ---------------------------------------------------------------------------

    @staticmethod
    def _equation(r: BackwardRecord, name: str) -> str:
        up, down = r.upstream, r.downstream.get(name)
        jac = r.local_jacobian.get(name)
        op = html.escape(r.op)
        head = (f"<b>{op}</b>: &nbsp; ∂L/∂{html.escape(name)} = (∂y/∂{html.escape(name)})ᵀ · "
                f"∂L/∂y = Jᵀ · ∂L/∂y")
        if down is None:
            return head + f" &nbsp; <span style='color:gray'>({html.escape(name)} needs no " \
                          "gradient)</span>"
        sizes = (f" &nbsp;&nbsp; ∂L/∂{html.escape(name)} {_shape(down)} = "
                 f"Jᵀ ({_size(down)} × {_size(up)}) · ∂L/∂y {_shape(up)} "
                 f"&nbsp; <span style='color:gray'>(flattened: {_size(down)} = "
                 f"[{_size(down)}×{_size(up)}]·[{_size(up)}])</span>")
        if jac is not None:
            resid = np.abs(np.asarray(down, np.float64).ravel()
                           - jac.T.astype(np.float64) @ np.asarray(up, np.float64).ravel())
            scale = max(float(np.abs(down).max()), 1e-30)
            check = (f"<br><span style='color:#66bb6a'>checked: max |∂L/∂{html.escape(name)} "
                     f"− Jᵀ·∂L/∂y| = {float(resid.max()):.1e} (of max "
                     f"{format_number(scale)})</span>")
            return head + sizes + check
        rule = html.escape(r.rule) if r.rule else "(the op gives no rule)"
        saved = ", ".join(f"{html.escape(k)} {_shape(v)}" for k, v in r.saved.items()
                          if isinstance(v, np.ndarray))
        return (head + sizes + f"<br>J ({_size(up)} × {_size(down)}) is too large to "
                f"show; the rule instead — "
                f"<i>{rule}</i>" + (f"<br>saved for backward: {saved}" if saved else ""))

    # -- handlers -----------------------------------------------------------------------

    def _on_input_tab(self, index: int) -> None:
        if isinstance(self.record, BackwardRecord):
            names = list(self.record.downstream)
            if 0 <= index < len(names):
                self.select_input(names[index])

    def _on_saved_tab(self, index: int) -> None:
        record = self.record
        if not isinstance(record, BackwardRecord) or not (0 <= index < len(self._saved_names)):
            return
        key = self._saved_names[index]
        self.jacobian_view.set_array(record.saved[key], title=f"saved: {key}",
                                     note="(J too large: the rule uses this)")


class HealthLegend(QWidget):
    """The overlay's colour scale, drawn over the canvas's bottom-left corner."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFixedSize(250, 46)

    def paintEvent(self, event):  # Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(20, 22, 26, 200))
        p.drawRoundedRect(QRectF(self.rect()), 6, 6)
        bar = QRectF(10, 22, self.width() - 20, 8)
        grad = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for i, c in enumerate(HEALTH_STOPS):
            grad.setColorAt(i / (len(HEALTH_STOPS) - 1), QColor(c))
        p.setBrush(grad)
        p.drawRoundedRect(bar, 3, 3)
        p.setPen(QColor("#d0d4da"))
        font = p.font()
        font.setPointSizeF(7.5)
        p.setFont(font)
        p.drawText(QRectF(10, 3, self.width() - 20, 16), Qt.AlignmentFlag.AlignLeft,
                   "‖∂L/∂x‖ on each wire (log scale)")
        p.drawText(QRectF(10, 31, 120, 14), Qt.AlignmentFlag.AlignLeft,
                   f"1e{int(HEALTH_LOG_MIN)} vanishing")
        p.drawText(QRectF(self.width() - 130, 31, 120, 14), Qt.AlignmentFlag.AlignRight,
                   f"exploding 1e{int(HEALTH_LOG_MAX)}")
        p.end()


class StepperController(QObject):
    """The stepper's actions, dock and canvas highlights for ``window``.

    Attributes:
        panel: the :class:`StepperPanel`; dock: its dock widget.
        step_forward_action, step_backward_action, gradcheck_action, health_action.
        players: a GAN's Step D and Step G actions (:class:`~.player_steps.PlayerSteps`).
        last_record: the last record shown (a ForwardRecord or BackwardRecord), or None.
        health: the :class:`~playground.session.health.Health` the overlay shows, or None.
    """

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.window = window
        self.panel = StepperPanel(window)
        self.panel.gradcheck_requested.connect(self.gradient_check)
        self.dock = window.add_dock("Stepper", self.panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        curves = getattr(window, "curves_dock", None)
        if isinstance(curves, QDockWidget):
            window.tabifyDockWidget(curves, self.dock)
            curves.raise_()
        self.last_record: ForwardRecord | BackwardRecord | None = None
        self.health = None
        self._pending: deque[tuple[str, Future, Any]] = deque()
        self._worker = None
        self._health_snapshot = None
        self._stepped_at: int | None = None

        self.step_forward_action = window.make_action(
            "Step Forward", self.step_forward, ["F11"],
            "Run the next node of the forward pass on the current batch (F11)")
        self.step_backward_action = window.make_action(
            "Step Backward", self.step_backward, ["Shift+F11"],
            "Backpropagate through the next op and show the chain rule there (Shift+F11)")
        self.gradcheck_action = window.make_action(
            "Gradient Check Node", self.gradient_check, ["Ctrl+Shift+K"],
            "Compare autograd with central differences for the selected (or stepped) node "
            "(Ctrl+Shift+K)")
        self.health_action = window.make_action(
            "Gradient Health", lambda: self.set_health_overlay(self.health_action.isChecked()),
            ["Ctrl+H"], "Colour wires by gradient norm; mark dead and saturated units (Ctrl+H)")
        self.health_action.setCheckable(True)
        self.players = PlayerSteps(window, self.step_player)  # a GAN's Step D and Step G
        sp = window.style().standardIcon
        self.step_forward_action.setIcon(sp(QStyle.StandardPixmap.SP_ArrowRight))
        self.step_backward_action.setIcon(sp(QStyle.StandardPixmap.SP_ArrowLeft))
        self._add_to_toolbar()
        self._add_to_menus()
        for name in ("train_action", "step_action"):  # training moves on: the pass is stale
            action = getattr(window, name, None)
            if action is not None:
                action.triggered.connect(self._on_training)

        self.legend = HealthLegend(window.canvas)
        self.legend.hide()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._health_timer = QTimer(self)
        self._health_timer.setInterval(HEALTH_MS)
        self._health_timer.timeout.connect(self._refresh_health)

    def _add_to_toolbar(self) -> None:
        bar = getattr(self.window, "toolbar", None)
        if bar is None:
            return
        before = getattr(self.window, "reset_action", None)
        actions = (self.players.step_d_action, self.players.step_g_action,
                   self.step_forward_action, self.step_backward_action,
                   self.gradcheck_action, self.health_action)
        if before is not None and before in bar.actions():
            for a in actions:
                bar.insertAction(before, a)
        else:
            for a in actions:
                bar.addAction(a)

    def _add_to_menus(self) -> None:
        for action in self.window.menuBar().actions():
            menu = action.menu()
            if menu is None:
                continue
            title = menu.title().replace("&", "")
            if title == "Train":
                menu.addSeparator()
                for a in (self.step_forward_action, self.step_backward_action,
                          self.gradcheck_action):
                    menu.addAction(a)
                menu.addSeparator()
                menu.addAction(self.players.step_d_action)
                menu.addAction(self.players.step_g_action)
            elif title == "View":
                menu.addSeparator()
                menu.addAction(self.health_action)
                menu.addAction(self.dock.toggleViewAction())

    # -- commands -----------------------------------------------------------------------

    def _worker_for_stepping(self):
        window = self.window
        if getattr(window, "_wants_training", False):
            window.pause()
        worker = window.ensure_worker()
        if worker is None:
            self.panel.show_message("Cannot step", window.last_message or
                                    "The graph cannot run; fix the errors first.")
            return None
        self._check_worker(worker)
        return worker

    def _check_worker(self, worker) -> None:
        if worker is not self._worker:  # a new document or session: forget the old pass
            self._worker = worker
            self._pending.clear()
            self.last_record = None
            self._set_canvas_step(None)

    def step_forward(self) -> None:
        """Run the next node on the current batch (via the worker); the panel and canvas
        show it once it is done."""
        worker = self._worker_for_stepping()
        if worker is not None:
            self._expect("forward", worker.step_forward())

    def step_backward(self) -> None:
        """Backpropagate through the next op (via the worker)."""
        worker = self._worker_for_stepping()
        if worker is not None:
            self._expect("backward", worker.step_backward())

    def set_recipe(self, recipe: str) -> None:
        """A document opened: Step D and Step G apply to the GAN recipe only."""
        self.players.set_recipe(recipe)

    def step_player(self, player: str) -> None:
        """One update of one GAN player ("discriminator" or "generator"), on the worker;
        a pass being stepped is stale after it."""
        worker = self._worker_for_stepping()
        if worker is not None:
            self._on_training()
            self._expect("player", worker.step_player(player), player)

    def gradient_check(self) -> None:
        """Gradient-check the selected node (else the stepped one) on the worker."""
        selected = self.window.canvas.canvas_scene.selected_node_ids()
        rec = self.last_record
        node = selected[0] if selected else (rec.node if rec is not None else None)
        if rec is not None and rec.node and node and rec.node.startswith(node + "/"):
            node = rec.node  # a closed block is selected: check the op stepped inside it
        if not node:
            self.panel.show_gradcheck("", None, "Select a node (or step to one) first")
            return
        worker = self._worker_for_stepping()
        if worker is None:
            return
        self.panel.gradcheck_label.setText(f"checking {html.escape(node)}…")
        self._expect("gradcheck", worker.call(lambda s, n=node: s.gradcheck_node(n)), node)
        self.dock.show()
        self.dock.raise_()

    def set_health_overlay(self, on: bool) -> None:
        """Switch the gradient-health overlay on or off. Switched on while training is
        paused, it measures the current batch at once (without training)."""
        blocked = self.health_action.blockSignals(True)
        self.health_action.setChecked(on)
        self.health_action.blockSignals(blocked)
        scene = self.window.canvas.canvas_scene
        if not on:
            self._health_timer.stop()
            self.health = None
            scene.set_health(None)
            self.legend.hide()
            if self.window.worker is not None:
                self.window.worker.set_health(False)
            return
        worker = self.window.ensure_worker()
        if worker is None:
            self.set_health_overlay(False)
            self.window.show_message(f"Gradient health: {self.window.last_message}")
            return
        self._check_worker(worker)
        worker.set_health(True)
        if not worker.running:
            self._expect("health", worker.call(measure))
        self._place_legend()
        self.legend.show()
        self.legend.raise_()
        self._health_timer.start()

    def wait(self, timeout: float = 5.0) -> bool:
        """Process Qt events until every pending step is done and shown. Returns False if
        ``timeout`` seconds passed first."""
        end = time.monotonic() + timeout
        app = QApplication.instance()
        while self._pending:
            if app is not None:
                app.processEvents()
            self._poll()
            if not self._pending:
                break
            if time.monotonic() > end:
                return False
            time.sleep(0.002)
        if app is not None:
            app.processEvents()
        return True

    def _on_training(self) -> None:
        if self.last_record is not None or self.window.canvas.canvas_scene.stepped_node():
            self.last_record = None
            self._set_canvas_step(None)
            self.panel.show_message("Training moved on", "The pass being stepped is stale: "
                                    "Step Forward starts a new one on the newest batch.")

    # -- results ------------------------------------------------------------------------

    def _expect(self, kind: str, fut: Future, extra: Any = None) -> None:
        self._pending.append((kind, fut, extra))
        if not self._timer.isActive():
            self._timer.start()

    def _poll(self) -> None:
        if self.window.worker is not self._worker:
            self._check_worker(self.window.worker)
        while self._pending and self._pending[0][1].done():
            kind, fut, extra = self._pending.popleft()
            exc = fut.exception()
            try:
                self._show(kind, None if exc is not None else fut.result(), exc, extra)
            except Exception as err:  # never raise into the event loop
                self.window.show_message(f"Stepper: {err}")
        if not self._pending:
            self._timer.stop()

    def _show(self, kind: str, result, exc: BaseException | None, extra) -> None:
        panel = self.panel
        if kind == "gradcheck":
            if exc is not None:
                panel.show_gradcheck(extra, None, str(exc))
            else:
                panel.show_gradcheck(extra, result)
            return
        if kind == "player":
            self.players.show_result(extra, result, exc, panel)
            return
        if kind == "health":
            if exc is not None:
                self.window.show_message(f"Gradient health: {exc}")
            elif self.health_action.isChecked():
                self._apply_health(result)
            return
        self._reveal_dock()
        if exc is not None:
            panel.show_message("Cannot step", str(exc))
            self._set_canvas_step(None)
            return
        self.last_record = result
        if result is None:
            self._set_canvas_step(None)
            if kind == "forward":
                panel.show_message("Forward pass complete", "Every node has run on the "
                                   "current batch. Step Backward (Shift+F11) backpropagates "
                                   "the loss one op at a time.")
            else:
                panel.show_message("Backward pass complete", "Every op has passed its "
                                   "gradient back: the parameters now hold exactly the "
                                   "gradients loss.backward() leaves (no optimizer step "
                                   "was taken). Step Forward starts a new pass.")
            return
        if isinstance(result, ForwardRecord):
            desc = ""
            model = self.window.model
            try:
                desc = model.registry[result.type].description
            except Exception:
                desc = ""
            panel.show_forward(result, desc)
            self._set_canvas_step(result.node, result.wires, backward=False)
        else:
            panel.show_backward(result)
            wires = [w for n, w in result.wires.items() if result.downstream.get(n) is not None]
            self._set_canvas_step(result.node, wires, backward=True)

    def _set_canvas_step(self, node: str | None, wires=(), backward: bool = False) -> None:
        self.window.canvas.canvas_scene.set_step(node, wires, backward)

    def _reveal_dock(self) -> None:
        if not self.dock.isVisible() or self.dock.visibleRegion().isEmpty():
            self.dock.show()
            self.dock.raise_()
            self.window.resizeDocks([self.dock], [max(self.dock.height(), STEPPER_HEIGHT)],
                                    Qt.Orientation.Vertical)

    # -- health -------------------------------------------------------------------------

    def _apply_health(self, health) -> None:
        self.health = health
        self.window.canvas.canvas_scene.set_health(health)

    def _refresh_health(self) -> None:
        """While training, show the health the worker's newest snapshot carries."""
        worker = self.window.worker
        if worker is None or not self.health_action.isChecked():
            return
        snap = worker.snapshot
        h = snap.health
        if h is not None and h is not self.health and (self.health is None
                                                       or h.step >= self.health.step):
            self._apply_health(h)
        self._place_legend()

    def _place_legend(self) -> None:
        canvas = self.window.canvas
        self.legend.move(10, canvas.height() - self.legend.height() - 10)


def install_stepper(window: "MainWindow") -> StepperController:
    """Add the stepper's dock, actions and canvas highlights to ``window``."""
    return StepperController(window)


__all__ = ["HealthLegend", "StepperController", "StepperPanel", "install_stepper"]

"""The Transposed convolution dock: a ConvTranspose2d's arithmetic, cell by cell.

For the selected ConvTranspose2d node (else the graph's first one) the dock shows three
grids with that node's geometry (kernel_size, stride, padding, output_padding, dilation;
one channel in and out, its input's H×W up to 8×8): the input and the kernel, both
editable, and the output the engine computes from them
(:func:`playground.session.transposed.trace_transposed`). Click an output cell and the
dock lists the terms that add into it, input cell × kernel weight, with their sum; the
cells behind them light up in the input and the kernel. Click an input cell and the output
cells it scatters into light up.

The numbers are the dock's own (they start at the demo's [[1, 2], [3, 4]] and 1..9, or
1, 2, 3... for other sizes), not the node's trained weights: the dock shows what the
operation computes. It needs no session, so it works for graphs without data (an
architecture to inspect, transposed_conv_demo) too.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QGridLayout, QHeaderView,
                               QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from playground.graph.nodes.regression import has_data_source
from playground.session.transposed import (DEMO_INPUT, DEMO_KERNEL, TransposedTrace,
                                           trace_transposed)

__all__ = ["TransposedPanel", "install_transposed", "MAX_SIDE"]

#: Largest input side the dock shows (bigger inputs are cut to their top-left corner).
MAX_SIDE = 8
#: Highlight of the cells in the selected trace.
PICK = QColor("#e0a040")
SOURCE = QColor("#4a90d9")


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _grid(parent, editable: bool) -> QTableWidget:
    t = QTableWidget(parent)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    t.horizontalHeader().setDefaultSectionSize(46)
    t.verticalHeader().setDefaultSectionSize(26)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    if not editable:
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return t


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e5 else f"{v:.3g}"


class TransposedPanel(QWidget):
    """Input, kernel and output grids of one ConvTranspose2d's geometry and the trace of the
    chosen output cell.

    Attributes:
        trace: the :class:`~playground.session.transposed.TransposedTrace` shown, or None.
        node: the node whose geometry is shown ("" for none).
        picked: the output cell (row, col) whose terms are listed, or None.
        terms_label: the terms of ``picked`` and their sum.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.node = ""
        self.trace: TransposedTrace | None = None
        self.picked: tuple[int, int] | None = None  # (None: the centre cell)
        self._geometry: dict | None = None
        self._filling = False
        lay = QVBoxLayout(self)
        self.header = QLabel("", self)
        self.header.setWordWrap(True)
        lay.addWidget(self.header)
        grids = QGridLayout()
        self.input_table = _grid(self, editable=True)
        self.kernel_table = _grid(self, editable=True)
        self.output_table = _grid(self, editable=False)
        top = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
        for col, (title, table) in enumerate((("input x (edit me)", self.input_table),
                                              ("kernel w (edit me)", self.kernel_table),
                                              ("output (click a cell)", self.output_table))):
            grids.addWidget(QLabel(title, self), 0, col, top)
            grids.addWidget(table, 1, col, top)
        grids.setColumnStretch(3, 1)
        lay.addLayout(grids)
        self.terms_label = QLabel("", self)
        self.terms_label.setWordWrap(True)
        self.terms_label.setTextFormat(Qt.TextFormat.RichText)
        self.terms_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.terms_label)
        lay.addStretch(1)
        self.input_table.itemChanged.connect(self._on_edited)
        self.kernel_table.itemChanged.connect(self._on_edited)
        self.output_table.cellClicked.connect(self.pick_output)
        self.output_table.currentCellChanged.connect(
            lambda r, c, *_: self.pick_output(r, c) if r >= 0 and c >= 0 else None)
        self.input_table.cellClicked.connect(self.pick_input)
        self.show_message("Select a ConvTranspose2d node to see its arithmetic cell by cell.")

    # -- geometry -------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        self.node, self.trace, self._geometry = "", None, None
        self.header.setText(text)
        for t in (self.input_table, self.kernel_table, self.output_table):
            t.setRowCount(0)
            t.setColumnCount(0)
        self.terms_label.setText("")

    def set_node(self, node: str, name: str, params: dict, in_shape) -> None:
        """Show node ``node``'s geometry (its ConvTranspose2d ``params`` and input shape
        (N, C, H, W)); the grids keep their numbers when only the node's name or the
        channel counts changed."""
        h, w = (int(in_shape[2]), int(in_shape[3])) if in_shape and len(in_shape) == 4 \
            else (2, 2)
        h, w = min(h, MAX_SIDE), min(w, MAX_SIDE)
        geometry = {"hw": (h, w), "kernel": _pair(params["kernel_size"]),
                    **{k: _pair(params[k]) for k in ("stride", "padding", "output_padding",
                                                     "dilation")}}
        self.node = node
        cut = "" if in_shape and tuple(in_shape[2:]) == (h, w) else " (cut to 8×8)"
        self.header.setText(
            f"<b>{html.escape(name)}</b>: ConvTranspose2d with kernel_size "
            f"{_show(geometry['kernel'])}, stride {_show(geometry['stride'])}, padding "
            f"{_show(geometry['padding'])}, output_padding "
            f"{_show(geometry['output_padding'])}, dilation {_show(geometry['dilation'])} "
            f"on one channel of its {h}×{w} input{cut}. Each input value scatters a copy "
            "of the kernel, times itself, into the output; overlaps add.")
        if geometry == self._geometry:
            return
        same_hw = self._geometry is not None and self._geometry["hw"] == geometry["hw"]
        same_k = self._geometry is not None and self._geometry["kernel"] == geometry["kernel"]
        self._geometry = geometry
        x = self.values(self.input_table) if same_hw else _start(DEMO_INPUT, (h, w))
        k = self.values(self.kernel_table) if same_k else _start(DEMO_KERNEL, geometry["kernel"])
        self._fill(self.input_table, x)
        self._fill(self.kernel_table, k)
        self.recompute()

    # -- numbers ----------------------------------------------------------------------

    def values(self, table: QTableWidget) -> np.ndarray:
        """The grid's numbers (rows × cols) float64; a cell that is not a number reads 0."""
        out = np.zeros((table.rowCount(), table.columnCount()))
        for r in range(table.rowCount()):
            for c in range(table.columnCount()):
                item = table.item(r, c)
                try:
                    out[r, c] = float(item.text()) if item is not None else 0.0
                except ValueError:
                    out[r, c] = 0.0
        return out

    def set_values(self, which: str, values) -> None:
        """Set the ``"input"`` or ``"kernel"`` grid to ``values`` (its shape) and recompute.

        Raises:
            ValueError: ``values`` is not the grid's shape (names both).
        """
        table = self.input_table if which == "input" else self.kernel_table
        values = np.asarray(values, np.float64)
        if values.shape != (table.rowCount(), table.columnCount()):
            raise ValueError(f"the {which} grid is {table.rowCount()}×{table.columnCount()}, "
                             f"got values of shape {values.shape}")
        self._fill(table, values)
        self.recompute()

    def _fill(self, table: QTableWidget, values: np.ndarray, editable: bool = True) -> None:
        self._filling = True
        try:
            table.setRowCount(values.shape[0])
            table.setColumnCount(values.shape[1])
            # 0-based, as the trace's indices and PyTorch's
            table.setVerticalHeaderLabels([str(i) for i in range(values.shape[0])])
            table.setHorizontalHeaderLabels([str(j) for j in range(values.shape[1])])
            for r in range(values.shape[0]):
                for c in range(values.shape[1]):
                    item = QTableWidgetItem(_fmt(float(values[r, c])))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    if not editable:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    table.setItem(r, c, item)
            _fit(table)
        finally:
            self._filling = False

    def _on_edited(self, item) -> None:
        if not self._filling:
            self.recompute()

    def recompute(self) -> None:
        """Run the engine on the grids' numbers and show the output and the trace."""
        g = self._geometry
        if g is None:
            return
        try:
            self.trace = trace_transposed(self.values(self.input_table),
                                          self.values(self.kernel_table), stride=g["stride"],
                                          padding=g["padding"],
                                          output_padding=g["output_padding"],
                                          dilation=g["dilation"])
        except ValueError as exc:
            self.trace = None
            self.output_table.setRowCount(0)
            self.terms_label.setText(html.escape(f"The engine refuses this geometry: {exc}"))
            return
        self._fill(self.output_table, self.trace.output[0], editable=False)
        h, w = self.trace.output.shape[1:]
        if self.picked is None or self.picked[0] >= h or self.picked[1] >= w:
            self.picked = (h // 2, w // 2)
        self.pick_output(*self.picked)

    # -- tracing ----------------------------------------------------------------------

    def _clear_marks(self) -> None:
        for table in (self.input_table, self.kernel_table, self.output_table):
            for r in range(table.rowCount()):
                for c in range(table.columnCount()):
                    item = table.item(r, c)
                    if item is not None:
                        item.setBackground(QBrush())

    def _mark(self, table: QTableWidget, r: int, c: int, color: QColor) -> None:
        item = table.item(r, c)
        if item is not None:
            item.setBackground(QBrush(color))

    def pick_output(self, r: int, s: int) -> None:
        """List the terms of output cell (r, s) and light up their inputs and weights."""
        if self.trace is None:
            return
        terms = self.trace.terms(0, r, s)
        self.picked = (r, s)
        self._filling = True
        try:
            self._clear_marks()
            self._mark(self.output_table, r, s, PICK)
            for t in terms:
                self._mark(self.input_table, t.i, t.j, SOURCE)
                self._mark(self.kernel_table, t.a, t.b, SOURCE)
        finally:
            self._filling = False
        total = float(self.trace.output[0, r, s])
        if not terms:
            text = (f"out[{r}, {s}] = 0: no input scatters into this cell (it lies between "
                    "the kernel's taps).")
        else:
            names = " + ".join(f"x[{t.i}, {t.j}]·w[{t.a}, {t.b}]" for t in terms)
            values = " + ".join(f"{_fmt(t.input)}·{_fmt(t.weight)}" for t in terms)
            text = (f"<b>out[{r}, {s}]</b> = {names}<br>= {values} = <b>{_fmt(total)}</b>"
                    f"<br>{len(terms)} term{'s' if len(terms) != 1 else ''}: input cell "
                    f"(i, j) lands at (i·S − P + a·D, j·S − P + b·D) through kernel "
                    "position (a, b).")
        self.terms_label.setText(text)

    def pick_input(self, i: int, j: int) -> None:
        """Light up the output cells input cell (i, j) scatters into."""
        if self.trace is None:
            return
        self._filling = True
        try:
            self._clear_marks()
            self._mark(self.input_table, i, j, PICK)
            hits = self.trace.scatter(0, i, j)
            for r, s, a, b in hits:
                self._mark(self.output_table, r, s, SOURCE)
                self._mark(self.kernel_table, a, b, SOURCE)
        finally:
            self._filling = False
        x = float(self.trace.x[0, i, j])
        self.terms_label.setText(
            f"<b>x[{i}, {j}]</b> = {_fmt(x)} scatters x·w into {len(hits)} output cells "
            f"(rows {sorted({h[0] for h in hits})}, columns {sorted({h[1] for h in hits})}).")


def _show(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def _start(demo: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The demo's numbers when the shape fits, else 1, 2, 3... row by row."""
    if demo.shape == tuple(shape):
        return demo.copy()
    return np.arange(1.0, shape[0] * shape[1] + 1).reshape(shape)


def _fit(table: QTableWidget) -> None:
    w = table.verticalHeader().width() + table.horizontalHeader().length() + 4
    h = table.horizontalHeader().height() + table.verticalHeader().length() + 4
    table.setMinimumSize(min(w, 480), min(h, 300))
    table.setMaximumSize(max(w, 60), max(h, 40))


def install_transposed(window) -> QDockWidget:
    """Add the Transposed convolution dock to ``window`` (a MainWindow), tabbed with the
    Summary; it follows the canvas selection and the graph's edits. Opening a document
    shows it only if the graph has a ConvTranspose2d (View ▸ Transposed convolution shows
    it anyway), and brings it to the front when that graph has no data
    (transposed_conv_demo)."""
    panel = TransposedPanel(window)
    dock = window.add_dock("Transposed convolution", panel, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(window.summary_dock, dock)
    window.summary_dock.raise_()
    dock.hide()  # until the first refresh finds a ConvTranspose2d in the graph
    state = {"selected": "", "project": None}
    timer = QTimer(dock)
    timer.setSingleShot(True)
    timer.setInterval(0)

    def refresh() -> None:
        model = window.model
        types = {n: model.spec(n).type for n in model.nodes()}
        ups = [n for n, t in types.items() if t == "ConvTranspose2d"]
        node = state["selected"] if state["selected"] in ups else (ups[0] if ups else "")
        if not node:
            panel.show_message("No ConvTranspose2d in this graph. This dock shows a "
                               "transposed convolution's arithmetic cell by cell, as in "
                               "transposed_conv_demo.")
        else:
            st = model.state(node)
            panel.set_node(node, model.name(node), model.params(node),
                           st.inputs.get("input"))
        if window.project is not state["project"]:  # a document opened
            state["project"] = window.project
            dock.setVisible(bool(ups))  # a tab only where there is a ConvTranspose2d
            if ups and not has_data_source(model):
                dock.raise_()

    def on_selected(node: str) -> None:
        if node:
            state["selected"] = node
        timer.start()

    timer.timeout.connect(refresh)
    window.model.states_changed.connect(lambda: timer.start())
    window.canvas.selected_node_changed.connect(on_selected)
    for action in window.menuBar().actions():  # View ▸ Transposed convolution
        if action.text().replace("&", "") == "View" and action.menu() is not None:
            action.menu().addAction(dock.toggleViewAction())
            break
    window.transposed_panel = panel
    window.transposed_dock = dock
    timer.start()
    return dock

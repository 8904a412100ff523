"""The model summary dock: one table row per node (name, type, input and output shapes,
parameters, multiply-accumulates and the formula behind each), a total row, and the
parameter memory; its CSV and Markdown buttons save the table. Below it, when the graph has
1×1 bottlenecks (:func:`playground.graph.summary.bottlenecks`), a line says what they save
and names the first few; its tooltip lists them all.

Model/view: :class:`SummaryTableModel` is a ``QAbstractTableModel`` over
:func:`playground.graph.summary`; :class:`SummaryWidget` shows it in a ``QTableView`` and
recomputes it when the graph's shape inference reruns (``states_changed``), coalescing a
burst of edits into one refresh. A closed block is one row (the sums over the nodes inside
it); double-click it to list its inside, indented, below it. Selecting a row emits
``node_selected`` so the canvas can select that node.
"""

from __future__ import annotations

import html
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from pathlib import Path

from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from playground.graph import GraphModel, Summary, SummaryRow, summary
from playground.ui.follow import FollowsModel
from playground.ui.views.base import tool_button

COLUMNS = ("Name", "Type", "Input shape", "Output shape", "Params", "MACs", "Params formula",
           "MACs formula")
NAME, TYPE, INPUTS, OUTPUT, PARAMS, MACS, PARAMS_FORMULA, MACS_FORMULA = range(len(COLUMNS))
#: Role of a row's node id ("" for the total row).
NODE_ROLE = Qt.ItemDataRole.UserRole + 1
#: Bottlenecks named under the table; the rest are counted (the tooltip lists them all).
BOTTLENECK_LINES = 1


def bottleneck_text(s: Summary, lines: int = BOTTLENECK_LINES) -> str:
    """The dock's bottleneck note as HTML: a headline with the weights the 1×1 bottlenecks
    save in all, then the first ``lines`` of them; "" when the graph has none."""
    found = s.bottlenecks
    if not found:
        return ""
    saved, direct = sum(b.saved for b in found), sum(b.direct for b in found)
    head = (f"<b>{len(found)} 1×1 bottleneck{'s' if len(found) > 1 else ''}</b> save "
            f"<b>{saved:,}</b> of {direct:,} weights ({100 * saved / direct:.0f}%) of k×k "
            "convs on the un-reduced channels")
    if len(found) > lines:
        head += " · hover for all"
    return "<br>".join([head, *(html.escape(b.text) for b in found[:lines])])


def bottlenecks_in(s: Summary, node_id: str) -> list[str]:
    """The bottleneck lines of node ``node_id``: the 1×1 conv itself, or a closed block
    with bottlenecks inside."""
    inside = f"{node_id}/"
    return [b.text for b in s.bottlenecks if b.reduce == node_id or b.reduce.startswith(inside)]


def human_bytes(n: int) -> str:
    """``46758048`` -> ``"44.6 MiB"``."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover


class SummaryTableModel(QAbstractTableModel):
    """The rows of a :class:`~playground.graph.Summary`, with closed blocks expandable and a
    total row last."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary: Summary | None = None
        self._rows: list[tuple[SummaryRow, int]] = []   # (row, depth)
        self.expanded: set[str] = set()
        bold = QFont()
        bold.setBold(True)
        self._bold = bold
        self._error_brush = QBrush(QColor("#e0584a"))
        self._dim_brush = QBrush(QColor("#8a93a6"))

    # -- content ------------------------------------------------------------------------

    def set_summary(self, s: Summary) -> None:
        self.beginResetModel()
        self.summary = s
        self._rows = []

        def add(row: SummaryRow, depth: int) -> None:
            self._rows.append((row, depth))
            if row.children and row.node in self.expanded:
                for child in row.children:
                    add(child, depth + 1)

        for row in s.rows:
            add(row, 0)
        self.endResetModel()

    def toggle(self, node_id: str) -> None:
        """Show or hide the inside of the closed block ``node_id``."""
        self.expanded ^= {node_id}
        if self.summary is not None:
            self.set_summary(self.summary)

    def row_of(self, node_id: str) -> int:
        """The table row of ``node_id``, or -1."""
        return next((i for i, (r, _) in enumerate(self._rows) if r.node == node_id), -1)

    def node_at(self, row: int) -> str:
        return self._rows[row][0].node if 0 <= row < len(self._rows) else ""

    def total_row(self) -> int:
        return len(self._rows)

    # -- QAbstractTableModel ------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        if parent.isValid() or self.summary is None:
            return 0
        return len(self._rows) + 1

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.summary is None:
            return None
        r, c = index.row(), index.column()
        if r == len(self._rows):
            return self._total_data(c, role)
        row, depth = self._rows[r]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, depth, c)
        if role == NODE_ROLE:
            return row.node
        if role == Qt.ItemDataRole.ToolTipRole:
            if row.error:
                return row.error
            found = bottlenecks_in(self.summary, row.node) if c in (NAME, PARAMS) else []
            if found:
                return "\n".join(found)
            if c == PARAMS or c == PARAMS_FORMULA:
                return f"params = {row.params_formula}" if row.params_formula else None
            if c == MACS or c == MACS_FORMULA:
                return f"MACs = {row.macs_formula}" if row.macs_formula else None
            if c == NAME and row.children:
                return f"{row.name}: {len(row.children)} nodes inside; double-click to " + \
                    ("hide them" if row.node in self.expanded else "list them")
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and c in (PARAMS, MACS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.error:
                return self._error_brush
            if depth > 0 or c in (PARAMS_FORMULA, MACS_FORMULA):
                return self._dim_brush
        if role == Qt.ItemDataRole.FontRole and row.children and c == NAME:
            return self._bold
        return None

    def _text(self, row: SummaryRow, depth: int, c: int) -> str:
        if c == NAME:
            mark = ("▾ " if row.node in self.expanded else "▸ ") if row.children else ""
            where = f"{row.group} › " if row.group and depth == 0 else ""  # in an open block
            return "    " * depth + mark + where + row.name
        if c == TYPE:
            return row.type
        if c == INPUTS:
            ins = row.input_shapes
            if len(ins) == 1:
                return next(iter(ins.values()))
            return ", ".join(f"{p}: {s}" for p, s in ins.items())
        if c == OUTPUT:
            return row.output_shape if not row.error else "⚠ error"
        if c == PARAMS:
            return f"{row.params:,}"
        if c == MACS:
            return f"{row.macs:,}"
        if c == PARAMS_FORMULA:
            return row.params_formula
        if c == MACS_FORMULA:
            return row.macs_formula
        return ""

    def _total_data(self, c: int, role):
        s = self.summary
        if role == Qt.ItemDataRole.DisplayRole:
            return {NAME: "Total", PARAMS: f"{s.total_params:,}", MACS: f"{s.total_macs:,}",
                    PARAMS_FORMULA: f"parameter memory {human_bytes(s.param_bytes)} "
                                    f"({s.param_bytes:,} bytes, float32)"}.get(c, "")
        if role == Qt.ItemDataRole.FontRole:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and c in (PARAMS, MACS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == NODE_ROLE:
            return ""
        return None


class SummaryWidget(FollowsModel, QWidget):
    """The summary dock's content: the table and a line with the totals.

    Signals:
        node_selected(str): the node of the row the user selected.
    """

    node_selected = Signal(str)

    def __init__(self, model: GraphModel, parent=None):
        super().__init__(parent)
        self.table_model = SummaryTableModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in ((NAME, 170), (TYPE, 150), (INPUTS, 140), (OUTPUT, 140),
                           (PARAMS, 100), (MACS, 120), (PARAMS_FORMULA, 260)):
            self.table.setColumnWidth(col, width)
        self.totals = QLabel(self)
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # wrapped: a long line would set the bottom docks' (and so the window's) minimum
        # width, squeezing the palette and the inspector beside them
        self.totals.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(3)
        layout.addWidget(self.table)
        self.bottlenecks = QLabel(self)
        self.bottlenecks.setWordWrap(True)
        self.bottlenecks.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bottlenecks.hide()
        layout.addWidget(self.bottlenecks)
        foot = QHBoxLayout()
        foot.addWidget(self.totals, 1)
        self.csv_button = self._button("CSV", "Save the table as CSV (for a spreadsheet)",
                                       lambda: self._on_export("csv"))
        self.markdown_button = self._button("Markdown", "Save the table as Markdown (for "
                                            "notes and READMEs)",
                                            lambda: self._on_export("md"))
        foot.addWidget(self.csv_button)
        foot.addWidget(self.markdown_button)
        layout.addLayout(foot)
        self._follow_init()
        self._selecting = False
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(self._on_double_clicked)
        self.set_model(model)

    # -- model ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Recompute the summary now (edits schedule this; tests may call it)."""
        self._timer.stop()
        if self.model is None:
            return
        selected = self.selected_node()
        s = summary(self.model)
        self.table_model.set_summary(s)
        mmacs = s.total_macs / 1e6
        self.totals.setText(
            f"<b>{s.total_params:,}</b> parameters · <b>{s.total_macs:,}</b> multiply-"
            f"accumulates per example ({mmacs:,.1f} M) · parameter memory "
            f"<b>{human_bytes(s.param_bytes)}</b> ({s.param_bytes:,} bytes at float32)")
        note = bottleneck_text(s)
        self.bottlenecks.setText(note)
        self.bottlenecks.setToolTip("\n".join(b.text for b in s.bottlenecks))
        self.bottlenecks.setVisible(bool(note))
        if selected:
            self.select_node(selected)

    # -- export ---------------------------------------------------------------------------

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        return tool_button(self, text, tip, slot)

    def export(self, path: str | Path) -> Path:
        """Save the summary of the graph as it is now: Markdown for a ``.md`` (or
        ``.markdown``) path, CSV otherwise (see ``Summary.to_csv`` / ``to_markdown``).
        Raises OSError when the file cannot be written."""
        path = Path(path)
        s = summary(self.model)
        markdown = path.suffix.lower() in (".md", ".markdown")
        path.write_text(s.to_markdown() if markdown else s.to_csv(), encoding="utf-8")
        return path

    def _on_export(self, ext: str) -> None:
        kind = "Markdown (*.md)" if ext == "md" else "CSV (*.csv)"
        path, _ = QFileDialog.getSaveFileName(self, "Export the summary", f"summary.{ext}",
                                              kind)
        if path:
            if Path(path).suffix == "":
                path += f".{ext}"
            try:
                self.export(path)
            except OSError as exc:
                note = f"export failed: {exc}"
            else:
                note = f"exported {path}"
            self.refresh()
            self.totals.setText(f"{self.totals.text()} · {note}")

    # -- selection ------------------------------------------------------------------------

    def selected_node(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.node_at(rows[0].row()) if rows else ""

    def select_node(self, node_id: str) -> None:
        """Select the row of ``node_id`` (from the canvas) without emitting node_selected."""
        row = self.table_model.row_of(node_id) if node_id else -1
        self._selecting = True
        try:
            if row < 0:
                self.table.clearSelection()
            else:
                self.table.selectRow(row)
                self.table.scrollTo(self.table_model.index(row, 0))
        finally:
            self._selecting = False

    def _on_selection(self, *_):
        if self._selecting:
            return
        node = self.selected_node()
        if node:
            self.node_selected.emit(node)

    def _on_double_clicked(self, index) -> None:
        node = self.table_model.node_at(index.row())
        row = self.table_model.summary.row(node) if self.table_model.summary else None
        if row is not None and row.children:
            self.table_model.toggle(node)
            self.select_node(node)

"""File ▸ Import Data…: choose your own data file, see a preview, and set the Dataset node.

The dialog reads the file with the data layer (:mod:`playground.data.files`) as the
Dataset node will, so what it shows is what training gets:

* CSV: the first rows as a table, the input columns (check boxes) and the target column;
* NPY/NPZ: each array's key, shape and dtype, and which arrays are the inputs and targets;
* IDX: the images' and labels' shapes and dtypes;
* a folder of images: the classes with their image counts and a few thumbnails, the size
  the images are resized to, grayscale or RGB;
* a text file: its first lines and length.

A CSV or NPY/NPZ is read for classification (class labels: the Dataset node) or
regression (float targets: the Regression node, ``function="file"``, into MSELoss).

Below the preview, a line says what the node will get (examples, features, classes) or, in
red, why the file cannot be read. OK sets the node's params as one undoable step (a macro
of :class:`SetParamCommand`\\ s), or adds the node when the graph has no data node.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton,
                               QSpinBox, QStackedWidget, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from playground.data import files
from playground.data.text import read_corpus
from playground.graph import REGISTRY, GraphModel, dataset_of
from playground.graph.nodes.regression import DATA_SOURCES, regression_of

from . import image_files
from .commands import AddNodeCommand, SetParamCommand

__all__ = ["DatasetDialog", "DataFileCheck", "KINDS", "install_dataset_import"]

#: (label, Dataset-node ``dataset`` value), in the kind chooser's order.
KINDS = (("CSV table", "csv"), ("NPY / NPZ arrays", "npz"), ("IDX files (MNIST)", "idx"),
         ("Folder of images by class", "image_folder"), ("Text file (language model)", "text"))
_FILTERS = {
    "csv": "CSV tables (*.csv *.tsv *.txt);;All files (*)",
    "npz": "NumPy arrays (*.npy *.npz);;All files (*)",
    "idx": "IDX files (*-ubyte *-ubyte.gz *.idx* *.gz);;All files (*)",
    "text": "Text files (*.txt *.md);;All files (*)",
}
PREVIEW_ROWS = 20
THUMBNAILS = 8
ERROR_COLOR = "#ff6b6b"


class DatasetDialog(QDialog):
    """Import Data for the data node ``node_id`` of ``model``: a Dataset node
    (classification) or a Regression node (regression). With "" (or a node of the other
    task), OK sets the graph's first node of the task's type, or adds one when the graph has
    no data node. Edits go to ``undo_stack``.

    Public widgets (tests drive them): ``kind_combo``, ``path_edit``, ``target_path_edit``,
    ``preview_table`` (CSV), ``inputs_list`` (checkable CSV columns), ``target_combo``,
    ``task_combo``, ``arrays_label`` (NPY/NPZ and IDX shapes), ``samples`` (their images,
    one per class), ``x_key_combo``, ``y_key_combo``, ``thumbnails`` (image-folder QLabels),
    ``image_size_spin``, ``color_combo``, ``text_preview``, ``val_fraction_spin``,
    ``summary_label`` and ``buttons``.
    """

    def __init__(self, model: GraphModel, undo_stack, node_id: str = "", start_dir: str = "",
                 parent=None):
        super().__init__(parent)
        image_files.install()
        self.setWindowTitle("Import Data")
        self.model = model
        self.undo_stack = undo_stack
        self.node_id = node_id  # the node it was opened for; see target_node()
        self.start_dir = start_dir
        self.dataset = None  # what the current choices load, or None
        self.error = ""
        self._table: files.Table | None = None
        self._updating = False
        self._build()
        self._load_from_node()
        self.resize(760, 560)

    # -- layout -----------------------------------------------------------------------

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.kind_combo = QComboBox(self)
        for label, kind in KINDS:
            self.kind_combo.addItem(label, kind)
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)
        form.addRow("Kind", self.kind_combo)
        self.path_edit, path_row = self._path_row(self._on_browse)
        form.addRow("File", path_row)
        self.target_path_edit, self.target_row = self._path_row(self._on_browse_target)
        self.target_path_edit.setPlaceholderText("(empty: found beside the images)")
        form.addRow("Labels file", self.target_row)
        self.target_row_label = form.labelForField(self.target_row)
        lay.addLayout(form)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self._csv_page())
        self.stack.addWidget(self._arrays_page())
        self.stack.addWidget(self._images_page())
        self.stack.addWidget(self._text_page())
        lay.addWidget(self.stack, 1)

        bottom = QHBoxLayout()
        self.task_label = QLabel("Task", self)
        bottom.addWidget(self.task_label)
        self.task_combo = QComboBox(self)
        for task in files.TASKS:
            self.task_combo.addItem(task, task)
        self.task_combo.setToolTip("classification: class labels, for a Dataset node and "
                                   "CrossEntropyLoss; regression: numbers, for a Regression "
                                   "node and MSELoss")
        self.task_combo.currentIndexChanged.connect(self._refresh_summary)
        bottom.addWidget(self.task_combo)
        bottom.addSpacing(16)
        self.held_out_label = QLabel("Held out", self)
        bottom.addWidget(self.held_out_label)
        self.val_fraction_spin = QDoubleSpinBox(self)
        self.val_fraction_spin.setRange(*files.VAL_FRACTION_RANGE)
        self.val_fraction_spin.setSingleStep(0.05)
        self.val_fraction_spin.setValue(0.2)
        self.val_fraction_spin.setToolTip("the fraction of the examples held out, stratified "
                                          "by class (a file's own test split wins)")
        self.val_fraction_spin.valueChanged.connect(self._refresh_summary)
        bottom.addWidget(self.val_fraction_spin)
        bottom.addStretch(1)
        lay.addLayout(bottom)
        self.summary_label = QLabel(self)
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

    def _path_row(self, on_browse) -> tuple[QLineEdit, QWidget]:
        row = QWidget(self)
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(row)
        edit.editingFinished.connect(self._on_path_edited)
        button = QPushButton("Browse…", row)
        button.clicked.connect(on_browse)
        h.addWidget(edit, 1)
        h.addWidget(button)
        return edit, row

    def _csv_page(self) -> QWidget:
        page = QWidget(self)
        h = QHBoxLayout(page)
        h.setContentsMargins(0, 0, 0, 0)
        self.preview_table = QTableWidget(page)
        self.preview_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        h.addWidget(self.preview_table, 3)
        side = QVBoxLayout()
        side.addWidget(QLabel("Target column", page))
        self.target_combo = QComboBox(page)
        self.target_combo.currentIndexChanged.connect(self._on_target_changed)
        side.addWidget(self.target_combo)
        side.addWidget(QLabel("Input columns", page))
        self.inputs_list = QListWidget(page)
        self.inputs_list.itemChanged.connect(self._refresh_summary)
        side.addWidget(self.inputs_list, 1)
        h.addLayout(side, 1)
        return page

    def _arrays_page(self) -> QWidget:
        page = QWidget(self)
        v = QVBoxLayout(page)
        v.setContentsMargins(0, 0, 0, 0)
        self.arrays_label = QLabel(page)
        self.arrays_label.setWordWrap(True)
        self.arrays_label.setTextFormat(Qt.TextFormat.PlainText)
        self.arrays_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        v.addWidget(self.arrays_label)
        keys = QFormLayout()
        self.x_key_combo = QComboBox(page)
        self.y_key_combo = QComboBox(page)
        for combo in (self.x_key_combo, self.y_key_combo):
            combo.currentIndexChanged.connect(self._refresh_summary)
        keys.addRow("Inputs array", self.x_key_combo)
        keys.addRow("Targets array", self.y_key_combo)
        self.keys_box = QWidget(page)
        self.keys_box.setLayout(keys)
        v.addWidget(self.keys_box)
        row = QHBoxLayout()
        self.samples = [QLabel(page) for _ in range(THUMBNAILS)]  # one image per class
        for t in self.samples:
            t.setFixedSize(64, 64)
            t.setAlignment(Qt.AlignmentFlag.AlignCenter)
            row.addWidget(t)
        row.addStretch(1)
        v.addLayout(row)
        v.addStretch(1)
        return page

    def _images_page(self) -> QWidget:
        page = QWidget(self)
        v = QVBoxLayout(page)
        v.setContentsMargins(0, 0, 0, 0)
        self.classes_label = QLabel(page)
        self.classes_label.setWordWrap(True)
        v.addWidget(self.classes_label)
        row = QHBoxLayout()
        self.thumbnails = [QLabel(page) for _ in range(THUMBNAILS)]
        for t in self.thumbnails:
            t.setFixedSize(64, 80)
            t.setAlignment(Qt.AlignmentFlag.AlignCenter)
            row.addWidget(t)
        row.addStretch(1)
        v.addLayout(row)
        opts = QFormLayout()
        self.image_size_spin = QSpinBox(page)
        self.image_size_spin.setRange(*files.IMAGE_SIZE_RANGE)
        self.image_size_spin.setValue(28)
        self.image_size_spin.setKeyboardTracking(False)
        self.image_size_spin.valueChanged.connect(self._refresh_summary)
        self.color_combo = QComboBox(page)
        for c in files.COLORS:
            self.color_combo.addItem(c, c)
        self.color_combo.currentIndexChanged.connect(self._refresh_summary)
        opts.addRow("Resized to (pixels)", self.image_size_spin)
        opts.addRow("Colour", self.color_combo)
        v.addLayout(opts)
        v.addStretch(1)
        return page

    def _text_page(self) -> QWidget:
        self.text_preview = QPlainTextEdit(self)
        self.text_preview.setReadOnly(True)
        return self.text_preview

    # -- state ------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    @property
    def task(self) -> str:
        """classification, or regression (a CSV's or NPY/NPZ's float targets)."""
        return self.task_combo.currentData() if self.kind in ("csv", "npz") \
            else "classification"

    def target_node(self) -> str:
        """The node OK sets: the one the dialog was opened for when it is of the task's
        type (Dataset for classification, Regression for regression), else the graph's
        first of that type; "" when there is none."""
        want = "Regression" if self.task == "regression" else "Dataset"
        if self.node_id in self.model and self.model.spec(self.node_id).type == want:
            return self.node_id
        return next((n for n in self.model.nodes() if self.model.spec(n).type == want), "")

    def _load_from_node(self) -> None:
        """Start from the node's params when it already reads a file."""
        self._updating = True
        try:
            params = self.model.params(self.node_id) if self.node_id in self.model else {}
            kind = params.get("dataset")
            if self.node_id in self.model and \
                    self.model.spec(self.node_id).type == "Regression":
                self.task_combo.setCurrentIndex(self.task_combo.findData("regression"))
                if params.get("function") == "file":
                    path = params.get("path", "")
                    kind = "npz" if path.lower().endswith((".npy", ".npz")) else "csv"
                    params = {**params, "dataset": kind}
            if kind in files.FAMILIES or (kind == "text" and params.get("path")):
                self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
                self.path_edit.setText(params.get("path", ""))
                self.target_path_edit.setText(params.get("target_path", ""))
                self.val_fraction_spin.setValue(params.get("val_fraction", 0.2))
                self.image_size_spin.setValue(params.get("image_size", 28))
                self.color_combo.setCurrentIndex(self.color_combo.findData(
                    params.get("color", "grayscale")))
        finally:
            self._updating = False
        self._on_kind_changed()
        if self.node_id in self.model and self.kind in ("csv", "npz"):
            self._select_columns(self.model.params(self.node_id))

    def params(self) -> dict[str, Any]:
        """The params the choices give the target node (those the kind reads): a Dataset
        node's, or for regression a Regression node's (``function="file"``)."""
        kind = self.kind
        out: dict[str, Any] = {"dataset": kind, "path": self.path_edit.text().strip()}
        if kind == "text":
            return out
        if self.task == "regression":
            out = {"function": "file", "path": out["path"]}
            if kind == "csv":
                out["input_columns"], out["target_column"] = self._csv_columns()
            else:
                out["input_columns"] = self.x_key_combo.currentData() or ""
                out["target_column"] = self.y_key_combo.currentData() or ""
            return out
        out["val_fraction"] = round(self.val_fraction_spin.value(), 4)
        if kind in ("idx", "npz"):
            out["target_path"] = self.target_path_edit.text().strip()
        if kind == "csv":
            out["input_columns"], out["target_column"] = self._csv_columns()
        elif kind == "npz":
            if self.x_key_combo.count():
                out["input_columns"] = self.x_key_combo.currentData() or ""
                out["target_column"] = self.y_key_combo.currentData() or ""
            else:
                out["input_columns"] = out["target_column"] = ""
        elif kind == "image_folder":
            out["image_size"] = self.image_size_spin.value()
            out["color"] = self.color_combo.currentData()
        return out

    def _csv_columns(self) -> tuple[str, str]:
        table = self._table
        if table is None:
            return "", ""
        target = self.target_combo.currentIndex()
        checked = [self.inputs_list.item(i).data(Qt.ItemDataRole.UserRole)
                   for i in range(self.inputs_list.count())
                   if self.inputs_list.item(i).checkState() == Qt.CheckState.Checked]
        by_name = table.has_header and len(set(table.columns)) == len(table.columns) and \
            not any("," in c or ";" in c for c in table.columns)
        name = (lambda j: table.columns[j]) if by_name else str
        everything_else = [j for j in range(len(table.columns)) if j != target]
        inputs = "" if checked == everything_else else ", ".join(name(j) for j in checked)
        return inputs, name(target) if target >= 0 else ""

    # -- handlers ---------------------------------------------------------------------

    def _on_kind_changed(self, *_) -> None:
        kind = self.kind
        page = {"csv": 0, "npz": 1, "idx": 1, "image_folder": 2, "text": 3}[kind]
        self.stack.setCurrentIndex(page)
        two_files = kind in ("idx", "npz")
        self.target_row.setVisible(two_files)
        self.target_row_label.setVisible(two_files)
        self.target_path_edit.setPlaceholderText(
            "(empty: found beside the images by MNIST's names)" if kind == "idx" else
            "(only for an .npy of inputs: the .npy of targets)")
        self.val_fraction_spin.setEnabled(kind != "text")
        self.task_combo.setVisible(kind in ("csv", "npz"))
        self.task_label.setVisible(kind in ("csv", "npz"))
        self._on_path_edited()

    def _on_browse(self) -> None:
        start = self.path_edit.text() or self.start_dir
        if self.kind == "image_folder":
            path = QFileDialog.getExistingDirectory(self, "Choose a folder of images", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a data file", start,
                                                  _FILTERS[self.kind])
        if path:
            self.path_edit.setText(path)
            self._on_path_edited()

    def _on_browse_target(self) -> None:
        start = self.target_path_edit.text() or self.path_edit.text() or self.start_dir
        path, _ = QFileDialog.getOpenFileName(self, "Choose the labels file", start,
                                              _FILTERS[self.kind])
        if path:
            self.target_path_edit.setText(path)
            self._on_path_edited()

    def set_path(self, path: str | Path, kind: str | None = None) -> None:
        """Choose ``path`` (and the kind), as Browse… does."""
        if kind is not None:
            self._updating = True
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
            self._updating = False
        self.path_edit.setText(str(path))
        self._on_kind_changed()

    def _on_path_edited(self) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self._fill_preview()
        finally:
            self._updating = False
        self._refresh_summary()

    def _on_target_changed(self, *_) -> None:
        if self._updating or self._table is None:
            return
        target = self.target_combo.currentIndex()
        self._updating = True
        try:
            self._fill_inputs(target)
        finally:
            self._updating = False
        self._refresh_summary()

    # -- preview ----------------------------------------------------------------------

    def _fill_preview(self) -> None:
        self._table = None
        path = self.path_edit.text().strip()
        kind = self.kind
        self.preview_table.clear()
        self.preview_table.setRowCount(0)
        self.preview_table.setColumnCount(0)
        self.target_combo.clear()
        self.inputs_list.clear()
        self.arrays_label.clear()
        self.x_key_combo.clear()
        self.y_key_combo.clear()
        self.keys_box.hide()
        self.classes_label.clear()
        for t in self.thumbnails:
            t.clear()
        self.text_preview.clear()
        if not path:
            return
        try:
            if kind == "csv":
                self._preview_csv(path)
            elif kind == "npz":
                self._preview_arrays(path)
            elif kind == "idx":
                self._preview_idx(path)
            elif kind == "image_folder":
                self._preview_images(path)
            else:
                text = read_corpus(path)
                self.text_preview.setPlainText(
                    f"{len(text):,} characters, {len(set(text))} distinct.\n\n{text[:2000]}")
        except (OSError, ValueError) as exc:  # the summary line says it in red
            self.arrays_label.setText(str(exc))

    def _preview_csv(self, path: str) -> None:
        table = files.read_table(path, max_rows=PREVIEW_ROWS)
        self._table = table
        t = self.preview_table
        t.setColumnCount(len(table.columns))
        t.setRowCount(len(table.rows))
        t.setHorizontalHeaderLabels(list(table.columns))
        for i, row in enumerate(table.rows):
            for j, cell in enumerate(row):
                t.setItem(i, j, QTableWidgetItem(cell))
        t.setVerticalHeaderLabels([str(table.first_line + i) for i in range(len(table.rows))])
        t.resizeColumnsToContents()
        for j, name in enumerate(table.columns):
            self.target_combo.addItem(name, j)
        self.target_combo.setCurrentIndex(len(table.columns) - 1)
        self._fill_inputs(len(table.columns) - 1)

    def _fill_inputs(self, target: int) -> None:
        table = self._table
        self.inputs_list.clear()
        for j, name in enumerate(table.columns):
            if j == target:
                continue
            item = QListWidgetItem(name + ("" if table.numeric[j] else "  (text)"))
            item.setData(Qt.ItemDataRole.UserRole, j)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if table.numeric[j]
                               else Qt.CheckState.Unchecked)
            self.inputs_list.addItem(item)

    def _select_columns(self, params) -> None:
        """Check the node's input_columns and pick its target_column in the pickers."""
        if self.kind == "npz":
            for combo, key in ((self.x_key_combo, "input_columns"),
                               (self.y_key_combo, "target_column")):
                i = combo.findData(params.get(key, ""))
                if i >= 0:
                    combo.setCurrentIndex(i)
            self._refresh_summary()
            return
        table = self._table
        if table is None:
            return
        try:
            inputs, target = files.choose_columns(table.columns, params.get("input_columns", ""),
                                           params.get("target_column", ""), "")
        except ValueError:
            return
        self._updating = True
        try:
            self.target_combo.setCurrentIndex(target)
            self._fill_inputs(target)
            for i in range(self.inputs_list.count()):
                item = self.inputs_list.item(i)
                j = item.data(Qt.ItemDataRole.UserRole)
                item.setCheckState(Qt.CheckState.Checked if j in inputs
                                   else Qt.CheckState.Unchecked)
        finally:
            self._updating = False
        self._refresh_summary()

    def _preview_arrays(self, path: str) -> None:
        infos = files.array_infos(path)
        lines = [f"{i.key or Path(path).name}: shape {i.shape}, {i.dtype}" for i in infos]
        if len(infos) == 1 and not infos[0].key:
            lines.append("An .npy: a table whose last column is the target, or the inputs "
                         "with the targets' .npy as the labels file.")
        else:
            keys = [i.key for i in infos]
            # the usual names, else the largest array and a 1-D one as long as it
            x = next((k for k in files.X_KEYS if k in keys), None) or \
                max(infos, key=lambda i: (len(i.shape) > 1, math.prod(i.shape))).key
            n = next(i.shape[0] for i in infos if i.key == x) if \
                next(i.shape for i in infos if i.key == x) else None
            y = next((k for k in files.Y_KEYS if k in keys), None) or next(
                (i.key for i in infos if i.key != x and i.shape[:1] == (n,)
                 and len(i.shape) == 1), keys[0])
            for combo, guess in ((self.x_key_combo, x), (self.y_key_combo, y)):
                for k in keys:
                    combo.addItem(k, k)
                combo.setCurrentIndex(keys.index(guess))
            self.keys_box.show()
        self.arrays_label.setText("\n".join(lines))

    def _preview_idx(self, path: str) -> None:
        lines = []
        img = files.idx_info(path)
        lines.append(f"images {Path(path).name}: shape {img.shape}, {img.dtype}")
        target = self.target_path_edit.text().strip() or str(files.labels_path_for(path))
        try:
            lab = files.idx_info(target)
            lines.append(f"labels {Path(target).name}: shape {lab.shape}, {lab.dtype}")
        except (OSError, ValueError) as exc:
            lines.append(f"labels: {exc}")
        self.arrays_label.setText("\n".join(lines))

    def _preview_images(self, path: str) -> None:
        classes = files.image_folder_classes(path)
        counts = ", ".join(f"{name} ({len(v)})" for name, v in list(classes.items())[:20])
        self.classes_label.setText(f"{len(classes)} classes: {counts}"
                                   + (" ..." if len(classes) > 20 else ""))
        picks = [(name, f) for name, v in classes.items() for f in v[:2]][:THUMBNAILS]
        for label, (name, f) in zip(self.thumbnails, picks):
            pix = QPixmap(str(f))
            if not pix.isNull():
                label.setPixmap(pix.scaled(56, 56, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))
            label.setToolTip(f"{name}: {f.name}")

    # -- summary ----------------------------------------------------------------------

    def _refresh_summary(self, *_) -> None:
        if self._updating:
            return
        self.dataset, self.error = None, ""
        params = self.params()
        regression = self.task == "regression"
        self.val_fraction_spin.setEnabled(self.kind != "text" and not regression)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if not params["path"]:
            self.summary_label.setStyleSheet("")
            self.summary_label.setText("Choose a file.")
            ok.setEnabled(False)
            return
        node = self.target_node()
        node_type = "Regression" if regression else "Dataset"
        base = self.model.params(node) if node else REGISTRY[node_type].default_params()
        try:
            self.dataset = (regression_of if regression else dataset_of)({**base, **params})
        except (OSError, ValueError, KeyError) as exc:
            self.error = str(exc)
        if not node and any(self.model.spec(n).type in DATA_SOURCES
                            for n in self.model.nodes()):
            source = ("Regression targets are numbers: they come from a Regression node"
                      if regression else "Class labels come from a Dataset node")
            other = "classification" if regression else "regression"
            self.error = (f"{source}, and the graph has none. Replace its data node with a "
                          f"{node_type} node from the palette (Data), or choose {other}.")
            self.dataset = None
        if self.dataset is None:
            self.summary_label.setStyleSheet(f"color: {ERROR_COLOR};")
            self.summary_label.setText(self.error)
            ok.setEnabled(False)
            return
        ds = self.dataset
        who = f"The {node_type} node" + (f" '{self.model.name(node)}'" if node else " (new)")
        if regression:
            y = ds.train.target
            what = (f"{ds.feature_shape[0]} features, float targets from {y.min():.4g} to "
                    f"{y.max():.4g}")
        else:
            names = ", ".join(ds.class_names[:12]) + (" ..." if ds.num_classes > 12 else "")
            shape = f"images {ds.image_shape}" if ds.image_shape else \
                f"{ds.feature_shape[0]} features" if ds.train.input.dtype.kind == "f" else \
                f"windows of {ds.feature_shape[0]} tokens"
            what = f"{shape}, {ds.num_classes} classes: {names}"
        self.summary_label.setStyleSheet("")
        self.summary_label.setText(f"{who} gets {len(ds.train):,} training and "
                                   f"{len(ds.val):,} held-out examples, {what}.")
        ok.setEnabled(True)
        self._show_samples()

    def _show_samples(self) -> None:
        """The first training image of each class (IDX and NPZ images), magnified."""
        for t in self.samples:
            t.clear()
        ds = self.dataset
        shape = getattr(ds, "image_shape", None)
        if self.kind not in ("idx", "npz") or shape is None or shape[0] not in (1, 3):
            return
        c, h, w = shape
        picks = [int(np.flatnonzero(ds.train.target == k)[0]) for k in range(ds.num_classes)
                 if np.any(ds.train.target == k)][:THUMBNAILS]
        for label, i in zip(self.samples, picks):
            pixels = ds.train.input[i].reshape(c, h, w).transpose(1, 2, 0)
            pixels = np.ascontiguousarray(np.clip(pixels * 255, 0, 255).astype(np.uint8))
            fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
            image = QImage(pixels.data, w, h, w * c, fmt).copy()
            label.setPixmap(QPixmap.fromImage(image).scaled(
                56, 56, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation))
            label.setToolTip(f"class {ds.class_names[ds.train.target[i]]}")

    # -- OK ---------------------------------------------------------------------------

    def accept(self) -> None:  # Qt override
        """Set the target node's params as one undo step (or add the node)."""
        self._refresh_summary()
        if self.dataset is None:
            return
        params = self.params()
        name = Path(params["path"]).name
        node = self.target_node()
        if not node:
            node_type = "Regression" if self.task == "regression" else "Dataset"
            command = AddNodeCommand(self.model, node_type, params, (0.0, 0.0))
            command.setText(f"Import data {name}")
            self.undo_stack.push(command)
            self.node_id = command.node_id
        else:
            changes = [SetParamCommand(self.model, node, k, v) for k, v in params.items()]
            changes = [c for c in changes if not c.isObsolete()]
            if changes:
                self.undo_stack.beginMacro(f"Import data {name} into {self.model.name(node)}")
                for c in changes:
                    self.undo_stack.push(c)
                self.undo_stack.endMacro()
            self.node_id = node
        super().accept()


class DataFileCheck(QObject):
    """Looks at the data nodes' files again whenever the app becomes active (the user may
    have fixed or replaced a file in another program): a node marked red for a missing
    file turns valid once it is back, and an edited file is read again. Unchanged files
    cost nothing (their datasets are cached by modification time and size)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        QGuiApplication.instance().applicationStateChanged.connect(self._on_state_changed)

    def _on_state_changed(self, state) -> None:
        if state == Qt.ApplicationState.ApplicationActive:
            self.check()

    def check(self) -> list[str]:
        """Infer again the nodes that read a file; returns their ids."""
        model = self.window.model
        nodes = [n for n in model.nodes() if any(
            isinstance(model.params(n).get(k), str) and model.params(n).get(k)
            for k in ("path", "target_path"))]
        if nodes:
            model.reinfer(nodes)
        return nodes


def install_dataset_import(window) -> QAction:
    """File ▸ Import Data… on ``window`` (before its Presets menu); opens the dialog for
    its Dataset node. Also installs Qt's image decoder for image folders and the window's
    :class:`DataFileCheck` (``window.data_file_check``)."""
    image_files.install()
    window.data_file_check = DataFileCheck(window)
    action = QAction("Import &Data…", window)
    action.setStatusTip("Train on your own CSV, NPY/NPZ, IDX file, image folder or text")

    def open_dialog() -> None:
        path = getattr(window.project, "path", None)
        selected = getattr(window.inspector, "node_id", "")
        node = selected if selected in window.model and \
            window.model.spec(selected).type in ("Dataset", "Regression") else ""
        window.dataset_dialog = DatasetDialog(window.model, window.undo_stack, node,
                                              str(path.parent) if path else "", window)
        window.dataset_dialog.open()

    action.triggered.connect(open_dialog)
    file_menu = window.menuBar().actions()[0].menu()
    presets = next((a for a in file_menu.actions() if a.menu() is window.presets_menu), None)
    if presets is not None:
        file_menu.insertAction(presets, action)
    else:
        file_menu.addAction(action)
    return action

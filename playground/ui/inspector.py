"""The inspector: name, type, shapes, parameter count and a param form for one node.

A view on the document :class:`GraphModel`: it reads the model and subscribes to its
events, so undo and redo update the form. Every edit goes through the undo stack
(:class:`SetParamCommand`, :class:`RenameNodeCommand`); a value the param's spec refuses is
shown with the :class:`ParamError` message and never raised into the event loop.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from playground.graph import GraphModel, ParamError, ParamSpec, format_shape, summary

from .commands import RenameNodeCommand, SetParamCommand

ERROR_COLOR = "#ff6b6b"
BLOCKED_COLOR = "#e0a84a"
MUTED_COLOR = "#8b93a3"
_INT_MAX = 2**31 - 1


def _category_hex(category: str) -> str:
    try:
        from .theme import category_color
        return category_color(category).name()
    except Exception:
        return "#5b6b8c"


class FloatSpinBox(QDoubleSpinBox):
    """A QDoubleSpinBox that keeps 10 decimals and writes values as ``%g``, so a BatchNorm's
    eps=1e-05 reads "1e-05" (not "0.0000") and survives an edit; typing "1e-3" works."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(10)

    def textFromValue(self, value: float) -> str:  # Qt override
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:  # Qt override
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # Qt override
        try:
            value = float(text.strip())
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos


class LogSpinBox(FloatSpinBox):
    """A FloatSpinBox whose arrows step through 1, 2, 5 x 10^k (learning rates, etc.)."""

    _MANTISSAS = (1.0, 2.0, 5.0)

    def stepBy(self, steps: int) -> None:  # Qt override
        import math
        value = max(self.value(), self.minimum(), 1e-12)
        for _ in range(abs(steps)):
            exp = math.floor(math.log10(value) + 1e-9)
            ladder = [m * 10.0 ** e for e in (exp - 1, exp, exp + 1) for m in self._MANTISSAS]
            if steps > 0:
                value = next((v for v in ladder if v > value * (1 + 1e-9)), value * 2)
            else:
                value = next((v for v in reversed(ladder) if v < value * (1 - 1e-9)), value / 2)
        self.setValue(min(max(value, self.minimum()), self.maximum()))

    def stepEnabled(self):  # Qt override
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() > self.minimum():
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        if self.value() < self.maximum():
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        return flags


class TextParamEdit(QLineEdit):
    """A one-line editor for params typed as text: ``ints`` (``3`` or ``3, 5``) and optional
    numbers (empty means None). ``valueChanged`` carries the text when editing finishes;
    :meth:`ParamSpec.coerce` parses it (or refuses it with a message)."""

    valueChanged = Signal(object)

    def __init__(self, spec: ParamSpec, parent=None):
        super().__init__(parent)
        self._shown = ""
        if spec.type == "ints":
            hint = "3 or 3, 5" if spec.length == 2 else "e.g. 1, 8, 8"
        elif spec.type in ("str", "path"):
            hint = "(empty: the default)"
        else:
            hint = "a number"
        self.setPlaceholderText(f"None ({hint})" if spec.optional else hint)
        self.editingFinished.connect(self._on_finished)

    def set_value(self, value: Any) -> None:
        self._shown = format_param(value)
        self.setText(self._shown)

    def value(self) -> str:
        return self.text()

    def _on_finished(self) -> None:
        if self.text() != self._shown:
            self._shown = self.text()
            self.valueChanged.emit(self.text())


class PathParamEdit(QWidget):
    """A ``path`` param's editor: a line edit and a "Browse…" button (a QFileDialog).
    ``valueChanged`` carries the text when editing finishes or a file is chosen.

    Attributes:
        line_edit, browse_button: its widgets.
        pick_folder: called on Browse; True opens a folder chooser instead of a file one.
        start_dir: called on Browse for the folder to start in (the project's).
    """

    valueChanged = Signal(object)

    def __init__(self, spec: ParamSpec, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.line_edit = TextParamEdit(spec, self)
        self.line_edit.setPlaceholderText("(none)")
        self.line_edit.valueChanged.connect(self.valueChanged)
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.clicked.connect(self._on_browse)
        lay.addWidget(self.line_edit, 1)
        lay.addWidget(self.browse_button)
        self.pick_folder = lambda: False
        self.start_dir = lambda: ""

    def set_value(self, value: Any) -> None:
        self.line_edit.set_value(value)
        self.line_edit.setToolTip(str(value or ""))

    def value(self) -> str:
        return self.line_edit.text()

    def _on_browse(self) -> None:
        start = self.line_edit.text() or self.start_dir()
        if self.pick_folder():
            path = QFileDialog.getExistingDirectory(self, "Choose a folder of images", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a data file", start,
                                                  DATA_FILE_FILTER)
        if path:
            self.line_edit.set_value(path)
            self.valueChanged.emit(path)


#: The Browse… dialog's file types.
DATA_FILE_FILTER = ("Data files (*.csv *.tsv *.txt *.npy *.npz *-ubyte *.idx* *.gz);;"
                    "All files (*)")


def format_param(value: Any) -> str:
    """A param value as a text editor shows it: ``(3, 5)`` -> ``"3, 5"``, None -> ``""``."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "")
    return f"{value:g}" if isinstance(value, float) else str(value)


def make_editor(spec: ParamSpec, parent=None) -> QWidget:
    """A widget for one param: QSpinBox (int), QDoubleSpinBox (float), QCheckBox (bool),
    QComboBox (choice), bounded by the spec's low/high/choices; a :class:`TextParamEdit` for
    ``ints``, ``str`` and for optional numbers (which may be None); a :class:`PathParamEdit`
    for ``path``."""
    if spec.type == "path":
        w = PathParamEdit(spec, parent)
    elif spec.type in ("ints", "str") or (spec.optional and spec.type in ("int", "float")):
        w = TextParamEdit(spec, parent)
    elif spec.type == "int":
        w = QSpinBox(parent)
        low = -_INT_MAX if spec.low is None else int(max(spec.low, -_INT_MAX))
        high = _INT_MAX if spec.high is None else int(min(spec.high, _INT_MAX))
        w.setRange(low, high)
        w.setKeyboardTracking(False)
        w.setAccelerated(True)
    elif spec.type == "float":
        w = LogSpinBox(parent) if spec.log_scale else FloatSpinBox(parent)
        low = -1e9 if spec.low is None else float(spec.low)
        high = 1e9 if spec.high is None else float(spec.high)
        w.setRange(low, high)
        w.setSingleStep(0.01 if high - low <= 10 else 0.1)
        w.setKeyboardTracking(False)
    elif spec.type == "bool":
        w = QCheckBox(parent)
    elif spec.type == "choice":
        w = QComboBox(parent)
        for choice in spec.choices:
            w.addItem(str(choice), choice)
    else:  # pragma: no cover - the registry test forbids other types
        raise ValueError(f"unknown param type {spec.type!r}")
    w.setToolTip(spec.doc)
    return w


def set_editor_value(widget: QWidget, value: Any) -> None:
    """Show ``value`` in an editor from :func:`make_editor` without emitting its signals."""
    blocked = widget.blockSignals(True)
    try:
        if isinstance(widget, (TextParamEdit, PathParamEdit)):
            widget.set_value(value)
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            index = widget.findData(value)
            widget.setCurrentIndex(index if index >= 0 else widget.findText(str(value)))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
    finally:
        widget.blockSignals(blocked)


def editor_value(widget: QWidget) -> Any:
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentData()
    return widget.value()


class InspectorWidget(QWidget):
    """Shows and edits the node ``node_id`` of ``model``; edits go to ``undo_stack``.

    Public widgets (tests drive them): ``name_edit``, ``type_label``, ``outputs_label``,
    ``params_label``, ``status_label`` (the node's error, red), ``fix_button`` ("Set
    in_features=2"), ``param_error_label`` (a refused value's ParamError message) and
    :meth:`editor` for each param.
    """

    def __init__(self, model: GraphModel, undo_stack, parent=None):
        super().__init__(parent)
        self.model = model
        self.undo_stack = undo_stack
        self.node_id = ""
        self._editors: dict[str, QWidget] = {}
        self._fix: tuple[str, Any] | None = None
        self._build()
        model.param_changed.connect(self._on_param_changed)
        model.node_renamed.connect(self._on_node_renamed)
        model.node_removed.connect(self._on_node_removed)
        model.states_changed.connect(self._on_states_changed)
        self.set_node("")

    # -- layout -----------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)

        self.placeholder = QLabel("Select a node on the canvas to see its shapes, parameter "
                                  "count and settings.", body)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet(f"color: {MUTED_COLOR};")
        lay.addWidget(self.placeholder)

        self.header = QLabel(body)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.header)
        self.description = QLabel(body)
        self.description.setWordWrap(True)
        self.description.setStyleSheet(f"color: {MUTED_COLOR};")
        lay.addWidget(self.description)

        info = QFormLayout()
        info.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        info.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name_edit = QLineEdit(body)
        self.name_edit.editingFinished.connect(self._on_name_edited)
        self.type_label = QLabel(body)
        self.inputs_label = QLabel(body)
        self.outputs_label = QLabel(body)
        self.params_label = QLabel(body)
        self.macs_label = QLabel(body)
        for w in (self.inputs_label, self.outputs_label, self.params_label, self.macs_label):
            w.setWordWrap(True)
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        info.addRow("Name", self.name_edit)
        info.addRow("Type", self.type_label)
        info.addRow("Input", self.inputs_label)
        info.addRow("Output", self.outputs_label)
        info.addRow("Params", self.params_label)
        info.addRow("MACs", self.macs_label)
        self.info_box = QWidget(body)
        self.info_box.setLayout(info)
        lay.addWidget(self.info_box)

        self.status_label = QLabel(body)
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet(
            f"color: {ERROR_COLOR}; background: rgba(255, 80, 80, 28); border: 1px solid "
            f"{ERROR_COLOR}; border-radius: 4px; padding: 6px;")
        lay.addWidget(self.status_label)
        self.fix_button = QPushButton(body)
        self.fix_button.clicked.connect(self._on_fix_clicked)
        lay.addWidget(self.fix_button)

        self.params_title = QLabel("<b>Settings</b>", body)
        lay.addWidget(self.params_title)
        self.form_host = QWidget(body)
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        lay.addWidget(self.form_host)
        self.param_error_label = QLabel(body)
        self.param_error_label.setWordWrap(True)
        self.param_error_label.setStyleSheet(f"color: {ERROR_COLOR};")
        lay.addWidget(self.param_error_label)
        self.import_button = QPushButton("Import Data…", body)  # a Dataset node's file
        self.import_button.setToolTip("Choose your own CSV, NPY/NPZ, IDX file, image folder "
                                      "or text, with a preview")
        self.import_button.clicked.connect(self._on_import_clicked)
        lay.addWidget(self.import_button)
        lay.addStretch(1)

    # -- public -----------------------------------------------------------------------

    def editor(self, param: str) -> QWidget:
        """The editor widget of ``param`` for the shown node (KeyError if none)."""
        return self._editors[param]

    def set_node(self, node_id: str) -> None:
        """Show ``node_id`` ("" shows the placeholder)."""
        if node_id and node_id not in self.model:
            node_id = ""
        self.node_id = node_id
        self._rebuild_form()
        self._refresh()

    def apply_param(self, name: str, value: Any) -> bool:
        """Push a SetParamCommand for the shown node; a refused value shows its ParamError
        message instead. Returns whether the value was accepted."""
        if not self.node_id:
            return False
        spec = self.model.spec(self.node_id).param(name)
        try:
            if spec is None:
                raise ParamError(name, f"{self.model.spec(self.node_id).type} has no param "
                                       f"{name!r}")
            value = spec.coerce(value, self.model.name(self.node_id))
            command = SetParamCommand(self.model, self.node_id, name, value)  # checks a block
        except ParamError as exc:
            self.param_error_label.setText(exc.message)
            self.param_error_label.show()
            return False
        self.param_error_label.clear()
        self.param_error_label.hide()
        current = self.model.params(self.node_id)[name]
        if current == value and type(current) is type(value):
            return True
        self.undo_stack.push(command)
        return True

    # -- building ---------------------------------------------------------------------

    def _rebuild_form(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self._editors.clear()
        self.param_error_label.clear()
        self.param_error_label.hide()
        if not self.node_id:
            return
        spec = self.model.spec(self.node_id)
        params = self.model.params(self.node_id)
        for pspec in spec.params:
            editor = make_editor(pspec, self.form_host)
            set_editor_value(editor, params[pspec.name])
            self._connect_editor(pspec.name, editor)
            if isinstance(editor, PathParamEdit):
                node = self.node_id
                editor.pick_folder = lambda: self.model.params(node).get("dataset") == \
                    "image_folder"
                editor.start_dir = self._start_dir
            label = QLabel(pspec.name)
            label.setToolTip(pspec.doc)
            self.form.addRow(label, editor)
            self._editors[pspec.name] = editor
        self._show_applicable()

    def _show_applicable(self) -> None:
        """Show the rows of the params that apply with the node's values (a Dataset node
        reading a CSV hides seq_len); see :meth:`NodeSpec.shown_params`."""
        if not self.node_id or self.node_id not in self.model:
            return
        spec = self.model.spec(self.node_id)
        shown = {p.name for p in spec.shown_params(self.model.params(self.node_id))}
        for row, pspec in enumerate(spec.params):
            self.form.setRowVisible(row, pspec.name in shown)

    def _connect_editor(self, name: str, editor: QWidget) -> None:
        def edited(*_):
            value = editor_value(editor)
            if isinstance(editor, PathParamEdit):
                value = self._absolute(value)
            self.apply_param(name, value)
        if isinstance(editor, QCheckBox):
            editor.toggled.connect(edited)
        elif isinstance(editor, QComboBox):
            editor.currentIndexChanged.connect(edited)
        else:
            editor.valueChanged.connect(edited)

    def _refresh(self) -> None:
        """Everything but the editors' values: header, shapes, counts, error, fix."""
        node = self.node_id
        shown = bool(node)
        self.placeholder.setVisible(not shown)
        for w in (self.header, self.description, self.info_box, self.params_title,
                  self.form_host):
            w.setVisible(shown)
        if not shown:
            self.status_label.hide()
            self.fix_button.hide()
            self.import_button.hide()
            return
        spec = self.model.spec(node)
        name = self.model.name(node)
        color = _category_hex(spec.category)
        self.header.setText(
            f"<span style='background:{color}; color:white; border-radius:3px;'>&nbsp;"
            f"{spec.category}&nbsp;</span>&nbsp; <b style='font-size:13pt'>{spec.type}</b>"
            f" &nbsp;<span style='color:{MUTED_COLOR}'>{name}</span>")
        self.description.setText(spec.description + (f"<br><i>{spec.doc}</i>" if spec.doc
                                                     else ""))
        if not self.name_edit.hasFocus():
            self.name_edit.setText(name)
        self.type_label.setText(spec.type)
        self.params_title.setVisible(bool(spec.params))
        self.import_button.setVisible(spec.type in ("Dataset", "Regression"))
        state = self.model.state(node)
        row = next((r for r in summary(self.model).rows if r.node == node), None)
        ins = row.input_shapes if row else {}
        in_lines = []
        for port in self.model.input_ports(node):  # a block's or group's own ports
            edge = self.model.edge_into(node, port.name)
            src = f" ← {self.model.name(edge.src)}.{edge.src_port}" if edge else " (not wired)"
            in_lines.append(f"{port.name}: {ins.get(port.name, '?')}{src}")
        self.inputs_label.setText("\n".join(in_lines) or "—")
        if state.ok:
            outs = [f"{p}: {format_shape(s)}" for p, s in state.outputs.items()
                    if s is not None]  # a port unused with these params (Chunk's out3)
            self.outputs_label.setText("\n".join(outs) or "—")
        else:
            self.outputs_label.setText("? (fix the error below)" if state.status == "error"
                                       else "? (waiting for an upstream node)")
        if row is not None and state.ok:
            self.params_label.setText(f"{row.params:,}" + (f"   = {row.params_formula}"
                                                          if row.params and row.params_formula
                                                          else ""))
            self.macs_label.setText(f"{row.macs:,}" + (f"   = {row.macs_formula}"
                                                      if row.macs and row.macs_formula else ""))
        else:
            self.params_label.setText("?")
            self.macs_label.setText("?")
        if state.status in ("error", "blocked"):
            color = ERROR_COLOR if state.status == "error" else BLOCKED_COLOR
            self.status_label.setStyleSheet(
                f"color: {color}; border: 1px solid {color}; border-radius: 4px; "
                f"padding: 6px;")
            self.status_label.setText(state.message)
            self.status_label.show()
        else:
            self.status_label.clear()
            self.status_label.hide()
        self._fix = state.fix if state.status == "error" else None
        if self._fix is not None:
            param, value = self._fix
            self.fix_button.setText(f"Set {param}={value}")
            self.fix_button.show()
        else:
            self.fix_button.hide()

    def _absolute(self, path: str) -> str:
        """A typed relative path, taken from the project's folder (the working folder for
        an unsaved project), as a loaded project holds it."""
        text = path.strip()
        if not text or os.path.isabs(os.path.expanduser(text)):
            return path
        return os.path.abspath(os.path.join(self._start_dir() or os.getcwd(), text))

    def _start_dir(self) -> str:
        """The open project's folder, where a file chooser starts ("" if unsaved)."""
        path = getattr(getattr(self.window(), "project", None), "path", None)
        return str(path.parent) if path is not None else ""

    # -- handlers ---------------------------------------------------------------------

    def _on_import_clicked(self) -> None:
        from .dataset_dialog import DatasetDialog

        self.dataset_dialog = DatasetDialog(self.model, self.undo_stack, self.node_id,
                                            self._start_dir(), self)
        self.dataset_dialog.open()

    def _on_fix_clicked(self) -> None:
        if self._fix is not None:
            self.apply_param(*self._fix)

    def _on_name_edited(self) -> None:
        if not self.node_id:
            return
        text = self.name_edit.text().strip()
        old = self.model.name(self.node_id)
        if not text:
            self.param_error_label.setText("A node name cannot be empty.")
            self.param_error_label.show()
            self.name_edit.setText(old)
            return
        if text != old:
            self.undo_stack.push(RenameNodeCommand(self.model, self.node_id, text))

    def _on_param_changed(self, node_id: str, name: str, value: Any) -> None:
        if node_id == self.node_id and name in self._editors:
            set_editor_value(self._editors[name], value)
            self.param_error_label.clear()
            self.param_error_label.hide()
            self._show_applicable()

    def _on_node_renamed(self, node_id: str, name: str) -> None:
        if node_id == self.node_id:
            self.name_edit.setText(name)

    def _on_node_removed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self.set_node("")

    def _on_states_changed(self) -> None:
        if self.node_id and self.node_id not in self.model:
            self.set_node("")
        else:
            self._refresh()

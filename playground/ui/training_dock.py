"""The Training settings dock: every training setting the project file has, editable, with
undo.

Fields (the project's ``training`` object, :class:`~playground.project.Training`):
optimizer, learning rate, momentum, Nesterov, weight decay, the learning-rate schedule (none, StepLR
with its step size and gamma, or cosine annealing over the run), batch size, steps per run,
seed, held-out evaluation interval and gradient clipping (off, or a max norm).

An edit is one :class:`SetTrainingCommand` on the window's undo stack (Ctrl+Z takes it
back; consecutive edits of one field merge into one command), marks the document modified,
and reaches a running session at once:

- optimizer, learning rate, momentum, Nesterov, weight decay: the optimizers are rebuilt
  with the new setting (the learning rate alone keeps their moments);
- the schedule: remade at the current step, from the base learning rate;
- clipping and the evaluation interval: from the next step;
- batch size and seed: at the next Reset (they decide the batches and the initial weights,
  so changing them mid-run would not be the run the settings describe);
- steps per run: where Train stops next (the pace controls).

The toolbar's optimizer and learning-rate controls edit the same settings through the same
commands, and both show the same values.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QLabel, QSpinBox, QWidget)

from playground.graph.nodes.regression import has_data_source
from playground.project.format import (LR_SCHEDULES, OPTIMIZERS, ProjectError,
                                       check_training_value)

from .inspector import LogSpinBox

__all__ = ["SetTrainingCommand", "TrainingPanel", "install_training_dock", "AT_RESET"]

#: Settings that take effect at the next Reset rather than at once.
AT_RESET = ("batch_size", "seed")
#: Settings that rebuild the optimizers.
OPTIMIZER_KEYS = ("optimizer", "momentum", "nesterov", "weight_decay")
#: Settings that remake the learning-rate schedule (at the current step).
SCHEDULE_KEYS = ("lr_schedule", "step_size", "gamma")

_LABELS = {"optimizer": "optimizer", "lr": "learning rate", "momentum": "momentum",
           "nesterov": "Nesterov momentum", "weight_decay": "weight decay",
           "batch_size": "batch size", "steps": "steps per run", "seed": "seed",
           "eval_every": "held-out every", "clip_grad_norm": "gradient clipping",
           "lr_schedule": "LR schedule", "step_size": "StepLR every", "gamma": "StepLR gamma"}


class SetTrainingCommand(QUndoCommand):
    """Set training setting ``key`` from ``old`` to ``new`` (through ``panel.apply``).
    Consecutive commands on one key merge, so dragging a spin box is one undo step."""

    _ID = 0x7261  # merge id for training settings

    def __init__(self, panel: "TrainingPanel", key: str, old: Any, new: Any):
        super().__init__(f"Set {_LABELS.get(key, key)} to {new}")
        self.panel, self.key, self.old, self.new = panel, key, old, new

    def id(self) -> int:  # noqa: A003 - Qt's name
        return self._ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, SetTrainingCommand) or other.key != self.key:
            return False
        self.new = other.new
        self.setText(other.text())
        return True

    def redo(self) -> None:
        self.panel.apply(self.key, self.new)

    def undo(self) -> None:
        self.panel.apply(self.key, self.old)


class TrainingPanel(QWidget):
    """The form of the Training settings dock for ``window`` (a MainWindow).

    Attributes:
        editors: ``{setting: widget}``.
        message: the last refused value's explanation, or "".
    """

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.message = ""
        self._applying = False
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        e: dict[str, QWidget] = {}
        e["optimizer"] = QComboBox(self)
        e["optimizer"].addItems(list(OPTIMIZERS))
        e["lr"] = LogSpinBox(self)
        e["lr"].setDecimals(5)
        e["lr"].setRange(1e-5, 10.0)
        e["momentum"] = self._float(0.0, 0.999, 0.05, 3)
        e["nesterov"] = QCheckBox("look ahead (SGD)", self)
        e["weight_decay"] = self._float(0.0, 1.0, 1e-4, 5)
        e["lr_schedule"] = QComboBox(self)
        e["lr_schedule"].addItems(list(LR_SCHEDULES))
        e["step_size"] = self._int(1, 10_000_000)
        e["gamma"] = self._float(0.001, 1.0, 0.05, 3)
        e["batch_size"] = self._int(1, 100_000)
        e["steps"] = self._int(1, 10_000_000)
        e["seed"] = self._int(0, 2**31 - 1)
        e["eval_every"] = self._int(0, 10_000_000)
        e["eval_every"].setSpecialValueText("auto")
        clip = QWidget(self)
        row = QHBoxLayout(clip)
        row.setContentsMargins(0, 0, 0, 0)
        self.clip_check = QCheckBox("max norm", clip)
        self.clip_spin = self._float(0.001, 1e6, 0.5, 3)
        self.clip_spin.setValue(1.0)
        row.addWidget(self.clip_check)
        row.addWidget(self.clip_spin, 1)
        e["clip_grad_norm"] = clip
        tips = {
            "optimizer": "The update rule (rebuilds the optimizer: its moments restart)",
            "lr": "Step size of every update; applies at once",
            "momentum": "SGD and RMSprop: the fraction of the last update kept, in [0, 1)",
            "nesterov": "SGD: evaluate the gradient at the look-ahead point (needs momentum)",
            "weight_decay": "L2 penalty added to the gradient (AdamW: decoupled decay)",
            "lr_schedule": "none: a constant learning rate; StepLR: × gamma every step_size "
                           "steps; CosineAnnealingLR: down to 0 over the run's steps",
            "step_size": "StepLR: training steps between decays",
            "gamma": "StepLR: the factor of each decay",
            "batch_size": "Examples per step; applies at the next Reset",
            "steps": "Where Train stops (Run Until Stopped ignores it)",
            "seed": "Seeds the initial weights and the batch order; applies at the next Reset",
            "eval_every": "Steps between held-out evaluations; auto keeps them under 10% of "
                          "the training time",
            "clip_grad_norm": "Scale every gradient so that their total L2 norm is at most "
                              "this (torch.nn.utils.clip_grad_norm_); off when unchecked",
        }
        for key, widget in e.items():
            label = _LABELS[key] + (" (at Reset)" if key in AT_RESET else "")
            widget.setToolTip(tips[key])
            form.addRow(label, widget)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #e8575a")
        form.addRow(self.status)
        self.editors = e
        e["optimizer"].currentTextChanged.connect(lambda v: self.edit("optimizer", v))
        e["lr"].valueChanged.connect(lambda v: self.edit("lr", float(v)))
        e["momentum"].valueChanged.connect(lambda v: self.edit("momentum", float(v)))
        e["nesterov"].toggled.connect(lambda v: self.edit("nesterov", bool(v)))
        e["weight_decay"].valueChanged.connect(lambda v: self.edit("weight_decay", float(v)))
        e["lr_schedule"].currentTextChanged.connect(lambda v: self.edit("lr_schedule", v))
        e["gamma"].valueChanged.connect(lambda v: self.edit("gamma", float(v)))
        for key in ("step_size", "batch_size", "steps", "seed", "eval_every"):
            e[key].valueChanged.connect(lambda v, key=key: self.edit(key, int(v)))
        self.clip_check.toggled.connect(self._on_clip)
        self.clip_spin.valueChanged.connect(self._on_clip)
        self.refresh()

    def _float(self, lo, hi, step, decimals) -> QDoubleSpinBox:
        box = QDoubleSpinBox(self)
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setDecimals(decimals)
        box.setKeyboardTracking(False)
        return box

    def _int(self, lo, hi) -> QSpinBox:
        box = QSpinBox(self)
        box.setRange(lo, hi)
        box.setKeyboardTracking(False)
        return box

    def _on_clip(self, *_):
        self.clip_spin.setEnabled(self.clip_check.isChecked())
        self.edit("clip_grad_norm",
                  float(self.clip_spin.value()) if self.clip_check.isChecked() else None)

    # ------------------------------------------------------------------------ values

    def refresh(self) -> None:
        """Show the document's settings (a project opened, an undo)."""
        t = self.window.project.training
        self._applying = True
        try:
            e = self.editors
            e["optimizer"].setCurrentText(t.optimizer)
            e["lr"].setValue(t.lr)
            e["momentum"].setValue(t.momentum)
            e["nesterov"].setChecked(t.nesterov)
            e["weight_decay"].setValue(t.weight_decay)
            e["lr_schedule"].setCurrentText(t.lr_schedule)
            e["gamma"].setValue(t.gamma)
            e["step_size"].setEnabled(t.lr_schedule == "StepLR")
            e["gamma"].setEnabled(t.lr_schedule == "StepLR")
            for key in ("step_size", "batch_size", "steps", "seed", "eval_every"):
                e[key].setValue(getattr(t, key))
            clip = getattr(t, "clip_grad_norm", None)
            self.clip_check.setChecked(clip is not None)
            if clip is not None:
                self.clip_spin.setValue(clip)
            self.clip_spin.setEnabled(clip is not None)
        finally:
            self._applying = False

    def edit(self, key: str, value: Any) -> bool:
        """A user's edit: validated like the project file, then pushed as an undoable
        command. A refused value is explained in the panel and the field shows the old
        value again. Returns whether it was taken."""
        if self._applying:
            return False
        old = getattr(self.window.project.training, key)
        if value == old:
            return False
        try:
            value = check_training_value(key, value)
        except ProjectError as exc:
            self.message = exc.message
            self.status.setText(exc.message)
            self.refresh()
            return False
        self.message = ""
        self.status.setText("")
        self.window.undo_stack.push(SetTrainingCommand(self, key, old, value))
        return True

    def apply(self, key: str, value: Any) -> None:
        """Set ``key`` in the document and in the running session (see the module doc)."""
        w = self.window
        setattr(w.project.training, key, value)
        self.refresh()
        w._set_training_controls(w.project.training, refresh_panel=False)
        if key == "steps":
            w.pace.set_run_length(value)
        elif key == "batch_size" and has_data_source(w.model):  # red where it won't fit
            w.model.set_batch_size(value)
        def push(session, key=key, value=value):
            if key == "lr":
                session.set_lr(value)
                return
            setattr(session.training, key, value)
            if key in OPTIMIZER_KEYS:
                session.recipe.make_optimizers()
            elif key in SCHEDULE_KEYS or (key == "steps" and
                                          session.training.lr_schedule == "CosineAnnealingLR"):
                session.recipe.make_schedules()

        if w.worker is not None:
            w.worker.call(push)
        elif w.session is not None:
            push(w.session)
        if key in AT_RESET and (w.worker is not None or w.session is not None):
            w.show_message(f"{_LABELS[key].capitalize()} {value}: applies at the next Reset")


def install_training_dock(window) -> TrainingPanel:
    """Add the Training settings dock (tabbed with the inspector) and its View menu entry."""
    panel = TrainingPanel(window)
    dock = QDockWidget("Training settings", window)
    dock.setObjectName("training_settings_dock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.inspector_dock, dock)
    window.inspector_dock.raise_()
    panel.dock = dock
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and menu.title().replace("&", "") == "View":
            menu.addAction(dock.toggleViewAction())
            break
    return panel

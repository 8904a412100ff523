"""Training pace: where a run stops, how fast it goes, and how far along it is.

- **Runs stop at the project's ``training.steps``.** Train runs to the next multiple of the
  project's steps and stops there ("step 500 / 500"); pressing Train again trains another
  ``steps`` steps (to 1000), and a run paused half-way goes on to the same target.
- **Run Until Stopped** (Train menu and toolbar, checkable) trains past every target until
  Pause; switching it off while training stops at the next multiple.
- **Speed** (toolbar combobox, Train ▸ Speed): at most 100, 30, 10, 3 or 1 steps per second,
  or as fast as it goes, so that a student can watch each step change the views.

The worker enforces both (:meth:`TrainingWorker.set_run_length`,
:meth:`TrainingWorker.set_max_rate`); the controls only send it commands. The status bar
shows the step against the run's target and a progress bar.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QProgressBar

from playground.graph.nodes.regression import has_data_source

#: The speed choices: (label, steps per second or None for no cap).
SPEEDS = (("Max speed", None), ("100 steps/s", 100.0), ("30 steps/s", 30.0),
          ("10 steps/s", 10.0), ("3 steps/s", 3.0), ("1 step/s", 1.0))


def shown_target(step: int, run_length: int) -> int:
    """The target the status bar shows at ``step``: the smallest multiple of
    ``run_length`` that is at least ``step`` (``run_length`` at step 0), so a finished run
    reads "500 / 500" until Train goes on to the next."""
    return max(1, -(-step // run_length)) * run_length


class PaceControls:
    """The pace actions and widgets of ``window`` (a MainWindow).

    Attributes:
        until_stopped_action: checkable "Run Until Stopped".
        speed_combo: the speed combobox; speed_actions: the Train ▸ Speed choices.
        progress: the status bar's QProgressBar.
        run_length: the project's ``training.steps``.
    """

    def __init__(self, window):
        self.window = window
        self.run_length = 1000
        self.until_stopped_action = window.make_action(
            "Run Until Stopped", lambda: self._on_until_stopped(),
            tip=("Train past the project's steps until Pause (otherwise Train stops at "
                 "them, and Train again trains as many more)"))
        self.until_stopped_action.setCheckable(True)
        self.until_stopped_action.setIconText("Until Stopped")  # (the toolbar's, shorter)
        self.speed_group = QActionGroup(window)
        self.speed_actions: list[QAction] = []
        for i, (label, _) in enumerate(SPEEDS):
            action = QAction(label, window, checkable=True)
            action.setStatusTip(f"Train at {label.lower()}")
            action.triggered.connect(lambda _=False, i=i: self.set_speed(i))
            self.speed_group.addAction(action)
            self.speed_actions.append(action)
        self.speed_actions[0].setChecked(True)
        self.speed_combo = QComboBox(window)
        self.speed_combo.addItems([label for label, _ in SPEEDS])
        self.speed_combo.setToolTip("Training speed: slow it down to watch each step")
        self.speed_combo.currentIndexChanged.connect(self.set_speed)
        self.progress = QProgressBar(window)
        self.progress.setMaximumWidth(110)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.setToolTip("Progress to the run's target step (the project's steps)")

    # -- placement --------------------------------------------------------------------

    def add_to(self, toolbar, train_menu) -> None:
        """Put the controls in ``toolbar`` (after the training actions) and ``train_menu``."""
        toolbar.addSeparator()
        toolbar.addWidget(self.speed_combo)  # ("Max speed", "10 steps/s": it needs no label)
        toolbar.addAction(self.until_stopped_action)
        train_menu.addSeparator()
        train_menu.addAction(self.until_stopped_action)
        speed_menu = train_menu.addMenu("Spee&d")
        for action in self.speed_actions:
            speed_menu.addAction(action)

    # -- state ------------------------------------------------------------------------

    @property
    def until_stopped(self) -> bool:
        return self.until_stopped_action.isChecked()

    @property
    def max_rate(self) -> float | None:
        return SPEEDS[self.speed_combo.currentIndex()][1]

    def worker_run_length(self) -> int | None:
        """The worker's run length: the project's steps, or None until stopped."""
        return None if self.until_stopped else self.run_length

    def set_run_length(self, steps: int) -> None:
        """A new document's ``training.steps``."""
        self.run_length = max(1, int(steps))
        worker = self.window.worker
        if worker is not None:
            worker.set_run_length(self.worker_run_length())

    def set_speed(self, index: int) -> None:
        """Choose ``SPEEDS[index]``; reaches a running worker at once."""
        if self.speed_combo.currentIndex() != index:
            self.speed_combo.setCurrentIndex(index)  # (calls back here once)
            return
        self.speed_actions[index].setChecked(True)
        worker = self.window.worker
        if worker is not None:
            worker.set_max_rate(self.max_rate)

    def set_until_stopped(self, on: bool) -> None:
        self.until_stopped_action.setChecked(on)
        self._on_until_stopped()

    def _on_until_stopped(self) -> None:
        worker = self.window.worker
        if worker is not None:
            worker.set_run_length(self.worker_run_length())

    # -- status bar -------------------------------------------------------------------

    def _has_target(self) -> bool:
        """Runs have a target: not until stopped, and a graph that trains (an architecture
        to inspect has no Dataset node and never trains)."""
        model = self.window.model
        return not self.until_stopped and has_data_source(model)

    def step_text(self, step: int) -> str:
        """"step 340 / 500", or "step 1,234" while running until stopped."""
        if not self._has_target():
            return f"step {step:,}"
        return f"step {step:,} / {shown_target(step, self.run_length):,}"

    def show_progress(self, step: int) -> None:
        if not self._has_target():
            self.progress.hide()
            return
        target = shown_target(step, self.run_length)
        self.progress.setRange(0, self.run_length)
        self.progress.setValue(step - (target - self.run_length))
        self.progress.show()


__all__ = ["PaceControls", "SPEEDS", "shown_target"]

"""Train ▸ Compare Runs…: run settings of the open project side by side.

The dialog lists runs, one per row: a label and a setting. A setting is ``key=value``
pairs separated by commas, e.g. ``training.optimizer=SGD, training.lr=0.1`` or
``node.drop.p=0.5`` (see :mod:`playground.session.compare`). A node id may be a glob:
``node.tanh_small*.init=xavier_normal`` sets the init of every node whose id matches and
that has an init. Values are read as JSON where they parse (numbers, ``true``/``false``,
``null``), else as text.

Run trains every row from the same initial weights (the ones the project's seed
initialises), on a background thread; a progress bar shows run and step, and Stop ends
it after the current step. Then it shows the runs' curves overlaid (train loss, and the
held-out metric) and the run table (setting, final loss, held-out metric), which exports
to CSV. A race (a project with a TestFunction loss, e.g. optimizers_race) starts with the six
optimizers of :data:`playground.session.race.RACE` and also draws every run's path on the
contour plot (:func:`playground.session.race.race`).
"""

from __future__ import annotations

import csv
import json
import math
import threading
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QProgressBar, QPushButton, QSpinBox,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from playground.project import Project, ProjectError
from playground.session import SessionError
from playground.session.compare import (MAX_RUNS, CompareCancelled, RunConfig, RunResult,
                                        compare, held_out_metric, run_table)
from playground.session.race import race, race_configs, test_function_node

from .plots import CLASS_COLORS, DARK_PLOT, _style_plot, decimate, moving_average
from .views.contour import ContourPlot

__all__ = ["CompareDialog", "parse_setting", "format_setting", "default_runs",
           "install_compare"]

#: Progress and results are read on this timer (ms), never signalled per step.
POLL_MS = 50


class SettingError(ValueError):
    """A setting the dialog cannot read; the message names the pair at fault."""


def parse_setting(text: str) -> dict[str, Any]:
    """``"training.lr=0.1, training.optimizer=SGD"`` -> ``{"training.lr": 0.1,
    "training.optimizer": "SGD"}``. Values are JSON where they parse, else text; an empty
    text is no override.

    Raises:
        SettingError: a pair without ``=`` or without a key (names the pair).
    """
    out: dict[str, Any] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        key, sep, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise SettingError(f"{pair!r} is not key=value (e.g. training.lr=0.1)")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out[key] = value
    return out


def format_setting(overrides: dict[str, Any]) -> str:
    """The inverse of :func:`parse_setting` (for showing a run's setting in its row)."""
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                     for k, v in overrides.items())


def default_runs(project: Project) -> list[RunConfig]:
    """The rows a new comparison starts with: the project as saved, and one alternative
    optimizer (Adam when the project uses SGD, else SGD with momentum), so that Run
    compares something at once. A race project starts with the race's six optimizers."""
    if test_function_node(project.graph) is not None:
        return race_configs()
    t = project.training
    if t.optimizer == "SGD":
        other = RunConfig("Adam lr=0.01", {"training.optimizer": "Adam", "training.lr": 0.01})
    else:
        other = RunConfig("SGD momentum=0.9", {"training.optimizer": "SGD",
                                               "training.lr": 0.05, "training.momentum": 0.9})
    return [RunConfig(f"as saved ({t.optimizer} lr={t.lr:g})"), other]


class CompareDialog(QDialog):
    """The Compare Runs dialog for ``project`` (a copy of the open document; weights not
    used: every run starts from the weights its seed initialises).

    Attributes:
        intro: the help text above the runs (how a setting is written).
        runs_table: the runs to train (label, setting).
        results: the finished :class:`RunResult`s, or [] before a run.
        result_table: the run table of the last comparison.
    """

    def __init__(self, project: Project, parent=None, colors: dict = DARK_PLOT):
        super().__init__(parent)
        self.setWindowTitle(f"Compare runs: {project.name}")
        self.project = project
        self.colors = colors
        self.results: list[RunResult] = []
        self._thread: threading.Thread | None = None
        self._cancel = False
        self._progress = (0, 0, 1, 1)
        self._outcome: tuple[str, Any] | None = None
        self._build()
        for config in default_runs(project):
            self._add_row(config.label, format_setting(dict(config.overrides)))
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    # ------------------------------------------------------------------------ layout

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        intro = QLabel("Each row is one run: a label and a setting, <i>key=value</i> pairs "
                       "such as <code>training.lr=0.1, training.optimizer=SGD</code> or "
                       "<code>node.fc1.out_features=16</code>. A node id may be a glob "
                       "(<code>*</code>, <code>?</code>, <code>[...]</code>): "
                       "<code>node.tanh_small*.init=xavier_normal</code> sets every "
                       "matching node that has an init. Every run starts from the "
                       "same initial weights and sees the same batches.", self)
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.intro = intro
        self.runs_table = QTableWidget(0, 2, self)
        self.runs_table.setHorizontalHeaderLabels(["Run", "Setting"])
        self.runs_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.runs_table.horizontalHeader().resizeSection(0, 180)
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.setMaximumHeight(150)
        lay.addWidget(self.runs_table)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add Run", self)
        self.add_button.clicked.connect(lambda: self._add_row(f"run {self.runs_table.rowCount() + 1}", ""))
        self.remove_button = QPushButton("Remove Run", self)
        self.remove_button.clicked.connect(self._remove_row)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        row.addWidget(QLabel("Steps per run", self))
        self.steps_spin = QSpinBox(self)
        self.steps_spin.setRange(1, 1_000_000)
        self.steps_spin.setValue(self.project.training.steps)
        row.addWidget(self.steps_spin)
        self.run_button = QPushButton("Run", self)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        lay.addLayout(row)
        status = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        status.addWidget(self.progress, 1)
        status.addWidget(self.status, 3)
        lay.addLayout(status)

        split = QSplitter(Qt.Orientation.Vertical, self)
        plots = QWidget(split)
        plot_lay = QHBoxLayout(plots)
        plot_lay.setContentsMargins(0, 0, 0, 0)
        bg = self.colors["background"]
        self.loss_widget = pg.PlotWidget(plots, background=bg)
        self.held_widget = pg.PlotWidget(plots, background=bg)
        plot_lay.addWidget(self.loss_widget, 1)
        plot_lay.addWidget(self.held_widget, 1)
        #: the runs' paths on the landscape, for a race (hidden otherwise)
        self.contour = ContourPlot(self.colors, plots)
        self.contour.setVisible(test_function_node(self.project.graph) is not None)
        plot_lay.addWidget(self.contour, 2)
        self.loss_plot = self.loss_widget.getPlotItem()
        self.held_plot = self.held_widget.getPlotItem()
        self.held_plot.setXLink(self.loss_plot)
        _style_plot(self.loss_plot, "Train loss (moving average)", self.colors)
        _style_plot(self.held_plot, "Held-out", self.colors)
        # loss falls (legend top right), accuracy rises (bottom right)
        for plot, offset in ((self.loss_plot, (-6, 6)), (self.held_plot, (-6, -6))):
            plot.addLegend(offset=offset, labelTextSize="8pt", verSpacing=-6)
        split.addWidget(plots)
        table_box = QWidget(split)
        table_lay = QVBoxLayout(table_box)
        table_lay.setContentsMargins(0, 0, 0, 0)
        self.result_table = QTableWidget(0, 6, table_box)
        self.result_table.verticalHeader().setVisible(False)
        self.result_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.result_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table_lay.addWidget(self.result_table)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.csv_button = QPushButton("Export CSV…", table_box)
        self.csv_button.setEnabled(False)
        self.csv_button.clicked.connect(self._on_export_csv)
        close = QPushButton("Close", table_box)
        close.clicked.connect(self.close)
        buttons.addWidget(self.csv_button)
        buttons.addWidget(close)
        table_lay.addLayout(buttons)
        split.addWidget(table_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        self.resize(1000, 720)

    def _add_row(self, label: str, setting: str) -> None:
        if self.runs_table.rowCount() >= MAX_RUNS:
            self.status.setText(f"At most {MAX_RUNS} runs in one comparison.")
            return
        r = self.runs_table.rowCount()
        self.runs_table.insertRow(r)
        self.runs_table.setItem(r, 0, QTableWidgetItem(label))
        self.runs_table.setItem(r, 1, QTableWidgetItem(setting))

    def _remove_row(self) -> None:
        rows = sorted({i.row() for i in self.runs_table.selectedIndexes()}, reverse=True)
        if not rows and self.runs_table.rowCount():
            rows = [self.runs_table.rowCount() - 1]
        for r in rows:
            self.runs_table.removeRow(r)

    # -------------------------------------------------------------------------- runs

    def configs(self) -> list[RunConfig]:
        """The rows as run configs.

        Raises:
            SettingError: a row's setting cannot be read, or has no label (names the row).
        """
        out = []
        for r in range(self.runs_table.rowCount()):
            label = (self.runs_table.item(r, 0) or QTableWidgetItem("")).text().strip()
            text = (self.runs_table.item(r, 1) or QTableWidgetItem("")).text()
            if not label:
                raise SettingError(f"row {r + 1} has no label: name the run")
            try:
                out.append(RunConfig(label, parse_setting(text)))
            except SettingError as exc:
                raise SettingError(f"row {r + 1} ({label}): {exc}") from None
        return out

    def start(self) -> None:
        """Validate the rows and train them on a background thread (nothing happens, and
        the status line says why, when a row is refused)."""
        if self._thread is not None:
            return
        try:
            configs = self.configs()
        except SettingError as exc:
            self._error(str(exc))
            return
        if not configs:
            self._error("Add a run first.")
            return
        steps = self.steps_spin.value()
        self._cancel = False
        self._outcome = None
        self._progress = (0, 0, steps, len(configs))
        self._set_running(True)
        self.status.setText("Training…")
        self.status.setStyleSheet("")

        def progress(run, step, total, n_runs):
            self._progress = (run, step, total, n_runs)
            return self._cancel

        run = race if test_function_node(self.project.graph) is not None else compare

        def work():
            try:
                self._outcome = ("done", run(self.project, configs, steps, progress))
            except CompareCancelled as exc:
                self._outcome = ("stopped", exc.results)
            except (ProjectError, SessionError, ValueError) as exc:
                self._outcome = ("error", str(exc))
            except Exception as exc:  # noqa: BLE001 - shown, never raised into the loop
                self._outcome = ("error", f"{type(exc).__name__}: {exc}")

        self._thread = threading.Thread(target=work, name="compare-runs", daemon=True)
        self._thread.start()
        self._timer.start()

    def stop(self) -> None:
        """Stop after the current step; the finished runs are still shown."""
        self._cancel = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the comparison ends (for scripts and tests); True if it ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        self._poll()
        return self._thread is None

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.add_button.setEnabled(not running)
        self.remove_button.setEnabled(not running)
        self.runs_table.setEnabled(not running)

    def _error(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("color: #e8575a")

    def _poll(self) -> None:
        run, step, total, n_runs = self._progress
        done = run * total + step
        self.progress.setValue(int(1000 * done / max(1, total * n_runs)))
        if self._thread is None:
            return
        if self._thread.is_alive():
            self.status.setText(f"Run {run + 1} of {n_runs}: step {step} / {total}")
            return
        self._thread = None
        self._timer.stop()
        self._set_running(False)
        kind, value = self._outcome or ("error", "the comparison ended without a result")
        if kind == "error":
            self._error(value)
            return
        self.show_results(value)
        if kind == "stopped":
            self.status.setText(f"Stopped: {len(value)} run(s) finished.")
        else:
            self.progress.setValue(1000)
            self.status.setText(self._verdict(value))

    @staticmethod
    def _verdict(results: list[RunResult]) -> str:
        scored = [(r, held_out_metric(r.final)) for r in results]
        scored = [(r, h) for r, h in scored if h is not None]
        if not scored:
            return f"{len(results)} runs finished."
        name = scored[0][1][0]
        lower_is_better = name != "val_accuracy"
        best = (min if lower_is_better else max)(scored, key=lambda rh: rh[1][1])
        return f"{len(results)} runs finished; best {name}: {best[0].config.label} " \
               f"({best[1][1]:.4g})."

    # ----------------------------------------------------------------------- results

    def show_results(self, results: list[RunResult]) -> None:
        """Draw ``results``' curves overlaid and fill the run table."""
        self.results = list(results)
        for plot in (self.loss_plot, self.held_plot):
            plot.clear()
        held_name = next((h[0] for h in (held_out_metric(r.final) for r in results) if h),
                         None)
        _style_plot(self.held_plot, {"val_accuracy": "Held-out accuracy",
                                     "val_perplexity": "Held-out perplexity",
                                     "val_loss": "Held-out loss"}.get(held_name, "Held-out"),
                    self.colors)
        for i, r in enumerate(results):
            pen = pg.mkPen(CLASS_COLORS[i % len(CLASS_COLORS)], width=2)
            if "loss" in r.history:
                steps, values = r.history["loss"]
                x, y = decimate(steps, moving_average(values))
                self.loss_plot.plot(x, y, pen=pen, name=r.config.label)
            if held_name and held_name in r.history:
                steps, values = r.history[held_name]
                self.held_plot.plot(steps, values, pen=pen, name=r.config.label,
                                    symbol="o", symbolSize=4, symbolBrush=pen.color(),
                                    symbolPen=None)
        paths = [(r.config.label, r.extras["path"]) for r in results if "path" in r.extras]
        if paths:
            self.contour.set_function(results[0].extras["function"])
            self.contour.set_paths(paths)
            self.contour.show()
            live = getattr(getattr(self.parent(), "live_views", None), "views", {})
            if "Contour" in live:  # the window's Contour view keeps the race too
                live["Contour"].show_race(results[0].extras["function"], paths)
        header, rows = run_table(results)
        self.result_table.setColumnCount(len(header))
        self.result_table.setHorizontalHeaderLabels(header)
        self.result_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                text = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) \
                    else ("—" if isinstance(value, float) else str(value))
                item = QTableWidgetItem(text)
                if isinstance(value, float):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.result_table.setItem(r, c, item)
        self.result_table.resizeColumnsToContents()
        self.csv_button.setEnabled(bool(rows))

    def export_csv(self, path: str | Path) -> Path:
        """Write the run table to ``path`` as CSV (full precision). Raises OSError."""
        header, rows = run_table(self.results)
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        return path

    def _on_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export run table", "runs.csv",
                                              "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except OSError as exc:
                self._error(f"Could not write {path}: {exc.strerror or exc}")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._cancel = True
        super().closeEvent(event)


def install_compare(window) -> QAction:
    """Add Train ▸ Compare Runs… (Ctrl+Shift+R) to ``window`` (a MainWindow); it opens a
    :class:`CompareDialog` on a copy of the open document."""
    action = QAction("Compare Runs…", window)
    action.setShortcut(QKeySequence("Ctrl+Shift+R"))
    action.setStatusTip("Train several settings of this project from the same initial "
                        "weights and compare their curves")

    def open_dialog():
        from .main_window import plot_colors  # the window's theme (imported late: no cycle)

        dialog = CompareDialog(window.document_project(weights=None), window,
                               plot_colors(window.theme))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.compare_dialog = dialog
        dialog.show()

    action.triggered.connect(open_dialog)
    window.train_menu.addSeparator()
    window.train_menu.addAction(action)
    return action

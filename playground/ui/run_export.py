"""File ▸ Export PyTorch code…, Export run history (CSV)… and Export summary…

* PyTorch code: the folder :func:`playground.export.pytorch_code.export_pytorch` writes
  (model.py, weights.npz, check.py), with the weights the document has now: the running
  session's parameters and BatchNorm statistics when it is up to date with the canvas,
  else the loaded file's.
* Run history: the curves of the newest snapshot (or of the reopened run), one row per
  step and one column per metric (:func:`playground.session.history.history_csv`).
* Summary: the summary table as CSV, or as Markdown for a ``.md`` name.

The window's ``export_tools`` is the :class:`RunExport`; the dialogs only ask for a path
and call its ``export_*`` methods, which tests drive directly.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox

from playground.session.history import history_csv


class RunExport:
    """The three File-menu actions, put before Quit.

    Attributes:
        pytorch_action, history_action, summary_action: the menu actions.
    """

    def __init__(self, window):
        self.window = window
        self.pytorch_action = self._action("Export &PyTorch code…",
                                           "Write model.py, weights.npz and check.py to a "
                                           "folder", self.export_pytorch_dialog)
        self.history_action = self._action("Export run &history (CSV)…",
                                           "Save the training curves, one row per step",
                                           self.export_history_dialog)
        self.summary_action = self._action("Export s&ummary (CSV or Markdown)…",
                                           "Save the summary table", self.export_summary_dialog)
        file_menu = window.menuBar().actions()[0].menu()
        quit_action = getattr(window, "quit_action", None)
        actions = file_menu.actions()
        before = actions[actions.index(quit_action) - 1] if quit_action in actions else None
        if before is not None and before.isSeparator():
            file_menu.insertSeparator(before)
            for action in (self.pytorch_action, self.history_action, self.summary_action):
                file_menu.insertAction(before, action)
        else:
            file_menu.addSeparator()
            file_menu.addActions([self.pytorch_action, self.history_action,
                                  self.summary_action])

    def _action(self, text: str, tip: str, slot) -> QAction:
        action = QAction(text, self.window)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _start(self, name: str) -> str:
        path = self.window.project.path
        folder = path.parent if path is not None and path.parent.is_dir() else Path.cwd()
        return str(folder / name)

    def _fail(self, title: str, message: str) -> None:
        QMessageBox.warning(self.window, title, message)

    # -------------------------------------------------------------------------- history

    def history(self) -> dict:
        """``{metric: (steps, values)}`` of the run shown now (empty before any)."""
        snap = getattr(self.window, "_last_snapshot", None)
        return dict(snap.history) if snap is not None else {}

    def export_history(self, path: str | Path) -> Path:
        """Write the run's curves to ``path`` (``.csv`` added when it has no suffix).

        Raises:
            ValueError: nothing was trained yet.
            OSError: the file cannot be written.
        """
        arrays = self.history()
        if not arrays:
            raise ValueError("there is no run to export yet: train for a few steps first")
        path = Path(path)
        return history_csv(arrays, path if path.suffix else path.with_suffix(".csv"))

    def export_history_dialog(self) -> bool:
        name = f"{self.window.project.name}_history.csv"
        path, _ = QFileDialog.getSaveFileName(self.window, "Export run history",
                                              self._start(name), "CSV (*.csv)")
        if not path:
            return False
        try:
            self.export_history(path)
        except (ValueError, OSError) as exc:
            self._fail("Export run history", str(exc))
            return False
        return True

    # -------------------------------------------------------------------------- summary

    def export_summary(self, path: str | Path) -> Path:
        """The summary table as Markdown (``.md``) or CSV (anything else)."""
        path = Path(path)
        return self.window.summary.export(path if path.suffix else path.with_suffix(".csv"))

    def export_summary_dialog(self) -> bool:
        path, chosen = QFileDialog.getSaveFileName(
            self.window, "Export summary", self._start(f"{self.window.project.name}_summary"),
            "CSV (*.csv);;Markdown (*.md)")
        if not path:
            return False
        if Path(path).suffix == "":
            path += ".md" if "Markdown" in chosen else ".csv"
        try:
            self.export_summary(path)
        except OSError as exc:
            self._fail("Export summary", str(exc))
            return False
        return True

    # -------------------------------------------------------------------------- PyTorch

    def _weights(self):
        """The document's weights: the session's parameters and buffers when it matches
        the canvas (read on the worker's thread while it runs), else the file's."""
        w = self.window

        def state(session):
            out = {}
            for call in session.program.calls:
                if call.module is not None:
                    for key, value in call.module.state_dict().items():
                        out[f"{call.node_id}.{key}"] = value
            return out

        if w.session is not None and not getattr(w, "_session_stale", True):
            if w.worker is not None:
                return w.worker.call(state).result(timeout=60)
            return state(w.session)
        return w.project.weights

    def export_pytorch(self, folder: str | Path) -> Path:
        """Write the PyTorch code of the document into ``folder``.

        Raises:
            ValueError: the graph cannot be exported (the message says why).
            OSError: the folder cannot be written.
        """
        from playground.export.pytorch_code import export_pytorch

        w = self.window
        return export_pytorch(w.document_project(w.project.weights), Path(folder),
                              self._weights())

    def export_pytorch_dialog(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self.window, "Export PyTorch code into",
                                                  self._start(""))
        if not folder:
            return False
        try:
            out = self.export_pytorch(folder)
        except (ValueError, OSError) as exc:
            self._fail("Export PyTorch code", str(exc))
            return False
        self.window.statusBar().showMessage(f"Wrote {out}/model.py, weights.npz and check.py",
                                            8000)
        return True


def install_run_export(window) -> RunExport:
    """Add the actions to ``window``'s File menu; returns them."""
    return RunExport(window)

"""File ▸ Export ONNX… and File ▸ Import ONNX…

Export writes the document's model (see :mod:`playground.export.onnx_export` for what is
exported) with the weights it has now: the running session's parameters and BatchNorm
statistics when it is up to date with the canvas, else the loaded file's weights. A GAN
exports its generator. Import opens the model as a new, unsaved project, as File ▸ Open
does, optionally fed from a dataset with a CrossEntropyLoss so that it trains; a refused
file shows an error box and leaves the open document as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QInputDialog

ONNX_FILTER = "ONNX model (*.onnx);;All files (*)"
NO_DATASET = "(none: keep the model's Input nodes)"


class ExportMenu:
    """The two actions, in the window's File menu before Quit.

    Attributes:
        export_onnx_action, import_onnx_action: the menu actions.
    """

    def __init__(self, window):
        self.window = window
        self.export_onnx_action = QAction("Export &ONNX…", window)
        self.export_onnx_action.setStatusTip("Write the model and its weights to an ONNX file")
        self.export_onnx_action.triggered.connect(self.export_onnx_dialog)
        self.import_onnx_action = QAction("&Import ONNX…", window)
        self.import_onnx_action.setStatusTip("Open an ONNX model as a new project")
        self.import_onnx_action.triggered.connect(self.import_onnx_dialog)
        file_menu = window.menuBar().actions()[0].menu()
        quit_action = getattr(window, "quit_action", None)
        actions = file_menu.actions()
        before = actions[actions.index(quit_action) - 1] if quit_action in actions else None
        if before is not None and before.isSeparator():  # after Save As, before Quit
            file_menu.insertSeparator(before)
            file_menu.insertAction(before, self.export_onnx_action)
            file_menu.insertAction(before, self.import_onnx_action)
        else:
            file_menu.addSeparator()
            file_menu.addAction(self.export_onnx_action)
            file_menu.addAction(self.import_onnx_action)

    # -------------------------------------------------------------------------- export

    def _start_dir(self) -> Path:
        path = self.window.project.path
        return path.parent if path is not None and path.parent.is_dir() else Path.cwd()

    def export_onnx_dialog(self) -> bool:
        start = str(self._start_dir() / f"{self.window.project.name}.onnx")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export ONNX", start, ONNX_FILTER)
        return self.export_onnx(path) if path else False

    def _proto(self):
        """The ONNX model of the document, from the session when it matches the canvas."""
        from playground.export.onnx_export import to_onnx

        w = self.window
        if w.session is not None and not getattr(w, "_session_stale", True):
            if w.worker is not None:  # the worker owns the session: export on its thread
                return w.worker.call(lambda s: to_onnx(s.to_project(), program=s.program)
                                     ).result(timeout=60)
            return to_onnx(w.session.to_project(), program=w.session.program)
        return to_onnx(w.document_project(w.project.weights))

    def export_onnx(self, path: str | Path) -> bool:
        """Write the model to ``path``; an error box says why when it cannot."""
        from playground.export.onnx_export import ExportError, require_onnx

        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(".onnx")
        try:
            onnx = require_onnx()
            proto = self._proto()
            onnx.checker.check_model(proto)
            tmp = path.with_name(f".{path.name}.tmp")  # a failed write keeps the old file
            tmp.write_bytes(proto.SerializeToString())
            os.replace(tmp, path)
        except ExportError as exc:
            self.window.show_error("Cannot export ONNX", str(exc))
            return False
        except OSError as exc:
            self.window.show_error("Cannot export ONNX", f"{path}: cannot write: {exc}")
            return False
        ins = ", ".join(i.name for i in proto.graph.input)
        outs = ", ".join(o.name for o in proto.graph.output)
        self.window.show_message(f"Exported {path} (inputs {ins}; outputs {outs})")
        return True

    # -------------------------------------------------------------------------- import

    def import_onnx_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import ONNX", str(self._start_dir()),
                                              ONNX_FILTER)
        if not path:
            return False
        from playground.data import names

        choices = [NO_DATASET] + names()
        choice, ok = QInputDialog.getItem(
            self.window, "Import ONNX", "Feed the model from a dataset (adds a "
            "CrossEntropyLoss on its output, so it trains):", choices, 0, False)
        if not ok:
            return False
        return self.import_onnx(path, dataset=None if choice == NO_DATASET else choice)

    def import_onnx(self, path: str | Path, dataset: str | None = None) -> bool:
        """Open the ONNX model at ``path`` as a new project, fed from ``dataset`` if given
        (see :func:`playground.export.onnx_import.import_onnx`). A refused file shows an
        error box naming what is wrong and leaves the open document unchanged."""
        from playground.export.onnx_import import OnnxImportError, import_onnx

        w = self.window
        if not w.confirm_discard():
            return False
        try:
            project = import_onnx(path, dataset=dataset)
            w.set_document(project)
        except (OnnxImportError, ValueError) as exc:
            field = getattr(exc, "field", "")
            where = f"\n\nField: {field}" if field else ""
            w.show_error("Cannot import ONNX", f"{getattr(exc, 'message', exc)}{where}")
            w.show_message(f"Could not import {path}")
            return False
        then = f"it trains on {dataset}" if dataset else "wire a Dataset and a loss to train it"
        w.show_message(f"Imported {path}: {len(project.graph['nodes'])} nodes. Save it to "
                       f"keep it; {then}.")
        return True


def install_export_menu(window) -> ExportMenu:
    """Add File ▸ Export ONNX… and File ▸ Import ONNX… to ``window``."""
    return ExportMenu(window)


__all__ = ["ExportMenu", "NO_DATASET", "ONNX_FILTER", "install_export_menu"]

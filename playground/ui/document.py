"""The main window's document: what is open, whether it is saved, and the file actions
(File ▸ New, Open, Save, Save As), as a mixin of :class:`~playground.ui.main_window.MainWindow`.

The window supplies ``model`` (the document GraphModel), ``undo_stack``, ``project`` (the
file-level data), ``worker``/``session``, ``_saved_step``, ``_last_snapshot`` and
``_set_document``; this mixin reads and writes only those. A bad file shows an error box
naming the field and leaves the open document as it was; saving is atomic (the project
format writes temps and renames them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from playground.graph import GraphFormatError
from playground.project import Project, ProjectError, load, save
from playground.project.format import TRAINING_STEP_KEY, presets_dir

__all__ = ["DocumentMixin", "APP_NAME", "PROJECT_FILTER"]

APP_NAME = "DL Playground"
PROJECT_FILTER = "DL Playground projects (*.json);;All files (*)"


class DocumentMixin:
    """File actions and the document's saved state (see the module doc)."""

    def document_project(self, weights=None) -> Project:
        """The document as a Project (its own copy of the graph and settings)."""
        return Project(name=self.project.name, graph=self.model.to_dict(),
                       training=dataclasses.replace(self.project.training),
                       recipe=dict(self.project.recipe), notes=self.project.notes,
                       topic=self.project.topic, result=self.project.result,
                       weights=weights, path=self.project.path)

    def update_title(self) -> None:
        self.setWindowTitle(f"{self.project.name}[*] — {APP_NAME}")
        self.setWindowModified(self.is_dirty())

    def current_step(self) -> int:
        """The steps trained: the last snapshot's, or the opened file's before any."""
        if self._last_snapshot is not None:
            return self._last_snapshot.step
        return self._saved_step

    def is_dirty(self) -> bool:
        """Unsaved edits of the graph (the undo stack is not clean): the title's ``*``.
        Training alone changes only the weights; see :meth:`has_unsaved_weights`."""
        return not self.undo_stack.isClean()

    def has_unsaved_weights(self) -> bool:
        """Trained since the last save, in a document that is the user's own: saved or
        opened from their file, or edited. Training a preset, untouched, is trying it out,
        and closing it loses nothing the preset does not give again."""
        if self.current_step() == self._saved_step:
            return False
        own_file = self.project.path is not None and not self.is_preset(self.project.path)
        return own_file or self.is_dirty()

    def confirm_discard(self) -> bool:
        """Ask before unsaved edits or trained weights are lost (see :meth:`is_dirty` and
        :meth:`has_unsaved_weights`): True to go on. Tests replace this."""
        if not (self.is_dirty() or self.has_unsaved_weights()):
            return True
        what = "changes to" if self.is_dirty() else "trained weights of"
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the {what} '{self.project.name}'?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project()
        return answer == QMessageBox.StandardButton.Discard

    def show_error(self, title: str, text: str) -> None:
        """A modal error box (tests patch ``QMessageBox.critical``)."""
        QMessageBox.critical(self, title, text)

    # ------------------------------------------------------------------ file actions

    def new_project(self) -> bool:
        if not self.confirm_discard():
            return False
        self.set_document(Project())
        self.show_message("New project")
        return True

    def open_project_dialog(self) -> bool:
        start = str(self.project.path.parent) if self.project.path else str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, PROJECT_FILTER)
        return self.open_project(path) if path else False

    def open_project(self, path: str | Path) -> bool:
        """Open a project file or preset. A bad file shows an error box naming the field
        and leaves the current project as it was. Returns whether it opened."""
        if not self.confirm_discard():
            return False
        try:
            project = load(path)
            self.set_document(project)
        except (ProjectError, GraphFormatError) as exc:
            where = f"\n\nField: {exc.field}" if getattr(exc, "field", "") else ""
            self.show_error("Cannot open project", f"{exc.message}{where}")
            self.show_message(f"Could not open {path}: {exc.message}")
            return False
        if project.warnings:  # opened, but not quite as saved: say so, once, plainly
            QMessageBox.warning(self, "Opened with a warning", "\n\n".join(project.warnings))
        self.show_message(f"Opened {project.path or path}")
        return True

    def is_preset(self, path: Path | None) -> bool:
        return path is not None and path.resolve().parent == presets_dir().resolve()

    def save_project(self) -> bool:
        """Save to the project's file; asks for a file for new projects and presets."""
        if self.project.path is None or self.is_preset(self.project.path):
            return self.save_project_as_dialog()
        return self.save_project_as(self.project.path)

    def save_project_as_dialog(self) -> bool:
        start = str(self.project.path
                    if self.project.path and not self.is_preset(self.project.path)
                    else Path.cwd() / f"{self.project.name}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", start, PROJECT_FILTER)
        return self.save_project_as(path) if path else False

    def save_project_as(self, path: str | Path) -> bool:
        """Write the graph, training settings and trained weights (atomically)."""
        path = Path(path)
        try:
            weights = self.current_weights()
        except Exception as exc:  # the worker failed to hand them over
            self.show_error("Cannot save project", f"Could not read the trained weights: {exc}")
            return False
        project = self.document_project(weights)
        if path.with_suffix(".json") != self.project.path:
            project.name = path.stem
        try:
            saved = save(project, path)
        except ProjectError as exc:
            self.show_error("Cannot save project", exc.message)
            return False
        self.project.name = project.name
        self.project.path = saved
        self.project.weights = weights
        self.undo_stack.setClean()
        # the weights' own step: the last snapshot the window drew may be behind them
        self._saved_step = int(weights[TRAINING_STEP_KEY]) \
            if weights is not None and TRAINING_STEP_KEY in weights else self.current_step()
        self.update_title()
        self.show_message(f"Saved {saved}")
        return True

    def current_weights(self) -> dict | None:
        """The trained weights: from the worker, else the session, else the loaded file."""
        if self.worker is not None:
            return self.worker.call(lambda s: s.saved_weights()).result(timeout=30)
        if self.session is not None:
            return self.session.saved_weights()
        return self.project.weights


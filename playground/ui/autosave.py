"""Autosave and recovery: a crash or a ``kill -9`` loses at most 30 seconds of work.

While a window has unsaved edits or trained weights (``MainWindow.is_dirty`` /
``has_unsaved_weights``), it writes the document every :data:`INTERVAL_MS` to the autosave
folder, through the project format's atomic save, as a new generation ``<key>.<n>.json``
and ``<key>.<n>.npz`` (the weights with the run's step count and curves); then it replaces
``<key>.meta.json`` (which generation, where the document came from, when, after how many
steps, by which process) and deletes the generation before. The metadata is the commit
point: a kill at any moment leaves metadata that describes the files it names (its step is
the saved weights' own). Once nothing is unsaved, or the window closes with its work saved
or discarded on purpose, the autosave is deleted.

So an autosave that outlives its process is work a crash lost. :func:`pending` lists them;
``run_gui`` offers to recover each at start-up (:func:`offer_recovery`). A recovered
document opens unsaved (its title shows ``*``), with its original file, if it had one, as
the place Save writes to.

The folder is ``$PLAYGROUND_AUTOSAVE_DIR`` when set (tests), else the user data folder
(``platformdirs.user_data_dir("dl-playground")/autosave``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from playground.project import Project, ProjectError, load, save
from playground.project.format import TRAINING_STEP_KEY

__all__ = ["Autosave", "Recovery", "autosave_dir", "pending", "offer_recovery",
           "INTERVAL_MS", "install_autosave"]

#: Milliseconds between autosaves (``$PLAYGROUND_AUTOSAVE_MS`` overrides it).
INTERVAL_MS = 30_000


def autosave_dir() -> Path:
    """The autosave folder (created on first write, not here)."""
    env = os.environ.get("PLAYGROUND_AUTOSAVE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("dl-playground", appauthor=False)) / "autosave"


def _interval() -> int:
    try:
        return max(100, int(os.environ.get("PLAYGROUND_AUTOSAVE_MS", INTERVAL_MS)))
    except ValueError:
        return INTERVAL_MS


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: leave its autosave alone
    return True


def _remove(folder: Path, key: str) -> None:
    """Delete the autosave ``key`` in ``folder``: its ``.meta.json``, every generation's
    ``.json`` and ``.npz``, and any temp a kill left (a key has no dots, so ``key.*``
    names only its own files)."""
    for path in [*folder.glob(f"{key}.*"), *folder.glob(f".{key}.*")]:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _remove_other_generations(json_path: Path) -> None:
    """Delete every file of ``json_path``'s autosave but its metadata and this generation
    (the one before, and any a failed or killed write left)."""
    key = json_path.name.split(".")[0]
    keep = {json_path.name, json_path.with_suffix(".npz").name, f"{key}.meta.json"}
    for path in json_path.parent.glob(f"{key}.*"):
        if path.name not in keep:
            try:
                path.unlink()
            except FileNotFoundError:
                pass


@dataclass(frozen=True)
class Recovery:
    """An autosave whose process is gone.

    Attributes:
        json_path: the autosaved project file (with its ``.npz`` beside it).
        name: the document's name.
        origin: the file the document came from, or None (new, or a preset).
        saved_at: when it was autosaved (seconds since the epoch).
        step: the steps trained at that moment.
    """

    json_path: Path
    name: str
    origin: Path | None
    saved_at: float
    step: int

    def load(self) -> Project:
        """The autosaved project, its ``path`` set to the original file (or None).

        Raises:
            ProjectError: the autosave cannot be read (names the field)."""
        project = load(self.json_path)
        project.path = self.origin
        return project

    def discard(self) -> None:
        """Delete the autosave's files."""
        _remove(self.json_path.parent, self.json_path.name.split(".")[0])


def pending(directory: Path | None = None) -> list[Recovery]:
    """The autosaves in ``directory`` (default :func:`autosave_dir`) whose process has ended,
    newest first. Unreadable metadata is skipped (and left alone)."""
    folder = autosave_dir() if directory is None else Path(directory)
    out = []
    for meta_path in folder.glob("*.meta.json"):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            pid = int(meta["pid"])
            key = meta_path.name[:-len(".meta.json")]
            file = str(meta.get("file", f"{key}.json"))  # no "file": an older autosave
            if (Path(file).name != file or not file.startswith(f"{key}.")
                    or not file.endswith(".json")):
                continue  # not one of this autosave's own files: left alone
            json_path = folder / file
            origin = Path(meta["origin"]) if meta.get("origin") else None
            rec = Recovery(json_path, str(meta["name"]), origin, float(meta["saved_at"]),
                           int(meta.get("step", 0)))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(pid) and json_path.is_file():
            out.append(rec)
    return sorted(out, key=lambda r: r.saved_at, reverse=True)


class Autosave:
    """Autosaves one MainWindow (see the module doc).

    Args:
        window: the MainWindow.
        interval_ms: milliseconds between autosaves; None = :data:`INTERVAL_MS` or
            ``$PLAYGROUND_AUTOSAVE_MS``.

    Attributes:
        key: the file stem of this window's autosave, from the document's origin.
        last_error: the last failed autosave's message, or "".
    """

    def __init__(self, window, interval_ms: int | None = None):
        self.window = window
        self.last_error = ""
        self._where: tuple[Path, str] | None = None  # (folder, key) of the autosave on disk
        self._generation = 0
        self._writer: threading.Thread | None = None
        self.timer = QTimer(window)
        self.timer.setInterval(_interval() if interval_ms is None else interval_ms)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    @property
    def key(self) -> str:
        project = self.window.project
        origin = str(project.path.resolve()) if project.path else f"untitled:{id(self.window)}"
        digest = hashlib.sha1(f"{os.getpid()}:{origin}".encode()).hexdigest()[:10]
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", project.name)[:40] or "untitled"
        return f"{safe}-{digest}"

    def needed(self) -> bool:
        """Whether the window holds work a crash would lose."""
        return self.window.is_dirty() or self.window.has_unsaved_weights()

    def tick(self) -> None:
        """Autosave now when there is unsaved work, else delete a stale autosave. Never
        raises: a failure is kept in :attr:`last_error` and shown in the status bar."""
        if not self.needed():
            self.discard()
            return
        if self._writer is not None and self._writer.is_alive():
            return  # the last one is still being written
        try:
            weights = self.window.current_weights()
        except Exception as exc:  # noqa: BLE001 - the worker is busy or gone: next time
            self._fail(f"could not read the weights: {exc}")
            return
        project = self.window.document_project(weights)
        origin = self.window.project.path
        if origin is not None and self.window.is_preset(origin):
            origin = None  # a preset is not the user's file: Save asks where to write
        # the weights' own step: the last snapshot the window drew may be behind them
        if weights is not None and TRAINING_STEP_KEY in weights:
            step = int(weights[TRAINING_STEP_KEY])
        else:
            step = self.window.current_step()
        folder = autosave_dir()
        key = self.key
        if self._where is not None and self._where != (folder, key):
            _remove(*self._where)  # the document moved: one autosave
        self._where = (folder, key)
        self._generation += 1
        target = folder / f"{key}.{self._generation}.json"
        meta = {"pid": os.getpid(), "name": project.name, "saved_at": time.time(),
                "origin": str(origin) if origin else None, "step": step,
                "file": target.name}

        def write():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                save(project, target)
                tmp = folder / f".{key}.meta.json.tmp"
                tmp.write_text(json.dumps(meta), encoding="utf-8")
                os.replace(tmp, folder / f"{key}.meta.json")  # the commit point
                _remove_other_generations(target)
                self.last_error = ""
            except (OSError, ProjectError) as exc:
                self.last_error = f"Autosave failed: {exc}"

        self._writer = threading.Thread(target=write, name="autosave", daemon=True)
        self._writer.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the autosave being written (if any) is on disk (tests, quitting)."""
        if self._writer is not None:
            self._writer.join(timeout)

    def _fail(self, message: str) -> None:
        self.last_error = f"Autosave failed: {message}"
        try:
            self.window.show_message(self.last_error)
        except RuntimeError:  # the window is being destroyed
            pass

    def discard(self) -> None:
        """Delete this window's autosave (its work is saved, or thrown away on purpose)."""
        self.wait()
        if self._where is not None:
            _remove(*self._where)
            self._where = None

    def stop(self) -> None:
        """Stop autosaving and delete the autosave (a deliberate close)."""
        self.timer.stop()
        self.discard()


def offer_recovery(window, recoveries: list[Recovery] | None = None) -> bool:
    """Ask whether to recover the newest crashed autosave into ``window``; Yes opens it as
    an unsaved document, No deletes it. Returns whether a document was recovered.
    Older crashed autosaves stay for the next start."""
    found = pending() if recoveries is None else recoveries
    if not found:
        return False
    rec = found[0]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.saved_at))
    where = f" from {rec.origin}" if rec.origin else ""
    answer = QMessageBox.question(
        window, "Recover unsaved work",
        f"DL Playground closed without saving '{rec.name}'{where}: its work was autosaved "
        f"at {when}, after {rec.step} training steps.\n\nRecover it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes)
    if answer != QMessageBox.StandardButton.Yes:
        rec.discard()
        return False
    try:
        project = rec.load()
    except ProjectError as exc:
        window.show_error("Cannot recover", f"The autosave cannot be read: {exc.message}")
        return False
    window.set_document(project)
    window.undo_stack.resetClean()  # unsaved until the user saves it
    window.update_title()
    rec.discard()  # the window's own autosave takes over from here
    window.show_message(f"Recovered '{rec.name}' (autosaved {when})")
    return True


def install_autosave(window) -> Autosave:
    """Start autosaving ``window`` (a MainWindow)."""
    return Autosave(window)

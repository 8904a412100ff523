"""Unexpected exceptions in the app: logged, shown, survived.

An exception that escapes a Qt slot would otherwise print a traceback on a terminal the
student may not have and leave the app in an unknown state. :func:`install` replaces
``sys.excepthook`` (and ``threading.excepthook``) so that such an exception

1. is appended with its traceback to the log file (:func:`log_path`:
   ``$PLAYGROUND_LOG_DIR`` when set, else ``platformdirs.user_log_dir("dl-playground")``,
   file ``playground.log``), together with Qt's own warnings (``qInstallMessageHandler``);
2. is shown in an error box naming the exception and the log file (at most one box at a
   time; further ones while it is open go to the log only);
3. leaves the event loop running, the graph as it was.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

__all__ = ["install", "log_path", "report"]

_showing = False


def log_path() -> Path:
    """The log file (its folder is created on first write)."""
    env = os.environ.get("PLAYGROUND_LOG_DIR")
    if env:
        return Path(env) / "playground.log"
    import platformdirs

    return Path(platformdirs.user_log_dir("dl-playground", appauthor=False)) / "playground.log"


def _write(text: str) -> None:
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{text.rstrip()}\n")
    except OSError:
        pass  # a log that cannot be written must not raise from the hook


def report(exc_type, exc, tb, parent=None) -> None:
    """Log an unexpected exception and show it (see the module doc). Never raises."""
    global _showing
    _write("".join(traceback.format_exception(exc_type, exc, tb)))
    app = QApplication.instance()
    if app is None or _showing:
        return
    if threading.current_thread() is not threading.main_thread():  # show it on the GUI thread
        QTimer.singleShot(0, app, lambda: report(exc_type, exc, None, parent))
        return
    _showing = True
    try:
        QMessageBox.critical(
            parent, "Something went wrong",
            f"An unexpected error: {exc_type.__name__}: {exc}\n\nYour graph is unchanged and "
            f"the app keeps running. The details are in {log_path()} (please attach it to a "
            "bug report).")
    finally:
        _showing = False


def _qt_message(mode, context, message) -> None:
    if "propagateSizeHints" in message:  # the offscreen platform's harmless notice
        return
    _write(f"Qt: {message}")


def install(window=None) -> None:
    """Route unexpected exceptions of the GUI (and of other threads) to :func:`report`."""
    sys.excepthook = lambda t, e, tb: report(t, e, tb, window)
    threading.excepthook = lambda args: report(args.exc_type, args.exc_value,
                                               args.exc_traceback, window)
    qInstallMessageHandler(_qt_message)

"""Fixtures of the UI tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def app_settings(tmp_path_factory):
    """Every UI test gets its own empty settings store (the window restores its layout
    from there and saves it on close): the user's own settings are never read or written,
    and one test's layout never leaks into the next. Yields the directory."""
    from PySide6.QtCore import QSettings

    path = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(path))
    yield path


@pytest.fixture
def make_window(qtbot):
    """``make_window(project="xor_mlp")``: a shown 1400×900 MainWindow on a preset name or
    Project; closing never prompts, and every window's worker is stopped at the end."""
    from playground.ui.main_window import MainWindow

    made = []

    def make(project="xor_mlp") -> MainWindow:
        w = MainWindow(project)
        w.confirm_discard = lambda: True
        qtbot.addWidget(w)
        w.resize(1400, 900)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


@pytest.fixture
def errors(monkeypatch):
    """The error boxes the app shows, as ``[(title, text)]``, instead of showing them."""
    from PySide6.QtWidgets import QMessageBox

    shown = []

    def critical(parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", critical)
    return shown

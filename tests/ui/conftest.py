"""Fixtures of the UI tests."""

from __future__ import annotations

import pytest


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

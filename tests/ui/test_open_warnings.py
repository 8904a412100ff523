"""A project that opens but not as saved (its weights file missing or replaced) says so, in
the CLI and in the app."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QMessageBox  # noqa: E402

from playground.cli import main  # noqa: E402
from playground.project import load, save  # noqa: E402
from playground.session import Session  # noqa: E402


@pytest.fixture
def orphan(tmp_path):
    """A trained project whose weights file was deleted after saving."""
    s = Session(load("xor_mlp"), timeline=False)
    s.train(5)
    path = save(s.to_project(), tmp_path / "mine.json")
    path.with_suffix(".npz").unlink()
    return path


def test_the_cli_warns_and_trains_from_fresh_weights(orphan, capsys):
    assert main(["train", str(orphan), "--steps", "3"]) == 0
    err = capsys.readouterr().err
    assert "warning: mine.npz is missing: the project opens with fresh weights" in err


def test_the_app_shows_the_warning_once(make_window, orphan, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(
        (title, text)))
    w = make_window("xor_mlp")
    assert w.open_project(orphan)
    assert shown == [("Opened with a warning",
                      "mine.npz is missing: the project opens with fresh weights")]
    assert w.project.path == orphan and w.project.weights is None

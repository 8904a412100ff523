"""Autosave and recovery (issue 13): a crash or kill -9 loses at most one autosave interval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QMessageBox  # noqa: E402

from playground.project import load, save  # noqa: E402
from playground.session import Session  # noqa: E402
from playground.ui.autosave import Autosave, offer_recovery, pending  # noqa: E402
from playground.ui.commands import SetParamCommand  # noqa: E402


@pytest.fixture
def folder(tmp_path, monkeypatch):
    d = tmp_path / "autosave"
    monkeypatch.setenv("PLAYGROUND_AUTOSAVE_DIR", str(d))
    return d


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _as_if_crashed(folder):
    """Give every autosave in ``folder`` the pid of a process that has ended."""
    for meta in folder.glob("*.meta.json"):
        data = json.loads(meta.read_text())
        data["pid"] = _dead_pid()
        meta.write_text(json.dumps(data))


def _answer(monkeypatch, button):
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or button)
    return asked


def test_an_edit_is_autosaved_and_recovered_after_a_crash(make_window, folder, monkeypatch):
    w = make_window("xor_mlp")
    saver = Autosave(w, interval_ms=10**7)
    saver.tick()
    assert not folder.exists() or not list(folder.iterdir())  # nothing unsaved: nothing
    w.undo_stack.push(SetParamCommand(w.model, "fc1", "out_features", 12))
    edited = w.model.to_dict()
    saver.tick()
    saver.wait()
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".json"]  # +.meta
    assert pending() == []  # this process still runs: not a crash
    _as_if_crashed(folder)
    [rec] = pending()
    assert rec.name == "xor_mlp" and rec.origin is None and rec.step == 0
    w2 = make_window("spiral_mlp")
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    assert offer_recovery(w2)
    assert "closed without saving 'xor_mlp'" in asked[0]
    assert w2.model.to_dict() == edited and w2.is_dirty()
    assert list(folder.iterdir()) == []  # recovered: the window's own autosave takes over


def test_trained_weights_of_the_users_file_are_autosaved_with_their_step(
        make_window, folder, tmp_path, qtbot, monkeypatch):
    own = save(load("xor_mlp"), tmp_path / "mine.json")
    w = make_window(load(own))
    saver = Autosave(w, interval_ms=10**7)
    for _ in range(6):
        w.step_action.trigger()
    qtbot.waitUntil(lambda: w.current_step() == 6, timeout=10_000)
    trained = w.current_weights()
    saver.tick()
    saver.wait()
    _as_if_crashed(folder)
    [rec] = pending()
    assert rec.origin == own and rec.step == 6
    project = rec.load()
    assert project.path == own  # Save writes back to the user's file
    for key, value in trained.items():
        np.testing.assert_array_equal(project.weights[key], value, err_msg=key)
    assert Session(project, timeline=False).step_count == 6


def test_saving_or_refusing_a_recovery_deletes_the_autosave(make_window, folder, tmp_path,
                                                            monkeypatch):
    w = make_window("xor_mlp")
    saver = Autosave(w, interval_ms=10**7)
    w.undo_stack.push(SetParamCommand(w.model, "fc1", "out_features", 12))
    saver.tick()
    saver.wait()
    assert list(folder.glob("*.json"))
    assert w.save_project_as(tmp_path / "saved.json")
    saver.tick()  # nothing unsaved any more
    assert list(folder.iterdir()) == []
    w.undo_stack.push(SetParamCommand(w.model, "fc1", "out_features", 10))
    saver.tick()
    saver.wait()
    _as_if_crashed(folder)
    _answer(monkeypatch, QMessageBox.StandardButton.No)
    assert not offer_recovery(make_window("spiral_mlp"))
    assert list(folder.iterdir()) == [] and pending() == []


KILLED = textwrap.dedent("""
    import sys
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from playground.ui.autosave import Autosave
    from playground.ui.main_window import MainWindow
    w = MainWindow(sys.argv[1], remember_layout=False)
    w.show()
    saver = Autosave(w, interval_ms=200)  # kept: the timer calls it
    w.train_action.trigger()
    app.exec()
""")


def test_kill_9_during_training_keeps_the_last_autosave(folder, tmp_path):
    own = save(load("xor_mlp"), tmp_path / "mine.json")
    env = {**os.environ, "PLAYGROUND_AUTOSAVE_DIR": str(folder), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(own)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        step = 0
        while time.monotonic() < deadline and step < 50:
            time.sleep(0.1)
            for meta in folder.glob("*.meta.json"):
                try:
                    step = json.loads(meta.read_text())["step"]
                except (OSError, ValueError):
                    pass
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert step >= 50, "no autosave with training steps appeared"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    [rec] = pending(folder)
    assert rec.origin == own and rec.step >= 50
    project = rec.load()
    session = Session(project, timeline=False)
    assert session.step_count == rec.step
    assert session.step_count == int(project.weights["@step"])


def test_the_main_window_autosaves_and_a_deliberate_close_cleans_up(make_window, folder):
    w = make_window("xor_mlp")
    assert w.autosave is not None and w.autosave.timer.interval() == 30_000
    w.undo_stack.push(SetParamCommand(w.model, "fc1", "out_features", 12))
    w.autosave.tick()
    w.autosave.wait()
    assert len(list(folder.glob("*.meta.json"))) == 1
    w.close()  # the user chose (make_window answers "discard"): no recovery wanted
    assert list(folder.iterdir()) == []

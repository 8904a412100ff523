"""Training pace in the window: runs stop at the project's steps, Run Until Stopped goes on,
the speed cap holds, the status bar shows the progress; and training alone does not mark
the document modified."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

from playground.project import load  # noqa: E402
from playground.ui.commands import SetParamCommand  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402
from playground.ui.pace import SPEEDS, shown_target  # noqa: E402

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


def xor(steps: int):
    project = load("xor_mlp")
    project.training.steps = steps
    return project


def stopped(w) -> bool:
    """The worker stopped by itself and the window has noticed (Train is enabled again)
    and shown its last snapshot."""
    return w.worker is not None and not w.worker.running and w.train_action.isEnabled() \
        and not w.worker.snapshot.running and w._last_snapshot is w.worker.snapshot


def test_shown_target_is_the_runs_end():
    assert [shown_target(s, 500) for s in (0, 1, 340, 500, 501, 1000)] == \
        [500, 500, 500, 500, 1000, 1000]


def test_train_stops_at_the_projects_steps_and_train_again_trains_as_many_more(
        make_window, qtbot):
    w = make_window(xor(60))
    assert w.step_label.text() == "step 0 / 60" and w.pace.progress.value() == 0
    w.train_action.trigger()
    qtbot.waitUntil(lambda: stopped(w) and w.worker.snapshot.step == 60, timeout=HANG_MS)
    qtbot.wait(100)
    assert w.worker.call(lambda s: s.step_count).result(5) == 60  # exactly: not one more
    assert w.step_label.text() == "step 60 / 60"
    assert (w.pace.progress.value(), w.pace.progress.maximum()) == (60, 60)
    assert w.last_message.startswith("Trained 60 steps: Train trains 60 more")
    assert not w.pause_action.isEnabled()

    w.train_action.trigger()  # another 60
    qtbot.waitUntil(lambda: stopped(w) and w.worker.snapshot.step == 120, timeout=HANG_MS)
    assert w.step_label.text() == "step 120 / 120"


def test_a_paused_run_resumes_to_the_same_target(make_window, qtbot):
    w = make_window(xor(400))
    w.pace.set_speed(SPEEDS.index(("100 steps/s", 100.0)))
    w.train_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.step >= 5, timeout=HANG_MS)
    w.pause_action.trigger()
    qtbot.waitUntil(lambda: not w.worker.snapshot.running, timeout=HANG_MS)
    paused = w.worker.snapshot.step
    assert 5 <= paused < 400 and w.step_label.text() == f"step {paused} / 400"
    w.pace.set_speed(0)  # max speed
    w.train_action.trigger()
    qtbot.waitUntil(lambda: stopped(w) and w.worker.snapshot.step == 400, timeout=HANG_MS)


def test_run_until_stopped_trains_past_the_target(make_window, qtbot):
    w = make_window(xor(30))
    w.pace.until_stopped_action.trigger()  # checked
    assert w.pace.until_stopped
    w.train_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.step > 100, timeout=HANG_MS)
    assert w.worker.running and not w.train_action.isEnabled()
    qtbot.waitUntil(lambda: "/" not in w.step_label.text(), timeout=HANG_MS)
    assert w.pace.progress.isHidden()
    w.pace.until_stopped_action.trigger()  # off while training: stops at the next multiple
    qtbot.waitUntil(lambda: stopped(w), timeout=HANG_MS)
    step = w.worker.snapshot.step
    assert step % 30 == 0 and step > 100


def test_the_speed_control_caps_the_steps_per_second(make_window, qtbot):
    w = make_window(xor(10_000))
    index = w.pace.speed_combo.findText("10 steps/s")
    w.pace.speed_combo.setCurrentIndex(index)  # as the user picks it
    assert w.pace.speed_actions[index].isChecked()  # Train ▸ Speed follows
    w.train_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.step >= 1, timeout=HANG_MS)
    t0 = time.perf_counter()
    start = w.worker.call(lambda s: s.step_count).result(60)
    qtbot.waitUntil(lambda: w.worker.snapshot.step >= start + 3, timeout=HANG_MS)
    taken = w.worker.call(lambda s: s.step_count).result(60) - start
    elapsed = time.perf_counter() - t0
    # steps start >= 0.1 s apart: a loaded machine only makes it fewer (the worker's own
    # tests check the cap and its lifting: tests/session/test_session.py)
    assert taken <= 10 * elapsed + 1, (taken, elapsed)
    assert w.worker.max_rate == 10.0
    w.pace.speed_actions[0].trigger()  # Train ▸ Speed ▸ Max speed, while training
    assert w.pace.speed_combo.currentIndex() == 0
    w.worker.call(lambda s: None).result(60)  # the worker has taken the new pace
    assert w.worker.max_rate is None and w.worker.running


# ------------------------------------------------------------------ modified / unsaved


@pytest.fixture
def asked(monkeypatch):
    """QMessageBox.question calls, answered Discard."""
    calls = []

    def question(parent, title, text, *args, **kwargs):
        calls.append(text)
        return QMessageBox.StandardButton.Discard

    monkeypatch.setattr(QMessageBox, "question", question)
    return calls


def test_training_a_preset_marks_nothing_modified_and_closing_asks_nothing(make_window,
                                                                          qtbot, asked):
    w = make_window("xor_mlp")
    for _ in range(5):
        w.step_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.step == 5, timeout=HANG_MS)
    qtbot.wait(2 * 33)  # the tick has shown the snapshot
    assert w.current_step() == 5
    assert not w.isWindowModified() and not w.is_dirty() and not w.has_unsaved_weights()
    assert MainWindow.confirm_discard(w) and asked == []

    w.undo_stack.push(SetParamCommand(w.model, "fc1", "out_features", 6))  # a real edit
    assert w.isWindowModified() and w.is_dirty()
    assert MainWindow.confirm_discard(w)
    assert asked == ["Save the changes to 'xor_mlp'?"]
    w.undo_stack.undo()
    assert not w.isWindowModified()


def test_trained_weights_of_the_users_own_file_are_asked_about(make_window, qtbot, asked,
                                                                tmp_path, monkeypatch):
    w = make_window("xor_mlp")
    path = tmp_path / "mine.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))
    assert w.save_project()  # a preset: Save asks for a file of the user's own
    assert MainWindow.confirm_discard(w) and asked == []  # just saved
    w.train_steps_sync(4)
    assert not w.isWindowModified()  # training is not an edit: no "*"
    assert w.has_unsaved_weights()
    assert MainWindow.confirm_discard(w)
    assert asked == ["Save the trained weights of 'mine'?"]
    assert w.save_project()  # to mine.json, with its step count
    assert not w.has_unsaved_weights()
    assert w.open_project(path)
    assert w.current_step() == 4  # the file's run, before any session
    w.train_steps_sync(0)  # the session takes the saved run back
    assert w.current_step() == 4 and not w.has_unsaved_weights()
    assert MainWindow.confirm_discard(w) and len(asked) == 1

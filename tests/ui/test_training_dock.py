"""The Training settings dock: every setting of the project file, undoable, live."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("pytestqt")

from playground.project import Training, load  # noqa: E402

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


def _session_value(w, fn):
    return w.worker.call(fn).result(timeout=30)


def test_the_dock_edits_every_training_setting_of_the_file(make_window):
    w = make_window("xor_mlp")
    fields = {f.name for f in dataclasses.fields(Training)}
    assert set(w.training_panel.editors) == fields
    assert w.training_panel.editors["optimizer"].currentText() == "SGD"
    assert w.training_panel.editors["momentum"].value() == pytest.approx(0.9)


def test_an_edit_is_one_undoable_command_shown_by_the_toolbar_too(make_window):
    w = make_window("xor_mlp")
    panel = w.training_panel
    panel.editors["lr"].setValue(0.2)
    panel.editors["lr"].setValue(0.5)  # a second step of the same field merges
    assert w.project.training.lr == 0.5 and w.lr_spin.value() == pytest.approx(0.5)
    assert w.undo_stack.count() == 1 and w.is_dirty()
    w.undo_stack.undo()
    assert w.project.training.lr == 0.1 and panel.editors["lr"].value() == pytest.approx(0.1)
    assert w.lr_spin.value() == pytest.approx(0.1) and not w.is_dirty()
    w.optimizer_combo.setCurrentText("Adam")  # the toolbar goes through the same command
    assert w.project.training.optimizer == "Adam"
    assert panel.editors["optimizer"].currentText() == "Adam"
    assert "optimizer" in w.undo_stack.undoText()


def test_refused_values_are_explained_and_change_nothing(make_window):
    w = make_window("xor_mlp")
    panel = w.training_panel
    assert not panel.edit("lr", 50.0)
    assert "training.lr must be a number in (0, 10]" in panel.status.text()
    assert not panel.edit("momentum", 1.0)
    assert w.project.training.momentum == 0.9 and w.undo_stack.count() == 0


def test_settings_reach_the_running_session(make_window, qtbot):
    w = make_window("xor_mlp")
    w.step_action.trigger()
    qtbot.waitUntil(lambda: w.current_step() == 1, timeout=HANG_MS)
    panel = w.training_panel
    panel.editors["momentum"].setValue(0.5)
    assert _session_value(w, lambda s: s.optimizer.param_groups[0]["momentum"]) == 0.5
    panel.clip_check.setChecked(True)
    assert w.project.training.clip_grad_norm == 1.0
    assert _session_value(w, lambda s: s.training.clip_grad_norm) == 1.0
    panel.editors["batch_size"].setValue(8)  # at the next Reset
    assert "applies at the next Reset" in w.statusBar().currentMessage()
    assert _session_value(w, lambda s: s.loader.batch_size) == 32
    w.reset_training()
    qtbot.waitUntil(lambda: w.current_step() == 0, timeout=HANG_MS)
    assert _session_value(w, lambda s: s.loader.batch_size) == 8
    w.undo_stack.undo()  # the batch size back; the clipping and momentum edits stay
    assert w.project.training.batch_size == 32 and w.project.training.clip_grad_norm == 1.0


def test_settings_are_saved_and_a_new_document_shows_its_own(make_window, tmp_path):
    w = make_window("xor_mlp")
    w.training_panel.editors["weight_decay"].setValue(0.001)
    w.training_panel.editors["seed"].setValue(7)
    assert w.save_project_as(tmp_path / "mine.json")
    t = load(tmp_path / "mine.json").training
    assert (t.weight_decay, t.seed) == (0.001, 7)
    w.open_project("spiral_mlp")
    assert w.training_panel.editors["optimizer"].currentText() == "Adam"
    assert w.training_panel.editors["seed"].value() == 0


def test_a_schedule_chosen_mid_run_starts_from_the_base_rate_at_the_current_step(make_window,
                                                                                qtbot):
    w = make_window("xor_mlp")
    for _ in range(4):
        w.step_action.trigger()
    qtbot.waitUntil(lambda: w.current_step() == 4, timeout=HANG_MS)
    panel = w.training_panel
    assert not panel.editors["gamma"].isEnabled()
    panel.edit("step_size", 2)
    panel.edit("lr_schedule", "StepLR")
    assert panel.editors["gamma"].isEnabled()
    lr = lambda s: s.optimizer.param_groups[0]["lr"]  # noqa: E731
    assert _session_value(w, lr) == pytest.approx(0.1 * 0.5 ** 2)  # step 4: two decays
    panel.edit("lr_schedule", "none")
    assert _session_value(w, lr) == pytest.approx(0.1)


def test_a_batch_size_too_large_for_memory_marks_the_node_red_and_undo_clears_it(
        make_window, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MEMORY_BUDGET", "2000000")  # 2 MB
    w = make_window("xor_mlp")
    scene = w.canvas.canvas_scene
    assert w.model.errors() == {} and not scene.node_item("data").is_invalid()
    assert w.training_panel.edit("batch_size", 100_000)
    error = w.model.errors()["data"]
    assert "at batch_size 100,000" in error and "at most 83,333" in error
    assert scene.node_item("data").is_invalid()
    w.undo_stack.undo()
    assert w.project.training.batch_size == 32 and w.model.errors() == {}
    assert not scene.node_item("data").is_invalid()

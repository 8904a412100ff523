"""The main window: files, the inspector, the palette, live plots, live edits, screenshots.

Driven through the window's own actions and widgets (file dialogs and message boxes are
patched); assertions are on the model, the files and the numbers the views show.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QFileDialog  # noqa: E402

from playground.graph import REGISTRY  # noqa: E402
from playground.project import load, presets_dir  # noqa: E402
from playground.ui.app import screenshot  # noqa: E402
from playground.ui.commands import SetParamCommand  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402
from playground.ui.palette import MIME_TYPE  # noqa: E402

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


def select(window: MainWindow, node_id: str) -> None:
    scene = window.canvas.canvas_scene
    scene.clearSelection()
    scene.node_item(node_id).setSelected(True)
    assert window.inspector.node_id == node_id


def type_into(qtbot, spin, text: str) -> None:
    """Type ``text`` into a spin box as a user does, then press Enter."""
    edit = spin.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


# ----------------------------------------------------------------------------------- files


def test_save_as_new_open_round_trip(make_window, tmp_path, monkeypatch, errors, qtbot):
    w = make_window("xor_mlp")
    snap = w.train_steps_sync(25)
    assert snap.step == 25
    graph = w.model.to_dict()
    trained = w.current_weights()
    params = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert params <= set(trained) and "@step" in set(trained) - params  # and the run's curves
    path = tmp_path / "mine.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))

    w.save_as_action.trigger()
    assert path.is_file() and path.with_suffix(".npz").is_file()
    assert w.project.path == path and w.project.name == "mine" and not w.is_dirty()
    assert "mine" in w.windowTitle()
    on_disk = json.loads(path.read_text())
    assert on_disk["graph"] == graph and on_disk["training"]["optimizer"] == "SGD"
    assert on_disk["training"]["lr"] == 0.1 and on_disk["training"]["momentum"] == 0.9

    w.new_action.trigger()
    assert len(w.model) == 0 and w.model.edges() == [] and w.undo_stack.count() == 0
    assert w.session is None and w.current_weights() is None

    w.open_action.trigger()
    assert errors == []
    assert w.model.to_dict() == graph
    assert w.project.training.optimizer == "SGD" and w.optimizer_combo.currentText() == "SGD"
    assert w.lr_spin.value() == pytest.approx(0.1)
    # the reopened run shows its step and curves before any training
    assert w.current_step() == 25
    qtbot.waitUntil(lambda: w.curves.data("loss")[0].size == 25, timeout=HANG_MS)
    loaded = w.current_weights()
    assert set(loaded) == set(trained)
    for key, value in trained.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value), key
    # A session built from the reopened document starts from exactly those weights, at
    # the saved step, with the saved curves.
    session = w._ensure_session()
    for key, value in session.weights().items():
        assert np.array_equal(value, trained[key]), key
    assert session.step_count == 25
    steps, values = session.history.copy_arrays()["loss"]
    assert steps[-1] == 25 and np.array_equal(values, trained["@history.loss"][1])


def test_open_truncated_file_shows_the_error_and_keeps_everything(make_window, tmp_path,
                                                                   monkeypatch, errors):
    w = make_window("xor_mlp")
    w.undo_stack.push(SetParamCommand(w.model, "fc1", "out_features", 12))
    before = w.model.to_dict()
    text = (presets_dir() / "spiral_mlp.json").read_text()
    bad = tmp_path / "cut.json"
    bad.write_text(text[: len(text) // 2])
    raw = bad.read_bytes()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))

    w.open_action.trigger()

    assert len(errors) == 1
    title, message = errors[0]
    assert title == "Cannot open project"
    assert "not valid JSON" in message and "truncated" in message and "cut.json" in message
    assert w.model.to_dict() == before and w.model.params("fc1")["out_features"] == 12
    assert w.undo_stack.count() == 1 and w.project.name == "xor_mlp"
    assert bad.read_bytes() == raw and not bad.with_suffix(".npz").exists()


def test_open_names_the_bad_field(make_window, tmp_path, errors):
    w = make_window("xor_mlp")
    data = json.loads((presets_dir() / "xor_mlp.json").read_text())
    data["training"]["lr"] = -1
    bad = tmp_path / "badlr.json"
    bad.write_text(json.dumps(data))
    assert not w.open_project(bad)
    assert len(errors) == 1 and "Field: training.lr" in errors[0][1]
    data["training"]["lr"] = 0.1
    data["graph"]["nodes"][1]["type"] = "Linnear"
    bad.write_text(json.dumps(data))
    assert not w.open_project(bad)
    assert "Field: graph.nodes[1].type" in errors[1][1] and "Linnear" in errors[1][1]
    assert w.model.spec("fc1").type == "Linear"


def test_save_over_a_preset_asks_for_a_new_file(make_window, monkeypatch, tmp_path):
    w = make_window("xor_mlp")
    preset = presets_dir() / "xor_mlp.json"
    raw = preset.read_bytes()
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: asked.append(a) or ("", ""))
    assert not w.save_project()
    assert len(asked) == 1 and preset.read_bytes() == raw


# ------------------------------------------------------------------------------ inspector


def test_inspector_edit_pushes_an_undoable_param_change(make_window, qtbot):
    w = make_window("xor_mlp")
    select(w, "fc1")
    insp = w.inspector
    assert insp.outputs_label.text() == "output: (N, 8)"
    assert insp.params_label.text().startswith("24 ")  # 2*8 + 8
    spin = insp.editor("out_features")
    assert spin.value() == 8

    type_into(qtbot, spin, "16")

    assert w.model.params("fc1")["out_features"] == 16
    assert w.undo_stack.count() == 1 and w.undo_stack.undoText() == "Set fc1.out_features = 16"
    assert insp.outputs_label.text() == "output: (N, 16)"
    assert insp.params_label.text().startswith("48 ")
    assert w.isWindowModified()
    # fc2 now expects 8 but gets 16: the inspector says so and offers the fix.
    select(w, "fc2")
    assert insp.status_label.isVisibleTo(insp)
    assert "expects in_features=8, got 16" in insp.status_label.text()
    assert insp.fix_button.text() == "Set in_features=16"
    insp.fix_button.click()
    assert w.model.params("fc2")["in_features"] == 16 and w.model.errors() == {}
    assert not insp.fix_button.isVisibleTo(insp) and insp.editor("in_features").value() == 16

    w.undo_action.trigger()  # the fix
    assert w.model.params("fc2")["in_features"] == 8 and insp.editor("in_features").value() == 8
    w.undo_action.trigger()  # the edit of fc1
    select(w, "fc1")
    assert w.model.params("fc1")["out_features"] == 8 and insp.editor("out_features").value() == 8
    assert w.undo_stack.isClean() and w.model.errors() == {}
    w.redo_action.trigger()
    assert insp.editor("out_features").value() == 16


def test_inspector_shows_a_refused_value_instead_of_raising(make_window):
    w = make_window("xor_mlp")
    select(w, "fc1")
    assert not w.inspector.apply_param("out_features", 0)
    assert w.inspector.param_error_label.text() == "fc1.out_features must be ≥ 1, got 0"
    assert w.model.params("fc1")["out_features"] == 8 and w.undo_stack.count() == 0


def test_inspector_rename_goes_through_the_undo_stack(make_window, qtbot):
    w = make_window("xor_mlp")
    select(w, "tanh1")
    edit = w.inspector.name_edit
    edit.selectAll()
    qtbot.keyClicks(edit, "hidden")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert w.model.name("tanh1") == "hidden"
    w.undo_action.trigger()
    assert w.model.name("tanh1") == "tanh1" and edit.text() == "tanh1"


# -------------------------------------------------------------------------------- palette


def test_palette_search_drag_data_and_double_click(make_window, qtbot):
    w = make_window("xor_mlp")
    pal = w.node_palette
    qtbot.keyClicks(pal.search, "loss")
    shown = pal.visible_types()
    losses = [s.type for s in REGISTRY.categories()["Losses"]]
    assert set(losses) <= set(shown) and "CrossEntropyLoss" in losses
    assert "Linear" not in shown and "Conv2d" not in shown
    assert "Group" not in shown  # groups come from Ctrl+G, not from the palette
    pal.search.clear()
    assert "Linear" in pal.visible_types() and "Dataset" in pal.visible_types()
    mime = pal.mime_data("Sigmoid")
    assert bytes(mime.data(MIME_TYPE)).decode() == "Sigmoid"
    assert "1 / (1 + e^-x)" in pal.item("Sigmoid").toolTip(0)

    centre = w.canvas.mapToScene(w.canvas.viewport().rect().center())
    item = pal.item("Sigmoid")
    rect = pal.tree.visualItemRect(item)
    assert rect.isValid()
    qtbot.mouseClick(pal.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(pal.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    added = [n for n in w.model.nodes() if w.model.spec(n).type == "Sigmoid"]
    assert len(added) == 1 and w.undo_stack.undoText() == "Add Sigmoid"
    box = w.canvas.canvas_scene.node_item(added[0]).sceneBoundingRect()
    assert box.contains(centre)
    assert w.inspector.node_id == added[0]


# -------------------------------------------------------------------------- live training


def test_live_plots_get_data_after_a_few_steps(make_window, qtbot):
    w = make_window("xor_mlp")
    for _ in range(6):
        w.step_action.trigger()
    qtbot.waitUntil(lambda: w.curves.data("loss")[0].size == 6, timeout=HANG_MS)
    snap = w.worker.snapshot
    steps, losses = w.curves.data("loss")
    assert list(steps) == [1, 2, 3, 4, 5, 6]
    assert np.array_equal(losses, snap.history["loss"][1]) and np.all(losses > 0)
    acc_x, acc_y = w.curves.data("accuracy")
    assert acc_x.size == 6 and np.all((acc_y >= 0) & (acc_y <= 1))
    val_x, _ = w.curves.data("val_loss")
    assert val_x[0] == 1  # held-out metrics on the first step
    image = w.boundary.image_array()
    assert image is not None and image.shape == (80, 80, 3) and image.dtype == np.uint8
    assert w.boundary.point_count() == load("xor_mlp").graph["nodes"][0]["params"]["n_samples"]
    assert w.step_label.text() == "step 6 / 500"  # xor_mlp's training.steps
    assert w.loss_label.text() == f"loss {snap.metrics['loss']:.4f}"
    assert not w.is_dirty()  # a preset only trained: no edit to save (test_pace.py)


def test_live_edit_keeps_matching_weights_and_pauses_on_errors(make_window, qtbot):
    w = make_window("xor_mlp")
    for _ in range(3):
        w.step_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.step == 3, timeout=HANG_MS)
    before = w.current_weights()
    select(w, "fc1")
    w.inspector.editor("bias").click()  # fc1.bias: true -> false, while the worker runs
    qtbot.waitUntil(lambda: w.worker.call(lambda s: s.model.params("fc1")["bias"])
                    .result(5) is False, timeout=HANG_MS)
    after = w.current_weights()
    assert "fc1.bias" not in after
    for key in ("fc1.weight", "fc2.weight", "fc2.bias"):
        assert np.array_equal(after[key], before[key]), key

    w.pace.set_until_stopped(True)  # (xor_mlp's 500 steps could end before the edit)
    w.train_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.step > 20, timeout=HANG_MS)
    assert w.worker.running and not w.train_action.isEnabled()
    select(w, "fc1")
    type_into(qtbot, w.inspector.editor("out_features"), "12")  # fc2 now expects 8
    # paused: the worker has published a snapshot that says so
    qtbot.waitUntil(lambda: not w.worker.snapshot.running, timeout=HANG_MS)
    assert w.last_message.startswith("Paused: Linear 'fc2' expects in_features=8, got 12")
    stalled = w.worker.snapshot.step
    qtbot.wait(100)
    assert w.worker.snapshot.step == stalled
    select(w, "fc2")
    w.inspector.fix_button.click()  # in_features=12: the graph is valid again
    qtbot.waitUntil(lambda: w.worker.running and w.worker.snapshot.step > stalled + 5,
                    timeout=HANG_MS)
    assert w.worker.call(lambda s: s.model.params("fc2")["in_features"]).result(5) == 12
    assert w.last_message == "Graph fixed: training resumed"
    w.pause_action.trigger()
    qtbot.waitUntil(lambda: not w.worker.running, timeout=HANG_MS)
    assert w.train_action.isEnabled() and not w.pause_action.isEnabled()


def test_optimizer_and_lr_controls_reach_the_session(make_window, qtbot):
    w = make_window("xor_mlp")
    w.step_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.step == 1, timeout=HANG_MS)
    w.optimizer_combo.setCurrentText("Adam")
    w.lr_spin.stepBy(1)  # 0.1 -> 0.2 on the 1-2-5 ladder
    assert w.lr_spin.value() == pytest.approx(0.2)
    opt = w.worker.call(lambda s: (type(s.optimizer).__name__, s.optimizer.param_groups[0]["lr"]))
    assert opt.result(5) == ("Adam", pytest.approx(0.2))
    assert w.project.training.optimizer == "Adam" and w.project.training.lr == 0.2


def test_train_refuses_a_graph_with_errors(make_window):
    w = make_window("xor_mlp")
    w.model.set_param("fc2", "in_features", 3)
    w.train_action.trigger()
    assert w.worker is None
    assert w.last_message == ("Cannot train: Linear 'fc2' expects in_features=3, got 8 from "
                              "'tanh1'. Set in_features=8.")


# ----------------------------------------------------------------------------- screenshot


def test_screenshot_writes_a_png_of_the_requested_size(qapp, tmp_path):
    out = screenshot("xor_mlp", tmp_path / "shots" / "xor.png", steps=30, size=(1200, 760))
    assert out == tmp_path / "shots" / "xor.png" and out.is_file()
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 760)
    # Not a blank frame: the boundary's orange and blue and the dark theme are all there.
    colors = {image.pixel(x, y) for x in range(0, 1200, 7) for y in range(0, 760, 7)}
    assert len(colors) > 200
    assert os.path.getsize(out) > 20_000


# ----------------------------------------------------------------------------------- view


def test_view_menu_switches_theme_and_toggles_docks(make_window):
    from playground.ui.theme import DARK, LIGHT, current_theme

    w = make_window("xor_mlp")
    try:
        w.light_action.trigger()
        assert current_theme() is LIGHT and w.canvas.canvas_scene.style.theme is LIGHT
        assert w.curves.loss_widget.backgroundBrush().color().name() == LIGHT.plot_background
        assert w.boundary.backgroundBrush().color().name() == LIGHT.plot_background
    finally:
        w.dark_action.trigger()
    assert current_theme() is DARK and w.canvas.canvas_scene.style.theme is DARK
    assert w.curves.loss_widget.backgroundBrush().color().name() == DARK.plot_background
    toggle = w.boundary_dock.toggleViewAction()
    assert w.boundary_dock.isVisible()
    toggle.trigger()
    assert not w.boundary_dock.isVisible()
    toggle.trigger()
    assert w.boundary_dock.isVisible()


def test_a_refused_wire_explains_itself_in_the_status_bar(make_window):
    from PySide6.QtTest import QTest

    w = make_window("xor_mlp")
    vp, scene = w.canvas.viewport(), w.canvas.canvas_scene
    start = w.canvas.mapFromScene(scene.port_scene_pos("fc2", "output", True))
    end = w.canvas.mapFromScene(scene.port_scene_pos("tanh1", "output", True))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert w.last_message.startswith("Cannot wire Linear 'fc2'.output to Tanh 'tanh1'.output: "
                                     "both are outputs.")
    assert w.statusBar().currentMessage() == w.last_message
    assert len(w.model.edges()) == 5 and w.undo_stack.count() == 0


def test_a_worker_that_stops_by_itself_resets_the_controls(make_window, qtbot):
    w = make_window("xor_mlp")
    w.pace.set_until_stopped(True)
    w.train_action.trigger()
    qtbot.waitUntil(lambda: w.worker.snapshot.running, timeout=HANG_MS)
    assert not w.train_action.isEnabled()

    def broken_step():
        raise FloatingPointError("overflow in matmul")

    w.worker.call(lambda s: setattr(s, "step", broken_step))
    qtbot.waitUntil(w.train_action.isEnabled, timeout=HANG_MS)
    assert not w.pause_action.isEnabled() and not w.worker.running
    assert w.last_message == "training stopped: overflow in matmul"


def test_double_clicking_a_type_twice_does_not_stack_the_nodes(make_window):
    w = make_window(None)
    w.node_palette.add_requested.emit("Tanh")
    w.node_palette.add_requested.emit("Tanh")
    first, second = (w.canvas.canvas_scene.node_item(n) for n in w.model.nodes())
    step = second.pos() - first.pos()
    assert step.x() == step.y() and step.x() > 0 and step.x() % 36 == 0
    # The second node's centre is off the first one's body.
    assert not first.sceneBoundingRect().contains(second.sceneBoundingRect().center())

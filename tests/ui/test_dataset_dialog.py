"""File ▸ Import Data… (issue 14): the preview shows the file, OK sets the Dataset node's
params as one undo step, undo restores them; the inspector edits a path with Browse…."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_files import digits_idx, write_csv  # noqa: E402

from playground.ui.dataset_dialog import DatasetDialog  # noqa: E402
from playground.ui.inspector import PathParamEdit  # noqa: E402


def _ok(dialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_the_dialog_previews_a_csv_and_ok_sets_the_params_undoably(make_window, tmp_path,
                                                                   qtbot):
    write_csv(tmp_path / "toy.csv", n=120)
    w = make_window("xor_mlp")
    before = dict(w.model.params("data"))
    qtbot.waitUntil(lambda: w.import_data_action.isEnabled())
    w.import_data_action.trigger()
    dialog = w.dataset_dialog
    assert dialog.target_node() == "data" and not _ok(dialog).isEnabled()  # no file yet
    dialog.set_path(tmp_path / "toy.csv", "csv")

    table = dialog.preview_table
    assert [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())] == \
        ["x0", "x1", "noise", "side"]
    assert table.rowCount() == 20 and table.item(0, 3).text() in ("left", "right")
    assert dialog.target_combo.currentText() == "side"
    # uncheck the noise column: two inputs
    noise = next(dialog.inputs_list.item(i) for i in range(dialog.inputs_list.count())
                 if dialog.inputs_list.item(i).text() == "noise")
    noise.setCheckState(Qt.CheckState.Unchecked)
    assert dialog.summary_label.text() == ("The Dataset node 'data' gets 96 training and 24 "
                                           "held-out examples, 2 features, 2 classes: left, "
                                           "right.")
    assert _ok(dialog).isEnabled()
    depth = w.undo_stack.count()
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)

    params = w.model.params("data")
    assert (params["dataset"], params["path"], params["input_columns"],
            params["target_column"]) == ("csv", str(tmp_path / "toy.csv"), "x0, x1", "side")
    assert w.undo_stack.count() == depth + 1  # one step
    assert w.model.states()["data"].outputs["x"] == (None, 2)
    assert w.model.states()["fc1"].ok  # xor_mlp's fc1 takes 2 features: still valid
    w.undo_stack.undo()
    assert dict(w.model.params("data")) == before
    w.undo_stack.redo()
    assert w.model.params("data")["path"] == str(tmp_path / "toy.csv")


def test_a_bad_file_is_named_in_red_and_ok_stays_off(qtbot, tmp_path):
    from PySide6.QtGui import QUndoStack

    from playground.graph import GraphModel

    model = GraphModel()
    node = model.add_node("Dataset", params={"dataset": "xor"})
    dialog = DatasetDialog(model, QUndoStack(), node)
    qtbot.addWidget(dialog)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    dialog.set_path(bad, "csv")
    assert dialog.summary_label.text() == (f"{bad}: row 3 has 1 cells but row 1 has 2; every "
                                           "row needs the same columns (a ragged row, or a "
                                           "comma inside a number?)")
    assert not _ok(dialog).isEnabled()
    dialog.accept()  # refused: nothing set
    assert model.params(node)["dataset"] == "xor"


def test_idx_preview_shows_shapes_and_image_folders_show_thumbnails(qtbot, tmp_path):
    from PySide6.QtGui import QUndoStack

    from playground.graph import GraphModel

    model = GraphModel()
    dialog = DatasetDialog(model, QUndoStack())  # no Dataset node: OK adds one
    qtbot.addWidget(dialog)
    img, images, _ = digits_idx(tmp_path)
    dialog.set_path(img, "idx")
    assert dialog.arrays_label.text() == (
        f"images {img.name}: shape {images.shape}, uint8\n"
        f"labels train-labels-idx1-ubyte: shape ({len(images)},), uint8")
    shown = [t.pixmap() for t in dialog.samples if not t.pixmap().isNull()]
    assert len(shown) == 8 and shown[0].width() == 56  # the 8x8 digits, magnified 7x
    assert [t.toolTip() for t in dialog.samples] == [f"class {d}" for d in range(8)]

    folder = tmp_path / "shapes"
    for name, color in (("red", QColor(220, 30, 30)), ("blue", QColor(30, 30, 220))):
        (folder / name).mkdir(parents=True)
        for i in range(5):
            im = QImage(12 + i, 10, QImage.Format.Format_RGB32)
            im.fill(color)
            assert im.save(str(folder / name / f"{i}.png"))
    dialog.set_path(folder, "image_folder")
    dialog.image_size_spin.setValue(8)
    dialog.color_combo.setCurrentIndex(dialog.color_combo.findData("rgb"))
    assert dialog.classes_label.text() == "2 classes: blue (5), red (5)"
    assert sum(not t.pixmap().isNull() for t in dialog.thumbnails) == 4
    assert "8 training and 2 held-out examples, images (3, 8, 8), 2 classes: blue, red" in \
        dialog.summary_label.text()
    x = dialog.dataset.train.input.reshape(-1, 3, 8, 8)
    red = dialog.dataset.train.target == dialog.dataset.class_names.index("red")
    np.testing.assert_allclose(x[red][:, 0].mean(), 220 / 255, atol=0.01)  # red channel
    np.testing.assert_allclose(x[red][:, 2].mean(), 30 / 255, atol=0.01)
    dialog.accept()
    (node,) = model.nodes()
    assert model.params(node)["dataset"] == "image_folder"
    assert model.states()[node].outputs["x"] == (None, 3 * 8 * 8)


def test_the_inspector_edits_a_path_with_browse(make_window, tmp_path, monkeypatch):
    write_csv(tmp_path / "toy.csv")
    w = make_window("xor_mlp")
    w.inspector.set_node("data")
    editor = w.inspector.editor("path")
    assert isinstance(editor, PathParamEdit) and editor.browse_button.text() == "Browse…"
    assert w.inspector.import_button.isVisible()
    w.inspector.apply_param("dataset", "csv")
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(tmp_path / "toy.csv"), ""))
    editor.browse_button.click()
    assert w.model.params("data")["path"] == str(tmp_path / "toy.csv")
    assert editor.line_edit.text() == str(tmp_path / "toy.csv")
    assert w.model.states()["data"].outputs["x"] == (None, 3)
    w.undo_stack.undo()
    assert w.model.params("data")["path"] == "" and editor.line_edit.text() == ""
    w.inspector.set_node("fc1")
    assert not w.inspector.import_button.isVisible()


@pytest.mark.parametrize("text", ["a\nb", 7])
def test_a_path_param_refuses_what_is_not_one_line_of_text(make_window, text):
    w = make_window("xor_mlp")
    w.inspector.set_node("data")
    assert not w.inspector.apply_param("path", text)
    assert "data.path must be" in w.inspector.param_error_label.text()


def test_regression_sets_the_regression_node_and_a_dataset_graph_is_told_why_not(qtbot,
                                                                                  tmp_path):
    from PySide6.QtGui import QUndoStack

    from playground.graph import GraphModel

    p = tmp_path / "line.csv"
    p.write_text("a,y\n" + "".join(f"{i / 10:.1f},{2 * i / 10 + 1:.1f}\n" for i in range(20)))
    model = GraphModel()
    data = model.add_node("Dataset", params={"dataset": "xor"})
    dialog = DatasetDialog(model, QUndoStack(), data)
    qtbot.addWidget(dialog)
    dialog.set_path(p, "csv")
    dialog.task_combo.setCurrentIndex(dialog.task_combo.findData("regression"))
    assert dialog.summary_label.text() == (
        "Regression targets are numbers: they come from a Regression node, and the graph "
        "has none. Replace its data node with a Regression node from the palette (Data), "
        "or choose classification.")
    assert not _ok(dialog).isEnabled()

    model.remove_node(data)
    reg = model.add_node("Regression")
    stack = QUndoStack()
    dialog = DatasetDialog(model, stack)
    qtbot.addWidget(dialog)
    dialog.set_path(p, "csv")
    dialog.task_combo.setCurrentIndex(dialog.task_combo.findData("regression"))
    assert dialog.summary_label.text() == (
        f"The Regression node '{model.name(reg)}' gets 16 training and 4 held-out examples, "
        "1 features, float targets from 1 to 4.8.")
    dialog.accept()
    params = model.params(reg)
    assert (params["function"], params["path"], params["target_column"]) == \
        ("file", str(p), "y")
    assert model.states()[reg].outputs == {"x": (None, 1), "target": (None, 1)}
    stack.undo()
    assert model.params(reg)["function"] == "linear"


def test_the_inspector_and_the_canvas_show_only_the_params_the_dataset_reads(make_window):
    w = make_window("xor_mlp")
    insp = w.inspector
    insp.set_node("data")
    shown = lambda: {n for n in w.model.spec("data").default_params()  # noqa: E731
                     if insp.editor(n).isVisibleTo(insp)}
    height = lambda: w.canvas.scene().node_item("data").boundingRect().height()  # noqa: E731
    assert shown() == {"dataset", "n_samples", "noise", "seed"}
    xor_height = height()
    insp.apply_param("dataset", "csv")
    assert shown() == {"dataset", "seed", "path", "input_columns", "target_column",
                       "val_fraction"}
    insp.apply_param("dataset", "text")
    assert shown() == {"dataset", "n_samples", "seed", "seq_len", "level", "min_count", "path"}
    assert height() > xor_height  # 7 param rows instead of 4, not all 14
    w.undo_stack.undo()
    w.undo_stack.undo()
    assert shown() == {"dataset", "n_samples", "noise", "seed"} and height() == xor_height


def test_a_project_whose_data_file_is_gone_opens_with_the_node_in_red(make_window, tmp_path):
    from test_files import write_project

    from playground.project import load

    write_csv(tmp_path / "toy.csv")
    path = write_project(tmp_path / "mine.json", {"dataset": "csv", "path": "toy.csv",
                                                  "input_columns": "x0, x1"}, 2, 2)
    (tmp_path / "toy.csv").unlink()
    w = make_window(load(path))
    state = w.model.states()["data"]
    assert state.status == "error" and "CSV file not found" in state.message
    w.inspector.set_node("data")
    assert w.inspector.status_label.isVisibleTo(w.inspector)
    assert w.inspector.status_label.text() == state.message
    write_csv(tmp_path / "toy.csv")  # put back (in another program, say)
    assert not w.model.states()["data"].ok  # nothing has looked yet
    assert w.data_file_check.check() == ["data"]  # as when the app becomes active again
    assert w.model.states()["data"].ok and not w.inspector.status_label.isVisibleTo(w.inspector)
    assert w.model.states()["fc1"].ok


def test_a_relative_path_typed_in_the_inspector_is_taken_from_the_project_folder(
        make_window, tmp_path):
    from test_files import write_project

    from playground.project import load

    write_csv(tmp_path / "toy.csv")
    write_csv(tmp_path / "other.csv", n=50)
    w = make_window(load(write_project(tmp_path / "mine.json", {"dataset": "csv",
                                                               "path": "toy.csv"}, 3, 2)))
    w.inspector.set_node("data")
    edit = w.inspector.editor("path").line_edit
    edit.setText("other.csv")
    edit.editingFinished.emit()
    assert w.model.params("data")["path"] == str(tmp_path / "other.csv")
    assert w.model.states()["data"].ok


def test_npz_keys_and_a_text_file(qtbot, tmp_path):
    from PySide6.QtGui import QUndoStack

    from playground.graph import GraphModel

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "arrays.npz", feats=rng.normal(size=(40, 3)), kind=np.arange(40) % 4,
             other=np.zeros(40))
    model = GraphModel()
    node = model.add_node("Dataset")
    stack = QUndoStack()
    dialog = DatasetDialog(model, stack, node)
    qtbot.addWidget(dialog)
    dialog.set_path(tmp_path / "arrays.npz", "npz")
    assert dialog.arrays_label.text().splitlines() == [
        "feats: shape (40, 3), float64", "kind: shape (40,), int64", "other: shape (40,), float64"]
    # no usual names: the largest array is the inputs, the first 1-D one as long the targets
    assert (dialog.x_key_combo.currentData(), dialog.y_key_combo.currentData()) == \
        ("feats", "kind")
    dialog.y_key_combo.setCurrentIndex(dialog.y_key_combo.findData("other"))
    assert dialog.summary_label.text() == \
        f"{tmp_path / 'arrays.npz'}: has one class only ('0'); classification needs at least two"
    dialog.y_key_combo.setCurrentIndex(dialog.y_key_combo.findData("kind"))
    assert "32 training and 8 held-out examples, 3 features, 4 classes: 0, 1, 2, 3" in \
        dialog.summary_label.text()
    dialog.accept()
    p = model.params(node)
    assert (p["dataset"], p["input_columns"], p["target_column"]) == ("npz", "feats", "kind")

    poem = tmp_path / "poem.txt"
    poem.write_text("to be or not to be, that is the question. " * 40, encoding="utf-8")
    dialog = DatasetDialog(model, stack, node)
    qtbot.addWidget(dialog)
    assert dialog.kind == "npz" and dialog.x_key_combo.currentData() == "feats"  # the node's
    dialog.set_path(poem, "text")
    assert dialog.text_preview.toPlainText().startswith("1,680 characters, 15 distinct.")
    assert "15 classes" in dialog.summary_label.text()
    dialog.accept()
    assert (model.params(node)["dataset"], model.params(node)["path"]) == ("text", str(poem))
    assert model.states()[node].outputs["x"] == (None, 64)

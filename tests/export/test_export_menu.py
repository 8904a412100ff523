"""File ▸ Export ONNX… and File ▸ Import ONNX… in the main window."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("pytestqt")


@pytest.fixture
def window(qtbot, tmp_path_factory, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from playground.ui.main_window import MainWindow

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path_factory.mktemp("settings")))
    errors = []
    monkeypatch.setattr(QMessageBox, "critical",
                        lambda parent, title, text, *a, **k: errors.append((title, text)))
    w = MainWindow("xor_mlp")
    w.confirm_discard = lambda: True
    w.errors_shown = errors
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()


def _file_menu_texts(w) -> list[str]:
    menu = w.menuBar().actions()[0].menu()
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_the_actions_sit_in_the_file_menu_before_quit(window):
    texts = _file_menu_texts(window)
    assert texts.index("Export &ONNX…") < texts.index("&Import ONNX…") < len(texts) - 1
    assert texts[-1] == window.quit_action.text()


def test_export_writes_the_sessions_current_weights(window, tmp_path):
    session = window._ensure_session()
    for _ in range(20):
        session.step()
    path = tmp_path / "xor.onnx"
    assert window.export_menu.export_onnx(path)
    proto = onnx.load(str(path))
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    np.testing.assert_array_equal(weights["fc1.weight"], session.weights()["fc1.weight"])
    assert "Exported" in window.last_message


def test_import_opens_the_model_and_a_bad_file_changes_nothing(window, tmp_path):
    from playground.export.onnx_export import to_onnx
    from playground.project import load

    good = tmp_path / "cnn.onnx"
    good.write_bytes(to_onnx(load("cnn_digits")).SerializeToString())
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"definitely not protobuf")
    before = window.model.to_dict()
    assert not window.export_menu.import_onnx(bad)
    assert window.errors_shown and window.errors_shown[-1][0] == "Cannot import ONNX"
    assert "not an ONNX model" in window.errors_shown[-1][1]
    assert window.model.to_dict() == before
    assert window.export_menu.import_onnx(good)
    types = {window.model.spec(n).type for n in window.model.nodes()}
    assert {"Input", "Conv2d", "MaxPool2d", "Linear"} <= types
    assert window.project.weights and "conv1.weight" in window.project.weights
    assert window.project.path is None  # a new, unsaved document


def test_export_refusal_shows_an_error_box(window, tmp_path, monkeypatch):
    from playground.export import onnx_export

    monkeypatch.delitem(onnx_export.MAPPERS, "Tanh")
    assert not window.export_menu.export_onnx(tmp_path / "x.onnx")
    assert window.errors_shown[-1][0] == "Cannot export ONNX"
    assert "Tanh" in window.errors_shown[-1][1]
    assert not (tmp_path / "x.onnx").exists()


def test_import_dialog_with_a_dataset_makes_a_trainable_project(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from playground.export.onnx_export import to_onnx
    from playground.project import load

    path = tmp_path / "digits.onnx"
    path.write_bytes(to_onnx(load("digits_mlp")).SerializeToString())
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    asked = []

    def get_item(parent, title, label, items, current, editable):
        asked.append(items)
        return "digits", True
    monkeypatch.setattr(QInputDialog, "getItem", get_item)
    assert window.export_menu.import_onnx_dialog()
    assert asked and "digits" in asked[0] and asked[0][0].startswith("(none")
    types = sorted(window.model.spec(n).type for n in window.model.nodes())
    assert types == ["CrossEntropyLoss", "Dataset", "Linear", "Linear", "ReLU"]
    session = window._ensure_session()
    assert session is not None and np.isfinite(session.step()["loss"])
    assert "it trains on digits" in window.last_message

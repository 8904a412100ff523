"""Train ▸ Compare Runs…: the dialog trains its rows and shows their curves and run table."""

from __future__ import annotations

import csv

import pytest

from playground.project import load
from playground.ui.compare import (CompareDialog, SettingError, default_runs, format_setting,
                                   parse_setting)


def test_settings_read_as_json_values_or_text_and_round_trip():
    assert parse_setting("training.lr=0.1, training.optimizer=SGD, node.fc1.bias=false") == {
        "training.lr": 0.1, "training.optimizer": "SGD", "node.fc1.bias": False}
    assert parse_setting("  ") == {}
    with pytest.raises(SettingError, match="'lr' is not key=value"):
        parse_setting("training.lr=0.1, lr")
    overrides = {"training.lr": 0.1, "training.optimizer": "SGD", "node.fc1.bias": False}
    assert parse_setting(format_setting(overrides)) == overrides


def test_the_dialog_runs_two_settings_and_fills_curves_and_table(qtbot, tmp_path):
    dialog = CompareDialog(load("xor_mlp"))
    qtbot.addWidget(dialog)
    assert dialog.runs_table.rowCount() == 2  # as saved, and Adam against its SGD
    assert [c.label for c in dialog.configs()] == [c.label for c in default_runs(load("xor_mlp"))]
    dialog.steps_spin.setValue(40)
    dialog.start()
    assert dialog.wait(timeout=60)
    assert [r.config.label for r in dialog.results] == ["as saved (SGD lr=0.1)", "Adam lr=0.01"]
    assert dialog.result_table.rowCount() == 2
    assert dialog.result_table.item(1, 1).text() == "training.optimizer=Adam, training.lr=0.01"
    assert len(dialog.loss_plot.listDataItems()) == 2
    assert len(dialog.held_plot.listDataItems()) == 2
    assert "best val_accuracy" in dialog.status.text()
    out = dialog.export_csv(tmp_path / "runs.csv")
    rows = list(csv.reader(out.open()))
    assert rows[0][:3] == ["run", "setting", "final loss"] and len(rows) == 3
    assert float(rows[1][2]) == dialog.results[0].final["loss"]


def test_a_bad_row_is_refused_with_its_name_and_nothing_runs(qtbot):
    dialog = CompareDialog(load("xor_mlp"))
    qtbot.addWidget(dialog)
    dialog.runs_table.item(1, 1).setText("training.lr=-3")
    dialog.start()
    assert dialog.wait(timeout=60)
    assert "training.lr" in dialog.status.text() and "Adam lr=0.01" in dialog.status.text()
    assert dialog.results == []
    dialog.runs_table.item(1, 1).setText("training.lr")
    dialog.start()
    assert "row 2" in dialog.status.text() and dialog.results == []


def test_the_train_menu_opens_it_on_the_open_document(qtbot):
    from playground.ui.main_window import MainWindow

    window = MainWindow("perceptron_xor", remember_layout=False)
    qtbot.addWidget(window)
    assert window.compare_action.shortcut().toString() == "Ctrl+Shift+R"
    window.compare_action.trigger()
    dialog = window.compare_dialog
    assert dialog.project.name == "perceptron_xor" and dialog.project.weights is None
    dialog.close()


def test_a_glob_row_runs_and_a_glob_matching_nothing_is_refused(qtbot):
    dialog = CompareDialog(load("xor_mlp"))
    qtbot.addWidget(dialog)
    assert "node.tanh_small*.init=xavier_normal" in dialog.intro.text()
    dialog.runs_table.item(1, 1).setText("node.fz*.init=xavier_normal")
    dialog.start()
    assert dialog.wait(timeout=60)
    assert "no node id matches the glob 'fz*'" in dialog.status.text()
    assert dialog.results == []
    dialog.runs_table.item(1, 1).setText("node.fc*.init=xavier_normal")
    dialog.steps_spin.setValue(5)
    dialog.start()
    assert dialog.wait(timeout=60)
    assert [r.config.overrides for r in dialog.results] == [
        {}, {"node.fc*.init": "xavier_normal"}]
    assert dialog.result_table.item(1, 1).text() == "node.fc*.init=xavier_normal"

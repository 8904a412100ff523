"""The non-finite guard in the window (issue 13): a NaN pauses training, the node it came
from is selected on the canvas and named in the status bar, and the weights stay finite."""

from __future__ import annotations

import numpy as np
import pytest

from playground.project import Project

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


def _log_of_negative() -> Project:
    nodes = [{"id": "data", "type": "Dataset", "params": {"dataset": "xor"},
              "pos": [0, 0]},
             {"id": "fc", "type": "Linear", "params": {"in_features": 2, "out_features": 2},
              "pos": [220, 0]},
             {"id": "log", "type": "Log", "params": {}, "pos": [440, 0]},
             {"id": "loss", "type": "CrossEntropyLoss", "params": {}, "pos": [660, 0]}]
    wire = [("data", "x", "fc", "input"), ("fc", "output", "log", "input"),
            ("log", "output", "loss", "input"), ("data", "target", "loss", "target")]
    edges = [{"src": a, "src_port": b, "dst": c, "dst_port": d} for a, b, c, d in wire]
    return Project(name="log_of_negative", graph={"nodes": nodes, "edges": edges})


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_nan_pauses_training_and_selects_the_node_it_came_from(make_window, qtbot):
    w = make_window(_log_of_negative())
    scene = w.canvas.canvas_scene
    assert scene.selected_node_ids() == []
    w.train()
    qtbot.waitUntil(lambda: scene.selected_node_ids() == ["log"], timeout=20_000)
    assert "Log 'log'" in w.last_message and "diverged" in w.last_message
    assert w.statusBar().currentMessage() == w.last_message
    assert not w.worker.running and w.worker.snapshot.step == 0
    assert w.inspector.node_id == "log"  # the inspector follows the selection
    qtbot.waitUntil(lambda: w.train_action.isEnabled(), timeout=HANG_MS)  # Train again works
    weights = w.worker.call(lambda s: s.weights()).result(timeout=10)
    assert all(np.isfinite(v).all() for v in weights.values())

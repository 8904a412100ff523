"""BatchNorm's running statistics travel with the weights: saved, reopened, kept across a
live edit, so a reopened model evaluates as it did."""

from __future__ import annotations

import numpy as np

from playground.engine import Tensor, no_grad
from playground.project import Project, load, save
from playground.session import Session

GRAPH = {
    "nodes": [
        {"id": "data", "type": "Dataset", "params": {"dataset": "digits"}},
        {"id": "fc1", "type": "Linear", "params": {"in_features": 64, "out_features": 32}},
        {"id": "bn", "type": "BatchNorm1d", "params": {"num_features": 32}},
        {"id": "act", "type": "ReLU", "params": {}},
        {"id": "fc2", "type": "Linear", "params": {"in_features": 32, "out_features": 10}},
        {"id": "loss", "type": "CrossEntropyLoss", "params": {}},
    ],
    "edges": [
        {"src": "data", "src_port": "x", "dst": "fc1", "dst_port": "input"},
        {"src": "fc1", "src_port": "output", "dst": "bn", "dst_port": "input"},
        {"src": "bn", "src_port": "output", "dst": "act", "dst_port": "input"},
        {"src": "act", "src_port": "output", "dst": "fc2", "dst_port": "input"},
        {"src": "fc2", "src_port": "output", "dst": "loss", "dst_port": "input"},
        {"src": "data", "src_port": "target", "dst": "loss", "dst_port": "target"},
    ],
}


def _logits(session: Session, x: np.ndarray) -> np.ndarray:
    with session.inference(), no_grad():
        trace = session.run(session.feeds(x, np.zeros(len(x), np.int64)))
    return trace["fc2"]["output"].data


def test_running_statistics_are_saved_and_reopened(tmp_path):
    s = Session(Project(name="bn", graph=GRAPH), timeline=False)
    s.train(30)
    bn = s.program.call("bn").module
    assert bn.num_batches_tracked.data == 30
    assert not np.allclose(bn.running_mean.data, 0)  # moved away from the fresh zeros
    weights = s.weights()
    assert weights["bn.num_batches_tracked"].dtype == np.float64  # the file holds floats
    x = s.dataset.val.input[:16]
    before = _logits(s, x)
    path = save(s.to_project(), tmp_path / "bn.json")
    reopened = Session(load(path), timeline=False)
    rbn = reopened.program.call("bn").module
    np.testing.assert_array_equal(rbn.running_mean.data, bn.running_mean.data)
    np.testing.assert_array_equal(rbn.running_var.data, bn.running_var.data)
    assert rbn.num_batches_tracked.data.dtype == np.int64 and rbn.num_batches_tracked.data == 30
    np.testing.assert_array_equal(_logits(reopened, x), before)


def test_a_live_edit_keeps_the_statistics_of_an_unchanged_batch_norm():
    s = Session(Project(name="bn", graph=GRAPH), timeline=False)
    s.train(10)
    mean = s.program.call("bn").module.running_mean.data.copy()
    graph = {**GRAPH, "nodes": [dict(n) for n in GRAPH["nodes"]]}
    graph["nodes"][3] = {"id": "act", "type": "Tanh", "params": {}}
    s.set_graph(graph)
    np.testing.assert_array_equal(s.program.call("bn").module.running_mean.data, mean)


def test_a_file_without_statistics_still_loads_its_parameters(tmp_path):
    s = Session(Project(name="bn", graph=GRAPH), timeline=False)
    s.train(10)
    old_style = {k: v for k, v in s.weights().items() if not k.startswith("bn.running")
                 and k != "bn.num_batches_tracked"}
    reopened = Session(Project(name="bn", graph=GRAPH, weights=old_style), timeline=False)
    np.testing.assert_array_equal(reopened.program.call("fc1").module.weight.data,
                                  s.program.call("fc1").module.weight.data)
    np.testing.assert_array_equal(reopened.program.call("bn").module.running_mean.data, 0)

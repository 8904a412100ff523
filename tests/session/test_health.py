"""Gradient health: dead ReLUs, saturated sigmoids, gradient norms per node and per wire,
update/weight ratios; probing never changes what training computes."""

from __future__ import annotations

import numpy as np
import pytest

from playground.project import load
from playground.session import Session
from playground.session.health import dead_fraction, histogram, saturated_fraction

XOR = ("data", "Dataset", {"dataset": "xor", "n_samples": 200, "noise": 0.0, "seed": 0})


def test_dead_fraction_counts_units_zero_for_the_whole_batch():
    y = np.abs(np.random.default_rng(0).standard_normal((16, 4))) + 0.1
    y[:, 2] = 0.0
    assert dead_fraction(y) == 0.25
    y[3, 2] = 0.5  # alive for one example: not dead
    assert dead_fraction(y) == 0.0
    conv = np.ones((8, 3, 5, 5))
    conv[:, 1] = 0.0  # one dead channel of three
    assert dead_fraction(conv) == pytest.approx(1 / 3)
    seq = np.ones((4, 6, 10))
    seq[..., :5] = 0.0  # half the features dead at every position
    assert dead_fraction(seq) == 0.5


def test_saturated_fraction_is_within_one_percent_of_the_bounds():
    sig = np.array([0.005, 0.0101, 0.5, 0.989, 0.995, 1.0])
    assert saturated_fraction(sig, 0.0, 1.0) == pytest.approx(3 / 6)
    tanh = np.array([-0.999, -0.97, 0.0, 0.981, 0.99])
    assert saturated_fraction(tanh, -1.0, 1.0) == pytest.approx(3 / 5)


def test_histogram_bins_like_numpy_and_sums_to_one():
    x = np.random.default_rng(1).standard_normal(3000).astype(np.float32)
    h = histogram(x, bins=16)
    ref, _ = np.histogram(x, bins=16, range=(h.lo, h.hi))
    np.testing.assert_allclose(h.counts, ref / ref.sum(), atol=1e-6)
    assert h.lo == x.min() and h.hi == x.max() and h.edges.shape == (17,)
    assert histogram(np.array([np.nan, np.inf])).counts.sum() == 0


def _mlp(project, act, weights, training=None):
    return Session(project(
        [XOR, ("fc1", "Linear", {"in_features": 2, "out_features": len(weights["fc1.bias"])}),
         ("act", act, {}),
         ("fc2", "Linear", {"in_features": len(weights["fc1.bias"]), "out_features": 2}),
         ("loss", "CrossEntropyLoss", {})],
        ["data.x -> fc1.input", "fc1.output -> act.input", "act.output -> fc2.input",
         "fc2.output -> loss.input", "data.target -> loss.target"],
        training=training, weights=weights), timeline=False)


def test_a_relu_with_a_known_dead_unit(project):
    # units 0, 1, 3 fire somewhere on the XOR square; unit 2's bias of -100 keeps it off
    s = _mlp(project, "ReLU", {"fc1.weight": [[1, 0], [0, 1], [1, 1], [-1, 0]],
                               "fc1.bias": [0, 0, -100, 0]})
    s.set_health(True)
    s.step()
    h = s.health
    assert h.step == 1 and h.nodes["act"].dead == 0.25
    assert h.nodes["fc1"].dead is None and h.nodes["act"].saturated is None
    # no gradient reaches the dead unit's weights
    g = s.program.call("fc1").module.weight.grad
    assert np.all(g[2] == 0) and np.any(g[0] != 0)


def test_a_saturated_sigmoid(project):
    # |x| >= 0.05 on noise-free XOR, so sigmoid(200 x) is within 1e-4 of 0 or 1; a zero
    # weight row sits at 0.5
    s = _mlp(project, "Sigmoid", {"fc1.weight": [[200, 0], [0, 200], [0, 0]],
                                  "fc1.bias": [0, 0, 0]})
    s.set_health(True)
    s.step()
    assert s.health.nodes["act"].saturated == pytest.approx(2 / 3)
    assert s.health.nodes["act"].dead is None


def test_gradient_norms_per_node_and_update_ratio_by_hand(project):
    s = _mlp(project, "Tanh", {"fc1.weight": [[1, 0], [0, 1], [1, 1]], "fc1.bias": [0, 0, 0]},
             training={"optimizer": "SGD", "lr": 0.1, "momentum": 0.0})
    s.set_health(True)
    s.step()
    fc1 = s.program.call("fc1").module
    grad = np.concatenate([fc1.weight.grad.ravel(), fc1.bias.grad.ravel()])
    theta = np.concatenate([fc1.weight.data.ravel(), fc1.bias.data.ravel()])
    n = s.health.nodes["fc1"]
    assert n.param_grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-5)
    # plain SGD moves θ by lr * g
    assert n.update_ratio == pytest.approx(0.1 * np.linalg.norm(grad) / np.linalg.norm(theta),
                                           rel=1e-4)
    assert s.health.nodes["loss"].grad_norm == pytest.approx(1.0)  # dL/dL
    assert s.health.nodes["data"].grad_norm is None  # data carries no gradient
    assert ("data", "x", "fc1", "input") not in s.health.wires


def test_wire_norms_split_a_fanout_like_the_backward_records(project):
    nodes = [XOR, ("fc1", "Linear", {"in_features": 2, "out_features": 6}), ("t", "Tanh", {}),
             ("a", "Linear", {"in_features": 6, "out_features": 2}),
             ("b", "Linear", {"in_features": 6, "out_features": 2}),
             ("la", "CrossEntropyLoss", {}), ("lb", "CrossEntropyLoss", {})]
    edges = ["data.x -> fc1.input", "fc1.output -> t.input", "t.output -> a.input",
             "t.output -> b.input", "a.output -> la.input", "b.output -> lb.input",
             "data.target -> la.target", "data.target -> lb.target"]
    probed = Session(project(nodes, edges), timeline=False)
    probed.set_health(True)
    probed.step()
    wires = probed.health.wires
    # the same first batch and weights, differentiated op by op
    ref = Session(project(nodes, edges), timeline=False)
    ref.batch = ref.loader.next_batch()
    recs = {r.node: r for r in ref.backward_steps()}
    per_wire = {}
    for node in ("a", "b"):
        (name,) = [k for k, w in recs[node].wires.items() if w[0] == "t"]
        per_wire[node] = recs[node].downstream[name]
        assert wires[("t", "output", node, "input")] == pytest.approx(
            np.linalg.norm(per_wire[node]), rel=1e-5)
    total = np.linalg.norm(per_wire["a"] + per_wire["b"])
    assert probed.health.nodes["t"].grad_norm == pytest.approx(total, rel=1e-5)
    assert wires[("fc1", "output", "t", "input")] == pytest.approx(
        probed.health.nodes["fc1"].grad_norm, rel=1e-6)


def test_probing_every_step_trains_exactly_like_plain_steps():
    plain = Session(load("spiral_mlp"), timeline=False)
    probed = Session(load("spiral_mlp"), timeline=False)
    probed.set_health(True)
    for _ in range(8):
        a, b = plain.step(), probed.step()
        assert a["loss"] == b["loss"]
    assert probed.health is not None and plain.health is None
    for k, v in plain.weights().items():
        np.testing.assert_array_equal(v, probed.weights()[k])

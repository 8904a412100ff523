"""Log, Exp, Pow, Parameter, Constant and the Regression data node: shapes inferred as the
run gives them (a Parameter (1,) broadcasts against (N, 1)), messages a student can act on,
gradients that agree with central differences through the Session, and float targets that
wire into the regression losses but not into CrossEntropyLoss."""

from __future__ import annotations

import numpy as np
import pytest

from playground.engine import Tensor, manual_seed
from playground.graph import REGISTRY, GraphModel, compile
from playground.graph import PortKindError
from playground.project.format import from_dict
from playground.session import Session, SessionError


def _graph(loss="MSELoss", function="log", w2_init="constant", exponent=None):
    m = GraphModel()
    data = m.add_node("Regression", params={"function": function, "n_samples": 64,
                                            "noise": 0.05}, node_id="data")
    w2 = m.add_node("Parameter", params={"init": w2_init, "value": 0.5}, node_id="w2")
    add = m.add_node("Add", node_id="add")
    log = m.add_node("Log", node_id="log")
    w1 = m.add_node("Parameter", params={"init": "constant", "value": 1.0}, node_id="w1")
    mul = m.add_node("Multiply", node_id="mul")
    loss = m.add_node(loss, node_id="loss")
    m.connect(data, "x", add, "input")
    m.connect(w2, "output", add, "other")
    m.connect(add, "output", log, "input")
    last = log
    if exponent is not None:
        pw = m.add_node("Pow", params={"exponent": exponent}, node_id="pow")
        ex = m.add_node("Exp", node_id="exp")
        m.connect(log, "output", pw, "input")
        m.connect(pw, "output", ex, "input")
        last = ex
    m.connect(last, "output", mul, "input")
    m.connect(w1, "output", mul, "other")
    m.connect(mul, "output", loss, "input")
    m.connect(data, "target", loss, "target")
    return m


def _session(model, steps=300, seed=0):
    project = from_dict({"schema_version": 2, "name": "t", "graph": model.to_dict(),
                         "training": {"optimizer": "SGD", "lr": 0.1, "batch_size": 32,
                                      "steps": steps, "seed": seed}})
    return Session(project, timeline=False)


def test_inferred_shapes_agree_with_the_run_and_the_parameter_broadcasts():
    m = _graph(exponent=2.0)
    assert m.errors() == {}
    assert m.state("w1").outputs["output"] == (1,)
    assert m.state("add").outputs["output"] == (None, 1)
    assert m.state("mul").outputs["output"] == (None, 1)
    s = _session(m)
    x, y = s.current_batch()
    trace = s.run(s.feeds(x, y))
    for node in ("add", "log", "pow", "exp", "mul"):
        assert trace[node]["output"].shape == (len(x), 1), node
    w2 = trace["w2"]["output"].data
    np.testing.assert_allclose(trace["log"]["output"].data, np.log(x + w2), rtol=1e-6)
    np.testing.assert_allclose(trace["exp"]["output"].data, np.exp(np.log(x + w2) ** 2),
                               rtol=1e-5)


def test_parameter_inits_and_the_summary_counts_its_entries():
    from playground.graph.nodes.primitives import ParameterModule
    manual_seed(0)
    assert np.all(ParameterModule((3,), "zeros").weight.data == 0)
    assert np.all(ParameterModule((3,), "ones").weight.data == 1)
    assert np.all(ParameterModule((2, 2), "constant", value=-1.5).weight.data == -1.5)
    normal = ParameterModule((20000,), "normal", value=1.0, std=0.5).weight.data
    assert abs(normal.mean() - 1.0) < 0.02 and abs(normal.std() - 0.5) < 0.02
    uni = ParameterModule((20000,), "uniform", value=2.0, std=0.3).weight.data
    assert abs(uni.mean() - 2.0) < 0.02 and abs(uni.std() - 0.3) < 0.01
    assert uni.min() >= 2.0 - 0.3 * 3 ** 0.5 and uni.max() <= 2.0 + 0.3 * 3 ** 0.5
    with pytest.raises(ValueError, match="init must be one of"):
        ParameterModule((1,), "xavier")
    spec = REGISTRY["Parameter"]
    assert spec.cost({"shape": (2, 3)}, {}, {}).params == 6
    assert REGISTRY["Constant"].cost({"shape": (2, 3)}, {}, {}).params == 0


def test_constant_is_fixed_and_has_no_gradient():
    m = GraphModel()
    data = m.add_node("Regression", params={"n_samples": 16}, node_id="data")
    c = m.add_node("Constant", params={"value": 3.0, "shape": (1,)}, node_id="c")
    fc = m.add_node("Linear", params={"in_features": 1, "out_features": 1}, node_id="fc")
    add = m.add_node("Add", node_id="add")
    loss = m.add_node("L1Loss", node_id="loss")
    m.connect(data, "x", fc, "input")
    m.connect(fc, "output", add, "input")
    m.connect(c, "output", add, "other")
    m.connect(add, "output", loss, "input")
    m.connect(data, "target", loss, "target")
    s = _session(m)
    assert list(s.program.call("c").module.parameters()) == []
    x, y = s.current_batch()
    trace = s.run(s.feeds(x, y))
    np.testing.assert_allclose(trace["add"]["output"].data - trace["fc"]["output"].data, 3.0,
                               rtol=1e-6)
    assert "c" not in {k.split(".")[0] for k in s.program.state_dict()}


@pytest.mark.parametrize("exponent", [2.0, 3.0, 0.5])
def test_gradients_through_log_exp_pow_and_parameters_agree_with_central_differences(
        exponent):
    s = _session(_graph(exponent=exponent))
    for node in ("w1", "w2", "add", "log", "pow", "exp", "mul"):
        check = s.gradcheck_node(node)
        assert check.passed, (node, check.verdict, check.max_error)
        assert check.checked > 0, node


def test_pow_refuses_exponent_zero_with_a_fix_and_builds_a_square():
    m = _graph(exponent=0.0)
    msg = m.errors()["pow"]
    assert "exponent=0" in msg and "Set exponent=2" in msg
    square = REGISTRY["Pow"].build({"exponent": 2.0}, {})
    out = square(input=Tensor(np.array([[-3.0], [2.0]], np.float32)))
    np.testing.assert_array_equal(out.data, [[9.0], [4.0]])  # negative x stays finite


def test_regression_targets_wire_into_regression_losses_only():
    for loss in ("MSELoss", "L1Loss", "SmoothL1Loss"):
        compile(_graph(loss=loss))  # float (N, 1) targets: accepted
    m = GraphModel()
    data = m.add_node("Regression", node_id="data")
    ce = m.add_node("CrossEntropyLoss", node_id="ce")
    with pytest.raises(PortKindError, match="needs class indices"):
        m.connect(data, "target", ce, "target")


def test_regression_node_reports_bad_data_settings_and_session_needs_one_source():
    m = _graph()
    m.set_param("data", "function", "sine")
    assert m.state("data").outputs["target"] == (None, 1)
    m2 = _graph()
    m2.add_node("Dataset", node_id="extra")
    with pytest.raises(SessionError, match="2 Dataset"):
        _session(m2)


def test_tiny_model_trains_to_the_true_weights():
    s = _session(_graph())
    s.train(300)
    sd = s.program.state_dict()
    assert abs(float(sd["w1.weight"][0]) - 2.0) < 0.1
    assert abs(float(sd["w2.weight"][0]) - 1.0) < 0.05


def test_a_graph_with_a_regression_node_trains_and_one_with_an_input_does_not():
    from playground.graph.nodes.regression import has_data_source
    assert has_data_source(_graph())
    m = GraphModel()
    m.add_node("Input", params={"shape": (1,)}, node_id="x")
    assert not has_data_source(m)

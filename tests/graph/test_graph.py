"""GraphModel, wiring errors, shape inference, compile and summary on small hand-built graphs."""

import numpy as np
import pytest

from playground.engine import Tensor
from playground.graph import (REGISTRY, CycleError, Edge, GraphFormatError, GraphModel,
                              ParamError, PortKindError, PortTakenError, compile, summary)


def mlp(hidden=8, in_features=2, dataset="xor", classes=2):
    m = GraphModel()
    m.add_node("Dataset", {"dataset": dataset, "n_samples": 40}, node_id="data")
    m.add_node("Linear", {"in_features": in_features, "out_features": hidden}, node_id="fc1")
    m.add_node("Tanh", node_id="act")
    m.add_node("Linear", {"in_features": hidden, "out_features": classes}, node_id="fc2")
    m.add_node("CrossEntropyLoss", node_id="loss")
    m.connect("data", "x", "fc1", "input")
    m.connect("fc1", "output", "act", "input")
    m.connect("act", "output", "fc2", "input")
    m.connect("fc2", "output", "loss", "input")
    m.connect("data", "target", "loss", "target")
    return m


def test_shapes_flow_through_a_valid_mlp():
    m = mlp()
    assert m.errors() == {}
    assert m.state("data").outputs == {"x": (None, 2), "target": (None,)}
    assert m.state("fc1").outputs == {"output": (None, 8)}
    assert m.state("fc2").outputs == {"output": (None, 2)}
    assert m.state("loss").outputs == {"output": ()}


def test_linear_in_features_mismatch_names_both_nodes_and_the_fix():
    m = mlp()
    m.set_param("fc2", "in_features", 5)
    state = m.state("fc2")
    assert state.status == "error"
    assert state.message == ("Linear 'fc2' expects in_features=5, got 8 from 'act'. "
                             "Set in_features=8.")
    assert state.fix == ("in_features", 8)
    assert m.state("loss").status == "blocked"
    m.set_param("fc1", "out_features", 5)  # now fc1 -> act -> fc2 gives 5
    assert m.errors() == {}


def test_linear_after_linear_suggests_the_upstream_param():
    m = GraphModel()
    m.add_node("Dataset", {"dataset": "xor"}, node_id="data")
    m.add_node("Linear", {"in_features": 2, "out_features": 128}, node_id="fc1")
    m.add_node("Linear", {"in_features": 64, "out_features": 10}, node_id="fc2")
    m.connect("data", "x", "fc1", "input")
    m.connect("fc1", "output", "fc2", "input")
    assert m.state("fc2").message == ("Linear 'fc2' expects in_features=64, got 128 from 'fc1'. "
                                      "Set in_features=128, or change fc1.out_features.")


def test_output_to_output_is_refused_with_a_message():
    m = mlp()
    with pytest.raises(PortKindError) as err:
        m.connect("fc1", "output", "fc2", "output")
    assert err.value.message == ("Cannot wire Linear 'fc1'.output to Linear 'fc2'.output: both "
                                 "are outputs. Drag from an output (right side) to an input "
                                 "(left side).")
    assert err.value.node == "fc2" and err.value.port == "output"


def test_a_wire_that_closes_a_cycle_is_refused():
    m = GraphModel()
    a = m.add_node("Linear", {"in_features": 4, "out_features": 4}, node_id="a")
    b = m.add_node("ReLU", node_id="b")
    m.connect(a, "output", b, "input")
    with pytest.raises(CycleError) as err:
        m.connect(b, "output", a, "input")
    assert err.value.message == ("Wiring 'b' into 'a' would close a cycle: 'a' already feeds "
                                 "'b'. Networks here must be acyclic.")
    assert len(m.edges()) == 1


def test_an_input_takes_one_wire_and_kinds_must_match():
    m = mlp()
    m.add_node("Tanh", node_id="t2")
    with pytest.raises(PortTakenError, match="already has a wire from 'data'.x"):
        m.connect("t2", "output", "fc1", "input")
    with pytest.raises(PortKindError, match="needs a float tensor, but 'data'.target carries "
                                            "class indices"):
        m.connect("data", "target", "t2", "input")


def test_cross_entropy_checks_class_count_against_the_dataset():
    m = mlp(dataset="digits", in_features=64, classes=3)
    assert m.state("loss").message == (
        "CrossEntropyLoss 'loss' gets 3 class scores from 'fc2', but the targets from 'data' "
        "have 10 classes. Set fc2.out_features=10.")


def test_unwired_input_says_what_to_connect():
    m = GraphModel()
    m.add_node("ReLU", node_id="r")
    assert m.state("r").message == "ReLU 'r' has nothing wired into its 'input' port: connect " \
                                   "a tensor."


def test_events_fire_for_every_edit():
    m = GraphModel()
    seen = []
    m.node_added.connect(lambda n: seen.append(("add", n)))
    m.edge_added.connect(lambda e: seen.append(("edge", str(e))))
    m.param_changed.connect(lambda n, k, v: seen.append(("param", n, k, v)))
    m.node_removed.connect(lambda n: seen.append(("remove", n)))
    m.edge_removed.connect(lambda e: seen.append(("unedge", str(e))))
    a = m.add_node("Linear", {"in_features": 2, "out_features": 3})
    b = m.add_node("ReLU")
    m.connect(a, "output", b, "input")
    m.set_param(a, "out_features", 4)
    m.remove_node(a)
    assert (a, b) == ("linear_1", "relu_1")
    assert seen == [("add", "linear_1"), ("add", "relu_1"),
                    ("edge", "linear_1.output -> relu_1.input"),
                    ("param", "linear_1", "out_features", 4),
                    ("unedge", "linear_1.output -> relu_1.input"), ("remove", "linear_1")]


def test_remove_and_restore_bring_back_the_wires():
    m = mlp()
    before = m.to_dict()
    record = m.remove_node("act")
    assert "act" not in m and len(m.edges()) == 3
    m.restore_node(record)
    after = m.to_dict()
    assert sorted(map(str, after["edges"])) == sorted(map(str, before["edges"]))
    assert m.errors() == {}


def test_bad_param_values_name_the_field():
    m = mlp()
    with pytest.raises(ParamError, match=r"fc1.out_features must be ≥ 1, got 0"):
        m.set_param("fc1", "out_features", 0)
    with pytest.raises(ParamError, match="must be one of xor, circles"):
        m.set_param("data", "dataset", "mnist")
    assert m.params("fc1")["out_features"] == 8


def test_round_trip_and_format_errors():
    m = mlp()
    again = GraphModel.from_dict(m.to_dict())
    assert again.to_dict() == m.to_dict()
    bad = m.to_dict()
    bad["nodes"][1]["type"] = "Lineer"
    with pytest.raises(GraphFormatError) as err:
        GraphModel.from_dict(bad)
    assert err.value.field == "graph.nodes[1].type"
    assert "unknown node type 'Lineer'" in str(err.value)


def test_compile_runs_forward_and_backward_and_names_params_by_node():
    m = mlp()
    program = compile(m)
    assert [c.node_id for c in program.calls] == ["data", "fc1", "act", "fc2", "loss"]
    names = [n for n, _ in program.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    x = Tensor(np.array([[0.5, -0.5], [1.0, 1.0], [-1.0, 0.2]], dtype=np.float32))
    y = Tensor(np.array([0, 1, 1]))
    trace = program.run({"data": {"x": x, "target": y}})
    p = dict(program.named_parameters())
    h = np.tanh(x.data @ p["fc1.weight"].data.T + p["fc1.bias"].data)
    z = h @ p["fc2.weight"].data.T + p["fc2.bias"].data
    lse = np.log(np.exp(z).sum(1))
    expected = np.mean(lse - z[np.arange(3), y.data])
    assert trace["loss"]["output"].data == pytest.approx(expected, rel=1e-5)
    trace["loss"]["output"].backward()
    assert p["fc1.weight"].grad.shape == (8, 2)
    assert np.abs(p["fc2.bias"].grad).sum() > 0


def test_compile_refuses_a_graph_with_errors():
    m = mlp()
    m.set_param("fc2", "in_features", 3)
    from playground.graph import CompileError
    with pytest.raises(CompileError, match="expects in_features=3, got 8") as err:
        compile(m)
    assert set(err.value.errors) == {"fc2", "loss"}


def test_summary_counts_params_and_macs_with_formulas():
    m = mlp(hidden=128, in_features=64, dataset="digits", classes=10)
    s = summary(m)
    rows = {r.node: r for r in s.rows}
    assert rows["fc1"].params == 64 * 128 + 128
    assert rows["fc1"].macs == 64 * 128
    assert rows["fc1"].params_formula == "in_features*out_features + out_features = 64*128 + 128"
    assert rows["fc2"].params == 128 * 10 + 10
    assert rows["fc1"].output_shape == "(N, 128)"
    assert s.total_params == 9610 and s.total_macs == 9472
    assert s.param_bytes == 38440
    j = s.to_json()
    assert set(j) == {"rows", "total_params", "total_macs"}
    assert set(j["rows"][0]) == {"node", "type", "output_shape", "params", "macs"}


def test_every_registered_type_has_ports_params_and_docs():
    for spec in REGISTRY:
        assert spec.description, spec.type
        for p in spec.params:
            assert p.doc and p.coerce(p.default) == p.default, (spec.type, p.name)


def test_input_to_input_and_backwards_wires_are_refused():
    m = mlp()
    with pytest.raises(PortKindError) as err:
        m.connect("act", "input", "fc2", "input")
    assert err.value.message.startswith("Cannot wire Tanh 'act'.input to Linear 'fc2'.input: "
                                        "both are inputs.")
    with pytest.raises(PortKindError, match="runs from an input to an output"):
        m.connect("fc2", "input", "act", "output")

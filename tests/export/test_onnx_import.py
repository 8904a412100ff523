"""ONNX import: our presets round-trip (preset -> ONNX -> project -> same outputs), a model
trained in PyTorch and exported by torch's exporter opens here and steps forward and
backward, and bad files are refused with a message naming what is wrong."""

from __future__ import annotations

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from playground.engine import Tensor, manual_seed, no_grad  # noqa: E402
from playground.export.onnx_export import build_program, to_onnx  # noqa: E402
from playground.export.onnx_import import OnnxImportError, import_onnx  # noqa: E402
from playground.graph import REGISTRY, GraphModel, compile  # noqa: E402
from playground.project import load, save  # noqa: E402
from playground.session import Session  # noqa: E402
from test_onnx_export import _recipe_presets, _supervised_presets  # noqa: E402


def _inputs(project) -> list[str]:
    return [n["id"] for n in project.graph["nodes"] if n["type"] == "Input"]


def _run(project, x, train=False):
    program = build_program(project)
    program.train(train)
    (iid,) = _inputs(project)
    return program, program.run({iid: {"output": Tensor(x)}})


def _positions_distinct(project):
    pos = [tuple(n["pos"]) for n in project.graph["nodes"]]
    return len(set(pos)) == len(pos)


def _feeds(project, x, y) -> dict:
    """What each source node of an imported project is fed: its Input nodes the graph
    input of their name, a Dataset node (teacher forcing reads its target) the batch."""
    feeds = {}
    for node in project.graph["nodes"]:
        if node["type"] == "Input":
            value = x if node["name"] == "x" else y
            feeds[node["id"]] = {"output": Tensor(value.astype(
                np.int64 if node["params"]["dtype"] == "int64" else np.float32))}
        elif node["type"] == "Dataset":
            feeds[node["id"]] = {"x": Tensor(x), "target": Tensor(y)}
    return feeds


def _model_types(project) -> list[str]:
    from playground.graph.nodes.regression import DATA_SOURCES

    return sorted(n["type"] for n in project.graph["nodes"]
                  if n["type"] not in (*DATA_SOURCES, "Input") and
                  not REGISTRY[n["type"]].is_loss)


@pytest.mark.parametrize("preset", _supervised_presets())
def test_trained_preset_round_trips(preset, tmp_path):
    """preset -> ONNX -> project: the same nodes (ShiftRight, attention, recurrent layers
    put back whole), the same ids and the same outputs."""
    from playground.export.onnx_import import import_model

    session = Session(load(preset), timeline=False)
    for _ in range(3):
        session.step()
    proto = to_onnx(session.project, program=session.program)
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    project, outputs = import_model(path)
    saved = load(save(project, tmp_path / "imported.json"))  # JSON + .npz beside it
    assert (tmp_path / "imported.npz").is_file()
    assert _positions_distinct(saved)
    assert _model_types(saved) == _model_types(session.project)
    ids = {n["id"] for n in saved.graph["nodes"]}
    assert {n.node_id for n in session.program.calls if n.module is not None and
            not n.spec.is_loss and "/" not in n.node_id} <= ids  # from the weights' names
    x, y = session.current_batch()
    program = build_program(saved)
    with no_grad():
        got = program.run(_feeds(saved, x, y))
    with session.inference():
        want = session.program.run(session.feeds(x, y))
    assert outputs
    for name, (node, port) in outputs.items():
        ours_node, _, ours_port = name.partition(".")
        np.testing.assert_allclose(got[node][port].data,
                                   want[ours_node][ours_port or "output"].data,
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def _arch(name, shape):
    project = load(name)
    for node in project.graph["nodes"]:
        if node["type"] == "Input":
            node["params"]["shape"] = list(shape)
    manual_seed(3)
    program = compile(GraphModel.from_dict(project.graph)).eval()
    rng = np.random.default_rng(3)
    for call in program.calls:
        if getattr(call.module, "running_var", None) is not None:
            call.module.running_mean.data[...] = rng.normal(0, 0.2, call.module.num_features)
            call.module.running_var.data[...] = rng.uniform(0.5, 2.0, call.module.num_features)
    return project, program


@pytest.mark.parametrize("preset, shape", [("lenet5", (1, 32, 32)), ("resnet18", (3, 32, 32)),
                                           ("googlenet", (3, 32, 32)),
                                           ("densenet121", (3, 32, 32))])
def test_architecture_round_trips_with_its_blocks(preset, shape):
    """The blocks come back whole (nested ones too), with their weights and BatchNorm
    statistics: the same canvas, the same numbers."""
    from playground.export.onnx_import import import_model

    project, program = _arch(preset, shape)
    proto = to_onnx(project, program=program)
    back, outputs = import_model(proto.SerializeToString())
    assert [(n["id"], n["type"]) for n in back.graph["nodes"]] == \
        [(n["id"], n["type"]) for n in project.graph["nodes"]]
    from playground.export.onnx_import import _same_params
    for mine, theirs in zip(back.graph["nodes"], project.graph["nodes"]):
        assert _same_params(mine["type"], mine["params"], theirs["params"]), mine["id"]
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    _, trace = _run(back, x)
    with no_grad():
        want = program.run({_inputs(project)[0]: {"output": Tensor(x)}})
    (name,) = outputs
    node, port = outputs[name]
    np.testing.assert_allclose(trace[node][port].data, want[name]["output"].data,
                               rtol=1e-5, atol=1e-5)


def test_a_block_that_is_not_its_template_comes_back_as_its_parts():
    import json

    from playground.export.onnx_export import BLOCKS_KEY
    from playground.export.onnx_import import import_model

    project, program = _arch("googlenet", (3, 32, 32))
    proto = to_onnx(project, program=program)
    (prop,) = [p for p in proto.metadata_props if p.key == BLOCKS_KEY]
    blocks = json.loads(prop.value)
    for info in blocks.values():  # claim other params than the nodes have
        if info["type"] == "Inception":
            info["params"]["ch1x1"] += 1
    prop.value = json.dumps(blocks)
    back, outputs = import_model(proto.SerializeToString())
    types = {n["type"] for n in back.graph["nodes"]}
    assert "Inception" not in types and {"BasicConv2d", "Concat"} <= types
    assert all("/" not in n["id"] for n in back.graph["nodes"])  # inner blocks moved up
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    _, trace = _run(back, x)
    with no_grad():
        want = program.run({"image": {"output": Tensor(x)}})
    (name,) = outputs
    np.testing.assert_allclose(trace[outputs[name][0]][outputs[name][1]].data,
                               want[name]["output"].data, rtol=1e-5, atol=1e-5)
    prop.value = "[1, 2"
    with pytest.raises(OnnxImportError, match="dl_playground.blocks") as exc:
        import_model(proto.SerializeToString())
    assert exc.value.field.startswith("metadata_props")


def _backward_is_finite(program, trace, outputs):
    loss = None
    for name in outputs:
        term = (trace[name]["output"] ** 2).mean()
        loss = term if loss is None else loss + term
    loss.backward()
    params = dict(program.named_parameters())
    assert params
    for name, p in params.items():
        assert p.grad is not None, name
        assert np.all(np.isfinite(p.grad)) and np.any(p.grad != 0), name


def test_a_model_trained_in_pytorch_opens_here_and_steps_both_ways(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(24, 16),
        torch.nn.LeakyReLU(0.1), torch.nn.Dropout(0.2), torch.nn.Linear(16, 3))
    x = torch.randn(32, 1, 8, 8)
    y = torch.randint(0, 3, (32,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):  # trained a few steps: the weights are not torch's init
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(net, (x[:2],), buf, dynamo=False, input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "N"},
                                                                 "logits": {0: "N"}})
    path = tmp_path / "torch_cnn.onnx"
    path.write_bytes(buf.getvalue())
    project = load(save(import_onnx(path), tmp_path / "torch_cnn.json"))
    assert "pytorch" in project.notes
    types = [n["type"] for n in project.graph["nodes"]]
    assert types[0] == "Input" and "Conv2d" in types and types[-1] == "Linear"
    program, trace = _run(project, x.numpy())
    last = project.graph["nodes"][-1]["id"]
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(trace[last]["output"].data, want, rtol=1e-5, atol=1e-5)
    program, trace = _run(project, x.numpy(), train=True)  # and backward
    _backward_is_finite(program, trace, [last])


def test_a_pytorch_transformer_mlp_with_3d_linears(tmp_path):
    """MatMul + Add (a Linear on (N, L, E)), LayerNorm, GELU, Softmax, Transpose."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(6, 8)
            self.norm = torch.nn.LayerNorm(8)
            self.act = torch.nn.GELU()
            self.head = torch.nn.Linear(8, 4)

        def forward(self, x):
            h = self.act(self.norm(self.proj(x)))
            return torch.softmax(self.head(h), dim=-1).transpose(1, 2)

    net = Net().eval()
    x = torch.randn(3, 5, 6)
    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(net, (x,), buf, dynamo=False, input_names=["x"],
                          output_names=["p"], dynamic_axes={"x": {0: "N"}, "p": {0: "N"}})
    project = import_onnx(buf.getvalue())
    types = [n["type"] for n in project.graph["nodes"]]
    assert types == ["Input", "Linear", "LayerNorm", "GELU", "Linear", "Softmax", "Permute"]
    program, trace = _run(project, x.numpy())
    with torch.no_grad():
        want = net(x).numpy()
    last = project.graph["nodes"][-1]["id"]
    np.testing.assert_allclose(trace[last]["output"].data, want, rtol=1e-5, atol=1e-6)
    program, trace = _run(project, x.numpy(), train=True)
    _backward_is_finite(program, trace, [last])


def test_a_pytorch_model_of_bare_parameters_opens_with_them_learnable():
    """tiny_autograd written in PyTorch, y = w1·ln(x + w2) with two nn.Parameter of shape
    (1,), trained there: its parameters come back as Parameter nodes (not constants folded
    into Scale), with torch's values, and get gradients here."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = torch.nn.Parameter(torch.ones(1))
            self.w2 = torch.nn.Parameter(torch.full((1,), 0.5))

        def forward(self, x):
            return self.w1 * torch.log(x + self.w2)

    net = Net()
    x = torch.rand(64, 1) * 3.5 + 0.5
    y = 2 * torch.log(x + 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()
    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(net, (x[:2],), buf, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    from playground.export.onnx_import import import_model

    project, outputs = import_model(buf.getvalue())
    nodes = {n["id"]: n["type"] for n in project.graph["nodes"]}
    assert sorted(nodes.values()) == ["Add", "Input", "Log", "Multiply", "Parameter",
                                      "Parameter"]
    assert {"w1", "w2"} <= set(nodes)
    np.testing.assert_array_equal(project.weights["w1.weight"], net.w1.detach().numpy())
    program, trace = _run(project, x.numpy(), train=True)
    (last, port) = outputs["y"]
    assert port == "output"
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(trace[last]["output"].data, want, rtol=1e-5, atol=1e-6)
    _backward_is_finite(program, trace, [last])


class _quiet:
    """Silence the TorchScript exporter's deprecation warnings."""

    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


# ------------------------------------------------------------------------ refusals


def _without_metadata(proto, key=None):
    """The model with its metadata (or only ``key``) removed: an ONNX file as another tool
    writes it, its nodes imported op by op."""
    from playground.export.onnx_export import NODES_KEY

    key = key or NODES_KEY
    keep = [p for p in proto.metadata_props if p.key != key]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    return proto


def test_unknown_ops_are_listed_and_nothing_is_written(tmp_path):
    from playground.cli import main

    path = tmp_path / "t.onnx"
    # without the metadata that lists our nodes, ShiftRight is its Slice + Pad: no Pad node
    path.write_bytes(_without_metadata(to_onnx(load("transformer_reverse"))).SerializeToString())
    with pytest.raises(OnnxImportError, match=r"no node here for the ONNX op Pad\."):
        import_onnx(path)
    out = tmp_path / "t.json"
    assert main(["import", str(path), "-o", str(out)]) == 2
    assert not out.exists() and not out.with_suffix(".npz").exists()


def test_not_an_onnx_file_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not protobuf \xff\xff")
    with pytest.raises(OnnxImportError, match="not an ONNX model"):
        import_onnx(bad)
    with pytest.raises(OnnxImportError, match="cannot read the file"):
        import_onnx(tmp_path / "missing.onnx")


def test_malformed_model_names_the_field():
    from onnx import TensorProto, helper

    good = to_onnx(load("xor_mlp"))
    no_graph = onnx.ModelProto()
    no_graph.ir_version = 10
    with pytest.raises(OnnxImportError, match="graph is missing") as exc:
        import_onnx(no_graph.SerializeToString())
    assert exc.value.field == "graph"
    # a node reading a value nothing defines: the checker names it
    broken = onnx.ModelProto()
    broken.CopyFrom(good)
    broken.graph.node[0].input[0] = "nowhere"
    with pytest.raises(OnnxImportError, match="nowhere"):
        import_onnx(broken.SerializeToString())
    # a weight whose raw data does not fit its declared dims
    bad_init = onnx.ModelProto()
    bad_init.CopyFrom(good)
    bad_init.graph.initializer[0].dims[0] += 1
    with pytest.raises(OnnxImportError, match="fc1.weight"):
        import_onnx(bad_init.SerializeToString())
    # weights kept outside the file are never read
    ext = onnx.ModelProto()
    ext.CopyFrom(good)
    ext.graph.initializer[0].data_location = TensorProto.EXTERNAL
    with pytest.raises(OnnxImportError, match=r"graph.initializer\['fc1.weight'\].*external"):
        import_onnx(ext.SerializeToString())
    # an input with no shape
    noshape = onnx.ModelProto()
    noshape.CopyFrom(good)
    noshape.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                  None))
    with pytest.raises(OnnxImportError, match=r"graph.input\[0\] 'x' needs a shape") as exc:
        import_onnx(noshape.SerializeToString())
    assert exc.value.field == "graph.input[0]"


def test_an_op_used_in_a_way_we_cannot_represent_names_the_node():
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="lopsided", pads=[1, 0, 0, 0])
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             ["N", 1, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             ["N", 2, 4, 3])],
                              initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    with pytest.raises(OnnxImportError, match="Conv node 'lopsided'.*symmetric"):
        import_onnx(model.SerializeToString())


# ------------------------------------------------------------------------- recurrent


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_round_trips_with_the_gate_order(kind, whole):
    """Two bidirectional layers: one node again, batch_first and its initial state too
    (our metadata), or, from a file without it, one node per layer with the gates back in
    PyTorch's order; the same outputs either way."""
    from test_onnx_export import _graph_project  # noqa: PLC0415 - the shared graph builder
    from playground.export.onnx_import import import_model

    params = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True,
              "batch_first": whole}
    if whole:
        nodes = [("h", "Linear", {"in_features": 3, "out_features": 4}, ["x"]),
                 ("h0", "Permute", {"dims": [1, 0, 2]}, ["h"]),   # (layers*D = 4, N, 4)
                 ("rnn", kind, params, ["x", "h0", "h0"][:3 if kind == "LSTM" else 2])]
    else:
        nodes = [("p", "Permute", {"dims": [1, 0, 2]}, ["x"]), ("rnn", kind, params, ["p"])]
    project = _graph_project(nodes, (4, 3))
    manual_seed(0)
    program = compile(GraphModel.from_dict(project.graph)).eval()
    proto = to_onnx(project, program=program)
    if not whole:
        proto = _without_metadata(proto)
    back, outputs = import_model(proto.SerializeToString())
    rebuilt = [n for n in back.graph["nodes"] if n["type"] == kind]
    if whole:
        assert len(rebuilt) == 1 and rebuilt[0]["id"] == "rnn"
        from playground.export.onnx_import import _same_params
        assert _same_params(kind, rebuilt[0]["params"], params)
    else:
        assert len(rebuilt) == 2  # one per layer
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    with no_grad():
        want = program.run({"x": {"output": Tensor(x)}})
        got = build_program(back).run({"x": {"output": Tensor(x)}})
    assert {"rnn", "rnn.h_n"} <= set(outputs)
    for name, (node, port) in outputs.items():
        ours_node, _, ours_port = name.partition(".")
        np.testing.assert_allclose(got[node][port].data,
                                   want[ours_node][ours_port or "output"].data,
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_pytorch_lstm_and_gru_open_here_and_step_both_ways():
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True,
                                      bidirectional=True)
            self.gru = torch.nn.GRU(8, 5, batch_first=True)
            self.fc = torch.nn.Linear(5, 2)

        def forward(self, x):
            y, _ = self.lstm(x)
            z, _ = self.gru(y)
            return self.fc(z.mean(dim=1))

    net = Net()
    x, target = torch.randn(16, 6, 3), torch.randn(16, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), target).backward()
        opt.step()
    net.eval()
    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(net, (x[:2],), buf, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    project = import_onnx(buf.getvalue())
    types = [n["type"] for n in project.graph["nodes"]]
    assert types.count("LSTM") == 2 and types.count("GRU") == 1  # torch's default states
    ids = [n["id"] for n in project.graph["nodes"]]
    assert {"lstm", "gru", "fc"} <= set(ids)
    program, trace = _run(project, x.numpy())
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(trace["fc"]["output"].data, want, rtol=1e-5, atol=1e-6)
    program, trace = _run(project, x.numpy(), train=True)
    _backward_is_finite(program, trace, ["fc"])


def _zoo_program(case):
    """test_onnx_export's ZOO[case] as a project, its program compiled from seed 0 in eval
    mode, and the input shape (without N)."""
    from test_onnx_export import ZOO, _dependency_order, _graph_project  # noqa: PLC0415

    nodes, shape = ZOO[case]
    project = _graph_project(_dependency_order(nodes), shape)
    manual_seed(0)
    program = compile(GraphModel.from_dict(project.graph)).eval()
    return project, program, shape


def _attention_zoo():
    project, program, shape = _zoo_program("attention")
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    return project, program, x


def _same_outputs(back, outputs, want, x):
    with no_grad():
        got = build_program(back).run({"x": {"output": Tensor(x)}})
    assert len(outputs) >= 7
    for name, (node, port) in outputs.items():
        ours_node, _, ours_port = name.partition(".")
        np.testing.assert_allclose(got[node][port].data, want(ours_node, ours_port or "output"),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("whole", [True, False])
def test_attention_round_trips(whole):
    """Multi-head attention, the Transformer layers and scaled dot-product attention come
    back as those nodes (our metadata); from a file without it, as their parts (MatMul,
    Reshape, Transpose, Softmax, the causal mask and the positional table). The same
    outputs either way."""
    from playground.export.onnx_import import _same_params, import_model

    project, program, x = _attention_zoo()
    proto = to_onnx(project, program=program)
    back, outputs = import_model((proto if whole else _without_metadata(proto))
                                 .SerializeToString())
    types = {n["type"] for n in back.graph["nodes"]}
    if whole:
        assert _model_types(back) == _model_types(project)
        theirs = {n["id"]: n for n in project.graph["nodes"]}
        for node in back.graph["nodes"]:
            if node["type"] != "Input":
                assert _same_params(node["type"], node["params"],
                                    theirs[node["id"]]["params"]), node["id"]
    else:
        assert {"CausalMask", "SinusoidalTable", "Softmax", "MatMul", "LayerNorm"} <= types
        assert not types & {"MultiheadAttention", "TransformerEncoderLayer"}
    with no_grad():
        want = program.run({"x": {"output": Tensor(x)}})
    _same_outputs(back, outputs, lambda n, p: want[n][p].data, x)


def test_an_edited_node_is_read_as_the_file_has_it_not_as_the_metadata_says():
    """The metadata says 'sa' is a MultiheadAttention, but its score scale was edited in
    the file: our exporter would not write that, so it comes back as its parts, with the
    edited scale, and gives onnxruntime's numbers for the edited file."""
    from playground.export.onnx_import import import_model

    project, program, x = _attention_zoo()
    proto = to_onnx(project, program=program)
    (scale,) = [i for i in proto.graph.initializer if i.name == "sa.scale"]
    scale.CopyFrom(onnx.numpy_helper.from_array(np.array(0.3, np.float32), "sa.scale"))
    back, outputs = import_model(proto.SerializeToString())
    assert [n["id"] for n in back.graph["nodes"] if n["type"] == "MultiheadAttention"] == \
        ["ca"]  # the other one, untouched, is whole
    assert any(n["type"] == "Scale" and n["params"]["scale"] == pytest.approx(0.3)
               for n in back.graph["nodes"])
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
    _same_outputs(back, outputs, lambda n, p: theirs[n if p == "output" else f"{n}.{p}"], x)


def test_vae_round_trips_with_its_sampling_step():
    from playground.engine import manual_seed as seed
    from playground.export.onnx_import import import_model

    session = Session(load("vae_digits"), timeline=False)
    for _ in range(3):
        session.step()
    proto = to_onnx(session.project, program=session.program)
    back, outputs = import_model(proto.SerializeToString())
    assert [n["type"] for n in back.graph["nodes"]].count("Reparameterize") == 1
    assert [n["id"] for n in back.graph["nodes"] if n["type"] == "Input"] == ["x"]  # no eps
    x, y = session.current_batch()
    program = build_program(back)
    seed(5)  # both draw the same eps: one randn of (N, 2) after the same seed
    with no_grad():
        got = program.run({"x": {"output": Tensor(x)}})
    seed(5)
    with session.inference():
        want = session.program.run(session.feeds(x, y))
    assert set(outputs) == {"mu", "logvar", "dec_out"}
    for name, (node, port) in outputs.items():
        np.testing.assert_allclose(got[node][port].data, want[name]["output"].data,
                                   rtol=1e-5, atol=1e-6, err_msg=name)


# ---------------------------------------------------------------- with a dataset to train


def _torch_cnn_bytes(classes=10) -> bytes:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(64, classes)).eval()
    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(net, (torch.randn(2, 1, 8, 8),), buf, dynamo=False,
                          input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    return buf.getvalue()


def test_with_a_dataset_the_imported_model_trains_and_steps_in_a_session():
    project = import_onnx(_torch_cnn_bytes(), dataset="digits")
    types = [n["type"] for n in project.graph["nodes"]]
    assert "Input" not in types and {"Dataset", "Reshape", "CrossEntropyLoss"} <= set(types)
    session = Session(project, timeline=False)
    assert len(session.loaded_weights) == 4  # torch's trained weights, not fresh ones
    first = session.step()["loss"]
    for _ in range(60):
        last = session.step()
    assert last["loss"] < 0.5 * first
    forward = list(session.forward_steps())
    backward = list(session.backward_steps())
    assert len(forward) >= 6 and backward
    for name, p in session.program.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad)), name


@pytest.mark.parametrize("dataset, classes, message", [
    ("digits", 3, r"needs logits \(N, 10\)"),
    ("spirals", 10, r"takes \(N, 1, 8, 8\) float32, but dataset 'spirals' gives \(N, 2\)"),
    ("no_such_data", 10, "dataset 'no_such_data'"),
])
def test_a_dataset_that_does_not_fit_is_refused(dataset, classes, message):
    with pytest.raises(OnnxImportError, match=message) as exc:
        import_onnx(_torch_cnn_bytes(classes), dataset=dataset)
    assert exc.value.field == "dataset"


def test_corrupted_files_are_refused_never_crash():
    """Random byte flips of a real model: each either imports or is refused with an
    OnnxImportError; nothing else escapes (the command line prints one line)."""
    good = to_onnx(load("cnn_digits")).SerializeToString()
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(150):
        data = bytearray(good)
        for i in rng.integers(0, len(data), rng.integers(1, 4)):
            data[i] = rng.integers(0, 256)
        if rng.random() < 0.3:
            data = data[: rng.integers(1, len(data))]  # truncated
        try:
            import_onnx(bytes(data))
        except OnnxImportError as exc:
            refused += 1
            assert str(exc).startswith("the model: ")
    assert refused > 20


@pytest.mark.parametrize("case", ["activations", "math", "conv", "norm", "primitives"])
def test_node_types_round_trip_as_themselves(case):
    """Each mapped node type comes back as itself with the same outputs: GLU, Chunk and a
    Softplus with its own beta whole, Parameter and Constant as those nodes."""
    from playground.export.onnx_import import _same_params, import_model

    project, program, shape = _zoo_program(case)
    back, outputs = import_model(to_onnx(project, program=program).SerializeToString())
    assert _model_types(back) == _model_types(project)
    theirs = {n["id"]: n for n in project.graph["nodes"]}
    for node in back.graph["nodes"]:  # the params too, but a Parameter's init (it has its
        if node["type"] not in ("Input", "Parameter"):      # values)
            assert _same_params(node["type"], node["params"], theirs[node["id"]]["params"]), \
                node["id"]
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    with no_grad():
        want = program.run({"x": {"output": Tensor(x)}})
        got = build_program(back).run({"x": {"output": Tensor(x)}})
    for name, (node, port) in outputs.items():
        ours_node, _, ours_port = name.partition(".")
        np.testing.assert_allclose(got[node][port].data,
                                   want[ours_node][ours_port or "output"].data,
                                   rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("preset", _recipe_presets("gan"))
@pytest.mark.parametrize("part", ["generator", "discriminator"])
def test_gan_parts_round_trip(preset, part):
    from playground.export.onnx_import import import_model

    session = Session(load(preset), timeline=False)
    session.step()
    proto = to_onnx(session.project, program=session.program, part=part)
    back, outputs = import_model(proto.SerializeToString())
    members = {n["id"]: n["type"] for n in session.project.graph["nodes"]
               if n["id"] in session.project.recipe[part]}
    assert {n["id"]: n["type"] for n in back.graph["nodes"] if n["type"] != "Input"} == members
    (inp,) = proto.graph.input
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(0).standard_normal((4, *dims)).astype(np.float32)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp.name: x})))
    (iid,) = _inputs(back)
    with no_grad():
        got = build_program(back).run({iid: {"output": Tensor(x)}})
    for name, (node, port) in outputs.items():
        np.testing.assert_allclose(got[node][port].data, want[name], rtol=1e-5, atol=1e-5,
                                   err_msg=name)

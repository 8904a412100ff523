"""ONNX export: every exportable preset and every mapped node type runs in onnxruntime
with our outputs (float32, to 1e-5), passes onnx.checker (full check) and strict shape
inference, and refuses what it cannot map with one message."""

from __future__ import annotations

import copy

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from playground.engine import Tensor, manual_seed, no_grad, randn  # noqa: E402
from playground.graph import GraphModel, compile  # noqa: E402
from playground.project import Project, load  # noqa: E402
from playground.session import Session  # noqa: E402
from playground.session.stepping import run_calls  # noqa: E402
from playground.export import onnx_export  # noqa: E402
from playground.export.onnx_export import ExportError, export_onnx, to_onnx  # noqa: E402

RTOL = ATOL = 1e-5


def checked(proto):
    """The model after onnx.checker (full) and strict shape inference; pinned versions."""
    assert proto.ir_version == 10
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 21)]
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    return proto


def ort_run(proto, feeds) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def ours(trace, name: str) -> np.ndarray:
    node, _, port = name.partition(".")
    return trace[node][port or "output"].data


def assert_close(got, want, what=""):
    """Float32 agreement: |got - want| <= 1e-5*|want| + 1e-5*max(1, max |want|), after
    checking shapes: float32 sums in another order differ by ulps of the largest value."""
    assert got.shape == want.shape, what
    finite = np.abs(want[np.isfinite(want)])  # a causal mask's -inf stays exact
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * scale, err_msg=what)


# --------------------------------------------------------------------------- presets


def _supervised_presets() -> list[str]:
    """Every preset that trains with the supervised recipe from a data node (Dataset,
    Regression, GradientNoise): new ones are covered as they come (GAN and VAE have their
    own tests below)."""
    from playground.graph.nodes.regression import DATA_SOURCES
    from playground.project import preset_names

    out = []
    for name in preset_names():
        project = load(name)
        if project.recipe["type"] == "supervised" and \
                any(n["type"] in DATA_SOURCES for n in project.graph["nodes"]):
            out.append(name)
    return out


#: The logits each preset's loss reads, as the exporter names them (the node ids).
KNOWN_OUTPUTS = {"xor_mlp": ["fc2"], "spiral_mlp": ["fc3"], "digits_mlp": ["fc2"],
                 "cnn_digits": ["fc"], "transformer_reverse": ["logits"],
                 "tiny_autograd": ["mul"], "l1_vs_l2_outliers": ["fc_l1", "fc_l2"]}


def test_the_course_presets_are_covered():
    assert set(KNOWN_OUTPUTS) <= set(_supervised_presets())


@pytest.mark.parametrize("preset", _supervised_presets())
def test_supervised_preset_matches_onnxruntime(preset):
    session = Session(load(preset), timeline=False)
    for _ in range(3):  # trained weights, not the initial ones
        session.step()
    proto = checked(to_onnx(session.project, program=session.program))
    x, y = session.current_batch()
    inputs = [i.name for i in proto.graph.input]  # none: optimizers_race's point (x, y)
    feeds = {"x": x.astype(np.int64 if x.dtype.kind == "i" else np.float32)} \
        if "x" in inputs else {}
    if "target" in inputs:  # teacher forcing reads the target
        feeds["target"] = y.astype(np.int64)
    got = ort_run(proto, feeds)
    losses = [c for c in session.program.calls if c.spec.is_loss]
    outputs = sorted({src if sport == "output" else f"{src}.{sport}" for c in losses
                      for _, src, sport in c.inputs if src != session.data_node})
    assert sorted(got) == outputs == sorted(KNOWN_OUTPUTS.get(preset, outputs))
    assert session.program.calls[1].module.training  # the session is left training
    with session.inference():
        trace = session.program.run(session.feeds(x, y))
    for name in outputs:
        assert_close(got[name], ours(trace, name), f"{preset}.{name}")


def test_transformer_is_decomposed_into_matmul_and_softmax():
    proto = checked(to_onnx(load("transformer_reverse")))
    ops = {n.op_type for n in proto.graph.node}
    assert {"MatMul", "Softmax", "LayerNormalization", "Gather"} <= ops
    assert not ops & {"Attention", "MultiHeadAttention"}
    assert {i.name: i.type.tensor_type.shape.dim[0].dim_param for i in proto.graph.input} == \
        {"x": "N", "target": "N"}


def test_saved_weights_are_exported(tmp_path):
    session = Session(load("xor_mlp"), timeline=False)
    for _ in range(5):
        session.step()
    from playground.project import save
    project = session.to_project()
    project.weights = session.weights()  # the parameters (the run's curves are not ours)
    path = save(project, tmp_path / "xor.json")
    proto = to_onnx(load(path))  # the .npz beside the JSON
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    np.testing.assert_array_equal(weights["fc1.weight"], session.weights()["fc1.weight"])
    fresh = to_onnx(load("xor_mlp"))  # no weights file: the seed's initial weights
    w0 = {i.name: onnx.numpy_helper.to_array(i) for i in fresh.graph.initializer}
    assert not np.allclose(w0["fc1.weight"], weights["fc1.weight"])


def test_gan_generator_and_discriminator():
    session = Session(load("gan_ring"), timeline=False)
    session.step()
    project, program = session.project, session.program
    z = np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32)
    gen = checked(to_onnx(project, program=program))
    assert [i.name for i in gen.graph.input] == ["noise"]
    got = ort_run(gen, {"noise": z})
    with session.inference():
        trace = {c.node_id: o for c, _, o in run_calls(
            program, session.feeds(z, z), inputs={("g_fc1", "input"): Tensor(z)})}
    assert list(got) == ["g_out"]
    assert_close(got["g_out"], trace["g_out"]["output"].data, "generator")
    disc = checked(to_onnx(project, program=program, part="discriminator"))
    assert [i.name for i in disc.graph.input] == ["x"]
    assert_close(ort_run(disc, {"x": z})["d_out"], _discriminate(session, z), "discriminator")
    with pytest.raises(ExportError, match="part must be one of generator, discriminator"):
        to_onnx(project, part="critic")
    with pytest.raises(ExportError, match="for a GAN project"):
        to_onnx(load("xor_mlp"), part="generator")


def _discriminate(session, x):
    with session.inference():
        out = {c.node_id: o for c, _, o in run_calls(
            session.program, session.feeds(x, x), inputs={("d_fc1", "input"): Tensor(x)})}
    return out["d_out"]["output"].data


def test_vae_with_eps_as_an_input():
    session = Session(load("vae_digits"), timeline=False)
    session.step()
    x, y = session.current_batch()
    proto = checked(to_onnx(session.project, program=session.program))
    assert sorted(i.name for i in proto.graph.input) == ["x", "z.eps"]
    manual_seed(11)
    eps = randn(len(x), 2).data  # the draw Reparameterize makes after the same seed
    manual_seed(11)
    with session.inference():
        trace = session.program.run(session.feeds(x, y))
    got = ort_run(proto, {"x": x.astype(np.float32), "z.eps": eps})
    assert sorted(got) == ["dec_out", "logvar", "mu"]
    for name in got:
        assert_close(got[name], ours(trace, name), name)


def _architecture(name: str, shape=None, seed=0):
    project = load(name)
    if shape is not None:
        for node in project.graph["nodes"]:
            if node["type"] == "Input":
                node["params"]["shape"] = list(shape)
    manual_seed(seed)
    program = compile(GraphModel.from_dict(project.graph))
    rng = np.random.default_rng(seed)
    for call in program.calls:  # non-trivial BatchNorm statistics
        if call.module is not None and getattr(call.module, "running_var", None) is not None:
            n = call.module.num_features
            call.module.running_mean.data[...] = rng.normal(0, 0.1, n)
            call.module.running_var.data[...] = rng.uniform(0.5, 1.5, n)
    return project, program.eval()


@pytest.mark.parametrize("preset, shape", [("lenet5", None), ("resnet18", (3, 64, 64))])
def test_architecture_preset_matches_onnxruntime(preset, shape):
    project, program = _architecture(preset, shape)
    proto = checked(to_onnx(project, program=program))
    (inp,) = proto.graph.input
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(1).standard_normal((2, *dims)).astype(np.float32)
    got = ort_run(proto, {inp.name: x})
    with no_grad():
        trace = program.run({inp.name: {"output": Tensor(x)}})
    (name,) = got
    want = ours(trace, name)
    np.testing.assert_allclose(got[name], want, rtol=RTOL, atol=ATOL * max(1.0, np.abs(want).max()))
    if preset == "resnet18":  # blocks export through their parts
        ops = [n.op_type for n in proto.graph.node]
        assert ops.count("Conv") == 20 and ops.count("Add") == 8


# ------------------------------------------------------------------------- refusals


def test_unmapped_types_are_listed_in_one_message(monkeypatch):
    monkeypatch.delitem(onnx_export.MAPPERS, "Tanh")
    monkeypatch.delitem(onnx_export.MAPPERS, "Linear")
    with pytest.raises(ExportError, match=r"no ONNX mapping for node types Linear, Tanh\."):
        to_onnx(load("xor_mlp"))


def test_batch_statistics_batchnorm_is_refused():
    project = _graph_project([("bn", "BatchNorm1d", {"num_features": 4,
                                                     "track_running_stats": False}, ["x"])],
                             (4,))
    with pytest.raises(ExportError, match="track_running_stats=False"):
        to_onnx(project)


def test_missing_onnx_says_pip_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ExportError, match="pip install onnx"):
        to_onnx(load("xor_mlp"))


def test_export_writes_a_file_onnx_reads(tmp_path):
    path = export_onnx(load("digits_mlp"), tmp_path / "out" / "m.onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.output[0].name == "fc2"


# ------------------------------------------------------------------ node types, one by one


def _graph_project(nodes, shape, dtype="float32") -> Project:
    """A project of an Input node ``x`` of ``shape`` (without N) and ``nodes``: (id, type,
    params, [input refs "node" or "node.port" in port order])."""
    from playground.graph import REGISTRY

    graph = {"nodes": [{"id": "x", "type": "Input", "name": "x",
                        "params": {"shape": list(shape), "dtype": dtype}, "pos": [0, 0]}],
             "edges": []}
    for nid, type_, params, refs in nodes:
        graph["nodes"].append({"id": nid, "type": type_, "name": nid, "params": params,
                               "pos": [0, 0]})
        ports = [p.name for p in REGISTRY[type_].inputs]
        for port, ref in zip(ports, refs):
            if ref is None:
                continue
            src, _, sport = ref.partition(".")
            graph["edges"].append({"src": src, "src_port": sport or "output", "dst": nid,
                                   "dst_port": port})
    return Project(name="t", graph=graph)


def _check_graph(nodes, shape, dtype="float32", seed=0, x=None):
    project = _graph_project(nodes, shape, dtype)
    model = GraphModel.from_dict(project.graph)
    assert not model.errors(), model.errors()
    manual_seed(seed)
    program = compile(model).eval()
    for name, p in program.named_parameters():  # nonzero biases too
        p.data[...] = np.random.default_rng(abs(hash(name)) % 2**32).normal(
            0, 0.5, p.data.shape)
    rng = np.random.default_rng(seed)
    for call in program.calls:
        if getattr(call.module, "running_var", None) is not None:
            call.module.running_mean.data[...] = rng.normal(0, 0.3, call.module.num_features)
            call.module.running_var.data[...] = rng.uniform(0.5, 2, call.module.num_features)
    proto = checked(to_onnx(project, program=program))
    if x is None:
        x = np.random.default_rng(seed).standard_normal((3, *shape)).astype(np.float32)
    got = ort_run(proto, {"x": x})
    with no_grad():
        trace = program.run({"x": {"output": Tensor(x)}})
    for name, value in got.items():
        assert_close(value, ours(trace, name), name)
    return proto, got


ZOO = {
    "activations": ([("a", "Sigmoid", {}, ["x"]), ("b", "LeakyReLU", {"negative_slope": 0.2},
                                                    ["a"]),
                     ("c", "ELU", {"alpha": 0.7}, ["x"]), ("d", "GELU", {}, ["x"]),
                     ("e", "GELU", {"approximate": "tanh"}, ["x"]),
                     ("f", "Softplus", {}, ["x"]),
                     ("g", "Softplus", {"beta": 2.0, "threshold": 1.0}, ["x"]),
                     ("h", "Softmax", {"dim": 1}, ["x"]), ("i", "LogSoftmax", {}, ["x"]),
                     ("j", "GLU", {"dim": -1}, ["x"]), ("k", "Dropout", {}, ["x"]),
                     ("l", "Identity", {}, ["x"])], (6,)),
    "math": ([("s", "Scale", {"scale": -1.5}, ["x"]), ("add", "Add", {}, ["x", "s"]),
              ("sub", "Subtract", {}, ["x", "add"]), ("mul", "Multiply", {}, ["sub", "x"]),
              ("cat", "Concat", {"dim": 1}, ["x", "mul", "s"]),
              ("ch", "Chunk", {"chunks": 4, "dim": 1}, ["cat"]),
              ("m", "Mean", {"dim": 2, "keepdim": True}, ["ch.out2"]),
              ("m2", "Mean", {"dim": [1, 2]}, ["ch.out1"]),
              ("r", "Reshape", {"shape": [-1, 2]}, ["ch.out0"]),
              ("pm", "Permute", {"dims": [0, 2, 1]}, ["r"]),
              ("mm", "MatMul", {}, ["r", "pm"]),
              ("fl", "Flatten", {"start_dim": 1, "end_dim": -1}, ["mm"]),
              ("fl2", "Flatten", {"start_dim": 2, "end_dim": -1}, ["ch.out2"])], (2, 3, 4)),
    "conv": ([("c", "Conv2d", {"in_channels": 2, "out_channels": 4, "kernel_size": [3, 2],
                               "stride": 2, "padding": [1, 0], "dilation": 1}, ["x"]),
              ("g", "Conv2d", {"in_channels": 4, "out_channels": 4, "kernel_size": 3,
                               "padding": 2, "dilation": 2, "groups": 2, "bias": False}, ["c"]),
              ("t", "ConvTranspose2d", {"in_channels": 4, "out_channels": 3, "kernel_size": 3,
                                        "stride": 2, "padding": 1, "output_padding": 1},
               ["g"]),
              ("bn", "BatchNorm2d", {"num_features": 3}, ["t"]),
              ("mp", "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1,
                                   "ceil_mode": True}, ["bn"]),
              ("ap", "AvgPool2d", {"kernel_size": 2, "padding": 1,
                                   "count_include_pad": False}, ["bn"]),
              ("ad", "AdaptiveAvgPool2d", {"output_size": [2, 4]}, ["bn"]),
              ("ad3", "AdaptiveAvgPool2d", {"output_size": [3, 5]}, ["bn"]),  # uneven
              ("ag", "AdaptiveAvgPool2d", {"output_size": 1}, ["ad"])], (2, 9, 8)),
    "norm": ([("bn", "BatchNorm1d", {"num_features": 5, "affine": False}, ["x"]),
              ("ln", "LayerNorm", {"normalized_shape": [5], "bias": False}, ["bn"]),
              ("lin", "Linear", {"in_features": 5, "out_features": 3, "bias": False}, ["ln"])],
             (5,)),
    "attention": ([("sa", "MultiheadAttention", {"embed_dim": 8, "num_heads": 2,
                                                  "batch_first": True, "is_causal": True},
                    ["x", "x", "x"]),
                   ("ca", "MultiheadAttention", {"embed_dim": 8, "num_heads": 4,
                                                  "average_attn_weights": False},
                    ["p", "p", "p"]),
                   ("p", "Permute", {"dims": [1, 0, 2]}, ["x"]),
                   ("sd", "ScaledDotProductAttention", {"is_causal": True}, ["x", "x", "x"]),
                   ("sd2", "ScaledDotProductAttention", {"scale": 0.3}, ["x", "sa", "x"]),
                   ("enc", "TransformerEncoderLayer", {"d_model": 8, "nhead": 2,
                                                      "dim_feedforward": 16, "dropout": 0.0,
                                                      "batch_first": True,
                                                      "norm_first": True, "is_causal": True,
                                                      "activation": "gelu"}, ["x"]),
                   ("dec", "TransformerDecoderLayer", {"d_model": 8, "nhead": 2,
                                                      "dim_feedforward": 16, "dropout": 0.0,
                                                      "batch_first": True,
                                                      "tgt_is_causal": True}, ["x", "enc"]),
                   ("dec2", "TransformerDecoderLayer", {"d_model": 8, "nhead": 4,
                                                       "dim_feedforward": 16, "dropout": 0.0,
                                                       "norm_first": True},
                    ["p", "p"]),
                   ("tab", "SinusoidalTable", {}, ["x"]), ("pos", "Add", {}, ["x", "tab"]),
                   ("sc", "MatMul", {}, ["x", "pt"]), ("pt", "Permute", {"dims": [0, 2, 1]},
                                                       ["x"]),
                   ("cm", "CausalMask", {}, ["sc"])], (5, 8)),
    "primitives": ([("w", "Parameter", {"shape": [6], "init": "normal"}, []),
                    ("one", "Constant", {"shape": [1], "value": 1.0}, []),
                    ("sq", "Pow", {"exponent": 2.0}, ["x"]),             # x² >= 0
                    ("u", "Add", {}, ["sq", "one"]),                      # x² + 1 > 0
                    ("ln", "Log", {}, ["u"]),
                    ("wx", "Multiply", {}, ["ln", "w"]),
                    ("e", "Exp", {}, ["wx"]),
                    ("root", "Pow", {"exponent": 0.5}, ["e"]),
                    ("inv", "Pow", {"exponent": -1.0}, ["u"]),
                    ("cube", "Pow", {"exponent": 3.0}, ["x"]),            # negative x stay
                    ("d", "Subtract", {}, ["cube", "w"])], (6,)),
}


def _dependency_order(nodes):
    """``nodes`` (a ZOO case's rows) reordered so that each comes after the nodes it reads."""
    order = {n[0]: n for n in nodes}
    done, ordered = {"x"}, []
    while order:
        for nid, n in list(order.items()):
            if all(r is None or r.partition(".")[0] in done for r in n[3]):
                ordered.append(n)
                done.add(nid)
                del order[nid]
    return ordered


@pytest.mark.parametrize("case", sorted(ZOO))
def test_node_types_match_onnxruntime(case):
    nodes, shape = ZOO[case]
    proto, got = _check_graph(_dependency_order(nodes), shape)
    sinks = {n[0] for n in nodes} - {r.partition(".")[0] for n in nodes for r in n[3]}
    assert sinks <= {name.partition(".")[0] for name in got}


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("batch_first, layers, bidirectional", [(True, 1, False),
                                                                (False, 2, True)])
def test_recurrent_gate_order_matches_onnxruntime(kind, batch_first, layers, bidirectional):
    params = {"input_size": 3, "hidden_size": 4, "num_layers": layers,
              "batch_first": batch_first, "bidirectional": bidirectional}
    if kind == "RNN":
        params["nonlinearity"] = "relu" if bidirectional else "tanh"
    nodes = [("p", "Permute", {"dims": [1, 0, 2]}, ["x"])] if not batch_first else []
    nodes.append(("rnn", kind, params, ["x" if batch_first else "p"]))
    proto, got = _check_graph(nodes, (5, 3))
    expect = {"rnn", "rnn.h_n"} | ({"rnn.c_n"} if kind == "LSTM" else set())
    assert expect <= set(got)
    (node,) = [n for n in proto.graph.node if n.op_type == kind][:1] or [None]
    assert node is not None  # ONNX's own recurrent op, not an unrolled loop
    if kind == "GRU":
        assert {a.name: a.i for a in node.attribute}["linear_before_reset"] == 1


def test_recurrent_with_initial_state():
    # h_0 (num_layers*D, N, H) = (2, N, 4) from an input (N, 2, 4) permuted
    project_nodes = [("h0", "Permute", {"dims": [1, 0, 2]}, ["x"]),
                     ("c0", "Scale", {"scale": 0.5}, ["h0"]),
                     ("seq", "Permute", {"dims": [1, 0, 2]}, ["x"]),
                     ("lstm", "LSTM", {"input_size": 4, "hidden_size": 4, "num_layers": 2},
                      ["seq", "h0", "c0"]),
                     ("gru", "GRU", {"input_size": 4, "hidden_size": 4, "num_layers": 2},
                      ["seq", "h0"])]
    _check_graph(project_nodes, (2, 4))


def test_embedding_takes_int64_tokens():
    x = np.random.default_rng(0).integers(0, 6, (3, 5))
    nodes = [("emb", "Embedding", {"num_embeddings": 7, "embedding_dim": 4}, ["x"])]
    project = _graph_project(nodes, (5,), "int64")
    manual_seed(0)
    program = compile(GraphModel.from_dict(project.graph)).eval()
    proto = checked(to_onnx(project, program=program))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    got = ort_run(proto, {"x": x})
    with no_grad():
        want = program.run({"x": {"output": Tensor(x)}})["emb"]["output"].data
    assert_close(got["emb"], want)


def test_copy_of_project_is_not_changed():
    project = load("cnn_digits")
    before = copy.deepcopy(project.graph)
    to_onnx(project)
    assert project.graph == before


def test_seq2seq_attention_with_padding_matches_onnxruntime():
    nodes = [("emb", "Embedding", {"num_embeddings": 5, "embedding_dim": 6}, ["x"]),
             ("val", "Scale", {"scale": 2.0}, ["emb"]),
             ("add", "AdditiveAttention", {"query_dim": 6, "key_dim": 6, "attn_dim": 4,
                                           "padding_idx": 0}, ["emb", "emb", "val", "x"]),
             ("add2", "AdditiveAttention", {"query_dim": 6, "key_dim": 6, "attn_dim": 3,
                                            "bias": False}, ["add", "emb"]),
             ("dot", "LuongAttention", {"query_dim": 6, "key_dim": 6, "padding_idx": 0},
              ["emb", "emb", None, "x"]),
             ("gen", "LuongAttention", {"query_dim": 6, "key_dim": 6, "score": "general"},
              ["dot", "add2"]),
             ("aw", "Scale", {"scale": 1.0}, ["add.attn_weights"]),
             ("dw", "Scale", {"scale": 1.0}, ["dot.attn_weights"])]
    project = _graph_project(nodes, (7,), "int64")
    manual_seed(0)
    program = compile(GraphModel.from_dict(project.graph)).eval()
    proto = checked(to_onnx(project, program=program))
    x = np.random.default_rng(0).integers(0, 5, (4, 7))
    x[1, :3] = 0   # some padding
    x[2] = 0       # a sequence of padding only: zero weights, not NaN
    got = ort_run(proto, {"x": x})
    with no_grad():
        trace = program.run({"x": {"output": Tensor(x)}})
    assert set(got) == {"aw", "dw", "gen", "gen.attn_weights"}
    for name, value in got.items():
        assert_close(value, ours(trace, name), name)
    np.testing.assert_array_equal(got["aw"][2], 0.0)
    np.testing.assert_array_equal(got["dw"][1][:, :3], 0.0)


def _recipe_presets(kind: str) -> list[str]:
    from playground.project import preset_names

    return [n for n in preset_names() if load(n).recipe["type"] == kind]


@pytest.mark.parametrize("preset", _recipe_presets("gan"))
def test_every_gan_preset_matches_onnxruntime(preset):
    """Each GAN preset's generator (fed the noise) and discriminator (fed a batch where
    its first node reads the generator's samples) against the engine."""
    session = Session(load(preset), timeline=False)
    session.step()
    project, program = session.project, session.program
    recipe = project.recipe
    x, y = session.current_batch()
    with session.inference():
        trace = program.run(session.feeds(x, y))
    gen = checked(to_onnx(project, program=program))
    feeds = {i.name: ours(trace, i.name) for i in gen.graph.input}
    for name, value in ort_run(gen, feeds).items():
        assert_close(value, ours(trace, name), f"{preset} generator {name}")
    (entry,) = {(e["dst"], e["dst_port"]) for e in project.graph["edges"]
                if e["dst"] in recipe["discriminator"] and e["src"] in recipe["generator"]}
    real = np.asarray(x, np.float32)
    with session.inference():
        d_trace = {c.node_id: o for c, _, o in run_calls(
            program, session.feeds(x, y), inputs={entry: Tensor(real)})}
    disc = checked(to_onnx(project, program=program, part="discriminator"))
    (d_in,) = disc.graph.input
    got = ort_run(disc, {d_in.name: real})
    assert got
    for name, value in got.items():
        node, _, port = name.partition(".")
        assert_close(value, d_trace[node][port or "output"].data, f"{preset} discriminator")

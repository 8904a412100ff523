"""PyTorch code export: the generated model.py, run by torch 2.13 on the exported weights,
gives the engine's outputs to 1e-5 for every trainable preset and for lenet5 and resnet18
(at a small input); check.py says so too; refused node types are listed in one message."""

from __future__ import annotations

import importlib.util
import itertools
import py_compile
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from playground.engine import Tensor, manual_seed, no_grad
from playground.export import pytorch_nodes
from playground.export.pytorch_code import PyTorchExportError, export_pytorch
from playground.export.pytorch_writer import wrap
from playground.graph import GraphModel, compile
from playground.project import load, preset_names
from playground.session import Session

torch = pytest.importorskip("torch")

TOL = 1e-5
_counter = itertools.count()


def _import_model(folder: Path):
    """model.py of ``folder`` as a fresh module (each test its own name)."""
    spec = importlib.util.spec_from_file_location(f"exported_model_{next(_counter)}",
                                                  folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _top_class(module, folder: Path):
    name = re.search(r"load_weights\((\w+)\(\), Path", (folder / "model.py").read_text())
    return getattr(module, name.group(1))


def _trained(name: str, steps: int = 3):
    """The preset with a few training steps' weights (not just the initial draw)."""
    project = load(name)
    session = Session(project)
    for _ in range(steps):
        session.step()
    return project, session.weights()


def _torch_outputs(folder: Path):
    """{"method.output": array} from running torch on check_inputs.npz."""
    module = _import_model(folder)
    model = module.load_weights(_top_class(module, folder)(), folder / "weights.npz").eval()
    calls = _calls(folder)
    inputs = np.load(folder / "check_inputs.npz", allow_pickle=False)
    out = {}
    with torch.no_grad():
        for method, (args, outs) in calls.items():
            got = getattr(model, method)(*[torch.from_numpy(inputs[f"{method}.{a}"])
                                           for a in args])
            got = got if isinstance(got, tuple) else (got,)
            assert len(got) == len(outs)
            for name, value in zip(outs, got):
                out[f"{method}.{name}"] = value.numpy()
    return model, out


def _calls(folder: Path) -> dict:
    text = (folder / "check.py").read_text()
    body = text[text.index("CALLS = {") + len("CALLS = "):text.index("}\n", text.index(
        "CALLS = {")) + 1]
    calls = {}
    for m in re.finditer(r"'(\w+)': \(\(([^)]*)\), \(([^)]*)\)\)", body):
        names = [s.strip(" '") for s in m.group(2).split(",") if s.strip(" '")]
        outs = [s.strip(" '") for s in m.group(3).split(",") if s.strip(" '")]
        calls[m.group(1)] = (names, outs)
    return calls


def _max_diff(folder: Path, theirs: dict) -> float:
    """The largest |torch - ours| of the outputs, each in units of its scale max(1, max
    |ours|), as check.py measures it (float32 sums differ by ulps of the largest value)."""
    ours = np.load(folder / "check_outputs.npz", allow_pickle=False)
    assert sorted(ours.files) == sorted(theirs)
    return max(_scaled_diff(theirs[k], ours[k]) for k in ours.files)


def _scaled_diff(got, want) -> float:
    return float(np.max(np.abs(got - want))) / max(1.0, float(np.max(np.abs(want))))


def _engine_loss_inputs(project, weights, x, target) -> dict[str, np.ndarray]:
    """The engine's value of every node output a loss reads, by the name the exporter gives
    its variable (``"fc2"``, ``"lstm_h_n"``), computed here from scratch (not from the
    exporter's files)."""
    model = GraphModel.from_dict(project.graph)
    manual_seed(project.training.seed)
    program = compile(model)
    program.load_matching(weights)
    program.eval()
    (data,) = program.sources
    with no_grad():
        trace = program.run({data: {"x": Tensor(x), "target": Tensor(target)}})
    out = {}
    for loss in program.losses:
        for _, src, port in program.call(loss).inputs:
            if src != data:
                out[src if port == "output" else f"{src}_{port}"] = trace[src][port].data
    return out


def _check_batch(project, inputs) -> tuple[np.ndarray, np.ndarray]:
    """(x, target) of the check batch: the first examples of the data node's held-out split
    (its training split when that is too short), as the exporter takes them."""
    from playground.graph.nodes.regression import DATA_SOURCES, source_dataset

    (node,) = [n for n in project.graph["nodes"] if n["type"] in DATA_SOURCES]
    params = GraphModel.from_dict(project.graph).params(node["id"])
    ds = source_dataset(node["type"], params)
    n = 4  # export_pytorch's batch_size
    split = ds.val if ds.val is not None and len(ds.val.input) >= n else ds.train
    if "forward.x" in inputs.files:  # else the model reads no data (optimizers_race)
        np.testing.assert_array_equal(split.input[:n], inputs["forward.x"])
    return split.input[:n], split.target[:n]


def _trainable_presets() -> list[str]:
    """Every preset trained by the supervised recipe from a data node (Dataset, Regression,
    GradientNoise): new ones are covered as they come (VAE and GAN have their own tests)."""
    from playground.graph.nodes.regression import DATA_SOURCES
    from playground.project import preset_names

    out = []
    for name in preset_names():
        project = load(name)
        if project.recipe["type"] == "supervised" and any(
                n["type"] in DATA_SOURCES for n in project.graph["nodes"]):
            out.append(name)
    return out


#: The presets the course is built on: they must stay in the list above.
COURSE = {"xor_mlp", "spiral_mlp", "digits_mlp", "cnn_digits", "transformer_reverse",
          "char_rnn", "char_lstm", "char_gru", "bilstm_reverse", "seq2seq_dates",
          "transformer_lm", "word2vec_skipgram", "softmax_digits", "perceptron_linear",
          "perceptron_xor", "tiny_autograd", "l1_vs_l2_outliers"}


# --------------------------------------------------------------------- trainable presets


def test_the_course_presets_are_trainable_presets():
    assert COURSE <= set(_trainable_presets())


@pytest.mark.parametrize("name", _trainable_presets())
def test_supervised_presets_match_the_engine(name, tmp_path):
    from playground.graph import REGISTRY

    project, weights = _trained(name)
    folder = export_pytorch(project, tmp_path / name, weights)
    model, theirs = _torch_outputs(folder)
    assert _max_diff(folder, theirs) <= TOL
    # the exporter's reference numbers are the engine's own
    inputs = np.load(folder / "check_inputs.npz", allow_pickle=False)
    ours = _engine_loss_inputs(project, weights, *_check_batch(project, inputs))
    assert ours
    for var, value in ours.items():
        assert _scaled_diff(theirs[f"forward.{var}"], value) <= TOL, var
    # submodules are the canvas's nodes, and the trained weights are in them (a loss's
    # own weights, word2vec's context table, stay out of the module)
    types = {n["id"]: n["type"] for n in project.graph["nodes"]}
    state = model.state_dict()
    for key, value in weights.items():
        node = key.split(".", 1)[0]     # an open block's node: "self_attn/q_proj"
        top = node if node in types else node.split("/", 1)[0]  # a closed block's
        assert top in types
        if REGISTRY[types[top]].is_loss:
            continue
        got = state[node if types[top] == "Parameter" else key.replace("/", ".")]
        np.testing.assert_array_equal(got.numpy(), value)


def test_vae_encode_and_decode_match_the_engine(tmp_path):
    project, weights = _trained("vae_digits")
    folder = export_pytorch(project, tmp_path / "vae", weights)
    model, theirs = _torch_outputs(folder)
    assert set(_calls(folder)) == {"encode", "decode"}
    assert set(theirs) == {"encode.mu", "encode.logvar", "decode.dec_out"}
    assert _max_diff(folder, theirs) <= TOL
    # forward = encode, sample z = mu + exp(logvar/2)*eps, decode: the same eps, the same
    x = torch.from_numpy(np.load(folder / "check_inputs.npz")["encode.x"])
    with torch.no_grad():
        torch.manual_seed(3)
        mu, logvar, recon = model(x)
        torch.manual_seed(3)
        eps = torch.randn_like(mu)
        by_hand = model.decode(mu + torch.exp(0.5 * logvar) * eps)
    assert torch.equal(recon, by_hand)
    assert not torch.allclose(recon, model.decode(mu), atol=1e-3)  # z is a sample


def test_gan_generator_and_discriminator_match_the_engine(tmp_path):
    project, weights = _trained("gan_ring")
    folder = export_pytorch(project, tmp_path / "gan", weights)
    model, theirs = _torch_outputs(folder)
    assert set(_calls(folder)) == {"generator", "discriminator"}
    assert _max_diff(folder, theirs) <= TOL
    keys = set(model.state_dict())
    assert "generator.g_fc1.weight" in keys and "discriminator.d_out.bias" in keys
    # the two parts chain: D(G(z)) from torch equals the engine's d_out
    z = torch.from_numpy(np.load(folder / "check_inputs.npz")["generator.noise"])
    with torch.no_grad():
        d = model.discriminator(model.generator(z)).numpy()
    assert np.max(np.abs(d - np.load(folder / "check_outputs.npz")["discriminator.d_out"])) \
        <= TOL


# ------------------------------------------------------------------ architecture presets


def test_lenet5_matches_the_engine(tmp_path):
    folder = export_pytorch(load("lenet5"), tmp_path / "lenet5", batch_size=2)
    _, theirs = _torch_outputs(folder)
    assert _max_diff(folder, theirs) <= TOL


def test_resnet18_at_a_small_input_with_batchnorm_statistics(tmp_path):
    project = load("resnet18")
    for node in project.graph["nodes"]:
        if node["type"] == "Input":
            node["params"]["shape"] = [3, 32, 32]
    manual_seed(0)
    program = compile(GraphModel.from_dict(project.graph))
    rng = np.random.default_rng(1)
    weights = program.state_dict()
    for call in program.calls:  # running statistics far from 0 and 1: buffers must transfer
        if call.module is not None and call.spec.type == "BatchNorm2d":
            c = call.module.num_features
            weights[f"{call.node_id}.running_mean"] = rng.normal(0, 0.1, c).astype(np.float32)
            weights[f"{call.node_id}.running_var"] = rng.uniform(0.5, 2, c).astype(np.float32)
    folder = export_pytorch(project, tmp_path / "resnet18", weights, batch_size=2)
    model, theirs = _torch_outputs(folder)
    assert _max_diff(folder, theirs) <= TOL
    bn = model.layer1_0.bn1
    np.testing.assert_array_equal(bn.running_var.numpy(), weights["layer1_0/bn1.running_var"])
    text = (folder / "model.py").read_text()
    # one class per distinct block, its params as constructor arguments
    assert "class ResNetBasicBlock(nn.Module):" in text
    assert "def __init__(self, in_channels, planes, stride):" in text
    assert "ResNetBasicBlockDownsample(in_channels=64, planes=128, stride=2)" in text
    assert text.count("\nclass ") == 3


# ------------------------------------------------------------------------- the files


def test_check_script_passes_and_fails_above_the_tolerance(tmp_path):
    folder = export_pytorch(load("cnn_digits"), tmp_path / "cnn")
    run = subprocess.run([sys.executable, str(folder / "check.py")], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "max difference" in run.stdout and "ok" in run.stdout
    # tamper with the reference outputs: check.py must notice and exit non-zero
    expected = dict(np.load(folder / "check_outputs.npz"))
    key = next(iter(expected))
    expected[key] = expected[key] + 1e-3
    np.savez(folder / "check_outputs.npz", **expected)
    run = subprocess.run([sys.executable, str(folder / "check.py")], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 1
    assert "FAILED" in run.stdout


@pytest.mark.parametrize("name", ["transformer_reverse", "vae_digits", "gan_ring"])
def test_generated_code_is_plain_python(name, tmp_path):
    folder = export_pytorch(load(name), tmp_path / name)
    for file in ("model.py", "check.py"):
        py_compile.compile(str(folder / file), doraise=True)
        text = (folder / file).read_text()
        assert not re.search(r"(?<![.\w])(eval|exec)\(", text)  # model.eval() is fine
        assert "allow_pickle=False" in text
        assert max(len(line) for line in text.splitlines()) <= 99
    text = (folder / "model.py").read_text()
    assert "torch.from_numpy" in text
    # one forward line per node: every non-data, non-loss node of the canvas appears
    for node in load(name).graph["nodes"]:
        if node["type"] not in ("Dataset", "Input") and "Loss" not in node["type"] \
                and node["type"] != "GaussianKL":
            assert re.search(rf"\b{node['id']}\b", text), node["id"]


def test_node_ids_become_distinct_identifiers(tmp_path):
    graph = {"nodes": [
        {"id": "data", "type": "Dataset", "params": {"dataset": "xor"}},
        {"id": "fc-1", "type": "Linear", "params": {"in_features": 2, "out_features": 4}},
        {"id": "fc_1", "type": "Tanh", "params": {}},
        {"id": "class", "type": "Linear", "params": {"in_features": 4, "out_features": 2}},
        {"id": "eval", "type": "ReLU", "params": {}},
        {"id": "loss", "type": "CrossEntropyLoss", "params": {}}],
        "edges": [
            {"src": "data", "src_port": "x", "dst": "fc-1", "dst_port": "input"},
            {"src": "fc-1", "src_port": "output", "dst": "fc_1", "dst_port": "input"},
            {"src": "fc_1", "src_port": "output", "dst": "class", "dst_port": "input"},
            {"src": "class", "src_port": "output", "dst": "eval", "dst_port": "input"},
            {"src": "eval", "src_port": "output", "dst": "loss", "dst_port": "input"},
            {"src": "data", "src_port": "target", "dst": "loss", "dst_port": "target"}]}
    project = load("xor_mlp")
    project.graph = graph
    project.weights = None
    folder = export_pytorch(project, tmp_path / "names")
    text = (folder / "model.py").read_text()
    attrs = re.findall(r"self\.(\w+) = nn\.", text)
    assert len(attrs) == len(set(attrs)) == 4
    assert "self.fc_1 = nn.Linear" in text and "self.fc_1_2 = nn.Tanh" in text
    # a keyword and an nn.Module method name are not usable as submodule names
    assert "class_2" in attrs and "eval_2" in attrs
    _, theirs = _torch_outputs(folder)
    assert _max_diff(folder, theirs) <= TOL


def test_node_types_without_a_mapping_are_listed_in_one_message(tmp_path, monkeypatch):
    monkeypatch.delitem(pytorch_nodes.MAPPINGS, "Tanh")
    monkeypatch.delitem(pytorch_nodes.MAPPINGS, "Linear")
    with pytest.raises(PyTorchExportError) as err:
        export_pytorch(load("xor_mlp"), tmp_path / "refused")
    message = str(err.value)
    assert "Linear (fc1, fc2)" in message and "Tanh (tanh1)" in message
    assert not (tmp_path / "refused").exists()  # nothing half-written


def test_wrap_breaks_long_calls_at_commas():
    line = "        self.encoder = nn.TransformerEncoderLayer(" + ", ".join(
        f"argument_{k}={k}" for k in range(12)) + ")"
    lines = wrap(line)
    assert len(lines) > 1 and all(len(x) <= 99 for x in lines)
    joined = " ".join(x.strip() for x in lines)
    assert joined.replace("( ", "(") == line.strip()


# ----------------------------------------------------- node types no preset uses


def _graph(*nodes, wires=()):
    """A GraphModel from ``(id, type, params)`` nodes and ``"src.port->dst.port"`` wires."""
    model = GraphModel()
    for node_id, type_name, params in nodes:
        model.add_node(type_name, params, node_id=node_id)
    for wire in wires:
        (src, sport), (dst, dport) = (w.split(".") for w in wire.split("->"))
        model.connect(src, sport, dst, dport)
    assert not model.errors(), model.errors()
    return model


def _export_graph(model: GraphModel, folder: Path):
    project = load("xor_mlp")
    project.name = "custom"
    project.graph = model.to_dict()
    project.weights = None
    project.recipe = {"type": "supervised"}
    folder = export_pytorch(project, folder)
    _, theirs = _torch_outputs(folder)
    return folder, _max_diff(folder, theirs)


def test_recurrent_layers_chunks_and_means(tmp_path):
    model = _graph(
        ("data", "Dataset", {"dataset": "reverse"}),
        ("embed", "Embedding", {"num_embeddings": 10, "embedding_dim": 8}),
        ("lstm", "LSTM", {"input_size": 8, "hidden_size": 6, "batch_first": True,
                          "num_layers": 2}),
        ("gru", "GRU", {"input_size": 6, "hidden_size": 4, "batch_first": True,
                        "bidirectional": True}),
        ("rnn", "RNN", {"input_size": 8, "hidden_size": 8, "nonlinearity": "relu",
                        "batch_first": True}),
        ("halves", "Chunk", {"chunks": 2, "dim": 2}),
        ("joined", "Concat", {"dim": 2}),
        ("avg", "Mean", {"dim": 1}),
        ("sdpa", "ScaledDotProductAttention", {"is_causal": True}),
        ("glu", "GLU", {"dim": -1}),
        ("head", "Linear", {"in_features": 12, "out_features": 3}),
        ("act", "ELU", {}),
        wires=["data.x->embed.input", "embed.output->lstm.input", "lstm.output->gru.input",
               "embed.output->rnn.input", "rnn.output->halves.input",
               "gru.output->joined.input0", "halves.out0->joined.input1",
               "joined.output->sdpa.query", "joined.output->sdpa.key",
               "joined.output->sdpa.value", "sdpa.output->avg.input",
               "avg.output->head.input", "head.output->act.input", "lstm.c_n->glu.input"])
    folder, diff = _export_graph(model, tmp_path / "rnn")
    assert diff <= TOL
    text = (folder / "model.py").read_text()
    assert "lstm_output, (_, lstm_c_n) = self.lstm(embed)" in text  # h_n unused: _
    assert "halves, _ = torch.chunk(rnn, 2, dim=2)" in text


def test_transposed_convs_norms_and_the_attention_block(tmp_path):
    model = _graph(
        ("data", "Dataset", {"dataset": "digits"}),
        ("image", "Reshape", {"shape": (1, 8, 8)}),
        ("up", "ConvTranspose2d", {"in_channels": 1, "out_channels": 4, "kernel_size": 3,
                                   "stride": 2, "padding": 1, "output_padding": 1}),
        ("bn", "BatchNorm2d", {"num_features": 4}),
        ("act", "GELU", {"approximate": "tanh"}),
        ("pool", "AvgPool2d", {"kernel_size": 2}),
        ("seq", "Reshape", {"shape": (4, 64)}),
        ("attn", "MultiheadAttentionBlock", {"embed_dim": 64, "num_heads": 4,
                                             "is_causal": True}),
        ("enc", "TransformerEncoderBlock", {"d_model": 64, "nhead": 4,
                                            "dim_feedforward": 32}),
        ("flat", "Flatten", {}),
        ("bn1", "BatchNorm1d", {"num_features": 256}),
        ("out", "Linear", {"in_features": 256, "out_features": 10}),
        ("soft", "LogSoftmax", {"dim": 1}),
        wires=["data.x->image.input", "image.output->up.input", "up.output->bn.input",
               "bn.output->act.input", "act.output->pool.input", "pool.output->seq.input",
               "seq.output->attn.query", "seq.output->attn.key", "seq.output->attn.value",
               "attn.output->enc.src", "enc.output->flat.input", "flat.output->bn1.input",
               "bn1.output->out.input", "out.output->soft.input"])
    folder, diff = _export_graph(model, tmp_path / "blocks")
    assert diff <= TOL
    text = (folder / "model.py").read_text()
    assert "class MultiheadAttentionBlock(nn.Module):" in text
    assert "class TransformerEncoderBlock(nn.Module):" in text
    assert "def apply_causal_mask(scores" in text  # the block's mask, as a helper
    assert "causal_mask = apply_causal_mask(scale)" in text
    # the block without the mask is a class of its own, named for the difference
    assert "class MultiheadAttentionBlockNotCausal(nn.Module):" in text


def test_recurrent_attention_gets_its_own_small_classes(tmp_path):
    model = _graph(
        ("data", "Dataset", {"dataset": "reverse"}),
        ("src", "Embedding", {"num_embeddings": 10, "embedding_dim": 8}),
        ("enc", "GRU", {"input_size": 8, "hidden_size": 6, "batch_first": True}),
        ("shift", "ShiftRight", {"bos": 10}),
        ("tgt", "Embedding", {"num_embeddings": 11, "embedding_dim": 8}),
        ("dec", "LSTM", {"input_size": 8, "hidden_size": 5, "batch_first": True}),
        ("luong", "LuongAttention", {"query_dim": 5, "key_dim": 6, "score": "general",
                                     "padding_idx": 0}),
        ("bahdanau", "AdditiveAttention", {"query_dim": 5, "key_dim": 6, "attn_dim": 7,
                                           "bias": False}),
        ("both", "Concat", {"dim": 2}),
        wires=["data.x->src.input", "src.output->enc.input", "data.target->shift.input",
               "shift.output->tgt.input", "tgt.output->dec.input",
               "dec.output->luong.query", "enc.output->luong.key",
               "data.x->luong.src_tokens", "dec.output->bahdanau.query",
               "enc.output->bahdanau.key", "src.output->bahdanau.value",
               "luong.attn_weights->both.input0", "bahdanau.output->both.input1"])
    folder, diff = _export_graph(model, tmp_path / "seq")
    assert diff <= TOL
    inputs = np.load(folder / "check_inputs.npz")
    assert (inputs["forward.x"] == 0).any()  # the padding mask had something to mask
    text = (folder / "model.py").read_text()
    assert "class LuongAttention(nn.Module):" in text
    assert "class AdditiveAttention(nn.Module):" in text
    assert "key_padding_mask=x == 0" in text


def test_groups_and_open_blocks_become_classes(tmp_path):
    model = _graph(
        ("data", "Dataset", {"dataset": "digits"}),
        ("image", "Reshape", {"shape": (1, 8, 8)}),
        ("stem", "Conv2d", {"in_channels": 1, "out_channels": 4, "kernel_size": 3,
                            "padding": 1}),
        ("res", "ResNetBasicBlock", {"in_channels": 4, "planes": 8, "stride": 2}),
        ("flat", "Flatten", {}),
        ("fc", "Linear", {"in_features": 128, "out_features": 10}),
        ("act", "Tanh", {}),
        wires=["data.x->image.input", "image.output->stem.input", "stem.output->res.input",
               "res.output->flat.input", "flat.output->fc.input", "fc.output->act.input"])
    model.open_composite("res")            # an open block is written as its class
    model.group_nodes(["fc", "act"])       # a user's group too
    assert model.groups() == ["res"]
    folder, diff = _export_graph(model, tmp_path / "groups")
    assert diff <= TOL
    text = (folder / "model.py").read_text()
    assert "self.res = ResNetBasicBlockDownsample(in_channels=4, planes=8, stride=2)" in text \
        or "self.res = ResNetBasicBlock(in_channels=4, planes=8, stride=2)" in text
    assert "class Group1(nn.Module):" in text
    assert "return act" in text  # the group's last node, though nothing reads it
    keys = set(np.load(folder / "weights.npz").files)
    assert {"res.conv1.weight", "res.downsample_bn.running_var", "group_1.fc.weight"} <= keys


def test_a_blocks_inner_sizes_are_written_in_its_params(tmp_path):
    model = _graph(
        ("image", "Input", {"shape": (8, 6, 6)}),
        ("dense", "DenseBlock", {"num_layers": 3, "in_channels": 8, "growth_rate": 4,
                                 "bn_size": 2}),
        ("dense2", "DenseBlock", {"num_layers": 2, "in_channels": 20, "growth_rate": 4,
                                  "bn_size": 2}),
        wires=["image.output->dense.input", "dense.output->dense2.input"])
    folder, diff = _export_graph(model, tmp_path / "dense")
    assert diff <= TOL
    text = (folder / "model.py").read_text()
    assert "def __init__(self, in_channels, growth_rate, bn_size):" in text
    assert "nn.Conv2d(in_channels, growth_rate * bn_size, 1, bias=False)" in text
    assert "DenseLayer(in_channels=in_channels + 2 * growth_rate," in text
    assert "class DenseBlockNumLayers2(nn.Module):" in text
    assert "self.dense = DenseBlock(in_channels=8, growth_rate=4, bn_size=2)" in text


def test_a_loss_with_weights_stays_out_of_the_module_and_its_weights_file(tmp_path):
    # word2vec's NegativeSamplingLoss holds the context table: the module is the center
    # embedding, and weights.npz holds only what the module loads
    project, weights = _trained("word2vec_skipgram")
    folder = export_pytorch(project, tmp_path / "w2v", weights)
    model, theirs = _torch_outputs(folder)
    assert _max_diff(folder, theirs) <= TOL
    saved = np.load(folder / "weights.npz", allow_pickle=False)
    assert set(saved.files) == set(model.state_dict()) == {"center.weight"}
    np.testing.assert_array_equal(saved["center.weight"], weights["center.weight"])
    assert "NegativeSamplingLoss" in (folder / "model.py").read_text()  # named in a comment


def test_primitives_parameters_and_constants(tmp_path):
    model = _graph(
        ("x", "Input", {"shape": (5,)}),
        ("w", "Parameter", {"shape": (5,), "init": "normal"}),
        ("one", "Constant", {"shape": (1,), "value": 1.0}),
        ("sq", "Pow", {"exponent": 2.0}),
        ("u", "Add", {}),
        ("ln", "Log", {}),
        ("wx", "Multiply", {}),
        ("e", "Exp", {}),
        ("root", "Pow", {"exponent": 0.5}),
        ("cube", "Pow", {"exponent": 3.0}),
        ("d", "Subtract", {}),
        wires=["x.output->sq.input", "sq.output->u.input", "one.output->u.other",
               "u.output->ln.input", "ln.output->wx.input", "w.output->wx.other",
               "wx.output->e.input", "e.output->root.input", "x.output->cube.input",
               "cube.output->d.input", "root.output->d.other"])
    folder, diff = _export_graph(model, tmp_path / "prims")
    assert diff <= TOL
    text = (folder / "model.py").read_text()
    assert "self.w = nn.Parameter(torch.zeros((5,)))" in text
    assert "one = torch.full((1,), 1.0)" in text and "torch.pow(x, 3)" in text
    saved = np.load(folder / "weights.npz", allow_pickle=False)
    assert saved.files == ["w"]  # the tensor is the attribute: its key is the node's id
    inputs = np.load(folder / "check_inputs.npz", allow_pickle=False)
    assert (inputs["forward.x"] < 0).any()  # x³ of negative x: an integer power


@pytest.mark.parametrize("name", [n for n in preset_names()
                                  if load(n).recipe["type"] in ("gan", "vae")])
def test_every_gan_and_vae_preset_matches_the_engine(name, tmp_path):
    project, weights = _trained(name)
    folder = export_pytorch(project, tmp_path / name, weights)
    _, theirs = _torch_outputs(folder)
    assert len(theirs) >= 2 and _max_diff(folder, theirs) <= TOL

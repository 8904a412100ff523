"""Every node type: shape inference, compile(), forward and backward; costs against hand
numbers and torch's parameter counts; the exact text of the shape errors."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from playground.engine import Tensor, manual_seed, ops
from playground.graph import REGISTRY, GraphModel, ParamError, ParamSpec, compile, summary

try:
    from playground.graph.composite import is_composite
except ImportError:  # pragma: no cover - before the composites land
    def is_composite(spec):
        return False

N = 3  # batch size of every run

# ------------------------------------------------------------------------------ the cases
#
# A case wires the node under test to sources: a float input port gets an Input node of the
# given example shape (without N); "index:C" gets a Dataset's target with C classes (digits:
# 10); "seq:L" a reverse Dataset's target (N, L); "tokens:L" an int64 Input (N, L) of token
# indices 0..9. ``feed`` overrides the random values of an input port (a function of the
# full shape).
# ``out`` gives the expected output shapes (None is N).


def case(inputs, params=None, out=None, feed=None, constant=False, finite=True):
    """``constant``: the output depends on no parameter and no input (noise, a table);
    ``finite=False``: the output holds -inf by design (a mask)."""
    return dict(inputs=inputs, params=params or {}, out=out, feed=feed or {},
                constant=constant, finite=finite)


def _probs(shape):
    return np.random.default_rng(1).uniform(0.05, 0.95, shape)


def _log_probs(shape):
    p = np.random.default_rng(2).uniform(0.1, 1.0, shape)
    return np.log(p / p.sum(-1, keepdims=True))


SEQ = dict(batch_first=True)
CASES = {
    # Data (fed from outside; checked in test_sources_are_fed_not_built)
    # Layers
    "Linear": case({"input": (5,)}, dict(in_features=5, out_features=4), {"output": (None, 4)}),
    "Embedding": case({"input": "tokens:5"}, dict(num_embeddings=10, embedding_dim=6,
                                                  padding_idx=0), {"output": (None, 5, 6)}),
    "Flatten": case({"input": (2, 3, 4)}, {}, {"output": (None, 24)}),
    "Dropout": case({"input": (7,)}, dict(p=0.3), {"output": (None, 7)}),
    "Identity": case({"input": (2, 3)}, {}, {"output": (None, 2, 3)}),
    # Convolution
    "Conv2d": case({"input": (2, 7, 6)}, dict(in_channels=2, out_channels=4, kernel_size=(3, 2),
                                             stride=2, padding=1, dilation=1),
                   {"output": (None, 4, 4, 4)}),
    "ConvTranspose2d": case({"input": (4, 3, 3)},
                            dict(in_channels=4, out_channels=2, kernel_size=3, stride=2,
                                 padding=1, output_padding=1), {"output": (None, 2, 6, 6)}),
    "MaxPool2d": case({"input": (2, 5, 5)}, dict(kernel_size=2), {"output": (None, 2, 2, 2)}),
    "AvgPool2d": case({"input": (2, 5, 5)}, dict(kernel_size=3, stride=2, padding=1),
                      {"output": (None, 2, 3, 3)}),
    "AdaptiveAvgPool2d": case({"input": (3, 5, 4)}, dict(output_size=(2, 1)),
                              {"output": (None, 3, 2, 1)}),
    # Recurrent
    "RNN": case({"input": (5, 3)}, dict(input_size=3, hidden_size=4, **SEQ),
                {"output": (None, 5, 4), "h_n": (1, None, 4)}),
    "LSTM": case({"input": (5, 3)}, dict(input_size=3, hidden_size=4, num_layers=2,
                                         bidirectional=True, **SEQ),
                 {"output": (None, 5, 8), "h_n": (4, None, 4), "c_n": (4, None, 4)}),
    "GRU": case({"input": (5, 3)}, dict(input_size=3, hidden_size=4, **SEQ),
                {"output": (None, 5, 4), "h_n": (1, None, 4)}),
    # Attention
    "MultiheadAttention": case({"query": (4, 8), "key": (6, 8), "value": (6, 8)},
                               dict(embed_dim=8, num_heads=2, **SEQ),
                               {"output": (None, 4, 8), "attn_weights": (None, 4, 6)}),
    "ScaledDotProductAttention": case({"query": (2, 4, 5), "key": (2, 6, 5),
                                       "value": (2, 6, 3)}, dict(is_causal=False),
                                      {"output": (None, 2, 4, 3)}),
    "TransformerEncoderLayer": case({"src": (5, 8)}, dict(d_model=8, nhead=2, dim_feedforward=16,
                                                          dropout=0.0, is_causal=True, **SEQ),
                                    {"output": (None, 5, 8)}),
    "TransformerDecoderLayer": case({"tgt": (4, 8), "memory": (6, 8)},
                                    dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0,
                                         tgt_is_causal=True, **SEQ), {"output": (None, 4, 8)}),
    "AdditiveAttention": case({"query": (4, 6), "key": (5, 8)},
                              dict(query_dim=6, key_dim=8, attn_dim=7),
                              {"output": (None, 4, 8), "attn_weights": (None, 4, 5)}),
    "LuongAttention": case({"query": (4, 6), "key": (5, 6), "value": (5, 3)},
                           dict(query_dim=6, key_dim=6, score="dot"),
                           {"output": (None, 4, 3), "attn_weights": (None, 4, 5)}),
    # Normalisation
    "BatchNorm1d": case({"input": (4, 5)}, dict(num_features=4), {"output": (None, 4, 5)}),
    "BatchNorm2d": case({"input": (3, 4, 4)}, dict(num_features=3), {"output": (None, 3, 4, 4)}),
    "LayerNorm": case({"input": (5, 6)}, dict(normalized_shape=6), {"output": (None, 5, 6)}),
    # Activations
    "ReLU": case({"input": (5,)}, {}, {"output": (None, 5)}),
    "Sigmoid": case({"input": (5,)}, {}, {"output": (None, 5)}),
    "Tanh": case({"input": (5,)}, {}, {"output": (None, 5)}),
    "Softmax": case({"input": (5,)}, {}, {"output": (None, 5)}),
    "LogSoftmax": case({"input": (5,)}, {}, {"output": (None, 5)}),
    "LeakyReLU": case({"input": (5,)}, dict(negative_slope=0.2), {"output": (None, 5)}),
    "ELU": case({"input": (5,)}, dict(alpha=0.5), {"output": (None, 5)}),
    "GELU": case({"input": (5,)}, dict(approximate="tanh"), {"output": (None, 5)}),
    "GLU": case({"input": (3, 6)}, {}, {"output": (None, 3, 3)}),
    "Softplus": case({"input": (5,)}, dict(beta=2.0), {"output": (None, 5)}),
    # Math
    "Add": case({"input": (4, 3), "other": (1, 3)}, {}, {"output": (None, 4, 3)}),
    "Multiply": case({"input": (4, 3), "other": (4, 1)}, {}, {"output": (None, 4, 3)}),
    "Concat": case({"input0": (2, 3), "input1": (5, 3), "input3": (1, 3)}, {},
                   {"output": (None, 8, 3)}),
    "Chunk": case({"input": (7, 2)}, dict(chunks=3),
                  {"out0": (None, 3, 2), "out1": (None, 3, 2), "out2": (None, 1, 2),
                   "out3": None}),
    "Reshape": case({"input": (12,)}, dict(shape=(3, -1)), {"output": (None, 3, 4)}),
    "Permute": case({"input": (2, 3, 4)}, dict(dims=(0, 3, 1, 2)),
                    {"output": (None, 4, 2, 3)}),
    "MatMul": case({"input": (2, 4, 5), "other": (1, 5, 3)}, {}, {"output": (None, 2, 4, 3)}),
    "Mean": case({"input": (2, 3, 4)}, dict(dim=(2, 3)), {"output": (None, 2)}),
    # Losses
    "CrossEntropyLoss": case({"input": (10,), "target": "index:10"}, {}, {"output": ()}),
    "NegativeSamplingLoss": case({"input": (6,), "target": "seq:4"},  # 1 context + 3 negatives
                                 dict(num_embeddings=10, embedding_dim=6), {"output": ()}),
    "NLLLoss": case({"input": (10,), "target": "index:10"}, {}, {"output": ()},
                    feed={"input": _log_probs}),
    "MSELoss": case({"input": (4,), "target": (4,)}, {}, {"output": ()}),
    "L1Loss": case({"input": (4,), "target": (4,)}, dict(reduction="sum"), {"output": ()}),
    "SmoothL1Loss": case({"input": (4,), "target": (4,)}, dict(beta=0.5), {"output": ()}),
    "BCELoss": case({"input": (4,), "target": (4,)}, {}, {"output": ()},
                    feed={"input": _probs, "target": _probs}),
    "BCEWithLogitsLoss": case({"input": (4,), "target": (4,)}, {}, {"output": ()},
                              feed={"target": _probs}),
    "KLDivLoss": case({"input": (4,), "target": (4,)}, dict(reduction="batchmean"),
                      {"output": ()}, feed={"input": _log_probs, "target": _probs}),
    "GaussianKL": case({"mu": (3,), "logvar": (3,)}, {}, {"output": ()}),
    # Generative
    "Reparameterize": case({"mu": (3,), "logvar": (3,)}, {}, {"z": (None, 3)}),
    "NoiseSource": case({"reference": (2,)}, dict(dim=5), {"output": (None, 5)}, constant=True),
    # the primitives the composite blocks are drawn with (nodes/math.py, nodes/attention.py)
    "Scale": case({"input": (4,)}, dict(scale=0.5), {"output": (None, 4)}),
    "Subtract": case({"input": (4, 3), "other": (1, 3)}, {}, {"output": (None, 4, 3)}),
    "CausalMask": case({"input": (2, 4, 4)}, {}, {"output": (None, 2, 4, 4)}, finite=False),
    "SinusoidalTable": case({"input": (5, 6)}, {}, {"output": (5, 6)}, constant=True),
    # Data: teacher forcing's decoder input (int64 tokens: nothing to differentiate)
    "ShiftRight": case({"input": "seq:8"}, dict(bos=10), {"output": (None, 8)}, constant=True),
    # the primitives of a model drawn op by op (nodes/primitives.py)
    "Log": case({"input": (4,)}, {}, {"output": (None, 4)}, feed={"input": _probs}),
    "Exp": case({"input": (4,)}, {}, {"output": (None, 4)}),
    "Pow": case({"input": (4,)}, dict(exponent=3.0), {"output": (None, 4)}),
    "Parameter": case({}, dict(shape=(2, 3)), {"output": (2, 3)}),
    "Constant": case({}, dict(shape=(3,), value=2.0), {"output": (3,)}, constant=True),
    # an optimization problem's loss (nodes/optimization.py; its data: GradientNoise)
    "TestFunction": case({"x": (1,), "y": (1,)}, dict(function="beale"), {"output": ()}),
}

SOURCES = {"Dataset", "Input", "Regression", "GradientNoise"}
TYPES = [s.type for s in REGISTRY if not is_composite(s)]


def test_every_registered_type_has_a_case():
    assert sorted(set(TYPES) - SOURCES - set(CASES)) == []
    assert sorted(set(CASES) - set(TYPES)) == []


def build_case(type_name: str):
    """(model, node id, feeds) for the case of ``type_name``."""
    c = CASES[type_name]
    m = GraphModel()
    feeds = {}
    rng = np.random.default_rng(0)
    for port, src in c["inputs"].items():
        if isinstance(src, str) and src.startswith("tokens:"):
            length = int(src.split(":")[1])
            m.add_node("Input", {"shape": (length,), "dtype": "int64"}, node_id=f"x_{port}")
            feeds[f"x_{port}"] = {"output": Tensor(rng.integers(0, 10, (N, length)))}
            continue
        if isinstance(src, str) and src.startswith("seq:"):  # "seq:L": reversed digits
            data = f"data_{port}"
            m.add_node("Dataset", {"dataset": "reverse"}, node_id=data)
            length = int(src.split(":")[1])
            feeds[data] = {"input": Tensor(rng.integers(0, 10, (N, length))),
                           "target": Tensor(rng.integers(0, 10, (N, length)))}
            continue
        if isinstance(src, str):  # "index:C": a Dataset's class targets
            data = f"data_{port}"
            m.add_node("Dataset", {"dataset": "digits"}, node_id=data)
            feeds[data] = {"input": Tensor(np.zeros((N, 64), np.float32)),
                           "target": Tensor(rng.integers(0, 10, N))}
            continue
        x = f"x_{port}"
        m.add_node("Input", {"shape": src}, node_id=x)
        full = (N, *src)
        values = c["feed"][port](full) if port in c["feed"] else rng.normal(size=full)
        feeds[x] = {"output": Tensor(np.asarray(values, np.float32), requires_grad=True)}
    m.add_node(type_name, c["params"], node_id="node")
    for port, src in c["inputs"].items():
        if isinstance(src, str) and src.startswith(("index:", "seq:")):
            m.connect(f"data_{port}", "target", "node", port)
        else:
            m.connect(f"x_{port}", "output", "node", port)
    return m, "node", feeds


def with_n(shape):
    return None if shape is None else tuple(N if d is None else d for d in shape)


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_node_infers_compiles_and_runs_forward_and_backward(type_name):
    manual_seed(0)
    c = CASES[type_name]
    m, node, feeds = build_case(type_name)
    assert m.errors() == {}
    state = m.state(node)
    assert state.outputs == c["out"]

    program = compile(m)
    trace = program.run(feeds)
    outs = trace[node]
    for port, shape in c["out"].items():
        if shape is None:  # an unused port (Chunk with fewer chunks)
            assert port not in outs
            continue
        assert tuple(outs[port].shape) == with_n(shape), port
        assert not c["finite"] or np.all(np.isfinite(outs[port].data)), port

    # backward: a random projection of every float output down to a scalar
    rng = np.random.default_rng(3)
    total = None
    for port, shape in c["out"].items():
        if shape is None:
            continue
        y = outs[port]
        w = rng.normal(size=y.shape).astype(np.float32)
        if not c["finite"]:
            w[~np.isfinite(y.data)] = 0  # -inf * 0 would be nan: keep the finite entries
            y = ops.where(Tensor(np.isfinite(y.data)), y, Tensor(np.zeros(y.shape, np.float32)))
        term = (y * Tensor(w)).sum() if y.shape else y
        total = term if total is None else total + term
    module = program.call(node).module
    params = list(module.named_parameters())
    if c["constant"]:  # no parameters and no input it depends on
        assert params == [] and not any(t.requires_grad for t in outs.values())
        return
    total.backward()
    for name, p in params:
        assert p.grad is not None and np.all(np.isfinite(p.grad)), name
    grads = [(src, v["output"].grad) for src, v in feeds.items()
             if "output" in v and v["output"].requires_grad]
    for src, g in grads:
        assert g is not None and np.all(np.isfinite(g)), src
    assert params or any(np.any(g != 0) for _, g in grads)


def test_sources_are_fed_not_built():
    m = GraphModel()
    m.add_node("Dataset", {"dataset": "digits"}, node_id="data")
    m.add_node("Input", {"shape": (3, 8, 8)}, node_id="x")
    assert m.state("data").outputs == {"x": (None, 64), "target": (None,)}
    assert m.state("x").outputs == {"output": (None, 3, 8, 8)}
    program = compile(m)
    assert program.sources == ["data", "x"]
    feed = Tensor(np.ones((2, 3, 8, 8), np.float32))
    trace = program.run({"data": {"x": Tensor(np.zeros((2, 64))),
                                  "target": Tensor(np.zeros(2, int))},
                         "x": {"output": feed}})
    assert trace["x"]["output"] is feed


def test_noise_source_takes_its_batch_from_the_reference_or_the_param():
    manual_seed(0)
    m = GraphModel()
    m.add_node("NoiseSource", {"dim": 4, "batch_size": 500}, node_id="z")
    assert m.state("z").outputs == {"output": (500, 4)}  # what it emits, not N
    z = compile(m).run({})["z"]["output"].data
    assert z.shape == (500, 4)
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1


def test_chunk_port_without_a_chunk_is_reported_on_the_node_it_feeds():
    m = GraphModel()
    m.add_node("Input", {"shape": (8,)}, node_id="x")
    m.add_node("Chunk", {"chunks": 2}, node_id="split")
    m.add_node("ReLU", node_id="r")
    m.connect("x", "output", "split", "input")
    m.connect("split", "out3", "r", "input")
    assert m.state("split").outputs["out0"] == (None, 4)
    assert m.errors() == {"r": "ReLU 'r' gets nothing from 'split'.out3: that port is unused "
                               "with split's current settings. Wire another of its outputs "
                               "into 'input'."}
    m.set_param("split", "chunks", 4)
    assert m.state("r").outputs == {"output": (None, 2)}


@pytest.mark.parametrize("size, chunks", [(6, 4), (5, 4), (7, 3), (8, 4), (2, 3), (9, 2)])
def test_chunk_sizes_follow_torch_chunk(size, chunks):
    from playground.graph.nodes.math import chunk_sizes
    torch = pytest.importorskip("torch")
    assert chunk_sizes(size, chunks) == [t.shape[0] for t in torch.zeros(size).chunk(chunks)]


def test_sequence_first_layout_runs_through_a_permute():
    """PyTorch's default batch_first=False: (L, N, E) in and out; h_n is (layers, N, H)."""
    m = GraphModel()
    m.add_node("Input", {"shape": (5, 3)}, node_id="x")
    m.add_node("Permute", {"dims": (1, 0, 2)}, node_id="t")
    m.add_node("LSTM", dict(input_size=3, hidden_size=4), node_id="lstm")
    m.add_node("Linear", dict(in_features=4, out_features=3), node_id="fc")
    m.add_node("MultiheadAttention", dict(embed_dim=3, num_heads=1), node_id="attn")
    m.connect("x", "output", "t", "input")
    m.connect("t", "output", "lstm", "input")
    m.connect("lstm", "output", "fc", "input")
    for port in ("query", "key", "value"):
        m.connect("fc", "output", "attn", port)
    assert m.errors() == {}
    assert m.state("lstm").outputs == {"output": (5, None, 4), "h_n": (1, None, 4),
                                       "c_n": (1, None, 4)}
    assert m.state("attn").outputs == {"output": (5, None, 3), "attn_weights": (None, 5, 5)}
    r = row(m, "fc")
    assert r.macs == 5 * 4 * 3  # L positions, N = 1
    x = Tensor(np.random.default_rng(0).normal(size=(N, 5, 3)).astype(np.float32))
    trace = compile(m).run({"x": {"output": x}})
    assert trace["lstm"]["output"].shape == (5, N, 4)
    assert trace["attn"]["output"].shape == (5, N, 3)
    assert trace["attn"]["attn_weights"].shape == (N, 5, 5)


# ----------------------------------------------------------------------- shape formulas


def test_mha_causal_mask_and_attention_weights_are_right():
    """The causal flag masks the future: the weights above the diagonal are zero and every
    row sums to 1."""
    manual_seed(0)
    m = GraphModel()
    m.add_node("Input", {"shape": (5, 8)}, node_id="x")
    m.add_node("MultiheadAttention", dict(embed_dim=8, num_heads=2, batch_first=True,
                                          is_causal=True, average_attn_weights=False),
               node_id="attn")
    for port in ("query", "key", "value"):
        m.connect("x", "output", "attn", port)
    assert m.state("attn").outputs["attn_weights"] == (None, 2, 5, 5)
    w = compile(m).run({"x": {"output": Tensor(np.random.default_rng(0).normal(
        size=(N, 5, 8)).astype(np.float32))}})["attn"]["attn_weights"].data
    assert w.shape == (N, 2, 5, 5)
    assert np.allclose(np.triu(w, 1), 0) and np.allclose(w.sum(-1), 1, atol=1e-5)


@pytest.mark.parametrize("h, k, s, p, d, ceil, want", [
    (56, 3, 1, 1, 1, False, 56), (224, 7, 2, 3, 1, False, 112), (112, 3, 2, 1, 1, False, 56),
    (7, 3, 2, 0, 1, False, 3), (7, 3, 2, 0, 1, True, 3), (6, 3, 2, 0, 1, True, 3),
    (10, 3, 1, 0, 2, False, 6), (5, 2, 2, 0, 1, True, 3), (5, 2, 2, 1, 1, True, 3),
])
def test_window_out_matches_the_textbook_formula_and_torch(h, k, s, p, d, ceil, want):
    from playground.graph.nodes.conv import window_out
    assert window_out(h, k, s, p, d, ceil) == want
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 1, h, h)
    assert torch.nn.functional.max_pool2d(x, k, s, p, d, ceil_mode=ceil).shape[-1] == want


# --------------------------------------------------------------------------------- costs


def single(type_name, shape, params, port="input"):
    m = GraphModel()
    m.add_node("Input", {"shape": shape}, node_id="x")
    m.add_node(type_name, params, node_id="node")
    m.connect("x", "output", "node", port)
    return m


def row(m, node="node"):
    return next(r for r in summary(m).rows if r.node == node)


def test_conv2d_cost_3x3_64_to_128_on_56x56():
    r = row(single("Conv2d", (64, 56, 56), dict(in_channels=64, out_channels=128, kernel_size=3,
                                                padding=1)))
    assert r.params == 128 * 64 * 3 * 3 + 128 == 73_856
    assert r.macs == 128 * 56 * 56 * 64 * 3 * 3 == 231_211_008
    assert r.params_formula == "C_out*C_in*K_H*K_W + C_out = 128*64*3*3 + 128"
    assert r.macs_formula == "C_out*H'*W'*C_in*K_H*K_W = 128*56*56*64*3*3"
    assert r.output_shape == "(N, 128, 56, 56)"


def test_grouped_conv_and_transposed_conv_costs():
    r = row(single("Conv2d", (32, 10, 10), dict(in_channels=32, out_channels=32, kernel_size=3,
                                                groups=32, bias=False)))
    assert (r.params, r.macs) == (32 * 1 * 9, 32 * 8 * 8 * 1 * 9)
    assert r.params_formula == "C_out*(C_in/groups)*K_H*K_W = 32*(32/32)*3*3"
    r = row(single("ConvTranspose2d", (16, 7, 7), dict(in_channels=16, out_channels=8,
                                                       kernel_size=4, stride=2, padding=1)))
    assert r.output_shape == "(N, 8, 14, 14)"
    assert (r.params, r.macs) == (16 * 8 * 16 + 8, 16 * 7 * 7 * 8 * 16)
    assert r.macs_formula == "C_in*H*W*C_out*K_H*K_W = 16*7*7*8*4*4"


def test_lstm_cost_counts_both_biases_and_the_whole_sequence():
    r = row(single("LSTM", (32, 16), dict(input_size=16, hidden_size=64, batch_first=True)))
    assert r.params == 4 * (64 * 16 + 64 * 64 + 2 * 64) == 20_992
    assert r.macs == 32 * 4 * (64 * 16 + 64 * 64) == 655_360
    assert r.params_formula == "4*(H*I + H*H + 2*H) = 4*(64*16 + 64*64 + 2*64)"
    assert r.macs_formula == "L*4*(H*I + H*H) = 32*4*(64*16 + 64*64)"
    r = row(single("GRU", (10, 8), dict(input_size=8, hidden_size=4, num_layers=2,
                                        bidirectional=True, batch_first=True)))
    assert r.params == 2 * (3 * (4 * 8 + 16 + 8) + 3 * (4 * 8 + 16 + 8))
    assert r.macs == 10 * 2 * (3 * (4 * 8 + 16) + 3 * (4 * 8 + 16))
    assert r.params_formula == ("D*(3*(H*I + H*H + 2*H) + (num_layers-1)*3*(H*D*H + H*H + 2*H))"
                                " = 2*(3*(4*8 + 4*4 + 2*4) + (2-1)*3*(4*2*4 + 4*4 + 2*4))")


def test_multihead_attention_cost():
    m = GraphModel()
    m.add_node("Input", {"shape": (16, 64)}, node_id="x")
    m.add_node("MultiheadAttention", dict(embed_dim=64, num_heads=4, batch_first=True),
               node_id="node")
    for port in ("query", "key", "value"):
        m.connect("x", "output", "node", port)
    r = row(m)
    assert r.params == 4 * 64 * 64 + 4 * 64 == 16_640
    assert r.macs == 2 * 16 * 64 * 64 + 2 * 16 * 64 * 64 + 2 * 16 * 16 * 64 == 294_912
    assert r.params_formula == "4*E*E + 4*E = 4*64*64 + 4*64"
    assert r.macs_formula == "2*L*E*E + 2*S*E*E + 2*L*S*E = 2*16*64*64 + 2*16*64*64 + 2*16*16*64"

    # cross-attention with other key/value widths: separate projections
    m = GraphModel()
    for node, shape in (("q", (4, 8)), ("k", (6, 5)), ("v", (6, 3))):
        m.add_node("Input", {"shape": shape}, node_id=node)
    m.add_node("MultiheadAttention", dict(embed_dim=8, num_heads=2, kdim=5, vdim=3,
                                          batch_first=True), node_id="node")
    for port in ("query", "key", "value"):
        m.connect(port[0], "output", "node", port)
    r = row(m)
    assert r.params == 2 * 8 * 8 + 8 * 5 + 8 * 3 + 4 * 8
    assert r.macs_formula == ("2*L*E*E + S*E*(kdim + vdim) + 2*L*S*E = "
                              "2*4*8*8 + 6*8*(5 + 3) + 2*4*6*8")
    out = compile(m).run({n: {"output": Tensor(np.ones((N, *s), np.float32))}
                          for n, s in (("q", (4, 8)), ("k", (6, 5)), ("v", (6, 3)))})
    assert out["node"]["output"].shape == (N, 4, 8)
    m.set_param("node", "vdim", 4)
    assert m.state("node").message == ("MultiheadAttention 'node' expects vdim=4 features in "
                                       "'value', got 3 from 'v'. Set vdim=3.")


def test_batchnorm_cost_counts_gamma_and_beta_not_the_running_stats():
    r = row(single("BatchNorm2d", (64, 8, 8), dict(num_features=64)))
    assert (r.params, r.macs, r.params_formula) == (128, 0, "2*C = 2*64")
    r = row(single("BatchNorm2d", (64, 8, 8), dict(num_features=64, affine=False)))
    assert r.params == 0


def test_linear_counts_every_position_of_a_sequence():
    r = row(single("Linear", (7, 5), dict(in_features=5, out_features=3)))
    assert (r.params, r.macs) == (18, 7 * 15)
    assert r.macs_formula == "positions*in_features*out_features = 7*5*3"


# every parametrised type against torch.nn's parameter count
NODE_ONLY = {"is_causal", "tgt_is_causal", "average_attn_weights", "init", "init_std"}


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_param_count_equals_torch_and_the_engine(type_name):
    m, node, _ = build_case(type_name)
    r = row(m, node)
    module = compile(m).call(node).module
    engine = sum(p.data.size for p in module.parameters())
    assert r.params == engine
    clone = copy.deepcopy(module)  # the stepper copies modules
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in module.named_parameters()]
    if engine == 0:
        return
    torch = pytest.importorskip("torch")
    theirs_cls = getattr(torch.nn, type_name, None)
    if not (isinstance(theirs_cls, type) and issubclass(theirs_cls, torch.nn.Module)):
        return  # no torch module (AdditiveAttention; nn.Parameter is a tensor): own tests
    params = {k: v for k, v in m.params(node).items() if k not in NODE_ONLY}
    theirs = getattr(torch.nn, type_name)(**params)
    assert r.params == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("type_name, params, port_shapes", [
    ("LSTM", dict(input_size=6, hidden_size=5, num_layers=3, bidirectional=True, bias=False,
                  **SEQ), {"input": (4, 6)}),
    ("RNN", dict(input_size=6, hidden_size=5, num_layers=2, nonlinearity="relu", **SEQ),
     {"input": (4, 6)}),
    ("Conv2d", dict(in_channels=6, out_channels=4, kernel_size=(1, 3), groups=2),
     {"input": (6, 5, 5)}),
    ("TransformerEncoderLayer", dict(d_model=12, nhead=3, dim_feedforward=20, bias=False,
                                     **SEQ), {"src": (4, 12)}),
    ("TransformerDecoderLayer", dict(d_model=12, nhead=3, dim_feedforward=20, **SEQ),
     {"tgt": (4, 12), "memory": (5, 12)}),
    ("LayerNorm", dict(normalized_shape=(4, 5)), {"input": (3, 4, 5)}),
    ("LayerNorm", dict(normalized_shape=5, bias=False), {"input": (3, 4, 5)}),
    ("MultiheadAttention", dict(embed_dim=12, num_heads=3, bias=False, **SEQ),
     {"query": (4, 12), "key": (4, 12), "value": (4, 12)}),
    ("MultiheadAttention", dict(embed_dim=12, num_heads=3, kdim=5, vdim=7, **SEQ),
     {"query": (4, 12), "key": (6, 5), "value": (6, 7)}),
])
def test_param_count_of_variants_equals_torch(type_name, params, port_shapes):
    torch = pytest.importorskip("torch")
    m = GraphModel()
    m.add_node(type_name, params, node_id="node")
    for port, shape in port_shapes.items():
        m.add_node("Input", {"shape": shape}, node_id=f"x_{port}")
        m.connect(f"x_{port}", "output", "node", port)
    assert m.errors() == {}
    theirs = getattr(torch.nn, type_name)(**params)
    assert row(m).params == sum(p.numel() for p in theirs.parameters())


# --------------------------------------------------------------------------- the errors


def chain(*nodes, shape=(3, 8, 8)):
    """Input 'x' -> nodes in order; each is (type, id, params)."""
    m = GraphModel()
    m.add_node("Input", {"shape": shape}, node_id="x")
    prev = "x"
    for type_name, node_id, params in nodes:
        m.add_node(type_name, params, node_id=node_id)
        m.connect(prev, "output", node_id, m.spec(node_id).inputs[0].name)
        prev = node_id
    return m


def test_conv_channel_mismatch_names_both_convs_and_the_fix():
    m = chain(("Conv2d", "conv1", dict(in_channels=3, out_channels=32)),
              ("Conv2d", "conv2", dict(in_channels=16, out_channels=8)))
    s = m.state("conv2")
    assert s.message == ("Conv2d 'conv2' expects 16 input channels, got 32 from 'conv1'. Set "
                         "in_channels=32, or change conv1.out_channels.")
    assert s.fix == ("in_channels", 32)
    m.set_param("conv2", *s.fix)
    assert m.errors() == {}


def test_kernel_larger_than_the_padded_input_gives_the_computed_size():
    m = chain(("Conv2d", "conv", dict(in_channels=1, kernel_size=5)), shape=(1, 3, 3))
    s = m.state("conv")
    assert s.message == ("Conv2d 'conv' kernel_size=5 does not fit the 3x3 input from 'x': "
                         "H' = floor((H + 2P - D*(K-1) - 1)/S) + 1 = "
                         "floor((3 + 2*0 - 1*(5-1) - 1)/1) + 1 = -1. Set padding=1.")
    m.set_param("conv", *s.fix)
    assert m.state("conv").outputs == {"output": (None, 8, 1, 1)}

    m = chain(("MaxPool2d", "pool", dict(kernel_size=(2, 4))), shape=(1, 6, 3))
    s = m.state("pool")
    assert s.message == ("MaxPool2d 'pool' kernel_size=(2, 4) does not fit the 6x3 input from "
                         "'x': W' = floor((W + 2P - D*(K-1) - 1)/S) + 1 = "
                         "floor((3 + 2*0 - 1*(4-1) - 1)/4) + 1 = 0. Set kernel_size=(2, 3).")
    m.set_param("pool", *s.fix)
    assert m.state("pool").outputs == {"output": (None, 1, 3, 1)}


def test_conv_on_flat_features_suggests_the_reshape():
    m = GraphModel()
    m.add_node("Dataset", {"dataset": "digits"}, node_id="data")
    m.add_node("Conv2d", dict(in_channels=1), node_id="conv")
    m.connect("data", "x", "conv", "input")
    assert m.state("conv").message == ("Conv2d 'conv' expects feature maps (N, C_in, H, W), got "
                                       "(N, 64) from 'data'. Add a Reshape with shape=(1, 8, 8) "
                                       "before it.")


def test_lstm_input_size_mismatch_and_batch_first():
    m = chain(("Linear", "fc", dict(in_features=8, out_features=16)),
              ("LSTM", "lstm", dict(input_size=8, hidden_size=4, batch_first=True)),
              shape=(5, 8))
    s = m.state("lstm")
    assert s.message == ("LSTM 'lstm' expects input_size=8, got 16 from 'fc'. Set "
                         "input_size=16, or change fc.out_features.")
    assert s.fix == ("input_size", 16)
    m.set_param("lstm", "input_size", 16)
    m.set_param("lstm", "batch_first", False)
    s = m.state("lstm")
    assert s.message == ("LSTM 'lstm' expects (L, N, input_size) in 'input' since "
                         "batch_first=False, but the batch N of (N, 5, 16) from 'fc' is dim 0. "
                         "Set batch_first=True.")
    assert s.fix == ("batch_first", True)


def test_mha_embed_dim_mismatch_and_heads_that_do_not_divide_it():
    m = GraphModel()
    m.add_node("Input", {"shape": (5, 4)}, node_id="x")
    m.add_node("Linear", dict(in_features=4, out_features=16), node_id="fc")
    m.add_node("MultiheadAttention", dict(embed_dim=32, num_heads=4, batch_first=True),
               node_id="attn")
    m.connect("x", "output", "fc", "input")
    for port in ("query", "key", "value"):
        m.connect("fc", "output", "attn", port)
    s = m.state("attn")
    assert s.message == ("MultiheadAttention 'attn' expects embed_dim=32 features in 'query', "
                         "got 16 from 'fc'. Set embed_dim=16, or change fc.out_features.")
    assert s.fix == ("embed_dim", 16)
    m.set_param("attn", "embed_dim", 30)
    s = m.state("attn")
    assert s.message == ("MultiheadAttention 'attn' has embed_dim=30, which is not divisible by "
                         "num_heads=4: each head attends with embed_dim/num_heads features. Set "
                         "num_heads=3.")
    assert s.fix == ("num_heads", 3)


def test_add_with_shapes_that_do_not_broadcast():
    m = GraphModel()
    m.add_node("Input", {"shape": (4,)}, node_id="x")
    m.add_node("Linear", dict(in_features=4, out_features=16), node_id="a")
    m.add_node("Linear", dict(in_features=4, out_features=8), node_id="b")
    m.add_node("Add", node_id="add")
    for fc in ("a", "b"):
        m.connect("x", "output", fc, "input")
    m.connect("a", "output", "add", "input")
    m.connect("b", "output", "add", "other")
    assert m.state("add").message == ("Add 'add' cannot add (N, 16) from 'a' and (N, 8) from "
                                      "'b': dim 1 is 16 vs 8 (sizes must be equal, or one of "
                                      "them 1). Set b.out_features=16.")


def test_concat_with_mismatched_dims():
    m = GraphModel()
    m.add_node("Input", {"shape": (4, 8, 8)}, node_id="x1")
    m.add_node("Input", {"shape": (4, 6, 6)}, node_id="x2")
    m.add_node("Concat", node_id="cat")
    m.connect("x1", "output", "cat", "input0")
    m.connect("x2", "output", "cat", "input1")
    assert m.state("cat").message == ("Concat 'cat' joins along dim 1, so every other dim must "
                                      "match; dim 2 is 8 in 'input0' from 'x1' but 6 in "
                                      "'input1' from 'x2'. Make 'x2' output 8 in dim 2.")
    m.set_param("x2", "shape", (3, 8, 8))
    assert m.state("cat").outputs == {"output": (None, 7, 8, 8)}
    m.set_param("x2", "shape", (4, 8, 3))  # differs in dim 3 only, with dim 1 equal
    s = m.state("cat")
    assert s.message.endswith("dim 3 is 8 in 'input0' from 'x1' but 3 in 'input1' from 'x2'. "
                              "Set dim=3.")
    assert s.fix == ("dim", 3)


@pytest.mark.parametrize("nodes, shape, message, fix", [
    ([("BatchNorm2d", "bn", dict(num_features=16))], (3, 8, 8),
     "BatchNorm2d 'bn' expects num_features=16 channels, got 3 from 'x'. Set num_features=3.",
     ("num_features", 3)),
    ([("LayerNorm", "ln", dict(normalized_shape=16))], (5, 8),
     "LayerNorm 'ln' expects its input to end in normalized_shape=16, got (N, 5, 8) from 'x'. "
     "Set normalized_shape=8.", ("normalized_shape", 8)),
    ([("Reshape", "r", dict(shape=(3, 8, 8)))], (64,),
     "Reshape 'r' cannot reshape (N, 64) from 'x' (64 values per example) into (N, 3, 8, 8) "
     "(192 values). Set shape=(-1, 8, 8).", ("shape", (-1, 8, 8))),
    ([("Permute", "p", dict(dims=(0, 2, 1)))], (3, 8, 8),
     "Permute 'p' needs dims to be an order of all 4 dims of (N, 3, 8, 8) from 'x', got "
     "dims=(0, 2, 1). Set dims=(0, 2, 3, 1).", ("dims", (0, 2, 3, 1))),
    ([("Mean", "mean", dict(dim=0))], (5,),
     "Mean 'mean' averages over dim 0, the batch N of (N, 5) from 'x'; each example must keep "
     "its own mean. Set dim=1.", ("dim", 1)),
    ([("GLU", "glu", {})], (5,),
     "GLU 'glu' halves dim -1 into a value half and a gate half, but that dim of (N, 5) from "
     "'x' has odd size 5. Make 'x' output 6 features.", None),
    ([("MaxPool2d", "pool", dict(kernel_size=2, padding=2))], (1, 8, 8),
     "MaxPool2d 'pool' has padding=2, but a pooling window may be padded by at most half its "
     "kernel_size=2. Set padding=1.", ("padding", 1)),
    ([("Conv2d", "conv", dict(in_channels=3, out_channels=8, groups=2))], (3, 8, 8),
     "Conv2d 'conv' has in_channels=3, which is not divisible by groups=2 (each group convolves "
     "in_channels/groups channels into out_channels/groups). Set groups=1.", ("groups", 1)),
    ([("ConvTranspose2d", "up", dict(in_channels=3, stride=2, output_padding=2))], (3, 4, 4),
     "ConvTranspose2d 'up' has output_padding=2, but it must be smaller than stride=2 or "
     "dilation=1. Set output_padding=0.", ("output_padding", 0)),
    ([("Flatten", "f", {}), ("Linear", "fc", dict(in_features=10))], (3, 4, 4),
     "Linear 'fc' expects in_features=10, got 48 from 'f'. Set in_features=48.",
     ("in_features", 48)),
])
def test_messages_say_what_was_expected_what_came_from_where_and_the_fix(nodes, shape, message,
                                                                          fix):
    m = chain(*nodes, shape=shape)
    node = nodes[-1][1]
    s = m.state(node)
    assert (s.message, s.fix) == (message, fix)
    if fix is not None:
        m.set_param(node, *fix)
        assert m.errors() == {}


def test_two_ported_checks_name_both_sources():
    m = GraphModel()
    m.add_node("Input", {"shape": (4,)}, node_id="mu")
    m.add_node("Input", {"shape": (3,)}, node_id="lv")
    m.add_node("Reparameterize", node_id="z")
    m.connect("mu", "output", "z", "mu")
    m.connect("lv", "output", "z", "logvar")
    assert m.state("z").message == ("Reparameterize 'z' needs mu and logvar of one shape; got "
                                    "(N, 4) from 'mu' and (N, 3) from 'lv'. Give both encoder "
                                    "heads the same out_features.")
    m = GraphModel()
    m.add_node("Input", {"shape": (4, 5)}, node_id="a")
    m.add_node("Input", {"shape": (6, 3)}, node_id="b")
    m.add_node("MatMul", node_id="mm")
    m.connect("a", "output", "mm", "input")
    m.connect("b", "output", "mm", "other")
    assert m.state("mm").message == ("MatMul 'mm' multiplies (N, 4, 5) from 'a' by (N, 6, 3) "
                                     "from 'b', but the inner sizes differ: 5 (last dim of "
                                     "input) vs 6 (second-to-last of other). Add a Permute with "
                                     "dims=(0, 2, 1) after 'b' if it is transposed.")


def test_embedding_takes_tokens_and_checks_the_vocabulary():
    m = GraphModel()
    m.add_node("Dataset", {"dataset": "reverse"}, node_id="data")
    m.add_node("Embedding", dict(num_embeddings=5), node_id="emb")
    m.connect("data", "x", "emb", "input")
    s = m.state("emb")
    assert s.message == ("Embedding 'emb' gets indices 0..9 from 'data'.x, but its table "
                         "has num_embeddings=5 rows. Set num_embeddings=10.")
    assert s.fix == ("num_embeddings", 10)
    m.add_node("Input", {"shape": (8,)}, node_id="x")
    m.disconnect(m.edge_into("emb", "input"))
    m.connect("x", "output", "emb", "input")
    assert m.state("emb").message == ("Embedding 'emb' needs integer token indices in 'input', "
                                      "but 'x'.output carries float values (N, 8). Wire a "
                                      "Dataset of token sequences (dataset=reverse) or an Input "
                                      "with dtype=int64.")
    m.add_node("Linear", dict(in_features=8), node_id="fc")
    m.connect("data", "x", "fc", "input")
    assert m.state("fc").message == ("Linear 'fc' 'input' got integer token indices (N, 8) from "
                                     "'data'.x; it needs float values. Add an Embedding "
                                     "between them.")


def sequence_model(permute=True):
    """reverse tokens -> Embedding -> encoder layer -> Linear -> (Permute) -> per-token CE."""
    m = GraphModel()
    m.add_node("Dataset", {"dataset": "reverse", "n_samples": 20}, node_id="data")
    m.add_node("Embedding", dict(num_embeddings=10, embedding_dim=8), node_id="emb")
    m.add_node("TransformerEncoderLayer", dict(d_model=8, nhead=2, dim_feedforward=16,
                                               batch_first=True), node_id="enc")
    m.add_node("Linear", dict(in_features=8, out_features=10), node_id="fc")
    m.add_node("CrossEntropyLoss", node_id="loss")
    m.connect("data", "x", "emb", "input")
    m.connect("emb", "output", "enc", "src")
    m.connect("enc", "output", "fc", "input")
    last = "fc"
    if permute:
        m.add_node("Permute", {"dims": (0, 2, 1)}, node_id="t")
        m.connect("fc", "output", "t", "input")
        last = "t"
    m.connect(last, "output", "loss", "input")
    m.connect("data", "target", "loss", "target")
    return m


def test_a_sequence_dataset_trains_a_per_token_cross_entropy():
    m = sequence_model(permute=False)
    assert m.state("data").outputs == {"x": (None, 8), "target": (None, 8)}
    assert m.state("loss").message == ("CrossEntropyLoss 'loss' expects logits (N, C, L) for the "
                                       "targets (N, 8) from 'data' (the classes in dim 1, as "
                                       "PyTorch), got (N, 8, 10) from 'fc'. Add a Permute with "
                                       "dims=(0, 2, 1) before it.")
    m = sequence_model()
    assert m.errors() == {}
    from playground.graph import dataset_of
    ds = dataset_of(m.params("data"))
    x, y = ds.train.input[:4], ds.train.target[:4]
    program = compile(m)
    trace = program.run({"data": {"x": Tensor(x), "target": Tensor(y)}})
    loss, logits = trace["loss"]["output"], trace["t"]["output"].data
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))  # (N, C, L)
    want = -np.take_along_axis(logp, y[:, None, :], 1).mean()
    assert math.isclose(float(loss.data), float(want), rel_tol=1e-5)
    loss.backward()
    assert all(p.grad is not None and np.all(np.isfinite(p.grad))
               for p in program.parameters())


# ------------------------------------------------------------------------ param types


def test_ints_params_take_an_int_a_pair_a_list_or_text():
    spec = REGISTRY["Conv2d"].param("kernel_size")
    assert spec.coerce(3) == 3
    assert spec.coerce([3, 5]) == (3, 5)
    assert spec.coerce("(3, 5)") == (3, 5)
    assert spec.coerce(" 3 ") == 3
    with pytest.raises(ParamError, match=r"conv.kernel_size must be a whole number or a pair "
                                         r"such as \(3, 3\), got 3 numbers \(3, 3, 3\)"):
        spec.coerce((3, 3, 3), "conv")
    with pytest.raises(ParamError, match="must be ≥ 1, got 0"):
        spec.coerce((3, 0))
    with pytest.raises(ParamError, match="must be a whole number or a pair"):
        spec.coerce("3x3")
    with pytest.raises(ParamError, match="must be a whole number or a pair"):
        spec.coerce(2.5)
    shape = REGISTRY["Reshape"].param("shape")
    assert shape.coerce([1, -1, 8]) == (1, -1, 8)


def test_optional_params_accept_none_and_empty_text():
    stride = REGISTRY["MaxPool2d"].param("stride")
    assert stride.coerce(None) is None and stride.coerce("") is None
    assert stride.coerce("None") is None and stride.coerce("2") == 2
    pad = REGISTRY["Embedding"].param("padding_idx")
    assert pad.coerce("0") == 0 and pad.coerce(None) is None
    with pytest.raises(ParamError, match="must be a whole number, got 'zero'"):
        pad.coerce("zero")
    with pytest.raises(ParamError):
        REGISTRY["Linear"].param("in_features").coerce(None)


def test_tuple_params_survive_the_file_format():
    m = chain(("Conv2d", "conv", dict(in_channels=3, kernel_size=(3, 1), padding=(1, 0))),
              ("MaxPool2d", "pool", dict(kernel_size=2, stride=None)))
    data = json.loads(json.dumps(m.to_dict()))
    back = GraphModel.from_dict(data)
    assert back.params("conv")["kernel_size"] == (3, 1)
    assert back.params("pool")["stride"] is None
    assert back.states()["pool"].outputs == m.states()["pool"].outputs == \
        {"output": (None, 8, 4, 4)}


def test_every_param_default_is_valid_and_documented():
    for spec in REGISTRY:
        for p in spec.params:
            assert p.doc and p.coerce(p.default) == p.default, (spec.type, p.name)
            assert p.type in ("int", "float", "bool", "choice", "ints", "str", "path"), \
                (spec.type, p.name)
            if p.default is None:
                assert p.optional, (spec.type, p.name)


def test_param_spec_none_is_refused_unless_optional():
    with pytest.raises(ParamError, match="x must be a number, got None"):
        ParamSpec("x", "float", 1.0, "doc").coerce(None)
    assert ParamSpec("x", "float", None, "doc", optional=True).coerce(None) is None
    assert math.isclose(ParamSpec("x", "float", None, "doc", optional=True).coerce("0.5"), 0.5)

"""The layers' ``init`` param (graph/nodes/_init.py, applied by graph.compile): each scheme's
weight statistics against torch.nn.init's on the same shape, the gain of the activation a
layer feeds (torch.nn.init.calculate_gain), zero biases, and ``"default"`` unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from playground.engine import manual_seed, nn
from playground.graph import GraphModel, compile
from playground.graph.nodes._init import WEIGHT_INITS

IN, OUT = 400, 300


def _program(init="default", after=None, in_features=IN, out_features=OUT, **extra):
    """Input (N, IN) -> Linear(init) [-> activation ``after``]; compiled after seeding."""
    m = GraphModel()
    src = m.add_node("Input", {"shape": (in_features,)}, node_id="x")
    fc = m.add_node("Linear", {"in_features": in_features, "out_features": out_features,
                               "init": init, **extra}, node_id="fc")
    m.connect(src, "output", fc, "input")
    if after is not None:
        act = m.add_node(after, node_id="act")
        m.connect(fc, "output", act, "input")
    manual_seed(0)
    return compile(m)


def _torch_std(torch, name, shape, **kw):
    torch.manual_seed(0)
    return float(getattr(torch.nn.init, name)(torch.empty(shape), **kw).std())


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


#: (our init, the activation after the layer, torch's call)
CASES = [
    ("xavier_normal", None, "xavier_normal_", {}),
    ("xavier_normal", "Tanh", "xavier_normal_", {"gain": 5 / 3}),
    ("xavier_uniform", "Tanh", "xavier_uniform_", {"gain": 5 / 3}),
    ("xavier_uniform", "Sigmoid", "xavier_uniform_", {"gain": 1.0}),
    ("kaiming_normal", "ReLU", "kaiming_normal_", {"nonlinearity": "relu"}),
    ("kaiming_uniform", "ReLU", "kaiming_uniform_", {"nonlinearity": "relu"}),
    ("kaiming_normal", None, "kaiming_normal_", {"nonlinearity": "linear"}),
    ("kaiming_normal", "LeakyReLU", "kaiming_normal_", {"a": 0.01,
                                                        "nonlinearity": "leaky_relu"}),
    ("lecun_normal", "ReLU", "kaiming_normal_", {"nonlinearity": "linear"}),
]


@pytest.mark.parametrize("scheme, after, torch_fn, kw", CASES)
def test_linear_weight_std_matches_torch_init(torch, scheme, after, torch_fn, kw):
    program = _program(scheme, after)
    w = program.call("fc").module.weight.data
    assert w.shape == (OUT, IN)
    assert float(w.std()) == pytest.approx(_torch_std(torch, torch_fn, (OUT, IN), **kw),
                                           rel=0.03)
    assert abs(float(w.mean())) < 5 * float(w.std()) / math.sqrt(w.size)
    assert not program.call("fc").module.bias.data.any()  # biases start at 0


def test_the_formulas_themselves():
    """Without torch: Var = gain²·2/(fan_in+fan_out) (Glorot), gain²/fan_in (He)."""
    w = _program("xavier_normal", "Tanh").call("fc").module.weight.data
    assert w.std() == pytest.approx(5 / 3 * math.sqrt(2 / (IN + OUT)), rel=0.03)
    w = _program("kaiming_uniform", "ReLU").call("fc").module.weight.data
    bound = math.sqrt(2) * math.sqrt(3 / IN)
    assert bound * 0.99 < np.abs(w).max() <= bound
    w = _program("normal", init_std=0.05).call("fc").module.weight.data
    assert w.std() == pytest.approx(0.05, rel=0.03)
    w = _program("lecun_normal").call("fc").module.weight.data
    assert w.std() == pytest.approx(1 / math.sqrt(IN), rel=0.03)


@pytest.mark.parametrize("node, params, torch_fn, kw", [
    ("Conv2d", {"in_channels": 32, "out_channels": 64, "kernel_size": 5},
     "kaiming_normal_", {"nonlinearity": "relu"}),
    ("ConvTranspose2d", {"in_channels": 64, "out_channels": 32, "kernel_size": 4},
     "xavier_uniform_", {"gain": math.sqrt(2)}),
])
def test_conv_weights_use_torch_fans(torch, node, params, torch_fn, kw):
    m = GraphModel()
    x = m.add_node("Input", {"shape": (params["in_channels"], 12, 12)}, node_id="x")
    scheme = torch_fn.rstrip("_")
    c = m.add_node(node, {**params, "init": scheme}, node_id="c")
    r = m.add_node("ReLU", node_id="r")
    m.connect(x, "output", c, "input")
    m.connect(c, "output", r, "input")
    manual_seed(0)
    w = compile(m).call("c").module.weight.data
    assert float(w.std()) == pytest.approx(_torch_std(torch, torch_fn, w.shape, **kw),
                                           rel=0.03)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_weights_take_their_step_activation_gain(torch, kind):
    m = GraphModel()
    x = m.add_node("Input", {"shape": (20, 200)}, node_id="x")
    r = m.add_node(kind, {"input_size": 200, "hidden_size": 150, "batch_first": True,
                          "init": "xavier_normal"}, node_id="r")
    m.connect(x, "output", r, "input")
    manual_seed(0)
    module = compile(m).call("r").module
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    for name, shape in (("weight_ih_l0", (gates * 150, 200)),
                        ("weight_hh_l0", (gates * 150, 150))):
        w = getattr(module, name).data
        assert w.shape == shape
        assert float(w.std()) == pytest.approx(
            _torch_std(torch, "xavier_normal_", shape, gain=5 / 3), rel=0.03)
    assert not module.bias_ih_l0.data.any() and not module.bias_hh_l0.data.any()


def test_default_is_pytorch_init_bit_for_bit():
    """init="default" draws exactly what nn.Linear draws, and a redrawn layer does not
    shift the draws of the default layers around it."""
    manual_seed(0)
    ref = [nn.Linear(IN, 64), nn.Linear(64, 10)]
    m = GraphModel()
    x = m.add_node("Input", {"shape": (IN,)}, node_id="x")
    a = m.add_node("Linear", {"in_features": IN, "out_features": 64}, node_id="a")
    b = m.add_node("Linear", {"in_features": 64, "out_features": 10}, node_id="b")
    m.connect(x, "output", a, "input")
    m.connect(a, "output", b, "input")
    for init_a in ("default", "kaiming_normal"):
        m.set_param("a", "init", init_a)
        manual_seed(0)
        p = compile(m)
        np.testing.assert_array_equal(p.call("b").module.weight.data, ref[1].weight.data)
        np.testing.assert_array_equal(p.call("b").module.bias.data, ref[1].bias.data)
        same = np.array_equal(p.call("a").module.weight.data, ref[0].weight.data)
        assert same == (init_a == "default")


def test_init_is_saved_with_the_graph_and_checked():
    m = GraphModel()
    fc = m.add_node("Linear", {"in_features": 4, "out_features": 3, "init": "normal",
                               "init_std": 0.5})
    again = GraphModel.from_dict(m.to_dict())
    assert again.params(fc)["init"] == "normal" and again.params(fc)["init_std"] == 0.5
    with pytest.raises(ValueError, match="init must be one of default, lecun_normal"):
        m.set_param(fc, "init", "glorot")
    assert set(WEIGHT_INITS) == {"default", "lecun_normal", "xavier_normal", "xavier_uniform",
                                 "kaiming_normal", "kaiming_uniform", "normal"}


def test_init_std_is_shown_only_for_init_normal():
    from playground.graph import REGISTRY
    for node in ("Linear", "Conv2d", "ConvTranspose2d", "RNN", "LSTM", "GRU"):
        spec = REGISTRY[node]
        shown = {p.name for p in spec.shown_params({**spec.default_params(), "init": "normal"})}
        assert {"init", "init_std"} <= shown, node
        hidden = {p.name for p in spec.shown_params(spec.default_params())}
        assert "init" in hidden and "init_std" not in hidden, node

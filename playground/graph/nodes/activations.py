"""Activations: elementwise nonlinearities (and the softmaxes along a dim), as PyTorch's.

All have 0 params and, by convention, 0 MACs (no weights: see :mod:`.norm`).
"""

from __future__ import annotations

from playground.engine import nn

from ..spec import REGISTRY, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import need, no_cost, norm_dim, tensor


def _same_shape(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    return {"output": src.shape}


def _along_dim(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    norm_dim(p["dim"], len(src.shape), src, fix=-1)
    return {"output": src.shape}


def _glu_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    d = norm_dim(p["dim"], len(src.shape), src, fix=-1)
    size = src.shape[d]
    if size is None or size % 2:
        raise ShapeError(f"halves dim {p['dim']} into a value half and a gate half, but that dim "
                         f"of {format_shape(src.shape)} from '{src.node}' has odd size {size}. "
                         f"Make '{src.node}' output {(size or 1) + 1} features.")
    return {"output": (*src.shape[:d], size // 2, *src.shape[d + 1:])}


def _activation(type_, build, description, formula, params=(), infer=_same_shape):
    REGISTRY.register(NodeSpec(
        type=type_,
        category="Activations",
        description=description,
        inputs=(PortSpec("input", "tensor", "x: any shape"),),
        outputs=(PortSpec("output", "tensor", "y: same shape as x"),),
        params=tuple(params),
        infer=infer,
        build=build,
        cost=no_cost,
        doc=formula,
    ))


_DIM = ParamSpec("dim", "int", -1, "dimension the probabilities sum over", low=-8, high=8)

_activation("ReLU", lambda p, ins: nn.ReLU(), "Rectified linear unit: max(0, x).",
            "y = max(0, x)")
_activation("Sigmoid", lambda p, ins: nn.Sigmoid(), "Logistic sigmoid: 1 / (1 + e^-x).",
            "y = 1/(1+exp(-x))")
_activation("Tanh", lambda p, ins: nn.Tanh(), "Hyperbolic tangent, output in (-1, 1).",
            "y = tanh(x)")
_activation("Softmax", lambda p, ins: nn.Softmax(dim=p["dim"]),
            "Softmax over a dim: probabilities that sum to 1.",
            "y_i = exp(x_i) / sum_j exp(x_j)", (_DIM,), _along_dim)
_activation("LogSoftmax", lambda p, ins: nn.LogSoftmax(dim=p["dim"]),
            "Log of the softmax over a dim, computed stably (feeds NLLLoss).",
            "y_i = x_i - log sum_j exp(x_j)",
            (ParamSpec("dim", "int", -1, "dimension the softmax runs over", low=-8, high=8),),
            _along_dim)
_activation("LeakyReLU", lambda p, ins: nn.LeakyReLU(p["negative_slope"]),
            "ReLU with a small slope for negative inputs, so no unit dies.",
            "y = x if x > 0 else negative_slope*x",
            (ParamSpec("negative_slope", "float", 0.01, "slope for x < 0", low=0.0,
                       high=10.0),))
_activation("ELU", lambda p, ins: nn.ELU(p["alpha"]),
            "Exponential linear unit: smooth, saturates at -alpha for negative inputs.",
            "y = x if x > 0 else alpha*(exp(x) - 1)",
            (ParamSpec("alpha", "float", 1.0, "value approached as x -> -inf is -alpha",
                       low=0.0, high=100.0),))
_activation("GELU", lambda p, ins: nn.GELU(approximate=p["approximate"]),
            "Gaussian error linear unit: x weighted by the normal CDF (Transformers' choice).",
            "y = x*Φ(x)",
            (ParamSpec("approximate", "choice", "none", "'tanh': the tanh approximation of Φ",
                       choices=("none", "tanh")),))
_activation("GLU", lambda p, ins: nn.GLU(dim=p["dim"]),
            "Gated linear unit: splits dim in halves a, b and returns a * sigmoid(b).",
            "y = a * sigmoid(b), [a, b] = x split in half along dim",
            (ParamSpec("dim", "int", -1, "dimension split in half", low=-8, high=8),),
            _glu_infer)
_activation("Softplus", lambda p, ins: nn.Softplus(beta=p["beta"], threshold=p["threshold"]),
            "A smooth ReLU: log(1 + e^x), always positive.",
            "y = log(1 + exp(beta*x))/beta (linear where beta*x > threshold)",
            (ParamSpec("beta", "float", 1.0, "sharpness; larger is closer to ReLU", low=1e-6,
                       high=1000.0),
             ParamSpec("threshold", "float", 20.0, "above beta*x > threshold the output is x",
                       low=0.0, high=1000.0)))

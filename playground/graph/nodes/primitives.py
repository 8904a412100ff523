"""Primitives: Log, Exp, Pow, Parameter, Constant, for building a model from single
operations and stepping its chain rule by hand (y = w1·ln(x + w2)).

Log, Exp and Pow are elementwise (``torch.log``, ``torch.exp``, ``torch.pow`` with a
scalar exponent): shape any -> same. Parameter is a learnable tensor of a given shape
(``torch.nn.Parameter``) and Constant a fixed one; neither has a batch dim, so a
Parameter of shape (1,) broadcasts against (N, 1) in Add and Multiply, as in PyTorch.

Costs per example: 0 MACs; a Parameter counts prod(shape) params, the others 0.
"""

from __future__ import annotations

import math
from math import prod

import numpy as np

from playground.engine import Tensor, init, nn, ops

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError
from ._common import Lambda, dims, fmt, need, no_cost, tensor

__all__ = ["ParameterModule", "ConstantModule", "PARAMETER_INITS"]


def _same(p, inputs):
    return {"output": tensor(need(inputs, "input", "a tensor"), "input").shape}


def _unary(type_, fn, description, formula, port_doc):
    REGISTRY.register(NodeSpec(
        type=type_,
        category="Math",
        description=description,
        inputs=(PortSpec("input", "tensor", port_doc),),
        outputs=(PortSpec("output", "tensor", "y: same shape"),),
        infer=_same,
        build=lambda p, ins: Lambda(fn),
        cost=no_cost,
        doc=formula,
    ))


_unary("Log", lambda input: ops.log(input),
       "Natural logarithm ln x, elementwise (torch.log); x must be > 0 (ln 0 = -inf, ln of "
       "a negative is NaN).", "y = ln x; dy/dx = 1/x", "x: any shape, values > 0")
_unary("Exp", lambda input: ops.exp(input),
       "Exponential e^x, elementwise (torch.exp).", "y = e^x; dy/dx = e^x", "x: any shape")

# -------------------------------------------------------------------------------------- Pow

_EXPONENT_RANGE = (-8.0, 8.0)


def _pow_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    e = p["exponent"]
    if e == 0:
        raise ShapeError("has exponent=0, so its output is 1 everywhere and no gradient "
                         "reaches its input. Set exponent=2 (a square).", fix=("exponent", 2.0))
    return {"output": src.shape}


def _pow_build(p, ins):
    e = p["exponent"]
    e = int(e) if float(e).is_integer() else e  # x ** 2 keeps negative x finite
    return Lambda(lambda input: input ** e, f"exponent={e:g}")


REGISTRY.register(NodeSpec(
    type="Pow",
    category="Math",
    description="x to a constant power, elementwise (torch.pow); exponent=2 squares. A "
                "non-integer exponent needs x > 0 (else NaN).",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=(PortSpec("output", "tensor", "y: same shape"),),
    params=(ParamSpec("exponent", "float", 2.0, "the power p (2: square, 0.5: square root, "
                                                "-1: reciprocal)",
                      low=_EXPONENT_RANGE[0], high=_EXPONENT_RANGE[1]),),
    infer=_pow_infer,
    build=_pow_build,
    cost=no_cost,
    doc="y = x^p; dy/dx = p x^(p-1)",
))

# -------------------------------------------------------------------------------- Parameter

#: Parameter's init choices; ``value`` is the constant or the mean, ``std`` the spread.
PARAMETER_INITS = ("zeros", "ones", "constant", "normal", "uniform")


class ParameterModule(nn.Module):
    """A learnable tensor ``weight`` of ``shape`` (no batch dim); ``forward()`` returns it.

    init: ``zeros``, ``ones``, ``constant`` (= value), ``normal`` N(value, std²), or
    ``uniform`` U(value − √3·std, value + √3·std) (mean value, standard deviation std).
    Random inits draw from the engine's generator, so ``manual_seed`` repeats them.
    """

    def __init__(self, shape: tuple, init: str = "zeros", value: float = 0.0,
                 std: float = 1.0):
        super().__init__()
        if init not in PARAMETER_INITS:
            raise ValueError(f"init must be one of {', '.join(PARAMETER_INITS)}, got {init!r}")
        self.shape, self.init, self.value, self.std = tuple(shape), init, value, std
        self.weight = nn.Parameter(np.zeros(self.shape, dtype=np.float32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        w, v, s = self.weight, self.value, self.std
        if self.init == "zeros":
            init.zeros_(w)
        elif self.init == "ones":
            init.ones_(w)
        elif self.init == "constant":
            init.constant_(w, v)
        elif self.init == "normal":
            init.normal_(w, v, s)
        else:
            init.uniform_(w, v - math.sqrt(3) * s, v + math.sqrt(3) * s)

    def forward(self) -> Tensor:
        return self.weight

    def extra_repr(self) -> str:
        return f"shape={fmt(self.shape)}, init={self.init}"


def _shape_infer(p, inputs):
    return {"output": dims(p["shape"])}


def _parameter_cost(p, ins, outs) -> Cost:
    shape = dims(p["shape"])
    return Cost(prod(shape), 0, f"prod(shape) = {'*'.join(map(str, shape))}", "0")


#: The shape param of Parameter and Constant.
_SHAPE = ParamSpec("shape", "ints", (1,), "the tensor's shape, without a batch N", low=1,
                   high=1_000_000)


REGISTRY.register(NodeSpec(
    type="Parameter",
    category="Math",
    description="A learnable tensor of a fixed shape (no batch dim), e.g. one weight w of "
                "shape (1,) that broadcasts against (N, 1).",
    outputs=(PortSpec("output", "tensor", "w: shape (no batch N)"),),
    params=(
        _SHAPE,
        ParamSpec("init", "choice", "normal", "how it starts: zeros, ones, constant (value), "
                  "normal N(value, std²), uniform with mean value and std",
                  choices=PARAMETER_INITS),
        ParamSpec("value", "float", 0.0, "constant init's value; the mean of normal/uniform",
                  low=-1e6, high=1e6),
        ParamSpec("std", "float", 1.0, "standard deviation of normal/uniform init", low=0.0,
                  high=1e6),
    ),
    infer=_shape_infer,
    build=lambda p, ins: ParameterModule(dims(p["shape"]), p["init"], p["value"], p["std"]),
    cost=_parameter_cost,
    doc="w = nn.Parameter(init(shape)); dL/dw sums over the batch it broadcast over",
))

# --------------------------------------------------------------------------------- Constant


class ConstantModule(nn.Module):
    """A fixed tensor of ``shape`` filled with ``value`` (no gradient, not saved)."""

    def __init__(self, shape: tuple, value: float):
        super().__init__()
        self.shape, self.value = tuple(shape), float(value)
        self._data = np.full(self.shape, self.value, dtype=np.float32)

    def forward(self) -> Tensor:
        return Tensor(self._data.copy())

    def extra_repr(self) -> str:
        return f"shape={fmt(self.shape)}, value={self.value:g}"


REGISTRY.register(NodeSpec(
    type="Constant",
    category="Math",
    description="A fixed tensor of a shape (no batch dim) filled with value, e.g. the 1 of "
                "ln(x + 1).",
    outputs=(PortSpec("output", "tensor", "c: shape (no batch N)"),),
    params=(
        _SHAPE,
        ParamSpec("value", "float", 1.0, "every entry's value", low=-1e6, high=1e6),
    ),
    infer=_shape_infer,
    build=lambda p, ins: ConstantModule(dims(p["shape"]), p["value"]),
    cost=no_cost,
    doc="c = value everywhere",
))

"""Optimization test functions: an optimizer's race on a 2-D landscape, no data to fit.

``TestFunction`` is a loss node: the value f(x, y) of a classic test function at the point
whose two coordinates are wired into its ``x`` and ``y`` ports (two Parameter nodes of shape
(1,), so that each coordinate is one weight the optimizer moves). Its module keeps the
path the optimizer took (:attr:`TestFunctionModule.path`), which the contour view draws.

``GradientNoise`` is its data source (the session trains from one data node). Its ``x``
output is a batch of N draws ε ~ N(0, std² I) in R²; wired into TestFunction's ``noise``
port it adds ``mean_n(ε_n) · (x, y)`` to the loss, so the gradient becomes
∇f + mean_n ε_n: a stochastic gradient whose noise shrinks as 1/√N with the batch size N
(the simulation of d2l.ai, *Dive into Deep Learning*, §12.4 "Stochastic Gradient
Descent"). std = 0 (the default) gives the exact gradient.

Functions (sources: Rosenbrock 1960, "An automatic method for finding the greatest or least
value of a function", *The Computer Journal* 3(3); Beale 1958, "On an iterative method for
finding a local minimum of a function of more than one variable", Princeton Tech. Rep. 25;
both as in Jamil & Yang 2013, "A literature survey of benchmark functions for global
optimization problems", functions 105 and 10):

==========  ==================================================  =========================
function    f(x, y)                                             minimum
==========  ==================================================  =========================
rosenbrock  (1 − x)² + 100 (y − x²)²                            f(1, 1) = 0
beale       (1.5 − x + xy)² + (2.25 − x + xy²)²                 f(3, 0.5) = 0
            + (2.625 − x + xy³)²
saddle      x² − y² + y⁴/2                                      f(0, ±1) = −1/2
==========  ==================================================  =========================

``saddle`` is the saddle x² − y² near the origin (Hessian diag(2, −2) there, as for
x² − y²) with a quartic wall that stops the fall at y = ±1, so that a run ends in a
minimum instead of diverging.

Costs: 0 params, 0 MACs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from playground.data.regression import FloatTargetAttributes
from playground.engine import Tensor, nn
from playground.engine.grad_mode import is_grad_enabled

from ..spec import REGISTRY, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import no_cost

__all__ = ["FUNCTIONS", "MINIMA", "BOXES", "TestFunctionModule", "test_function",
           "noise_of", "NoiseDataset", "PATH_CAPACITY"]

FUNCTIONS = ("rosenbrock", "beale", "saddle")
#: Each function's minimum (x, y) (for the saddle: one of its two minima; its saddle point
#: is the origin).
MINIMA: dict[str, tuple[float, float]] = {"rosenbrock": (1.0, 1.0), "beale": (3.0, 0.5),
                                          "saddle": (0.0, 1.0)}
#: The box the contour view draws for each function: (x_min, x_max, y_min, y_max).
BOXES: dict[str, tuple[float, float, float, float]] = {
    "rosenbrock": (-2.0, 2.0, -1.0, 3.0), "beale": (-1.0, 4.0, -1.5, 2.0),
    "saddle": (-1.5, 1.5, -1.5, 1.5)}
#: The most points a TestFunction's path keeps (the latest ones).
PATH_CAPACITY = 20_000


def test_function(name: str, x, y):
    """f(x, y) of test function ``name`` (see the module's table), for Tensors (autograd
    records every op) or numpy arrays of any one shape (elementwise).

    Raises:
        ValueError: an unknown name.
    """
    if name == "rosenbrock":
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2
    if name == "beale":
        xy = x * y
        xy2 = xy * y
        return (1.5 - x + xy) ** 2 + (2.25 - x + xy2) ** 2 + (2.625 - x + xy2 * y) ** 2
    if name == "saddle":
        y2 = y * y
        return x * x - y2 + 0.5 * y2 * y2
    raise ValueError(f"unknown test function {name!r}; use one of {', '.join(FUNCTIONS)}")


test_function.__test__ = False  # (not a pytest test, despite its name)


class TestFunctionModule(nn.Module):
    """The loss f(x, y) (+ the gradient noise, when wired); no parameters.

    ``forward(x, y, noise=None)``: x, y of one shape, (1,) for a point (one coordinate
    each); noise (N, 2) or None. Returns the scalar ``mean(f(x, y)) + ε̄[0]·mean(x) +
    ε̄[1]·mean(y)``, ε̄ = mean_n(noise): for a point, f(x, y) + ε̄·(x, y).

    Attributes:
        function: one of :data:`FUNCTIONS`.
        path: the points (x, y) of every training pass (module in training mode, grad
            enabled, x and y of one element: the points the optimizer stepped from),
            oldest first, at most
            :data:`PATH_CAPACITY` (float64 (K, 2) from :meth:`path_array`).
    """

    __test__ = False  # (not a pytest test class, despite its name)

    def __init__(self, function: str):
        super().__init__()
        if function not in FUNCTIONS:
            raise ValueError(f"function must be one of {', '.join(FUNCTIONS)}, got "
                             f"{function!r}")
        self.function = function
        self.path: deque[tuple[float, float]] = deque(maxlen=PATH_CAPACITY)

    def forward(self, x: Tensor, y: Tensor, noise: Tensor | None = None) -> Tensor:
        if self.training and is_grad_enabled() and x.data.size == 1:
            self.path.append((float(x.data.reshape(-1)[0]), float(y.data.reshape(-1)[0])))
        loss = test_function(self.function, x, y).mean()
        if noise is not None:
            eps = noise.mean(dim=0)  # (2,)
            loss = loss + (x * eps[0:1]).mean() + (y * eps[1:2]).mean()
        return loss

    def path_array(self) -> np.ndarray:
        """:attr:`path` as float64 (K, 2)."""
        return np.array(self.path, dtype=np.float64).reshape(-1, 2)

    def extra_repr(self) -> str:
        return f"function={self.function}"


def _coordinate(inputs, port: str):
    src = inputs.get(port)
    if src is None:
        raise ShapeError(f"has nothing wired into its '{port}' port: connect a Parameter "
                         f"of shape (1,), the {port} coordinate.")
    if src.shape is None:
        raise ShapeError(f"gets nothing from '{src.node}'.{src.port}: wire a Parameter of "
                         f"shape (1,) into '{port}'.")
    return src


def _infer(p, inputs):
    x, y = _coordinate(inputs, "x"), _coordinate(inputs, "y")
    if tuple(x.shape) != tuple(y.shape):
        bad = x if tuple(y.shape) == (1,) else y
        port = "x" if bad is x else "y"
        raise ShapeError(f"needs x and y of one shape; got {format_shape(x.shape)} from "
                         f"'{x.node}' and {format_shape(y.shape)} from '{y.node}'. Give "
                         f"'{bad.node}' shape=(1,) (one coordinate in '{port}').")
    noise = inputs.get("noise")
    if noise is not None and (noise.shape is None or len(noise.shape) != 2
                              or noise.shape[1] != 2):
        raise ShapeError(f"expects gradient noise (N, 2) in 'noise', got "
                         f"{format_shape(noise.shape)} from '{noise.node}'. Wire a "
                         "GradientNoise node's x output.")
    return {"output": ()}


REGISTRY.register(NodeSpec(
    type="TestFunction",
    category="Losses",
    description="A classic optimization test function f(x, y) as the loss (Rosenbrock's "
                "valley, Beale's plateau, a saddle), for racing optimizers on a contour "
                "plot.",
    inputs=(PortSpec("x", "tensor", "x: (1,), a Parameter (any shape: f is averaged)"),
            PortSpec("y", "tensor", "y: the shape of x"),
            PortSpec("noise", "tensor", "ε: (N, 2) gradient noise (optional)")),
    outputs=(PortSpec("output", "scalar", "loss: ()"),),
    params=(ParamSpec("function", "choice", "rosenbrock",
                      "rosenbrock (1−x)² + 100(y−x²)²; beale; saddle x² − y² + y⁴/2",
                      choices=FUNCTIONS),),
    infer=_infer,
    build=lambda p, ins: TestFunctionModule(p["function"]),
    cost=no_cost,
    is_loss=True,
    doc="L = f(x, y) + mean(ε)·(x, y); ∂L/∂(x, y) = ∇f + mean(ε)",
))

# ---------------------------------------------------------------------------- GradientNoise

#: Noise draws kept in the training split (the loader shuffles them every epoch).
NOISE_POOL = 4096
NOISE_STD_RANGE = (0.0, 100.0)


@dataclass(frozen=True, eq=False)
class NoiseSplit:
    """``input``: float32 (N, 2) noise draws; ``target``: float32 (N, 1) zeros (unused)."""

    input: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.input)


@dataclass(frozen=True, eq=False)
class NoiseDataset(FloatTargetAttributes):
    """GradientNoise's data, with the attributes the session reads from a Dataset: the
    training split holds :data:`NOISE_POOL` draws of N(0, std² I) in R²; the held-out split
    one zero row, so the held-out loss is f(x, y) itself, without noise."""

    name: str
    train: NoiseSplit
    val: NoiseSplit
    feature_shape: tuple[int, ...] = (2,)


@lru_cache(maxsize=8)
def _noise(std: float, seed: int) -> NoiseDataset:
    rng = np.random.default_rng(seed)
    draws = (std * rng.standard_normal((NOISE_POOL, 2))).astype(np.float32)
    zeros = np.zeros((NOISE_POOL, 1), np.float32)
    val = NoiseSplit(np.zeros((1, 2), np.float32), np.zeros((1, 1), np.float32))
    return NoiseDataset("gradient_noise", NoiseSplit(draws, zeros), val)


def noise_of(params: Mapping[str, Any]) -> NoiseDataset:
    """The (cached) data of a GradientNoise node's params."""
    return _noise(float(params["std"]), int(params["seed"]))


REGISTRY.register(NodeSpec(
    type="GradientNoise",
    category="Data",
    description="The data of an optimization problem: none, only optional noise ε ~ "
                "N(0, std²) per example that TestFunction adds to its gradient (a "
                "stochastic gradient; std 0 gives the exact one).",
    outputs=(PortSpec("x", "tensor", "ε: (N, 2) float32 noise draws"),
             PortSpec("target", "tensor", "(N, 1) zeros (nothing to predict)")),
    params=(
        ParamSpec("std", "float", 0.0, "standard deviation of each draw (the mean over a "
                  "batch of N has std/√N)", low=NOISE_STD_RANGE[0], high=NOISE_STD_RANGE[1]),
        ParamSpec("seed", "int", 0, "seed the draws are generated from", low=0,
                  high=2**31 - 1),
    ),
    infer=lambda p, inputs: {"x": (None, 2), "target": (None, 1)},
    build=None,
    cost=no_cost,
    doc="ε_n ~ N(0, std² I), n = 1..N; held-out: ε = 0",
))

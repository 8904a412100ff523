"""The ``init`` and ``init_std`` params of the weighted layers (Linear, Conv2d,
ConvTranspose2d, RNN, LSTM, GRU), and how :func:`~playground.graph.compile` applies them.

``init="default"`` keeps PyTorch's own init of the layer (``reset_parameters``: Kaiming
uniform with a = √5 for Linear and the convolutions, U(-1/√H, 1/√H) for the recurrent
layers), bit for bit. Any other choice redraws every weight (a parameter named ``weight*``)
with that scheme and sets every bias to 0, as Glorot & Bengio (2010) and He et al. (2015)
start their networks:

==============  ==========================================  ================================
init            distribution                                source
==============  ==========================================  ================================
lecun_normal    N(0, 1/fan_in)                              LeCun et al. 1998, sec. 4.6
xavier_normal   N(0, gain² · 2/(fan_in + fan_out))          Glorot & Bengio 2010, eq. 12
xavier_uniform  U(-a, a), a = gain · √(6/(fan_in + fan_out))  Glorot & Bengio 2010, eq. 16
kaiming_normal  N(0, gain²/fan_in)                          He et al. 2015, eq. 10
kaiming_uniform U(-b, b), b = gain · √(3/fan_in)            He et al. 2015, eq. 10
normal          N(0, init_std²)                             (a fixed scale, e.g. 0.01)
==============  ==========================================  ================================

Fans as ``torch.nn.init``: a weight (out, in, *kernel) has fan_in = in·prod(kernel) and
fan_out = out·prod(kernel). The gain is ``calculate_gain`` of the activation the layer's
output feeds (the one node it feeds, when that is a ReLU 1→√2, Tanh 5/3, Sigmoid 1 or
LeakyReLU √(2/(1+slope²))), else 1 (``"linear"``): PyTorch's recommendation, so that Xavier
before a Tanh is ``xavier_normal_(w, gain=calculate_gain("tanh"))`` and Kaiming before a ReLU
is ``kaiming_normal_(w, nonlinearity="relu")``. A recurrent layer's gain is that of its own
step's activation (``nonlinearity`` of an RNN; tanh for LSTM and GRU).

The redraws happen after every layer of the program is built, in execution order, so the
layers left at ``"default"`` get exactly the weights they would get without them.
"""

from __future__ import annotations

from typing import Any, Mapping

from playground.engine import init, nn

from ..spec import ParamSpec

__all__ = ["WEIGHT_INITS", "INIT_PARAMS", "has_weight_init", "gain_name", "apply_init"]

#: The choices of the ``init`` param.
WEIGHT_INITS = ("default", "lecun_normal", "xavier_normal", "xavier_uniform",
                "kaiming_normal", "kaiming_uniform", "normal")

INIT = ParamSpec("init", "choice", "default",
                 "how the weights start (at Reset): default = PyTorch's; the others redraw "
                 "the weights (gain of the activation it feeds) and zero the biases",
                 choices=WEIGHT_INITS)
INIT_STD = ParamSpec("init_std", "float", 0.01, "standard deviation of init=normal",
                     low=0.0, high=100.0, when=lambda p: p.get("init") == "normal")

#: Appended to the params of every layer with weights.
INIT_PARAMS = (INIT, INIT_STD)

#: Activation node type -> calculate_gain's name.
_GAINS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "LeakyReLU": "leaky_relu"}


def has_weight_init(spec) -> bool:
    """True when the node type ``spec`` has the ``init`` param of this module."""
    return any(p is INIT for p in spec.params)


def gain_name(consumer_type: str | None, consumer_params: Mapping[str, Any] | None = None
              ) -> tuple[str, float | None]:
    """``(nonlinearity, param)`` for :func:`~playground.engine.init.calculate_gain` of a
    layer whose output feeds only a node of type ``consumer_type`` (None: several nodes,
    or none); ``("linear", None)`` when that is not an activation torch has a gain for."""
    name = _GAINS.get(consumer_type or "")
    if name is None:
        return "linear", None
    if name == "leaky_relu":
        return name, float((consumer_params or {}).get("negative_slope", 0.01))
    return name, None


def apply_init(module: nn.Module, params: Mapping[str, Any], nonlinearity: str = "linear",
               param: float | None = None) -> None:
    """Redraw ``module``'s weights as ``params["init"]`` says and zero its biases; nothing
    for ``"default"``. ``nonlinearity`` and ``param`` give the gain (see the module doc).

    Raises:
        ValueError: an unknown ``init`` (the spec's choices prevent it).
    """
    scheme = params.get("init", "default")
    if scheme == "default":
        return
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"init must be one of {', '.join(WEIGHT_INITS)}, got {scheme!r}")
    gain = init.calculate_gain(nonlinearity, param)  # Kaiming's functions compute their own
    for name, p in module.named_parameters():
        if name.startswith("bias"):
            init.zeros_(p)
        elif name.startswith("weight") and len(p.shape) >= 2:
            if scheme == "lecun_normal":
                init.lecun_normal_(p)
            elif scheme == "xavier_normal":
                init.xavier_normal_(p, gain=gain)
            elif scheme == "xavier_uniform":
                init.xavier_uniform_(p, gain=gain)
            elif scheme == "kaiming_normal":
                init.kaiming_normal_(p, a=param or 0, nonlinearity=nonlinearity)
            elif scheme == "kaiming_uniform":
                init.kaiming_uniform_(p, a=param or 0, nonlinearity=nonlinearity)
            else:
                init.normal_(p, 0.0, float(params.get("init_std", INIT_STD.default)))


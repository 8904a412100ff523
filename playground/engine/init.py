"""Weight initialisation, as ``torch.nn.init``. Every ``*_`` function fills a Tensor in
place (without recording on the tape) from the engine's generator and returns it.

Fans of a weight of shape (out, in, *kernel): fan_in = in * prod(kernel),
fan_out = out * prod(kernel); e.g. Linear weight (out_features, in_features) has
fan_in = in_features, Conv2d weight (out_channels, in_channels, kH, kW) has
fan_in = in_channels * kH * kW.

Variances (gain from :func:`calculate_gain`):

* Xavier / Glorot: Var = gain^2 * 2 / (fan_in + fan_out)   (Glorot & Bengio 2010)
* Kaiming / He:    Var = gain^2 / fan, fan_in or fan_out    (He et al. 2015)
* LeCun:           Var = 1 / fan_in                         (LeCun et al. 1998)

A uniform U(-a, a) has Var = a^2 / 3, so the uniform variants use a = sqrt(3 Var).
"""

from __future__ import annotations

import math
from typing import Any

from . import _random
from .tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "lecun_normal_"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's values):

    ===================  =====================================
    linear, conv*, sigmoid  1
    tanh                 5/3
    relu                 sqrt(2)
    leaky_relu           sqrt(2 / (1 + negative_slope^2)), slope ``param``, default 0.01
    selu                 3/4
    ===================  =====================================

    Raises:
        ValueError: unknown nonlinearity, or a non-numeric ``param`` for leaky_relu.
    """
    linear_fns = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel).

    Raises:
        ValueError: the tensor has fewer than 2 dims.
    """
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dimensions (got shape {shape})")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values: Any) -> Tensor:
    tensor.data[...] = values  # in place, cast to the tensor's dtype; never on the tape
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples of U(a, b): mean (a + b) / 2, Var = (b - a)^2 / 12."""
    return _fill(tensor, _random.generator().uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples of N(mean, std^2): Var = std^2."""
    return _fill(tensor, _random.generator().normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0 (Var = 0; the usual init for biases)."""
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return _fill(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot/Xavier uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)), so
    Var = gain^2 * 2 / (fan_in + fan_out). Source: Glorot & Bengio (2010), "Understanding
    the difficulty of training deep feedforward neural networks", eq. 16.

    Raises:
        ValueError: the tensor has fewer than 2 dims.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot/Xavier normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)),
    so Var = gain^2 * 2 / (fan_in + fan_out). Source: Glorot & Bengio (2010),
    "Understanding the difficulty of training deep feedforward neural networks", eq. 12
    (the compromise between keeping forward and backward variances).

    Raises:
        ValueError: the tensor has fewer than 2 dims.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He/Kaiming uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan), so
    Var = gain^2 / fan; gain = calculate_gain(nonlinearity, a), fan = fan_in or fan_out
    by ``mode``. ``a`` is the leaky_relu negative slope. Source: He et al. (2015),
    "Delving Deep into Rectifiers", eq. 10 (fan_in) and eq. 14 (fan_out).

    nn.Linear uses a = sqrt(5): gain^2 = 1/3, so bound = 1 / sqrt(fan_in).

    Raises:
        ValueError: the tensor has fewer than 2 dims, or a bad mode/nonlinearity.
    """
    if tensor.data.size == 0:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He/Kaiming normal: N(0, std^2) with std = gain / sqrt(fan), so Var = gain^2 / fan
    (2 / fan_in for ReLU). Source: He et al. (2015), "Delving Deep into Rectifiers", eq. 10
    and 14. Arguments and errors as :func:`kaiming_uniform_`."""
    if tensor.data.size == 0:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def lecun_normal_(tensor: Tensor) -> Tensor:
    """LeCun normal: N(0, std^2) with std = 1 / sqrt(fan_in), so Var = 1 / fan_in. It
    keeps a layer's output variance equal to its input's for a linear (or SELU) unit.
    Source: LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp", sec. 4.6; the
    default of SELU networks (Klambauer et al. 2017).

    PyTorch has no ``lecun_normal_``; this equals
    ``kaiming_normal_(tensor, mode='fan_in', nonlinearity='linear')`` (gain 1), which is
    how to write it in torch. (JAX's ``lecun_normal`` draws from a truncated normal
    instead.)

    Raises:
        ValueError: the tensor has fewer than 2 dims.
    """
    return kaiming_normal_(tensor, mode="fan_in", nonlinearity="linear")

"""Layers: Linear, activations, Flatten, Identity, Sequential and the losses.

Shapes: N batch, C classes, ``*`` any number of extra dims. Parameter names, shapes and
default initialisation match PyTorch, so state dicts transfer both ways.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .. import functional as F
from .. import init
from .. import ops
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten",
           "Identity", "Sequential", "CrossEntropyLoss", "NLLLoss", "MSELoss"]


class Linear(Module):
    """y = x W^T + b. input (N, *, in_features) -> output (N, *, out_features).

    Parameters (PyTorch layout): ``weight`` (out_features, in_features), ``bias``
    (out_features,) or None. Default init as PyTorch: weight by
    ``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(in_features), 1/sqrt(in_features)),
    and bias U(-1/sqrt(in_features), 1/sqrt(in_features)).

    Args:
        dtype: float32 (default) or float64.

    Raises:
        ValueError: a negative feature count or an unsupported dtype.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None):
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"Linear supports dtype float32 or float64, got {dtype}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw the weights with PyTorch's default init (see the class doc)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.Linear.apply(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# ----------------------------------------------------------------------- activations


class ReLU(Module):
    """max(0, x) elementwise. Any shape -> same. ``inplace`` is accepted for PyTorch
    compatibility and ignored."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return ops.ReLU.apply(input)


class Sigmoid(Module):
    """1 / (1 + e^-x) elementwise. Any shape -> same."""

    def forward(self, input: Tensor) -> Tensor:
        return ops.Sigmoid.apply(input)


class Tanh(Module):
    """tanh(x) elementwise. Any shape -> same."""

    def forward(self, input: Tensor) -> Tensor:
        return ops.Tanh.apply(input)


class Softmax(Module):
    """Probabilities along ``dim`` (required here; PyTorch's implicit dim is
    deprecated). Any shape -> same."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.Softmax.apply(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably. Any shape -> same."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.LogSoftmax.apply(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Flatten(Module):
    """Merge dims ``start_dim..end_dim``: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, input: Tensor) -> Tensor:
        return input


# ----------------------------------------------------------------------- containers


class Sequential(Module):
    """Calls its modules in order, each on the previous one's output. Children are named
    "0", "1", ... (or by the keys of a dict passed as the only argument).

    Raises:
        TypeError: an argument is not a Module.
    """

    def __init__(self, *args: Any):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], dict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            input = module(input)
        return input

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(dict(list(self._modules.items())[idx]))
        return mods[idx]


# ----------------------------------------------------------------------- losses


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy: input logits (N, C), target class indices (N,) of integer
    dtype -> loss () (or (N,) with reduction='none'). See ``functional.cross_entropy``."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood: input log-probabilities (N, C), target (N,) integer ->
    loss (). See ``functional.nll_loss``."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error: input and target of one shape -> loss ()."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)

"""nn modules: BatchNorm1d, BatchNorm2d, LayerNorm.

Shapes: N batch, C channels (features), L sequence, H/W height and width. Parameter and
buffer names, shapes and defaults match PyTorch, so state dicts transfer both ways.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import init
from .. import norm as N
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _dtype(dtype: Any, cls: str) -> np.dtype:
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{cls} supports dtype float32 or float64, got {dtype}")
    return dtype


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share (PyTorch's ``_BatchNorm``)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype: Any = None):
        super().__init__()
        cls = type(self).__name__
        if (not isinstance(num_features, (int, np.integer))
                or isinstance(num_features, bool) or num_features < 1):
            raise ValueError(f"{cls}: num_features must be a positive integer, got "
                             f"{num_features!r}")
        dtype = _dtype(dtype, cls)
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.empty(self.num_features, dtype))
            self.bias = Parameter(np.empty(self.num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Reset the running statistics, and weight = 1, bias = 0 (PyTorch's init)."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input "
                             f"with {self.num_features} channels (dim 1), got shape "
                             f"{tuple(input.shape)}")
        # as torch/nn/modules/batchnorm.py: momentum None is a cumulative average
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or (self.running_mean is None
                                            and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return N.batch_norm(input, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per channel C: in training,
    with the batch's statistics over N (and L), updating ``running_mean`` and
    ``running_var`` (unbiased) by ``momentum`` (None: a cumulative average); in eval,
    with the running statistics. See ``functional.batch_norm``.

    Parameters: ``weight`` (C,) = 1, ``bias`` (C,) = 0 when ``affine``. Buffers (in the
    state dict, as PyTorch): ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1,
    ``num_batches_tracked`` () int64, when ``track_running_stats``.

    Raises:
        ValueError: input not 2-D or 3-D, or with another C than ``num_features``.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d expected 2D (N, C) or 3D (N, C, L) input (got "
                             f"{input.ndim}D input of shape {tuple(input.shape)})")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C, over N, H and W; as
    :class:`BatchNorm1d` otherwise (same parameters and buffers).

    Raises:
        ValueError: input not 4-D, or with another C than ``num_features``.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d expected 4D (N, C, H, W) input (got "
                             f"{input.ndim}D input of shape {tuple(input.shape)})")


class LayerNorm(Module):
    """Layer normalisation over the last dims, given by ``normalized_shape`` (e.g. (E,)
    for (N, L, E) input): each sample normalised by its own mean and variance. See
    ``functional.layer_norm``. Same in training and eval.

    Parameters: ``weight`` (normalized_shape) = 1 and ``bias`` (normalized_shape) = 0
    when ``elementwise_affine`` (``bias=False`` drops the bias).

    Raises:
        ValueError: input that does not end with normalized_shape.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: Any = None):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = _dtype(dtype, "LayerNorm")
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return N.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")

"""Op cases for :mod:`playground.engine.norm`, and the reference expansions of batch_norm
and layer_norm into primitive ops (mean, variance, normalise, scale and shift).

Running statistics are constants (engine Tensors; the parity tests hand torch a tensor
sharing their memory). In training they are updated in place on every call, which does
not change the output, so central differences are unaffected.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import norm as N
from ..testing import ExpansionCase, OpCase, _args, _n, _pos
from ..tensor import Tensor

OP_CASES: list = []
EXPANSIONS: list = []


def _case(name: str, fn: Callable[..., Any], *makers: Any) -> None:
    OP_CASES.append(OpCase(name, fn, _args(*makers)))


def _stat(c: int, var: bool = False) -> Callable[[np.random.Generator], Tensor]:
    """A running statistic: a constant Tensor (not differentiated)."""
    def make(rng):
        return Tensor(rng.uniform(0.5, 1.5, c) if var else rng.standard_normal(c))
    return make


# -- batch_norm ----------------------------------------------------------------------------

for _name, _shape in [("2d", (3, 3, 3, 4)), ("1d_(N,C)", (6, 4)), ("1d_(N,C,L)", (3, 4, 5)),
                      ("2d_batch_of_1", (1, 3, 4, 5))]:
    _c = _shape[1]
    _case(f"batch_norm_train_{_name}",
          lambda F, x, w, b: F.batch_norm(x, None, None, w, b, training=True),
          _n(*_shape), _n(_c), _n(_c))
    _case(f"batch_norm_eval_{_name}",
          lambda F, x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=False),
          _n(*_shape), _stat(_c), _stat(_c, var=True), _n(_c), _n(_c))
_case("batch_norm_train_updating_running_stats",
      lambda F, x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, True, 0.3, 1e-3),
      _n(4, 3, 2, 3), _stat(3), _stat(3, var=True), _n(3), _n(3))
_case("batch_norm_train_no_affine",
      lambda F, x: F.batch_norm(x, None, None, training=True), _n(5, 3, 4))
_case("batch_norm_eval_no_affine",
      lambda F, x, rm, rv: F.batch_norm(x, rm, rv), _n(2, 3, 3, 3), _stat(3),
      _stat(3, var=True))
_case("batch_norm_train_large_mean",
      lambda F, x, w, b: F.batch_norm(x * 3 + 20, None, None, w, b, training=True),
      _n(6, 2, 3), _n(2), _n(2))

# -- layer_norm ----------------------------------------------------------------------------

_case("layer_norm_last_dim", lambda F, x, w, b: F.layer_norm(x, (5,), w, b),
      _n(3, 4, 5), _n(5), _n(5))
_case("layer_norm_last_2_dims", lambda F, x, w, b: F.layer_norm(x, (4, 5), w, b),
      _n(3, 4, 5), _n(4, 5), _n(4, 5))
_case("layer_norm_no_bias", lambda F, x, w: F.layer_norm(x, (6,), w, eps=1e-3),
      _n(4, 6), _pos(6))
_case("layer_norm_no_affine", lambda F, x: F.layer_norm(x, (3, 4)), _n(2, 3, 4))
_case("layer_norm_batch_of_1", lambda F, x, w, b: F.layer_norm(x, [8], w, b),
      _n(1, 8), _n(8), _n(8))


# -- reference expansions ------------------------------------------------------------------


def batch_norm_reference(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                         weight: Tensor | None = None, bias: Tensor | None = None,
                         training: bool = False, eps: float = 1e-5) -> Tensor:
    """batch_norm by its definition: per channel (dim 1), the mean and biased variance
    over every other dim (in training) or the running ones (in eval); normalise; scale
    by weight and shift by bias. (Running statistics are not updated here.)"""
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def layer_norm_reference(x: Tensor, normalized_shape: Any, weight: Tensor | None = None,
                         bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """layer_norm by its definition: the mean and biased variance of each sample over
    the last len(normalized_shape) dims; normalise; scale and shift."""
    k = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    dims = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _expansion(name: str, fused: Callable[..., Any], reference: Callable[..., Any],
               *makers: Any) -> None:
    EXPANSIONS.append(ExpansionCase(name, fused, reference, _args(*makers)))


_expansion("batch_norm_train_2d",
           lambda x, w, b: N.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: batch_norm_reference(x, None, None, w, b, training=True),
           _n(3, 3, 3, 4), _n(3), _n(3))
_expansion("batch_norm_train_1d",
           lambda x, w, b: N.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: batch_norm_reference(x, None, None, w, b, training=True),
           _n(6, 4), _n(4), _n(4))
_expansion("batch_norm_eval_(N,C,L)",
           lambda x, rm, rv, w, b: N.batch_norm(x, rm, rv, w, b),
           lambda x, rm, rv, w, b: batch_norm_reference(x, rm, rv, w, b),
           _n(3, 4, 5), _stat(4), _stat(4, var=True), _n(4), _n(4))
_expansion("layer_norm_last_dim",
           lambda x, w, b: N.layer_norm(x, (5,), w, b),
           lambda x, w, b: layer_norm_reference(x, (5,), w, b), _n(3, 4, 5), _n(5), _n(5))
_expansion("layer_norm_last_2_dims",
           lambda x, w, b: N.layer_norm(x, (4, 5), w, b),
           lambda x, w, b: layer_norm_reference(x, (4, 5), w, b), _n(3, 4, 5), _n(4, 5),
           _n(4, 5))

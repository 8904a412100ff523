"""Op cases for :mod:`playground.engine.activation`.

Every case runs on this engine's ``functional`` and on ``torch.nn.functional``. Kinks are
kept away from the sampled points (leaky_relu and elu at 0: inputs in +-[0.5, 1.5]).
Dropout draws its mask from the engine's generator set to a fixed state for each forward
(and restored after), so central differences see one mask; on torch the same mask is
applied by hand (x * mask / (1 - p), torch's inverted dropout).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .. import _random
from .. import activation as A
from .. import ops
from ..testing import ExpansionCase, OpCase, _args, _const, _n, _u

OP_CASES: list = []
EXPANSIONS: list = []


def _case(name: str, fn: Callable[..., Any], *makers: Any) -> None:
    OP_CASES.append(OpCase(name, fn, _args(*makers)))


def _expansion(name: str, fused: Callable[..., Any], reference: Callable[..., Any],
               *makers: Any) -> None:
    EXPANSIONS.append(ExpansionCase(name, fused, reference, _args(*makers)))


def _is_torch(F: Any) -> bool:
    return F.__name__.startswith("torch")


# -- the fixed dropout mask ---------------------------------------------------------------

_DROPOUT_STATE = np.random.default_rng(20240601).bit_generator.state


def _with_fixed_generator(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with the engine's generator in a fixed state; restore its state after."""
    gen = _random.generator()
    saved = gen.bit_generator.state
    gen.bit_generator.state = _DROPOUT_STATE
    try:
        return fn()
    finally:
        gen.bit_generator.state = saved


def fixed_dropout_mask(shape: tuple, p: float) -> np.ndarray:
    """The float64 mask (0 or 1/(1-p)) that ``dropout`` draws in :func:`fixed_dropout`."""
    return _with_fixed_generator(lambda: A._dropout_mask(tuple(shape), p, np.float64))


def fixed_dropout(F: Any, x: Any, p: float) -> Any:
    """``F.dropout(x, p)`` with a fixed mask; on torch, x times that same mask."""
    if _is_torch(F):
        return x * x.new_tensor(fixed_dropout_mask(tuple(x.shape), p))
    return _with_fixed_generator(lambda: F.dropout(x, p=p, training=True))


# -- leaky_relu, elu ----------------------------------------------------------------------
_case("leaky_relu", lambda F, x: F.leaky_relu(x), _u(3, 5))
_case("leaky_relu_slope_0.2", lambda F, x: F.leaky_relu(x, negative_slope=0.2), _u(2, 3, 3))
_case("leaky_relu_negative_slope_-0.5", lambda F, x: F.leaky_relu(x, -0.5), _u(1, 5))
_case("elu", lambda F, x: F.elu(x), _u(3, 5))
_case("elu_alpha_0.7_batch_of_1", lambda F, x: F.elu(x, alpha=0.7), _u(1, 3, 3))
_case("elu_large_negative", lambda F, x: F.elu(x * 8, alpha=1.5), _u(3, 3))

# -- gelu ---------------------------------------------------------------------------------
_case("gelu", lambda F, x: F.gelu(x), _n(3, 5))
_case("gelu_wide_range", lambda F, x: F.gelu(x * 4), _n(2, 7))  # erf's three intervals
_case("gelu_tanh", lambda F, x: F.gelu(x, approximate="tanh"), _n(3, 5))
_case("gelu_tanh_batch_of_1", lambda F, x: F.gelu(x * 3, approximate="tanh"), _n(1, 4))

# -- glu ----------------------------------------------------------------------------------
_case("glu_last_dim", lambda F, x: F.glu(x), _n(3, 6))
_case("glu_dim1_odd_rest", lambda F, x: F.glu(x, dim=1), _n(3, 4, 5))
_case("glu_dim0_batch_of_1", lambda F, x: F.glu(x, 0), _n(2, 1, 3))

# -- softplus -----------------------------------------------------------------------------
_case("softplus", lambda F, x: F.softplus(x), _n(3, 5))
_case("softplus_beta_2", lambda F, x: F.softplus(x, beta=2.0), _n(3, 5))
# beta x in +-[1, 3]: all below threshold 4 (torch's softplus jumps at the threshold)
_case("softplus_beta_2_threshold_4", lambda F, x: F.softplus(x, beta=2.0, threshold=4.0),
      _u(2, 3))
# x in +-[10, 30]: both the log1p branch and the linear branch (beta x > 20)
_case("softplus_linear_region", lambda F, x: F.softplus(x * 20), _u(3, 5))
_case("softplus_batch_of_1", lambda F, x: F.softplus(x, 0.5, 10.0), _n(1, 3))

# -- dropout ------------------------------------------------------------------------------
_case("dropout_p0.5_fixed_mask", lambda F, x: fixed_dropout(F, x, 0.5), _n(4, 5))
_case("dropout_p0.2_fixed_mask_3d", lambda F, x: fixed_dropout(F, x, 0.2), _n(2, 3, 3))
_case("dropout_eval_is_identity", lambda F, x: F.dropout(x, p=0.5, training=False) * 1.0,
      _n(3, 4))
_case("dropout_p0", lambda F, x: F.dropout(x, p=0.0) * 1.0, _n(3, 4))

# -- embedding ----------------------------------------------------------------------------
_case("embedding", lambda F, i, w: F.embedding(i, w), _const(np.array([3, 0, 3, 4])),
      _n(5, 3))
_case("embedding_2d_indices_repeats", lambda F, i, w: F.embedding(i, w),
      _const(np.array([[0, 2, 2], [1, 2, 0]])), _n(3, 4))
_case("embedding_batch_of_1", lambda F, i, w: F.embedding(i, w),
      _const(np.array([[6]])), _n(7, 2))
_case("embedding_padding_idx_unused", lambda F, i, w: F.embedding(i, w, padding_idx=1),
      _const(np.array([[0, 2], [3, 0]])), _n(4, 3))


# -- reference expansions into primitives -------------------------------------------------
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

_expansion("leaky_relu", lambda x: A.leaky_relu(x, 0.1),
           lambda x: x.relu() - 0.1 * (-x).relu(), _u(3, 4))
_expansion("elu", lambda x: A.elu(x, 1.3),
           lambda x: x.relu() + 1.3 * ((-(-x).relu()).exp() - 1), _u(3, 4))
_expansion("gelu", lambda x: A.gelu(x),
           lambda x: x * 0.5 * (1 + A.Erf.apply(x * _SQRT_HALF)), _n(3, 5))
_expansion("gelu_wide_range", lambda x: A.gelu(x * 5),
           lambda x: (x * 5) * 0.5 * (1 + A.Erf.apply(x * 5 * _SQRT_HALF)), _n(2, 6))
_expansion("gelu_tanh", lambda x: A.gelu(x, approximate="tanh"),
           lambda x: 0.5 * x * (1 + ((x + 0.044715 * x ** 3) * _SQRT_2_OVER_PI).tanh()),
           _n(3, 5))
_expansion("glu", lambda x: A.glu(x, dim=1),
           lambda x: (lambda a, b: a * b.sigmoid())(*x.chunk(2, dim=1)), _n(2, 4, 3))
_expansion("softplus", lambda x: A.softplus(x, beta=2.0),
           lambda x: ((x * 2.0).exp() + 1).log() / 2.0, _n(3, 4))
_expansion("softplus_threshold", lambda x: A.softplus(x * 20),
           lambda x: ops.where(x * 20 > 20, x * 20, ((x * 20).exp() + 1).log()), _u(3, 4))
_expansion("dropout", lambda x: _with_fixed_generator(lambda: A.dropout(x, 0.3)),
           lambda x: x * fixed_dropout_mask(x.shape, 0.3), _n(4, 5))
_expansion("embedding", lambda i, w: A.embedding(i, w), lambda i, w: w[i],
           _const(np.array([[1, 0], [3, 1]])), _n(4, 3))

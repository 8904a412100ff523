"""Op registry and central-difference gradient check, for the tests.

``OP_CASES`` lists every differentiable op (including broadcasting, scalar-on-either-side,
batch-of-1, dim/keepdim and reduction variants). Each case is written against a namespace
``F`` holding ``functional`` so the same case runs on this engine and, for parity tests,
on ``torch.nn.functional``: ``case.fn(F, *args)``. ``case.make_args(rng)`` gives the
arguments; float64 ndarrays among them are the inputs to differentiate, anything else
(Python scalars, integer targets) is passed through as a constant.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import functional
from .grad_mode import no_grad
from .tensor import Tensor

__all__ = ["OpCase", "OP_CASES", "ExpansionCase", "EXPANSIONS", "gradcheck",
           "numerical_grads", "check_expansion"]


@dataclass(frozen=True)
class OpCase:
    """One op under test: ``fn(F, *make_args(rng)) -> Tensor``."""

    name: str
    fn: Callable[..., Any]
    make_args: Callable[[np.random.Generator], tuple]

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ExpansionCase:
    """A fused op against its reference expansion into primitive ops.

    ``fused(*args)`` and ``reference(*args)`` take the same arguments (float64 ndarrays
    among ``make_args(rng)`` become Tensors with requires_grad; anything else passes as a
    constant) and must agree in value and in every input's gradient. The reference is what
    the canvas shows when a student opens the op.
    """

    name: str
    fused: Callable[..., Any]
    reference: Callable[..., Any]
    make_args: Callable[[np.random.Generator], tuple]

    def __repr__(self) -> str:
        return self.name


def _u(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Values in +-[0.5, 1.5]: away from 0 (relu's kink, division) and of either sign."""
    def make(rng):
        return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    return make


def _pos(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Values in [0.5, 1.5] (log, non-integer powers)."""
    return lambda rng: rng.uniform(0.5, 1.5, shape)


def _n(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.standard_normal(shape)


def _args(*makers: Any) -> Callable[[np.random.Generator], tuple]:
    return lambda rng: tuple(m(rng) if callable(m) else m for m in makers)


def _classes(n: int, c: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.integers(0, c, n)


def _const(value: Any) -> Callable[[np.random.Generator], Any]:
    """A fixed argument (an index array, a mask): passed as a constant, never
    differentiated, converted to a torch tensor by the parity tests."""
    return lambda rng: value


def _mask(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """A random bool mask (a constant condition for ``where`` or a boolean index)."""
    return lambda rng: rng.random(shape) < 0.5


def _top(F: Any) -> Any:
    """The top-level namespace beside ``F``: ``playground.engine`` for this engine's
    functional, ``torch`` for ``torch.nn.functional``; it has ``cat``, ``stack``,
    ``where``, ``max``, ``flatten``, ``permute``, ``clamp``, as torch."""
    name = F.__name__
    for suffix in (".nn.functional", ".functional"):
        if name.endswith(suffix):
            return sys.modules[name[:-len(suffix)]]
    raise ValueError(f"no top-level namespace for {name}")


def _pad(F: Any) -> Callable[..., Any]:
    """``F.pad`` (torch's, and ours once functional re-exports it) or ``engine.pad``."""
    return getattr(F, "pad", None) or _top(F).pad


_cases: list[OpCase] = []


def _case(name: str, fn: Callable[..., Any], *makers: Any) -> None:
    _cases.append(OpCase(name, fn, _args(*makers)))


# -- arithmetic: same shape, broadcasting, scalars on either side, batch of 1 ---------
for _op, _f in [("add", lambda F, a, b: a + b), ("sub", lambda F, a, b: a - b),
                ("mul", lambda F, a, b: a * b), ("div", lambda F, a, b: a / b)]:
    _case(f"{_op}", _f, _u(3, 4), _u(3, 4))
    _case(f"{_op}_broadcast_(3,1,4)_(2,4)", _f, _u(3, 1, 4), _u(2, 4))
    _case(f"{_op}_broadcast_(2,1)_(1,3)", _f, _u(2, 1), _u(1, 3))
    _case(f"{_op}_broadcast_0d", _f, _u(3, 4), _u())
    _case(f"{_op}_scalar_right", _f, _u(3, 4), 2.5)
    _case(f"{_op}_scalar_left", _f, -1.5, _u(3, 4))
    _case(f"{_op}_batch_of_1_(1,4)_(4,)", _f, _u(1, 4), _u(4))
_case("neg", lambda F, x: -x, _u(3, 4))
_case("pow_2", lambda F, x: x ** 2, _u(3, 4))
_case("pow_3.5", lambda F, x: x ** 3.5, _pos(3, 4))
_case("pow_-1", lambda F, x: x ** -1, _u(3, 4))
_case("pow_scalar_base", lambda F, x: 2.0 ** x, _u(3, 4))
_case("pow_tensor_tensor_broadcast", lambda F, a, b: a ** b, _pos(3, 4), _u(4))
_case("used_twice", lambda F, x: x * x + x, _u(3, 4))
_case("chain", lambda F, x, w: ((x @ w).tanh() * x.sum(dim=1, keepdim=True)).mean(),
      _u(3, 4), _u(4, 4))

# -- matmul ---------------------------------------------------------------------------
_mm = lambda F, a, b: a @ b  # noqa: E731
_case("matmul_2d", _mm, _n(3, 4), _n(4, 5))
_case("matmul_batch_of_1", _mm, _n(1, 4), _n(4, 3))
_case("matmul_batched", _mm, _n(2, 3, 4), _n(2, 4, 5))
_case("matmul_batched_broadcast_right", _mm, _n(2, 3, 4), _n(4, 5))
_case("matmul_batched_broadcast_both", _mm, _n(2, 1, 3, 4), _n(3, 4, 2))
_case("matmul_1d_2d", _mm, _n(4), _n(4, 3))
_case("matmul_2d_1d", _mm, _n(3, 4), _n(4))
_case("matmul_1d_1d", _mm, _n(4), _n(4))
_case("matmul_1d_batched", _mm, _n(4), _n(2, 4, 3))
_case("matmul_batched_1d", _mm, _n(2, 3, 4), _n(4))

# -- reductions -----------------------------------------------------------------------
for _op in ("sum", "mean"):
    _case(f"{_op}_all", lambda F, x, op=_op: getattr(x, op)(), _n(3, 4))
    _case(f"{_op}_dim0", lambda F, x, op=_op: getattr(x, op)(dim=0), _n(3, 4))
    _case(f"{_op}_dim1_keepdim", lambda F, x, op=_op: getattr(x, op)(dim=1, keepdim=True),
          _n(3, 4))
    _case(f"{_op}_dim-1", lambda F, x, op=_op: getattr(x, op)(dim=-1), _n(2, 3, 4))
    _case(f"{_op}_dims(0,2)", lambda F, x, op=_op: getattr(x, op)(dim=(0, 2)), _n(2, 3, 4))
    _case(f"{_op}_dims(0,2)_keepdim",
          lambda F, x, op=_op: getattr(x, op)(dim=(0, 2), keepdim=True), _n(2, 3, 4))
    _case(f"{_op}_batch_of_1", lambda F, x, op=_op: getattr(x, op)(dim=0), _n(1, 4))

# -- shape ----------------------------------------------------------------------------
_case("reshape", lambda F, x: x.reshape(4, -1), _n(2, 3, 4))
_case("reshape_tuple", lambda F, x: x.reshape((6, 4)), _n(2, 3, 4))
_case("view", lambda F, x: x.view(-1), _n(3, 4))
_case("transpose_0_2", lambda F, x: x.transpose(0, 2), _n(2, 3, 4))
_case("transpose_-1_-2", lambda F, x: x.transpose(-1, -2), _n(2, 3, 4))
_case("T", lambda F, x: x.T, _n(3, 4))
_case("flatten", lambda F, x: x.flatten(1), _n(2, 3, 4))

# -- indexing -------------------------------------------------------------------------
_case("getitem_int", lambda F, x: x[1], _n(3, 4))
_case("getitem_int_neg", lambda F, x: x[-1, 2], _n(3, 4))
_case("getitem_slices_step_odd", lambda F, x: x[::2, 1:], _n(5, 3))
_case("getitem_slice_neg", lambda F, x: x[:, -2:], _n(3, 5))
_case("getitem_none_ellipsis", lambda F, x: x[..., None, 1], _n(2, 3, 4))
_case("getitem_batch_of_1", lambda F, x: x[:, 0], _n(1, 4))
_case("getitem_int_array_repeats", lambda F, x, i: x[i], _n(4, 3),
      _const(np.array([0, 2, 0, 3, 2])))
_case("getitem_tensor_index", lambda F, x, i: x[:, i], _n(3, 4),
      _const(Tensor(np.array([3, 3, 1]))))
_case("getitem_two_arrays", lambda F, x, i, j: x[i, j], _n(3, 4),
      _const(np.array([0, 2, 2])), _const(np.array([1, 3, 1])))
_case("getitem_array_2d_index", lambda F, x, i: x[i], _n(4, 2),
      _const(np.array([[0, 1], [1, 3]])))
_case("getitem_bool_mask", lambda F, x, m: x[m], _n(3, 4), _mask(3, 4))
_case("getitem_bool_rows", lambda F, x, m: x[m, 1:], _n(3, 4),
      _const(np.array([True, False, True])))
_case("getitem_mask_from_comparison", lambda F, x: x[x > 0] * 2, _u(3, 5))

# -- joining and cutting --------------------------------------------------------------
_case("cat_dim0", lambda F, a, b: _top(F).cat([a, b]), _n(2, 3), _n(3, 3))
_case("cat_dim-1_three", lambda F, a, b, c: _top(F).cat([a, b, c], dim=-1),
      _n(2, 1), _n(2, 3), _n(2, 2))
_case("cat_same_tensor_twice", lambda F, a: _top(F).cat([a, a * 2], dim=1), _n(3, 2))
_case("cat_batch_of_1", lambda F, a, b: _top(F).cat((a, b), 1), _n(1, 2, 3), _n(1, 3, 3))
_case("stack_dim0", lambda F, a, b: _top(F).stack([a, b]), _n(3, 4), _n(3, 4))
_case("stack_dim-1", lambda F, a, b, c: _top(F).stack([a, b, c], dim=-1), _n(2, 3),
      _n(2, 3), _n(2, 3))
_case("stack_batch_of_1", lambda F, a: _top(F).stack([a, a], 1), _n(1, 3))
_case("split_int_uneven", lambda F, x: _top(F).cat(
    [p * (k + 1) for k, p in enumerate(x.split(2, dim=1))], dim=1), _n(3, 5))
_case("split_sections_dim-1", lambda F, x: (lambda a, b: a * b.sum(dim=-1, keepdim=True))(
    *x.split([1, 3], -1)), _n(2, 3, 4))
_case("split_function", lambda F, x: _top(F).split(x, 2)[1].exp(), _n(5, 2))
_case("chunk_uneven", lambda F, x: _top(F).cat(
    [p * (k + 1) for k, p in enumerate(x.chunk(3))]), _n(5, 2))
_case("chunk_dim-1", lambda F, x: (lambda a, b: a * b)(*x.chunk(2, dim=-1)), _n(3, 4))

# -- shape ----------------------------------------------------------------------------
_case("flatten_all", lambda F, x: x.flatten(), _n(2, 3, 4))
_case("flatten_1_2", lambda F, x: x.flatten(1, 2), _n(2, 3, 4, 1))
_case("flatten_neg_dims", lambda F, x: x.flatten(-3, -2), _n(2, 3, 4))
_case("flatten_function", lambda F, x: _top(F).flatten(x, 1), _n(1, 3, 3))
_case("unsqueeze_0", lambda F, x: x.unsqueeze(0), _n(3, 4))
_case("unsqueeze_-1", lambda F, x: x.unsqueeze(-1), _n(3, 4))
_case("unsqueeze_broadcast", lambda F, x, y: x.unsqueeze(1) * y, _n(3, 4), _n(2, 4))
_case("squeeze_all", lambda F, x: x.squeeze(), _n(1, 3, 1, 4))
_case("squeeze_dim-2", lambda F, x: x.squeeze(-2), _n(3, 1, 4))
_case("squeeze_dim_not_1", lambda F, x: x.squeeze(0), _n(2, 3))
_case("squeeze_dims_tuple", lambda F, x: x.squeeze((0, 2)), _n(1, 3, 1, 1))
_case("permute", lambda F, x: x.permute(2, 0, 1), _n(2, 3, 4))
_case("permute_tuple_neg", lambda F, x: x.permute((-1, 0, 1)) * 2, _n(2, 3, 4))
_case("permute_function", lambda F, x: _top(F).permute(x, (1, 0)), _n(3, 5))
_case("expand_-1", lambda F, x: x.expand(3, -1), _n(1, 4))
_case("expand_new_dims", lambda F, x: x.expand(2, 3, 4), _n(3, 1))
_case("expand_as", lambda F, x, y: x.expand_as(y) * y, _n(4), _n(3, 4))
_case("t", lambda F, x: x.t(), _n(3, 4))
_case("clone", lambda F, x: x.clone() * 2, _n(3, 4))

# -- pad ------------------------------------------------------------------------------
_case("pad_constant_last_dim", lambda F, x: _pad(F)(x, (1, 2)), _n(2, 3))
_case("pad_constant_2d_value", lambda F, x: _pad(F)(x, (1, 1, 2, 0), value=0.5),
      _n(1, 2, 3, 3))
_case("pad_constant_negative_crops", lambda F, x: _pad(F)(x, (-1, 1, 1, -2)), _n(2, 4, 5))
_case("pad_reflect", lambda F, x: _pad(F)(x, (2, 1, 1, 1), mode="reflect"),
      _n(1, 1, 3, 4))
_case("pad_replicate", lambda F, x: _pad(F)(x, (1, 2, 2, 1), mode="replicate"),
      _n(1, 2, 3, 3))
_case("pad_circular", lambda F, x: _pad(F)(x, (1, 3), mode="circular"), _n(1, 2, 4))

# -- max, min, abs, sqrt, clamp, where ------------------------------------------------
for _op in ("max", "min"):
    _case(f"{_op}_all", lambda F, x, op=_op: getattr(x, op)(), _n(3, 4))
    _case(f"{_op}_dim1", lambda F, x, op=_op: getattr(x, op)(dim=1).values, _n(3, 4))
    _case(f"{_op}_dim-1_keepdim",
          lambda F, x, op=_op: getattr(x, op)(-1, keepdim=True).values, _n(2, 3, 5))
    _case(f"{_op}_dim0_batch_of_1", lambda F, x, op=_op: getattr(x, op)(0)[0], _n(1, 4))
    _case(f"{_op}_function", lambda F, x, op=_op: getattr(_top(F), op)(x, 0).values,
          _n(3, 2))
_case("abs", lambda F, x: x.abs(), _u(3, 4))
_case("abs_function", lambda F, x: _top(F).abs(x), _u(1, 5))
_case("sqrt", lambda F, x: x.sqrt(), _pos(3, 4))
_case("sqrt_function", lambda F, x: _top(F).sqrt(x), _pos(2, 3))
_case("clamp_both", lambda F, x: x.clamp(-0.3, 0.4), _n(4, 5))
_case("clamp_min", lambda F, x: x.clamp(min=0.1), _n(3, 4))
_case("clamp_max", lambda F, x: x.clamp(max=-0.2), _n(3, 4))
_case("clamp_function", lambda F, x: _top(F).clamp(x, -0.5, 0.5), _n(3, 3))
_case("clip", lambda F, x: x.clip(-0.5, 0.5), _n(3, 3))
_case("where", lambda F, c, x, y: _top(F).where(c, x, y), _mask(3, 4), _n(3, 4), _n(3, 4))
_case("where_broadcast", lambda F, c, x, y: _top(F).where(c, x, y), _mask(3, 1), _n(1, 4),
      _n(3, 4))
_case("where_scalar_other", lambda F, c, x: _top(F).where(c, x, 0.0), _mask(3, 4),
      _n(3, 4))
_case("where_scalar_input", lambda F, c, y: _top(F).where(c, 1.5, y), _mask(3, 4),
      _n(2, 3, 4))
_case("where_method", lambda F, c, x, y: x.where(c, y), _mask(2, 3), _n(2, 3), _n(3))
_case("where_mask_from_comparison", lambda F, x: _top(F).where(x > 0, x, x * 0.1),
      _u(3, 4))
_case("where_batch_of_1", lambda F, c, x, y: _top(F).where(c, x, y), _mask(1, 3), _n(1, 3),
      _n(1, 3))

# -- elementwise ----------------------------------------------------------------------
_case("exp", lambda F, x: x.exp(), _u(3, 4))
_case("log", lambda F, x: x.log(), _pos(3, 4))
_case("relu", lambda F, x: F.relu(x), _u(3, 4))
_case("relu_method", lambda F, x: x.relu(), _u(2, 3, 4))
_case("sigmoid", lambda F, x: F.sigmoid(x), _n(3, 4))
_case("sigmoid_method_large", lambda F, x: (x * 10).sigmoid(), _n(3, 4))
_case("tanh", lambda F, x: F.tanh(x), _n(3, 4))
_case("tanh_method", lambda F, x: x.tanh(), _n(1, 4))

# -- nn functional --------------------------------------------------------------------
_case("linear", lambda F, x, w, b: F.linear(x, w, b), _n(5, 3), _n(4, 3), _n(4))
_case("linear_no_bias", lambda F, x, w: F.linear(x, w), _n(5, 3), _n(4, 3))
_case("linear_3d_input", lambda F, x, w, b: F.linear(x, w, b), _n(2, 3, 3), _n(4, 3), _n(4))
_case("linear_1d_input", lambda F, x, w, b: F.linear(x, w, b), _n(3), _n(4, 3), _n(4))
_case("linear_batch_of_1", lambda F, x, w, b: F.linear(x, w, b), _n(1, 3), _n(4, 3), _n(4))
for _dim in (0, 1, -1):
    _case(f"softmax_dim{_dim}", lambda F, x, d=_dim: F.softmax(x, dim=d), _n(2, 3, 4))
    _case(f"log_softmax_dim{_dim}", lambda F, x, d=_dim: F.log_softmax(x, dim=d),
          _n(2, 3, 4))
_case("softmax_large_logits", lambda F, x: F.softmax(x * 50, dim=1), _n(3, 4))
_case("log_softmax_method", lambda F, x: x.log_softmax(dim=1), _n(3, 4))
_case("softmax_method", lambda F, x: x.softmax(dim=-1), _n(3, 4))
for _red in ("mean", "sum", "none"):
    _case(f"cross_entropy_{_red}",
          lambda F, x, t, r=_red: F.cross_entropy(x, t, reduction=r), _n(5, 4), _classes(5, 4))
    _case(f"nll_loss_{_red}",
          lambda F, x, t, r=_red: F.nll_loss(F.log_softmax(x, dim=1), t, reduction=r),
          _n(5, 4), _classes(5, 4))
    _case(f"mse_loss_{_red}",
          lambda F, x, y, r=_red: F.mse_loss(x, y, reduction=r), _n(3, 4), _n(3, 4))
_case("cross_entropy_batch_of_1", lambda F, x, t: F.cross_entropy(x, t), _n(1, 4),
      _classes(1, 4))
_case("cross_entropy_large_logits", lambda F, x, t: F.cross_entropy(x * 100, t), _n(4, 3),
      _classes(4, 3))
for _red in ("mean", "none"):
    _case(f"cross_entropy_per_position_{_red}",
          lambda F, x, t, r=_red: F.cross_entropy(x, t, reduction=r), _n(2, 4, 3),
          lambda rng: rng.integers(0, 4, (2, 3)))
    _case(f"nll_loss_per_position_2d_{_red}",
          lambda F, x, t, r=_red: F.nll_loss(F.log_softmax(x, dim=1), t, reduction=r),
          _n(2, 3, 2, 2), lambda rng: rng.integers(0, 3, (2, 2, 2)))
_case("mse_loss_constant_target", lambda F, x, y: F.mse_loss(x, y), _n(3, 4),
      lambda rng: Tensor(rng.standard_normal((3, 4))))
_case("mlp", lambda F, x, w1, b1, w2, t: F.cross_entropy(
    F.linear(F.tanh(F.linear(x, w1, b1)), w2), t),
    _n(4, 3), _n(5, 3), _n(5), _n(2, 5), _classes(4, 2))

# -- the other op families register their cases in cases/<family>.py --------------------
from .cases import activation as _c_activation  # noqa: E402
from .cases import attention as _c_attention  # noqa: E402
from .cases import conv as _c_conv  # noqa: E402
from .cases import loss as _c_loss  # noqa: E402
from .cases import norm as _c_norm  # noqa: E402
from .cases import recurrent as _c_recurrent  # noqa: E402

_FAMILIES = (_c_conv, _c_norm, _c_recurrent, _c_attention, _c_activation, _c_loss)
OP_CASES: tuple[OpCase, ...] = tuple(_cases) + tuple(c for m in _FAMILIES for c in m.OP_CASES)
#: Fused op vs its reference expansion into primitive ops (see ExpansionCase).
EXPANSIONS: tuple = tuple(e for m in _FAMILIES for e in m.EXPANSIONS)
del _cases


def _eval(case_fn: Callable[..., Any], args: tuple, v: np.ndarray) -> float:
    with no_grad():
        out = case_fn(functional, *[Tensor(a) if _is_input(a) else a for a in args])
    return float(np.sum(out.data * v))


def _is_input(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == np.float64


def numerical_grads(fn: Callable[..., Any], args: tuple, v: np.ndarray,
                    eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of sum(fn(F, *args) * v) w.r.t. each float64 ndarray in args:
    (f(x + eps) - f(x - eps)) / (2 eps), element by element."""
    args = tuple(a.copy() if _is_input(a) else a for a in args)
    grads = []
    for a in args:
        if not _is_input(a):
            continue
        num = np.empty_like(a)
        for idx in np.ndindex(a.shape):
            orig = a[idx]
            a[idx] = orig + eps
            plus = _eval(fn, args, v)
            a[idx] = orig - eps
            minus = _eval(fn, args, v)
            a[idx] = orig
            num[idx] = (plus - minus) / (2 * eps)
        grads.append(num)
    return grads


def gradcheck(case: OpCase, seed: int = 0, eps: float = 1e-6, rtol: float = 1e-6,
              atol: float = 1e-8) -> None:
    """Check backward against central differences, in float64.

    The output is projected on a fixed random v (L = sum(out * v)), so one backward gives
    every input's vector-Jacobian product.

    Raises:
        AssertionError: a gradient differs (``np.testing.assert_allclose``), is missing,
            or is not float64.
    """
    rng = np.random.default_rng(seed)
    args = case.make_args(rng)
    tensors = [Tensor(a.copy(), requires_grad=True) if _is_input(a) else a for a in args]
    out = case.fn(functional, *tensors)
    assert out.dtype == np.float64, f"{case.name}: output dtype {out.dtype}, want float64"
    v = rng.standard_normal(out.shape)
    out.backward(v)
    expected = numerical_grads(case.fn, args, v, eps)
    got = [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]
    for i, (t, num) in enumerate(zip(got, expected)):
        assert t.grad is not None, f"{case.name}: input {i} got no gradient"
        assert t.grad.dtype == np.float64, f"{case.name}: grad dtype {t.grad.dtype}"
        np.testing.assert_allclose(t.grad, num, rtol=rtol, atol=atol,
                                   err_msg=f"{case.name}: input {i}")


def _outputs(out: Any) -> list:
    """The floating Tensors in an op's result (a Tensor or nested tuples/lists of them,
    e.g. LSTM's ``(output, (h_n, c_n))``), in order."""
    if isinstance(out, Tensor):
        return [out] if out.dtype.kind == "f" else []
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _outputs(o)]
    return []


def check_expansion(case: ExpansionCase, seed: int = 0, rtol: float = 1e-7,
                    atol: float = 1e-10) -> None:
    """Check that ``case.fused`` and ``case.reference`` agree in value and in every input's
    gradient, in float64.

    Both run on the same ``make_args`` (float64 ndarrays become Tensors that require grad).
    Every floating output (a result may be a tuple, e.g. ``(output, (h_n, c_n))``) is
    compared, then both sides backpropagate the same loss L = sum_i sum(out_i * v_i) with
    fixed random v_i, and each input's gradient is compared.

    Raises:
        AssertionError: outputs differ in number, shape, dtype or value, or a gradient
            differs or is missing on one side only.
    """
    rng = np.random.default_rng(seed)
    args = case.make_args(rng)

    def run(fn):
        tensors = [Tensor(a.copy(), requires_grad=True) if _is_input(a) else a for a in args]
        return _outputs(fn(*tensors)), [t for t in tensors if isinstance(t, Tensor)
                                        and t.requires_grad]

    fused, f_in = run(case.fused)
    ref, r_in = run(case.reference)
    assert fused, f"{case.name}: the fused op returned no floating Tensor"
    assert len(fused) == len(ref), \
        f"{case.name}: fused gives {len(fused)} outputs, reference {len(ref)}"
    vs = []
    for i, (a, b) in enumerate(zip(fused, ref)):
        assert a.shape == b.shape, f"{case.name}: output {i} shapes {a.shape} vs {b.shape}"
        assert a.dtype == b.dtype == np.float64, \
            f"{case.name}: output {i} dtypes {a.dtype} / {b.dtype}, want float64"
        np.testing.assert_allclose(a.data, b.data, rtol=rtol, atol=atol,
                                   err_msg=f"{case.name}: output {i} value")
        vs.append(rng.standard_normal(a.shape))
    for outs in (fused, ref):
        loss = None
        for o, v in zip(outs, vs):
            if o.requires_grad:
                term = (o * Tensor(v)).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
    for i, (a, b) in enumerate(zip(f_in, r_in)):
        if a.grad is None and b.grad is None:
            continue
        assert a.grad is not None and b.grad is not None, \
            f"{case.name}: input {i} has a gradient on one side only"
        np.testing.assert_allclose(a.grad, b.grad, rtol=rtol, atol=atol,
                                   err_msg=f"{case.name}: input {i} gradient")

"""Neural-network functions, as ``torch.nn.functional``: ``import ... functional as F``.

Shapes: N batch, C classes, ``*`` any number of extra dims.

The fused ops (``linear``, ``softmax``, ``log_softmax``, ``cross_entropy``, ``nll_loss``,
``mse_loss``) are single Functions with hand-derived backwards, for speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .tensor import Function, Tensor

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy",
           "nll_loss", "mse_loss", "pad"]

pad = ops.pad

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _reduce_grad(g: np.ndarray, reduction: str, n: int) -> np.ndarray | float:
    """d(reduced)/d(losses) times g: g/n for mean, g for sum, g itself for none."""
    return g / n if reduction == "mean" else g


# ----------------------------------------------------------------------- linear


class Linear(Function):
    """y = x W^T + b. Shapes: x (N, *, in_features), W (out_features, in_features),
    b (out_features,) or None -> y (N, *, out_features).
    dx = g W;  dW = g^T x (summed over N and *);  db = g summed over N and *.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                f"features on its last dim, but weight of shape {weight.shape} expects "
                f"(out_features, in_features) with in_features="
                f"{weight.shape[1] if weight.ndim == 2 else '?'}")
        y = x @ weight.T
        if bias is not None:
            if bias.shape != (weight.shape[0],):
                raise ValueError(f"linear: bias has shape {bias.shape}, expected "
                                 f"({weight.shape[0]},) for weight {weight.shape}")
            y += bias
        ctx.save(x=x, weight=weight)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.x, ctx.weight
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = g @ w if need_x else None
        dw = db = None
        if need_w or need_b:
            g2 = g if g.ndim == 2 else g.reshape(-1, w.shape[0])
            if need_w:
                dw = g2.T @ (x if x.ndim == 2 else x.reshape(-1, w.shape[1]))
            if need_b:
                db = g2.sum(axis=0)
        return dx, dw, db


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map y = x W^T + b. input (N, *, in_features), weight (out_features,
    in_features), bias (out_features,) or None -> (N, *, out_features).

    Raises:
        ValueError: input's last dim is not ``in_features``, or bias has the wrong shape.
    """
    return Linear.apply(input, weight, bias)


# ----------------------------------------------------------------------- activations


def relu(input: Tensor) -> Tensor:
    """max(0, x) elementwise. Any shape -> same."""
    return ops.ReLU.apply(input)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x) elementwise. Any shape -> same."""
    return ops.Sigmoid.apply(input)


def tanh(input: Tensor) -> Tensor:
    """tanh(x) elementwise. Any shape -> same."""
    return ops.Tanh.apply(input)


class Softmax(Function):
    """y = e^(x - max) / sum(e^(x - max)) along dim (shifting by the max avoids overflow).
    Shape: any -> same. dx = y * (g - sum(g * y, dim))."""

    @staticmethod
    def forward(ctx, x, dim):
        y = np.exp(x - x.max(axis=dim, keepdims=True))
        y /= y.sum(axis=dim, keepdims=True)
        ctx.save(y=y, dim=dim)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        return y * (g - (g * y).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x, dim), with logsumexp = max + ln(sum(e^(x - max))).
    Shape: any -> same. dx = g - softmax(x) * sum(g, dim)."""

    @staticmethod
    def forward(ctx, x, dim):
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save(y=y, dim=dim)
        return y

    @staticmethod
    def backward(ctx, g):
        return g - np.exp(ctx.y) * g.sum(axis=ctx.dim, keepdims=True)


def softmax(input: Tensor, dim: int) -> Tensor:
    """Probabilities along ``dim``: non-negative, summing to 1. Any shape -> same."""
    return Softmax.apply(input, dim=dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """log(softmax(x, dim)), computed stably. Any shape -> same."""
    return LogSoftmax.apply(input, dim=dim)


# ----------------------------------------------------------------------- losses


def _check_class_target(name: str, x: np.ndarray, target: Any) -> None:
    if (not isinstance(target, np.ndarray) or target.dtype.kind not in "iu"
            or target.ndim != 1):
        raise TypeError(f"{name} expects class indices of integer dtype, shape (N,); got "
                        f"target of dtype {np.asarray(target).dtype} and shape "
                        f"{np.shape(target)}")
    if x.ndim != 2:
        raise ValueError(f"{name} expects input of shape (N, C), got {x.shape}")
    n, c = x.shape
    if target.shape[0] != n:
        raise ValueError(f"{name}: input has batch size N={n} (shape {x.shape}) but target "
                         f"has {target.shape[0]} class indices")
    if n and (target.min() < 0 or target.max() >= c):
        bad = target[(target < 0) | (target >= c)][0]
        raise IndexError(f"{name}: target class {bad} is out of range for C={c} classes "
                         f"(valid 0..{c - 1})")


class CrossEntropy(Function):
    """loss_n = -log softmax(x_n)[t_n] = logsumexp(x_n) - x_n[t_n], fused and stable.
    Shapes: x (N, C) logits, t (N,) integer class indices -> () for 'mean'/'sum',
    (N,) for 'none'. dx_n = (softmax(x_n) - onehot(t_n)) * g_n (/ N for 'mean')."""

    @staticmethod
    def forward(ctx, x, target, reduction="mean"):
        _check_reduction(reduction)
        _check_class_target("cross_entropy", x, target)
        shifted = x - x.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        sumexp = probs.sum(axis=1, keepdims=True)
        rows = np.arange(x.shape[0])
        losses = np.log(sumexp[:, 0]) - shifted[rows, target]
        probs /= sumexp
        ctx.save(probs=probs, target=target, reduction=reduction)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, g):
        d = ctx.probs.copy()
        n = d.shape[0]
        d[np.arange(n), ctx.target] -= 1.0
        if ctx.reduction == "none":
            d *= g[:, None]
        else:
            d *= _reduce_grad(g, ctx.reduction, n)
        return d, None


class NllLoss(Function):
    """loss_n = -x_n[t_n] for log-probabilities x. Shapes: x (N, C), t (N,) integer class
    indices -> () for 'mean'/'sum', (N,) for 'none'. dx_n = -onehot(t_n) * g_n (/ N)."""

    @staticmethod
    def forward(ctx, x, target, reduction="mean"):
        _check_reduction(reduction)
        _check_class_target("nll_loss", x, target)
        ctx.save(shape=x.shape, target=target, reduction=reduction)
        return _reduce(-x[np.arange(x.shape[0]), target], reduction)

    @staticmethod
    def backward(ctx, g):
        n = ctx.shape[0]
        d = np.zeros(ctx.shape, dtype=g.dtype)
        d[np.arange(n), ctx.target] = -_reduce_grad(g, ctx.reduction, n)
        return d, None


class MseLoss(Function):
    """loss = (x - y)^2 elementwise, then reduced. Shapes: x and y the same shape ->
    () for 'mean'/'sum', that shape for 'none'. dx = 2 (x - y) g (/ numel), dy = -dx."""

    @staticmethod
    def forward(ctx, x, target, reduction="mean"):
        _check_reduction(reduction)
        if np.shape(target) != x.shape:
            raise ValueError(f"mse_loss: input shape {x.shape} and target shape "
                             f"{np.shape(target)} differ; they must match (broadcasting "
                             "them, e.g. (N, 1) with (N,), is almost always a bug)")
        diff = x - target
        ctx.save(diff=diff, reduction=reduction)
        return _reduce(diff * diff, reduction)

    @staticmethod
    def backward(ctx, g):
        d = ctx.diff * (2.0 * _reduce_grad(g, ctx.reduction, ctx.diff.size))
        need_x, need_t = ctx.needs_input_grad
        return (d if need_x else None), (-d if need_t else None)


def _target(target: Any) -> Any:
    return target if isinstance(target, (Tensor, np.ndarray)) else np.asarray(target)


def _per_position(fn, input: Tensor, target: Any, reduction: str) -> Tensor:
    """Apply a class-index loss ``fn`` (over (N, C)) to input (N, C, d1, ..., dk) and target
    (N, d1, ..., dk): C moves last, every position becomes a row, and 'none' gets the
    (N, d1, ..., dk) shape back. 'mean' averages over all N·d1···dk positions, as PyTorch."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim <= 2:
        return fn.apply(input, _target(target), reduction=reduction)
    target = _target(target)
    tshape = tuple(target.shape)
    want = (input.shape[0],) + tuple(input.shape[2:])
    if tshape != want:
        raise ValueError(
            f"{fn.__name__}: input of shape {tuple(input.shape)} (N, C, d1, ...) needs a "
            f"target of shape {want} (N, d1, ...), got {tshape}")
    c = input.shape[1]
    dims = (0,) + tuple(range(2, input.ndim)) + (1,)
    flat = input.permute(*dims).reshape(-1, c)
    flat_target = target.reshape(-1) if isinstance(target, Tensor) else np.reshape(target, -1)
    out = fn.apply(flat, flat_target, reduction=reduction)
    return out.reshape(*want) if reduction == "none" else out


def cross_entropy(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy between logits and class indices (log-sum-exp, stable).

    Args:
        input: logits (N, C), or (N, C, d1, ..., dk) for a class per position (a sequence
            of L tokens is (N, C, L), as PyTorch).
        target: class indices (N,) or (N, d1, ..., dk), integer dtype, each in 0..C-1
            (Tensor or ndarray).
        reduction: 'mean' (over N, or over every position), 'sum' or 'none' (per-sample
            losses (N,) or (N, d1, ..., dk)).

    Raises:
        TypeError: target is not integer class indices.
        ValueError: the target's shape does not match the input's, or an unknown reduction.
        IndexError: a target class is outside 0..C-1.
    """
    return _per_position(CrossEntropy, input, target, reduction)


def nll_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target class, for log-probabilities (e.g. the output
    of ``log_softmax(x, dim=1)``). Shapes and errors as :func:`cross_entropy`."""
    return _per_position(NllLoss, input, target, reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error. input and target of one shape (any); 'mean' averages over all
    elements.

    Raises:
        ValueError: the shapes differ (PyTorch only warns; broadcasting here is a bug), or
            an unknown reduction.
    """
    return MseLoss.apply(input, _target(target), reduction=reduction)


# -- the other families, one module each; their public names join this namespace --------
from . import activation as _activation  # noqa: E402
from . import attention as _attention  # noqa: E402
from . import conv as _conv  # noqa: E402
from . import loss as _loss  # noqa: E402
from . import norm as _norm  # noqa: E402
from . import recurrent as _recurrent  # noqa: E402
from . import seq_attention as _seq_attention  # noqa: E402

for _family in (_conv, _norm, _recurrent, _attention, _seq_attention, _activation, _loss):
    globals().update({_name: getattr(_family, _name) for _name in _family.__all__})
    __all__ += _family.__all__
del _family

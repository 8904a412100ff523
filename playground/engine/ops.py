"""Primitive ops behind Tensor's operators and methods, grouped by family.

Each is a :class:`~playground.engine.tensor.Function`. Binary ops follow numpy
broadcasting; their backward sums the gradient back to each input's shape with the one
shared :func:`~playground.engine.tensor.unbroadcast`. A non-Tensor operand (a Python
scalar) arrives as is and never needs a gradient.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any, Sequence

import numpy as np

from .tensor import Function, Tensor, unbroadcast

__all__ = [
    # Functions (the ops)
    "Add", "Sub", "Mul", "Div", "Pow", "Neg", "Matmul", "Sum", "Mean", "Max", "Min",
    "Reshape", "Flatten", "Unsqueeze", "Squeeze", "Transpose", "Permute", "Expand",
    "GetItem", "Split", "Cat", "Stack", "Pad", "Exp", "Log", "Sqrt", "Abs", "Clamp", "ReLU",
    "Sigmoid", "Tanh", "Where", "Cast", "Clone",
    # torch-style functions over them (also re-exported by playground.engine)
    "cat", "concat", "stack", "split", "chunk", "flatten", "unsqueeze", "squeeze",
    "permute", "transpose", "reshape", "pad", "where", "max", "min", "argmax", "argmin",
    "abs", "sqrt", "clamp", "clip", "exp", "log", "sum", "mean", "matmul",
]


# ----------------------------------------------------------------------- arithmetic


class Add(Function):
    """y = a + b, broadcasting. dy/da = 1, dy/db = 1."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a=a, b=b)
        return a + b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, ctx.a.shape) if need_a else None,
                unbroadcast(g, ctx.b.shape) if need_b else None)


class Sub(Function):
    """y = a - b, broadcasting. dy/da = 1, dy/db = -1."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a=a, b=b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, ctx.a.shape) if need_a else None,
                unbroadcast(-g, ctx.b.shape) if need_b else None)


class Mul(Function):
    """y = a * b, broadcasting. dy/da = b, dy/db = a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a=a, b=b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * ctx.b, ctx.a.shape) if need_a else None,
                unbroadcast(g * ctx.a, ctx.b.shape) if need_b else None)


class Div(Function):
    """y = a / b, broadcasting. dy/da = 1/b, dy/db = -a/b**2 = -y/b."""

    @staticmethod
    def forward(ctx, a, b):
        y = a / b
        ctx.save(a=a, b=b, y=y)
        return y

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        g_over_b = g / ctx.b
        return (unbroadcast(g_over_b, ctx.a.shape) if need_a else None,
                unbroadcast(-g_over_b * ctx.y, ctx.b.shape) if need_b else None)


def _log(a):
    return np.log(a) if isinstance(a, np.ndarray) else math.log(a)  # scalar keeps float32


class Pow(Function):
    """y = a ** b, broadcasting. dy/da = b * a**(b-1), dy/db = y * ln(a) (needs a > 0)."""

    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save(a=a, b=b, y=y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * b * a ** (b - 1), a.shape) if need_a else None,
                unbroadcast(g * ctx.y * _log(a), b.shape) if need_b else None)


class Neg(Function):
    """y = -x. dy/dx = -1."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


# ----------------------------------------------------------------------- matmul


def _matmul_error(a, b) -> ValueError:
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return ValueError(f"matmul: both operands need at least 1 dim, got shapes {sa} and "
                          f"{sb}; use * for scalars")
    k_a, k_b = sa[-1], (sb[0] if len(sb) == 1 else sb[-2])
    if k_a != k_b:
        return ValueError(f"matmul: shapes {sa} and {sb} don't line up: the first has {k_a} "
                          f"columns (its last dim) but the second has {k_b} rows (its "
                          f"{'only' if len(sb) == 1 else 'second-to-last'} dim)")
    return ValueError(f"matmul: shapes {sa} and {sb}: the batch dims {sa[:-2]} and "
                      f"{sb[:-2]} do not broadcast")


class Matmul(Function):
    """y = a @ b with numpy/PyTorch matmul rules: (n,k)@(k,m) -> (n,m); leading batch
    dims broadcast, (B,n,k)@(k,m) -> (B,n,m); a 1-D operand is a row (left) or column
    (right) vector that is dropped from the result. da = g @ b^T, db = a^T @ g.

    Raises:
        ValueError: the inner dims differ or batch dims don't broadcast (names both
            shapes).
    """

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = np.matmul(a, b)
        except ValueError:
            raise _matmul_error(a, b) from None
        ctx.save(a=a, b=b)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case
            return (g @ b.T if need_a else None, a.T @ g if need_b else None)
        if a.ndim == 1 and b.ndim == 1:  # dot product: g is 0-d
            return (g * b if need_a else None, g * a if need_b else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        da = unbroadcast(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape) \
            if need_a else None
        db = unbroadcast(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape) \
            if need_b else None
        return da, db


# ----------------------------------------------------------------------- reductions


def _axis(dim):
    return dim if dim is None or isinstance(dim, int) else tuple(dim)


def _spread(g, shape, axis, keepdim):
    """Broadcast a reduction's gradient back over the reduced dims (a read-only view)."""
    if axis is not None and not keepdim:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


class Sum(Function):
    """y = x.sum(dim, keepdim). Shape: reduced dims removed (kept as 1 with keepdim).
    dy/dx = 1 for every element summed."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        axis = _axis(dim)
        ctx.save(shape=x.shape, axis=axis, keepdim=keepdim)
        return x.sum(axis=axis, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _spread(g, ctx.shape, ctx.axis, ctx.keepdim)


class Mean(Function):
    """y = x.mean(dim, keepdim). Shape: as Sum. dy/dx = 1/n, n = elements per mean."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        axis = _axis(dim)
        y = x.mean(axis=axis, keepdims=keepdim)
        n = x.size // builtins.max(np.size(y), 1)
        ctx.save(shape=x.shape, axis=axis, keepdim=keepdim, n=n)
        return y

    @staticmethod
    def backward(ctx, g):
        return _spread(g / ctx.n, ctx.shape, ctx.axis, ctx.keepdim)


class Max(Function):
    """The largest element: of all of x (``dim=None``, a 0-d result) or along ``dim``.

    Along ``dim`` the caller passes ``indices``, the argmax with keepdims (the first
    occurrence on ties, as torch on the CPU), and y = x gathered there; shape: ``dim``
    removed (kept as 1 with keepdim). The gradient goes to that one index per slice.
    Over all of x the gradient is split evenly between tied maxima, as torch does.
    """

    _pick = staticmethod(np.max)

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False, indices=None):
        if dim is None:
            y = ctx._pick(x)
            mask = x == y
            ctx.save(mask=mask, count=int(np.count_nonzero(mask)))
            return y
        y = np.take_along_axis(x, indices, axis=dim)
        ctx.save(shape=x.shape, dim=dim, keepdim=keepdim, indices=indices)
        return y if keepdim else np.squeeze(y, axis=dim)

    @staticmethod
    def backward(ctx, g):
        if "mask" in ctx.saved:
            return ctx.mask * (g / ctx.count)
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        dx = np.zeros(ctx.shape, dtype=g.dtype)
        np.put_along_axis(dx, ctx.indices, g, axis=ctx.dim)
        return dx


class Min(Max):
    """The smallest element; as :class:`Max` otherwise (ties, ``dim``, ``indices``)."""

    _pick = staticmethod(np.min)


# ----------------------------------------------------------------------- shape


class Reshape(Function):
    """y = x.reshape(shape); one entry may be -1. Gradient: reshaped back.

    Raises:
        ValueError: the new shape holds a different number of elements.
    """

    @staticmethod
    def forward(ctx, x, shape):
        try:
            y = x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: shape {tuple(shape)} is invalid for a tensor of "
                             f"shape {x.shape} ({x.size} elements)") from None
        ctx.save(shape=x.shape)
        return y

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Transpose(Function):
    """y = x with dims dim0 and dim1 swapped (a view). Gradient: swapped back."""

    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ctx.save(dim0=dim0, dim1=dim1)
        return np.swapaxes(x, dim0, dim1)

    @staticmethod
    def backward(ctx, g):
        return np.swapaxes(g, ctx.dim0, ctx.dim1)


class Flatten(Reshape):
    """``flatten(start_dim, end_dim)``: dims start_dim..end_dim merged into one, e.g.
    (N, C, H, W) -> (N, C*H*W) for start_dim=1. A reshape; gradient reshaped back."""


class Unsqueeze(Reshape):
    """``unsqueeze(dim)``: a new size-1 dim inserted at ``dim``. A reshape."""


class Squeeze(Reshape):
    """``squeeze(dim=None)``: size-1 dims removed (all, or those in ``dim`` that have
    size 1). A reshape."""


class Permute(Function):
    """y = x with its dims reordered: y.shape[i] = x.shape[dims[i]] (a view).
    Gradient: permuted back by the inverse permutation."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.save(dims=dims)
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.dims))


class Expand(Function):
    """y = x broadcast to ``shape`` without copying (size-1 dims stretched, new dims in
    front). Gradient: summed back over the copies (``unbroadcast``)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.save(shape=x.shape)
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape)


def _is_basic(index) -> bool:
    """True when ``index`` (a tuple) has only ints, slices, None and Ellipsis: numpy's basic
    indexing, which gives a view and never picks an element twice."""
    for i in index:
        if not (i is None or i is Ellipsis or type(i) is slice or type(i) is int):
            return False
    return True


class GetItem(Function):
    """y = x[index], numpy/torch indexing: ints, slices, None, Ellipsis (basic: a view),
    integer arrays and boolean masks (advanced: a copy). Shape: as numpy's.

    Gradient: g placed back at the indexed positions of a zero array of x's shape; with
    advanced indexing an element picked twice gets both gradients (``np.add.at``).
    """

    @staticmethod
    def forward(ctx, x, index):
        ctx.save(shape=x.shape, index=index)
        return x[index]

    @staticmethod
    def backward(ctx, g):
        dx = np.zeros(ctx.shape, dtype=g.dtype)
        if _is_basic(ctx.index):
            dx[ctx.index] = g
        else:
            np.add.at(dx, ctx.index, g)
        return dx


class Split(GetItem):
    """One piece of ``split``/``chunk``: x[..., start:stop, ...] along one dim (a view).
    Gradient: g placed back in that slice of zeros."""


class Cat(Function):
    """y = the inputs joined along ``dim``; they agree in every other dim.
    Shape: (..., n_1, ...), (..., n_2, ...) -> (..., n_1 + n_2 + ..., ...).
    Gradient: g cut back into the inputs' pieces along ``dim``."""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        y = np.concatenate(xs, axis=dim)
        ctx.save(dim=dim, stops=np.cumsum([x.shape[dim] for x in xs])[:-1])
        return y

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.stops, axis=ctx.dim))


class Stack(Function):
    """y = the inputs, all of one shape, stacked along a new dim ``dim``.
    Shape: k inputs (a, b) with dim=0 -> (k, a, b). Gradient: g's slices along ``dim``."""

    @staticmethod
    def forward(ctx, *xs, dim=0):
        y = np.stack(xs, axis=dim)
        ctx.save(dim=dim)
        return y

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.dim, 0))


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_source(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For a dim of size n padded by lo before and hi after: the input position each
    output position copies (reflect mirrors without repeating the edge, replicate repeats
    the edge, circular wraps around)."""
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    i = np.abs(i)  # reflect
    return np.where(i > n - 1, 2 * (n - 1) - i, i)


class Pad(Function):
    """y = x padded on its last dims: ``pad = (left, right, top, bottom, ...)`` pairs from
    the last dim backwards, as torch's ``F.pad``. Shape: each padded dim grows by its
    pair's sum. Modes: 'constant' (fills ``value``; negative pads crop), 'reflect',
    'replicate', 'circular'. Gradient: the inner part of g (constant), or g summed back
    onto the input positions each output position copied (the other modes).
    """

    @staticmethod
    def forward(ctx, x, pad, mode="constant", value=0.0):
        pairs = [(x.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]
        ctx.save(shape=x.shape, pairs=pairs, mode=mode)
        if mode == "constant":
            crop = [slice(None)] * x.ndim
            widths = [(0, 0)] * x.ndim
            for d, lo, hi in pairs:
                crop[d] = slice(builtins.max(-lo, 0), x.shape[d] - builtins.max(-hi, 0))
                widths[d] = (builtins.max(lo, 0), builtins.max(hi, 0))
            return np.pad(x[tuple(crop)], widths, constant_values=value)
        sources = []
        for d, lo, hi in pairs:
            src = _pad_source(x.shape[d], lo, hi, mode)
            sources.append(src)
            x = np.take(x, src, axis=d)
        ctx.save(sources=sources)
        return x

    @staticmethod
    def backward(ctx, g):
        if ctx.mode == "constant":
            inner = [slice(None)] * g.ndim
            crop = [slice(None)] * g.ndim
            for d, lo, hi in ctx.pairs:
                inner[d] = slice(builtins.max(lo, 0), g.shape[d] - builtins.max(hi, 0))
                crop[d] = slice(builtins.max(-lo, 0), ctx.shape[d] - builtins.max(-hi, 0))
            g = g[tuple(inner)]
            if g.shape == ctx.shape:
                return g
            dx = np.zeros(ctx.shape, dtype=g.dtype)
            dx[tuple(crop)] = g
            return dx
        for (d, _, _), src in zip(reversed(ctx.pairs), reversed(ctx.sources)):
            shape = list(g.shape)
            shape[d] = ctx.shape[d]
            dx = np.zeros(shape, dtype=g.dtype)
            np.add.at(dx, (slice(None),) * d + (src,), g)
            g = dx
        return g


# ----------------------------------------------------------------------- elementwise


class Exp(Function):
    """y = e**x, elementwise. dy/dx = y."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.y


class Log(Function):
    """y = ln(x), elementwise (nan for x < 0, -inf at 0). dy/dx = 1/x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.x


class Sqrt(Function):
    """y = sqrt(x), elementwise (nan for x < 0). dy/dx = 1 / (2 y)."""

    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.y)


class Abs(Function):
    """y = |x|, elementwise. dy/dx = sign(x) (0 at x = 0, as torch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.x)


class Clamp(Function):
    """y = min(max(x, min), max), elementwise; either bound may be None. Shape: any ->
    same. dy/dx = 1 where min <= x <= max (bounds included, as torch), else 0."""

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        ctx.save(x=x, min=min, max=max)
        return np.clip(x, min, max)

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.x, ctx.min, ctx.max
        if lo is None:
            keep = x <= hi
        elif hi is None:
            keep = x >= lo
        else:
            keep = (x >= lo) & (x <= hi)
        return g * keep


class ReLU(Function):
    """y = max(0, x), elementwise. dy/dx = 1 where x > 0, else 0 (0 at x = 0, as torch)."""

    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * (ctx.y > 0)


class Sigmoid(Function):
    """y = 1 / (1 + e**-x), elementwise. For x below about -88 (float32) or -709
    (float64) e**-x overflows to inf (the warning is silenced) and y is 0, where the
    exact value is below 1e-38 (1e-308). Three passes, in place; measured ten times
    faster than the form with e**-|x| and np.where. dy/dx = y (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(over="ignore"):
            y = np.exp(np.negative(x))
        if type(y) is not np.ndarray:  # a 0-d input gives a numpy scalar
            y = np.asarray(y)
        y += 1.0
        np.reciprocal(y, out=y)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        return g * y * (1.0 - y)


class Tanh(Function):
    """y = tanh(x), elementwise. dy/dx = 1 - y**2."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * (1.0 - ctx.y ** 2)


class Where(Function):
    """y = x where condition else y_other, elementwise with broadcasting; x and y_other may
    be Python scalars. Shapes: condition, x, y_other broadcast together.
    dy/dx = condition, dy/dy_other = not condition (summed back over broadcast dims)."""

    @staticmethod
    def forward(ctx, condition, x, other):
        if not (isinstance(condition, np.ndarray) and condition.dtype == np.bool_):
            raise TypeError(f"where expected condition to be a bool tensor, got "
                            f"{np.asarray(condition).dtype}")
        ctx.save(condition=condition, x_shape=np.shape(x), other_shape=np.shape(other))
        return np.where(condition, x, other)

    @staticmethod
    def backward(ctx, g):
        _, need_x, need_o = ctx.needs_input_grad
        c = ctx.condition
        zero = np.zeros((), g.dtype)
        return (None,
                unbroadcast(np.where(c, g, zero), ctx.x_shape) if need_x else None,
                unbroadcast(np.where(c, zero, g), ctx.other_shape) if need_o else None)


# ----------------------------------------------------------------------- dtype, copy


class Cast(Function):
    """y = x converted to a floating ``dtype`` (``.float()``, ``.double()``, ``.to``).
    Gradient: g converted back to x's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.save(dtype=x.dtype)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype)


class Clone(Function):
    """y = a copy of x. Gradient: g."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


# ----------------------------------------------------------------------- torch-style
# functions, as ``torch.cat`` etc.: ``playground.engine`` re-exports them. Each does what
# the Tensor method of that name does.

#: What ``max``/``min`` with ``dim`` return, as ``torch.return_types.max``/``min``:
#: ``values`` (with gradient) and ``indices`` (int64, no gradient).
max_return = namedtuple("max", ["values", "indices"])
min_return = namedtuple("min", ["values", "indices"])


def _tensors(tensors: Sequence, name: str) -> tuple:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}() expects a list or tuple of Tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{name}() expects a non-empty list of Tensors")
    return tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)


def cat(tensors: Sequence, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim ``dim``; they agree in every other dim.
    (a, n_1, b), (a, n_2, b) -> (a, n_1 + n_2, b) for dim=1.

    Raises:
        TypeError: ``tensors`` is not a list/tuple; ValueError: it is empty, or the
            shapes differ outside ``dim`` (names them).
    """
    xs = _tensors(tensors, "cat")
    nd = xs[0].ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = _dim(dim, nd, "cat")
    for x in xs:
        if x.ndim != nd or x.shape[:d] + x.shape[d + 1:] != xs[0].shape[:d] + \
                xs[0].shape[d + 1:]:
            raise ValueError(f"cat: sizes of tensors must match except in dim {dim}; got "
                             f"shapes {[t.shape for t in xs]}")
    return Cat.apply(*xs, dim=d)


concat = cat


def stack(tensors: Sequence, dim: int = 0) -> Tensor:
    """Stack tensors of one shape along a new dim ``dim``: k tensors (a, b) -> (k, a, b)
    for dim=0, (a, k, b) for dim=1.

    Raises:
        TypeError: ``tensors`` is not a list/tuple; ValueError: empty, or shapes differ.
    """
    xs = _tensors(tensors, "stack")
    if any(x.shape != xs[0].shape for x in xs):
        raise ValueError(f"stack expects each tensor to be equal size, got shapes "
                         f"{[t.shape for t in xs]}")
    return Stack.apply(*xs, dim=_dim(dim, xs[0].ndim + 1, "stack"))


def _dim(dim: int, ndim: int, name: str) -> int:
    """``dim`` wrapped into 0..ndim-1 (negative dims count from the end), as torch.

    Raises:
        IndexError: dim out of range.
    """
    if not -ndim <= dim < ndim or ndim == 0 and dim not in (0, -1):
        raise IndexError(f"{name}: dimension out of range (expected to be in range of "
                         f"[{-ndim}, {ndim - 1}], but got {dim})")
    return dim % ndim if ndim else 0


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0
          ) -> tuple:
    """Cut ``tensor`` along ``dim`` into pieces of ``split_size_or_sections`` each (an int;
    the last piece may be smaller) or of the listed sizes (which must sum to the dim's
    size). Returns a tuple of views, each with its own gradient.

    Raises:
        ValueError: the sizes don't sum to the dim's size, or a size <= 0.
    """
    return tensor.split(split_size_or_sections, dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Cut into ``chunks`` pieces along ``dim``, each of ceil(n / chunks) (the last may be
    smaller, and there may be fewer pieces, as torch)."""
    return input.chunk(chunks, dim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one."""
    return input.flatten(start_dim, end_dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (in range [-ndim-1, ndim])."""
    return input.unsqueeze(dim)


def squeeze(input: Tensor, dim: int | tuple | None = None) -> Tensor:
    """Remove size-1 dims: all of them, or those of ``dim`` that have size 1."""
    return input.squeeze(dim)


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Reorder dims: output dim i is input dim ``dims[i]``."""
    return input.permute(*dims)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    return input.transpose(dim0, dim1)


def reshape(input: Tensor, shape: Sequence[int]) -> Tensor:
    """Same data, new shape (one entry may be -1)."""
    return input.reshape(tuple(shape))


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0
        ) -> Tensor:
    """Pad the last len(pad)/2 dims, as ``torch.nn.functional.pad``.

    Args:
        input: any shape (N, C, H, W) typically.
        pad: (left, right) for the last dim, then (top, bottom) for the one before, ...;
            so (1, 1, 2, 0) pads W by 1 on each side and H by 2 on top. In 'constant'
            mode a negative entry crops.
        mode: 'constant' (fill with ``value``), 'reflect' (mirror, the edge not
            repeated; each pad < that dim's size), 'replicate' (repeat the edge) or
            'circular' (wrap around; each pad <= that dim's size).
        value: the fill value of 'constant' mode.

    Returns:
        The padded tensor: each padded dim grows by its pair's sum.

    Raises:
        ValueError: odd-length ``pad``, more pairs than dims, an unknown mode, a negative
            pad outside 'constant' mode, a pad too large for 'reflect'/'circular', or a
            result with a negative size.
    """
    if not isinstance(input, Tensor):
        input = Tensor(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {len(pad)}")
    if len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding length {len(pad)} is too large for an input of "
                         f"{input.ndim} dims (at most {2 * input.ndim})")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    for k in range(len(pad) // 2):
        d = input.ndim - 1 - k
        n, lo, hi = input.shape[d], pad[2 * k], pad[2 * k + 1]
        if n + lo + hi < 0 or (mode == "constant" and (n + lo < 0 or n + hi < 0)):
            raise ValueError(f"pad: padding {(lo, hi)} of dim {d} (size {n}) leaves a "
                             "negative size")
        if mode == "constant":
            continue
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative padding {(lo, hi)} needs mode 'constant'")
        if mode == "reflect" and builtins.max(lo, hi) >= n:
            raise ValueError(f"pad: reflect padding {(lo, hi)} must be smaller than the "
                             f"size {n} of dim {d}")
        if mode == "circular" and builtins.max(lo, hi) > n:
            raise ValueError(f"pad: circular padding {(lo, hi)} must be at most the size "
                             f"{n} of dim {d}")
    return Pad.apply(input, pad=pad, mode=mode, value=value)


def where(condition: Any, input: Any, other: Any) -> Tensor:
    """Elementwise ``input if condition else other``, broadcasting all three; ``input``
    and ``other`` may be Python numbers. condition is a bool Tensor (e.g. ``x > 0``).

    Raises:
        TypeError: condition is not of bool dtype.
    """
    if not isinstance(condition, Tensor):
        condition = Tensor(condition)
    return Where.apply(condition, input, other)


def max(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """The largest element (0-d tensor), or along ``dim`` the named tuple
    ``(values, indices)``; see :meth:`Tensor.max`."""
    return input.max(dim, keepdim)


def min(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """The smallest element, or ``(values, indices)`` along ``dim``."""
    return input.min(dim, keepdim)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor without ``dim``), int64."""
    return input.argmax(dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (of the flattened tensor without ``dim``), int64."""
    return input.argmin(dim, keepdim)


def abs(input: Tensor) -> Tensor:
    """|x| elementwise."""
    return Abs.apply(input)


def sqrt(input: Tensor) -> Tensor:
    """sqrt(x) elementwise."""
    return Sqrt.apply(input)


def clamp(input: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Clip into [min, max] elementwise; see :meth:`Tensor.clamp`."""
    return input.clamp(min, max)


clip = clamp


def exp(input: Tensor) -> Tensor:
    """e**x elementwise."""
    return Exp.apply(input)


def log(input: Tensor) -> Tensor:
    """Natural log elementwise."""
    return Log.apply(input)


def sum(input: Tensor, dim: int | tuple | None = None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (all dims by default)."""
    return Sum.apply(input, dim=dim, keepdim=keepdim)


def mean(input: Tensor, dim: int | tuple | None = None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (all dims by default)."""
    return Mean.apply(input, dim=dim, keepdim=keepdim)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with numpy/torch broadcasting rules; see :class:`Matmul`."""
    return Matmul.apply(input, other)


"""Primitive ops behind Tensor's operators and methods, grouped by family.

Each is a :class:`~playground.engine.tensor.Function`. Binary ops follow numpy
broadcasting; their backward sums the gradient back to each input's shape with the one
shared :func:`~playground.engine.tensor.unbroadcast`. A non-Tensor operand (a Python
scalar) arrives as is and never needs a gradient.
"""

from __future__ import annotations

import math

import numpy as np

from .tensor import Function, unbroadcast

__all__ = ["Add", "Sub", "Mul", "Div", "Pow", "Neg", "Matmul", "Sum", "Mean", "Reshape",
           "Transpose", "Exp", "Log", "ReLU", "Sigmoid", "Tanh"]


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
        ctx.save(shape=x.shape, axis=axis, keepdim=keepdim, n=x.size // max(np.size(y), 1))
        return y

    @staticmethod
    def backward(ctx, g):
        return _spread(g / ctx.n, ctx.shape, ctx.axis, ctx.keepdim)


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
    """y = 1 / (1 + e**-x), elementwise, computed without overflow from e**-|x|.
    dy/dx = y (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        z = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1.0, z) / (1.0 + z)
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

"""Functional ops, normalisation: batch_norm, layer_norm.

Shapes: N batch, C channels (features), ``*`` any number of extra dims (L sequence, or
H, W). Both ops are fused: one Function each with a hand-derived backward.

Both normalise x to x_hat = (x - mean) / sqrt(var + eps) (biased variance) and return
y = x_hat * weight + bias. With M the number of values each statistic is taken over and
gw = g * weight, the input gradient through the batch statistics is

    dx = (gw - mean(gw) - x_hat * mean(gw * x_hat)) / sqrt(var + eps)

(Ioffe & Szegedy (2015), "Batch Normalization", section 3, written with means), and
dweight = sum(g * x_hat), dbias = sum(g) over everything but the parameter's dims.

Re-exported by :mod:`playground.engine.functional`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .tensor import Function, Tensor

__all__ = ["batch_norm", "layer_norm"]


def _array(t: Any) -> np.ndarray | None:
    return t.data if isinstance(t, Tensor) else t


# ----------------------------------------------------------------------------- batch norm


class BatchNorm(Function):
    """Batch normalisation over every dim but 1 (the channels), as
    ``torch.nn.functional.batch_norm``.

    Shapes: x (N, C, *) -> y (N, C, *); weight, bias, running_mean, running_var (C,).

    training=True: normalise with this batch's mean and biased variance per channel, and
    update the running statistics in place (if given):
    running = (1 - momentum) running + momentum stat, with the *unbiased* variance
    (times M / (M - 1)), as PyTorch. dx goes through the batch statistics (module doc).

    training=False: normalise with running_mean and running_var; then the statistics
    are constants and dx = g * weight / sqrt(running_var + eps).
    """

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, running_mean=None, running_var=None,
                training=False, momentum=0.1, eps=1e-5):
        c = _check_batch_norm(x, weight, bias, running_mean, running_var, training)
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, c) + (1,) * (x.ndim - 2)
        if training:
            m = x.size // c
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = np.mean(np.square(xc), axis=axes, keepdims=True)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean.reshape(c)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * m / (m - 1)) * var.reshape(c)
        else:
            xc = x - running_mean.reshape(bshape)
            var = running_var.reshape(bshape)
        invstd = 1.0 / np.sqrt(var + eps)
        x_hat = xc
        x_hat *= invstd
        y = x_hat * weight.reshape(bshape) if weight is not None else x_hat.copy()
        if bias is not None:
            y += bias.reshape(bshape)
        ctx.save(x_hat=x_hat, invstd=invstd, weight=weight, training=bool(training),
                 axes=axes, bshape=bshape)
        return y

    @staticmethod
    def backward(ctx, g):
        need_x, need_w, need_b = ctx.needs_input_grad
        x_hat, axes = ctx.x_hat, ctx.axes
        dx = dw = db = None
        if need_b:
            db = g.sum(axis=axes)
        if need_w:
            dw = np.sum(g * x_hat, axis=axes)
        if need_x:
            w = ctx.weight
            scale = ctx.invstd if w is None else w.reshape(ctx.bshape) * ctx.invstd
            gw = g * scale
            if ctx.training:
                dx = gw - gw.mean(axis=axes, keepdims=True)
                dx -= x_hat * np.mean(gw * x_hat, axis=axes, keepdims=True)
            else:
                dx = gw
        return dx, dw, db


def _check_batch_norm(x, weight, bias, running_mean, running_var, training) -> int:
    """The channel count C = x.shape[1], after checking every shape."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects input (N, C, *) with at least 2 dims, got "
                         f"shape {x.shape}")
    c = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} has shape {t.shape} but input {x.shape} "
                             f"has C={c} channels (dim 1); expected ({c},)")
    if training:
        if x.size // max(c, 1) <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {x.shape}")
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm with training=False needs running_mean and "
                         "running_var")
    return c


def batch_norm(input: Tensor, running_mean: Any, running_var: Any,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5
               ) -> Tensor:
    """Batch normalisation, per channel (dim 1).

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the batch's mean and biased
    variance over N and * when ``training`` (and then running_mean/running_var, if
    given, are updated in place: r = (1 - momentum) r + momentum stat, the variance
    unbiased), else with running_mean and running_var.

    Args:
        input: (N, C) or (N, C, *).
        running_mean, running_var: (C,) Tensors or arrays, or None (training only).
        weight, bias: (C,) or None.
        training: use (and update) batch statistics.
        momentum: weight of the new statistic in the running update.
        eps: added to the variance.

    Returns:
        y, of input's shape.

    Raises:
        ValueError: a shape that does not match C, a single value per channel in
            training (as PyTorch), or no running statistics in eval.

    Source: Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep Network
    Training by Reducing Internal Covariate Shift", Algorithm 1.
    """
    return BatchNorm.apply(input, weight, bias, running_mean=_array(running_mean),
                           running_var=_array(running_var), training=training,
                           momentum=momentum, eps=eps)


# ----------------------------------------------------------------------------- layer norm


class LayerNorm(Function):
    """Layer normalisation over the last D dims, as
    ``torch.nn.functional.layer_norm``: each sample (each position of the leading dims)
    is normalised by its own mean and biased variance over those dims.

    Shapes: x (*, normalized_shape) -> y of x's shape; weight, bias (normalized_shape).
    Computed on x as a (M, K) matrix, K = prod(normalized_shape). dx as in the module
    doc with means over each row; dweight = sum over rows of g * x_hat.
    """

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, normalized_shape=(), eps=1e-5):
        shape = _check_layer_norm(x, normalized_shape, weight, bias)
        k = math.prod(shape)
        x2 = x.reshape(-1, k)
        mean = x2.mean(axis=1, keepdims=True)
        x_hat = x2 - mean
        var = np.mean(np.square(x_hat), axis=1, keepdims=True)
        invstd = 1.0 / np.sqrt(var + eps)
        x_hat *= invstd
        y = x_hat * weight.reshape(k) if weight is not None else x_hat.copy()
        if bias is not None:
            y += bias.reshape(k)
        ctx.save(x_hat=x_hat, invstd=invstd, weight=weight, normalized_shape=shape)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        need_x, need_w, need_b = ctx.needs_input_grad
        x_hat, w = ctx.x_hat, ctx.weight
        g2 = g.reshape(x_hat.shape)
        dx = dw = db = None
        if need_b:
            db = g2.sum(axis=0).reshape(ctx.normalized_shape)
        if need_w:
            dw = np.sum(g2 * x_hat, axis=0).reshape(ctx.normalized_shape)
        if need_x:
            gw = g2 * w.reshape(-1) if w is not None else g2
            dx = gw - gw.mean(axis=1, keepdims=True)
            dx -= x_hat * np.mean(gw * x_hat, axis=1, keepdims=True)
            dx *= ctx.invstd
            dx = dx.reshape(g.shape)
        return dx, dw, db


def _check_layer_norm(x, normalized_shape, weight, bias) -> tuple:
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    shape = tuple(int(n) for n in normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end with "
                         f"normalized_shape {shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {t.shape}, expected "
                             f"normalized_shape {shape}")
    return shape


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` dims.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the mean and biased variance
    of each sample over those dims.

    Args:
        input: (*, normalized_shape), e.g. (N, L, E) with normalized_shape (E,).
        normalized_shape: int or tuple: the trailing dims to normalise over.
        weight, bias: (normalized_shape) or None.
        eps: added to the variance.

    Returns:
        y, of input's shape.

    Raises:
        ValueError: input does not end with normalized_shape, or weight/bias have
            another shape.

    Source: Ba, Kiros & Hinton (2016), "Layer Normalization", eq. 4.
    """
    return LayerNorm.apply(input, weight, bias, normalized_shape=normalized_shape, eps=eps)

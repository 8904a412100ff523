"""Functional ops, losses: binary_cross_entropy(_with_logits), l1_loss, smooth_l1_loss,
kl_div, the closed-form Gaussian KL of a VAE, and nll_loss with class weights and
ignore_index.

Re-exported by :mod:`playground.engine.functional` (all but :func:`nll_loss`: the one in
``functional`` stays the public one until the lead swaps it for this superset). Each loss is
one fused :class:`~playground.engine.tensor.Function` on numpy arrays; reference expansions
into primitive ops are in :mod:`playground.engine.cases.loss`.

Shapes: N batch, C classes, ``*`` any number of extra dims. ``reduction`` is 'mean' (over
every element), 'sum' or 'none' (the elementwise losses, input's shape).

``weight`` and ``pos_weight`` are constants: no gradient flows to them (as in torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Function, Tensor

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "l1_loss",
           "smooth_l1_loss", "kl_div", "gaussian_kl"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, allowed: tuple = _REDUCTIONS) -> None:
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"reduction must be one of {names}; got {reduction!r}")


def _reduce(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "batchmean":
        return losses.sum() / (losses.shape[0] if losses.ndim else 1)
    return losses


def _elem_grad(g: np.ndarray, reduction: str, shape: tuple) -> np.ndarray:
    """dL/d(elementwise losses) given dL/d(reduced loss) ``g``: broadcastable to shape."""
    if reduction == "none":
        return g
    if reduction == "mean":
        return g / max(int(np.prod(shape)), 1)
    if reduction == "batchmean":
        return g / (shape[0] if shape else 1)
    return g


def _constant(a: Any, like: np.ndarray | None = None) -> Any:
    """A target/weight as an ndarray (Tensors pass through: they may need a gradient).
    Float arrays take the input's float dtype so float32 stays float32."""
    if a is None or isinstance(a, Tensor):
        return a
    a = np.asarray(a)
    if like is not None and a.dtype.kind in "fiub" and a.dtype != like.dtype:
        a = a.astype(like.dtype)
    return a


def _data(a: Any) -> Any:
    return a.data if isinstance(a, Tensor) else a


def _same_shape(name: str, x: np.ndarray, t: np.ndarray, hint: str = "") -> None:
    if np.shape(t) != x.shape:
        raise ValueError(f"{name}: target shape {np.shape(t)} differs from input shape "
                         f"{x.shape}; they must match{hint}")


_BCAST_HINT = " (broadcasting them, e.g. (N, 1) with (N,), is almost always a bug)"


def _weight_shape(name: str, arg: str, x: np.ndarray, w: Any) -> None:
    if w is None:
        return
    try:
        ok = np.broadcast_shapes(x.shape, np.shape(w)) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: {arg} of shape {np.shape(w)} does not broadcast to the "
                         f"input's shape {x.shape}")


# ----------------------------------------------------------------------- binary


#: torch's clamp of x (1 - x) in BCE's gradient: 1e-12 as a C float, 9.99999996e-13
_BCE_EPS = float(np.float32(1e-12))


class BinaryCrossEntropy(Function):
    """loss = -w [t log x + (1 - t) log(1 - x)], each log clamped at -100 (torch's
    convention, so x = 0 or 1 gives a finite loss), then reduced. Shapes: x, t (*), w
    broadcastable to (*). dx = w (x - t) / max(x (1 - x), 1e-12);
    dt = w (log(1 - x) - log x)."""

    @staticmethod
    def forward(ctx, x, t, weight=None, reduction="mean"):
        _check_reduction(reduction)
        _same_shape("binary_cross_entropy", x, t, _BCAST_HINT)
        _weight_shape("binary_cross_entropy", "weight", x, weight)
        if x.size and not (x.min() >= 0 and x.max() <= 1):  # nan fails too
            raise ValueError("binary_cross_entropy: all elements of input should be "
                             "between 0 and 1 (probabilities; for logits use "
                             "binary_cross_entropy_with_logits)")
        with np.errstate(divide="ignore"):
            log_x = np.log(x)
            log_1mx = np.log1p(-x)
        losses = -(t * np.maximum(log_x, -100.0) + (1 - t) * np.maximum(log_1mx, -100.0))
        if weight is not None:
            losses = losses * weight
        ctx.save(x=x, t=t, weight=weight, log_x=log_x, log_1mx=log_1mx, reduction=reduction)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, w = ctx.x, ctx.t, ctx.weight
        ge = _elem_grad(g, ctx.reduction, x.shape)
        if w is not None:
            ge = ge * w
        need_x, need_t = ctx.needs_input_grad[:2]
        dx = ge * (x - t) / np.maximum(x * (1 - x), _BCE_EPS) if need_x else None
        dt = ge * (ctx.log_1mx - ctx.log_x) if need_t else None
        return dx, dt, None


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities and targets:
    -w [t log x + (1 - t) log(1 - x)], each log clamped at -100 as in torch.

    Args:
        input: probabilities x in [0, 1], any shape (*).
        target: t of input's shape, usually 0/1 labels (soft labels allowed).
        weight: rescales each element; broadcastable to (*). A constant (no gradient).
        reduction: 'mean' (over all elements), 'sum' or 'none' (shape (*)).

    Raises:
        ValueError: shapes differ, input outside [0, 1], or an unknown reduction.
    """
    _legacy(size_average, reduce)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    return BinaryCrossEntropy.apply(input, _constant(target, x), _data(_constant(weight, x)),
                                    reduction=reduction)


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """log(1 + e^-x) = -log sigmoid(x), stably: max(-x, 0) + log1p(e^-|x|)."""
    return np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), relatively accurate everywhere (e^-x overflowing to inf gives 0)."""
    with np.errstate(over="ignore"):
        s = np.exp(-x)
    s += 1
    return np.reciprocal(s, out=s)


class BinaryCrossEntropyWithLogits(Function):
    """loss = w [(1 - t) x + l_w softplus(-x)], l_w = 1 + (p - 1) t, p = pos_weight:
    the same as -w [p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] without overflow.
    Shapes: x, t (*); w and p broadcastable to (*) (p usually (C,), one per class on the
    last dim). dx = w (l_w sigmoid(x) - p t); dt = w ((p - 1) softplus(-x) - x)."""

    @staticmethod
    def forward(ctx, x, t, weight=None, pos_weight=None, reduction="mean"):
        _check_reduction(reduction)
        _same_shape("binary_cross_entropy_with_logits", x, t, _BCAST_HINT)
        _weight_shape("binary_cross_entropy_with_logits", "weight", x, weight)
        _weight_shape("binary_cross_entropy_with_logits", "pos_weight", x, pos_weight)
        sp = _softplus_neg(x)
        if pos_weight is None:
            losses = (1 - t) * x + sp
        else:
            losses = (1 - t) * x + (1 + (pos_weight - 1) * t) * sp
        if weight is not None:
            losses = losses * weight
        ctx.save(x=x, t=t, sp=sp, weight=weight, pos_weight=pos_weight, reduction=reduction)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, w, p = ctx.x, ctx.t, ctx.weight, ctx.pos_weight
        ge = _elem_grad(g, ctx.reduction, x.shape)
        if w is not None:
            ge = ge * w
        need_x, need_t = ctx.needs_input_grad[:2]
        dx = dt = None
        if need_x:
            if p is None:
                dx = ge * (_sigmoid(x) - t)
            else:
                dx = ge * ((1 + (p - 1) * t) * _sigmoid(x) - p * t)
        if need_t:
            dt = ge * (-x if p is None else (p - 1) * ctx.sp - x)
        return dx, dt, None, None


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     size_average: Any = None, reduce: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None
                                     ) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable op:
    -w [p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed as
    w [(1 - t) x + (1 + (p - 1) t) (max(-x, 0) + log(1 + e^-|x|))].

    Args:
        input: logits x, any shape (*), e.g. (N, C) for C independent labels.
        target: t of input's shape, in [0, 1].
        weight: per-element rescaling, broadcastable to (*). A constant.
        pos_weight: p, the weight of positive examples, broadcastable to (*); usually
            (C,) (one per class). p > 1 raises recall, p < 1 precision. A constant.
        reduction: 'mean', 'sum' or 'none'.

    Raises:
        ValueError: shapes differ, or an unknown reduction.
    """
    _legacy(size_average, reduce)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    return BinaryCrossEntropyWithLogits.apply(
        input, _constant(target, x), _data(_constant(weight, x)),
        _data(_constant(pos_weight, x)), reduction=reduction)


# ----------------------------------------------------------------------- regression


class L1Loss(Function):
    """loss = |x - t| elementwise, then reduced. Shapes: x, t (*). dx = sign(x - t)
    (0 where equal, as torch), dt = -dx."""

    @staticmethod
    def forward(ctx, x, t, reduction="mean"):
        _check_reduction(reduction)
        _same_shape("l1_loss", x, t, _BCAST_HINT)
        diff = x - t
        ctx.save(sign=np.sign(diff), reduction=reduction)
        return _reduce(np.abs(diff), reduction)

    @staticmethod
    def backward(ctx, g):
        d = ctx.sign * _elem_grad(g, ctx.reduction, ctx.sign.shape)
        need_x, need_t = ctx.needs_input_grad
        return (d if need_x else None), (-d if need_t else None)


def l1_loss(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean") -> Tensor:
    """Mean absolute error |x - t|. input and target of one shape (*).

    Raises:
        ValueError: the shapes differ (PyTorch only warns), or an unknown reduction.
    """
    _legacy(size_average, reduce)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    return L1Loss.apply(input, _constant(target, x), reduction=reduction)


class SmoothL1Loss(Function):
    """d = x - t; loss = d^2 / (2 beta) where |d| < beta, else |d| - beta/2 (Huber loss
    divided by beta). Shapes: x, t (*). dx = d / beta inside, sign(d) outside; dt = -dx.
    beta = 0 is the L1 loss."""

    @staticmethod
    def forward(ctx, x, t, reduction="mean", beta=1.0):
        _check_reduction(reduction)
        _same_shape("smooth_l1_loss", x, t, _BCAST_HINT)
        if beta < 0:
            raise ValueError(f"smooth_l1_loss does not support negative values for beta, "
                             f"got {beta}")
        d = x - t
        if beta == 0:
            ctx.save(local=np.sign(d), reduction=reduction)
            return _reduce(np.abs(d), reduction)
        # c = clip(d, -beta, beta): loss = c^2 / (2 beta) + |d| - |c|, dloss/dd = c / beta
        # (both branches at once, without a masked select)
        c = np.clip(d, -beta, beta)
        losses = np.abs(d)
        losses -= np.abs(c)
        losses += c * c * (0.5 / beta)
        c *= 1.0 / beta
        ctx.save(local=c, reduction=reduction)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, g):
        d = ctx.local * _elem_grad(g, ctx.reduction, ctx.local.shape)
        need_x, need_t = ctx.needs_input_grad
        return (d if need_x else None), (-d if need_t else None)


def smooth_l1_loss(input: Tensor, target: Any, size_average: Any = None,
                   reduce: Any = None, reduction: str = "mean", beta: float = 1.0
                   ) -> Tensor:
    """Smooth L1: quadratic d^2 / (2 beta) for |d| < beta, linear |d| - beta/2 beyond,
    d = input - target; input and target of one shape (*). Source: Girshick (2015),
    "Fast R-CNN", eq. 3 (beta = 1).

    Raises:
        ValueError: shapes differ, beta < 0, or an unknown reduction.
    """
    _legacy(size_average, reduce)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    return SmoothL1Loss.apply(input, _constant(target, x), reduction=reduction, beta=beta)


# ----------------------------------------------------------------------- divergences


class KLDiv(Function):
    """Pointwise KL term with input x = log q: loss = t (log t - x) (0 where t = 0), or,
    with log_target, e^t (t - x) for t = log p. Shapes: x, t (*), then reduced.
    dx = -t (or -e^t); dt = log t + 1 - x (or e^t (t - x + 1)); dt is nan where t = 0,
    as in torch (d(t log t)/dt is -inf there)."""

    @staticmethod
    def forward(ctx, x, t, reduction="mean", log_target=False):
        _check_reduction(reduction, ("mean", "batchmean", "sum", "none"))
        _same_shape("kl_div", x, t, _BCAST_HINT)
        if log_target:
            et = np.exp(t)
            losses = et * (t - x)
            ctx.save(et=et)
        else:
            zero = t == 0
            with np.errstate(divide="ignore", invalid="ignore"):
                log_t = np.log(t)
                losses = np.where(zero, 0.0, t * log_t) - t * x
            ctx.save(log_t=log_t, zero=zero)
        ctx.save(x=x, t=t, reduction=reduction, log_target=log_target)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.x, ctx.t
        ge = _elem_grad(g, ctx.reduction, x.shape)
        need_x, need_t = ctx.needs_input_grad
        dx = dt = None
        if ctx.log_target:
            if need_x:
                dx = -ge * ctx.et
            if need_t:
                dt = ge * ctx.et * (t - x + 1)
        else:
            if need_x:
                dx = -ge * t
            if need_t:
                with np.errstate(invalid="ignore"):
                    dt = np.where(ctx.zero, np.nan, ge * (ctx.log_t + 1 - x))
        return dx, dt


def kl_div(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence KL(p || q) = sum p (log p - log q), pointwise, with input = log q
    (log-probabilities, e.g. log_softmax) and target = p (or log p with
    ``log_target=True``). input and target of one shape (*), e.g. (N, C).

    Args:
        reduction: 'batchmean' (sum / N: the true KL per sample, what you usually want),
            'sum', 'none' (pointwise terms, shape (*)), or 'mean' (sum / number of
            elements; torch's default, kept for parity, but not the KL divergence).

    Raises:
        ValueError: shapes differ, or an unknown reduction.
    """
    _legacy(size_average, reduce)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    return KLDiv.apply(input, _constant(target, x), reduction=reduction,
                       log_target=log_target)


class GaussianKL(Function):
    """Elementwise KL(N(mu, sigma^2) || N(0, 1)) with logvar = log sigma^2:
    kl = -(1 + logvar - mu^2 - e^logvar) / 2, then reduced.
    dmu = mu; dlogvar = (e^logvar - 1) / 2."""

    @staticmethod
    def forward(ctx, mu, logvar, reduction="sum"):
        _check_reduction(reduction, ("sum", "mean", "batchmean", "none"))
        if mu.shape != logvar.shape:
            raise ValueError(f"gaussian_kl: mu shape {mu.shape} and logvar shape "
                             f"{logvar.shape} differ; they must match")
        var = np.exp(logvar)
        kl = -0.5 * (1 + logvar - mu * mu - var)
        ctx.save(mu=mu, var=var, reduction=reduction)
        return _reduce(kl, reduction)

    @staticmethod
    def backward(ctx, g):
        ge = _elem_grad(g, ctx.reduction, ctx.mu.shape)
        need_mu, need_lv = ctx.needs_input_grad
        return (ge * ctx.mu if need_mu else None,
                ge * (0.5 * (ctx.var - 1)) if need_lv else None)


def gaussian_kl(mu: Tensor, logvar: Tensor, reduction: str = "sum") -> Tensor:
    """Closed-form KL divergence of a diagonal Gaussian from the standard normal, the
    regulariser of a VAE:

        KL(N(mu, diag sigma^2) || N(0, I))
            = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)

    with logvar = log sigma^2 (the encoder predicts logvar so sigma^2 = e^logvar > 0).
    Source: Kingma & Welling (2014), "Auto-Encoding Variational Bayes", Appendix B.

    Args:
        mu, logvar: (N, D) (or any shape, the same for both): latent means and log
            variances.
        reduction: 'sum' (default, the KL summed over the batch), 'batchmean' (sum / N:
            the KL per sample, the usual VAE term next to a per-sample reconstruction
            loss), 'mean' (over all elements) or 'none' (elementwise terms).

    Raises:
        ValueError: mu and logvar shapes differ, or an unknown reduction.
    """
    return GaussianKL.apply(mu, logvar, reduction=reduction)


# ----------------------------------------------------------------------- nll_loss


class NllLossWeighted(Function):
    """loss_i = -w[t_i] x_i[t_i] for log-probabilities x, skipping t_i = ignore_index.
    Shapes: x (N, C) or (N, C, d1, ...), t (N) or (N, d1, ...) -> () or t's shape for
    'none'. 'mean' divides by sum of w[t_i] over kept i (torch's weighted mean).
    dx_i[t_i] = -w[t_i] g_i (/ that sum)."""

    @staticmethod
    def forward(ctx, x, target, weight=None, ignore_index=-100, reduction="mean"):
        _check_reduction(reduction)
        c = x.shape[1] if x.ndim >= 2 else x.shape[0]
        keep = target != ignore_index
        t = np.where(keep, target, 0)
        if t.size and (t.min() < 0 or t.max() >= c):
            bad = t[(t < 0) | (t >= c)].flat[0]
            raise IndexError(f"nll_loss: target class {bad} is out of range for C={c} "
                             f"classes (valid 0..{c - 1}, or ignore_index={ignore_index})")
        xm = np.moveaxis(x, 1, -1) if x.ndim >= 2 else x  # classes last: (N, d.., C)
        picked = np.take_along_axis(xm, t[..., None], axis=-1)[..., 0]
        w = keep.astype(x.dtype) if weight is None else weight[t] * keep
        losses = -w * picked
        if reduction == "mean":
            total = w.sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                out = losses.sum() / total  # nan when every target is ignored, as torch
        else:
            total = None
            out = losses if reduction == "none" else losses.sum()
        ctx.save(shape=x.shape, t=t, w=w, keep=keep, total=total, reduction=reduction)
        return np.asarray(out, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, t, w = ctx.shape, ctx.t, ctx.w
        with np.errstate(invalid="ignore", divide="ignore"):
            ge = -w * (g / ctx.total if ctx.reduction == "mean" else g)
        ge = np.where(ctx.keep, ge, 0.0)  # ignored targets get no gradient (not 0 * nan)
        dx = np.zeros(shape, dtype=w.dtype)
        if len(shape) >= 2:
            dxm = np.moveaxis(dx, 1, -1)  # a view: writes land in dx
            np.put_along_axis(dxm, t[..., None], ge[..., None], axis=-1)
        else:
            dx[t] = ge
        return dx, None, None


def nll_loss(input: Tensor, target: Any, weight: Any = None, size_average: Any = None,
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean"
             ) -> Tensor:
    """Negative log-likelihood of the target class, with class weights and ignore_index,
    as torch: input log-probabilities (N, C) or (N, C, d1, ...) (e.g. per pixel), target
    class indices (N,) or (N, d1, ...); weight (C,) rescales each class; targets equal to
    ignore_index contribute nothing. 'mean' is the weighted mean sum(w_t loss) / sum(w_t).

    Raises:
        TypeError: target is not of an integer dtype.
        ValueError: target's shape does not match input's, or an unknown reduction.
        IndexError: a target class outside 0..C-1 (other than ignore_index).
    """
    _legacy(size_average, reduce)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    t = _data(target) if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss expects class indices of integer dtype; got target of "
                        f"dtype {t.dtype}")
    want = (x.shape[0],) + x.shape[2:] if x.ndim >= 2 else ()
    if t.shape != want:
        raise ValueError(f"nll_loss: input of shape {x.shape} needs target of shape {want} "
                         f"(class indices), got {t.shape}")
    return NllLossWeighted.apply(input, t, _data(_constant(weight, x)),
                                 ignore_index=ignore_index, reduction=reduction)


def _legacy(size_average: Any, reduce: Any) -> None:
    if size_average is not None or reduce is not None:
        raise ValueError("size_average and reduce are deprecated (also in torch); use "
                         "reduction='mean' | 'sum' | 'none'")

"""Functional ops, activations and friends: leaky_relu, elu, gelu, glu, softplus, dropout,
embedding.

Re-exported by :mod:`playground.engine.functional`. Each op is one fused
:class:`~playground.engine.tensor.Function` working on numpy arrays directly (float32 in,
float32 out); the reference expansions into primitive ops live in
:mod:`playground.engine.cases.activation`.

Shapes: ``*`` any number of dims; N batch, E embedding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _random
from .tensor import Function, Tensor

__all__ = ["leaky_relu", "elu", "gelu", "glu", "softplus", "dropout", "embedding"]


# ----------------------------------------------------------------------- erf

# W. J. Cody (1969), "Rational Chebyshev approximations for the error function", Math.
# Comp. 23(107), 631-637; coefficients of his CALERF routine (SPECFUN, netlib, 1985/1990).
# erf on |x| <= 0.46875, erfc e^(x^2) on (0.46875, 4] and in 1/x^2 beyond; the rational
# approximations are accurate past float64 precision (tests compare with math.erf/erfc).
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRPI = 5.6418958354775628695e-1  # 1 / sqrt(pi)
_XBIG = 26.543  # erfc(x) underflows to 0 in float64 beyond this


def _cody(t: np.ndarray, c: tuple, d: tuple, n: int) -> np.ndarray:
    """Cody's rational form in t: num = c[n+1] t, den = t; n times num = (num + c[i]) t,
    den = (den + d[i]) t; then (num + c[n]) / (den + d[n]). In place on two buffers."""
    num = c[n + 1] * t
    den = t.copy()
    for i in range(n):
        num += c[i]
        num *= t
        den += d[i]
        den *= t
    num += c[n]
    den += d[n]
    num /= den
    return num


def _blend(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` where mask (a 0/1 float array) is 1, else ``b``, as a mask + b (1 - mask):
    exact when both are finite. Overwrites ``a`` and ``b``. (Arithmetic, because np.where
    with a random mask is ~10x slower.)"""
    a *= mask
    b *= 1 - mask
    a += b
    return a


def _erf_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(small as 0/1 floats, erf(|x|) on the first interval, erfc(|x|) beyond it), each
    over the whole array (outside its interval computed on clipped, finite inputs)."""
    y = np.abs(x)
    small = (y <= 0.46875).astype(x.dtype)
    ys = np.minimum(y, 0.46875)
    erf_small = _cody(ys * ys, _A, _B, 3)
    erf_small *= ys
    t = np.clip(y, 0.46875, 4.0)
    erfc_big = _cody(t, _C, _D, 7)  # erfc(t) e^(t^2)
    far = y > 4.0
    if far.any():  # rare for activations: index just those
        yf = y[far]
        erfc_big[far] = (_SQRPI - _cody(1.0 / (yf * yf), _P, _Q, 4) / (yf * yf)) / yf
        t = np.minimum(y, _XBIG)  # erfc underflows to 0 beyond XBIG
    # e^(-t^2) as e^(-ysq^2) e^(-del), ysq = t rounded down to 1/16: ysq^2 is exact
    ysq = np.floor(t * 16.0)
    ysq /= 16.0
    delta = t - ysq
    delta *= t + ysq
    erfc_big *= np.exp(-(ysq * ysq))
    erfc_big *= np.exp(-delta)
    return small, erf_small, erfc_big


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function erf(x) = 2/sqrt(pi) int_0^x e^(-t^2) dt, elementwise on an
    ndarray, in x's dtype, exact to float64 rounding (Cody 1969). Not an op: see
    :class:`Erf`."""
    x = np.asarray(x)
    small, erf_small, erfc_big = _erf_parts(x.reshape(-1))
    erf_big = 0.5 - erfc_big
    erf_big += 0.5  # 1 - erfc, as (0.5 - erfc) + 0.5
    return np.copysign(_blend(small, erf_small, erf_big).reshape(x.shape), x)


def _erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(x), elementwise, accurate also where it is
    tiny (x >> 0) (Cody 1969)."""
    x = np.asarray(x)
    flat = x.reshape(-1)
    small, erf_small, erfc_big = _erf_parts(flat)
    np.copysign(erf_small, flat, out=erf_small)
    erfc_small = 1.0 - erf_small
    neg = (flat < 0).astype(flat.dtype)
    flip = 2.0 - 2.0 * erfc_big  # erfc(-y) = 2 - erfc(y): c + neg (2 - 2c)
    flip *= neg
    erfc_big += flip
    return _blend(small, erfc_small, erfc_big).reshape(x.shape)


class Erf(Function):
    """y = erf(x), elementwise (Cody's approximation, exact to float64 rounding).
    Shape: any -> same. dy/dx = 2/sqrt(pi) e^(-x^2). A primitive for GELU's reference
    expansion x (1 + erf(x / sqrt 2)) / 2 (torch's ``torch.erf``)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return _erf(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.x
        return g * (2.0 / math.sqrt(math.pi)) * np.exp(-(x * x))


# ----------------------------------------------------------------------- activations


class LeakyReLU(Function):
    """y = x if x > 0 else negative_slope * x, elementwise. Shape: any -> same.
    dy/dx = 1 where x > 0, else negative_slope (also at x = 0, as torch). Computed as
    y = x m with the slope multiplier m saved for backward."""

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        m = (x > 0).astype(x.dtype)
        if 0 <= negative_slope <= 1:
            np.maximum(m, negative_slope, out=m)  # exactly 1 or the slope
        else:
            m *= 1 - negative_slope
            m += negative_slope
        ctx.save(m=m, negative_slope=negative_slope)
        return x * m

    @staticmethod
    def backward(ctx, g):
        return g * ctx.m


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False
               ) -> Tensor:
    """max(0, x) + negative_slope * min(0, x), elementwise. Any shape -> same. Source: Maas
    et al. (2013), "Rectifier nonlinearities improve neural network acoustic models".
    ``inplace`` is accepted for PyTorch compatibility and ignored."""
    return LeakyReLU.apply(input, negative_slope=negative_slope)


class ELU(Function):
    """y = x if x > 0 else alpha (e^x - 1), elementwise. Shape: any -> same.
    dy/dx = 1 where x > 0, else alpha e^x (from x, not as y + alpha, which loses the tail
    to rounding). The branches are blended arithmetically:
    y = max(x, 0) + alpha expm1(min(x, 0))."""

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        xn = np.minimum(x, 0)
        y = np.expm1(xn)
        y *= alpha
        y += np.maximum(x, 0)
        ctx.save(x=x, xn=xn, alpha=alpha)
        return y

    @staticmethod
    def backward(ctx, g):
        pos = (ctx.x > 0).astype(g.dtype)
        d = np.exp(ctx.xn)
        d *= ctx.alpha
        d *= 1 - pos
        d += pos  # 1 where x > 0, alpha e^x elsewhere
        d *= g
        return d


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit: x for x > 0, alpha (e^x - 1) otherwise. Any shape -> same.
    Source: Clevert et al. (2016), "Fast and accurate deep network learning by exponential
    linear units (ELUs)". ``inplace`` is accepted and ignored."""
    return ELU.apply(input, alpha=alpha)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715


class GELU(Function):
    """y = x Phi(x), Phi the standard normal CDF = erfc(-x / sqrt 2) / 2 (exact), or the
    tanh form y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Shape: any -> same.
    Exact: dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi).
    Tanh: dy/dx = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        if approximate == "none":
            cdf = 0.5 * _erfc(x * -math.sqrt(0.5))
            ctx.save(x=x, cdf=cdf, approximate=approximate)
            return x * cdf
        if approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x))
            ctx.save(x=x, t=t, approximate=approximate)
            return 0.5 * x * (1.0 + t)
        raise ValueError(f"approximate argument must be either 'none' or 'tanh', got "
                         f"{approximate!r}")

    @staticmethod
    def backward(ctx, g):
        x = ctx.x
        if ctx.approximate == "none":
            return g * (ctx.cdf + x * np.exp(-0.5 * x * x) * _INV_SQRT_2PI)
        t = ctx.t
        inner = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x * x)
        return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x Phi(x), Phi the standard normal CDF. Any shape -> same.

    Args:
        approximate: 'none' (exact, via erf) or 'tanh' (the tanh approximation).

    Raises:
        ValueError: another ``approximate``.

    Source: Hendrycks & Gimpel (2016), "Gaussian Error Linear Units (GELUs)", sec. 2 (the
    tanh form is their eq. for fast evaluation).
    """
    return GELU.apply(input, approximate=approximate)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), relatively accurate everywhere (e^-x overflowing to inf gives 0)."""
    with np.errstate(over="ignore"):
        s = np.exp(-x)
    s += 1
    return np.reciprocal(s, out=s)


class GLU(Function):
    """Gated linear unit: split x in halves a, b along dim; y = a * sigmoid(b).
    Shape: (*, 2M, *) -> (*, M, *). da = g s, db = g a s (1 - s), s = sigmoid(b)."""

    @staticmethod
    def forward(ctx, x, dim=-1):
        if x.ndim == 0:
            raise ValueError("glu does not support 0-d (scalar) tensors")
        n = x.shape[dim]
        if n % 2:
            raise ValueError(f"glu: halving dimension must be even, but dimension {dim} is "
                             f"size {n} (input shape {x.shape})")
        a, b = np.split(x, 2, axis=dim)
        s = _sigmoid(b)
        ctx.save(a=a, s=s, dim=dim)
        return a * s

    @staticmethod
    def backward(ctx, g):
        a, s = ctx.a, ctx.s
        gs = g * s
        return np.concatenate((gs, gs * a * (1.0 - s)), axis=ctx.dim)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: a * sigmoid(b), a and b the two halves of input along ``dim``.
    (*, 2M, *) -> (*, M, *).

    Raises:
        ValueError: input's size along ``dim`` is odd, or input is 0-d.

    Source: Dauphin et al. (2017), "Language modeling with gated convolutional networks".
    """
    return GLU.apply(input, dim=dim)


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta, or x where beta x > threshold (for stability).
    Shape: any -> same. dy/dx = sigmoid(beta x), or 1 above the threshold."""

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        bx = x * beta if beta != 1 else x
        y = np.log1p(np.exp(np.minimum(bx, threshold)))
        if beta != 1:
            y /= beta
        lin = bx > threshold
        if lin.any():  # usually none or a few: index just those
            y[lin] = x[lin]
        else:
            lin = None
        ctx.save(bx=bx, lin=lin)
        return y

    @staticmethod
    def backward(ctx, g):
        d = _sigmoid(ctx.bx)
        if ctx.lin is not None:
            d[ctx.lin] = 1
        d *= g
        return d


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Smooth ReLU (1/beta) log(1 + e^(beta x)); linear (x) where beta x > threshold.
    Any shape -> same."""
    return Softplus.apply(input, beta=beta, threshold=threshold)


# ----------------------------------------------------------------------- dropout


def _dropout_mask(shape: tuple, p: float, dtype: Any) -> np.ndarray:
    """Inverted-dropout mask from the engine's generator: 1/(1-p) with probability 1-p,
    else 0, in ``dtype``. One uniform draw per element (float32), kept where u >= p."""
    keep = _random.generator().random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * (1.0 / (1.0 - p))


class Dropout(Function):
    """y = x * mask, mask = 1/(1-p) with probability 1-p, else 0 (inverted dropout, so the
    expected value is unchanged). Shape: any -> same. dx = g * mask. The mask is saved on
    ctx (``ctx.mask``)."""

    @staticmethod
    def forward(ctx, x, p=0.5):
        if p == 1:
            mask = np.zeros_like(x)
        else:
            mask = _dropout_mask(x.shape, p, x.dtype)
        ctx.save(mask=mask, p=p)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
            ) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted
    dropout), using the engine's generator (``manual_seed``). Any shape -> same. With
    ``training=False`` or ``p=0`` the input is returned as is. ``inplace`` is ignored.

    Raises:
        ValueError: p outside [0, 1].

    Source: Srivastava et al. (2014), "Dropout: a simple way to prevent neural networks from
    overfitting", JMLR 15.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    return Dropout.apply(input, p=p)


# ----------------------------------------------------------------------- embedding


class Embedding(Function):
    """y = weight[input]: a row lookup. Shapes: input (*) integer indices, weight
    (num_embeddings, E) -> (*, E). dweight[i] = sum of g over the positions holding index
    i; the padding_idx row gets no gradient."""

    @staticmethod
    def forward(ctx, indices, weight, padding_idx=None):
        ctx.save(indices=indices, num_embeddings=weight.shape[0], padding_idx=padding_idx)
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        if not ctx.needs_input_grad[1]:
            return None, None
        e = g.shape[-1]
        idx = ctx.indices.reshape(-1)
        g2 = g.reshape(-1, e)
        dw = np.zeros((ctx.num_embeddings, e), dtype=g.dtype)
        np.add.at(dw, idx, g2)  # repeated indices accumulate
        if ctx.padding_idx is not None:
            dw[ctx.padding_idx] = 0
        return None, dw


def _check_embedding(indices: Any, num_embeddings: int, padding_idx: int | None
                     ) -> tuple[np.ndarray, int | None]:
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be of an integer dtype (class/token "
                        f"ids), got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_embeddings):
        bad = idx[(idx < 0) | (idx >= num_embeddings)].flat[0]
        raise IndexError(f"embedding: index {bad} is out of range for num_embeddings="
                         f"{num_embeddings} (valid 0..{num_embeddings - 1})")
    if padding_idx is not None:
        if not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"padding_idx {padding_idx} must be within num_embeddings="
                             f"{num_embeddings}")
        padding_idx %= num_embeddings
    return idx, padding_idx


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight``: input (*) integer indices, weight (num_embeddings, E)
    -> (*, E). The ``padding_idx`` row (negative counts from the end) gets no gradient;
    its value is used as is (``nn.Embedding`` zeroes it at init).

    Raises:
        TypeError: non-integer indices.
        IndexError: an index outside 0..num_embeddings-1.
        ValueError: padding_idx out of range.
        NotImplementedError: max_norm, scale_grad_by_freq or sparse.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are "
                                  "not supported")
    w = weight.data if isinstance(weight, Tensor) else weight
    if np.ndim(w) != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), got "
                         f"shape {np.shape(w)}")
    idx, padding_idx = _check_embedding(input, np.shape(w)[0], padding_idx)
    return Embedding.apply(idx, weight, padding_idx=padding_idx)

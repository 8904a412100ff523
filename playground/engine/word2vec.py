"""Skip-gram's negative-sampling loss (Mikolov et al. 2013, "Distributed Representations of
Words and Phrases and their Compositionality", NeurIPS, eq. 4), one fused op.

Shapes: N pairs, V vocabulary, E embedding dim, K = 1 + k (the context word and k
negatives). ``input`` v (N, E) is each center word's vector from the input ("center")
table; ``weight`` W (V, E) is the output ("context") table; ``target`` (N, K) int holds
the context word's id in column 0 and the negatives' ids after it. With u_nj = W[target_nj]
and scores s_nj = u_nj · v_n:

    loss = mean_n [ -log σ(s_n0) - sum_{j>=1} log σ(-s_nj) ]

Writing z_nj = σ_j s_nj with the sign σ_0 = +1, σ_j = -1 (j >= 1), each term is
-log σ(z) = softplus(-z), and its derivative is -σ(-z). With upstream g and
D_nj = -g σ_j σ(-z_nj) / N (dloss/ds):

    dv_n = sum_j D_nj u_nj,    dW[i] += D_nj v_n  for every (n, j) with target_nj = i.

PyTorch has no such op; the tests build the same formula from torch primitives
(``embedding``, ``bmm``, ``logsigmoid``) as the oracle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import init
from .nn.module import Module
from .nn.parameter import Parameter
from .tensor import Function, Tensor

__all__ = ["NegativeSampling", "negative_sampling_loss", "NegativeSamplingLoss"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class NegativeSampling(Function):
    """loss = mean_n[-log σ(u_n0·v_n) - Σ_{j≥1} log σ(-u_nj·v_n)], u_nj = weight[target_nj].
    Shapes: input (N, E), weight (V, E), target (N, K) int -> () (or (N,) with
    ``reduction='none'``, 'sum' over N)."""

    @staticmethod
    def forward(ctx, v, w, target, reduction="mean"):
        u = w[target]  # (N, K, E)
        s = np.matmul(u, v[:, :, None])[:, :, 0]  # (N, K)
        sign = np.full(s.shape[1], -1.0, dtype=s.dtype)
        sign[0] = 1.0
        z = s * sign
        per_pair = np.logaddexp(0.0, -z).sum(axis=1)  # softplus(-z) = -log σ(z)
        ctx.save(u=u, v=v, z=z, sign=sign, target=target, num_embeddings=w.shape[0],
                 reduction=reduction)
        if reduction == "none":
            return per_pair
        return per_pair.mean() if reduction == "mean" else per_pair.sum()

    @staticmethod
    def backward(ctx, g):
        n = ctx.v.shape[0]
        scale = (g / n if ctx.reduction == "mean" else g) if ctx.reduction != "none" \
            else g[:, None]
        d = -(scale * ctx.sign) * _sigmoid(-ctx.z)  # dloss/ds (N, K)
        dv = np.matmul(d[:, None, :], ctx.u)[:, 0, :] if ctx.needs_input_grad[0] else None
        dw = None
        if ctx.needs_input_grad[1]:
            e = ctx.v.shape[1]
            du = (d[:, :, None] * ctx.v[:, None, :]).reshape(-1, e)
            dw = np.zeros((ctx.num_embeddings, e), dtype=du.dtype)
            np.add.at(dw, ctx.target.reshape(-1), du)  # repeated ids accumulate
        return dv, dw, None


def negative_sampling_loss(input: Tensor, weight: Tensor, target: Any,
                           reduction: str = "mean") -> Tensor:
    """Skip-gram's negative-sampling loss (see the module doc).

    Args:
        input: v (N, E), the center words' vectors.
        weight: W (V, E), the output (context) embedding table.
        target: (N, K) integer ids, K >= 1: column 0 the true context word, the rest
            negatives.
        reduction: 'mean' (over N; default), 'sum' or 'none' ((N,) per pair).

    Raises:
        ValueError: shapes that do not fit, or an unknown reduction.
        TypeError: non-integer target.
        IndexError: an id outside 0..V-1.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")
    v = input.data if isinstance(input, Tensor) else np.asarray(input)
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if v.ndim != 2 or w.ndim != 2 or v.shape[1] != w.shape[1]:
        raise ValueError(f"negative_sampling_loss: input must be (N, E) and weight (V, E) "
                         f"with the same E; got input {v.shape} and weight {w.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"negative_sampling_loss: target must hold integer word ids, "
                        f"got {t.dtype}")
    if t.ndim != 2 or t.shape[0] != v.shape[0] or t.shape[1] < 1:
        raise ValueError(f"negative_sampling_loss: target must be (N, 1+k) = ({v.shape[0]}, "
                         f"1+k): the context id then k negatives; got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= w.shape[0]):
        bad = t[(t < 0) | (t >= w.shape[0])].flat[0]
        raise IndexError(f"negative_sampling_loss: word id {bad} is out of range for a "
                         f"{w.shape[0]}-row table (valid 0..{w.shape[0] - 1})")
    return NegativeSampling.apply(input, weight, t.astype(np.int64, copy=False),
                                  reduction=reduction)


class NegativeSamplingLoss(Module):
    """Skip-gram's negative-sampling loss with its output (context) embedding table.

    Parameter: ``weight`` (num_embeddings, embedding_dim), word2vec's output vectors
    ("syn1neg"), initialised U(-0.5/E, 0.5/E) (the reference C code's range for the input
    vectors; it starts the output ones at zeros, which leaves no gradient for the input
    table on the first step), so every score starts near 0 and the loss near K*log 2.
    ``forward(input (N, E), target (N, K))`` -> loss ().
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, reduction: str = "mean",
                 dtype: Any = None):
        super().__init__()
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.reduction = reduction
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        self.weight = Parameter(np.zeros((self.num_embeddings, self.embedding_dim),
                                         dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 0.5 / self.embedding_dim
        init.uniform_(self.weight, -bound, bound)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return negative_sampling_loss(input, self.weight, target, self.reduction)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"

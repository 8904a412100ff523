"""nn modules: AdditiveAttention (Bahdanau) and LuongAttention (dot or general score) for
recurrent encoder-decoders.

Shapes: N batch, L target (query) length, S source length, D_q query features, D_k key
features, D_v value features, A = ``attn_dim``. Batch first: query (N, L, D_q), key
(N, S, D_k), value (N, S, D_v). Both return ``(context (N, L, D_v), weights (N, L, S))``.

PyTorch has no such modules; the parameter names follow ``nn.MultiheadAttention``'s
separate projections (``q_proj_weight``, ``k_proj_weight``). Initialisation is
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for every parameter, as ``nn.Linear``'s.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import init
from .. import seq_attention as SA
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["AdditiveAttention", "LuongAttention"]


def _dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"attention modules support dtype float32 or float64, got {dtype}")
    return dtype


def _positive(**sizes: int) -> None:
    for name, n in sizes.items():
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")


class AdditiveAttention(Module):
    """Bahdanau attention: ``e_ts = v · tanh(W_q q_t + W_k k_s + b)``, weights the softmax
    of e over the source, context the weighted sum of the values.

    Parameters: ``q_proj_weight`` (A, D_q), ``k_proj_weight`` (A, D_k), ``bias`` (A,) or
    None, ``v`` (A,).

    Source: Bahdanau, Cho & Bengio (2015), eq. 6 and appendix A.1.2 (there the query is
    the decoder's previous state s_(t-1); any query works here).
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int, bias: bool = True,
                 dtype: Any = None):
        super().__init__()
        _positive(query_dim=query_dim, key_dim=key_dim, attn_dim=attn_dim)
        dtype = _dtype(dtype)
        self.query_dim, self.key_dim, self.attn_dim = int(query_dim), int(key_dim), int(attn_dim)
        self.q_proj_weight = Parameter(np.empty((self.attn_dim, self.query_dim), dtype))
        self.k_proj_weight = Parameter(np.empty((self.attn_dim, self.key_dim), dtype))
        if bias:
            self.bias = Parameter(np.empty(self.attn_dim, dtype))
        else:
            self.register_parameter("bias", None)
        self.v = Parameter(np.empty(self.attn_dim, dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p, fan_in in ((self.q_proj_weight, self.query_dim), (self.k_proj_weight,
                                                                  self.key_dim),
                          (self.bias, self.key_dim), (self.v, self.attn_dim)):
            if p is not None:
                bound = 1.0 / math.sqrt(fan_in)
                init.uniform_(p, -bound, bound)

    def forward(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                key_padding_mask: Any = None) -> tuple[Tensor, Tensor]:
        """Returns ``(context (N, L, D_v), weights (N, L, S))``; value defaults to key."""
        return SA.additive_attention(query, key, key if value is None else value,
                                     self.q_proj_weight, self.k_proj_weight, self.bias,
                                     self.v, key_padding_mask)

    def extra_repr(self) -> str:
        return (f"query_dim={self.query_dim}, key_dim={self.key_dim}, "
                f"attn_dim={self.attn_dim}, bias={self.bias is not None}")


class LuongAttention(Module):
    """Luong attention: score ``"dot"`` ``e_ts = q_t · k_s`` (no parameters; D_q = D_k) or
    ``"general"`` ``e_ts = q_t · (W k_s)`` with ``weight`` (D_q, D_k); weights the softmax
    over the source, context the weighted sum of the values.

    Source: Luong, Pham & Manning (2015), eq. 8.
    """

    def __init__(self, query_dim: int, key_dim: int, score: str = "dot", dtype: Any = None):
        super().__init__()
        _positive(query_dim=query_dim, key_dim=key_dim)
        if score not in ("dot", "general"):
            raise ValueError(f"score must be 'dot' or 'general', got {score!r}")
        if score == "dot" and query_dim != key_dim:
            raise ValueError(f"the dot score needs query_dim == key_dim, got {query_dim} and "
                             f"{key_dim}; use score='general'")
        self.query_dim, self.key_dim, self.score = int(query_dim), int(key_dim), score
        if score == "general":
            self.weight = Parameter(np.empty((self.query_dim, self.key_dim), _dtype(dtype)))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            bound = 1.0 / math.sqrt(self.key_dim)
            init.uniform_(self.weight, -bound, bound)

    def forward(self, query: Tensor, key: Tensor, value: Tensor | None = None,
                key_padding_mask: Any = None) -> tuple[Tensor, Tensor]:
        """Returns ``(context (N, L, D_v), weights (N, L, S))``; value defaults to key."""
        return SA.luong_attention(query, key, key if value is None else value, self.weight,
                                  key_padding_mask)

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, score={self.score!r}"

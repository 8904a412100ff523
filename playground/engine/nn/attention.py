"""nn modules: MultiheadAttention and the Transformer layers.

Shapes: N batch, L target length, S source length, E = ``embed_dim`` / ``d_model``.
Sequence-first (L, N, E) by default, (N, L, E) with ``batch_first=True``, as PyTorch.
Submodule and parameter names (``self_attn.in_proj_weight``, ``linear1``, ``norm1``,
``dropout1``, ...), shapes and default init match PyTorch, so state dicts transfer both
ways.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

from .. import attention as A
from .. import functional as F
from .. import init
from ..tensor import Tensor
from .layers import Linear, Sequential
from .module import Module
from .parameter import Parameter

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerDecoder"]


def _dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"attention modules support dtype float32 or float64, got {dtype}")
    return dtype


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017, sec. 3.2.2), as PyTorch's
    nn.MultiheadAttention; runs as one fused op (see ``functional.
    multi_head_attention_forward``).

    Args:
        embed_dim: E. num_heads: h; E must be divisible by h.
        dropout: dropout on the attention weights (training only).
        bias: biases in the input and output projections.
        kdim, vdim: key/value feature sizes (default E); if either differs from E the
            projections are separate parameters q_proj_weight, k_proj_weight,
            v_proj_weight instead of the packed in_proj_weight.
        batch_first: (N, L, E) instead of (L, N, E).

    Parameters: ``in_proj_weight`` (3E, E) (rows q, k, v), ``in_proj_bias`` (3E,),
    ``out_proj.weight`` (E, E), ``out_proj.bias`` (E,). Init as PyTorch:
    xavier_uniform_ projections, zero biases, out_proj.weight as Linear.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> ``(attn_output, attn_weights)``:
    attn_output like query; attn_weights (N, L, S) averaged over heads, (N, h, L, S) with
    ``average_attn_weights=False``, or None without ``need_weights``. Masks as
    ``functional.multi_head_attention_forward``: bool True = excluded.

    Raises:
        ValueError: E not divisible by h; bad dtype.
        NotImplementedError: add_bias_kv or add_zero_attn.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0,
                 bias: bool = True, add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 dtype: Any = None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError("embed_dim must be divisible by num_heads")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("add_bias_kv and add_zero_attn are not supported")
        dtype = _dtype(dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(np.empty((embed_dim, embed_dim), dtype))
            self.k_proj_weight = Parameter(np.empty((embed_dim, self.kdim), dtype))
            self.v_proj_weight = Parameter(np.empty((embed_dim, self.vdim), dtype))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty(3 * embed_dim, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        q = query.data if isinstance(query, Tensor) else np.asarray(query)
        if q.shape[-1] != self.embed_dim:
            raise ValueError(f"was expecting embedding dimension of {self.embed_dim}, but "
                             f"got {q.shape[-1]}")
        separate = not self._qkv_same_embed_dim
        return A._mha(query, key, value, self.num_heads,
                      None if separate else self.in_proj_weight, self.in_proj_bias,
                      self.out_proj.weight, self.out_proj.bias, self.dropout, self.training,
                      key_padding_mask, need_weights, attn_mask, self.q_proj_weight,
                      self.k_proj_weight, self.v_proj_weight, average_attn_weights,
                      is_causal, batch_first=self.batch_first and q.ndim == 3)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


def _activation(activation: str | Callable) -> Callable:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if isinstance(activation, str):
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    return activation


def _norm(d_model: int, eps: float, bias: bool, dtype: Any) -> Module:
    from .norm import LayerNorm  # the "conv+norm" family's module
    return LayerNorm(d_model, eps=eps, bias=bias, dtype=dtype)


def _dropout(p: float) -> Module:
    from .activation import Dropout
    return Dropout(p)


def _add_norm(norm: Module, x: Tensor, residual: Tensor | None) -> Tensor:
    """norm(x + residual) (or norm(x)), as one fused op when ``norm`` is a LayerNorm over
    the last dim (the usual case), else composed."""
    shape = getattr(norm, "normalized_shape", None)
    if shape is not None and len(shape) == 1 and getattr(norm, "elementwise_affine", False):
        return A.add_layer_norm(x, residual, norm.weight, norm.bias, norm.eps)
    return norm(x if residual is None else x + residual)


def _feed_forward(layer: Module, x: Tensor) -> Tensor:
    """linear2(dropout(activation(linear1(x)))), as one fused op for relu without active
    dropout."""
    if layer.activation is F.relu and (layer.dropout.p == 0 or not layer.training):
        return A.feed_forward(x, layer.linear1.weight, layer.linear1.bias,
                              layer.linear2.weight, layer.linear2.bias)
    return layer.linear2(layer.dropout(layer.activation(layer.linear1(x))))


class TransformerEncoderLayer(Module):
    """One Transformer encoder layer (Vaswani et al. 2017, sec. 3.1), as PyTorch's:
    self-attention then a feed-forward block linear1 -> activation -> dropout -> linear2,
    each with dropout, a residual connection and LayerNorm.

        post-norm (default): x = norm1(x + sa(x)); x = norm2(x + ff(x))
        norm_first:          x = x + sa(norm1(x)); x = x + ff(norm2(x))

    Runs as few fused ops: the attention block (``functional.
    multi_head_attention_forward``), the feed-forward block with relu (``attention.
    feed_forward``) and each residual add + LayerNorm (``attention.add_layer_norm``).

    Args:
        d_model: E. nhead: heads. dim_feedforward: hidden size of the feed-forward block.
        dropout: probability for every dropout. activation: 'relu', 'gelu' or a callable.
        layer_norm_eps: LayerNorm eps. batch_first: (N, L, E) instead of (L, N, E).
        norm_first: pre-norm variant. bias: biases in the linears and LayerNorms.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False) -> like src.
    Masks as :class:`MultiheadAttention` (bool True = excluded).

    Raises:
        RuntimeError: an unknown activation name.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype: Any = None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = _dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = _norm(d_model, layer_norm_eps, bias, dtype)
        self.norm2 = _norm(d_model, layer_norm_eps, bias, dtype)
        self.dropout1 = _dropout(dropout)
        self.dropout2 = _dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(_add_norm(self.norm1, x, None), src_mask,
                                   src_key_padding_mask, is_causal)
            x = x + self._ff_block(_add_norm(self.norm2, x, None))
        else:
            x = _add_norm(self.norm1, x, self._sa_block(x, src_mask, src_key_padding_mask,
                                                         is_causal))
            x = _add_norm(self.norm2, x, self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(_feed_forward(self, x))


class TransformerDecoderLayer(Module):
    """One Transformer decoder layer (Vaswani et al. 2017, sec. 3.1), as PyTorch's:
    self-attention (with ``tgt_mask``), cross-attention over ``memory``, feed-forward;
    each with dropout, a residual connection and LayerNorm (norm1, norm2, norm3), post-norm
    or ``norm_first``. Arguments as :class:`TransformerEncoderLayer`.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False) -> like tgt.
    tgt (T, N, E), memory (S, N, E) (batch first with ``batch_first``).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype: Any = None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = _dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = _norm(d_model, layer_norm_eps, bias, dtype)
        self.norm2 = _norm(d_model, layer_norm_eps, bias, dtype)
        self.norm3 = _norm(d_model, layer_norm_eps, bias, dtype)
        self.dropout1 = _dropout(dropout)
        self.dropout2 = _dropout(dropout)
        self.dropout3 = _dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None,
                memory_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(_add_norm(self.norm1, x, None), tgt_mask,
                                   tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(_add_norm(self.norm2, x, None), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(_add_norm(self.norm3, x, None))
        else:
            x = _add_norm(self.norm1, x, self._sa_block(x, tgt_mask, tgt_key_padding_mask,
                                                         tgt_is_causal))
            x = _add_norm(self.norm2, x, self._mha_block(x, memory, memory_mask,
                                                          memory_key_padding_mask,
                                                          memory_is_causal))
            x = _add_norm(self.norm3, x, self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(_feed_forward(self, x))


def _clones(module: Module, n: int) -> Sequential:
    """n deep copies, named "0".."n-1" (PyTorch uses a ModuleList; the state-dict keys
    ``layers.0.…`` are the same)."""
    return Sequential(*[copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ...),
    then an optional final ``norm``, as PyTorch's nn.TransformerEncoder.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None) -> like src.
    ``enable_nested_tensor`` and ``mask_check`` are accepted and ignored (they only affect
    PyTorch's inference fast path).
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """A stack of ``num_layers`` deep copies of ``decoder_layer``, then an optional
    ``norm``, as PyTorch's nn.TransformerDecoder.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False) -> like tgt.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None,
                memory_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x



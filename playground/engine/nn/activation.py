"""nn modules: activation modules, Dropout, Embedding.

(ReLU, Sigmoid, Tanh, Softmax and LogSoftmax are in :mod:`.layers`.) Shapes: ``*`` any
number of dims; E embedding. Parameter names, shapes and default init match PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activation as A
from .. import init
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["LeakyReLU", "ELU", "GELU", "GLU", "Softplus", "Dropout", "Embedding"]


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x, elementwise. Any shape -> same. See
    ``functional.leaky_relu``. ``inplace`` is accepted and ignored."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return A.LeakyReLU.apply(input, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x if x > 0 else alpha (e^x - 1), elementwise. Any shape -> same. See
    ``functional.elu``. ``inplace`` is accepted and ignored."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return A.ELU.apply(input, alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """x Phi(x) (exact) or its tanh approximation. Any shape -> same. See
    ``functional.gelu``.

    Raises:
        ValueError: ``approximate`` is not 'none' or 'tanh'.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate argument must be either 'none' or 'tanh', got "
                             f"{approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return A.GELU.apply(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class GLU(Module):
    """a * sigmoid(b) for the two halves a, b of the input along ``dim``:
    (*, 2M, *) -> (*, M, *). See ``functional.glu``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return A.GLU.apply(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softplus(Module):
    """(1/beta) log(1 + e^(beta x)), linear where beta x > threshold. Any shape -> same.
    See ``functional.softplus``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return A.Softplus.apply(input, beta=self.beta, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the rest by
    1/(1-p); in eval mode (``model.eval()``), the identity. Any shape -> same. Draws from
    the engine's generator (``manual_seed``). See ``functional.dropout``.

    Raises:
        ValueError: p outside [0, 1].
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return A.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Embedding(Module):
    """A lookup table: input (*) integer indices -> (*, embedding_dim).

    Parameter (PyTorch layout): ``weight`` (num_embeddings, embedding_dim), initialised
    N(0, 1) as in torch; the ``padding_idx`` row is zeroed and never gets a gradient.

    Args:
        padding_idx: index of the padding token (negative counts from the end), or None.
        dtype: float32 (default) or float64.

    Raises:
        ValueError: padding_idx out of range, or an unsupported dtype.
        NotImplementedError: max_norm, scale_grad_by_freq or sparse.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False,
                 dtype: Any = None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse "
                                      "are not supported")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} must be within "
                                 f"num_embeddings={num_embeddings}")
            padding_idx %= num_embeddings
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"Embedding supports dtype float32 or float64, got {dtype}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim),
                                             dtype), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {w.shape}, expected "
                                 f"{(self.num_embeddings, self.embedding_dim)}")
            self.weight = Parameter(np.array(w), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """Redraw ``weight`` from N(0, 1) and zero the padding row (torch's default)."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None) -> "Embedding":
        """An Embedding holding a copy of ``embeddings`` (num_embeddings, embedding_dim);
        ``freeze`` turns its gradient off.

        Raises:
            ValueError: embeddings is not 2-D.
        """
        w = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got "
                             f"shape {w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, _weight=w,
                   _freeze=freeze)

    def forward(self, input: Any) -> Tensor:
        return A.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

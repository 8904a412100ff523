"""nn.utils: gradient clipping, as ``torch.nn.utils``: clip_grad_norm_,
clip_grad_value_, get_total_norm and clip_grads_with_norm_.

All work in place on the parameters' ``.grad`` arrays (parameters without a gradient are
skipped) and never record on the tape.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(tensors: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(a: np.ndarray, norm_type: float) -> Any:
    """The p-norm of ``a`` viewed as one vector (p = inf: max |a|, -inf: min |a|, 0: the
    number of non-zeros), in a's dtype."""
    a = a.reshape(-1)
    if norm_type == 2:
        return np.sqrt(np.dot(a, a))
    if norm_type == 1:
        return np.abs(a).sum()
    if a.size == 0:
        return a.dtype.type(0)
    return np.linalg.norm(a, ord=norm_type).astype(a.dtype)


def get_total_norm(tensors: Tensor | Iterable[Any], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Any = None) -> Tensor:
    """The p-norm of all ``tensors`` (ndarrays, e.g. gradients, or Tensors) together, as
    if concatenated into one vector: the norm of the per-tensor norms. Returns a 0-d
    Tensor in their dtype (float32 0 for an empty list).

    Raises:
        RuntimeError: the norm is nan or inf and ``error_if_nonfinite``.
    """
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t)
              for t in ([tensors] if isinstance(tensors, (Tensor, np.ndarray)) else tensors)]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor(np.zeros((), np.float32))
    dtype = arrays[0].dtype
    norms = np.array([_vector_norm(a, norm_type) for a in arrays], dtype=dtype)
    total = np.asarray(_vector_norm(norms, norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    return Tensor(total)


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Any, foreach: Any = None) -> None:
    """Scale every gradient in place by min(max_norm / (total_norm + 1e-6), 1), given a
    precomputed ``total_norm``."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    total = float(total_norm.data if isinstance(total_norm, Tensor) else total_norm)
    coef = min(float(max_norm) / (total + 1e-6), 1.0) if not math.isnan(total) else total
    for g in grads:
        g *= coef


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: Any = None) -> Tensor:
    """Rescale the gradients of ``parameters`` in place so that their total norm (all
    gradients as one vector) is at most ``max_norm``: each is multiplied by
    min(max_norm / (total_norm + 1e-6), 1), so directions are kept. Source: Pascanu et
    al. (2013), "On the difficulty of training recurrent neural networks", Algorithm 1.

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. ``model.parameters()``).
        max_norm: the largest allowed total norm.
        norm_type: the p of the p-norm; ``float('inf')`` for the max-abs norm.
        error_if_nonfinite: raise when the total norm is nan or inf (instead of scaling by
            it).

    Returns:
        The total norm before clipping, a 0-d Tensor (``float(...)`` gives the number).

    Raises:
        RuntimeError: non-finite total norm and ``error_if_nonfinite``.
    """
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: Any = None) -> None:
    """Clip every gradient element in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            np.clip(p.grad, -clip_value, clip_value, out=p.grad)

"""Parameter: a Tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor with ``requires_grad=True`` by default. Assigning one to a Module
    attribute registers it, so it appears in ``parameters()`` and ``state_dict()``.

    ``Parameter(data)`` shares ``data``'s array when it is an ndarray or Tensor of the
    final dtype (as ``torch.nn.Parameter``); same dtype rules as :class:`Tensor`.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True):
        super().__init__([] if data is None else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

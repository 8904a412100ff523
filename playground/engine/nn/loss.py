"""nn modules: loss modules (BCELoss, BCEWithLogitsLoss, L1Loss, SmoothL1Loss,
KLDivLoss). CrossEntropyLoss, NLLLoss and MSELoss are in :mod:`.layers`.

Each wraps the function of the same name in :mod:`playground.engine.loss`; shapes and
errors are documented there.
"""

from __future__ import annotations

from typing import Any

from .. import loss as L
from ..tensor import Tensor
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "L1Loss", "SmoothL1Loss", "KLDivLoss"]


class _Loss(Module):
    _reductions: tuple = ("mean", "sum", "none")

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean"):
        super().__init__()
        L._legacy(size_average, reduce)
        L._check_reduction(reduction, self._reductions)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities: input (*) in [0, 1], target (*) -> loss ()
    (or (*) with reduction='none'). ``weight`` (broadcastable to (*)) rescales each
    element. See ``functional.binary_cross_entropy``."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.weight = weight

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, stable: input logits (*), target (*) in [0, 1] ->
    loss (). ``pos_weight`` (usually (C,), one per class on the last dim) weights the
    positive examples. See ``functional.binary_cross_entropy_with_logits``."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", pos_weight: Any = None):
        super().__init__(size_average, reduce, reduction)
        self.weight = weight
        self.pos_weight = pos_weight

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class L1Loss(_Loss):
    """Mean absolute error |input - target|: input, target (*) -> loss ()."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Smooth L1 (Huber / beta): quadratic for |d| < beta, linear beyond; input,
    target (*) -> loss (). See ``functional.smooth_l1_loss``."""

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class KLDivLoss(_Loss):
    """KL divergence with input = log q (log-probabilities) and target = p (or log p
    with ``log_target``): input, target (*) -> loss (). Use reduction='batchmean' for the
    KL per sample; 'mean' (the default, as torch) averages over every element. See
    ``functional.kl_div``."""

    _reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

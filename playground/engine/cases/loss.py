"""Op cases for :mod:`playground.engine.loss`.

Every case runs on this engine's ``functional`` and on ``torch.nn.functional`` (the
Gaussian KL, which torch lacks, is written out on torch). ``weight`` and ``pos_weight``
are constant Tensors (torch does not differentiate them); targets are differentiated
where torch does. Kinks are kept away: |x - t| = beta for smooth_l1 and x = t for l1 are
measure-zero for normal samples.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from .. import loss as L
from .. import ops
from ..tensor import Tensor
from ..testing import ExpansionCase, OpCase, _args, _n, _pos

OP_CASES: list = []
EXPANSIONS: list = []

_REDUCTIONS = ("mean", "sum", "none")


def _case(name: str, fn: Callable[..., Any], *makers: Any) -> None:
    OP_CASES.append(OpCase(name, fn, _args(*makers)))


def _expansion(name: str, fused: Callable[..., Any], reference: Callable[..., Any],
               *makers: Any) -> None:
    EXPANSIONS.append(ExpansionCase(name, fused, reference, _args(*makers)))


def _prob(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Probabilities in [0.05, 0.95] (away from BCE's clamp at 0 and 1)."""
    return lambda rng: rng.uniform(0.05, 0.95, shape)


def _target01(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Soft targets in [0, 1]."""
    return lambda rng: rng.uniform(0.0, 1.0, shape)


def _constant(make: Callable[[np.random.Generator], np.ndarray]
              ) -> Callable[[np.random.Generator], Tensor]:
    """A float constant: a Tensor that does not require grad (passed through by the
    gradient check, converted to a plain torch tensor by the parity tests)."""
    return lambda rng: Tensor(make(rng))


def _gaussian_kl(F: Any, mu: Any, logvar: Any, reduction: str = "sum") -> Any:
    """``F.gaussian_kl``, or on torch the closed form written out."""
    if hasattr(F, "gaussian_kl"):
        return F.gaussian_kl(mu, logvar, reduction=reduction)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp())
    if reduction == "none":
        return kl
    if reduction == "batchmean":
        return kl.sum() / mu.shape[0]
    return kl.sum() if reduction == "sum" else kl.mean()


def _kl_div(F: Any, x: Any, t: Any, reduction: str, log_target: bool = False) -> Any:
    """``F.kl_div``, silencing torch's warning that 'mean' is not the true KL."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="reduction: 'mean'")
        return F.kl_div(x, t, reduction=reduction, log_target=log_target)


# -- binary_cross_entropy -----------------------------------------------------------------
for _r in _REDUCTIONS:
    _case(f"binary_cross_entropy_{_r}",
          lambda F, x, t, r=_r: F.binary_cross_entropy(x, t, reduction=r),
          _prob(3, 4), _target01(3, 4))
    _case(f"binary_cross_entropy_with_logits_{_r}",
          lambda F, x, t, r=_r: F.binary_cross_entropy_with_logits(x, t, reduction=r),
          _n(3, 4), _target01(3, 4))
_case("binary_cross_entropy_weight_broadcast_(4,)",
      lambda F, x, t, w: F.binary_cross_entropy(x, t, weight=w), _prob(3, 4),
      _target01(3, 4), _constant(_pos(4)))
_case("binary_cross_entropy_weight_none_3d",
      lambda F, x, t, w: F.binary_cross_entropy(x, t, weight=w, reduction="none"),
      _prob(2, 3, 3), _target01(2, 3, 3), _constant(_pos(2, 1, 3)))
_case("binary_cross_entropy_batch_of_1_1d",
      lambda F, x, t: F.binary_cross_entropy(x, t), _prob(1), _target01(1))
_case("binary_cross_entropy_with_logits_pos_weight_broadcast_(C,)",
      lambda F, x, t, p: F.binary_cross_entropy_with_logits(x, t, pos_weight=p),
      _n(3, 5), _target01(3, 5), _constant(_pos(5)))
_case("binary_cross_entropy_with_logits_weight_and_pos_weight_sum",
      lambda F, x, t, w, p: F.binary_cross_entropy_with_logits(
          x, t, weight=w, pos_weight=p, reduction="sum"),
      _n(4, 3), _target01(4, 3), _constant(_pos(4, 1)), _constant(_pos(3)))
_case("binary_cross_entropy_with_logits_pos_weight_none",
      lambda F, x, t, p: F.binary_cross_entropy_with_logits(x, t, pos_weight=p,
                                                            reduction="none"),
      _n(2, 3), _target01(2, 3), _constant(_pos(3)))
_case("binary_cross_entropy_with_logits_large_logits",
      lambda F, x, t: F.binary_cross_entropy_with_logits(x * 40, t), _n(3, 3),
      _target01(3, 3))
_case("binary_cross_entropy_with_logits_batch_of_1",
      lambda F, x, t: F.binary_cross_entropy_with_logits(x, t), _n(1, 3), _target01(1, 3))

# -- l1, smooth_l1 ------------------------------------------------------------------------
for _r in _REDUCTIONS:
    _case(f"l1_loss_{_r}", lambda F, x, t, r=_r: F.l1_loss(x, t, reduction=r),
          _n(3, 5), _n(3, 5))
    _case(f"smooth_l1_loss_{_r}", lambda F, x, t, r=_r: F.smooth_l1_loss(x, t, reduction=r),
          _n(3, 5), _n(3, 5))
_case("l1_loss_batch_of_1", lambda F, x, t: F.l1_loss(x, t), _n(1, 3), _n(1, 3))
_case("smooth_l1_loss_beta_0.5", lambda F, x, t: F.smooth_l1_loss(x, t, beta=0.5),
      _n(3, 5), _n(3, 5))
_case("smooth_l1_loss_beta_2_3d", lambda F, x, t: F.smooth_l1_loss(x, t, beta=2.0),
      _n(2, 3, 3), _n(2, 3, 3))
_case("smooth_l1_loss_beta_0_is_l1",
      lambda F, x, t: F.smooth_l1_loss(x, t, reduction="sum", beta=0.0), _n(3, 3), _n(3, 3))
_case("smooth_l1_loss_batch_of_1", lambda F, x, t: F.smooth_l1_loss(x, t), _n(1, 4),
      _n(1, 4))

# -- kl_div -------------------------------------------------------------------------------
for _r in ("mean", "batchmean", "sum", "none"):
    _case(f"kl_div_{_r}",
          lambda F, x, t, r=_r: _kl_div(F, F.log_softmax(x, dim=1), t, r),
          _n(3, 5), _pos(3, 5))
    _case(f"kl_div_log_target_{_r}",
          lambda F, x, t, r=_r: _kl_div(F, F.log_softmax(x, dim=1), t, r, log_target=True),
          _n(3, 5), _n(3, 5))
_case("kl_div_batch_of_1_3d", lambda F, x, t: F.kl_div(x, t, reduction="batchmean"),
      _n(1, 3, 3), _pos(1, 3, 3))

# -- Gaussian KL ------------------------------------------------------------------------
for _r in ("sum", "mean", "batchmean", "none"):
    _case(f"gaussian_kl_{_r}", lambda F, m, v, r=_r: _gaussian_kl(F, m, v, r),
          _n(4, 3), _n(4, 3))
_case("gaussian_kl_batch_of_1", lambda F, m, v: _gaussian_kl(F, m, v), _n(1, 5), _n(1, 5))


# -- reference expansions into primitives -------------------------------------------------

def _bce_reference(x, t):
    return -(t * x.log() + (1 - t) * (1 - x).log()).mean()


def _bce_logits_reference(x, t, p):
    # max(x, 0) - x t + log(1 + e^-|x|) without pos_weight; the pos_weight form is
    # (1 - t) x + (1 + (p - 1) t) (max(-x, 0) + log(1 + e^-|x|))
    softplus_neg = (-x).clamp(min=0) + ((-x.abs()).exp() + 1).log()
    return ((1 - t) * x + (1 + (p - 1) * t) * softplus_neg).mean()


_expansion("binary_cross_entropy", L.binary_cross_entropy, _bce_reference,
           _prob(3, 4), _target01(3, 4))
_expansion("binary_cross_entropy_with_logits", L.binary_cross_entropy_with_logits,
           lambda x, t: (x.clamp(min=0) - x * t + ((-x.abs()).exp() + 1).log()).mean(),
           lambda rng: rng.standard_normal((3, 4)) * 5, _target01(3, 4))
_expansion("binary_cross_entropy_with_logits_pos_weight",
           lambda x, t, p: L.binary_cross_entropy_with_logits(x, t, pos_weight=p),
           _bce_logits_reference, _n(3, 4), _target01(3, 4), _constant(_pos(4)))
_expansion("l1_loss", L.l1_loss, lambda x, t: (x - t).abs().mean(), _n(3, 4), _n(3, 4))
_expansion("smooth_l1_loss", lambda x, t: L.smooth_l1_loss(x, t, beta=0.8),
           lambda x, t: ops.where((x - t).abs() < 0.8, 0.5 * (x - t) ** 2 / 0.8,
                                  (x - t).abs() - 0.4).mean(), _n(3, 4), _n(3, 4))
_expansion("kl_div_batchmean", lambda x, t: L.kl_div(x, t, reduction="batchmean"),
           lambda x, t: (t * (t.log() - x)).sum() / x.shape[0], _n(3, 4), _pos(3, 4))
_expansion("kl_div_log_target", lambda x, t: L.kl_div(x, t, reduction="sum",
                                                      log_target=True),
           lambda x, t: (t.exp() * (t - x)).sum(), _n(3, 4), _n(3, 4))
_expansion("gaussian_kl", L.gaussian_kl,
           lambda m, v: -0.5 * (1 + v - m ** 2 - v.exp()).sum(), _n(4, 3), _n(4, 3))

"""Functional ops, losses: nll_loss variants, binary_cross_entropy(_with_logits), l1, smooth_l1, kl_div, gaussian KL.

Re-exported by :mod:`playground.engine.functional`."""

from __future__ import annotations

__all__: list[str] = []

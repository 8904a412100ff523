"""Functional ops, recurrent cells: the fused RNN, LSTM and GRU steps.

Re-exported by :mod:`playground.engine.functional`."""

from __future__ import annotations

__all__: list[str] = []

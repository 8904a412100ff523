"""Op cases for :mod:`playground.engine.activation`."""

from __future__ import annotations

OP_CASES: list = []
EXPANSIONS: list = []

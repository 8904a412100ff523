"""Op cases for :mod:`playground.engine.attention`."""

from __future__ import annotations

OP_CASES: list = []
EXPANSIONS: list = []

"""Op cases for :mod:`playground.engine.loss`."""

from __future__ import annotations

OP_CASES: list = []
EXPANSIONS: list = []

"""Op cases for :mod:`playground.engine.norm`."""

from __future__ import annotations

OP_CASES: list = []
EXPANSIONS: list = []

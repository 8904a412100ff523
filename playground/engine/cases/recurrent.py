"""Op cases for :mod:`playground.engine.recurrent`."""

from __future__ import annotations

OP_CASES: list = []
EXPANSIONS: list = []

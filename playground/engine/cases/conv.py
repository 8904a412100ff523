"""Op cases for :mod:`playground.engine.conv`."""

from __future__ import annotations

OP_CASES: list = []
EXPANSIONS: list = []

"""Per-family op cases for the gradient-check and parity registry (see ``testing.py``).

Each module defines ``OP_CASES: list[OpCase]`` (gradient-checked and torch-parity-tested)
and ``EXPANSIONS: list[ExpansionCase]`` (a fused op against its reference decomposition
into primitive ops).
"""

"""The engine imports numpy, the standard library and itself, nothing else (DESIGN.md)."""

import ast
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "playground" / "engine"
FILES = sorted(ENGINE.rglob("*.py"))


def _imported_roots(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0], alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.lineno, (node.module or "").split(".")[0], node.module


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_engine_imports_only_numpy_and_stdlib(path):
    assert FILES
    for lineno, root, name in _imported_roots(path):
        where = f"engine/{path.relative_to(ENGINE)}:{lineno} imports {name}"
        assert root == "numpy" or root in sys.stdlib_module_names or root == "__future__", where

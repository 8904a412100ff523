"""The layering rules of DESIGN.md, checked on the source: dependencies point down only,
the engine imports numpy and nothing of the project, and only ui/ imports Qt."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "playground"
# Top to bottom, as in DESIGN.md. A layer may import the layers below it.
# export/ reads graphs, projects and the engine (never session or ui), and cli runs it.
LAYERS = ["ui", "cli", "session", "export", "graph", "project", "data", "engine"]
QT = ("PySide6", "pyqtgraph", "PyQt5", "PyQt6", "shiboken6")
# The command line starts the app: `playground gui` and `screenshot` import ui lazily.
ALLOWED_UPWARD = {("cli", "ui")}


def _layer(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem == "cli" else ""


def _imports(path: Path, root: Path = ROOT):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(("playground",) + path.relative_to(root).parent.parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module or ""


FILES = sorted(p for p in ROOT.rglob("*.py"))


def check(path: Path, root: Path = ROOT) -> None:
    layer = _layer(path, root)
    for lineno, name in _imports(path, root):
        where = f"{path.relative_to(root.parent)}:{lineno} imports {name}"
        if name.split(".")[0] in QT:
            assert layer == "ui", f"{where}: only playground/ui may import Qt"
        if layer == "engine":
            top = name.split(".")[0]
            assert top != "playground" or name.startswith("playground.engine"), where
            assert top not in {"networkx", "psygnal", "scipy", "torch"}, where
        if name.startswith("playground.") and layer in LAYERS:
            target = name.split(".")[1]
            if target in LAYERS and target != layer:
                upward = LAYERS.index(target) < LAYERS.index(layer)
                assert not upward or (layer, target) in ALLOWED_UPWARD, \
                    f"{where}: {layer} may not import {target} (dependencies point down)"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    check(path)


@pytest.mark.parametrize("layer, source, problem", [
    ("engine", "from ..graph import GraphModel\n", "engine"),          # relative, upward
    ("session", "import PySide6.QtCore\n", "only playground/ui may import Qt"),
    ("data", "from playground.graph import nodes\n", "data may not import graph"),
    ("export", "from playground.ui import main_window\n", "export may not import ui"),
    ("export", "from ..session import Session\n", "export may not import session"),
])
def test_the_rule_catches_a_violation(tmp_path, layer, source, problem):
    root = tmp_path / "playground"
    (root / layer).mkdir(parents=True)
    probe = root / layer / "probe.py"
    probe.write_text(source)
    with pytest.raises(AssertionError, match=problem):
        check(probe, root)

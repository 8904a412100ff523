"""What the preset generators in tools/ share: laying a graph out for the preset window,
refusing a graph with errors, the command line (the preset names to write, default all) and
writing ``presets/<name>.json``.

The generators import it as ``tools._preset_writer`` (each puts the repo's root on
``sys.path`` first, so that it also works when a test loads a generator from its file).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Collection

from playground.graph import GraphModel, layout
from playground.graph.layout import PRESET_WINDOW
from playground.project import Project, save

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "presets"


def lay_out(model: GraphModel) -> None:
    """Move every node to ``graph.layout``'s layered layout, wrapped for ``PRESET_WINDOW``."""
    for node_id, pos in layout(model, window=PRESET_WINDOW).items():
        model.move_node(node_id, pos)


def check(name: str, model: GraphModel) -> None:
    """Stop the generator (SystemExit naming the preset) when ``model`` has errors."""
    errors = model.errors()
    if errors:
        raise SystemExit(f"{name}: the graph has errors: {errors}")


def parser(doc: str, names: Collection[str]) -> argparse.ArgumentParser:
    """The generator's parser: its docstring's first line, and ``NAME ...`` to write."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"presets to write: {', '.join(names)} (default: all)")
    return ap


def chosen(ap: argparse.ArgumentParser, args: argparse.Namespace, names: Collection[str],
           what: str) -> list[str]:
    """The names ``args`` asks for (all of ``names`` when none); exits through
    ``ap.error`` ("no <what> 'x'; choose from ...") on a name that is not there."""
    unknown = [n for n in args.names if n not in names]
    if unknown:
        ap.error(f"no {what} {unknown[0]!r}; choose from {', '.join(names)}")
    return list(args.names or names)


def write(project: Project, folder: Path = PRESETS) -> Path:
    """Save ``project`` as ``folder/<project.name>.json``, readable by all; its path."""
    path = save(project, folder / f"{project.name}.json")
    path.chmod(0o644)  # save() writes through a private temp file
    return path

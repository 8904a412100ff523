"""Reading, validating and atomically writing project files (see package docstring)."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

SCHEMA_VERSION = 1
OPTIMIZERS = ("SGD", "Adam")
RECIPES = ("supervised",)


class ProjectError(ValueError):
    """A project file that cannot be loaded or saved. ``field`` names the culprit
    (``"training.lr"``, ``"graph.nodes[2].type"``, or ``""`` for the file as a whole)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class Training:
    """Training settings.

    Attributes:
        optimizer: ``"SGD"`` or ``"Adam"``.
        lr: learning rate (> 0).
        momentum, nesterov: SGD's momentum (0 ≤ m < 1) and Nesterov flag.
        weight_decay: L2 penalty added to the gradient (≥ 0).
        batch_size: examples per step (≥ 1).
        steps: default length of a headless run (≥ 1).
        seed: seeds weight init and batch order.
        eval_every: steps between held-out evaluations; 0 picks one that keeps evaluation
            under 10% of training time.
    """

    optimizer: str = "Adam"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    batch_size: int = 64
    steps: int = 1000
    seed: int = 0
    eval_every: int = 0


_TRAINING_RULES: dict[str, tuple[type, Any, Any, str]] = {
    # name: (type, low, high, how to say it)
    "optimizer": (str, None, None, f"one of {', '.join(OPTIMIZERS)}"),
    "lr": (float, 0.0, 10.0, "a number in (0, 10]"),
    "momentum": (float, 0.0, 0.999999, "a number in [0, 1)"),
    "nesterov": (bool, None, None, "true or false"),
    "weight_decay": (float, 0.0, 1.0, "a number in [0, 1]"),
    "batch_size": (int, 1, 100_000, "a whole number from 1 to 100000"),
    "steps": (int, 1, 10_000_000, "a whole number ≥ 1"),
    "seed": (int, 0, 2**31 - 1, "a whole number ≥ 0"),
    "eval_every": (int, 0, 10_000_000, "a whole number ≥ 0"),
}


@dataclass
class Project:
    """A loaded project.

    Attributes:
        name: display name (defaults to the file stem).
        graph: the graph object, ``{"nodes": [...], "edges": [...]}`` (see the README).
        training: :class:`Training` settings.
        recipe: ``{"type": "supervised"}``; GAN and VAE recipes come later.
        notes: free text shown to the student (Markdown).
        weights: ``{"<node_id>.<param>": array}`` or None when untrained.
        path: the file it came from, or None.
    """

    name: str = "untitled"
    graph: dict = field(default_factory=lambda: {"nodes": [], "edges": []})
    training: Training = field(default_factory=Training)
    recipe: dict = field(default_factory=lambda: {"type": "supervised"})
    notes: str = ""
    weights: dict[str, np.ndarray] | None = None
    path: Path | None = None


# ---------------------------------------------------------------------------- locations


def presets_dir() -> Path:
    """The ``presets/`` folder at the top of the repo."""
    return Path(__file__).resolve().parents[2] / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.json"))


def resolve(project: str | os.PathLike) -> Path:
    """A path, or a preset name (``"spiral_mlp"``), to the project's JSON path.

    Raises:
        ProjectError: neither a file nor a preset; the message lists the presets.
    """
    path = Path(project)
    if path.is_file():
        return path
    preset = presets_dir() / f"{path.name}.json"
    if path.suffix == "" and preset.is_file():
        return preset
    raise ProjectError(f"{project}: no such file, and no preset of that name. Presets: "
                       f"{', '.join(preset_names())}")


def weights_path(path: Path) -> Path:
    return path.with_suffix(".npz")


# --------------------------------------------------------------------------------- load


def load(project: str | os.PathLike) -> Project:
    """Load and validate a project file (and its weights ``.npz``, if present).

    Raises:
        ProjectError: unreadable file, invalid JSON, a missing or ill-typed field, or a bad
            weights file. The message names the file and the field.
    """
    path = resolve(project)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: cannot read the file: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                           f"{exc.msg}). The file may be truncated.") from None
    try:
        proj = from_dict(raw, default_name=path.stem)
    except ProjectError as exc:
        raise ProjectError(f"{path}: {exc.message}", exc.field) from None
    proj.path = path
    wpath = weights_path(path)
    if wpath.exists():
        proj.weights = _load_weights(wpath)
    return proj


def _load_weights(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            weights = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ProjectError(f"{path}: not a readable weights file ({exc}). Delete it to "
                           "start from fresh weights.", "weights") from None
    for key, arr in weights.items():
        if arr.dtype.kind != "f":
            raise ProjectError(f"{path}: weights[{key!r}] has dtype {arr.dtype}; weights must "
                               "be floating point.", f"weights.{key}")
    return weights


def _expect(value, kind, where: str, what: str):
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ProjectError(f"{where} must be {what}, got {json.dumps(value)[:60]}", where)
    return value


def from_dict(raw: Any, default_name: str = "untitled") -> Project:
    """Validate a parsed JSON object and build a :class:`Project` (weights not included).

    Raises:
        ProjectError: names the first field at fault.
    """
    _expect(raw, dict, "the file", "a JSON object")
    known = {"schema_version", "name", "graph", "training", "recipe", "notes"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ProjectError(f"unknown top-level field {unknown[0]!r}; allowed: "
                           f"{', '.join(sorted(known))}", unknown[0])
    if "schema_version" not in raw:
        raise ProjectError("schema_version is missing; this does not look like a project "
                           "file", "schema_version")
    version = _expect(raw["schema_version"], int, "schema_version", "a whole number")
    if version > SCHEMA_VERSION:
        raise ProjectError(f"schema_version {version} is newer than this app understands "
                           f"({SCHEMA_VERSION}); update DL Playground", "schema_version")
    if version < 1:
        raise ProjectError(f"schema_version must be ≥ 1, got {version}", "schema_version")
    raw = _migrate(raw, version)

    name = _expect(raw.get("name", default_name), str, "name", "a string")
    notes = _expect(raw.get("notes", ""), str, "notes", "a string")
    graph = _validate_graph(raw.get("graph"))
    training = _validate_training(raw.get("training", {}))
    recipe = _expect(raw.get("recipe", {"type": "supervised"}), dict, "recipe", "an object")
    if recipe.get("type") not in RECIPES:
        raise ProjectError(f"recipe.type must be one of {', '.join(RECIPES)}, got "
                           f"{recipe.get('type')!r}", "recipe.type")
    return Project(name=name, graph=graph, training=training, recipe=dict(recipe), notes=notes)


def _migrate(raw: dict, version: int) -> dict:
    """Bring an older file up to :data:`SCHEMA_VERSION`, one version at a time."""
    # Version 1 is the first; later versions add a step here (e.g. if version < 2: ...).
    return raw


def _validate_graph(graph: Any) -> dict:
    if graph is None:
        raise ProjectError("graph is missing", "graph")
    _expect(graph, dict, "graph", "an object with 'nodes' and 'edges'")
    nodes = _expect(graph.get("nodes"), list, "graph.nodes", "a list")
    edges = _expect(graph.get("edges", []), list, "graph.edges", "a list")
    ids = set()
    out_nodes = []
    for i, node in enumerate(nodes):
        where = f"graph.nodes[{i}]"
        _expect(node, dict, where, "an object")
        for key in ("id", "type"):
            if key not in node:
                raise ProjectError(f"{where}.{key} is missing", f"{where}.{key}")
            _expect(node[key], str, f"{where}.{key}", "a string")
        if node["id"] in ids:
            raise ProjectError(f"{where}.id: duplicate id {node['id']!r}", f"{where}.id")
        ids.add(node["id"])
        params = _expect(node.get("params", {}), dict, f"{where}.params", "an object")
        pos = _expect(node.get("pos", [0, 0]), list, f"{where}.pos", "a list [x, y]")
        if len(pos) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    for v in pos):
            raise ProjectError(f"{where}.pos must be two numbers [x, y], got {pos}",
                               f"{where}.pos")
        name = _expect(node.get("name", node["id"]), str, f"{where}.name", "a string")
        out_nodes.append({"id": node["id"], "type": node["type"], "name": name,
                          "params": dict(params), "pos": list(pos)})
    out_edges = []
    for i, edge in enumerate(edges):
        where = f"graph.edges[{i}]"
        _expect(edge, dict, where, "an object")
        for key in ("src", "src_port", "dst", "dst_port"):
            if key not in edge:
                raise ProjectError(f"{where}.{key} is missing", f"{where}.{key}")
            _expect(edge[key], str, f"{where}.{key}", "a string")
        for key in ("src", "dst"):
            if edge[key] not in ids:
                raise ProjectError(f"{where}.{key}: no node has id {edge[key]!r}",
                                   f"{where}.{key}")
        out_edges.append({k: edge[k] for k in ("src", "src_port", "dst", "dst_port")})
    return {"nodes": out_nodes, "edges": out_edges}


def _validate_training(raw: Any) -> Training:
    _expect(raw, dict, "training", "an object")
    values = {}
    for key, value in raw.items():
        rule = _TRAINING_RULES.get(key)
        if rule is None:
            raise ProjectError(f"training.{key} is not a training setting; allowed: "
                               f"{', '.join(_TRAINING_RULES)}", f"training.{key}")
        kind, low, high, what = rule
        where = f"training.{key}"
        _expect(value, kind, where, what)
        if kind is float:
            value = float(value)
        if low is not None and not low <= value <= high:
            raise ProjectError(f"{where} must be {what}, got {value}", where)
        if key == "lr" and value <= 0:
            raise ProjectError(f"{where} must be {what}, got {value}", where)
        if key == "optimizer" and value not in OPTIMIZERS:
            raise ProjectError(f"{where} must be {what}, got {value!r}", where)
        values[key] = value
    return Training(**values)


# --------------------------------------------------------------------------------- save


def to_dict(project: Project) -> dict:
    """The JSON object for ``project`` (without weights)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "name": project.name,
        "notes": project.notes,
        "graph": project.graph,
        "training": asdict(project.training),
        "recipe": project.recipe,
    }


def save(project: Project, path: str | os.PathLike) -> Path:
    """Write ``project`` to ``path`` (``.json``) and its weights to the ``.npz`` beside it.

    Each file is written to a temp file in the same folder and renamed over the old one, so
    an error part-way leaves the old files intact. A project without weights removes a stale
    ``.npz``. Returns the JSON path.

    Raises:
        ProjectError: the project does not validate, or the files cannot be written.
    """
    path = Path(path)
    if path.suffix != ".json":
        path = path.with_suffix(".json")
    data = to_dict(project)
    from_dict(json.loads(json.dumps(data)))  # refuse to write what we could not read back
    text = json.dumps(data, indent=2) + "\n"
    try:
        if project.weights is not None:
            _atomic_write(weights_path(path), lambda f: np.savez(f, **project.weights))
        _atomic_write(path, lambda f: f.write(text.encode("utf-8")))
        if project.weights is None and weights_path(path).exists():
            weights_path(path).unlink()
    except OSError as exc:
        raise ProjectError(f"{path}: cannot save: {exc}") from None
    return path


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise



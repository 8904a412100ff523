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

from playground._resources import resource_path

SCHEMA_VERSION = 2
#: Keys of the weights file that hold the run rather than a parameter (no node id starts
#: with "@"): the steps taken, and each metric's curve.
TRAINING_STEP_KEY = "@step"
HISTORY_PREFIX = "@history."
#: The optimizers a project may name (``playground.engine.optim``'s classes).
OPTIMIZERS = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW")
RECIPES = ("supervised", "vae", "gan")
G_LOSSES = ("non_saturating", "minimax")


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
        optimizer: one of :data:`OPTIMIZERS` (``"SGD"``, ``"Adagrad"``, ``"RMSprop"``,
            ``"Adam"``, ``"AdamW"``).
        lr: learning rate (> 0).
        momentum, nesterov: SGD's momentum (0 ≤ m < 1; RMSprop's too) and Nesterov flag.
        weight_decay: L2 penalty added to the gradient (≥ 0); AdamW decays the weights
            directly instead (decoupled, Loshchilov & Hutter 2019).
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
        recipe: how the session trains the graph: ``{"type": "supervised"}`` (the default),
            ``"vae"`` or ``"gan"`` with their fields (see :func:`validate_recipe` and
            ``playground.session.recipes``).
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
    """The presets' folder: ``presets/`` at the top of the repo, or inside the installed
    package (see :func:`playground._resources.resource_path`)."""
    return resource_path("presets")


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
    """The arrays of a weights file: parameters keyed ``"<node id>.<param>"`` and the run's
    state, ``TRAINING_STEP_KEY`` (0-d) and ``HISTORY_PREFIX + metric`` ((2, n): steps,
    values), as ``Session.training_state`` writes them."""
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
        if key == TRAINING_STEP_KEY and not (arr.shape == () and arr >= 0 and
                                             float(arr).is_integer()):
            raise ProjectError(f"{path}: weights[{key!r}] must be the step count, a whole "
                               f"number ≥ 0; got shape {arr.shape}", f"weights.{key}")
        if key.startswith(HISTORY_PREFIX) and (arr.ndim != 2 or arr.shape[0] != 2):
            raise ProjectError(f"{path}: weights[{key!r}] must be a (2, n) array of steps and "
                               f"values; got shape {arr.shape}", f"weights.{key}")
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
    recipe = validate_recipe(raw.get("recipe", {"type": "supervised"}))
    return Project(name=name, graph=graph, training=training, recipe=recipe, notes=notes)


def _migrate(raw: dict, version: int) -> dict:
    """Bring an older file up to :data:`SCHEMA_VERSION`, one version at a time.

    * 1 -> 2: the Dataset node's batch output was named ``input``; it is ``x`` (the
      Dataset gives x and target; ``input`` is what a layer takes in).
    """
    if version < 2:
        graph = raw.get("graph")
        if isinstance(graph, dict) and isinstance(graph.get("nodes"), list) and \
                isinstance(graph.get("edges"), list):
            data = {n.get("id") for n in graph["nodes"]
                    if isinstance(n, dict) and n.get("type") == "Dataset"}
            edges = [{**e, "src_port": "x"} if isinstance(e, dict) and e.get("src") in data
                     and e.get("src_port") == "input" else e for e in graph["edges"]]
            raw = {**raw, "graph": {**graph, "edges": edges}}
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
        out_node = {"id": node["id"], "type": node["type"], "name": name,
                    "params": dict(params), "pos": list(pos)}
        if node.get("subgraph") is not None:  # a block's inside; the graph layer checks it
            out_node["subgraph"] = _expect(node["subgraph"], dict, f"{where}.subgraph",
                                           "an object with 'nodes', 'edges', 'inputs', 'outputs'")
        out_nodes.append(out_node)
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
    out = {"nodes": out_nodes, "edges": out_edges}
    groups = _expect(graph.get("groups", []), list, "graph.groups", "a list")
    if groups:  # blocks open on the canvas; the graph layer checks their fields
        for i, group in enumerate(groups):
            _expect(group, dict, f"graph.groups[{i}]", "an object")
        out["groups"] = [dict(g) for g in groups]
    return out


# ------------------------------------------------------------------------------- recipes

#: Fields of a per-side optimizer in a GAN recipe (``g_optimizer``, ``d_optimizer``).
_OPTIMIZER_FIELDS = ("optimizer", "lr", "momentum", "nesterov", "weight_decay", "betas")


def validate_recipe(raw: Any) -> dict:
    """Check a recipe object's fields and fill their defaults; return a new dict.

    The three recipes (what they do is in ``playground.session.recipes``)::

        {"type": "supervised"}
        {"type": "vae", "beta": 1.0, "kl": "<node id>", "latent": "<node id>"}
        {"type": "gan", "generator": ["<node id>", ...], "discriminator": ["<node id>", ...],
         "d_steps": 1, "g_loss": "non_saturating" | "minimax",
         "g_optimizer": {...}, "d_optimizer": {...}}

    ``vae``: ``beta`` ≥ 0 (default 1.0) weighs the KL term; ``kl`` and ``latent`` are
    optional (the session finds the one GaussianKL and the one Reparameterize node).
    ``gan``: ``generator`` and ``discriminator`` are non-empty lists of distinct node ids,
    disjoint; ``d_steps`` in 1..100 (default 1); ``g_loss`` default ``"non_saturating"``;
    each optimizer object may set ``optimizer`` (one of :data:`OPTIMIZERS`), ``lr``, ``momentum``,
    ``nesterov``, ``weight_decay`` (as in ``training``) and ``betas`` (two numbers in
    [0, 1)); what it leaves out comes from ``training``. Whether the ids name nodes of the
    graph is checked when a session binds the recipe.

    Raises:
        ProjectError: names the field (``"recipe.g_optimizer.lr"``, ``"recipe.generator[1]"``).
    """
    _expect(raw, dict, "recipe", "an object")
    kind = raw.get("type")
    if kind not in RECIPES:
        raise ProjectError(f"recipe.type must be one of {', '.join(RECIPES)}, got {kind!r}",
                           "recipe.type")
    allowed = {"supervised": ("type", "decoding"),
               "vae": ("type", "beta", "kl", "latent"),
               "gan": ("type", "generator", "discriminator", "d_steps", "g_loss",
                       "g_optimizer", "d_optimizer")}[kind]
    for key in raw:
        if key not in allowed:
            raise ProjectError(f"recipe.{key} is not a field of the {kind} recipe; allowed: "
                               f"{', '.join(allowed)}", f"recipe.{key}")
    out: dict[str, Any] = {"type": kind}
    if "decoding" in raw:
        out["decoding"] = _validate_decoding(raw["decoding"])
    if kind == "vae":
        beta = _expect(raw.get("beta", 1.0), float, "recipe.beta", "a number ≥ 0")
        if not 0.0 <= beta <= 1e6:
            raise ProjectError(f"recipe.beta must be a number ≥ 0, got {beta}", "recipe.beta")
        out["beta"] = float(beta)
        for key in ("kl", "latent"):
            if key in raw:
                out[key] = _expect(raw[key], str, f"recipe.{key}", "a node id (a string)")
    elif kind == "gan":
        sides = {}
        for key in ("generator", "discriminator"):
            if key not in raw:
                raise ProjectError(f"recipe.{key} is missing: list the ids of the "
                                   f"{key}'s nodes", f"recipe.{key}")
            ids = _expect(raw[key], list, f"recipe.{key}", "a list of node ids")
            if not ids:
                raise ProjectError(f"recipe.{key} is empty: list the ids of the {key}'s "
                                   "nodes", f"recipe.{key}")
            for i, node in enumerate(ids):
                _expect(node, str, f"recipe.{key}[{i}]", "a node id (a string)")
                if node in ids[:i]:
                    raise ProjectError(f"recipe.{key}[{i}]: {node!r} is listed twice",
                                       f"recipe.{key}[{i}]")
            sides[key] = list(ids)
        both = [n for n in sides["discriminator"] if n in sides["generator"]]
        if both:
            i = sides["discriminator"].index(both[0])
            raise ProjectError(f"recipe.discriminator[{i}]: {both[0]!r} is also in "
                               "recipe.generator; a node belongs to one side",
                               f"recipe.discriminator[{i}]")
        out.update(sides)
        d_steps = _expect(raw.get("d_steps", 1), int, "recipe.d_steps",
                          "a whole number from 1 to 100")
        if not 1 <= d_steps <= 100:
            raise ProjectError(f"recipe.d_steps must be a whole number from 1 to 100, got "
                               f"{d_steps}", "recipe.d_steps")
        out["d_steps"] = d_steps
        g_loss = raw.get("g_loss", "non_saturating")
        if g_loss not in G_LOSSES:
            raise ProjectError(f"recipe.g_loss must be one of {', '.join(G_LOSSES)}, got "
                               f"{g_loss!r}", "recipe.g_loss")
        out["g_loss"] = g_loss
        for key in ("g_optimizer", "d_optimizer"):
            out[key] = _validate_side_optimizer(raw.get(key, {}), f"recipe.{key}")
    return out


#: A supervised recipe's ``decoding`` object: field -> (default, low, high). See
#: ``playground.session.decoding``: the held-out exact match of greedy and beam search.
DECODING_FIELDS = {"beam_width": (5, 1, 64), "sequences": (500, 1, 100_000),
                   "length_penalty": (0.0, 0.0, 2.0)}


def _validate_decoding(raw: Any) -> dict:
    """``{"beam_width": 1..64 (5), "sequences": 1..100000 (500), "length_penalty": 0..2
    (0.0)}`` with defaults filled; ProjectError names the field."""
    _expect(raw, dict, "recipe.decoding", "an object")
    out: dict[str, Any] = {}
    for key in raw:
        if key not in DECODING_FIELDS:
            raise ProjectError(f"recipe.decoding.{key} is not a decoding setting; allowed: "
                               f"{', '.join(DECODING_FIELDS)}", f"recipe.decoding.{key}")
    for key, (default, lo, hi) in DECODING_FIELDS.items():
        where = f"recipe.decoding.{key}"
        value = raw.get(key, default)
        kind = float if isinstance(default, float) else int
        ok = (not isinstance(value, bool) and isinstance(value, (int, float))
              and (kind is float or float(value).is_integer()) and lo <= value <= hi)
        if not ok:
            what = "a number" if kind is float else "a whole number"
            raise ProjectError(f"{where} must be {what} from {lo} to {hi}, got "
                               f"{json.dumps(value)[:40]}", where)
        out[key] = kind(value)
    return out


def _validate_side_optimizer(raw: Any, where: str) -> dict:
    _expect(raw, dict, where, "an object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _OPTIMIZER_FIELDS:
            raise ProjectError(f"{where}.{key} is not an optimizer setting; allowed: "
                               f"{', '.join(_OPTIMIZER_FIELDS)}", f"{where}.{key}")
        field_ = f"{where}.{key}"
        if key == "betas":
            ok = (isinstance(value, list) and len(value) == 2 and
                  all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1
                      for b in value))
            if not ok:
                raise ProjectError(f"{field_} must be two numbers in [0, 1), got "
                                   f"{json.dumps(value)[:60]}", field_)
            out[key] = [float(b) for b in value]
            continue
        out[key] = _check_training_value(key, value, field_)
    return out


def _check_training_value(key: str, value: Any, where: str) -> Any:
    """``value`` checked against the rule of training setting ``key``; ``where`` names it."""
    kind, low, high, what = _TRAINING_RULES[key]
    _expect(value, kind, where, what)
    if kind is float:
        value = float(value)
    if low is not None and not low <= value <= high:
        raise ProjectError(f"{where} must be {what}, got {value}", where)
    if key == "lr" and value <= 0:
        raise ProjectError(f"{where} must be {what}, got {value}", where)
    if key == "optimizer" and value not in OPTIMIZERS:
        raise ProjectError(f"{where} must be {what}, got {value!r}", where)
    return value


def _validate_training(raw: Any) -> Training:
    _expect(raw, dict, "training", "an object")
    values = {}
    for key, value in raw.items():
        rule = _TRAINING_RULES.get(key)
        if rule is None:
            raise ProjectError(f"training.{key} is not a training setting; allowed: "
                               f"{', '.join(_TRAINING_RULES)}", f"training.{key}")
        values[key] = _check_training_value(key, value, f"training.{key}")
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



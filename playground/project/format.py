"""Reading, validating and writing project files as one transaction (see the package
docstring).

**Reading** never trusts the file: the JSON goes through a bounded parser
(:mod:`.jsonfile`: size, nesting depth, number length, finite numbers) and the weights
through a reader that checks each array's header before allocating it (:mod:`.npzfile`:
float dtypes only, never pickle, sizes within the memory budget). Only regular files are
opened (a FIFO named ``NAME.npz`` would block a plain ``open``).

**Saving** replaces the pair ``NAME.json`` + ``NAME.npz`` so that a reader always sees a
consistent pair:

1. write both to temps beside them (``.NAME.npz.saving``, ``.NAME.json.saving``) and fsync;
   the JSON names the SHA-256 of the weights it belongs to (``weights_sha256``);
2. rename the ``.npz`` into place, then the ``.json`` (last), then fsync the folder.

A failure in step 1 leaves the old pair untouched and removes the temps. A crash between
the two renames of step 2 leaves the new weights beside the old JSON: their digests differ,
and the complete new JSON is still in its temp. **The recovery rule on load:** when
``NAME.json`` names a digest that ``NAME.npz`` does not have, and ``.NAME.json.saving``
names the digest it does have, that interrupted save is finished (the temp is renamed into
place) and loaded. A mismatch without such a temp loads the graph without the weights and
says so in :attr:`Project.warnings`. A JSON without ``weights_sha256`` (optional: a
preset, an older file, a project saved untrained) takes any ``NAME.npz`` beside it, so
weights can still be dropped in by hand. A project saved without weights removes the old
``.npz`` before its JSON is renamed. Temps from a killed save are overwritten (or removed)
by the next save, and never read except by the recovery rule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from playground._resources import resource_path

from .errors import ProjectError
from .jsonfile import read_json
from .npzfile import read_npz

SCHEMA_VERSION = 2
#: Keys of the weights file that hold the run rather than a parameter (no node id starts
#: with "@"): the steps taken, and each metric's curve.
TRAINING_STEP_KEY = "@step"
HISTORY_PREFIX = "@history."
#: The optimizers a project may name (``playground.engine.optim``'s classes).
OPTIMIZERS = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW")
#: The learning-rate schedules a project may name (``engine.optim.lr_scheduler``'s).
LR_SCHEDULES = ("none", "StepLR", "CosineAnnealingLR")
RECIPES = ("supervised", "vae", "gan")
G_LOSSES = ("non_saturating", "minimax")
#: How far from the origin a node may sit on the canvas (either axis).
MAX_POS = 1e7
#: Longest ``topic`` or ``result`` (characters, one line).
MAX_LESSON_LINE = 300
#: Longest node id or name (characters).
MAX_NAME = 200
#: The params of the data nodes (:data:`DATA_PATH_NODES`) that hold a path to the user's
#: data. A saved project stores
#: them relative to its own folder (with "/" separators) where possible, so that a project
#: and its data move together; a loaded project holds them absolute.
DATA_PATH_PARAMS = ("path", "target_path")
DATA_PATH_NODES = ("Dataset", "Regression")


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
        clip_grad_norm: gradient clipping, off when None (the default, JSON ``null``):
            before each optimizer step every gradient is scaled by
            ``min(1, clip_grad_norm / total_norm)``, total_norm the L2 norm of all the
            parameters' gradients together, as ``torch.nn.utils.clip_grad_norm_`` (Pascanu
            et al. 2013, "On the difficulty of training recurrent neural networks"). A
            number > 0 when on. Applies to the one-optimizer recipes (supervised, VAE).
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
    clip_grad_norm: float | None = None
    lr_schedule: str = "none"
    step_size: int = 100
    gamma: float = 0.5


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
    "clip_grad_norm": (float, 0.0, 1e6, "null (off) or a number in (0, 1e6]"),
    "lr_schedule": (str, None, None, "one of none, StepLR, CosineAnnealingLR"),
    "step_size": (int, 1, 10_000_000, "a whole number ≥ 1"),
    "gamma": (float, 0.0, 1.0, "a number in (0, 1]"),
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
        topic: the course topic a lesson belongs to (``"Foundations"``, ``"Sequences and
            text"``...), grouping the lesson browser; "" for none.
        result: the lesson's stated result, one line (``"96-97% held-out"``); "" for none.
        weights: ``{"<node_id>.<param>": array}`` or None when untrained.
        path: the file it came from, or None.
        warnings: what loading noticed but did not refuse (weights that belong to another
            save, an interrupted save it finished); empty for a clean load.
    """

    name: str = "untitled"
    graph: dict = field(default_factory=lambda: {"nodes": [], "edges": []})
    training: Training = field(default_factory=Training)
    recipe: dict = field(default_factory=lambda: {"type": "supervised"})
    notes: str = ""
    topic: str = ""
    result: str = ""
    weights: dict[str, np.ndarray] | None = None
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)


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
    if path.exists() and not path.is_dir():
        raise ProjectError(f"{project}: not a regular file (a FIFO, device or socket); only "
                           "regular files are opened")
    preset = presets_dir() / f"{path.name}.json"
    if path.suffix == "" and preset.is_file():
        return preset
    raise ProjectError(f"{project}: no such file, and no preset of that name. Presets: "
                       f"{', '.join(preset_names())}")


def weights_path(path: Path) -> Path:
    return path.with_suffix(".npz")


def temp_path(path: Path) -> Path:
    """Where a save writes ``path`` before renaming it into place: ``.NAME.ext.saving``."""
    return path.with_name(f".{path.name}.saving")


# --------------------------------------------------------------------------------- load


def load(project: str | os.PathLike) -> Project:
    """Load and validate a project file (and its weights ``.npz``, if present).

    Applies the recovery rule of the module docstring: weights that are not the ones the
    JSON names are not loaded (a warning says so), and a save interrupted between its two
    renames is finished.

    Raises:
        ProjectError: unreadable file, invalid or hostile JSON, a missing or ill-typed
            field, or a bad weights file. The message names the file and the field.
    """
    path = resolve(project)
    proj, want = _load_json(path)
    proj.path = path
    wpath = weights_path(path)
    if not os.path.lexists(wpath):
        if want:
            proj.warnings.append(f"{wpath.name} is missing: the project opens with fresh "
                                 "weights")
        return proj
    weights, digest = _load_weights(wpath, want is not None)
    if want is None or digest == want:
        proj.weights = weights
        return proj
    recovered = _recover(path, digest)
    if recovered is not None:
        recovered.weights = weights
        return recovered
    proj.warnings.append(f"{wpath.name} is not the weights file this project was saved with "
                         "(a save was interrupted, or it was replaced): the project opens "
                         "with fresh weights, and the next save replaces it")
    return proj


def _load_json(path: Path) -> tuple[Project, str | None]:
    """The project in a JSON file, and the weights digest it names (or None)."""
    raw = read_json(path)
    try:
        proj = from_dict(raw, default_name=path.stem)
    except ProjectError as exc:
        raise ProjectError(f"{path}: {exc.message}", exc.field) from None
    _absolute_data_paths(proj.graph, path.parent)
    return proj, raw.get("weights_sha256")


def _data_nodes(graph: dict):
    for node in graph.get("nodes", []):
        if node.get("type") in DATA_PATH_NODES and isinstance(node.get("params"), dict):
            yield node


def _absolute_data_paths(graph: dict, folder: Path) -> None:
    """Resolve the data nodes' relative data paths against ``folder`` (in place)."""
    for node in _data_nodes(graph):
        for key in DATA_PATH_PARAMS:
            value = node["params"].get(key)
            if isinstance(value, str) and value.strip() and \
                    not os.path.isabs(os.path.expanduser(value)):
                node["params"][key] = os.path.abspath(os.path.join(folder, value))


def _relative_data_paths(graph: dict, folder: Path) -> dict:
    """A copy of ``graph`` whose data nodes' absolute data paths are relative to
    ``folder`` (when on the same drive)."""
    nodes = []
    for node in graph.get("nodes", []):
        params = node.get("params")
        if node.get("type") in DATA_PATH_NODES and isinstance(params, dict):
            params = dict(params)
            for key in DATA_PATH_PARAMS:
                value = params.get(key)
                if isinstance(value, str) and os.path.isabs(value):
                    try:
                        rel = os.path.relpath(value, os.path.abspath(folder))
                    except ValueError:  # another drive (Windows): stays absolute
                        continue
                    params[key] = Path(rel).as_posix()
            node = {**node, "params": params}
        nodes.append(node)
    return {**graph, "nodes": nodes}


def _recover(path: Path, digest: str | None) -> Project | None:
    """The project of an interrupted save whose weights are in place (its JSON temp names
    ``digest``), with the temp renamed into place; None if there is no such temp."""
    temp = temp_path(path)
    if not os.path.lexists(temp):
        return None
    try:
        proj, want = _load_json(temp)
    except ProjectError:
        return None
    if digest is None or want != digest:
        return None
    try:
        os.replace(temp, path)
        _fsync_dir(path.parent)
    except OSError:
        pass  # a read-only folder: load it anyway; the next save writes it properly
    proj.path = path
    proj.warnings.append(f"{path.name}: finished a save that was interrupted")
    return proj


def _load_weights(path: Path, digest: bool) -> tuple[dict[str, np.ndarray], str | None]:
    """The arrays of a weights file (and, with ``digest``, its SHA-256): parameters keyed
    ``"<node id>.<param>"`` and the run's state, ``TRAINING_STEP_KEY`` (0-d) and
    ``HISTORY_PREFIX + metric`` ((2, n): steps, values), as ``Session.training_state``
    writes them. Parameters must be finite."""
    weights, sha = read_npz(path, want_digest=digest)
    for key, arr in weights.items():
        if not key.startswith("@") and not np.isfinite(arr).all():
            raise ProjectError(f"{path}: weights[{key!r}] holds NaN or infinite values (a run "
                               "that diverged?). Delete the weights file to start from fresh "
                               "weights.", f"weights.{key}")
        if key == TRAINING_STEP_KEY and not (arr.shape == () and arr >= 0 and
                                             float(arr).is_integer()):
            raise ProjectError(f"{path}: weights[{key!r}] must be the step count, a whole "
                               f"number ≥ 0; got shape {arr.shape}", f"weights.{key}")
        if key.startswith(HISTORY_PREFIX) and (arr.ndim != 2 or arr.shape[0] != 2):
            raise ProjectError(f"{path}: weights[{key!r}] must be a (2, n) array of steps and "
                               f"values; got shape {arr.shape}", f"weights.{key}")
    return weights, sha


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
    known = {"schema_version", "name", "graph", "training", "recipe", "notes",
             "topic", "result", "weights_sha256"}
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
    digest = raw.get("weights_sha256")
    if digest is not None and not (isinstance(digest, str) and
                                   re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise ProjectError("weights_sha256 must be the 64 hex digits of the weights file's "
                           f"SHA-256, got {json.dumps(digest)[:80]}", "weights_sha256")

    name = _expect(raw.get("name", default_name), str, "name", "a string")
    notes = _expect(raw.get("notes", ""), str, "notes", "a string")
    lesson = {}
    for key in ("topic", "result"):
        lesson[key] = _expect(raw.get(key, ""), str, key, "a string")
        if len(lesson[key]) > MAX_LESSON_LINE or "\n" in lesson[key]:
            raise ProjectError(f"{key} must be one line of at most {MAX_LESSON_LINE} "
                               "characters", key)
    graph = _validate_graph(raw.get("graph"))
    training = _validate_training(raw.get("training", {}))
    recipe = validate_recipe(raw.get("recipe", {"type": "supervised"}))
    return Project(name=name, graph=graph, training=training, recipe=recipe, notes=notes,
                   **lesson)


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
        _check_name(node["id"], f"{where}.id")
        if node["id"] in ids:
            raise ProjectError(f"{where}.id: duplicate id {node['id']!r}", f"{where}.id")
        ids.add(node["id"])
        params = _expect(node.get("params", {}), dict, f"{where}.params", "an object")
        pos = _expect(node.get("pos", [0, 0]), list, f"{where}.pos", "a list [x, y]")
        if len(pos) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    and abs(v) <= MAX_POS for v in pos):
            raise ProjectError(f"{where}.pos must be two numbers [x, y] within ±{MAX_POS:.0e}, "
                               f"got {json.dumps(pos)[:80]}", f"{where}.pos")
        name = _expect(node.get("name", node["id"]), str, f"{where}.name", "a string")
        _check_name(name, f"{where}.name")
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


def _check_name(text: str, where: str) -> None:
    if not text.strip() or len(text) > MAX_NAME:
        raise ProjectError(f"{where} must be 1 to {MAX_NAME} characters, got "
                           f"{len(text.strip())}", where)


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


def check_training_value(key: str, value: Any) -> Any:
    """``value`` checked and converted as the project file's ``training.<key>`` would be (a
    float for the float settings, None for clipping off).

    Raises:
        KeyError: ``key`` is not a training setting.
        ProjectError: the value is refused; the message names ``training.<key>`` and the
            allowed values.
    """
    if key not in _TRAINING_RULES:
        raise KeyError(f"{key!r} is not a training setting; settings: "
                       f"{', '.join(_TRAINING_RULES)}")
    return _check_training_value(key, value, f"training.{key}")


def _check_training_value(key: str, value: Any, where: str) -> Any:
    """``value`` checked against the rule of training setting ``key``; ``where`` names it."""
    kind, low, high, what = _TRAINING_RULES[key]
    if key == "clip_grad_norm" and value is None:  # clipping off
        return None
    _expect(value, kind, where, what)
    if kind is float:
        value = float(value)
    if low is not None and not low <= value <= high:
        raise ProjectError(f"{where} must be {what}, got {value}", where)
    if key in ("lr", "clip_grad_norm") and value <= 0:
        raise ProjectError(f"{where} must be {what}, got {value}", where)
    if key == "optimizer" and value not in OPTIMIZERS:
        raise ProjectError(f"{where} must be {what}, got {value!r}", where)
    if key == "lr_schedule" and value not in LR_SCHEDULES:
        raise ProjectError(f"{where} must be {what}, got {value!r}", where)
    if key == "gamma" and value <= 0:
        raise ProjectError(f"{where} must be {what}, got {value}", where)
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
    """The JSON object for ``project`` (without weights); ``topic`` and ``result`` only when
    set."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "name": project.name,
        "notes": project.notes,
        "graph": project.graph,
        "training": asdict(project.training),
        "recipe": project.recipe,
    }
    for key in ("topic", "result"):
        if getattr(project, key, ""):
            out[key] = getattr(project, key)
    return out


def save(project: Project, path: str | os.PathLike) -> Path:
    """Write ``project`` to ``path`` (``.json``) and its weights to the ``.npz`` beside it,
    as one transaction (see the module docstring): both are written to temps and fsynced,
    then the ``.npz`` is renamed into place and the ``.json`` last. An error before the
    renames leaves the old pair intact and no temp behind. A project without weights
    removes a stale ``.npz``. Returns the JSON path.

    Raises:
        ProjectError: the project does not validate, a weight is not a finite floating-point
            array (``field`` is ``"weights.<key>"``), or the files cannot be written.
    """
    path = Path(path)
    if path.suffix != ".json":
        path = path.with_suffix(".json")
    wpath, jtemp, wtemp = weights_path(path), temp_path(path), temp_path(weights_path(path))
    weights = _check_saved_weights(project.weights)
    data = to_dict(project)
    data["graph"] = _relative_data_paths(data["graph"], path.parent)
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ProjectError(f"{path}: cannot save: a value is not plain JSON ({exc})") from None
    from_dict(json.loads(text))  # refuse to write what we could not read back
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale_temps(path)
        try:
            if weights is not None:
                digest = _write(wtemp, lambda f: np.savez(f, **weights))
                data["weights_sha256"] = digest
                text = json.dumps(data, indent=2, allow_nan=False) + "\n"
            _write(jtemp, lambda f: f.write(text.encode("utf-8")))
            if weights is not None:
                os.replace(wtemp, wpath)
            elif os.path.lexists(wpath):
                os.unlink(wpath)  # before the JSON: a crash then leaves no stale weights
            os.replace(jtemp, path)
        except BaseException:
            for temp in (wtemp, jtemp):
                Path(temp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot save: {exc}") from None
    return path


def _check_saved_weights(weights) -> dict[str, np.ndarray] | None:
    """The weights as arrays, each checked to load back: a string key and a floating-point
    array (never an object array: loading refuses pickle)."""
    if weights is None:
        return None
    out = {}
    for key, value in weights.items():
        where = f"weights[{key!r}]"
        if not isinstance(key, str) or not key or "\x00" in key:
            raise ProjectError(f"cannot save: {where}: a weight's key must be a non-empty "
                               "string", "weights")
        arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if arr.dtype.hasobject or arr.dtype.kind != "f":
            what = "object (Python objects)" if arr.dtype.hasobject else str(arr.dtype)
            raise ProjectError(f"cannot save: {where} has dtype {what}; weights must be "
                               "floating-point arrays, which is all a weights file loads",
                               f"weights.{key}")
        out[key] = arr
    return out


def _write(path: Path, write) -> str:
    """Write a file through ``write(f)``, fsync it, and return its SHA-256."""
    with open(path, "w+b") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
        f.seek(0)
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _clean_stale_temps(path: Path) -> None:
    """Remove the temps a killed save left: this scheme's ``.NAME.ext.saving`` are simply
    overwritten; the random ``.NAME.ext.XXXX.tmp`` of earlier versions are removed."""
    for name in (path.name, weights_path(path).name):
        for old in path.parent.glob(f".{_glob_escape(name)}.*.tmp"):
            old.unlink(missing_ok=True)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

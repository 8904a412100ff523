"""Compare runs: train two or more settings of one project from the same initial weights.

A student compares settings on the same problem (SGD against Adam, Xavier against He,
dropout on and off) by changing one thing and keeping everything else: the data, the batch
order and the initial weights. :func:`compare` does exactly that:

1. It builds a Session of the base project and takes its initial weights.
2. For each :class:`RunConfig` it applies the config's overrides to a copy of the project
   (:func:`apply_overrides`, validated like a project file). It gives the copy those initial
   weights: every parameter whose node id and shape the variant keeps (the rest, e.g. a layer
   made wider, or one whose ``init`` the config overrides, is initialised from the same seed).
3. It trains each copy for the same number of steps.

It returns one :class:`RunResult` per config: its curves and its final metrics. The run
table (:func:`run_table`) has one row per run: the setting, the final loss and the held-out
metric.

Override keys are dotted paths into the project:

- ``"training.<field>"``: a field of :class:`~playground.project.format.Training`, e.g.
  ``"training.optimizer": "SGD"`` or ``"training.lr": 0.1``.
- ``"recipe.<field>[.<field>]"``: a recipe field, e.g. ``"recipe.d_optimizer.lr": 1e-4``
  (a missing object on the way is created).
- ``"node.<node_id>.<param>"``: a node's param, e.g. ``"node.drop.p": 0.5``. The node id
  may be a glob (:func:`fnmatch.fnmatchcase`: ``*``, ``?``, ``[...]``) that sets the param
  on every node it matches that has it, e.g. ``"node.tanh_small*.init": "xavier_normal"``
  (tanh_small1 ... tanh_small10; the Tanh nodes between them have no init and are
  skipped); a glob that matches no node, or none with that param, is refused.
- ``"node.<node_id>.type"``: swap the node for another type with the same port names (its
  params the new type does not take are dropped), e.g. an Identity placeholder made a
  layer: ``"node.bn1.type": "BatchNorm1d", "node.bn1.num_features": 256``; or
  ``"node.act.type": "Tanh"``.

The session layer: no Qt. The UI runs :func:`compare` on a worker thread
(``playground.ui.compare``).
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from playground.graph import REGISTRY, GraphFormatError, GraphModel
from playground.project import Project
from playground.project.format import ProjectError, from_dict, to_dict

from .session import Session

__all__ = ["RunConfig", "RunResult", "apply_overrides", "compare", "run_table",
           "held_out_metric", "CompareCancelled"]

#: At most this many runs in one comparison (each is a full training run).
MAX_RUNS = 8


class CompareCancelled(Exception):
    """The progress callback asked to stop; carries the runs finished so far."""

    def __init__(self, results: list["RunResult"]):
        super().__init__(f"stopped after {len(results)} run(s)")
        self.results = results


@dataclass(frozen=True)
class RunConfig:
    """One setting to compare.

    Attributes:
        label: the name the curves and the run table show (e.g. ``"Adam lr=0.01"``).
        overrides: ``{dotted_key: value}`` applied to the base project (see the module doc);
            empty for the base project as it is.
    """

    label: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """One finished run.

    Attributes:
        config: the :class:`RunConfig` it ran.
        history: ``{metric: (steps, values)}`` float64 arrays, as in a Snapshot.
        final: the metrics after the last step, with the held-out evaluation (``step``,
            ``loss``, ``val_loss``, ``val_accuracy``... as ``Session.train`` returns).
        seconds: wall-clock training time, in seconds.
        extras: what :func:`compare`'s ``collect`` took from the trained session (a race's
            path: :func:`playground.session.race.race`); empty without one.
    """

    config: RunConfig
    history: Mapping[str, tuple[np.ndarray, np.ndarray]]
    final: Mapping[str, float]
    seconds: float
    extras: Mapping[str, Any] = field(default_factory=dict)


def _set_path(obj: dict, keys: list[str], value: Any, key: str) -> None:
    for k in keys[:-1]:
        nxt = obj.get(k)
        if nxt is None:
            nxt = obj[k] = {}
        elif not isinstance(nxt, dict):
            raise ProjectError(f"{key}: {k!r} is not an object, so it has no field "
                               f"{keys[-1]!r}", key)
        obj = nxt
    obj[keys[-1]] = value


def _swap_type(node: dict, new_type: Any, key: str) -> None:
    """Make the file-format ``node`` a ``new_type``, keeping the params that type takes."""
    if new_type not in REGISTRY:
        raise ProjectError(f"{key}: {new_type!r} is not a node type (e.g. Identity, "
                           "BatchNorm1d, ReLU, Tanh)", key)
    new = REGISTRY[new_type]
    if node.get("type") in REGISTRY:
        old = REGISTRY[node["type"]]
        if ([p.name for p in old.inputs], [p.name for p in old.outputs]) != \
                ([p.name for p in new.inputs], [p.name for p in new.outputs]):
            raise ProjectError(f"{key}: a {old.type} cannot become a {new.type}: their "
                               "ports differ, so the node's wires would not fit", key)
    names = {p.name for p in new.params}
    node["type"] = new_type
    node["params"] = {k: v for k, v in node.get("params", {}).items() if k in names}


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _matched_nodes(nodes: list[dict], pattern: str, key: str) -> list[dict]:
    """The file-format nodes whose id is ``pattern``, or matches it when it is a glob.

    Raises:
        ProjectError: no node matches (the message lists the node ids).
    """
    if _is_glob(pattern):
        found = [n for n in nodes if fnmatch.fnmatchcase(str(n.get("id", "")), pattern)]
    else:
        found = [n for n in nodes if n.get("id") == pattern]
    if not found:
        what = (f"no node id matches the glob {pattern!r}" if _is_glob(pattern)
                else f"the graph has no node {pattern!r}")
        ids = _some_ids([str(n.get("id", "?")) for n in nodes], pattern)
        raise ProjectError(f"{key}: {what}; nodes: {ids}", key)
    return found


#: At most this many node ids are listed in a message (a ResNet has hundreds).
LISTED_IDS = 12


def _some_ids(ids: list[str], near: str) -> str:
    """``"a, b, c"``, or for a long list the :data:`LISTED_IDS` ids most like ``near``
    (difflib's ratio) and how many others there are."""
    if len(ids) <= LISTED_IDS:
        return ", ".join(ids)
    close = difflib.get_close_matches(near.replace("*", ""), ids, n=LISTED_IDS, cutoff=0.0)
    return f"{', '.join(close)} and {len(ids) - len(close)} others"


def _takes(node: dict, param: str) -> bool:
    """Whether ``node``'s type has ``param`` (a node of an unknown type is left to the
    graph's own validation, which names it)."""
    spec = REGISTRY[node["type"]] if node.get("type") in REGISTRY else None
    return spec is None or param in {p.name for p in spec.params}


def _taking_param(nodes: list[dict], param: str, key: str, glob: bool) -> list[dict]:
    """The ``nodes`` that take ``param``. A glob sets it on those of its nodes that have it
    (``tanh*.init`` skips the Tanh activations between the Linear layers); a node named
    exactly, or a glob none of whose nodes has the param, is refused.

    Raises:
        ProjectError: no node to set (names the node types and their params).
    """
    found = [n for n in nodes if _takes(n, param)]
    if found and (glob or len(found) == len(nodes)):
        return found
    types = sorted({n["type"] for n in nodes if n.get("type") in REGISTRY})
    params = "; ".join(f"{t}: {', '.join(p.name for p in REGISTRY[t].params) or 'none'}"
                       for t in types)
    if glob:
        ids = _some_ids([str(n.get("id")) for n in nodes], key)
        raise ProjectError(f"{key}: none of the nodes the glob matches ({ids}) has a param "
                           f"{param!r}; their params: {params}", key)
    raise ProjectError(f"{key}: node {nodes[0].get('id')!r} ({types[0]}) has no param "
                       f"{param!r}; its params: {params.split(': ', 1)[1]}", key)


def apply_overrides(project: Project, overrides: Mapping[str, Any]) -> Project:
    """A copy of ``project`` with ``overrides`` applied and validated (weights not copied).

    Args:
        project: the base project; it is not changed.
        overrides: ``{dotted_key: value}``, keys as in the module doc.

    Raises:
        ProjectError: a key names no field (the message names the key and what it may be),
            a node glob matches no node or none with that param, a node has no such
            param, or a value is
            refused by the project's own validation (the message names the field, e.g.
            ``training.lr``).
    """
    raw = copy.deepcopy(to_dict(project))
    for key, value in overrides.items():
        parts = str(key).split(".")
        head = parts[0]
        if head == "training" and len(parts) == 2:
            if parts[1] not in raw["training"]:
                raise ProjectError(f"{key}: training has no field {parts[1]!r}; fields: "
                                   f"{', '.join(raw['training'])}", key)
            raw["training"][parts[1]] = value
        elif head == "recipe" and len(parts) >= 2:
            _set_path(raw["recipe"], parts[1:], value, key)
        elif head == "node" and len(parts) == 3:
            nodes = _matched_nodes(raw["graph"]["nodes"], parts[1], key)
            if parts[2] == "type":  # no node type has a param called "type"
                for node in nodes:
                    _swap_type(node, value, key)
            else:
                for node in _taking_param(nodes, parts[2], key, glob=_is_glob(parts[1])):
                    node.setdefault("params", {})[parts[2]] = value
        else:
            raise ProjectError(f"{key!r} is not a setting: use 'training.<field>', "
                               "'recipe.<field>' or 'node.<node id>.<param>'", str(key))
    out = from_dict(raw, project.name)
    try:
        GraphModel.from_dict(out.graph)  # the node params' own ranges
    except GraphFormatError as exc:
        raise ProjectError(str(exc), getattr(exc, "field", "") or "graph") from None
    out.path = project.path
    return out


def compare(project: Project, configs: Sequence[RunConfig], steps: int | None = None,
            progress: Callable[[int, int, int, int], bool | None] | None = None,
            collect: Callable[[Session], Mapping[str, Any]] | None = None
            ) -> list[RunResult]:
    """Train each of ``configs`` on ``project`` from the same initial weights.

    Args:
        project: the base project. Its own weights are the starting point when it has them,
            else the weights its seed initialises.
        configs: 1 to :data:`MAX_RUNS` settings; labels must be distinct.
        steps: training steps per run (≥ 1); None = the project's ``training.steps``.
        progress: called after every step as ``progress(run_index, step, steps, n_runs)``;
            returning True stops (raises :class:`CompareCancelled` with the finished runs).
        collect: called with each run's session after its training; what it returns is
            the run's :attr:`RunResult.extras`.

    Returns:
        One :class:`RunResult` per config, in order.

    Raises:
        ValueError: no configs, too many, duplicate labels, or ``steps`` < 1.
        ProjectError: a config's override is refused (names the run and the field).
        SessionError: a variant cannot be trained (names the run).
        CompareCancelled: ``progress`` asked to stop.
    """
    if not configs:
        raise ValueError("compare needs at least one run configuration")
    if len(configs) > MAX_RUNS:
        raise ValueError(f"compare takes at most {MAX_RUNS} runs, got {len(configs)}")
    labels = [c.label for c in configs]
    dup = next((lab for i, lab in enumerate(labels) if lab in labels[:i]), None)
    if dup is not None:
        raise ValueError(f"two runs are labelled {dup!r}: give each run its own label")
    n_steps = project.training.steps if steps is None else int(steps)
    if n_steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {n_steps}")
    variants = []
    for config in configs:  # validate every config before training any
        try:
            variants.append(apply_overrides(project, config.overrides))
        except ProjectError as exc:
            raise ProjectError(f"run {config.label!r}: {exc}", exc.field) from None
    initial = project.weights or Session(project, timeline=False).weights()
    results: list[RunResult] = []
    for i, (config, variant) in enumerate(zip(configs, variants)):
        redrawn = _redrawn_nodes(config.overrides, project.graph)  # their own init
        variant.weights = {k: np.array(v, copy=True) for k, v in initial.items()
                           if not k.startswith("@")  # the parameters, not the old run
                           and k.rsplit(".", 1)[0] not in redrawn}
        session = Session(variant, timeline=False)
        stop = False

        def on_step(metrics, i=i, session=session):
            nonlocal stop
            if progress is not None and progress(i, session.step_count, n_steps, len(configs)):
                stop = True
            return stop

        t0 = time.perf_counter()
        final = session.train(n_steps, on_step)
        seconds = time.perf_counter() - t0
        extras = dict(collect(session)) if collect is not None else {}
        results.append(RunResult(config, session.history.copy_arrays(), dict(final), seconds,
                                 extras))
        if stop:
            raise CompareCancelled(results)
    return results


def _redrawn_nodes(overrides: Mapping[str, Any], graph: Mapping[str, Any]) -> set[str]:
    """Ids of the nodes of ``graph`` (file format) whose ``init`` or ``init_std`` the
    overrides change, a glob's nodes included ("Xavier against He"): they start from the
    weights their new init draws (from the same seed), not the base project's."""
    ids = [str(n.get("id", "")) for n in graph.get("nodes", [])]
    out = set()
    for key in overrides:
        parts = str(key).split(".")
        if len(parts) == 3 and parts[0] == "node" and parts[2] in ("init", "init_std"):
            pattern = parts[1]
            if _is_glob(pattern):
                out.update(i for i in ids if fnmatch.fnmatchcase(i, pattern))
            else:
                out.add(pattern)
    return out


def held_out_metric(final: Mapping[str, float]) -> tuple[str, float] | None:
    """The held-out metric a run is judged by: ``val_accuracy`` when there is one, else
    ``val_perplexity``, else ``val_loss``; None when the run has no held-out metric."""
    for name in ("val_accuracy", "val_perplexity", "val_loss"):
        if name in final and final[name] is not None and math.isfinite(final[name]):
            return name, float(final[name])
    return None


def run_table(results: Sequence[RunResult]) -> tuple[list[str], list[list[Any]]]:
    """The run table: header and one row per run, ``[label, setting, final loss, held-out
    metric name, held-out value, held-out loss, seconds]``. The setting is the overrides
    written as ``key=value`` pairs (``"(as saved)"`` for none). The held-out loss (NaN
    without one) shows what a held-out accuracy hides, e.g. weight decay making a net less
    overconfident."""
    header = ["run", "setting", "final loss", "held-out metric", "held-out", "held-out loss",
              "seconds"]
    rows = []
    for r in results:
        setting = ", ".join(f"{k}={v}" for k, v in r.config.overrides.items()) or "(as saved)"
        held = held_out_metric(r.final)
        rows.append([r.config.label, setting, float(r.final.get("loss", float("nan"))),
                     held[0] if held else "", held[1] if held else float("nan"),
                     float(r.final.get("val_loss", float("nan"))), round(r.seconds, 3)])
    return header, rows

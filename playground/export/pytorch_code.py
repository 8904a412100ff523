"""Export a project as PyTorch code: ``model.py``, ``weights.npz`` and a ``check.py``.

``playground export PROJECT --format pytorch -o DIR`` writes into DIR:

* ``model.py``: an ``nn.Module`` whose submodules are named after the canvas nodes and
  whose ``forward()`` has one line per node, in the graph's topological order. Blocks
  (ResNet blocks, positional encodings, the user's groups) become their own ``nn.Module``
  classes, one class per distinct inside; a block's params (``in_channels``, ``planes``,
  ``stride``) become its constructor's arguments where the inside depends on them.
  torch.nn built-ins are used wherever one exists, with PyTorch's parameter names and
  layouts, so the state dict transfers unchanged. Random nodes (a VAE's Reparameterize, a
  GAN's NoiseSource) stay in ``forward()``; the deterministic parts around them are
  methods (``encode``/``decode``) or, for a GAN recipe, the ``generator`` and
  ``discriminator`` submodules. Loss nodes are not part of the module: model.py names them
  in a comment.
* ``weights.npz``: the state dict (parameters and BatchNorm buffers) under the generated
  module's keys; ``load_weights()`` in model.py reads it with ``np.load(...,
  allow_pickle=False)`` and ``torch.from_numpy``.
* ``check_inputs.npz`` / ``check_outputs.npz``: a small batch and the engine's outputs on it
  (eval mode), and ``check.py``, which runs model.py on the inputs, prints the largest
  difference and exits with status 1 above 1e-5 of the output's scale (max(1, max |y|):
  float32 sums in another order differ by a few ulps of the largest value).

The exporter never imports torch; only the generated code does. Its parts: node names and
scopes in :mod:`.pytorch_scopes`, one mapping per node type in :mod:`.pytorch_nodes`, the
class writer in :mod:`.pytorch_writer`; this module builds the scopes and writes the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from playground.engine import Tensor, manual_seed, no_grad
from playground.graph import GraphModel, compile
from playground.graph import blocks as _blocks  # noqa: F401  (registers the block types)
from playground.graph.composite import Subgraph
from playground.graph.nodes.regression import DATA_SOURCES, source_dataset
from playground.project.format import Project

from .pytorch_nodes import BARE_PARAMETERS, HELPERS, LOSS_CLASSES, MAPPINGS, RANDOM_TYPES, lit
from .pytorch_scopes import (Item, Namer, Ref, Scope, _block_scope, _ports, _var, class_name,
                             identifier)
from .pytorch_writer import Writer

__all__ = ["export_pytorch", "PyTorchExportError", "TOLERANCE"]

#: check.py fails above this max difference between torch's outputs and ours, in units of
#: each output's scale max(1, max |y|) (an absolute difference for outputs within ±1).
TOLERANCE = 1e-5
#: Data nodes (Dataset, Regression, GradientNoise): each output port (x, target) the
#: model reads is a forward argument of its name.
DATA_TYPES = tuple(DATA_SOURCES)
SOURCE_TYPES = (*DATA_TYPES, "Input")


class PyTorchExportError(ValueError):
    """The project cannot be written as PyTorch code; the message says why (node types
    without a mapping, a graph in error) and what to do."""


# ---------------------------------------------------------------------------- the model


def _unmapped(model: GraphModel) -> dict[str, list[str]]:
    """``{node type: [node names]}`` for every node (inside blocks too) without a mapping."""
    out: dict[str, list[str]] = {}

    def visit(type_name: str, name: str, sub: Subgraph | None):
        spec = model.registry[type_name]
        if sub is not None:
            for n in sub.nodes:
                visit(n.type, f"{name}/{n.name}", n.subgraph)
        elif (type_name not in MAPPINGS and type_name not in SOURCE_TYPES
              and not spec.is_loss):
            out.setdefault(type_name, []).append(name)

    for node in model.nodes():
        visit(model.spec(node).type, model.name(node), model.subgraph(node))
    return out


def _model_of(project: Project) -> GraphModel:
    model = GraphModel.from_dict(project.graph)
    while model.groups():  # open blocks close: each becomes its own class
        inner = next(g for g in model.groups() if not model.child_groups(g))
        model.close_composite(inner)
    errors = model.errors()
    if errors:
        node, message = next(iter(errors.items()))
        raise PyTorchExportError(f"cannot export {project.name!r}: the graph has errors. "
                                 f"{model.name(node)}: {message} Fix them on the canvas first.")
    bad = _unmapped(model)
    if bad:
        listed = "; ".join(f"{t} ({', '.join(names)})" for t, names in bad.items())
        raise PyTorchExportError(
            f"cannot export {project.name!r} to PyTorch: no PyTorch mapping for the node "
            f"type{'s' if len(bad) > 1 else ''} {listed}. Replace "
            f"{'them' if len(bad) > 1 else 'it'} with nodes from the palette that have one, "
            "or export to ONNX.")
    return model


def _top_scope(project: Project, model: GraphModel) -> tuple[Scope, dict, list[str]]:
    order = model.topological_order()
    source_ids = [n for n in order if model.spec(n).type in SOURCE_TYPES]
    losses = [n for n in order if model.spec(n).is_loss]
    body = [n for n in order if n not in source_ids and n not in losses]
    namer = Namer()
    sources: dict[str, tuple[str, str]] = {}
    arg_of: dict[tuple[str, str], str] = {}
    for n in body:
        for e in model.in_edges(n):
            if e.src in source_ids and (e.src, e.src_port) not in arg_of:
                port = e.src_port if model.spec(e.src).type in DATA_TYPES else "x"
                text = port if len(source_ids) == 1 else f"{e.src}_{port}"
                arg = namer(text)
                arg_of[(e.src, e.src_port)] = arg
                sources[arg] = (e.src, e.src_port)
    states = model.states()
    items = []
    for n in body:
        inputs = {}
        for e in model.in_edges(n):
            inputs[e.dst_port] = (Ref(None, arg_of[(e.src, e.src_port)]) if e.src in source_ids
                                  else Ref(e.src, e.src_port))
        sub = model.subgraph(n)
        child = None
        if sub is not None:
            child = _block_scope(model, model.spec(n), model.name(n), model.params(n), sub,
                                 states[n], n)
        ports = _ports(model, model.spec(n).type, states[n], sub)
        if child is not None and not sub.outputs:
            ports = tuple(name for name, _ in child.outputs)
        items.append(Item(n, n, model.spec(n).type, model.name(n), model.params(n), inputs,
                          ports, child))
    outputs: list[tuple[str, Ref]] = []
    seen = set()
    for n in body + losses:
        if n in losses:
            refs = [Ref(e.src, e.src_port) for e in model.in_edges(n) if e.src in body]
        elif not model.out_edges(n):
            item = next(i for i in items if i.key == n)
            refs = [Ref(n, item.ports[0])] if item.ports else []
        else:
            refs = []
        for ref in refs:
            if ref not in seen:
                seen.add(ref)
                outputs.append(("", ref))
    title = class_name(project.name)
    doc = f"The network of {project.name!r}, exported from DL Playground."
    scope = Scope(title, list(sources), items, outputs, doc)
    scope.arg_vars = {a: a for a in sources}
    return scope, sources, losses


def _extract(scope: Scope, keys: list[str], title: str) -> Item:
    """Move the items ``keys`` of ``scope`` into a part (a submodule of their own) and put
    one item for it in their place. Returns that item."""
    members = [i for i in scope.items if i.key in keys]
    inside = {i.key for i in members}
    bindings: dict[Ref, str] = {}
    namer = Namer()
    for item in members:
        for port, ref in list(item.inputs.items()):
            if ref.node not in inside:
                if ref not in bindings:
                    text = (ref.port if ref.node is None else
                            ref.port.split(".")[0] if ref.node.startswith("@") else ref.node)
                    bindings[ref] = namer(text)
                item.inputs[port] = Ref(None, bindings[ref])
    used_outside = []
    for other in scope.items:
        if other.key not in inside:
            used_outside += [r for r in other.inputs.values() if r.node in inside]
    used_outside += [r for _, r in scope.outputs if r.node in inside]
    outs: list[Ref] = []
    for ref in used_outside:
        if ref not in outs:
            outs.append(ref)
    part = Scope(title, list(bindings.values()), members,
                 [(f"{r.node}.{r.port}", r) for r in outs],
                 f"The {title.lower()} of the GAN: the nodes the recipe gives it.")
    part.bindings = {arg: ref for ref, arg in bindings.items()}
    key = "@" + title.lower()
    item = Item(key, key, "@part", title.lower(), {}, {a: r for a, r in part.bindings.items()},
                tuple(f"{r.node}.{r.port}" for r in outs), part)
    at = scope.items.index(members[0])
    scope.items = [i for i in scope.items if i.key not in inside]
    scope.items.insert(at, item)
    remap = {r: Ref(key, f"{r.node}.{r.port}") for r in outs}
    for other in scope.items:
        other.inputs = {p: remap.get(r, r) for p, r in other.inputs.items()}
    scope.outputs = [(n, remap.get(r, r)) for n, r in scope.outputs]
    return item


def _name_scope(scope: Scope) -> None:
    """Give every argument, submodule and output variable of ``scope`` (and the scopes
    inside it) its Python name."""
    namer = Namer()
    if not scope.arg_vars:
        scope.arg_vars = {a: namer(a) for a in scope.args}
    else:
        for a in scope.arg_vars.values():
            namer.taken.add(a)
    for ctor in scope.ctor_params:
        namer.taken.add(ctor)
    used: dict[str, set[str]] = {}
    for item in scope.items:
        for ref in item.inputs.values():
            if ref.node is not None:
                used.setdefault(ref.node, set()).add(ref.port)
    for _, ref in scope.outputs:
        if ref.node is not None:
            used.setdefault(ref.node, set()).add(ref.port)
    for item in scope.items:
        item.attr = namer(item.key.lstrip("@"))
        ports = [p for p in item.ports if p in used.get(item.key, ())]
        if item.type == "@part" or (len(ports) > 1 and all("." in p for p in ports)):
            # outputs named "<inner node>.<port>" are named after the inner node
            item.vars = {p: namer(p.split(".")[0]) for p in ports}
        elif len(ports) <= 1:
            port = ports[0] if ports else (item.ports[0] if item.ports else "")
            item.vars = {port: item.attr} if port else {}
        else:
            item.vars = {p: namer(f"{item.attr}_{p.split('.')[-1]}") for p in ports}
        if item.scope is not None:
            _name_scope(item.scope)


# ------------------------------------------------------------------------------ stages


def _stages(scope: Scope) -> list[tuple[str, list[Item], list[str], list[str]]]:
    """Split the top scope at its random nodes: the deterministic runs between them become
    methods (two: ``encode`` and ``decode``), which a check can run on saved values."""
    level: dict[str, int] = {}
    for item in scope.items:
        ups = [scope.item(r.node) for r in item.inputs.values() if r.node is not None]
        level[item.key] = max([level[u.key] + (u.type in RANDOM_TYPES) for u in ups],
                              default=0)
    groups: dict[int, list[Item]] = {}
    for item in scope.items:
        if item.type not in RANDOM_TYPES:
            groups.setdefault(level[item.key], []).append(item)
    runs = [groups[k] for k in sorted(groups)]
    names = ["encode", "decode"] if len(runs) == 2 else [f"stage{k + 1}" for k in range(len(runs))]
    out = []
    final = {r for _, r in scope.outputs}
    for name, members in zip(names, runs):
        keys = {i.key for i in members}
        m_args: list[str] = []
        for item in members:
            for ref in item.inputs.values():
                if ref.node not in keys:
                    v = _var(scope, ref)
                    if v not in m_args:
                        m_args.append(v)
        m_outs: list[str] = []
        for item in members:
            for port, var in item.vars.items():
                ref = Ref(item.key, port)
                needed = ref in final or any(
                    ref in other.inputs.values() for other in scope.items
                    if other.key not in keys)
                if needed and var not in m_outs:
                    m_outs.append(var)
        out.append((name, members, m_args, m_outs))
    return out


# ------------------------------------------------------------------------------ export


def _weight_paths(scope: Scope, prefix: str, out: dict[str, str]) -> None:
    for item in scope.items:
        if item.scope is not None:
            _weight_paths(item.scope, f"{prefix}{item.attr}.", out)
        else:
            out[item.path] = prefix + item.attr


def _state(program, paths: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The program's parameters and buffers under the generated module's keys. A node the
    module leaves out (a loss; word2vec's NegativeSamplingLoss holds the context table) keeps
    its weights out of weights.npz too."""
    state = {}
    for call in program.calls:
        if call.module is None or call.node_id not in paths:
            continue
        bare = BARE_PARAMETERS.get(call.spec.type)
        for name, value in call.module.state_dict().items():
            key = paths[call.node_id] if name == bare else f"{paths[call.node_id]}.{name}"
            state[key] = np.ascontiguousarray(value)
    return state


def _feeds(model: GraphModel, program, batch_size: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    for node in program.sources:
        spec = model.spec(node)
        params = model.params(node)
        if spec.type in DATA_TYPES:
            ds = source_dataset(spec.type, params)
            split = ds.val if ds.val is not None and len(ds.val.input) >= batch_size \
                else ds.train
            feeds[node] = {"x": Tensor(split.input[:batch_size]),
                           "target": Tensor(split.target[:batch_size])}
        else:
            shape = params["shape"] if isinstance(params["shape"], tuple) else (params["shape"],)
            if params["dtype"] == "int64":
                x = rng.integers(0, 2, size=(batch_size, *shape)).astype(np.int64)
            else:
                x = rng.standard_normal((batch_size, *shape)).astype(np.float32)
            feeds[node] = {"output": Tensor(x)}
    return feeds


def _trace_value(scope: Scope, ref: Ref, trace, sources, outer=None) -> np.ndarray:
    if ref.node is None:
        if scope.bindings:
            return _trace_value(outer, scope.bindings[ref.port], trace, sources)
        node, port = sources[ref.port]
        return trace[node][port].data
    item = scope.item(ref.node)
    if item.scope is not None:  # a block's or a part's output: the node inside
        inner = dict(item.scope.outputs)[ref.port]
        return _trace_value(item.scope, inner, trace, sources, scope)
    return trace[item.path][ref.port].data


def export_pytorch(project: Project, out_dir: Path,
                   weights: dict[str, np.ndarray] | None = None,
                   batch_size: int = 4) -> Path:
    """Write ``project`` as PyTorch code into ``out_dir`` (created if missing): model.py,
    weights.npz, check.py, check_inputs.npz and check_outputs.npz (see the module doc).

    Args:
        project: the project to export.
        out_dir: the folder to write.
        weights: ``{"<node_id>.<param>": array}`` (parameters, and BatchNorm buffers if
            present); None takes the project's saved weights, or fresh ones drawn from
            ``training.seed`` as a new session would.
        batch_size: examples N in the check batch.

    Returns the folder written.

    Raises:
        PyTorchExportError: a node type has no PyTorch mapping (all such types are listed
            in one message), or the graph has errors.
    """
    out_dir = Path(out_dir)
    model = _model_of(project)
    manual_seed(project.training.seed)
    program = compile(model)
    state = weights if weights is not None else project.weights
    if state:
        program.load_matching(state)
        for call in program.calls:  # BatchNorm's running statistics, when given
            if call.module is not None:
                for name, buf in call.module.named_buffers():
                    key = f"{call.node_id}.{name}"
                    if key in state and np.shape(state[key]) == buf.data.shape:
                        buf.data[...] = state[key]
    program.eval()

    top, sources, losses = _top_scope(project, model)
    recipe = project.recipe or {}
    parts = []
    if recipe.get("type") == "gan":
        for role in ("generator", "discriminator"):
            keys = [k for k in recipe.get(role, []) if any(i.key == k for i in top.items)]
            if keys:
                parts.append(_extract(top, keys, role.capitalize()))
    _name_scope(top)
    stages = []
    if not parts and any(i.type in RANDOM_TYPES for i in top.items):
        stages = _stages(top)

    writer = Writer()
    for item in top.items:
        if item.scope is not None:
            item.scope.class_name = writer.class_for(item.scope)
    notes = _loss_notes(model, losses, top, sources)
    body = writer.body(top, stages, notes)
    top.class_name = writer.names(top.title) if top.title not in writer.names.taken \
        else writer._numbered(top.title)
    writer.classes.append((top.class_name, body.replace("@CLASS@", top.class_name)))

    paths: dict[str, str] = {}
    _weight_paths(top, "", paths)
    arrays = _state(program, paths)

    # the checks: each deterministic entry point, its inputs and our outputs
    with no_grad():
        trace = program.run(_feeds(model, program, batch_size, project.training.seed))
    entries: list[tuple[str, list[str], list[str]]] = []
    check_in: dict[str, np.ndarray] = {}
    check_out: dict[str, np.ndarray] = {}
    var_ref = _var_refs(top)
    if parts:
        for part in parts:
            scope = part.scope
            args = [scope.arg_vars[a] for a in scope.args]
            outs = [_var(scope, r) for _, r in scope.outputs]
            for a in scope.args:
                check_in[f"{part.attr}.{scope.arg_vars[a]}"] = _trace_value(
                    top, scope.bindings[a], trace, sources)
            for (_, r), name in zip(scope.outputs, outs):
                check_out[f"{part.attr}.{name}"] = _trace_value(scope, r, trace, sources, top)
            entries.append((part.attr, args, outs))
    elif stages:
        for method, _, m_args, m_outs in stages:
            for a in m_args:
                check_in[f"{method}.{a}"] = _trace_value(top, var_ref[a], trace, sources)
            for o in m_outs:
                check_out[f"{method}.{o}"] = _trace_value(top, var_ref[o], trace, sources)
            entries.append((method, m_args, m_outs))
    else:
        args = [top.arg_vars[a] for a in top.args]
        outs = [_var(top, r) for _, r in top.outputs]
        for a in args:
            check_in[f"forward.{a}"] = _trace_value(top, Ref(None, a), trace, sources)
        for (_, r), name in zip(top.outputs, outs):
            check_out[f"forward.{name}"] = _trace_value(top, r, trace, sources)
        entries.append(("forward", args, outs))

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.py").write_text(_model_file(project, writer, top), encoding="utf-8")
    (out_dir / "check.py").write_text(_check_file(top.class_name, entries), encoding="utf-8")
    np.savez(out_dir / "weights.npz", **arrays)
    np.savez(out_dir / "check_inputs.npz", **{k: np.ascontiguousarray(v)
                                              for k, v in check_in.items()})
    np.savez(out_dir / "check_outputs.npz", **{k: np.ascontiguousarray(v)
                                               for k, v in check_out.items()})
    return out_dir


def _var_refs(scope: Scope) -> dict[str, Ref]:
    refs = {v: Ref(None, a) for a, v in scope.arg_vars.items()}
    for item in scope.items:
        for port, var in item.vars.items():
            refs[var] = Ref(item.key, port)
    return refs


def _loss_notes(model: GraphModel, losses: list[str], top: Scope, sources) -> list[str]:
    if not losses:
        return []
    notes = ["The losses of the canvas (computed outside the module):"]
    by_source = {v: k for k, v in sources.items()}
    var_of = {}
    for item in top.items:
        for port, var in item.vars.items():
            var_of[(item.path, port)] = var
    for node in losses:
        spec = model.spec(node)
        cls = LOSS_CLASSES.get(spec.type, spec.type)
        params = {k: v for k, v in model.params(node).items()}
        args = ", ".join(f"{k}={lit(v)}" for k, v in params.items()
                         if not (k == "reduction" and v == "mean"))
        wired = {}
        for e in model.in_edges(node):
            name = by_source.get((e.src, e.src_port)) or var_of.get((e.src, e.src_port)) or \
                (e.src_port if model.spec(e.src).type in SOURCE_TYPES else e.src)
            wired[e.dst_port] = name
        order = [p.name for p in spec.inputs if p.name in wired]
        if cls.startswith("nn."):
            call_text = f"{cls}({args})({', '.join(wired[p] for p in order)})"
        else:  # a formula in the ports' names: say which values they are
            call_text = cls + "".join(f"  [{p} = {wired[p]}]" for p in order
                                      if wired[p] != p)
        notes.append(f"  {identifier(node)} = {call_text}")
    return notes


def _model_file(project: Project, writer: Writer, top: Scope) -> str:
    head = [f'"""{project.name}: exported from DL Playground as PyTorch code.', "",
            f"    model = load_weights({top.class_name}(), \"weights.npz\")", "",
            "Submodules are named after the nodes of the canvas; forward() has one line per "
            "node,", 'in the order the graph runs them. check.py compares its outputs with '
            'the app\'s."""', "", "from pathlib import Path", ""]
    if "sinusoidal_table" in writer.helpers:
        head += ["import math", ""]
    head += ["import numpy as np", "import torch"]
    if writer.uses_functional:
        head.append("import torch.nn.functional as F")
    head += ["from torch import nn", "", "", ""]
    parts = ["\n".join(head)]
    for name in sorted(writer.helpers):
        parts.append(HELPERS[name] + "\n\n")
    for _, source in writer.classes:
        parts.append(source + "\n\n")
    parts.append('''\
def load_weights(model: nn.Module, path="weights.npz") -> nn.Module:
    """Copy the exported weights into ``model`` (every key must match) and return it."""
    with np.load(path, allow_pickle=False) as arrays:
        state = {key: torch.from_numpy(arrays[key]) for key in arrays.files}
    model.load_state_dict(state)
    return model


if __name__ == "__main__":
    model = load_weights(%s(), Path(__file__).with_name("weights.npz"))
    print(model)
''' % top.class_name)
    return "".join(parts)


def _check_file(class_name: str, entries) -> str:
    calls = "{\n" + "".join(f"    {m!r}: ({tuple(a)!r}, {tuple(o)!r}),\n"
                            for m, a, o in entries) + "}"
    return f'''\
"""Run model.py on check_inputs.npz and compare with DL Playground's outputs in
check_outputs.npz. Prints the largest difference of each output, and exits with status 1
when one is above {TOLERANCE:g} of the output's scale max(1, max |y|) (float32 sums in
another order differ by a few ulps of the largest value)."""

import sys
from pathlib import Path

import numpy as np
import torch

from model import {class_name}, load_weights

HERE = Path(__file__).resolve().parent
TOLERANCE = {TOLERANCE!r}
# method of the model: (its arguments, its outputs), as saved in the .npz files
CALLS = {calls}


def main() -> int:
    model = load_weights({class_name}(), HERE / "weights.npz").eval()
    inputs = np.load(HERE / "check_inputs.npz", allow_pickle=False)
    expected = np.load(HERE / "check_outputs.npz", allow_pickle=False)
    worst = 0.0
    with torch.no_grad():
        for method, (arg_names, out_names) in CALLS.items():
            args = [torch.from_numpy(inputs[f"{{method}}.{{name}}"]) for name in arg_names]
            got = getattr(model, method)(*args)
            if not isinstance(got, tuple):
                got = (got,)
            for name, value in zip(out_names, got):
                want = expected[f"{{method}}.{{name}}"]
                diff = float(np.max(np.abs(value.numpy() - want)))
                scale = max(1.0, float(np.max(np.abs(want))))
                print(f"{{method}}: {{name}} max |torch - playground| = {{diff:.3g}}"
                      + (f" (scale {{scale:.3g}})" if scale > 1.0 else ""))
                worst = max(worst, diff / scale)
    print(f"max difference {{worst:.3g}} ({{'ok' if worst <= TOLERANCE else 'FAILED'}}, "
          f"tolerance {{TOLERANCE:g}})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
'''

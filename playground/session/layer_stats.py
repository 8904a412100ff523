"""Per-layer signal propagation: how activations and gradients change with depth.

For a deep net the question is whether the signal survives the trip through the layers:
forward, the spread of each layer's activations (Glorot & Bengio 2010, fig. 3 and 6), and
backward, the size of each layer's weight gradient (the "vanishing gradient", Hochreiter
1991; Bengio et al. 1994). :func:`layer_stats` measures both on one batch, for each
*layer* (Linear, Conv2d, ConvTranspose2d: a node with a weight of 2 or more dims and an
``init`` param), in execution order:

* ``act_std``, ``act_mean``: the standard deviation and mean over the batch and units of
  the layer's *activation*: the output of the activation node it feeds (its only consumer,
  a ReLU, Tanh, Sigmoid...), else its own output;
* ``saturated``: for a Sigmoid or Tanh activation the fraction of values within 1% of its
  range from a bound (there its slope is below about 0.01 and 0.04, so almost no gradient
  passes; see :func:`~playground.session.health.saturated_fraction`); for a ReLU the
  fraction of values at 0 (no gradient passes either); NaN for others;
* ``grad_norm``: ``||dL/dW||``, the Frobenius norm of the loss's gradient with respect to
  the layer's weight, L the sum of the graph's losses, as training would compute it.

Layers are grouped by the loss they lead to: a graph with several separate nets side by
side (``activations_saturation``: one per activation; ``resnet_vs_plain``: a plain and a
residual net) gets one :class:`LayerGroup` per net, named after its loss node, so that the
Layers view draws them as curves against each other.

The batch is the views' fixed batch (:func:`~playground.session.views.view_batch`), run
in eval mode; the parameters' own ``.grad`` (what the optimizer will read) is left as it
was. :func:`layers_view` is what the snapshot carries: None for graphs with fewer than
:data:`MIN_LAYERS` layers, where per-layer curves say little (and would cost a backward
pass per refresh).

Shapes: N batch; a layer's activation is (N, *units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from playground.engine import Tensor, enable_grad
from playground.graph.nodes._init import has_weight_init

from .health import BOUNDS, saturated_fraction
from .views import view_batch

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["LayerGroup", "layer_stats", "layers_view", "MIN_LAYERS"]

#: Graphs with fewer layers (see :func:`layer_stats`) get no Layers view.
MIN_LAYERS = 8


@dataclass(frozen=True)
class LayerGroup:
    """The layers of one net (those leading to the loss ``loss``), in execution order.

    Attributes:
        name: the loss node's name ("" when the layers feed several losses or none).
        loss: the loss node's id ("" likewise).
        nodes / names: the layers' node ids and names.
        activation: per layer, the type of the activation node it feeds ("" for none).
        act_std, act_mean, saturated, grad_norm: (layers,) float64 arrays, see the module
            doc.
    """

    name: str
    loss: str
    nodes: tuple[str, ...]
    names: tuple[str, ...]
    activation: tuple[str, ...]
    act_std: np.ndarray
    act_mean: np.ndarray
    saturated: np.ndarray
    grad_norm: np.ndarray


def _weight(call):
    w = getattr(call.module, "weight", None) if call.module is not None else None
    return w if isinstance(w, Tensor) and w.data.ndim >= 2 else None


def _layers(program) -> list:
    """The calls of the layers with a weight matrix or kernel and an ``init`` param
    (Linear, Conv2d, ConvTranspose2d; not Embedding, whose table is a lookup)."""
    return [c for c in program.calls if has_weight_init(c.spec) and _weight(c) is not None]


def layer_stats(session: "Session", x: np.ndarray | None = None,
                y: np.ndarray | None = None) -> list[LayerGroup]:
    """Each net's per-layer statistics on the batch ``x`` (N, *F), ``y`` (N, *T) (default:
    the views' fixed batch). Returns [] for a graph without losses or layers.

    Raises nothing for a run that blew up: NaN and infinite values come out as they are.
    """
    program = session.program
    layers = _layers(program)
    if not layers or not program.losses:
        return []
    if x is None or y is None:
        x, y = view_batch(session)
    consumers: dict[str, list] = {}
    for call in program.calls:
        for _, src, _ in call.inputs:
            consumers.setdefault(src, []).append(call)
    act_of = {}
    for call in layers:
        users = consumers.get(call.node_id, [])
        one = users[0] if len(users) == 1 else None
        act_of[call.node_id] = one if one is not None and one.spec.category == "Activations" \
            else None
    params = program.parameters()
    saved = [p.grad for p in params]
    program.eval()
    try:
        with enable_grad():
            for p in params:
                p.grad = None
            trace = program.run(session.feeds(x, y))
            loss = None
            for n in program.losses:
                out = trace[n]["output"]
                loss = out if loss is None else loss + out
            loss.backward()
            grads = {c.node_id: _norm(_weight(c).grad) for c in layers}
    finally:
        for p, g in zip(params, saved):
            p.grad = g
        program.train()
    rows = []
    for call in layers:
        act = act_of[call.node_id]
        src = act if act is not None else call
        out = next(iter(trace[src.node_id].values())).data.astype(np.float64)
        kind = act.spec.type if act is not None else ""
        if kind in BOUNDS:
            sat = saturated_fraction(out, *BOUNDS[kind])
        elif kind == "ReLU":
            sat = float(np.mean(out <= 0))
        else:
            sat = float("nan")
        rows.append((call, kind, float(out.std()), float(out.mean()), sat,
                     grads[call.node_id]))
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(_loss_of(row[0].node_id, consumers, set(program.losses)),
                          []).append(row)
    out = []
    for loss, members in groups.items():
        out.append(LayerGroup(
            name=session.model.name(loss) if loss else "", loss=loss,
            nodes=tuple(r[0].node_id for r in members),
            names=tuple(r[0].name for r in members),
            activation=tuple(r[1] for r in members),
            act_std=np.array([r[2] for r in members]),
            act_mean=np.array([r[3] for r in members]),
            saturated=np.array([r[4] for r in members]),
            grad_norm=np.array([r[5] for r in members])))
    return out


def _norm(g) -> float:
    return float(np.sqrt(np.sum(np.square(g, dtype=np.float64)))) if g is not None else 0.0


def _loss_of(node: str, consumers: dict, losses: set) -> str:
    """The one loss node downstream of ``node``, or "" for none or several."""
    seen, stack, found = set(), [node], set()
    while stack:
        n = stack.pop()
        for c in consumers.get(n, []):
            if c.node_id in seen:
                continue
            seen.add(c.node_id)
            if c.node_id in losses:
                found.add(c.node_id)
            else:
                stack.append(c.node_id)
    return next(iter(found)) if len(found) == 1 else ""


def layers_view(session: "Session", small: bool = False) -> dict[str, Any] | None:
    """The snapshot's ``"layers"`` view: ``{"groups": [LayerGroup, ...]}``, or None for a
    graph with fewer than :data:`MIN_LAYERS` layers or no loss."""
    if len(_layers(session.program)) < MIN_LAYERS or not session.program.losses:
        return None
    groups = layer_stats(session)
    return {"groups": groups} if groups else None

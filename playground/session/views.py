"""Per-node and sequence views: what the view docks show, computed on the worker thread.

The UI never touches the session's arrays, and never gets big raw arrays every frame: the
worker computes compact summaries here (exact histograms, one example's feature maps, one
example's attention per head, a PCA of an embedding table with each token's nearest
neighbours, a few sequences as token ids) and publishes them in the snapshot's ``views``
under ``"nodes"`` and ``"sequence"``.

Everything is computed on a fixed *view batch* (the first examples of the held-out split,
else of the training split) in eval mode, under ``no_grad``, so that the views change only
because the weights do, never because the batch did.

Families of nodes, and the node each one shows when the selected node is not of the family:

``histogram``  any node; default: the first node with parameters.
``conv``       nodes with a 4-D float output (N, C, H, W); default: the first node with a
               4-D weight (a convolution). Kernels are shown for nodes with a 4-D weight.
``attention``  nodes with an ``attn_weights`` output (MultiheadAttention), and the Softmax of
               attention drawn from its parts (after a Scale or CausalMask, as in an
               open MultiheadAttentionBlock); default: the first.
``embedding``  Embedding nodes; default: the first.

Shapes: N batch, C channels, H/W height and width, L query length, S key length, h heads,
V vocabulary, D embedding dim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from playground.engine import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

#: Bins of the live (exact) histograms.
COUNT_BINS = 48
#: At most this many input values in the view batch (fewer examples for big inputs).
VIEW_BATCH_VALUES = 1 << 16
#: Most examples in the view batch.
VIEW_BATCH_MAX = 64
#: Most feature maps (channels) shown; most kernel rows (outputs) and columns (inputs).
MAX_MAPS, MAX_KERNEL_OUT, MAX_KERNEL_IN = 64, 32, 16
#: Nearest neighbours kept per token of an embedding table; tables larger than this many
#: rows get no neighbours.
NEIGHBOURS, MAX_NEIGHBOUR_ROWS = 5, 4096
#: Sequences shown by the sequence view.
SEQUENCE_EXAMPLES = 6


@dataclass(frozen=True)
class Counts:
    """An exact histogram: ``counts`` (bins,) int64 of the values in equal bins over
    ``[lo, hi]``; ``counts.sum()`` is the number of finite values."""

    lo: float
    hi: float
    counts: np.ndarray

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, len(self.counts) + 1)


def count_histogram(values: np.ndarray, bins: int = COUNT_BINS) -> Counts:
    """The exact histogram of every finite value of ``values`` (any shape)."""
    flat = np.ravel(values).astype(np.float64, copy=False)
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return Counts(0.0, 0.0, np.zeros(bins, np.int64))
    lo, hi = float(flat.min()), float(flat.max())
    if hi <= lo:  # one value: a width that lo + width still tells apart from lo
        hi = lo + max(1e-12, abs(lo) * 1e-9)
    idx = ((flat - lo) * (bins / (hi - lo))).astype(np.intp)
    np.minimum(idx, bins - 1, out=idx)
    return Counts(lo, hi, np.bincount(idx, minlength=bins).astype(np.int64))


def pca_2d(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``table`` (V, D) projected on their first two principal components
    (centred, by SVD): returns the coordinates (V, 2) and the fraction of the variance
    each component explains (2,). D = 1 gets a zero second coordinate.

    Rows holding NaN or infinite values (a run that blew up) get NaN coordinates and the
    PCA is of the other rows; the table is scaled to a largest magnitude of 1 for the SVD
    (and the coordinates scaled back), so huge finite values do not overflow it."""
    x = np.asarray(table, np.float64)
    coords = np.full((x.shape[0], 2), np.nan)
    finite = np.isfinite(x).all(axis=1) if x.ndim == 2 else np.zeros(len(x), bool)
    if finite.sum() < 2:
        coords[finite] = 0.0
        return coords.astype(np.float32), np.zeros(2, np.float32)
    good = x[finite]
    good = good - good.mean(axis=0, keepdims=True)
    scale = float(np.abs(good).max()) or 1.0
    good = good / scale
    try:
        _, s, vt = np.linalg.svd(good, full_matrices=False)
    except np.linalg.LinAlgError:  # did not converge: no projection this time
        return coords.astype(np.float32), np.zeros(2, np.float32)
    k = min(2, vt.shape[0])
    proj = np.zeros((good.shape[0], 2))
    proj[:, :k] = good @ vt[:k].T * scale
    coords[finite] = proj
    var = s ** 2
    frac = np.zeros(2)
    frac[:k] = var[:k] / var.sum() if var.sum() > 0 else 0.0
    return coords.astype(np.float32), frac.astype(np.float32)


def nearest_neighbours(table: np.ndarray, k: int = NEIGHBOURS
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` most cosine-similar other rows of ``table`` (V, D): indices (V, k)
    int64 and similarities (V, k) float32, most similar first."""
    x = np.asarray(table, np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    u = x / np.maximum(norm, 1e-12)
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)
    k = max(0, min(k, len(x) - 1))
    idx = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return idx.astype(np.int64), np.take_along_axis(sim, idx, axis=1).astype(np.float32)


def token_names(session: "Session", tokens: np.ndarray) -> list[str]:
    """Names of token ids: the dataset's class names where they reach, else the number."""
    names = session.dataset.class_names
    return [names[t] if 0 <= t < len(names) else str(int(t)) for t in np.ravel(tokens)]


def input_names(session: "Session", tokens: np.ndarray) -> list[str]:
    """Names of input (source) token ids: the dataset's ``input_vocab`` when its inputs
    have their own vocabulary (``dates``: characters), else :func:`token_names`."""
    vocab = session.dataset.input_vocab
    if vocab is None:
        return token_names(session, tokens)
    return [vocab[t] if 0 <= t < len(vocab) else str(int(t)) for t in np.ravel(tokens)]


def fed_by_target(session: "Session", node: str, port: str) -> bool:
    """Whether input ``port`` of ``node`` is computed from the Dataset's ``target`` (a
    decoder's shifted target, under teacher forcing) rather than from its ``input``.

    Follows the wires upstream (networkx ancestors) from what feeds that port."""
    model, data = session.model, session.data_node
    if node not in model.graph:
        return False
    wires = [e for e in model.edges() if e.dst == node and e.dst_port == port]
    if any(e.src == data and e.src_port == "target" for e in wires):
        return True
    upstream = set()
    for e in wires:
        upstream |= {e.src} | nx.ancestors(model.graph, e.src)
    return any(e.src == data and e.src_port == "target" and e.dst in upstream
               for e in model.edges())


def view_batch(session: "Session") -> tuple[np.ndarray, np.ndarray]:
    """The fixed examples the views look at: the first ones of the held-out split (else of
    the training split), at most ``VIEW_BATCH_MAX`` and ``VIEW_BATCH_VALUES`` input values."""
    split = session.dataset.val or session.dataset.train
    per = max(1, int(np.prod(split.input.shape[1:])))
    n = max(1, min(VIEW_BATCH_MAX, VIEW_BATCH_VALUES // per, len(split)))
    return split.input[:n], split.target[:n]


def _first_output(outs) -> Tensor | None:
    return next((t for t in (outs or {}).values() if isinstance(t, Tensor)), None)


def _weight4(call) -> np.ndarray | None:
    w = getattr(call.module, "weight", None) if call.module is not None else None
    data = getattr(w, "data", None)
    return data if isinstance(data, np.ndarray) and data.ndim == 4 else None


def _is_attention_softmax(program, call) -> bool:
    """A Softmax over attention scores drawn from their parts (an open or closed
    MultiheadAttentionBlock: QKᵀ, Scale, CausalMask, Softmax): its output is the weights."""
    if call.spec.type != "Softmax":
        return False
    return any(program.call(src).spec.type in ("CausalMask", "Scale")
               for _, src, _ in call.inputs)


def families(session: "Session") -> dict[str, list[str]]:
    """Node ids that can show each family's view (before running: by spec and weights;
    ``conv`` lists nodes with a 4-D weight)."""
    out: dict[str, list[str]] = {"histogram": [], "conv": [], "attention": [],
                                 "embedding": []}
    for call in session.program.calls:
        if call.module is not None and any(True for _ in call.module.parameters()):
            out["histogram"].append(call.node_id)
        if _weight4(call) is not None:
            out["conv"].append(call.node_id)
        if any(p.name == "attn_weights" for p in call.spec.outputs) or _is_attention_softmax(
                session.program, call):
            out["attention"].append(call.node_id)
        if call.spec.type == "Embedding":
            out["embedding"].append(call.node_id)
    return out


def node_views(session: "Session", focus: str | None, small: bool = False) -> dict[str, Any]:
    """The per-node views for the selected node ``focus`` (None: each family's default).

    Returns ``{"focus": node or None, "histogram": {...}, "conv": {...}, "attention": {...},
    "embedding": {...}}``, each family present only when some node fits it:

    * ``histogram``: ``node``; ``activation``: :class:`Counts` of the node's first output on
      the view batch (absent for source nodes); ``weight``: :class:`Counts` of all its
      parameters (absent without parameters); ``size``: the activation's element count.
    * ``conv``: ``node``; ``maps`` (C, H, W): the node's output for the view batch's first
      example (at most ``MAX_MAPS`` channels), or None for a node whose output is not 4-D;
      ``kernels`` (O, I, kH, kW): its weight (at most ``MAX_KERNEL_OUT`` x
      ``MAX_KERNEL_IN``), or None; ``channels``: the output's channel count.
    * ``attention``: ``node``; ``weights`` (h, L, S) per head for the first example;
      ``query_tokens``, ``key_tokens``: names of the tokens on the axes.
    * ``embedding``: ``node``; ``coords`` (V, 2): the table's PCA; ``explained`` (2,);
      ``neighbours`` (V, k), ``similarity`` (V, k): cosine nearest neighbours (None for
      big tables); ``labels``: a name per row.

    ``small`` (timeline entries): float16 arrays, fewer maps, no embedding neighbours.
    """
    program = session.program
    fam = families(session)
    nodes = {c.node_id for c in program.calls}
    focus = focus if focus in nodes else None
    pick: dict[str, str] = {}
    for name, members in fam.items():
        if focus is not None and (focus in members or name == "histogram"):
            pick[name] = focus
        elif members:
            pick[name] = members[0]
    run_nodes = {v for k, v in pick.items() if k != "embedding"}
    if focus is not None:
        run_nodes.add(focus)
    x, y = view_batch(session)
    need: set[str] = set()
    for n in run_nodes:
        need |= program.ancestors(n)
    attn = pick.get("attention")
    trace = None
    if need:
        restore = []
        if attn is not None:  # per-head weights for the view (the node may average them)
            module = program.call(attn).module  # (not when a node downstream takes them)
            taken = any(src == attn and sport == "attn_weights"
                        for c in program.calls for _, src, sport in c.inputs)
            if hasattr(module, "_node_average") and not taken:
                restore.append((module, module._node_average))
                module._node_average = False
        try:
            with session.inference():
                trace = session.run(session.feeds(x, y), until=need)
        finally:
            for module, value in restore:
                module._node_average = value
    f16 = np.float16 if small else np.float32
    out: dict[str, Any] = {"focus": focus}
    if "histogram" in pick:
        node = pick["histogram"]
        call = program.call(node)
        h: dict[str, Any] = {"node": node}
        t = _first_output(trace.outputs.get(node)) if trace is not None else None
        if t is not None and t.data.dtype.kind == "f" and call.module is not None:
            h["activation"] = count_histogram(t.data)
            h["size"] = int(t.data.size)
        if call.module is not None:
            params = [p.data.ravel() for p in call.module.parameters()]
            if params:
                h["weight"] = count_histogram(np.concatenate(params))
        out["histogram"] = h
    conv = pick.get("conv")
    if focus is not None and trace is not None and conv != focus:
        # a focus with a 4-D output that is not a convolution (ReLU, pool) shows its maps
        t = _first_output(trace.outputs.get(focus))
        if t is not None and t.data.ndim == 4 and t.data.dtype.kind == "f":
            conv = focus
    if conv is not None and trace is not None:
        t = _first_output(trace.outputs.get(conv))
        w = _weight4(program.call(conv))
        maps = None
        channels = 0
        if t is not None and t.data.ndim == 4:
            channels = t.data.shape[1]
            maps = t.data[0, :(16 if small else MAX_MAPS)].astype(f16)
        kernels = None
        if w is not None:
            kernels = w[:MAX_KERNEL_OUT, :MAX_KERNEL_IN].astype(f16)
        if maps is not None or kernels is not None:
            out["conv"] = {"node": conv, "maps": maps, "kernels": kernels,
                           "channels": channels}
    if attn is not None and trace is not None:
        outs = trace.outputs.get(attn, {})
        wts = outs.get("attn_weights", outs.get("output"))  # (a Softmax: its output)
        if isinstance(wts, Tensor) and wts.data.ndim >= 3:
            a = wts.data[0]
            if a.ndim == 2:
                a = a[None]
            length, source = a.shape[-2], a.shape[-1]
            src_tokens = x[0] if x.dtype.kind in "iu" and x.ndim == 2 else None
            labels_in = input_names(session, src_tokens) if src_tokens is not None else None
            if labels_in and len(labels_in) == source and "<pad>" in labels_in \
                    and not fed_by_target(session, attn, "key"):  # trailing padding: cut
                keep = max(i for i, t in enumerate(labels_in) if t != "<pad>") + 1 \
                    if set(labels_in) != {"<pad>"} else source
                a, labels_in, source = a[..., :keep], labels_in[:keep], keep
            if fed_by_target(session, attn, "query") and y.ndim == 2 \
                    and y.shape[1] == length:
                # decoder queries: position i predicts target token y_i
                q = [f"→{t}" for t in token_names(session, y[0])]
            else:
                q = labels_in if labels_in and len(labels_in) == length else \
                    [str(i) for i in range(length)]
            k = labels_in if labels_in and len(labels_in) == source \
                and not fed_by_target(session, attn, "key") else \
                [str(i) for i in range(source)]  # decoder keys: positions, not source tokens
            out["attention"] = {"node": attn, "weights": a.astype(f16),
                                "query_tokens": tuple(q), "key_tokens": tuple(k)}
    emb = pick.get("embedding")
    if emb is not None:
        module = program.call(emb).module
        table = module.weight.data
        coords, explained = pca_2d(table)
        e: dict[str, Any] = {"node": emb, "coords": coords, "explained": explained,
                             "neighbours": None, "similarity": None,
                             "labels": tuple(token_names(session, np.arange(len(table))))}
        if not small and len(table) <= MAX_NEIGHBOUR_ROWS:
            e["neighbours"], e["similarity"] = nearest_neighbours(table)
        out["embedding"] = e
    from .race import landscape_view  # (late: race imports the session)
    landscape = landscape_view(session, small)  # a TestFunction's path, for the contour
    if landscape is not None:
        out["landscape"] = landscape
    from .layer_stats import layers_view  # (late: layer_stats imports this module)
    layers = layers_view(session, small)  # deep nets: per-layer std and gradient norms
    if layers is not None:
        out["layers"] = layers
    return out


def sequence_view(session: "Session") -> dict[str, Any] | None:
    """Input, target and predicted tokens of the first ``SEQUENCE_EXAMPLES`` view examples,
    for datasets with a class per position (target (N, L)) and a CrossEntropyLoss; else
    None. Returns ``{"input": (k, L_in) int or None, "target": (k, L), "prediction": (k, L),
    "names": class names, "input_names": the inputs' own vocabulary or None}``."""
    if session.logits_node is None or len(session.dataset.target_shape) != 1:
        return None
    x, y = view_batch(session)
    x, y = x[:SEQUENCE_EXAMPLES], y[:SEQUENCE_EXAMPLES]
    node, port = session.logits_node
    with session.inference():
        trace = session.run(session.feeds(x, y), until=session.program.ancestors(node))
    logits = trace[node][port].data
    axis = 1 if logits.shape[2:] == y.shape[1:] else -1
    pred = logits.argmax(axis=axis)
    return {"input": x.copy() if x.dtype.kind in "iu" else None, "target": y.copy(),
            "prediction": pred.astype(np.int64), "names": session.dataset.class_names,
            "input_names": session.dataset.input_vocab}


__all__ = ["Counts", "count_histogram", "families", "nearest_neighbours", "node_views",
           "pca_2d", "sequence_view", "view_batch"]

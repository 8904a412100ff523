"""Automatic layered layout (Sugiyama style), left to right.

1. Layers from networkx: ``nx.topological_generations`` puts every node one layer after its
   latest input (longest-path layering); a node with no inputs moves up to just before its
   first consumer, so a Dataset that also feeds the loss does not drag the loss left.
2. Order within a layer: barycentre sweeps (each node sorts by the mean position of its
   neighbours in the previous layer, down then up), which removes most crossings.
3. Coordinates: layers are columns (as wide as their widest node, plus a gap); a node's top
   sits at the mean top of its inputs (so a chain is a straight row: ports sit at the same
   height below each top), pushed down just enough not to overlap the node above.
4. Wrapping (optional, for a window of a given size): a long graph (ResNet-50 is a row of
   24 nodes, ~40 times as wide as it is high) that would be too small to read when zoomed
   to fit the window is cut between columns into bands, like lines of text, stacked top to
   bottom, so that it fills the window's shape and shows bigger. A cut goes only where one
   wire crosses it (wires from a source, such as a Dataset's targets, do not count), so
   that a graph of parallel paths (a Transformer) is never cut across them; the wire over
   a cut runs back to the left, to the start of the next band.

Open groups are laid out as units: a group's members are arranged inside its frame first,
then the frame is placed like one big node, so no other node lands inside a frame.

Sizes are the node's width and height in scene units. The canvas passes its real sizes;
without them :func:`estimate_size` guesses from the node's ports and params with the
canvas's own metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import networkx as nx

if TYPE_CHECKING:
    from .model import GraphModel

Size = tuple[float, float]

#: Space between columns: wide enough for a wire's shape label, ``(N, 64, 112, 112)`` is
#: ~112 units in the canvas's label font, plus the port circles.
GAP_X = 130.0
GAP_Y = 34.0
#: Space between the bands of a wrapped layout (the wires over a cut run through it).
BAND_GAP = 110.0
#: Wrap only when that shows the graph at least this much bigger than one band would.
WRAP_GAIN = 1.3
#: The window the presets are laid out for (``layout(model, window=PRESET_WINDOW)``): the
#: canvas of the main window on a 1366×768 screen, docks open, less zoom to fit's margins.
PRESET_WINDOW = (640.0, 300.0)
#: Never wrap a graph that fits its window at this zoom or more in one band (the canvas
#: draws its nodes in full from this zoom on: ``FAR_LOD`` in ui/canvas/style.py).
WRAP_BELOW_ZOOM = 0.5
#: Space between an open group's frame and its members (sides, bottom) and its header.
FRAME_PAD = 18.0
FRAME_HEADER = 30.0

# The canvas's node geometry (playground/ui/canvas/style.py), for estimates.
_HEADER, _PORT_ROW, _PARAM_ROW, _PAD, _MIN_W, _MAX_W = 26.0, 21.0, 17.0, 7.0, 136.0, 300.0


def estimate_size(spec, params: Mapping, inputs: Sequence, outputs: Sequence,
                  name: str = "") -> Size:
    """A node's approximate size on the canvas (the same rows as ``NodeItem``: header, one
    row per port pair, one per param; a closed block has one more row)."""
    rows = max(len(inputs), len(outputs))
    h = _HEADER + 4 + rows * _PORT_ROW + 2
    if spec.params:
        h += 6 + len(spec.params) * _PARAM_ROW
    if getattr(spec, "template", None) is not None or spec.type == "Group":
        h += 6 + _PARAM_ROW  # "7 nodes inside"
    h += _PAD - 1
    block = getattr(spec, "template", None) is not None or spec.type == "Group"
    w = 7.2 * len(spec.type) + 6.0 * len(name) + 40 + (60 if block else 0)
    for i in range(rows):  # an output row also shows its shape, e.g. "(N, 128, 28, 28)"
        a = len(inputs[i].name) if i < len(inputs) else 0
        b = len(outputs[i].name) if i < len(outputs) else 0
        w = max(w, 6.0 * (a + b) + (110 if i < len(outputs) else 0) + 40)
    for p in spec.params:
        w = max(w, 6.0 * (len(p.name) + len(str(params.get(p.name, p.default)))) + 40)
    w = min(max(_MIN_W, w), _MAX_W)
    return float(round(w / 4) * 4), float(round(h))


def _layers(g: nx.DiGraph) -> list[list]:
    layer = {}
    for i, gen in enumerate(nx.topological_generations(g)):
        for n in gen:
            layer[n] = i
    for n in g:  # sources move right, next to their first consumer
        if g.in_degree(n) == 0 and g.out_degree(n) > 0:
            layer[n] = max(layer[n], min(layer[s] for s in g.successors(n)) - 1)
    count = max(layer.values(), default=-1) + 1
    layers: list[list] = [[] for _ in range(count)]
    for n in g:  # keep insertion order as the first ordering
        layers[layer[n]].append(n)
    return [l for l in layers if l]


def _order(g: nx.DiGraph, layers: list[list], sweeps: int = 4) -> list[list]:
    pos = {n: i for layer in layers for i, n in enumerate(layer)}

    def sort(layer, neighbours):
        def key(item):
            i, n = item
            near = [pos[m] for m in neighbours(n) if m in pos]
            return (sum(near) / len(near) if near else i, i)
        out = [n for _, n in sorted(enumerate(layer), key=key)]
        for i, n in enumerate(out):
            pos[n] = i
        return out

    for _ in range(sweeps):
        for k in range(1, len(layers)):
            layers[k] = sort(layers[k], g.predecessors)
        for k in range(len(layers) - 2, -1, -1):
            layers[k] = sort(layers[k], g.successors)
    return layers


def layered_positions(nodes: Sequence, edges: Iterable[tuple], sizes: Mapping[str, Size],
                      gap_x: float = GAP_X, gap_y: float = GAP_Y,
                      window: tuple[float, float] | None = None) -> dict:
    """Top-left positions for ``nodes`` so that every edge ``(src, dst)`` runs left to right
    and no two nodes overlap. The result's top-left corner is (0, 0).

    With ``window`` (the width and height, in pixels, of the view the graph is shown in) a
    graph too wide to read there is wrapped into bands stacked top to bottom (see
    :func:`wrap_bands`); every edge then runs left to right within its band, or down from
    one band to a later one.

    Raises:
        networkx.NetworkXUnfeasible: the edges form a cycle.
    """
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((s, d) for s, d in edges if s != d and s in g and d in g)
    if not nodes:
        return {}
    layers = _order(g, _layers(g))
    out: dict = {}
    top_of: dict = {}  # nodes align by their tops, where their first ports sit
    columns: list[tuple[float, float]] = []  # (x, width) of each layer
    x = 0.0
    for layer in layers:
        width = max(sizes[n][0] for n in layer)
        columns.append((x, width))
        bottom = None
        placed = []
        for n in layer:
            h = sizes[n][1]
            ins = [top_of[p] for p in g.predecessors(n) if p in top_of]
            want = sum(ins) / len(ins) if ins else (bottom if bottom is not None else 0.0)
            top = want if bottom is None else max(want, bottom)
            placed.append((n, top, want if ins else None))
            bottom = top + h + gap_y
        # nodes pushed down drift from their inputs: lift the column by half the drift
        drift = [top - want for _, top, want in placed if want is not None]
        lift = (sum(drift) / len(drift)) / 2 if drift else 0.0
        for n, top, _ in placed:
            out[n] = (x, top - lift)
            top_of[n] = top - lift
        x += width + gap_x
    if window is not None and len(layers) > 1:
        out = wrap_bands(g, layers, columns, out, sizes, window)
    min_y = min(y for _, y in out.values())
    return {n: (float(round(px)), float(round(py - min_y))) for n, (px, py) in out.items()}


def wrap_bands(g: nx.DiGraph, layers: list[list], columns: list[tuple[float, float]],
               pos: Mapping, sizes: Mapping[str, Size], window: tuple[float, float],
               band_gap: float = BAND_GAP) -> dict:
    """Cut a one-band layout (``pos``: top-lefts; ``columns``: each layer's x and width)
    between layers into bands stacked top to bottom, so that the whole fits ``window``
    (width, height in pixels) at as big a zoom as it can.

    One band is kept when it fits at WRAP_BELOW_ZOOM or more. Otherwise the number of bands
    k maximises the zoom at which the layout fits, ``min(W / width_k, H / height_k)``, if
    that is at least WRAP_GAIN times the zoom of one band. Each cut sits near an even share
    of the width, between two layers that only one edge joins (edges from sources do not
    count). Returns the new top-lefts.
    """
    win_w, win_h = max(window[0], 1.0), max(window[1], 1.0)
    layer_of = {n: i for i, layer in enumerate(layers) for n in layer}
    count = len(layers)
    total = columns[-1][0] + columns[-1][1]
    crossing = [0] * (count + 1)  # edges over the cut before layer i, but a source's
    for u, v in g.edges():
        if g.in_degree(u) == 0:
            continue
        for i in range(layer_of[u] + 1, layer_of[v] + 1):
            crossing[i] += 1
    cuttable = [i for i in range(1, count) if crossing[i] <= 1]

    def cuts_for(k: int) -> list[int] | None:
        """k - 1 cuts, each the cuttable one nearest an even share of the width, or None
        when one share has none near it."""
        cuts: list[int] = []
        for j in range(1, k):
            ideal, slack = total * j / k, 0.4 * total / k
            low = cuts[-1] + 1 if cuts else 1
            near = [i for i in cuttable if i >= low and abs(columns[i][0] - ideal) <= slack]
            if not near:
                return None
            cuts.append(min(near, key=lambda i: abs(columns[i][0] - ideal)))
        return cuts

    def bands_for(cuts: list[int]) -> list[range]:
        edges = [0, *cuts, count]
        return [range(a, b) for a, b in zip(edges, edges[1:])]

    def box(bands: list[range]) -> tuple[float, float]:
        width = height = 0.0
        for band in bands:
            left = columns[band.start][0]
            right = columns[band.stop - 1][0] + columns[band.stop - 1][1]
            members = [n for i in band for n in layers[i]]
            top = min(pos[n][1] for n in members)
            bottom = max(pos[n][1] + sizes[n][1] for n in members)
            width = max(width, right - left)
            height += bottom - top
        return width, height + band_gap * (len(bands) - 1)

    def scale(bands: list[range]) -> float:
        w, h = box(bands)
        return min(win_w / w, win_h / h)

    one = [range(0, count)]
    best, best_scale = one, scale(one)
    if best_scale >= WRAP_BELOW_ZOOM:
        return dict(pos)
    for k in range(2, len(cuttable) + 2):
        cuts = cuts_for(k)
        if cuts is None:
            continue
        bands = bands_for(cuts)
        s = scale(bands)
        if s > best_scale:
            best, best_scale = bands, s
    if best_scale < WRAP_GAIN * scale(one):
        return dict(pos)
    out: dict = {}
    y0 = 0.0
    for band in best:
        left = columns[band.start][0]
        members = [n for i in band for n in layers[i]]
        top = min(pos[n][1] for n in members)
        bottom = max(pos[n][1] + sizes[n][1] for n in members)
        for n in members:
            out[n] = (pos[n][0] - left, pos[n][1] - top + y0)
        y0 += bottom - top + band_gap
    return out


def layout(model: "GraphModel", sizes: Mapping[str, Size] | None = None,
           origin: tuple[float, float] = (0.0, 0.0),
           window: tuple[float, float] | None = None) -> dict[str, tuple[float, float]]:
    """Positions for every node of ``model``: ``{node_id: (x, y)}`` (top-left corners).

    Every wire runs left to right and no two nodes overlap. The members of each open group
    are laid out together inside their frame, and the frame is placed as one unit.
    ``sizes`` maps node ids to the canvas's real sizes; missing ones are estimated.
    ``window`` (width, height in pixels of the view the graph is shown in) lets a graph too
    long to read there wrap into bands, top to bottom (see :func:`wrap_bands`); open groups
    never wrap inside.
    """
    size = {n: (sizes or {}).get(n) or model.estimate_size(n) for n in model.nodes()}
    groups = model.groups()
    # the unit each node belongs to at each level: a node, or an open group's id
    parent = {g: model.group_info(g).parent for g in groups}
    unit_size: dict[str, Size] = dict(size)
    inner_pos: dict[str, dict] = {}

    def unit_of(node: str, level: str | None) -> str | None:
        """The child of ``level`` (a group id, or None for the top) containing ``node``."""
        g = model.group_of(node)
        unit = node
        while g is not None and g != level:
            unit = g
            g = parent[g]
        return unit if g == level else None

    def arrange(level: str | None, units: list[str]) -> dict:
        edges = set()
        for e in model.edges():
            a, b = unit_of(e.src, level), unit_of(e.dst, level)
            if a is not None and b is not None and a != b:
                edges.add((a, b))
        wrap = window if level is None else None
        try:
            return layered_positions(units, sorted(edges), unit_size, window=wrap)
        except nx.NetworkXUnfeasible:  # a wire leaves a group and comes back: go flat
            return layered_positions(units, [], unit_size, window=wrap)

    children: dict[str | None, list[str]] = {None: []}
    for g in groups:
        children.setdefault(g, [])
    for n in model.nodes():
        children[model.group_of(n)].append(n)
    for g in groups:
        children.setdefault(parent[g], []).append(g)
    # deepest groups first, so that a group knows the size of the groups inside it
    depth = {g: 0 for g in groups}
    for g in groups:
        p = parent[g]
        while p is not None:
            depth[g] += 1
            p = parent[p]
    for g in sorted(groups, key=lambda g: -depth[g]):
        pos = arrange(g, children[g])
        inner_pos[g] = pos
        w = max((pos[u][0] + unit_size[u][0] for u in pos), default=0.0)
        h = max((pos[u][1] + unit_size[u][1] for u in pos), default=0.0)
        unit_size[g] = (w + 2 * FRAME_PAD, h + FRAME_HEADER + FRAME_PAD)

    result: dict[str, tuple[float, float]] = {}

    def place(level: str | None, pos: dict, ox: float, oy: float) -> None:
        for unit, (x, y) in pos.items():
            if unit in inner_pos:
                place(unit, inner_pos[unit], ox + x + FRAME_PAD, oy + y + FRAME_HEADER)
            else:
                result[unit] = (ox + x, oy + y)

    place(None, arrange(None, children[None]), origin[0], origin[1])
    return result

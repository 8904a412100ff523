"""The layered layout: every wire runs left to right, no two nodes overlap, open blocks are
laid out as units (no other node inside a frame)."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from playground.graph import GraphModel, layout
from playground.graph.layout import (FRAME_HEADER, FRAME_PAD, estimate_size,
                                     layered_positions)


def boxes(model: GraphModel, pos):
    return {n: (x, y, *model.estimate_size(n)) for n, (x, y) in pos.items()}


def overlaps(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def check(model: GraphModel, pos) -> None:
    assert set(pos) == set(model.nodes())
    box = boxes(model, pos)
    for e in model.edges():
        sx, _, sw, _ = box[e.src]
        dx = box[e.dst][0]
        assert sx + sw < dx, f"{e} does not run left to right"
    names = sorted(box)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not overlaps(box[a], box[b]), f"{a} overlaps {b}"


def mlp_with_loss():
    m = GraphModel()
    m.add_node("Dataset", {"dataset": "spirals"}, node_id="data")
    m.add_node("Linear", {"in_features": 2, "out_features": 8}, node_id="fc1")
    m.add_node("Tanh", node_id="act")
    m.add_node("Linear", {"in_features": 8, "out_features": 2}, node_id="fc2")
    m.add_node("CrossEntropyLoss", node_id="loss")
    for s, sp, d, dp in (("data", "x", "fc1", "input"), ("fc1", "output", "act", "input"),
                         ("act", "output", "fc2", "input"), ("fc2", "output", "loss", "input"),
                         ("data", "target", "loss", "target")):
        m.connect(s, sp, d, dp)
    return m


def test_a_chain_is_one_row_left_to_right():
    m = mlp_with_loss()
    pos = layout(m)
    check(m, pos)
    xs = [pos[n][0] for n in ("data", "fc1", "act", "fc2", "loss")]
    assert xs == sorted(xs) and len(set(xs)) == 5
    assert len({pos[n][1] for n in ("fc1", "act", "fc2")}) == 1  # a straight chain


def test_branches_of_an_open_inception_block_stack_without_overlap():
    m = GraphModel()
    m.add_node("Input", {"shape": (4, 8, 8)}, node_id="x")
    b = m.add_node("Inception", {"in_channels": 4, "ch1x1": 2, "ch3x3red": 2, "ch3x3": 3,
                                 "ch5x5red": 2, "ch5x5": 3, "pool_proj": 2})
    m.add_node("ReLU", node_id="after")
    m.connect("x", "output", b, "input")
    m.connect(b, "output", "after", "input")
    m.open_composite(b)
    pos = layout(m)
    check(m, pos)
    members = set(m.group_members(b))
    box = boxes(m, pos)
    left = min(box[n][0] for n in members) - FRAME_PAD
    top = min(box[n][1] for n in members) - FRAME_HEADER
    right = max(box[n][0] + box[n][2] for n in members) + FRAME_PAD
    bottom = max(box[n][1] + box[n][3] for n in members) + FRAME_PAD
    frame = (left, top, right - left, bottom - top)
    for n in set(m.nodes()) - members:
        assert not overlaps(box[n], frame), f"{n} lies inside the open block's frame"


@pytest.mark.parametrize("seed", range(5))
def test_random_dags_have_forward_edges_and_no_overlaps(seed):
    rnd = random.Random(seed)
    g = nx.gnp_random_graph(18, 0.15, seed=seed, directed=True)
    dag = nx.DiGraph([(u, v) for u, v in g.edges() if u < v])
    dag.add_nodes_from(range(18))
    sizes = {n: (rnd.choice([136, 180, 240]), rnd.choice([60, 110, 200])) for n in dag}
    pos = layered_positions(list(dag), list(dag.edges()), sizes)
    for u, v in dag.edges():
        assert pos[u][0] + sizes[u][0] < pos[v][0]
    items = [(n, (*pos[n], *sizes[n])) for n in dag]
    for i, (a, ba) in enumerate(items):
        for b, bb in items[i + 1:]:
            assert not overlaps(ba, bb), (a, b)
    assert min(x for x, _ in pos.values()) == 0 and min(y for _, y in pos.values()) == 0


def test_barycentre_ordering_uncrosses_two_parallel_chains():
    # a1 -> b1 and a2 -> b2, listed so that a naive order would cross them
    nodes = ["a1", "a2", "b2", "b1"]
    edges = [("a1", "b1"), ("a2", "b2")]
    sizes = {n: (100, 50) for n in nodes}
    pos = layered_positions(nodes, edges, sizes)
    assert (pos["a1"][1] < pos["a2"][1]) == (pos["b1"][1] < pos["b2"][1])


def test_estimates_grow_with_params_and_ports():
    from playground.graph import REGISTRY
    conv = REGISTRY["Conv2d"]
    relu = REGISTRY["ReLU"]
    w1, h1 = estimate_size(conv, conv.default_params(), conv.inputs, conv.outputs, "c")
    w2, h2 = estimate_size(relu, {}, relu.inputs, relu.outputs, "r")
    assert h1 > h2 and w1 >= w2 >= 136

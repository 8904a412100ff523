"""The depth lessons' presets (activations_saturation, init_variance, resnet_vs_plain) are
tools/make_depth_presets.py's output, and its layout keeps each net apart: no two nodes
overlap, every net's bands lie below the previous net's, and the Dataset's wires stay on the
left (each loss sits at the left under its net, next to the Dataset)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from playground.graph import GraphModel
from playground.project import presets_dir
from playground.project.format import to_dict

NAMES = ["activations_saturation", "init_variance", "resnet_vs_plain"]


@pytest.fixture(scope="module")
def tool():
    path = presets_dir().parent / "tools" / "make_depth_presets.py"
    spec = importlib.util.spec_from_file_location("make_depth_presets", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generator_reproduces_the_committed_files(tool):
    assert list(tool.TOWERS) == NAMES
    for name in NAMES:
        fresh = json.loads(json.dumps(to_dict(tool.make(name))))
        assert fresh == json.loads((presets_dir() / f"{name}.json").read_text()), name


@pytest.mark.parametrize("name", NAMES)
def test_the_nets_are_stacked_apart_and_the_dataset_wires_stay_short(tool, name):
    m = GraphModel.from_dict(tool.make(name).graph)
    box = {}
    for n in m.nodes():
        (x, y), (w, h) = m.graph.nodes[n]["pos"], m.estimate_size(n)
        box[n] = (x, y, x + w, y + h)
    ids = sorted(box)
    for i, a in enumerate(ids):  # no two nodes overlap
        for b in ids[i + 1:]:
            A, B = box[a], box[b]
            assert A[2] <= B[0] or B[2] <= A[0] or A[3] <= B[1] or B[3] <= A[1], (a, b)
    prefixes = [t["prefix"] for t in tool.TOWERS[name]]
    nets = [[n for n in ids if n != "data" and n.startswith(p) and
             not any(q != p and q.startswith(p) and n.startswith(q) for q in prefixes)]
            for p in prefixes]
    assert sum(map(len, nets)) == len(ids) - 1
    for upper, lower in zip(nets, nets[1:]):  # each net wholly below the one before
        assert max(box[n][3] for n in upper) + 100 <= min(box[n][1] for n in lower)
    data = box["data"]
    top, bottom = min(b[1] for b in box.values()), max(b[3] for b in box.values())
    assert abs((data[1] + data[3]) / 2 - (top + bottom) / 2) < 2  # the middle, at the left
    left = min(box[n][0] for n in ids if n != "data")
    for p, net in zip(prefixes, nets):
        loss, first = box[f"{p}_loss"], box[f"{p}1" if f"{p}1" in box else f"{p}_stem"]
        # the Dataset's x and target wires end at the nets' left edge, next to it
        assert loss[0] == first[0] == left > data[2]
        assert loss[1] >= max(box[n][3] for n in net if n != f"{p}_loss")

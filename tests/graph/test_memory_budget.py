"""The memory budget (issue 13): inference refuses a node whose parameters, or whose
activations at the batch size, would not fit in the budget, and the session refuses a
graph whose total would not, before anything is allocated; each message gives the size and
the fix."""

from __future__ import annotations

import re

import pytest

from playground.graph import GraphModel
from playground.graph.inference import BYTES_PER_ACTIVATION, BYTES_PER_PARAM
from playground.project import Project, load
from playground.project.limits import BUDGET_ENV, machine_memory, memory_budget
from playground.session import Session, SessionError


def _chain(*layers, batch_size=32):
    nodes = [{"id": "data", "type": "Dataset", "params": {"dataset": "xor"}}]
    edges, prev = [], "data"
    for node_id, type_, params in layers:
        nodes.append({"id": node_id, "type": type_, "params": params})
        edges.append({"src": prev, "src_port": "x" if prev == "data" else "output",
                      "dst": node_id, "dst_port": "input"})
        prev = node_id
    nodes.append({"id": "loss", "type": "CrossEntropyLoss", "params": {}})
    edges += [{"src": prev, "src_port": "output", "dst": "loss", "dst_port": "input"},
              {"src": "data", "src_port": "target", "dst": "loss", "dst_port": "target"}]
    p = Project(graph={"nodes": nodes, "edges": edges})
    p.training.batch_size = batch_size
    return p


def test_the_default_budget_is_a_quarter_of_the_memory_and_the_variable_overrides_it(
        monkeypatch):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert memory_budget() == machine_memory() // 4
    monkeypatch.setenv(BUDGET_ENV, "123456789")
    assert memory_budget() == 123_456_789
    for junk in ("lots", "-5", "0", "9" * 400):  # ignored: the machine's quarter again
        monkeypatch.setenv(BUDGET_ENV, junk)
        assert memory_budget() == machine_memory() // 4


def test_a_million_by_a_million_linear_is_refused_at_inference_and_never_built(monkeypatch):
    from playground.engine import nn

    monkeypatch.delenv(BUDGET_ENV, raising=False)
    built = []
    real = nn.Linear.__init__

    def spy(self, in_features, out_features, *args, **kwargs):
        built.append((in_features, out_features))
        real(self, in_features, out_features, *args, **kwargs)

    monkeypatch.setattr(nn.Linear, "__init__", spy)
    project = _chain(("wide", "Linear", {"in_features": 2, "out_features": 1_000_000}),
                     ("huge", "Linear", {"in_features": 1_000_000,
                                         "out_features": 1_000_000}),
                     ("head", "Linear", {"in_features": 1_000_000, "out_features": 2}))
    m = GraphModel.from_dict(project.graph)
    assert m.state("wide").ok and m.state("head").status == "blocked"
    msg = m.state("huge").message
    assert msg.startswith("Linear 'huge' would have 1,000,001,000,000 parameters: 4.0 TB as "
                          "float32, 16.0 TB to train with Adam, over the ")
    assert "Make it smaller (fewer features or channels)" in msg
    with pytest.raises(SessionError, match=re.escape(msg)):
        Session(project, timeline=False)
    assert built == []  # refused before any weight was drawn


def test_a_conv_net_at_a_huge_batch_size_is_refused_for_its_activations(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, str(200 * 10**6))  # 200 MB
    project = load("cnn_digits")
    project.training.batch_size = 100_000
    m = GraphModel.from_dict(project.graph)
    assert not m.errors()  # one example fits: the batch size is what does not
    m.set_batch_size(100_000)
    msg = m.state("conv1").message  # (N, 16, 8, 8): 1,024 values per example
    assert msg.startswith(
        "Conv2d 'conv1' would output (N, 16, 8, 8): 102,400,000 values at batch_size "
        "100,000, 819.2 MB as float32 with their gradients, over the 200.0 MB this machine "
        f"allows (set by {BUDGET_ENV}). Lower training.batch_size to at most 24,414, or "
        "make its output smaller"), msg
    assert 24_414 * 1024 * BYTES_PER_ACTIVATION <= 200 * 10**6 < \
        24_415 * 1024 * BYTES_PER_ACTIVATION
    with pytest.raises(SessionError, match="Conv2d 'conv1' would output"):
        Session(project, timeline=False)
    # at the node's own limit every node fits, but the whole graph does not
    project.training.batch_size = 24_414
    with pytest.raises(SessionError) as info:
        Session(project, timeline=False)
    total = str(info.value)
    fits = int(re.search(r"Lower training.batch_size to at most ([\d,]+)", total)[1]
               .replace(",", ""))
    assert total.startswith("the graph would need ") and "for its activations at " \
        "batch_size 24,414" in total and "over the 200.0 MB this machine allows" in total
    m.set_batch_size(fits)
    params, values = m.memory_use()
    assert BYTES_PER_PARAM * params + BYTES_PER_ACTIVATION * values <= 200 * 10**6
    m.set_batch_size(fits + 1)
    params, values = m.memory_use()
    assert BYTES_PER_PARAM * params + BYTES_PER_ACTIVATION * values > 200 * 10**6
    project.training.batch_size = fits  # the advice works: it trains
    s = Session(project, timeline=False)
    assert s.model.batch_size == fits and not s.model.errors()


def test_memory_use_counts_the_nodes_inside_a_closed_block():
    m = GraphModel.from_dict(load("resnet18").graph)
    m.set_batch_size(2)
    params, values = m.memory_use()
    assert params == 11_689_512  # torchvision's resnet18
    m.set_batch_size(4)
    assert m.memory_use() == (params, 2 * values)

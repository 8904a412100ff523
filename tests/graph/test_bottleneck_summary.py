"""The summary's 1×1 bottlenecks: which convolution pairs count, and the weights they save,
checked against counts worked out by hand (direct = C_out·C_in·K·K, pair = C_mid·C_in +
C_out·C_mid·K·K)."""

from __future__ import annotations

import pytest

from playground.graph import GraphModel, summary
from playground.graph.summary import Bottleneck, bottlenecks
from playground.project import load


def chain(*nodes, shape=(40, 8, 8)) -> GraphModel:
    """Input(shape) followed by ``nodes`` = (id, type, params), each fed by the one before."""
    m = GraphModel()
    m.add_node("Input", {"shape": shape}, node_id="x")
    prev = "x"
    for node_id, type_name, params in nodes:
        m.add_node(type_name, params, node_id=node_id)
        m.connect(prev, "output", node_id, "input")
        prev = node_id
    assert not m.errors(), m.errors()
    return m


def conv(c_in, c_out, k, **extra):
    return {"in_channels": c_in, "out_channels": c_out, "kernel_size": k,
            "padding": k // 2, "bias": False, **extra}


def test_a_1x1_reduction_through_batch_norm_and_relu_saves_the_hand_counted_weights():
    m = chain(("reduce", "Conv2d", conv(40, 16, 1)), ("bn", "BatchNorm2d", {"num_features": 16}),
              ("relu", "ReLU", {}), ("conv", "Conv2d", conv(16, 32, 3)))
    (b,) = bottlenecks(m)
    assert (b.reduce, b.conv) == ("reduce", "conv")
    assert (b.in_channels, b.mid_channels, b.out_channels, b.kernel_size) == (40, 16, 32, (3, 3))
    assert b.direct == 32 * 40 * 9 == 11_520
    assert b.weights == 16 * 40 + 32 * 16 * 9 == 5_248
    assert b.saved == 6_272 and round(b.percent) == 54
    assert b.text == ("1×1 bottleneck reduce → conv saves 6,272 of 11,520 weights (54%) "
                      "against a 3×3 conv 40→32")
    # the pair's weights are what the summary counts for the two convs (no biases here)
    s = summary(m)
    assert s.row("reduce").params + s.row("conv").params == b.weights
    assert s.bottlenecks == (b,)


@pytest.mark.parametrize("nodes, why", [
    ([("up", "Conv2d", conv(40, 64, 1)), ("conv", "Conv2d", conv(64, 32, 3))],
     "a 1×1 that widens saves nothing"),
    ([("reduce", "Conv2d", conv(40, 16, 1)), ("conv", "Conv2d", conv(16, 32, 1))],
     "a 1×1 after a 1×1 is no k×k conv"),
    ([("reduce", "Conv2d", conv(40, 16, 1, stride=2)), ("conv", "Conv2d", conv(16, 32, 3))],
     "a strided 1×1 changes H and W: not the same as the direct conv"),
    ([("reduce", "Conv2d", conv(40, 16, 1)), ("pool", "MaxPool2d", {"kernel_size": 2}),
      ("conv", "Conv2d", conv(16, 32, 3))], "a pool in between is not a pass-through"),
    ([("reduce", "Conv2d", conv(40, 16, 1)), ("conv", "Conv2d", conv(16, 1, 3))],
     "one output channel: 16·40 + 1·16·9 = 784 > 1·40·9 = 360"),
])
def test_pairs_that_are_no_bottleneck_are_not_reported(nodes, why):
    assert bottlenecks(chain(*nodes)) == (), why


def test_reduced_maps_used_twice_are_not_a_bottleneck_and_errors_give_none():
    m = chain(("reduce", "Conv2d", conv(40, 16, 1)), ("conv", "Conv2d", conv(16, 32, 3)))
    assert len(bottlenecks(m)) == 1
    m.add_node("ReLU", node_id="also")
    m.connect("reduce", "output", "also", "input")
    assert bottlenecks(m) == ()
    m.set_param("conv", "in_channels", 17)  # now in error: no bottlenecks, no exception
    assert m.errors() and bottlenecks(m) == () and summary(m).bottlenecks == ()


def test_inside_a_closed_inception_block_both_reduce_branches_are_found():
    m = chain(("inception_b", "Inception", {"in_channels": 40, "ch1x1": 16, "ch3x3red": 16,
                                            "ch3x3": 32, "ch5x5red": 8, "ch5x5": 16,
                                            "pool_proj": 16}))
    found = {b.reduce: b for b in bottlenecks(m)}
    # branch1 (1×1 into the concat) and branch4 (pool, then 1×1) reduce nothing for a k×k
    assert set(found) == {"inception_b/branch2_reduce/conv", "inception_b/branch3_reduce/conv"}
    b2, b3 = found["inception_b/branch2_reduce/conv"], found["inception_b/branch3_reduce/conv"]
    assert b2.conv == "inception_b/branch2/conv"
    assert (b2.direct, b2.weights, b2.saved) == (32 * 40 * 9, 16 * 40 + 32 * 16 * 9, 6_272)
    assert (b3.direct, b3.weights, b3.saved) == (16 * 40 * 9, 8 * 40 + 16 * 8 * 9, 4_288)
    assert b2.text.startswith("1×1 bottleneck in inception_b: branch2_reduce/conv → "
                              "branch2/conv saves 6,272 of 11,520 weights (54%)")


def test_the_architecture_presets_report_the_published_bottlenecks():
    g = summary(GraphModel.from_dict(load("googlenet").graph))
    first = next(b for b in g.bottlenecks if b.reduce == "inception3a/branch2_reduce/conv")
    # GoogLeNet inception (3a): 192 channels in, 96 reduced, 128 out of the 3×3
    assert (first.in_channels, first.mid_channels, first.out_channels) == (192, 96, 128)
    assert (first.direct, first.saved) == (128 * 192 * 9, 128 * 192 * 9 - 96 * 192 - 128 * 96 * 9)
    assert len(g.bottlenecks) == 18  # 9 modules × 2 reduce branches

    r = summary(GraphModel.from_dict(load("resnet50").graph))
    b = next(b for b in r.bottlenecks if b.reduce == "layer1_1/conv1")
    assert (b.direct, b.weights, b.saved) == (147_456, 53_248, 94_208)  # 256→64→64, 3×3
    # layer1_0's conv1 maps 64 to 64 channels: nothing to save, so 15 of the 16 blocks
    assert len(r.bottlenecks) == 15 and not any(b.reduce == "layer1_0/conv1"
                                                for b in r.bottlenecks)
    assert summary(GraphModel.from_dict(load("resnet18").graph)).bottlenecks == ()


def test_text_and_markdown_list_the_bottlenecks_and_csv_json_keep_their_columns():
    m = chain(("reduce", "Conv2d", conv(40, 16, 1)), ("conv", "Conv2d", conv(16, 32, 3)))
    s = summary(m)
    line = s.bottlenecks[0].text
    assert s.to_text().splitlines()[-1] == line
    md = s.to_markdown().splitlines()
    assert f"- {line}" in md
    assert sum(ln.startswith("|") for ln in md) == len(s.rows) + 3  # header, rule, total
    assert s.to_csv().splitlines()[0] == ",".join(s.CSV_COLUMNS)
    assert set(s.to_json()) == {"rows", "total_params", "total_macs"}


def test_bottleneck_is_a_value():
    a = Bottleneck("r", "c", "r", "c", 40, 16, 32, (3, 3))
    assert a == Bottleneck("r", "c", "r", "c", 40, 16, 32, (3, 3))
    assert Bottleneck("r", "c", "r", "c", 64, 16, 16, (5, 5)).saved == \
        16 * 64 * 25 - (16 * 64 + 16 * 16 * 25)

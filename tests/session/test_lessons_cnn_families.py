"""inception_digits, vgg_digits, densenet_digits (issue 12): GoogLeNet, VGG and DenseNet
shrunk to the 8x8 digits train headless to their stated held-out accuracy, and the Summary
shows what their 1×1 bottlenecks save (counts worked out by hand below)."""

from __future__ import annotations

import pytest

from playground.graph import GraphModel, summary
from playground.project import load
from playground.session import Session

#: preset -> the held-out accuracy its result states ("at least ...").
STATED = {"inception_digits": 0.97, "vgg_digits": 0.95, "densenet_digits": 0.97}


@pytest.mark.parametrize("name", list(STATED))
def test_each_family_trains_to_its_stated_held_out_accuracy(name):
    project = load(name)
    final = Session(project, timeline=False).train(project.training.steps)
    assert final["val_accuracy"] >= STATED[name], final
    assert f"at least {STATED[name]:.0%}" in project.result


def _saved(name: str) -> dict[str, tuple[int, int]]:
    s = summary(GraphModel.from_dict(load(name).graph))
    return {b.reduce: (b.saved, b.direct) for b in s.bottlenecks}


def test_the_inception_bottlenecks_save_the_hand_counted_weights():
    # (C_in, C_mid, C_out) of each 3×3 branch: direct C_out·C_in·9, pair C_mid·C_in + C_out·C_mid·9
    branches = {"inception_a/branch2_reduce/conv": (16, 8, 16),
                "inception_a/branch3_reduce/conv": (16, 4, 8),
                "inception_b/branch2_reduce/conv": (40, 16, 32),
                "inception_b/branch3_reduce/conv": (40, 8, 16)}
    expected = {k: (o * i * 9 - (m * i + o * m * 9), o * i * 9)
                for k, (i, m, o) in branches.items()}
    assert _saved("inception_digits") == expected
    assert expected["inception_b/branch2_reduce/conv"] == (6_272, 11_520)
    saved = sum(v[0] for v in expected.values())
    direct = sum(v[1] for v in expected.values())
    assert (saved, direct) == (12_384, 20_736)
    p = load("inception_digits")
    assert f"save {saved:,} of {direct:,} weights (60%)" in p.notes
    assert "save 60% of" in p.result


def test_densenet_bottlenecks_save_only_from_21_input_channels_on():
    # each dense layer: C_in -> 1×1 to 16 -> 3×3 to 8, so direct 72·C_in against the pair's
    # 16·C_in + 1,152: a saving when C_in > 1,152/56 = 20.6. The inputs are 16, 24, 32 and
    # 20, 28, 36: a saving for 24, 32, 28 and 36 only
    got = _saved("densenet_digits")
    expected = {f"denseblock{b}/denselayer{n}/conv1": (8 * c * 9 - (16 * c + 8 * 16 * 9),
                                                        8 * c * 9)
                for b, n, c in ((1, 2, 24), (1, 3, 32), (2, 2, 28), (2, 3, 36))}
    assert got == expected
    assert got["denseblock1/denselayer2/conv1"] == (192, 1_728)
    assert got["denseblock2/denselayer3/conv1"] == (864, 2_592)
    assert "from 21 channels on" in load("densenet_digits").notes


def test_vgg_has_no_1x1_bottleneck_and_its_head_holds_a_third_of_the_weights():
    s = summary(GraphModel.from_dict(load("vgg_digits").graph))
    assert s.bottlenecks == ()
    assert s.total_params == 25_274 and s.row("fc1").params == 128 * 64 + 64


@pytest.mark.parametrize("name", list(STATED))
def test_the_lesson_notes_name_their_sections(name):
    p = load(name)
    for heading in ("What it shows", "What to watch", "Things to try"):
        assert f"\n{heading}\n" in p.notes, heading
    assert p.topic == "Vision"

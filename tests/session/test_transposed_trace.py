"""transposed_conv_demo (issue 12): a transposed convolution traced cell by cell; the
engine's numbers against torch, and every cell's terms summing to it."""

from __future__ import annotations

import numpy as np
import pytest

from playground.graph import GraphModel
from playground.project import load
from playground.session.transposed import DEMO_INPUT, DEMO_KERNEL, trace_transposed


def test_the_demo_upsamples_2x2_to_5x5_and_matches_torch():
    torch = pytest.importorskip("torch")
    t = trace_transposed(DEMO_INPUT, DEMO_KERNEL, stride=2)
    assert t.output.shape == (1, 5, 5)
    want = torch.nn.functional.conv_transpose2d(
        torch.tensor(DEMO_INPUT[None, None]), torch.tensor(DEMO_KERNEL[None, None]),
        stride=2).numpy()[0]
    assert np.array_equal(t.output, want)  # small integers: exact in float64
    # by hand: the centre gets all four inputs, each through a corner of the kernel
    assert t.output[0, 2, 2] == 1 * 9 + 2 * 7 + 3 * 3 + 4 * 1 == 36
    assert t.output[0, 0, 0] == 1 * 1  # a corner: one input, one weight


@pytest.mark.parametrize("settings", [
    dict(stride=2), dict(stride=2, padding=1), dict(stride=2, padding=1, output_padding=1),
    dict(stride=(3, 1), padding=(0, 1), dilation=(1, 2)), dict(stride=1)])
def test_every_output_cells_terms_sum_to_it_and_match_torch(settings):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4))
    w = rng.normal(size=(2, 3, 3, 3))
    b = rng.normal(size=3)
    t = trace_transposed(x, w, b, **settings)
    want = torch.nn.functional.conv_transpose2d(
        torch.tensor(x[None]), torch.tensor(w), torch.tensor(b), **settings).numpy()[0]
    assert t.output.shape == want.shape
    assert np.allclose(t.output, want, rtol=1e-12, atol=1e-12)
    seen = 0
    for o in range(t.output.shape[0]):
        for r in range(t.output.shape[1]):
            for s in range(t.output.shape[2]):
                terms = t.terms(o, r, s)
                assert sum(term.value for term in terms) == pytest.approx(
                    t.output[o, r, s], rel=1e-12, abs=1e-12)
                seen += len(terms) - 1  # (without the bias)
    # every (input cell, kernel position, output channel) that lands inside is one term
    landed = sum(len(t.scatter(c, i, j, o)) for c in range(2) for i in range(3)
                 for j in range(4) for o in range(3))
    assert seen == landed


def test_a_cell_outside_the_output_is_refused_with_its_shape():
    t = trace_transposed(DEMO_INPUT, DEMO_KERNEL, stride=2)
    with pytest.raises(IndexError, match=r"outside the output \(1, 5, 5\)"):
        t.terms(0, 5, 0)


def test_the_preset_is_the_seeds_upsampling_and_inspect_only():
    p = load("transposed_conv_demo")
    m = GraphModel.from_dict(p.graph)
    assert m.errors() == {}
    up = next(n for n in m.nodes() if m.spec(n).type == "ConvTranspose2d")
    params = m.params(up)
    assert (params["kernel_size"], params["stride"], params["padding"]) == (3, 2, 0)
    assert m.state(up).outputs == {"output": (None, 1, 5, 5)}
    for heading in ("What it shows", "What to watch", "Things to try"):
        assert f"\n{heading}\n" in p.notes, heading
    assert "36" in p.notes and "[[1, 2], [3, 4]]" in p.notes
    # the matrices the notes quote are the engine's
    demo = trace_transposed(DEMO_INPUT, DEMO_KERNEL, stride=2).output[0]
    ones = trace_transposed(DEMO_INPUT, np.ones((3, 3)), stride=2).output[0]
    cropped = trace_transposed(DEMO_INPUT, DEMO_KERNEL, stride=2, padding=1).output[0]
    assert str(demo.astype(int).tolist()) in p.notes
    assert str(ones.astype(int).tolist()) in p.notes
    assert np.array_equal(cropped, demo[1:4, 1:4])  # "the centre 3×3 of the 5×5 one"

"""The depth lessons (issue 12): activations_saturation, init_variance and resnet_vs_plain
reach the results their notes state, measured with layer_stats (the Layers view's numbers),
for seeds 0 and 1. Each preset holds several separate nets side by side, one loss each, so
a net's held-out accuracy is read from the logits feeding its own loss.

Margins are orders of magnitude (1e-4 against 0.05, a factor of 1000), not digits, so the
results do not depend on BLAS or numpy versions. Measured time of the file: ~15 s on the
2-core test machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from playground.project import load
from playground.session import Session
from playground.session.compare import apply_overrides
from playground.session.layer_stats import MIN_LAYERS, layer_stats

SEEDS = [0, 1]


def _session(name: str, seed: int, **overrides) -> Session:
    project = load(name)
    project.training.seed = seed
    if overrides:
        project = apply_overrides(project, overrides)
    return Session(project, timeline=False)


def _stats(session: Session) -> dict:
    return {g.name: g for g in layer_stats(session)}


def _held_out(session: Session) -> dict[str, tuple[float, float]]:
    """Each net's (held-out accuracy, held-out loss), by its loss node's name."""
    val = session.dataset.val
    with session.inference():
        trace = session.program.run(session.feeds(val.input, val.target))
    out = {}
    for loss in session.program.losses:
        _, src, port = next(i for i in session.program.call(loss).inputs if i[0] == "input")
        acc = float((trace[src][port].data.argmax(axis=1) == val.target).mean())
        out[session.model.name(loss)] = (acc, float(trace[loss]["output"].data))
    return out


def _trained(name: str, seed: int) -> tuple[dict, dict]:
    """(layer stats at the start, held-out results after the preset's steps)."""
    s = _session(name, seed)
    start = _stats(s)
    s.train(s.training.steps)
    return start, _held_out(s)


# -------------------------------------------------------------- activations_saturation


@pytest.mark.parametrize("seed", SEEDS)
def test_sigmoid_gradients_vanish_where_tanh_and_relu_train(seed):
    start, held = _trained("activations_saturation", seed)
    assert set(start) == {"sigmoid", "tanh", "relu"}
    for name, g in start.items():
        assert len(g.nodes) == 10
    ratio = {n: g.grad_norm[0] / g.grad_norm[-1] for n, g in start.items()}
    assert ratio["sigmoid"] < 1e-4, ratio          # measured 3e-6 .. 5e-6
    assert ratio["tanh"] > 0.05 and ratio["relu"] > 0.05, ratio  # within a factor of 10
    sig = start["sigmoid"]
    assert np.all(np.abs(sig.act_mean[:-1] - 0.5) < 0.1)  # near 0.5: not zero-centred
    assert np.all(sig.saturated[:-1] < 0.01)            # Xavier: nothing saturated yet
    assert held["tanh"][0] >= 0.85 and held["relu"][0] >= 0.85, held  # 93%, 92%
    assert held["sigmoid"][0] <= 0.4, held                            # 19%


@pytest.mark.parametrize("seed", SEEDS)
def test_a_large_init_saturates_the_sigmoid(seed):
    big = _stats(_session("activations_saturation", seed, **{
        "node.sigmoid1.init": "normal", "node.sigmoid1.init_std": 1.0}))["sigmoid"]
    assert big.activation[0] == "Sigmoid"
    assert big.saturated[0] > 0.1, big.saturated  # measured 0.22, 0.21 (0 with Xavier)


def test_adam_lifts_the_sigmoid_net_a_little_above_sgd():
    """The notes' Compare Runs row: SGD lr 0.1 leaves the sigmoid net at chance."""
    from playground.session.compare import RunConfig, compare
    results = compare(load("activations_saturation"),
                      [RunConfig("Adam"), RunConfig("SGD", {"training.optimizer": "SGD",
                                                            "training.lr": 0.1})])
    adam, sgd = (r.final["val_accuracy"] for r in results)
    assert sgd <= 0.12 < 0.15 <= adam, (adam, sgd)  # measured 0.100 and 0.189


# ---------------------------------------------------------------------- init_variance


@pytest.mark.parametrize("seed", SEEDS)
def test_xavier_and_he_keep_the_variance_small_kills_it_large_explodes_it(seed):
    s = _session("init_variance", seed)
    g = _stats(s)
    hidden = {n: g[n].act_std[:-1] for n in g}  # the 9 hidden layers (the last: logits)
    small, xavier, he, large = (hidden[n] for n in
                                ("tanh_small", "tanh_xavier", "relu_he", "relu_large"))
    assert xavier.max() / xavier.min() < 1.5, xavier      # 0.56 .. 0.67
    assert he.max() / he.min() < 3.0, he                  # 0.29 .. 0.66
    assert np.all(small[1:] / small[:-1] < 0.1), small    # about 1/18 per layer
    assert small[-1] < 1e-9 * small[0]
    assert large[-1] > 50 * large[0], large               # 1 -> 130 .. 220
    assert g["tanh_small"].grad_norm.max() < 1e-9         # nothing can move
    s.train(s.training.steps)
    held = _held_out(s)
    assert held["tanh_xavier"][0] >= 0.85 and held["relu_he"][0] >= 0.85, held
    assert held["tanh_small"][0] <= 0.15, held
    assert held["relu_large"][0] < held["relu_he"][0] - 0.3, held


def test_the_init_of_one_layer_changes_only_its_own_factor():
    """The notes: tanh_small1 at init_std 0.3 lifts the first point; the later layers still
    divide the std by about 18 each."""
    base = _stats(_session("init_variance", 0))["tanh_small"].act_std
    bumped = _stats(_session("init_variance", 0, **{"node.tanh_small1.init_std": 0.3})
                    )["tanh_small"].act_std
    assert bumped[0] > 10 * base[0]
    steps = bumped[1:9] / bumped[:8]
    assert np.all((steps > 1 / 40) & (steps < 1 / 8)), steps


def test_compare_runs_starts_an_overridden_init_from_its_own_draws():
    """The notes' Compare Runs row node.tanh_small*.init=xavier_normal: the glob sets the
    ten tanh_small layers (the same graph as the ten pairs), which are drawn by their new
    init; the other weights are the base project's. The notes: 10% -> 95% after 300 steps."""
    from playground.session.compare import RunConfig, compare
    glob = {"node.tanh_small*.init": "xavier_normal"}
    pairs = {f"node.tanh_small{k}.init": "xavier_normal" for k in range(1, 11)}
    project = load("init_variance")
    assert apply_overrides(project, glob).graph == apply_overrides(project, pairs).graph
    base, fixed = compare(project, [RunConfig("as saved"), RunConfig("xavier", glob)])
    assert base.final["val_accuracy"] <= 0.15 and fixed.final["val_accuracy"] >= 0.9, (
        base.final, fixed.final)  # tanh_small, the first net: measured 0.100 and 0.953


def test_the_sigmoid_net_with_tanh_activations_trains():
    """The notes' Compare Runs row node.sigmoid*_act.type=Tanh: the same starting weights,
    tanh instead of sigmoid: the first net goes from 19% to 96% after 300 steps."""
    from playground.session.compare import RunConfig, compare
    row = {"node.sigmoid*_act.type": "Tanh"}
    swapped = apply_overrides(load("activations_saturation"), row)
    types = {n["id"]: n["type"] for n in swapped.graph["nodes"]}
    assert [types[f"sigmoid{k}_act"] for k in range(1, 10)] == ["Tanh"] * 9
    base, tanh = compare(load("activations_saturation"),
                         [RunConfig("as saved"), RunConfig("tanh", row)])
    assert base.final["val_accuracy"] <= 0.3 and tanh.final["val_accuracy"] >= 0.9, (
        base.final, tanh.final)  # measured 0.189 and 0.955


# -------------------------------------------------------------------- resnet_vs_plain


@pytest.mark.parametrize("seed", SEEDS)
def test_the_plain_20_layer_net_trains_worse_than_the_residual_one(seed):
    start, held = _trained("resnet_vs_plain", seed)
    plain, res = start["plain"], start["res"]
    assert len(plain.nodes) == len(res.nodes) == 20
    # early layers (the first five): the plain net's gradients are over 1000x smaller
    assert np.all(plain.grad_norm[:5] < 1e-3 * res.grad_norm[:5]), (plain.grad_norm,
                                                                   res.grad_norm)
    (acc_plain, loss_plain), (acc_res, loss_res) = held["plain"], held["res"]
    assert loss_plain > loss_res + 1.0, held                  # 2.30 against 0.12-0.21
    assert acc_plain <= 0.5 and acc_res >= 0.85, held         # 10% against 96%, 94%


@pytest.mark.parametrize("seed", SEEDS)
def test_he_init_on_the_plain_net_unblocks_its_gradients(seed):
    """The notes' Compare Runs row node.plain*.init=kaiming_normal, at the start: the plain
    net's first layer gets about the last layer's gradient instead of ~1e-6 of it."""
    plain = _stats(_session("resnet_vs_plain", seed))["plain"]
    he = _stats(_session("resnet_vs_plain", seed,
                         **{"node.plain*.init": "kaiming_normal"}))["plain"]
    assert plain.grad_norm[0] / plain.grad_norm[-1] < 1e-4   # measured 1e-6, 4e-7
    assert he.grad_norm[0] / he.grad_norm[-1] > 0.1          # measured 1.7, 3.4


def test_he_init_makes_the_plain_net_train():
    """The notes: with the glob row the plain net reaches 89% after 300 steps."""
    from playground.session.compare import RunConfig, compare
    base, he = compare(load("resnet_vs_plain"), [
        RunConfig("as saved"), RunConfig("He", {"node.plain*.init": "kaiming_normal"})])
    assert base.final["val_accuracy"] <= 0.15 and he.final["val_accuracy"] >= 0.8, (
        base.final, he.final)  # the plain net, the first: measured 0.100 and 0.894


# ------------------------------------------------------------------------ layer_stats


def test_layer_stats_gradients_are_the_training_gradients_and_leave_grad_alone():
    s = _session("resnet_vs_plain", 0)
    x, y = s.dataset.val.input[:32], s.dataset.val.target[:32]
    marker = [np.full(p.shape, 7.0, np.float32) for p in s.program.parameters()]
    for p, m in zip(s.program.parameters(), marker):
        p.grad = m
    groups = layer_stats(s, x, y)
    for p, m in zip(s.program.parameters(), marker):
        assert p.grad is m  # what the optimizer reads next is untouched
    # the same gradients by hand: the sum of the losses, backward, per layer ‖∂L/∂W‖
    for p in s.program.parameters():
        p.grad = None
    s.program.eval()
    trace = s.program.run(s.feeds(x, y))
    loss = sum((trace[n]["output"] for n in s.program.losses[1:]),
               trace[s.program.losses[0]]["output"])
    loss.backward()
    s.program.train()
    for g in groups:
        want = [np.linalg.norm(s.program.call(n).module.weight.grad) for n in g.nodes]
        np.testing.assert_allclose(g.grad_norm, want, rtol=1e-5)
    plain, res = groups
    assert plain.activation == ("ReLU",) * 19 + ("",)  # the head feeds the loss
    assert res.activation[1:3] == ("ReLU", "")         # block 1: W1 -> ReLU, W2 -> Add
    act = trace[f"{plain.nodes[0]}_act"]["output"].data  # plain1 feeds plain1_act
    assert plain.act_std[0] == pytest.approx(float(act.std()), rel=1e-5)


def test_only_deep_graphs_get_the_layers_view():
    deep = _session("resnet_vs_plain", 0)
    assert "layers" in deep.views()["nodes"]
    shallow = Session(load("digits_mlp"), timeline=False)
    assert "layers" not in shallow.views()["nodes"]
    assert MIN_LAYERS == 8

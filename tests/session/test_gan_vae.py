"""The GAN and VAE recipes: their losses checked by hand with real numbers, the two
optimizers, k discriminator steps, and the errors that name what to fix."""

from __future__ import annotations

import numpy as np
import pytest

from playground.engine._random import generator
from playground.project import load
from playground.session import Session, SessionError
from playground.session.gan import GAN, mode_coverage

RING = ("data", "Dataset", {"dataset": "ring", "n_samples": 256, "noise": 0.05, "seed": 0})


def _softplus(x):
    return np.logaddexp(0.0, x)


def _rng_like_engine():
    """A generator in the engine generator's current state (to replay its draws)."""
    g = np.random.Generator(np.random.PCG64())
    g.bit_generator.state = generator().bit_generator.state
    return g


def _gan(project, rewire=None, **recipe):
    nodes = [RING, ("noise", "NoiseSource", {"dim": 3}),
             ("g1", "Linear", {"in_features": 3, "out_features": 8}), ("ga", "ReLU", {}),
             ("g2", "Linear", {"in_features": 8, "out_features": 2}),
             ("d1", "Linear", {"in_features": 2, "out_features": 8}),
             ("da", "LeakyReLU", {"negative_slope": 0.2}),
             ("d2", "Linear", {"in_features": 8, "out_features": 1})]
    edges = ["data.x -> noise.reference", "noise.output -> g1.input",
             "g1.output -> ga.input", "ga.output -> g2.input", "g2.output -> d1.input",
             "d1.output -> da.input", "da.output -> d2.input"]
    if rewire:
        edges = [rewire.get(e, e) for e in edges]
    fields = {"type": "gan", "generator": ["g1", "ga", "g2"],
              "discriminator": ["d1", "da", "d2"], **recipe}
    return Session(project(nodes, edges, training={"optimizer": "Adam", "lr": 0.01,
                                                    "batch_size": 16}, recipe=fields),
                   timeline=False)


def _g(w, z):
    h = np.maximum(z @ w["g1.weight"].T + w["g1.bias"], 0)
    return h @ w["g2.weight"].T + w["g2.bias"]


def _d(w, x):
    h = x @ w["d1.weight"].T + w["d1.bias"]
    h = np.where(h > 0, h, 0.2 * h)
    return h @ w["d2.weight"].T + w["d2.bias"]


def test_bce_and_generator_losses_on_known_logits(project):
    s = _gan(project)
    from playground.engine import Tensor
    logits = Tensor(np.array([[0.0], [np.log(3.0)]], np.float64))
    assert float(GAN._bce(logits, 1.0).data) == pytest.approx((np.log(2) + np.log(4 / 3)) / 2)
    assert float(GAN._bce(logits, 0.0).data) == pytest.approx((np.log(2) + np.log(4)) / 2)
    assert float(s.recipe.generator_loss(logits).data) == pytest.approx(
        (np.log(2) + np.log(4 / 3)) / 2)
    s.recipe.g_loss = "minimax"
    assert float(s.recipe.generator_loss(logits).data) == pytest.approx(
        -(np.log(2) + np.log(4)) / 2)


def test_minimax_saturates_where_the_non_saturating_loss_does_not(project):
    """When D confidently rejects the samples (logit -8), the minimax generator gets almost
    no gradient; the non-saturating one gets nearly its full size (Goodfellow et al. 2014)."""
    from playground.engine import Tensor
    s = _gan(project)
    grads = {}
    for kind in ("minimax", "non_saturating"):
        s.recipe.g_loss = kind
        logits = Tensor(np.full((4, 1), -8.0), requires_grad=True)
        s.recipe.generator_loss(logits).backward()
        grads[kind] = np.abs(logits.grad).mean() * 4  # per sample
    assert grads["minimax"] == pytest.approx(1 / (1 + np.exp(8)), rel=1e-6)  # sigmoid(-8)
    assert grads["non_saturating"] == pytest.approx(1 / (1 + np.exp(-8)), rel=1e-6)


def test_one_gan_step_by_hand(project):
    s = _gan(project)
    w0 = s.weights()
    rng = _rng_like_engine()
    loader_rng = np.random.default_rng(s.training.seed)  # the loader's first batch
    x = s.dataset.train.input[loader_rng.permutation(len(s.dataset.train))[:16]]
    m = s.step()
    w1 = s.weights()
    # the discriminator step: noise z1, real x, both judged by D as it was
    z1 = rng.standard_normal((16, 3)).astype(np.float32)
    l_real, l_fake = _d(w0, x), _d(w0, _g(w0, z1))
    d_loss = _softplus(-l_real).mean() + _softplus(l_fake).mean()
    assert m["d_loss"] == pytest.approx(d_loss, rel=1e-5)
    assert m["d_real"] == pytest.approx((1 / (1 + np.exp(-l_real))).mean(), rel=1e-5)
    assert m["d_fake"] == pytest.approx((1 / (1 + np.exp(-l_fake))).mean(), rel=1e-5)
    # the generator step: fresh noise z2, G as it was, D as the D step left it
    z2 = rng.standard_normal((16, 3)).astype(np.float32)
    g_loss = _softplus(-_d(w1, _g(w0, z2))).mean()
    assert m["g_loss"] == pytest.approx(g_loss, rel=1e-5)
    assert m["loss"] == pytest.approx(d_loss + g_loss, rel=1e-5)
    # each optimizer stepped its own side once; Adam's first step is at most lr
    for opt in s.optimizers:
        assert all(opt.state[p]["step"] == 1 for g in opt.param_groups for p in g["params"])
    for k in w0:
        assert 0 < np.abs(w1[k] - w0[k]).max() <= 0.01 * (1 + 1e-5), k


def test_k_discriminator_steps_per_generator_step(project):
    s = _gan(project, d_steps=3, d_optimizer={"optimizer": "SGD", "lr": 0.05},
             g_optimizer={"lr": 0.002, "betas": [0.5, 0.9]})
    assert [type(o).__name__ for o in s.optimizers] == ["Adam", "SGD"]
    assert s.optimizers[0].param_groups[0]["betas"] == (0.5, 0.9)
    assert s.optimizers[0].param_groups[0]["lr"] == 0.002
    assert len(s.optimizers[0].param_groups[0]["params"]) == 4  # g1, g2 weights and biases
    s.step()
    assert s.loader._next == 3  # three real batches, one per discriminator step
    s.set_lr(0.001)
    assert all(g["lr"] == 0.001 for o in s.optimizers for g in o.param_groups)


def test_gan_recipe_errors_name_the_field(project):
    with pytest.raises(SessionError, match=r"recipe.generator\[1\]: the graph has no node 'gx'"):
        _gan(project, generator=["g1", "gx"])
    with pytest.raises(SessionError, match="node 'g1' has parameters but is in neither"):
        _gan(project, generator=["ga", "g2"])
    with pytest.raises(SessionError, match=r"input \(d1.input\) is wired from 'data', which "
                                           "is not in recipe.generator"):
        _gan(project, rewire={"g2.output -> d1.input": "data.x -> d1.input"})
    with pytest.raises(SessionError, match="exactly one input wired from outside"):
        _gan(project, discriminator=["noise", "d1", "da", "d2"])  # data and g2 both flow in


def test_gan_probed_steps_train_like_plain_ones_and_give_health(project):
    a = _gan(project)  # (one after the other: both draw noise from the engine's generator)
    plain = [a.step()["loss"] for _ in range(4)]
    b = _gan(project)
    b.set_health(True)
    assert [b.step()["loss"] for _ in range(4)] == plain
    for k, v in a.weights().items():
        np.testing.assert_array_equal(v, b.weights()[k])
    h = b.health
    assert h.nodes["g1"].grad_norm > 0 and h.nodes["d2"].grad_norm > 0
    assert h.nodes["d1"].update_ratio > 0 and h.nodes["g1"].update_ratio > 0
    assert ("g2", "output", "d1", "input") in h.wires


def test_mode_coverage_counts_modes_and_quality():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 100)
    real = centres[labels] + 0.1 * rng.standard_normal((300, 2))
    on_two = np.concatenate([centres[0] + rng.uniform(-0.1, 0.1, (50, 2)),  # within 3 std
                             centres[1] + rng.uniform(-0.1, 0.1, (40, 2)),
                             np.full((10, 2), 5.0)])  # 10 far from every mode
    covered, quality = mode_coverage(on_two, real, labels, 3)
    assert covered == 2 and quality == pytest.approx(0.9)


def _vae(project, beta=0.5):
    nodes = [("data", "Dataset", {"dataset": "digits"}),
             ("enc", "Linear", {"in_features": 64, "out_features": 16}), ("act", "Tanh", {}),
             ("mu", "Linear", {"in_features": 16, "out_features": 2}),
             ("logvar", "Linear", {"in_features": 16, "out_features": 2}),
             ("z", "Reparameterize", {}),
             ("dec", "Linear", {"in_features": 2, "out_features": 64}),
             ("recon", "BCEWithLogitsLoss", {"reduction": "sum"}),
             ("kl", "GaussianKL", {"reduction": "batchmean"})]
    edges = ["data.x -> enc.input", "enc.output -> act.input", "act.output -> mu.input",
             "act.output -> logvar.input", "mu.output -> z.mu", "logvar.output -> z.logvar",
             "z.z -> dec.input", "dec.output -> recon.input", "data.x -> recon.target",
             "mu.output -> kl.mu", "logvar.output -> kl.logvar"]
    return Session(project(nodes, edges, training={"optimizer": "Adam", "lr": 0.01,
                                                    "batch_size": 8},
                           recipe={"type": "vae", "beta": beta}), timeline=False)


def test_one_vae_step_by_hand(project):
    s = _vae(project, beta=0.5)
    w = s.weights()
    rng = _rng_like_engine()
    x = s.dataset.train.input[np.random.default_rng(0).permutation(len(s.dataset.train))[:8]]
    m = s.step()
    h = np.tanh(x @ w["enc.weight"].T + w["enc.bias"])
    mu = h @ w["mu.weight"].T + w["mu.bias"]
    logvar = h @ w["logvar.weight"].T + w["logvar.bias"]
    eps = rng.standard_normal((8, 2)).astype(np.float32)
    z = mu + np.exp(logvar / 2) * eps
    logits = z @ w["dec.weight"].T + w["dec.bias"]
    # BCE summed over the batch's pixels, per example; KL per example
    rec = np.sum(_softplus(logits) - x * logits) / 8
    kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar)) / 8
    assert m["reconstruction"] == pytest.approx(rec, rel=1e-4)
    assert m["kl"] == pytest.approx(kl, rel=1e-4)
    assert m["loss"] == pytest.approx(rec + 0.5 * kl, rel=1e-4)
    assert m["elbo"] == pytest.approx(-(rec + kl), rel=1e-4)
    assert {"val_loss", "val_reconstruction", "val_kl", "val_elbo"} <= set(m)


def test_vae_views_give_the_latent_and_the_manifold(project):
    s = _vae(project)
    v = s.views()
    mu, labels = v["latent"]
    assert mu.shape == (359, 2) and labels.shape == (359,)
    np.testing.assert_array_equal(labels, s.dataset.val.target)
    assert v["manifold"].shape == (12, 12, 1, 8, 8)
    assert v["manifold"].min() >= 0 and v["manifold"].max() <= 1  # through the sigmoid
    # the manifold's top-left image decodes z = (-2, +2)
    top_left = s.recipe.decode(np.array([[-2.0, 2.0]]))
    np.testing.assert_allclose(v["manifold"][0, 0], top_left[0], rtol=1e-5)


def test_vae_recipe_errors_name_the_field(project):
    s = _vae(project)
    g = s.model.to_dict()
    g["nodes"] = [n for n in g["nodes"] if n["id"] != "kl"]
    g["edges"] = [e for e in g["edges"] if e["dst"] != "kl"]
    with pytest.raises(SessionError, match="needs one GaussianKL loss node"):
        s.set_graph(g)
    assert s.recipe.kl == "kl"  # the old graph stays
    p = s.project
    p.recipe = {"type": "vae", "latent": "nope"}
    with pytest.raises(SessionError, match="recipe.latent: the graph has no node 'nope'"):
        Session(p)


def test_worker_publishes_the_gan_views_and_health(project):
    import time

    from playground.session import TrainingWorker
    w = TrainingWorker(_gan(project))
    try:
        w.set_health(True)
        w.train()
        deadline = time.time() + 120  # a hang guard: the loop ends at step 30
        while w.snapshot.step < 30 and time.time() < deadline:
            time.sleep(0.01)
        w.pause()
        w.step_batches(1)
        snap = w.call(lambda s: s.snapshot()).result(10)
    finally:
        w.stop()
    assert snap.recipe == "gan" and snap.step >= 30
    assert snap.views["fake"].shape == (512, 2)
    assert snap.views["real"].shape == (256, 2)  # all of the 256 real points
    assert snap.views["discriminator"].probs.shape == (64, 64, 1)
    assert snap.boundary is None  # no classifier: the discriminator's view replaces it
    assert snap.health is not None and snap.health.step <= snap.step
    assert "g_loss" in snap.history and "d_loss" in snap.history


def test_gradcheck_through_noise_replays_the_same_draws(project):
    """Reparameterize and NoiseSource draw noise: each evaluation of the gradient check
    draws the same values, so the check still holds."""
    vae = _vae(project)
    vae.step()
    for node in ("mu", "logvar", "z", "dec", "recon", "kl"):
        check = vae.gradcheck_node(node)
        assert check.passed, check.summary()
    gan = _gan(project)
    gan.step()
    for node in ("g1", "g2", "d1", "d2"):
        check = gan.gradcheck_node(node)
        assert check.passed, check.summary()


def test_stepping_a_vae_leaves_its_training_noise_alone(project):
    plain = _vae(project)
    plain.step()
    expected = [plain.step()["loss"] for _ in range(3)]
    stepped = _vae(project)
    stepped.step()
    records = list(stepped.forward_steps())
    assert [r.node for r in records][-1] in ("recon", "kl")
    list(stepped.backward_steps())
    assert [stepped.step()["loss"] for _ in range(3)] == expected


@pytest.mark.parametrize("node, param, value, message", [
    ("g_out", "out_features", 3, "the generator's samples (g_out.output, (N, 3)) and the real "
     "data (data.x, (N, 2)) must have the same shape"),
    ("d_out", "out_features", 4, "the discriminator's output (d_out.output) is (N, 4); it "
     "must be one logit per example, (N, 1)"),
])
def test_a_gan_whose_players_do_not_fit_the_data_is_refused_with_the_shapes(node, param,
                                                                            value, message):
    # found by the generative fuzzer: these trained on silently (D's input took the first
    # layer's in_features; logits (N, 4) broadcast in BCE) until a view failed to reshape
    from playground.graph import GraphModel
    p = load("gan_ring")
    m = GraphModel.from_dict(p.graph)
    m.set_param(node, param, value)
    if node == "g_out":
        m.set_param("d_fc1", "in_features", value)  # the wiring itself is consistent
    assert m.errors() == {}
    p.graph = m.to_dict()
    with pytest.raises(SessionError) as err:
        Session(p, timeline=False)
    assert message in str(err.value)

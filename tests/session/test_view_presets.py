"""The presets of issue 5, one per view family, trained headless to their stated results
(each in well under a minute)."""

from __future__ import annotations

import numpy as np
import pytest

from playground.project import load
from playground.session import Session


def test_cnn_digits_reaches_97_percent_held_out():
    s = Session(load("cnn_digits"))
    final = s.train(s.training.steps)
    assert final["val_accuracy"] >= 0.97
    assert s.program.call("conv1").module.weight.shape == (16, 1, 3, 3)


def _gan_ring(seed: int, **recipe) -> Session:
    proj = load("gan_ring")
    proj.training.seed = seed
    for key, value in recipe.items():
        proj.recipe[key] = {**proj.recipe[key], **value} if isinstance(value, dict) else value
    return Session(proj, timeline=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gan_ring_covers_all_eight_modes(seed):
    """The preset's stated result, for each of three seeds (benchmarks/bench_gan_modes.py
    checks seeds 0-4 and other BLAS kernels): every mode covered, most samples on a mode,
    and at the equilibrium D cannot tell (about 1/2 on real and generated points)."""
    s = _gan_ring(seed)
    final = s.train(s.training.steps)
    assert final["modes_covered"] == 8
    assert final["high_quality"] >= 0.5
    assert 0.25 < final["d_real"] < 0.75 and 0.25 < final["d_fake"] < 0.75
    if seed == 0:
        v = s.views()
        assert v["real"].shape == v["fake"].shape == (512, 2)
        d = v["discriminator"]
        assert d.probs.shape == (64, 64, 1) and 0 <= d.probs.min() and d.probs.max() <= 1


#: The notes' mode-collapse setting (benchmarks/bench_gan_modes.py --collapse runs it).
COLLAPSE = {"d_optimizer": {"optimizer": "Adam", "lr": 0.0001, "betas": [0.5, 0.999]}}


@pytest.mark.parametrize("seed", [0, 1])
def test_gan_ring_collapses_with_the_notes_slow_discriminator(seed):
    """A discriminator that learns 10x slower than the generator gives no useful gradient
    between the modes: the generator piles onto one or two of them (mode collapse)."""
    final = _gan_ring(seed, **COLLAPSE).train(3000)
    assert final["modes_covered"] <= 2


def _knn_accuracy(train_z, train_y, test_z, test_y, k=5):
    d = ((test_z[:, None, :] - train_z[None]) ** 2).sum(-1)
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(train_y[row], minlength=10).argmax() for row in nearest])
    return float(np.mean(votes == test_y))


def test_vae_digits_elbo_rises_and_the_latent_separates_the_digits():
    s = Session(load("vae_digits"))
    start = s.evaluate()
    final = s.train(s.training.steps)
    # the negative ELBO per image (nats) falls from about 46 to about 25
    assert start["val_loss"] > 40
    assert final["val_loss"] < start["val_loss"] - 15
    # beta = 1: the loss is the negative ELBO. (The loss is summed in float32, the ELBO in
    # float64 from the same float32 terms, so they agree to float32 rounding.)
    assert final["val_elbo"] == pytest.approx(-final["val_loss"], rel=1e-6)
    assert final["val_kl"] > 1.0  # the code carries information: no posterior collapse
    # a 5-nearest-neighbour vote in the 2-D latent space names the held-out digit far
    # better than chance (0.1)
    z_train = s.recipe.encode(s.dataset.train.input)
    mu, labels = s.views()["latent"]
    assert _knn_accuracy(z_train, s.dataset.train.target, mu, labels) >= 0.5
    manifold = s.views()["manifold"]
    assert manifold.shape == (12, 12, 1, 8, 8)
    assert manifold.std(axis=(0, 1)).mean() > 0.05  # the decoded grid is not one image


def test_token_accuracy_for_sequence_logits_in_either_layout():
    """Ready for a sequence model (transformer_reverse): accuracy is per token, for logits
    (N, L, C) and for PyTorch's (N, C, L)."""
    from playground.graph import Trace
    s = Session(load("xor_mlp"), timeline=False)
    y = np.array([[0, 1, 2, 0], [2, 2, 0, 1]])
    logits = np.eye(3)[[[0, 1, 1, 0], [2, 2, 0, 0]]].astype(np.float32)  # 6 of 8 right
    from playground.engine import Tensor
    node, port = s.logits_node
    for arr in (logits, logits.transpose(0, 2, 1)):
        assert s.accuracy(Trace({node: {port: Tensor(arr)}}), y) == 6 / 8

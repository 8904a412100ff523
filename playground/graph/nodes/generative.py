"""Generative: Reparameterize (the VAE's sampling step) and NoiseSource (a GAN
generator's input).

Noise comes from the engine's generator, so ``manual_seed`` makes it reproducible.
0 params and 0 MACs.
"""

from __future__ import annotations

from playground.engine import randn

from ..spec import REGISTRY, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import Lambda, need, no_cost, tensor


def _reparameterize_infer(p, inputs):
    mu = tensor(need(inputs, "mu", "the encoder's means (N, D)"), "mu")
    logvar = tensor(need(inputs, "logvar", "the encoder's log variances (N, D)"), "logvar")
    if mu.shape != logvar.shape:
        raise ShapeError(f"needs mu and logvar of one shape; got {format_shape(mu.shape)} from "
                         f"'{mu.node}' and {format_shape(logvar.shape)} from '{logvar.node}'. "
                         "Give both encoder heads the same out_features.")
    return {"z": mu.shape}


def reparameterize(mu, logvar):
    """z = mu + exp(logvar/2) * eps, eps ~ N(0, I): a sample of N(mu, e^logvar) through
    which gradients reach mu and logvar (Kingma & Welling 2014, section 2.4)."""
    eps = randn(*mu.shape, dtype=mu.data.dtype)
    return mu + (logvar * 0.5).exp() * eps


REGISTRY.register(NodeSpec(
    type="Reparameterize",
    category="Generative",
    description="Samples z = mu + σ·ε with ε ~ N(0, I) and σ = exp(logvar/2), so gradients "
                "flow to mu and logvar.",
    inputs=(PortSpec("mu", "tensor", "means: (N, D)"),
            PortSpec("logvar", "tensor", "log variances: (N, D)")),
    outputs=(PortSpec("z", "tensor", "samples: (N, D)"),),
    infer=_reparameterize_infer,
    build=lambda p, ins: Lambda(reparameterize, "z = mu + exp(logvar/2)*eps"),
    cost=no_cost,
    doc="z = mu + exp(0.5*logvar) * eps, eps ~ N(0, I) (Kingma & Welling 2014)",
))


def _noise_infer(p, inputs):
    if "reference" in inputs:  # it emits as many rows as the reference has: its dim 0
        shape = need(inputs, "reference", "any batch").shape
        if not shape:
            raise ShapeError("takes its number of rows from dim 0 of 'reference', but that "
                             "is a scalar (). Wire a batch (N, ...) into 'reference', or "
                             "leave it unwired to emit batch_size rows.")
        return {"output": (shape[0], p["dim"])}
    return {"output": (p["batch_size"], p["dim"])}  # what it emits: batch_size rows, not N


def _noise_build(p, ins):
    dim, default_n = p["dim"], p["batch_size"]

    def noise(reference=None):
        n = default_n if reference is None else reference.shape[0]
        return randn(n, dim)
    return Lambda(noise, f"dim={dim}, batch_size={default_n}")


REGISTRY.register(NodeSpec(
    type="NoiseSource",
    category="Generative",
    description="Standard normal noise (N, dim): the input of a GAN generator. N is the "
                "batch of 'reference' if wired, else batch_size.",
    inputs=(PortSpec("reference", "tensor", "optional: any (N, ...) batch whose N to match"),),
    outputs=(PortSpec("output", "tensor", "z ~ N(0, I): (N, dim)"),),
    params=(
        ParamSpec("dim", "int", 2, "size of each noise vector", low=1, high=100_000),
        ParamSpec("batch_size", "int", 64, "N when 'reference' is not wired", low=1,
                  high=1_000_000),
    ),
    infer=_noise_infer,
    build=_noise_build,
    cost=no_cost,
    doc="z ~ N(0, I)",
))

__all__ = ["reparameterize"]

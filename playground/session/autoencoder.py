"""Views of an autoencoder trained with the supervised recipe: its reconstructions and,
when it has a narrow code, the code's space and what the decoder makes of it.

A supervised graph is an *autoencoder* when one of its loss nodes compares a node's output
with the Dataset's own input ``x`` (its ``target`` port wired from ``data.x``) and that
output has as many values per example as ``x``. Its *code* is the narrowest node output
(fewest values per example, fewer than ``x`` has) on the way from ``x`` to the
reconstruction; the first such node in execution order when several tie.

:func:`autoencoder_views` gives the recipe's views (see ``Recipe.views``):

- ``reconstruction``: ``(inputs, outputs)``, each (K, C, H, W) for image data, else (K, F):
  the first K held-out examples and the graph's reconstructions of them, in eval mode.
  Through a sigmoid when the loss takes logits (BCEWithLogitsLoss).
- ``latent``: ``(codes (M, D), labels (M,))`` of the first M held-out examples, the same
  form as a VAE's (the Latent space view draws both).
- ``manifold``: (G, G, C, H, W) images decoded from a G x G grid of codes over the box the
  held-out codes fill (2nd to 98th percentile, widened by 10%), row 0 at the top
  (largest z₂); ``manifold_range``: that box, ``((z1_lo, z1_hi), (z2_lo, z2_hi))``. Only
  when D = 2 and the graph's other inputs do not feed the decoder.
- ``code``: the code's node id and port, for the view's caption.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from playground.engine import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

#: Held-out examples shown reconstructed (small: the timeline's copy).
RECONSTRUCTIONS, RECONSTRUCTIONS_SMALL = 16, 8
#: Held-out examples whose codes the latent view plots.
LATENT_POINTS, LATENT_POINTS_SMALL = 1000, 300
#: Grid of the decoded manifold (G x G codes).
MANIFOLD_GRID, MANIFOLD_GRID_SMALL = 12, 8


@dataclass(frozen=True)
class Autoencoder:
    """Where an autoencoder's parts are in a compiled program.

    Attributes:
        loss: the reconstruction loss node.
        output: ``(node, port)`` of the reconstruction fed to the loss.
        code: ``(node, port)`` of the narrowest output on the way (None if none is
            narrower than the input).
        logits: the loss applies a sigmoid itself (BCEWithLogitsLoss).
    """

    loss: str
    output: tuple[str, str]
    code: tuple[str, str] | None
    logits: bool


def find_autoencoder(session: "Session") -> Autoencoder | None:
    """The graph's autoencoder (see the module docstring), or None when no loss is fed the
    Dataset's ``x`` as its target. Runs one pass over two held-out examples to measure the
    outputs' sizes."""
    s = session
    program = s.program
    features = int(np.prod(s.dataset.feature_shape))
    for loss in program.losses:
        call = program.call(loss)
        ports = {p: (src, sp) for p, src, sp in call.inputs}
        if ports.get("target") != (s.data_node, "x") or "input" not in ports:
            continue
        out_node, out_port = ports["input"]
        split = s.dataset.val or s.dataset.train
        need = program.ancestors(out_node)
        with s.inference():
            trace = s.run(s.feeds(split.input[:2], split.target[:2]), until=need)
        if trace[out_node][out_port].data[0].size != features:
            continue
        code, narrowest = None, features
        for c in program.calls:  # execution order: the first of equally narrow outputs
            if c.node_id not in need or c.node_id == s.data_node or c.node_id == out_node:
                continue
            for port, t in trace.outputs.get(c.node_id, {}).items():
                if isinstance(t, Tensor) and t.data.ndim >= 2 and t.data[0].size < narrowest:
                    code, narrowest = (c.node_id, port), t.data[0].size
        return Autoencoder(loss, (out_node, out_port), code,
                           "Logits" in call.spec.type)
    return None


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _as_images(session: "Session", y: np.ndarray) -> np.ndarray:
    shape = session.dataset.image_shape
    if shape is not None and y[0].size == int(np.prod(shape)):
        return y.reshape(len(y), *shape)
    return y.reshape(len(y), -1)


def decode(session: "Session", ae: Autoencoder, z: np.ndarray) -> np.ndarray:
    """The reconstruction the graph makes from codes ``z`` (M, D) fed in at the code's
    node, in eval mode: (M, C, H, W) for image data, else (M, F).

    Raises:
        ValueError: the autoencoder has no code, or the decoder also reads the Dataset (a
            skip connection around the code): it cannot run from the code alone.
    """
    s = session
    if ae.code is None:
        raise ValueError("this autoencoder has no code narrower than its input to decode from")
    program = s.program
    node, port = ae.code
    encoder = program.ancestors(node) - {node}
    need = program.ancestors(ae.output[0]) - encoder
    if s.data_node in need:
        raise ValueError(f"the decoder also reads the Dataset (around the code {node!r}), so "
                         "it cannot run from a code alone")
    outputs = {p.name: Tensor(np.zeros((len(z), 1), np.float32))
               for p in program.call(node).spec.outputs}
    outputs[port] = Tensor(np.asarray(z, np.float32))
    with s.inference():
        trace = s.run({node: outputs}, until=need)
    y = trace[ae.output[0]][ae.output[1]].data
    if ae.logits:
        y = _sigmoid(y)
    return _as_images(s, y).astype(np.float32)


def autoencoder_views(session: "Session", small: bool = False) -> dict[str, Any]:
    """The autoencoder's views (see the module docstring); ``{}`` for a graph that is not
    an autoencoder."""
    s = session
    ae = s.derived("autoencoder", lambda: find_autoencoder(s))
    if ae is None:
        return {}
    split = s.dataset.val or s.dataset.train
    m = LATENT_POINTS_SMALL if small else LATENT_POINTS
    x, y = split.input[:m], split.target[:m]
    program = s.program
    need = program.ancestors(ae.output[0])
    with s.inference():
        trace = s.run(s.feeds(x, y), until=need)
    k = RECONSTRUCTIONS_SMALL if small else RECONSTRUCTIONS
    rec = trace[ae.output[0]][ae.output[1]].data[:k]
    if ae.logits:
        rec = _sigmoid(rec)
    out: dict[str, Any] = {"reconstruction": (_as_images(s, x[:k]).astype(np.float32),
                                              _as_images(s, rec).astype(np.float32))}
    if ae.code is None:
        return out
    node, port = ae.code
    codes = trace[node][port].data.reshape(len(x), -1).astype(np.float32)
    out["code"] = ae.code
    if y.ndim == 1:
        out["latent"] = (codes, y.copy())
    if codes.shape[1] == 2:
        lo, hi = np.percentile(codes, 2, axis=0), np.percentile(codes, 98, axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-6)
        lo, hi = lo - pad, hi + pad
        g = MANIFOLD_GRID_SMALL if small else MANIFOLD_GRID
        zx, zy = np.meshgrid(np.linspace(lo[0], hi[0], g), np.linspace(hi[1], lo[1], g))
        try:
            images = decode(s, ae, np.stack([zx.ravel(), zy.ravel()], axis=1))
        except ValueError:
            return out
        out["manifold"] = images.reshape(g, g, *images.shape[1:])
        out["manifold_range"] = ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))
    return out


__all__ = ["Autoencoder", "autoencoder_views", "decode", "find_autoencoder"]

"""NegativeSamplingLoss: skip-gram's loss with negative sampling (Mikolov et al. 2013, eq. 4),
holding word2vec's output ("context") embedding table.

Shapes: N pairs, E = embedding_dim, V = num_embeddings, K = 1 + k. ``input`` is the
center words' vectors from an Embedding, (N, E) or (N, 1, E) (the ``skipgram`` Dataset's x
is (N, 1)); ``target`` (N, K) holds each pair's context word then its k negatives. Output:
the scalar loss ``mean_n[-log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c)]``
(:mod:`playground.engine.word2vec`).

Params ``V*E`` (the output table ``weight``, U(-0.5/E, 0.5/E) at init); MACs
``K*E`` per pair (the K dot products).
"""

from __future__ import annotations

from playground.engine import Tensor
from playground.engine.word2vec import NegativeSamplingLoss

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import adapted, need, tensor


def _infer(p, inputs):
    src = tensor(need(inputs, "input", "the center words' vectors (N, E), e.g. an "
                                       "Embedding of the skipgram Dataset's x"), "input")
    tgt = need(inputs, "target", "the context and negative ids (N, 1+k), the skipgram "
                                 "Dataset's target")
    shape = tuple(src.shape)
    if not (len(shape) == 2 or (len(shape) == 3 and shape[1] == 1)):
        raise ShapeError(f"expects the center vectors (N, E) or (N, 1, E) in 'input', got "
                         f"{format_shape(src.shape)} from '{src.node}'. Wire an Embedding of "
                         "the skipgram Dataset's x.")
    e = shape[-1]
    if e != p["embedding_dim"]:
        raise ShapeError(f"has embedding_dim={p['embedding_dim']} but gets {e}-number "
                         f"vectors from '{src.node}'. Set embedding_dim={e}.",
                         fix=("embedding_dim", e))
    if tgt.shape is None or len(tgt.shape) != 2:
        raise ShapeError(f"expects word ids (N, 1+k) in 'target', got "
                         f"{format_shape(tgt.shape)} from '{tgt.node}'. Wire the skipgram "
                         "Dataset's target.")
    words = (tgt.meta or {}).get("num_classes")
    if words is not None and words != p["num_embeddings"]:
        raise ShapeError(f"has num_embeddings={p['num_embeddings']} but the word ids from "
                         f"'{tgt.node}' run over {words} words. Set num_embeddings={words}.",
                         fix=("num_embeddings", words))
    return {"output": ()}


def _forward(base, self, input, target):
    if input.ndim == 3:
        input = input.reshape((input.shape[0], input.shape[2]))
    t = target.data if isinstance(target, Tensor) else target
    return base(self, input, t)


def _build(p, ins):
    cls = adapted(NegativeSamplingLoss, "NegativeSamplingLossNode", _forward)
    return cls(p["num_embeddings"], p["embedding_dim"])


def _cost(p, ins, outs) -> Cost:
    v, e = p["num_embeddings"], p["embedding_dim"]
    k1 = ins["target"][-1] if ins.get("target") else None
    macs = (k1 or 0) * e
    return Cost(v * e, macs, f"num_embeddings*embedding_dim = {v}*{e}",
                f"(1+k)*embedding_dim = {k1}*{e}")


REGISTRY.register(NodeSpec(
    type="NegativeSamplingLoss",
    category="Losses",
    description="Skip-gram with negative sampling (word2vec): pulls each center word's "
                "vector towards its context word's output vector and away from k sampled "
                "words'. Holds the output (context) embedding table.",
    inputs=(PortSpec("input", "tensor", "v_c: (N, E) or (N, 1, E) center word vectors"),
            PortSpec("target", "index", "(N, 1+k) word ids: the context word, then k "
                                        "negatives")),
    outputs=(PortSpec("output", "scalar", "loss: ()"),),
    params=(ParamSpec("num_embeddings", "int", 414, "V, words in the output table (the "
                                                    "vocabulary size)", low=1, high=10_000_000),
            ParamSpec("embedding_dim", "int", 32, "E, numbers per word vector (the center "
                                                  "Embedding's embedding_dim)",
                      low=1, high=100_000)),
    infer=_infer,
    build=_build,
    cost=_cost,
    is_loss=True,
    doc="L = mean_n[-log σ(u_o·v_c) - Σ_{k} log σ(-u_k·v_c)], u = weight[target] "
        "(Mikolov et al. 2013, eq. 4)",
))

__all__: list[str] = []

"""Language-model tools of a session: sampling text, and gradients through time.

For a graph trained on the ``text`` dataset (``Dataset(dataset="text")`` -> ... ->
logits -> CrossEntropyLoss), with N batch, L = the Dataset's ``seq_len``, V the vocabulary,
H the recurrent layer's hidden size:

* :func:`sample` generates text one token at a time from a prompt: the last L tokens (the
  window length the model was trained on, each window starting from a zero state) go
  through the graph, the logits z of the last position give
  ``p = softmax(z / temperature)`` and the next token is drawn from p (temperature 0:
  the argmax, greedy; a word model never draws ``<unk>``). Low temperatures repeat the likeliest words; high ones invent
  spellings (Hinton et al.'s "temperature" of distillation, Ackley et al. 1985's of the
  Boltzmann machine).
* :func:`grad_norm_through_time` measures ``||dl_L / dh_t||`` for each t: how much the
  loss at the last position, ``l_L = CE(logits_L, y_L)``, changes with the recurrent
  layer's hidden state h_t, t = 1..L, total derivative through every later step. The
  layer is run one step at a time (the node's own module, on inputs of length 1 with the
  state carried over) with a zero perturbation added to each h_t, whose gradient is
  ``dl_L / dh_t``. A plain RNN's norms shrink roughly geometrically going back from L (the
  vanishing gradient, Bengio et al. 1994; Pascanu et al. 2013); an LSTM's cell state
  carries them much further (Hochreiter & Schmidhuber 1997).

:func:`language_model_views` gathers both for the session's views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from playground.data import text as text_data
from playground.engine import Tensor, no_grad, stack
from playground.engine import functional as F

from .views import view_batch

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["Sampling", "sample", "grad_norm_through_time", "language_model_views",
           "recurrent_node", "RECURRENT_TYPES"]

RECURRENT_TYPES = ("RNN", "LSTM", "GRU")
#: Tokens the sampling view generates (fewer in timeline entries).
SAMPLE_TOKENS, SAMPLE_TOKENS_SMALL = 240, 80
#: Examples of the view batch the gradient-through-time plot averages over.
GRAD_EXAMPLES = 16


@dataclass
class Sampling:
    """What the sampling view generates: ``length`` tokens after ``prompt`` at
    ``temperature`` (0 = greedy), drawn with ``seed`` (the same seed and weights give the
    same text)."""

    prompt: str = "MENENIUS:\n"
    temperature: float = 0.8
    length: int = SAMPLE_TOKENS
    seed: int = 0


def _vocabulary(session: "Session") -> text_data.Vocabulary | None:
    ds = session.dataset
    vocab = ds.extras.get("vocabulary") if ds is not None else None
    return vocab if isinstance(vocab, text_data.Vocabulary) else None


def _encode(vocab: text_data.Vocabulary, level: str, prompt: str) -> list[int]:
    if level == "word":
        return [vocab.index(w) for w in text_data.words(prompt)]
    unknown = sorted({c for c in prompt if c not in vocab})
    if unknown:
        raise ValueError(f"the prompt has characters the corpus never uses: "
                         f"{', '.join(map(repr, unknown))}; remove them")
    return [vocab.index(c) for c in prompt]


def _last_logits(session: "Session", ids: np.ndarray) -> np.ndarray:
    """Logits (V,) float64 of the last position of the token row ``ids`` (l,)."""
    node, port = session.logits_node
    x = ids[None, :].astype(np.int64)
    with session.inference():
        trace = session.run(session.feeds(x, np.zeros_like(x)),
                            until=session.program.ancestors(node))
    z = trace[node][port].data
    z = z[0, :, -1] if z.shape[2:] == x.shape[1:] else z[0, -1]  # (N, V, l) or (N, l, V)
    return z.astype(np.float64)


def sample(session: "Session", prompt: str, length: int, temperature: float,
           seed: int = 0) -> str:
    """``prompt`` followed by ``length`` generated tokens (characters, or words joined by
    spaces for ``level="word"``).

    Args:
        prompt: the text to continue; may be empty (generation then starts from a newline,
            or for words from the commonest word).
        length: tokens to generate, >= 0.
        temperature: >= 0; 0 is greedy (always the argmax).
        seed: seeds the draws (a numpy Generator of its own: the engine's and the loader's
            random streams are untouched).

    Raises:
        ValueError: not a text-dataset session with a CrossEntropyLoss, a prompt with a
            character outside the vocabulary, or a negative length or temperature.
    """
    vocab = _vocabulary(session)
    if vocab is None or session.logits_node is None:
        raise ValueError("sampling needs a graph trained on the 'text' dataset with a "
                         "CrossEntropyLoss on its logits")
    if length < 0 or not temperature >= 0:
        raise ValueError(f"length must be >= 0 and temperature >= 0, got {length} and "
                         f"{temperature}")
    level = session.dataset.extras.get("level", "char")
    ids = _encode(vocab, level, prompt)
    if not ids:
        ids = [vocab.index("\n")] if level == "char" else [1 if len(vocab) > 1 else 0]
    window = session.dataset.feature_shape[0]
    rng = np.random.default_rng(seed)
    new: list[int] = []
    for _ in range(length):
        z = _last_logits(session, np.array(ids[-window:]))
        if vocab.unk is not None:  # never write "<unk>": it stands for many rare words
            z[vocab.unk] = -np.inf
        if temperature == 0:
            t = int(np.argmax(z))
        else:
            z = z / temperature
            p = np.exp(z - z.max())
            p /= p.sum()
            t = int(rng.choice(len(p), p=p))
        ids.append(t)
        new.append(t)
    out = vocab.decode(new)
    if level == "word":
        return (prompt + " " if prompt else "") + " ".join(out)
    return prompt + "".join(out)


def recurrent_node(session: "Session") -> str | None:
    """The first RNN, LSTM or GRU node (unidirectional) that feeds the logits, or None."""
    if session.logits_node is None:
        return None
    upstream = session.program.ancestors(session.logits_node[0])
    for call in session.program.calls:
        if call.spec.type in RECURRENT_TYPES and call.node_id in upstream and \
                not session.model.params(call.node_id)["bidirectional"]:
            return call.node_id
    return None


def grad_norm_through_time(session: "Session", x: np.ndarray | None = None,
                           y: np.ndarray | None = None) -> dict[str, Any] | None:
    """``||dl_L / dh_t||`` for t = 1..L (see the module doc), on ``x``, ``y`` (N, L)
    (default: the first ``GRAD_EXAMPLES`` examples of the view batch).

    The model is in eval mode (no dropout) and its parameters' gradients are left as they
    were. Returns ``{"node", "type", "norms": float64 (L,)}``: the root mean square over
    the N examples of each example's norm ``||dl_L / dh_t||_2`` over the H (times
    num_layers) state features; or None without a recurrent node feeding the logits.
    """
    node = recurrent_node(session)
    if node is None:
        return None
    if x is None:
        x, y = view_batch(session)
        x, y = x[:GRAD_EXAMPLES], y[:GRAD_EXAMPLES]
    program, call = session.program, session.program.call(node)
    batch_first = session.model.params(node)["batch_first"]
    lstm = call.spec.type == "LSTM"
    feeds = session.feeds(x, y)
    saved = [(p, p.grad) for p in program.parameters()]
    with session.inference():
        with no_grad():  # the recurrent layer's input: upstream of it is not differentiated
            src, sport = next((s, p) for port, s, p in call.inputs if port == "input")
            upstream = session.run(feeds, until=program.ancestors(src))
            inp = upstream[src][sport].data
    if not batch_first:
        inp = inp.transpose(1, 0, 2)
    seq_len = inp.shape[1]
    state: dict[str, Tensor] = {}
    deltas, outs = [], []
    program.eval()  # no dropout, batch norm on running statistics
    try:
        for t in range(seq_len):
            step_in = inp[:, t:t + 1] if batch_first else inp[:, t:t + 1].transpose(1, 0, 2)
            res = call.module(input=Tensor(np.ascontiguousarray(step_in)), **state)
            delta = Tensor(np.zeros(res["h_n"].shape, res["h_n"].data.dtype),
                           requires_grad=True)
            h = res["h_n"] + delta
            deltas.append(delta)
            state = {"h_0": h, "c_0": res["c_n"]} if lstm else {"h_0": h}
            outs.append(h[-1])  # the top layer's h_t: (N, H)
        output = stack(outs, dim=1 if batch_first else 0)
        given = {"output": output, "h_n": state["h_0"]}
        if lstm:
            given["c_n"] = state["c_0"]
        logits_node, port = session.logits_node
        trace = session.run({**feeds, node: given}, until=program.ancestors(logits_node))
        z = trace[logits_node][port]
        last = z[:, :, -1] if z.shape[2:] == tuple(y.shape[1:]) else z[:, -1]
        loss = F.cross_entropy(last, y[:, -1])
        loss.backward()
    finally:
        program.train()
        for p, g in saved:
            p.grad = g
    per = np.stack([np.sqrt((d.grad.astype(np.float64) ** 2).sum(axis=(0, 2)))
                    for d in deltas], axis=1)  # (N, L): one norm per example and step
    norms = np.sqrt((per ** 2).mean(axis=0))
    return {"node": node, "type": call.spec.type, "norms": norms}


def language_model_views(session: "Session", small: bool = False) -> dict[str, Any]:
    """``sampling`` (``{"prompt", "temperature", "seed", "text"}`` from
    :attr:`Session.sampling`) and ``grad_through_time`` (:func:`grad_norm_through_time`)
    for a text-dataset session with a CrossEntropyLoss; ``{}`` otherwise. ``small``
    (timeline entries) generates fewer tokens."""
    if _vocabulary(session) is None or session.logits_node is None or \
            session.recipe.type != "supervised":
        return {}
    settings = getattr(session, "sampling", None) or Sampling()
    out: dict[str, Any] = {}
    length = min(settings.length, SAMPLE_TOKENS_SMALL) if small else settings.length
    try:
        out["sampling"] = {"prompt": settings.prompt, "temperature": settings.temperature,
                           "seed": settings.seed,
                           "text": sample(session, settings.prompt, length,
                                          settings.temperature, settings.seed),
                           "level": session.dataset.extras.get("level", "char")}
    except ValueError as exc:
        out["sampling"] = {"prompt": settings.prompt, "temperature": settings.temperature,
                           "seed": settings.seed, "text": "", "error": str(exc)}
    grads = grad_norm_through_time(session)
    if grads is not None:
        out["grad_through_time"] = grads
    return out

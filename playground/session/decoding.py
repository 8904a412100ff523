"""Decoding a teacher-forced sequence model: greedy search and beam search.

A sequence-to-sequence graph trained with teacher forcing (a ShiftRight node feeds the
Dataset's target, shifted behind a start token, to the decoder) learns
``p(y_t | y_<t, x)``. Generating replaces the true ``y_<t`` by the model's own tokens, one
position at a time:

* **greedy**: at each position take the most probable token;
* **beam search** (width k): keep the k most probable prefixes (by the sum of their
  tokens' log-probabilities), extend each by every token, keep the best k of the k*C
  candidates, and at the end return the best complete sequence (Graves 2012, "Sequence
  Transduction with Recurrent Neural Networks"; Sutskever et al. 2014, sec. 3.1). With
  k = 1 it is greedy search. Beam search is a heuristic: a larger k never hurts on
  average but, per example, a prefix greedy would have kept can fall out of the beam, so
  beam ≥ greedy in log-probability is checked, not assumed (the preset's test checks it
  on every held-out example).

**End of sequence.** With an ``eos`` token, a hypothesis that emits it is complete: it is
carried on unchanged (every later position holds ``eos``, adding log-probability 0) and
competes with the others by its score. Without one (``transformer_reverse``: always 8
digits) every hypothesis has the target's length T.

**Length normalisation** is off by default (``length_penalty=0``): hypotheses are ranked
by their total log-probability, which favours short ones when lengths differ. With
``length_penalty=α > 0`` the final choice ranks ``log p / len^α`` (len counts the tokens up
to and including ``eos``), Wu et al. (2016), "Google's Neural Machine Translation
System", eq. 14 without its constants. The beam itself is always pruned by total
log-probability. The dates all have one length, so there it changes nothing.

The search is written against a *step function*, ``step(prefix, t) -> log-probs``:
``prefix`` (M, T) int64 holds each row's tokens so far (positions ``>= t`` are 0 and must
not matter), and the result (M, C) is ``log p(y_t = c | prefix[:, :t])``.
:class:`SessionStep` makes one from a Session: it runs the graph's encoder side once and
the decoder side once per position, reusing the compiled program's own nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from playground.engine import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["Decoded", "greedy", "beam_search", "SessionStep", "decode", "decoding_metrics",
           "eos_token", "exact_match"]

StepFn = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Decoded:
    """The result of decoding N sequences.

    Attributes:
        tokens: int64 (N, T), each row the chosen sequence (``eos``-filled after its end).
        log_prob: float64 (N,), the sum of the chosen tokens' log-probabilities (natural
            log, up to and including ``eos``).
        lengths: int64 (N,), tokens up to and including the first ``eos`` (T without one).
    """

    tokens: np.ndarray
    log_prob: np.ndarray
    lengths: np.ndarray


def _lengths(tokens: np.ndarray, eos: int | None) -> np.ndarray:
    t = tokens.shape[1]
    if eos is None:
        return np.full(len(tokens), t, np.int64)
    hit = tokens == eos
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, t).astype(np.int64)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def greedy(step: StepFn, n: int, length: int, eos: int | None = None) -> Decoded:
    """Greedy decoding of ``n`` sequences of at most ``length`` tokens.

    Args:
        step: the step function (see the module doc), over n rows.
        n: sequences (N). length: T, positions to fill.
        eos: the end token, or None.

    Returns:
        :class:`Decoded`.
    """
    tokens = np.zeros((n, length), np.int64)
    total = np.zeros(n, np.float64)
    done = np.zeros(n, bool)
    for t in range(length):
        lp = np.asarray(step(tokens, t), np.float64)
        best = lp.argmax(axis=1)
        if eos is not None:
            best[done] = eos
        total += np.where(done, 0.0, lp[np.arange(n), best])
        tokens[:, t] = best
        if eos is not None:
            done |= best == eos
    return Decoded(tokens, total, _lengths(tokens, eos))


def beam_search(step: StepFn, n: int, length: int, beam_width: int, eos: int | None = None,
                length_penalty: float = 0.0) -> Decoded:
    """Beam search over ``n`` sequences of at most ``length`` tokens.

    Args:
        step: the step function over ``n * beam_width`` rows: row ``i * k + b`` is beam b
            of sequence i (a :class:`SessionStep` made with ``repeat=beam_width``).
        n: sequences (N). length: T. beam_width: k ≥ 1.
        eos: the end token, or None (fixed length T).
        length_penalty: α ≥ 0; the final choice ranks ``log p / len^α`` (0: total log p).

    Returns:
        :class:`Decoded` of each sequence's best hypothesis.

    Raises:
        ValueError: beam_width < 1 or length_penalty < 0.
    """
    k = int(beam_width)
    if k < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    if length_penalty < 0:
        raise ValueError(f"length_penalty must be ≥ 0, got {length_penalty}")
    tokens = np.zeros((n, k, length), np.int64)
    scores = np.full((n, k), -np.inf)
    scores[:, 0] = 0.0  # all beams start as the same empty prefix: expand one of them
    done = np.zeros((n, k), bool)
    rows = np.arange(n)[:, None]
    for t in range(length):
        lp = np.asarray(step(tokens.reshape(n * k, length), t), np.float64)
        c = lp.shape[1]
        cand = scores[:, :, None] + lp.reshape(n, k, c)  # (N, k, C)
        if eos is not None and done.any():  # a complete hypothesis goes on as itself
            cand[done] = -np.inf
            cand[done, eos] = scores[done]
        flat = cand.reshape(n, k * c)
        # the k best candidates, best first (stable: ties keep the lower beam and token)
        top = np.argsort(-flat, axis=1, kind="stable")[:, :k]
        beam, tok = top // c, top % c
        tokens = tokens[rows, beam]
        tokens[:, :, t] = tok
        scores = flat[rows, top]
        done = done[rows, beam]
        if eos is not None:
            done = done | (tok == eos)
    lengths = _lengths(tokens.reshape(n * k, length), eos).reshape(n, k)
    rank = scores / lengths ** length_penalty if length_penalty else scores
    best = np.argmax(rank, axis=1)
    pick = np.arange(n)
    return Decoded(tokens[pick, best], scores[pick, best], lengths[pick, best])


# ------------------------------------------------------------------------------ sessions


def eos_token(session: "Session") -> int | None:
    """The class named ``"<eos>"`` in the dataset's class names, or None."""
    names = session.dataset.class_names
    return names.index("<eos>") if "<eos>" in names else None


class SessionStep:
    """The step function of a Session's teacher-forced graph, for sources ``x``.

    The graph's nodes that feed the logits split in two: the *decoder side*, every node
    downstream of the ShiftRight node (it sees the target), and the *encoder side*, the
    rest. The encoder side runs once, on ``x`` with each row repeated ``repeat`` times (a
    beam's rows); each step then runs only the decoder side, fed the cached encoder
    outputs and the prefix as the Dataset's target, and returns the log-softmax of the
    logits at position t. All of it in eval mode under ``no_grad``.

    Args:
        session: a Session whose graph has a teacher-forcing ShiftRight node
            (:func:`playground.session.recipes.teacher_forcing_node`).
        x: the sources (N, *F).
        repeat: rows per source (the beam width).

    Raises:
        ValueError: the graph has no teacher-forcing ShiftRight node.
    """

    def __init__(self, session: "Session", x: np.ndarray, repeat: int = 1):
        from .recipes import teacher_forcing_node

        s = self.s = session
        shift = teacher_forcing_node(s)
        if shift is None:
            raise ValueError("decoding needs a ShiftRight node fed by the Dataset's target "
                             "(the decoder's input) and a CrossEntropyLoss on the logits")
        program = s.program
        self.node, self.port = s.logits_node
        need = program.ancestors(self.node)
        decoder = {n for n in need if shift in program.ancestors(n)}
        encoder = need - decoder
        boundary = {src for call in program.calls if call.node_id in decoder
                    for _, src, _ in call.inputs if src in encoder and src != s.data_node}
        self.x = np.repeat(np.asarray(x), repeat, axis=0)
        self.length = s.dataset.target_shape[0]
        dummy = np.zeros((len(self.x), self.length), np.int64)
        self.cached: dict = {}
        if boundary:
            with s.inference():
                trace = s.run(s.feeds(self.x, dummy),
                              until=set().union(*(program.ancestors(b) for b in boundary)))
            self.cached = {b: dict(trace[b]) for b in boundary}
        self.until = decoder | boundary | {s.data_node}

    def __call__(self, prefix: np.ndarray, t: int) -> np.ndarray:
        s = self.s
        feeds = {s.data_node: {"x": Tensor(self.x), "target": Tensor(prefix)}, **self.cached}
        with s.inference():
            logits = s.run(feeds, until=self.until)[self.node][self.port].data
        # (N, C, L) as PyTorch's loss takes them, or (N, L, C)
        at = logits[:, :, t] if logits.shape[2:] == (self.length,) else logits[:, t]
        return _log_softmax(at)


def decode(session: "Session", x: np.ndarray, beam_width: int = 1,
           length_penalty: float = 0.0) -> Decoded:
    """Decode sources ``x`` (N, *F) with the session's model: greedy for ``beam_width`` 1,
    else beam search; the end token is the dataset's ``"<eos>"`` class if it has one."""
    n, length, eos = len(x), session.dataset.target_shape[0], eos_token(session)
    if beam_width == 1:
        return greedy(SessionStep(session, x), n, length, eos)
    return beam_search(SessionStep(session, x, repeat=beam_width), n, length, beam_width,
                       eos, length_penalty)


def exact_match(tokens: np.ndarray, target: np.ndarray) -> float:
    """Fraction of rows of ``tokens`` (N, T) equal to ``target`` (N, T) at every position."""
    return float(np.mean((np.asarray(tokens) == np.asarray(target)).all(axis=1)))


def decoding_metrics(session: "Session", x: np.ndarray, target: np.ndarray,
                     settings: dict) -> dict[str, float]:
    """Held-out metrics of a project that declares ``recipe.decoding``: greedy and beam
    search (``settings["beam_width"]``, ``["length_penalty"]``) on sources ``x`` (N, *F)
    against ``target`` (N, T).

    Returns ``exact_match_greedy`` and ``exact_match_beam`` (fraction of whole sequences
    right), ``log_prob_greedy`` and ``log_prob_beam`` (mean sequence log-probability, nats),
    ``val_greedy_accuracy`` (per token, greedy) and ``beam_width``.
    """
    k = int(settings.get("beam_width", 5))
    g = decode(session, x)
    b = decode(session, x, beam_width=k, length_penalty=float(settings.get("length_penalty",
                                                                           0.0)))
    return {"exact_match_greedy": exact_match(g.tokens, target),
            "exact_match_beam": exact_match(b.tokens, target),
            "log_prob_greedy": float(g.log_prob.mean()),
            "log_prob_beam": float(b.log_prob.mean()),
            "val_greedy_accuracy": float(np.mean(g.tokens == target)),
            "beam_width": float(k)}

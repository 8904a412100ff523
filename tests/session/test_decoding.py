"""Greedy and beam search (playground.session.decoding) on small step models whose
sequence probabilities can be enumerated: beam width 1 is greedy, a wide beam finds the
exact best sequence, beam never ends below greedy on these models but can in general
(width 2, a trap), end tokens stop a hypothesis; the recipe's decoding settings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from playground.project import ProjectError
from playground.project.format import validate_recipe
from playground.session.decoding import beam_search, exact_match, greedy


def _table_model(n, length, vocab, seed, sharp=2.0):
    """A step function whose log-probabilities depend on the source row and the whole
    prefix (a random table per (row, prefix)), and its exact sequence log-probability."""
    rng = np.random.default_rng(seed)
    cache = {}

    def logp(row, prefix):
        key = (row, tuple(prefix))
        if key not in cache:
            z = rng.standard_normal(vocab) * sharp
            cache[key] = z - np.log(np.exp(z - z.max()).sum()) - z.max()
        return cache[key]

    def step(rows_per_source):
        def fn(prefix, t):
            m = len(prefix)
            return np.stack([logp(i // rows_per_source, prefix[i, :t]) for i in range(m)])
        return fn

    def score(row, seq, eos=None):
        total = 0.0
        for t, tok in enumerate(seq):
            total += logp(row, seq[:t])[tok]
            if eos is not None and tok == eos:
                break
        return total

    return step, score


def _best_by_enumeration(score, row, length, vocab, eos=None):
    best, best_seq = -np.inf, None
    for seq in itertools.product(range(vocab), repeat=length):
        if eos is not None and eos in seq:  # one representative per ended sequence
            end = seq.index(eos)
            if any(tok != eos for tok in seq[end:]):
                continue
        s = score(row, list(seq), eos)
        if s > best:
            best, best_seq = s, seq
    return best, np.array(best_seq)


N, T, C = 6, 4, 3


def test_beam_width_1_is_greedy():
    step, _ = _table_model(N, T, C, seed=0)
    g = greedy(step(1), N, T)
    b = beam_search(step(1), N, T, beam_width=1)
    np.testing.assert_array_equal(b.tokens, g.tokens)
    np.testing.assert_allclose(b.log_prob, g.log_prob, rtol=1e-12)


@pytest.mark.parametrize("eos", [None, 2])
def test_a_wide_beam_finds_the_exact_best_sequence(eos):
    step, score = _table_model(N, T, C, seed=1)
    k = C ** T  # wide enough to keep every prefix
    b = beam_search(step(k), N, T, beam_width=k, eos=eos)
    g = greedy(step(1), N, T, eos=eos)
    for row in range(N):
        best, seq = _best_by_enumeration(score, row, T, C, eos)
        assert b.log_prob[row] == pytest.approx(best, rel=1e-12)
        np.testing.assert_array_equal(b.tokens[row], seq)
        assert b.log_prob[row] == pytest.approx(score(row, list(b.tokens[row]), eos))
        assert b.log_prob[row] >= g.log_prob[row] - 1e-12  # the best is at least greedy's
    assert (b.log_prob > g.log_prob + 1e-6).any()  # greedy is not optimal on this model


@pytest.mark.parametrize("k", [2, 3, 5])
def test_beam_is_at_least_greedy_on_every_example_of_a_random_model(k):
    """On this model (seed 2) no example falls into a trap like :func:`_trap`'s, and beam
    search is strictly better on about 40% of them."""
    step, score = _table_model(40, 5, 4, seed=2, sharp=1.0)
    g = greedy(step(1), 40, 5)
    b = beam_search(step(k), 40, 5, beam_width=k)
    for row in range(40):  # the reported log-probabilities are the sequences' own
        assert b.log_prob[row] == pytest.approx(score(row, list(b.tokens[row])))
        assert g.log_prob[row] == pytest.approx(score(row, list(g.tokens[row])))
    assert (b.log_prob >= g.log_prob - 1e-12).all()
    assert (b.log_prob > g.log_prob + 1e-9).mean() >= 0.3


def _trap():
    """First tokens p = (0.4, 0.38, 0.22). After 0: (0.45, 0.275, 0.275), then token 0
    for sure: greedy's 0,0,0 has p 0.18. After 1: 0 or 1 at 0.5 each (prefixes 0.19): both
    beat greedy's prefix 0,0 (0.18) at the second step, so a beam of 2 drops it, and both
    end uncertain (1/3 each): the beam's best is 0.19/3 = 0.063 < 0.18."""
    def norm(p):
        p = np.asarray(p, float) + 1e-9
        return np.log(p / p.sum())

    table = {(): norm([0.4, 0.38, 0.22]), (0,): norm([0.45, 0.275, 0.275]),
             (1,): norm([0.5, 0.5, 0.0]), (0, 0): norm([1.0, 0.0, 0.0])}

    def step(prefix, t):
        return np.array([table.get(tuple(p[:t]), norm([1, 1, 1])) for p in prefix])
    return step


def test_beam_search_is_a_heuristic_a_narrow_beam_can_end_below_greedy():
    step = _trap()
    g = greedy(step, 1, 3)
    np.testing.assert_array_equal(g.tokens, [[0, 0, 0]])
    assert g.log_prob[0] == pytest.approx(np.log(0.18), abs=1e-6)
    b2 = beam_search(step, 1, 3, beam_width=2)
    np.testing.assert_array_equal(b2.tokens[0, :2], [1, 0])
    assert b2.log_prob[0] == pytest.approx(np.log(0.19 / 3), abs=1e-6)  # below greedy
    b3 = beam_search(step, 1, 3, beam_width=3)  # wide enough to keep 0,0
    np.testing.assert_array_equal(b3.tokens, g.tokens)


def test_end_token_ends_a_hypothesis_and_fills_the_rest():
    # token 1 is eos; at position 0 it has p 0.6: greedy ends at once, length 1
    def step(prefix, t):
        return np.log(np.tile([0.4, 0.6], (len(prefix), 1)))
    g = greedy(step, 2, 4, eos=1)
    np.testing.assert_array_equal(g.tokens, [[1, 1, 1, 1]] * 2)
    np.testing.assert_array_equal(g.lengths, [1, 1])
    np.testing.assert_allclose(g.log_prob, np.log(0.6))  # later positions add nothing
    b = beam_search(step, 2, 4, beam_width=3, eos=1)
    np.testing.assert_array_equal(b.tokens, [[1, 1, 1, 1]] * 2)
    np.testing.assert_allclose(b.log_prob, np.log(0.6))
    # length normalisation off by default; with α = 1 the per-token average ranks, and the
    # long sequence 0,0,0,0 (mean log 0.4 = -0.92) still loses to eos (-0.51)
    bn = beam_search(step, 2, 4, beam_width=3, eos=1, length_penalty=1.0)
    np.testing.assert_array_equal(bn.lengths, [1, 1])


def test_length_penalty_prefers_the_longer_hypothesis_when_it_is_better_per_token():
    # eos (1) costs p 0.5 at once; a 0 costs 0.5 but then eos is certain (p 0.99)
    def step(prefix, t):
        out = []
        for p in prefix:
            out.append(np.log([0.5, 0.5]) if t == 0 else np.log([0.01, 0.99]))
        return np.array(out)
    plain = beam_search(step, 1, 3, beam_width=4, eos=1)
    assert plain.lengths[0] == 1  # log 0.5 > log 0.5 + log 0.99, with a tie broken low
    normed = beam_search(step, 1, 3, beam_width=4, eos=1, length_penalty=1.0)
    np.testing.assert_array_equal(normed.tokens, [[0, 1, 1]])
    assert normed.log_prob[0] == pytest.approx(np.log(0.5 * 0.99))


def test_bad_settings_are_refused():
    step, _ = _table_model(1, 2, 2, seed=0)
    with pytest.raises(ValueError, match="beam_width must be at least 1"):
        beam_search(step(1), 1, 2, beam_width=0)
    with pytest.raises(ValueError, match="length_penalty must be ≥ 0"):
        beam_search(step(1), 1, 2, beam_width=1, length_penalty=-1)


def test_exact_match_counts_whole_sequences():
    assert exact_match(np.array([[1, 2], [1, 3], [0, 0]]), np.array([[1, 2], [1, 2], [0, 0]])) \
        == pytest.approx(2 / 3)


def test_the_recipe_declares_decoding_with_defaults_and_named_errors():
    r = validate_recipe({"type": "supervised", "decoding": {"beam_width": 3}})
    assert r["decoding"] == {"beam_width": 3, "sequences": 500, "length_penalty": 0.0}
    with pytest.raises(ProjectError, match="recipe.decoding.beam_width must be a whole number "
                                           "from 1 to 64, got 0"):
        validate_recipe({"type": "supervised", "decoding": {"beam_width": 0}})
    with pytest.raises(ProjectError, match="recipe.decoding.width is not a decoding setting"):
        validate_recipe({"type": "supervised", "decoding": {"width": 3}})
    with pytest.raises(ProjectError, match="recipe.decoding is not a field of the vae recipe"):
        validate_recipe({"type": "vae", "decoding": {}})

"""Each fused op equals its reference expansion into primitive ops, in value and in every
input's gradient (float64): the registry's ``EXPANSIONS`` from every op family, plus the
core fused ops of ``functional``."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F
from playground.engine.testing import (EXPANSIONS, ExpansionCase, _args, _classes, _n,
                                       check_expansion)


def _onehot(t, c):
    return Tensor(np.eye(c)[t])


# The core fused ops of functional.py, expanded into primitives. (The op families list
# theirs in cases/<family>.py.)
CORE = [
    ExpansionCase("linear", F.linear, lambda x, w, b: x @ w.T + b,
                  _args(_n(5, 3), _n(4, 3), _n(4))),
    ExpansionCase("linear_3d_input", F.linear, lambda x, w, b: x @ w.t() + b,
                  _args(_n(2, 3, 3), _n(4, 3), _n(4))),
    ExpansionCase("softmax", lambda x: F.softmax(x, dim=1),
                  lambda x: (x - x.max(dim=1, keepdim=True).values).exp()
                  / (x - x.max(dim=1, keepdim=True).values).exp().sum(dim=1, keepdim=True),
                  _args(_n(3, 5))),
    ExpansionCase("log_softmax", lambda x: F.log_softmax(x, dim=-1),
                  lambda x: x - x.exp().sum(dim=-1, keepdim=True).log(),
                  _args(_n(2, 3, 4))),
    ExpansionCase("cross_entropy", F.cross_entropy,
                  lambda x, t: -(F.log_softmax(x, dim=1) * _onehot(t, 4)).sum(dim=1).mean(),
                  _args(_n(5, 4), _classes(5, 4))),
    ExpansionCase("cross_entropy_picked_by_index", lambda x, t: F.cross_entropy(x, t, "sum"),
                  lambda x, t: -F.log_softmax(x, dim=1)[np.arange(5), t].sum(),
                  _args(_n(5, 4), _classes(5, 4))),
    ExpansionCase("mse_loss", F.mse_loss, lambda x, y: ((x - y) ** 2).mean(),
                  _args(_n(3, 4), _n(3, 4))),
]


@pytest.mark.parametrize("case", list(EXPANSIONS) + CORE, ids=lambda c: c.name)
def test_fused_op_equals_its_expansion(case):
    check_expansion(case)


def test_registry_expansions_have_unique_names():
    names = [c.name for c in EXPANSIONS] + [c.name for c in CORE]
    assert len(names) == len(set(names))


# -- the harness catches what it should ----------------------------------------------------


def test_a_wrong_value_is_caught():
    case = ExpansionCase("off_by_a_bit", lambda x: x.tanh(), lambda x: x.tanh() + 1e-6,
                         _args(_n(3)))
    with pytest.raises(AssertionError, match="off_by_a_bit: output 0 value"):
        check_expansion(case)


def test_a_wrong_gradient_is_caught():
    # same value, but the reference's gradient misses the detached half
    case = ExpansionCase("half_detached", lambda x: x * x, lambda x: x * x.detach(),
                         _args(_n(3)))
    with pytest.raises(AssertionError, match="half_detached: input 0 gradient"):
        check_expansion(case)


def test_a_missing_gradient_is_caught():
    case = ExpansionCase("no_grad_to_b", lambda a, b: a + b, lambda a, b: a + b.detach(),
                         _args(_n(3), _n(3)))
    with pytest.raises(AssertionError, match="input 1 has a gradient on one side only"):
        check_expansion(case)


def test_tuple_outputs_are_compared_one_by_one():
    case = ExpansionCase("pair", lambda x: (x.exp(), (x * 2, x.sum())),
                         lambda x: (x.exp(), (x * 2, x.sum() + 1e-3)), _args(_n(2, 2)))
    with pytest.raises(AssertionError, match="pair: output 2 value"):
        check_expansion(case)
    ok = ExpansionCase("pair_ok", lambda x: (x.exp(), (x * 2, x.sum())),
                       lambda x: (x.exp(), (x + x, x.sum())), _args(_n(2, 2)))
    check_expansion(ok)


def test_float32_is_refused():
    case = ExpansionCase("f32", lambda x: x.float(), lambda x: x.float(), _args(_n(2)))
    with pytest.raises(AssertionError, match="want float64"):
        check_expansion(case)

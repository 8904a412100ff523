"""Parity with PyTorch (float64) of batch_norm and layer_norm beyond the op registry
(whose every case test_parity.py checks): running-statistic updates over several steps,
train/eval switching, momentum=None, no affine / no running stats, and the modules'
state dicts (buffers included) loaded both ways."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RTOL = 1e-6


def _close(ours, theirs, rtol=RTOL, atol=1e-9, what=""):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _step(ours, theirs, x, seed):
    """One forward/backward on both; compare output, input grad and parameter grads."""
    xo = Tensor(x.copy(), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    _close(yo.data, yt, what="forward")
    v = np.random.default_rng(seed).standard_normal(yo.shape)
    (yo * Tensor(v)).sum().backward()
    (yt * torch.from_numpy(v)).sum().backward()
    _close(xo.grad, xt.grad, what="input grad")
    named = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, named[name].grad, what=name)
        p.grad = None
        named[name].grad = None


def _same_state(ours, theirs):
    theirs_sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_sd)
    for k, v in ours.state_dict().items():
        assert v.shape == tuple(theirs_sd[k].shape), k
        _close(v, theirs_sd[k], what=k)


_BNS = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 4), {}),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (5, 4, 6), dict(momentum=0.3, eps=1e-3)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 4, 3, 5), {}),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 4, 3, 5), dict(momentum=None)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (2, 4, 3, 3), dict(affine=False)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 4), dict(track_running_stats=False)),
]


@pytest.mark.parametrize("ours_cls,theirs_cls,shape,kw", _BNS,
                         ids=lambda a: getattr(a, "__name__", str(a)))
def test_batch_norm_module_tracks_running_stats_like_torch(ours_cls, theirs_cls, shape, kw):
    theirs = theirs_cls(4, **kw).double()
    ours = ours_cls(4, **kw, dtype=np.float64)
    if ours.affine:  # non-trivial affine parameters, copied in from torch
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())
    _same_state(ours, theirs)
    rng = np.random.default_rng(0)
    for step in range(4):  # training: batch statistics, running stats updated
        _step(ours, theirs, rng.standard_normal(shape) * 2 + 1, step)
        _same_state(ours, theirs)
    ours.eval()
    theirs.eval()
    for step in range(2):  # eval: running statistics, nothing updated
        _step(ours, theirs, rng.standard_normal(shape), 10 + step)
        _same_state(ours, theirs)
    ours.train()
    theirs.train()
    _step(ours, theirs, rng.standard_normal(shape), 20)
    _same_state(ours, theirs)


def test_batch_norm_state_dict_goes_both_ways_with_buffers():
    theirs = torch.nn.BatchNorm2d(3).double()
    theirs.train()
    for _ in range(3):
        theirs(torch.randn(4, 3, 2, 2, dtype=torch.float64))
    ours = nn.BatchNorm2d(3, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    assert int(ours.num_batches_tracked.data) == 3
    _same_state(ours, theirs)
    # ours -> torch
    ours.train()
    ours(Tensor(np.random.default_rng(1).standard_normal((5, 3, 2, 2))))
    fresh = torch.nn.BatchNorm2d(3).double()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    _same_state(ours, fresh)
    assert int(fresh.num_batches_tracked) == 4
    x = np.random.default_rng(2).standard_normal((2, 3, 2, 2))
    ours.eval()
    fresh.eval()
    _close(ours(Tensor(x)).data, fresh(torch.from_numpy(x)))


def test_functional_batch_norm_updates_running_stats_like_torch():
    rng = np.random.default_rng(3)
    rm_o, rv_o = np.zeros(3), np.ones(3)
    rm_t, rv_t = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    for momentum in (0.1, 0.5, 0.9):
        x = rng.standard_normal((6, 3, 4)) * 3
        yo = F.batch_norm(Tensor(x), rm_o, rv_o, Tensor(w), Tensor(b), True, momentum)
        yt = TF.batch_norm(torch.from_numpy(x), rm_t, rv_t, torch.from_numpy(w),
                           torch.from_numpy(b), True, momentum)
        _close(yo.data, yt)
        _close(rm_o, rm_t, what="running_mean")
        _close(rv_o, rv_t, what="running_var (unbiased)")


def test_batch_norm_in_training_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(Tensor(np.ones((1, 3))))
    with pytest.raises(Exception, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(3)(torch.ones(1, 3))
    nn.BatchNorm1d(3).eval()(Tensor(np.ones((1, 3))))  # fine in eval, as torch


@pytest.mark.parametrize("shape,kw", [((5,), {}), ((3, 5), dict(eps=1e-3)),
                                      ((5,), dict(bias=False)),
                                      ((3, 5), dict(elementwise_affine=False)), (5, {})])
def test_layer_norm_module_matches_torch_both_ways(shape, kw):
    theirs = torch.nn.LayerNorm(shape, **kw).double()
    ours = nn.LayerNorm(shape, **kw, dtype=np.float64)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.normal_()
            if theirs.bias is not None:
                theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())
    _same_state(ours, theirs)
    x = np.random.default_rng(4).standard_normal((2, 4, 3, 5))
    _step(ours, theirs, x, 0)
    fresh = nn.LayerNorm(shape, **kw, dtype=np.float64)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in fresh.state_dict().items()})
    _close(fresh(Tensor(x)).data, theirs(torch.from_numpy(x)))

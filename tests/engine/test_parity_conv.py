"""Parity with PyTorch (float64) of the convolution and pooling family beyond the op
registry (whose every case test_parity.py checks): the modules with weights copied in by
name and state dicts loaded both ways, max-pool indices, ConvTranspose2d's output_size,
and a whole CNN (channels-last memory through conv, ReLU, pool and flatten) over several
Adam steps in float64 and float32."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, nn, optim

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RTOL = 1e-6  # the bar; the values here agree far closer


def _close(ours, theirs, rtol=RTOL, atol=1e-9, what=""):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _copy_into_ours(ours, theirs):
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())


def _check_module(ours, theirs, x, rtol=RTOL):
    """Forward and every gradient (input and parameters) agree, for one loss."""
    xo = Tensor(x.copy(), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    _close(yo.data, yt, rtol, what="forward")
    v = np.random.default_rng(5).standard_normal(yo.shape)
    (yo * Tensor(v)).sum().backward()
    (yt * torch.from_numpy(v)).sum().backward()
    _close(xo.grad, xt.grad, rtol, what="input grad")
    named = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, named[name].grad, rtol, what=name)


_CONVS = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=3, out_channels=4, kernel_size=(3, 2), stride=2, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding="same", dilation=2,
         groups=2),
    dict(in_channels=3, out_channels=3, kernel_size=3, padding=1, groups=3, bias=False),
    dict(in_channels=3, out_channels=2, kernel_size=1, padding="valid"),
]


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("kw", _CONVS, ids=_ids)
def test_conv2d_module_matches_torch_both_ways(kw):
    theirs = torch.nn.Conv2d(**kw).double()
    ours = nn.Conv2d(**kw, dtype=np.float64)
    _copy_into_ours(ours, theirs)
    x = np.random.default_rng(0).standard_normal((2, kw["in_channels"], 7, 6))
    _check_module(ours, theirs, x)
    # ours -> torch: a fresh module's weights drive torch to the same output
    fresh = nn.Conv2d(**kw, dtype=np.float64)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in fresh.state_dict().items()})
    _close(fresh(Tensor(x)).data, theirs(torch.from_numpy(x)))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes_match_torch(mode):
    theirs = torch.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode).double()
    ours = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode, dtype=np.float64)
    _copy_into_ours(ours, theirs)
    _check_module(ours, theirs, np.random.default_rng(1).standard_normal((2, 2, 5, 6)))


_CONVTS = [
    dict(in_channels=3, out_channels=2, kernel_size=3),
    dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1,
         output_padding=1),
    dict(in_channels=4, out_channels=2, kernel_size=(2, 3), stride=(2, 1), groups=2,
         bias=False),
    dict(in_channels=2, out_channels=3, kernel_size=3, dilation=2, padding=2),
]


@pytest.mark.parametrize("kw", _CONVTS, ids=_ids)
def test_conv_transpose2d_module_matches_torch_both_ways(kw):
    theirs = torch.nn.ConvTranspose2d(**kw).double()
    ours = nn.ConvTranspose2d(**kw, dtype=np.float64)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    _copy_into_ours(ours, theirs)
    x = np.random.default_rng(2).standard_normal((2, kw["in_channels"], 4, 5))
    _check_module(ours, theirs, x)
    fresh = nn.ConvTranspose2d(**kw, dtype=np.float64)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in fresh.state_dict().items()})
    _close(fresh(Tensor(x)).data, theirs(torch.from_numpy(x)))


def test_conv_transpose2d_output_size_picks_torchs_output_padding():
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1).double()
    ours = nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1, dtype=np.float64)
    _copy_into_ours(ours, theirs)
    x = np.random.default_rng(3).standard_normal((1, 2, 4, 4))
    for size in [(10, 10), (11, 12), (1, 3, 12, 10)]:
        yo = ours(Tensor(x), output_size=size)
        yt = theirs(torch.from_numpy(x), output_size=size)
        assert yo.shape == tuple(yt.shape)
        _close(yo.data, yt)
    with pytest.raises(ValueError, match="valid sizes"):
        ours(Tensor(x), output_size=(13, 10))


@pytest.mark.parametrize("kw", [dict(kernel_size=2),
                                dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=1, dilation=(2, 1)),
                                dict(kernel_size=3, stride=2, ceil_mode=True)])
def test_max_pool2d_module_and_indices_match_torch(kw):
    rng = np.random.default_rng(4)
    x = (rng.permutation(2 * 3 * 7 * 8) / 100.0).reshape(2, 3, 7, 8)
    _check_module(nn.MaxPool2d(**kw), torch.nn.MaxPool2d(**kw), x)
    out, idx = nn.MaxPool2d(**kw, return_indices=True)(Tensor(x))
    tout, tidx = torch.nn.MaxPool2d(**kw, return_indices=True)(torch.from_numpy(x))
    _close(out.data, tout)
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    assert idx.dtype == np.int64


def test_max_pool2d_ties_route_the_gradient_to_the_first_max_like_torch():
    x = np.zeros((1, 2, 4, 4))
    x[0, 1, 1:3, 1:3] = 1.0  # ties of 0s and of 1s
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.max_pool2d(xo, 2, 1).sum().backward()
    TF.max_pool2d(xt, 2, 1).sum().backward()
    _close(xo.grad, xt.grad)
    _, idx = F.max_pool2d(Tensor(x), 2, 1, return_indices=True)
    np.testing.assert_array_equal(idx.data, TF.max_pool2d(torch.from_numpy(x), 2, 1,
                                                          return_indices=True)[1].numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=2),
                                dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                     count_include_pad=False),
                                dict(kernel_size=2, stride=1, divisor_override=3)])
def test_avg_pool2d_module_matches_torch(kw):
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 8))
    _check_module(nn.AvgPool2d(**kw), torch.nn.AvgPool2d(**kw), x)


@pytest.mark.parametrize("size", [1, 3, (2, 5), (None, 3), (9, 10)])
def test_adaptive_avg_pool2d_module_matches_torch(size):
    x = np.random.default_rng(7).standard_normal((2, 3, 7, 8))
    _check_module(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), x)


def _cnns():
    ours = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 10))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2),
                                 torch.nn.Conv2d(32, 8, 3, stride=2, padding=1),
                                 torch.nn.ReLU(), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(8, 10))
    return ours, theirs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cnn_trains_like_torch_over_adam_steps(dtype):
    """The benchmark's kind of CNN: activations stay channels-last in memory through
    conv, ReLU and pooling; the values, the loss and the weights after 5 Adam steps
    must still be torch's."""
    ours, theirs = _cnns()
    theirs = theirs.to(getattr(torch, dtype))
    ours.load_state_dict(theirs.state_dict())
    for p in ours.parameters():
        p.data = p.data.astype(dtype)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((16, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 10, 16)
    opt_o = optim.Adam(ours.parameters(), lr=1e-2)
    opt_t = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    rtol, atol = (1e-9, 1e-11) if dtype == "float64" else (2e-4, 2e-5)
    for _ in range(5):
        opt_o.zero_grad()
        opt_t.zero_grad()
        lo = F.cross_entropy(ours(Tensor(x)), y)
        lt = TF.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        assert lo.dtype == np.dtype(dtype)
        _close(lo.data, lt, rtol, atol, "loss")
        lo.backward()
        lt.backward()
        opt_o.step()
        opt_t.step()
    for name, p in theirs.named_parameters():
        _close(ours.state_dict()[name], p, rtol, atol, name)

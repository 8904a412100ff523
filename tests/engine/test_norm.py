"""Normalisation modules and Module buffers: what goes in the state dict, train/eval,
errors (values and gradients: gradcheck and torch-parity tests)."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, nn


def test_batch_norm_buffers_are_state_but_not_parameters():
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var",
                        "num_batches_tracked"]
    assert sd["num_batches_tracked"].dtype == np.int64
    assert sd["num_batches_tracked"].shape == ()
    seq = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                      "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked"]
    bare = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bare.state_dict()) == [] and bare.running_mean is None


def test_train_and_eval_reach_nested_batch_norm():
    seq = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    x = Tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    seq(x)
    bn = seq[1] if hasattr(seq, "__getitem__") else list(seq.children())[1]
    assert int(bn.num_batches_tracked.data) == 1
    before = bn.running_mean.data.copy()
    assert not np.allclose(before, 0)
    seq.eval()
    assert not bn.training
    y1, y2 = seq(x), seq(x[:3])
    np.testing.assert_array_equal(bn.running_mean.data, before)  # eval: frozen
    np.testing.assert_allclose(y1.data[:3], y2.data, rtol=1e-6)  # per-sample in eval
    assert int(bn.num_batches_tracked.data) == 1


def test_load_state_dict_fills_buffers_and_checks_their_shapes():
    a, b = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    a(Tensor(np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.running_var.data, a.running_var.data)
    assert int(b.num_batches_tracked.data) == 1
    bad = dict(a.state_dict(), running_mean=np.zeros(3))
    with pytest.raises(RuntimeError, match="size mismatch for 'running_mean'"):
        b.load_state_dict(bad)
    with pytest.raises(RuntimeError, match="Missing key.*'num_batches_tracked'"):
        b.load_state_dict({k: v for k, v in a.state_dict().items()
                           if k != "num_batches_tracked"})


def test_register_buffer_persistent_and_not():
    m = nn.Module()
    m.register_buffer("kept", np.arange(3.0))
    m.register_buffer("scratch", Tensor(np.ones(2)), persistent=False)
    m.register_buffer("absent", None)
    assert list(m.state_dict()) == ["kept"]
    assert [n for n, _ in m.named_buffers()] == ["kept", "scratch"]
    assert list(m.parameters()) == []
    m.kept = Tensor(np.zeros(3))  # reassigning a buffer keeps it a buffer
    np.testing.assert_array_equal(m.state_dict()["kept"], np.zeros(3))
    with pytest.raises(TypeError, match="buffer 'kept'"):
        m.kept = [1, 2, 3]
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", np.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("training", np.zeros(1))


def test_norm_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"expected 4D \(N, C, H, W\) input \(got 3D"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match=r"expected 2D \(N, C\) or 3D"):
        nn.BatchNorm1d(3)(Tensor(np.ones((2, 3, 4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\) expects input with 3 channels"):
        nn.BatchNorm1d(3)(Tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"does not end with normalized_shape \(5,\)"):
        nn.LayerNorm(5)(Tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match="needs running_mean"):
        F.batch_norm(Tensor(np.ones((2, 3))), None, None)


def test_norms_keep_float32_and_normalise():
    x = Tensor((np.random.default_rng(1).standard_normal((64, 3, 4, 4)) * 5 + 2)
               .astype(np.float32))
    y = nn.BatchNorm2d(3)(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.data.var(axis=(0, 2, 3)), 1, atol=1e-3)
    z = nn.LayerNorm((4, 4))(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.data.mean(axis=(2, 3)), 0, atol=1e-5)

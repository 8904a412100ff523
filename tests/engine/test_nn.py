"""nn.Module mechanics, layers, state dicts and seeding."""

import math

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, manual_seed, nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.head = nn.Linear(4, 2, bias=False)
        self.scale = nn.Parameter(np.ones(1, np.float32))

    def forward(self, x):
        return self.head(self.encoder(x)) * self.scale


def test_registration_and_dotted_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "encoder.0.weight", "encoder.0.bias", "head.weight"]
    assert [n for n, _ in net.named_children()] == ["encoder", "head"]
    assert len(list(net.modules())) == 5
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert list(net.state_dict()) == [n for n, _ in net.named_parameters()]


def test_shared_parameter_listed_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_reassigning_and_deleting_attributes():
    m = nn.Linear(2, 3)
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        m.weight = Tensor(np.zeros((3, 2)))
    m.extra = nn.ReLU()
    assert "extra" in dict(m.named_children())
    del m.extra
    assert "extra" not in dict(m.named_children())


def test_assigning_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_train_eval_and_zero_grad():
    net = Net()
    assert net.training and net.head.training
    assert net.eval() is net and not net.encoder[0].training
    net.train()
    assert net.encoder[0].training
    F.mse_loss(net(Tensor(np.ones((2, 3)))), Tensor(np.zeros((2, 2)))).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_is_a_copy():
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    sd["weight"][...] = 7
    assert not np.any(m.weight.data == 7)


def test_load_state_dict_round_trip_and_in_place():
    a, b = Net(), Net()
    weight_array = b.head.weight.data
    b.load_state_dict(a.state_dict())
    assert b.head.weight.data is weight_array  # copied in place
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    # Tensors are accepted as values too
    b.load_state_dict({k: Tensor(v * 2) for k, v in a.state_dict().items()})
    np.testing.assert_allclose(b.scale.data, 2 * a.scale.data)


def test_load_state_dict_errors_name_the_key():
    m = nn.Linear(2, 3)
    good = m.state_dict()
    before = m.state_dict()
    with pytest.raises(RuntimeError, match=r"size mismatch for 'weight'.*\(3, 3\).*\(3, 2\)"):
        m.load_state_dict({"weight": np.zeros((3, 3)), "bias": good["bias"] + 1})
    np.testing.assert_array_equal(m.bias.data, before["bias"])  # nothing copied
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: 'bias'"):
        m.load_state_dict({"weight": good["weight"]})
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: 'gamma'"):
        m.load_state_dict({**good, "gamma": np.zeros(1)})
    result = m.load_state_dict({"weight": good["weight"], "gamma": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["gamma"]
    with pytest.raises(RuntimeError, match="'bias'.*non-numeric"):
        m.load_state_dict({"weight": good["weight"], "bias": np.array(["a", "b", "c"])})


def test_linear_shapes_dtype_and_bounds():
    m = nn.Linear(10, 4)
    assert m.weight.shape == (4, 10) and m.bias.shape == (4,)
    assert m.weight.dtype == np.float32
    assert np.abs(m.weight.data).max() <= 1 / math.sqrt(10)
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    assert m(Tensor(np.ones((5, 7, 10), np.float32))).shape == (5, 7, 4)
    assert repr(m) == "Linear(in_features=10, out_features=4, bias=True)"
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 2)
    with pytest.raises(ValueError, match="float32 or float64"):
        nn.Linear(2, 2, dtype=np.int64)


def test_manual_seed_makes_init_reproducible():
    manual_seed(123)
    a = nn.Linear(5, 5).state_dict()
    manual_seed(123)
    b = nn.Linear(5, 5).state_dict()
    c = nn.Linear(5, 5).state_dict()
    np.testing.assert_array_equal(a["weight"], b["weight"])
    assert not np.array_equal(b["weight"], c["weight"])


def test_sequential_container():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.Tanh) and seq[-1] is seq[2]
    assert [type(m) for m in seq] == [nn.Linear, nn.Tanh, nn.Linear]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert seq(Tensor(np.ones((4, 2)))).shape == (4, 1)
    seq.append(nn.Sigmoid())
    assert "(3): Sigmoid()" in repr(seq)
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(lambda x: x)


def test_activation_and_loss_modules_match_functional():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)))
    t = np.array([0, 2, 1, 2])
    np.testing.assert_array_equal(nn.ReLU()(x).data, F.relu(x).data)
    np.testing.assert_array_equal(nn.Sigmoid()(x).data, F.sigmoid(x).data)
    np.testing.assert_array_equal(nn.Tanh()(x).data, F.tanh(x).data)
    np.testing.assert_array_equal(nn.Softmax(dim=0)(x).data, F.softmax(x, dim=0).data)
    np.testing.assert_array_equal(nn.LogSoftmax(dim=1)(x).data, F.log_softmax(x, 1).data)
    assert nn.CrossEntropyLoss()(x, t).item() == F.cross_entropy(x, t).item()
    assert nn.CrossEntropyLoss(reduction="none")(input=x, target=t).shape == (4,)
    assert nn.NLLLoss()(F.log_softmax(x, 1), t).item() == pytest.approx(
        F.cross_entropy(x, t).item())
    assert nn.MSELoss(reduction="sum")(x, x * 0).item() == pytest.approx((x.data ** 2).sum())
    assert nn.Flatten()(Tensor(np.zeros((2, 3, 4)))).shape == (2, 12)
    assert nn.Identity()(x) is x
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_without_warnings_and_takes_0d(dtype):
    import warnings

    x = np.array([-1e4, -800, -1, 0, 1, 800, 1e4, np.inf, -np.inf], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.sigmoid(Tensor(x)).data
    assert y.dtype == dtype
    np.testing.assert_allclose(y[[0, 1, 8]], 0.0, atol=0)
    np.testing.assert_allclose(y[[5, 6, 7]], 1.0, atol=0)
    np.testing.assert_allclose(y[2:5], 1 / (1 + np.exp(-x[2:5].astype(np.float64))),
                               rtol=1e-6)
    s = F.sigmoid(Tensor(np.array(0.0, dtype), requires_grad=True))
    s.backward()
    assert s.data.shape == () and s.data == 0.5

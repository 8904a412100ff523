"""Optimizers, their state dicts and gradient clipping: mechanics and formulas by hand,
and parity with torch over 50 steps (skipped without torch)."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, nn, optim


def _param(*values):
    return nn.Parameter(np.array(values, dtype=np.float64))


def test_sgd_step_formula_and_in_place():
    p = _param(1.0, 2.0)
    data = p.data
    p.grad = np.array([0.5, -1.0])
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, 2.1])
    assert p.data is data


def test_sgd_momentum_first_step_uses_raw_gradient():
    p = _param(0.0)
    opt = optim.SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    p.grad = np.array([1.0])
    opt.step()
    np.testing.assert_allclose(p.data, [-1.0])
    opt.step()  # buf = 0.9 * 1 + 0.5 * 1
    np.testing.assert_allclose(p.data, [-2.4])


def test_adam_first_step_moves_by_lr():
    p = _param(1.0, -1.0)
    p.grad = np.array([3.0, -0.2])
    optim.Adam([p], lr=0.01).step()  # bias correction makes the first step lr * sign(g)
    np.testing.assert_allclose(p.data, [0.99, -0.99], rtol=1e-6)


def test_live_learning_rate_change():
    p = _param(0.0)
    opt = optim.SGD([p], lr=1.0)
    p.grad = np.array([1.0])
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_allclose(p.data, [-1.5])


def test_param_groups_defaults_and_skipping_missing_grads():
    a, b = _param(1.0), _param(1.0)
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": [b]}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert opt.param_groups[1]["momentum"] == 0.0
    a.grad = np.array([1.0])
    opt.step()  # b has no grad: untouched
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.5, 1.0])


def test_zero_grad():
    p = _param(1.0)
    opt = optim.Adam([p])
    p.grad = np.array([2.0])
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad[0] == 0
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_loss():
    p = _param(2.0)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(p.data, [2.0 - 0.1 * 4.0])


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "beta parameter at index 0"),
    (lambda p: optim.Adam(p, eps=-1), "Invalid epsilon"),
    (lambda p: optim.Adam([]), "empty parameter list"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make([_param(1.0)])


def test_invalid_parameters():
    p = _param(1.0)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([np.zeros(2)])


def test_training_reduces_loss():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((64, 2)).astype(np.float32))
    t = (x.data[:, 0] * x.data[:, 1] > 0).astype(np.int64)  # XOR-like quadrants
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


# -- Adagrad, RMSprop, AdamW: formulas by hand --------------------------------------------


def test_adagrad_first_steps_by_hand():
    p = _param(1.0)
    opt = optim.Adagrad([p], lr=0.1, lr_decay=0.5, initial_accumulator_value=0.25, eps=0.0)
    assert opt.state[p]["sum"][0] == 0.25  # created up front, as torch
    p.grad = np.array([2.0])
    opt.step()  # sum = 4.25, clr = 0.1
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * 2 / np.sqrt(4.25)])
    opt.step()  # sum = 8.25, clr = 0.1 / 1.5
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * 2 / np.sqrt(4.25)
                                        - 0.1 / 1.5 * 2 / np.sqrt(8.25)])
    assert opt.state[p]["step"] == 2


def test_rmsprop_centered_momentum_by_hand():
    p = _param(0.0)
    opt = optim.RMSprop([p], lr=0.1, alpha=0.5, eps=0.0, momentum=0.9, centered=True)
    p.grad = np.array([2.0])
    opt.step()  # v = 2, g_avg = 1, d = sqrt(2 - 1) = 1, buf = 2
    np.testing.assert_allclose(p.data, [-0.2])
    opt.step()  # v = 3, g_avg = 1.5, d = sqrt(0.75), buf = 1.8 + 2 / sqrt(0.75)
    np.testing.assert_allclose(p.data, [-0.2 - 0.1 * (1.8 + 2 / np.sqrt(0.75))])


def test_adamw_decays_weights_decoupled_from_the_gradient():
    p = _param(2.0)
    p.grad = np.array([0.0])  # no gradient signal: only the decay acts
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 * (1 - 0.1 * 0.5)])
    assert opt.param_groups[0]["weight_decay"] == 0.5
    assert optim.AdamW([_param(1.0)]).defaults["weight_decay"] == 1e-2
    q = _param(2.0)
    q.grad = np.array([0.0])
    optim.Adam([q], lr=0.1, weight_decay=0.5).step()  # L2: the decay goes through Adam
    np.testing.assert_allclose(q.data, [2.0 - 0.1], rtol=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), "initial_accumulator"),
    (lambda p: optim.RMSprop(p, alpha=-0.1), "Invalid alpha"),
    (lambda p: optim.RMSprop(p, momentum=-0.1), "Invalid momentum"),
    (lambda p: optim.AdamW(p, weight_decay=-1), "Invalid weight_decay"),
])
def test_invalid_arguments_of_the_other_optimizers(make, match):
    with pytest.raises(ValueError, match=match):
        make([_param(1.0)])


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adagrad(ps, lr=0.1),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
])
def test_float32_parameters_stay_float32(make):
    p = nn.Parameter(np.ones(3, np.float32))
    opt = make([p])
    for _ in range(3):
        p.grad = np.full(3, 0.5, np.float32)
        opt.step()
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values()
               if isinstance(v, np.ndarray))


# -- state dicts --------------------------------------------------------------------------


def _quadratic_steps(opt, params, steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in params:
            p.grad = 2 * p.data + rng.standard_normal(p.shape)
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
])
def test_state_dict_round_trip_resumes_exactly(make):
    a = [_param(1.0, -2.0), _param(0.5)]
    opt = make(a)
    _quadratic_steps(opt, a, 5)
    saved = opt.state_dict()
    snapshot = [p.data.copy() for p in a]
    _quadratic_steps(opt, a, 5, seed=1)
    expected = [p.data.copy() for p in a]
    # a fresh optimizer on a copy of the parameters, loaded from the state dict
    b = [nn.Parameter(s.copy()) for s in snapshot]
    opt2 = make(b)
    opt2.load_state_dict(saved)
    _quadratic_steps(opt2, b, 5, seed=1)
    for p, e in zip(b, expected):
        np.testing.assert_array_equal(p.data, e)
    assert saved["param_groups"][0]["params"] == [0, 1]
    assert set(saved["state"]) == {0, 1}


def test_state_dict_is_a_copy_and_load_checks_sizes():
    p = _param(1.0)
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.array([1.0])
    opt.step()
    sd = opt.state_dict()
    opt.step()
    assert sd["state"][0]["step"] == 1 and opt.state[p]["step"] == 2
    assert sd["state"][0]["exp_avg"] is not opt.state[p]["exp_avg"]
    sd["param_groups"][0]["lr"] = 0.5
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.state[p]["step"] == 1
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [p]}, {"params": [_param(1.0)]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.Adam([p, _param(1.0)]).load_state_dict(sd)


# -- gradient clipping --------------------------------------------------------------------


def test_clip_grad_norm_scales_down_only_and_returns_the_norm():
    a, b = _param(0.0, 0.0), _param(0.0)
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert isinstance(total, Tensor) and float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]),
                               np.array([3.0, 0.0, 4.0]) / (5.0 + 1e-6))
    a.grad = np.array([0.3, 0.4])
    assert float(nn.utils.clip_grad_norm_(a, 10.0)) == pytest.approx(0.5)
    np.testing.assert_allclose(a.grad, [0.3, 0.4])  # below max_norm: untouched
    c = _param(1.0)  # no grad: skipped
    assert float(nn.utils.clip_grad_norm_([c], 1.0)) == 0.0


def test_clip_grad_norm_inf_norm_and_nonfinite():
    a = _param(0.0, 0.0, 0.0)
    a.grad = np.array([1.0, -7.0, 2.0])
    assert float(nn.utils.clip_grad_norm_([a], 3.5, norm_type="inf")) == 7.0
    np.testing.assert_allclose(a.grad, np.array([1.0, -7.0, 2.0]) * 3.5 / (7 + 1e-6))
    a.grad = np.array([1.0, np.inf, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_clips_in_place():
    a = _param(0.0, 0.0, 0.0)
    a.grad = g = np.array([-2.0, 0.1, 5.0])
    nn.utils.clip_grad_value_([a], 0.5)
    assert a.grad is g
    np.testing.assert_array_equal(a.grad, [-0.5, 0.1, 0.5])


# -- parity with torch: 50 steps ----------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _problem():
    rng = np.random.default_rng(3)
    return rng.standard_normal((16, 4)), rng.integers(0, 3, 16)


def _models(torch):
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3)).double()
    ours = nn.Sequential(nn.Linear(4, 8, dtype=np.float64), nn.Tanh(),
                         nn.Linear(8, 3, dtype=np.float64))
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _train(torch, model, opt, lib, steps=50, clip=None):
    x, t = _problem()
    for _ in range(steps):
        opt.zero_grad()
        if lib == "torch":
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)),
                                                     torch.from_numpy(t))
        else:
            loss = F.cross_entropy(model(Tensor(x)), t)
        loss.backward()
        if clip is not None:
            utils = torch.nn.utils if lib == "torch" else nn.utils
            utils.clip_grad_norm_(model.parameters(), **clip)
        opt.step()


OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, weight_decay=0.01, eps=1e-6)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.02)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05, amsgrad=True)),
]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                              for n, kw in OPTIMIZERS])
def test_optimizer_matches_torch_over_50_steps(torch, name, kwargs):
    ours, theirs = _models(torch)
    before = ours.state_dict()
    _train(torch, ours, getattr(optim, name)(ours.parameters(), **kwargs), "ours")
    _train(torch, theirs, getattr(torch.optim, name)(theirs.parameters(), **kwargs), "torch")
    after = ours.state_dict()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(after[key], value.numpy(), rtol=1e-6, atol=1e-9,
                                   err_msg=key)
    assert max(np.abs(after[k] - before[k]).max() for k in after) > 1e-2


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01)),
])
def test_torch_optimizer_state_dict_loads_and_training_continues_alike(torch, name, kwargs):
    ours, theirs = _models(torch)
    opt_t = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    _train(torch, theirs, opt_t, "torch", steps=10)
    ours.load_state_dict(theirs.state_dict())
    opt_o = getattr(optim, name)(ours.parameters(), **kwargs)
    opt_o.load_state_dict(opt_t.state_dict())
    assert set(opt_o.state_dict()["state"][0]) == set(opt_t.state_dict()["state"][0])
    _train(torch, ours, opt_o, "ours", steps=20)
    _train(torch, theirs, opt_t, "torch", steps=20)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-6,
                                   atol=1e-9, err_msg=key)
    # and ours back into torch (arrays -> tensors, step -> a float tensor as torch keeps it)
    sd = opt_o.state_dict()
    sd["state"] = {i: {k: torch.tensor(float(v)) if k == "step" else torch.from_numpy(v)
                       for k, v in s.items()} for i, s in sd["state"].items()}
    opt_t.load_state_dict(sd)
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in
                            ours.state_dict().items()})
    _train(torch, ours, opt_o, "ours", steps=5)
    _train(torch, theirs, opt_t, "torch", steps=5)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-6,
                                   atol=1e-9, err_msg=key)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_torch(torch, norm_type):
    ours, theirs = _models(torch)
    x, t = _problem()
    F.cross_entropy(ours(Tensor(x)), t).backward()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)),
                                      torch.from_numpy(t)).backward()
    for max_norm in (0.05, 100.0):
        n_o = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type)
        n_t = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
        assert float(n_o) == pytest.approx(float(n_t), rel=1e-12)
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, err_msg=name)
    nn.utils.clip_grad_value_(ours.parameters(), 1e-3)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 1e-3)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12)
        assert np.abs(p.grad).max() <= 1e-3


def test_training_with_clipping_matches_torch(torch):
    ours, theirs = _models(torch)
    _train(torch, ours, optim.SGD(ours.parameters(), lr=0.5, momentum=0.9), "ours",
           clip=dict(max_norm=0.5))
    _train(torch, theirs, torch.optim.SGD(theirs.parameters(), lr=0.5, momentum=0.9),
           "torch", clip=dict(max_norm=0.5))
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-6,
                                   atol=1e-9, err_msg=key)


# ----------------------------------------------------------------------- Adam's flat path


def _adam_pair(shapes, groups=None, **kw):
    """Two identical sets of float32 parameters with an Adam each; the second Adam never
    takes the flat (all-parameters-at-once) path."""
    rng = np.random.default_rng(3)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    sets = [[Tensor(a.copy(), requires_grad=True) for a in init] for _ in range(2)]
    opts = []
    for ps in sets:
        params = ps if groups is None else [{"params": [ps[i] for i in idx], **extra}
                                            for idx, extra in groups]
        opts.append(optim.Adam(params, lr=0.01, **kw))
    opts[1]._update_flat = lambda *a, **k: False
    return sets, opts, rng


def _step_both(sets, opts, rng, skip=()):
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in sets[0]]
    for ps, opt in zip(sets, opts):
        for i, (p, g) in enumerate(zip(ps, grads)):
            p.grad = None if i in skip else g.copy()
        opt.step()


def _assert_same(sets, opts):
    for p, q in zip(*sets):
        np.testing.assert_array_equal(p.data, q.data)
        sp, sq = opts[0].state.get(p), opts[1].state.get(q)
        assert (sp is None) == (sq is None)
        if sp is not None:
            assert sp["step"] == sq["step"]
            np.testing.assert_array_equal(sp["exp_avg"], sq["exp_avg"])
            np.testing.assert_array_equal(sp["exp_avg_sq"], sq["exp_avg_sq"])


def test_adam_flat_path_is_bitwise_the_per_parameter_update():
    sets, opts, rng = _adam_pair([(5, 3), (5,), (2, 3, 4), ()])
    for _ in range(15):
        _step_both(sets, opts, rng)
    assert opts[0]._flat  # the flat path did run
    _assert_same(sets, opts)
    # the moments are views of one buffer, and state_dict still hands out copies
    m = opts[0].state[sets[0][0]]["exp_avg"]
    assert m.base is not None
    saved = opts[0].state_dict()["state"][0]["exp_avg"]
    saved += 1
    np.testing.assert_array_equal(opts[0].state[sets[0][0]]["exp_avg"], m)


def test_adam_flat_path_with_groups_skipped_grads_and_a_loaded_state():
    sets, opts, rng = _adam_pair([(4, 4), (4,), (3, 4), (3,)],
                                 groups=[((0, 1), {}), ((2, 3), {"lr": 0.05})])
    for k in range(6):
        _step_both(sets, opts, rng)
    _step_both(sets, opts, rng, skip=(1,))  # a parameter without a gradient: step lags
    for _ in range(4):
        _step_both(sets, opts, rng)
    _assert_same(sets, opts)
    state = opts[1].state_dict()  # the per-parameter optimizer's state, into both
    for opt in opts:
        opt.load_state_dict(state)
    for _ in range(5):
        _step_both(sets, opts, rng)
    _assert_same(sets, opts)

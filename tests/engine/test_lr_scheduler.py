"""Learning-rate schedules: StepLR and CosineAnnealingLR against their closed forms and,
when torch is installed, against torch's lr sequences (over 3 cosine periods)."""

import math

import numpy as np
import pytest

from playground.engine import nn, optim
from playground.engine.optim import lr_scheduler


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _opt(lr=0.1, groups=1):
    params = [nn.Parameter(np.zeros(2)) for _ in range(groups)]
    if groups == 1:
        return optim.SGD(params, lr=lr, momentum=0.9)
    return optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)],
                     lr=lr, momentum=0.9)


def _sequence(sched, n):
    lrs = []
    for _ in range(n):
        lrs.append(sched.get_last_lr())
        sched.optimizer.step()
        sched.step()
    return lrs


def test_reachable_as_optim_lr_scheduler():
    assert optim.lr_scheduler is lr_scheduler
    assert lr_scheduler.StepLR.__module__ == "playground.engine.lr_scheduler"


def test_step_lr_closed_form_and_attributes():
    opt = _opt(0.5)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    assert sched.last_epoch == 0 and sched.base_lrs == [0.5]
    assert opt.param_groups[0]["initial_lr"] == 0.5
    lrs = [lr[0] for lr in _sequence(sched, 10)]
    np.testing.assert_allclose(lrs, [0.5 * 0.5 ** (e // 3) for e in range(10)], rtol=1e-15)
    assert sched.last_epoch == 10
    assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0] == 0.5 * 0.5 ** 3


def test_cosine_closed_form_over_three_periods():
    t_max, eta_min, base = 5, 0.01, 0.2
    sched = lr_scheduler.CosineAnnealingLR(_opt(base), T_max=t_max, eta_min=eta_min)
    lrs = [lr[0] for lr in _sequence(sched, 6 * t_max + 1)]
    closed = [eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2
              for e in range(6 * t_max + 1)]
    np.testing.assert_allclose(lrs, closed, rtol=1e-12)
    assert min(lrs) == pytest.approx(eta_min) and lrs[2 * t_max] == pytest.approx(base)


def test_schedulers_follow_each_param_group():
    opt = _opt(0.1, groups=2)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    opt.step()
    sched.step()
    np.testing.assert_allclose(sched.get_last_lr(), [0.01, 0.02])
    assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def test_get_last_lr_is_a_copy_and_state_dict_round_trips():
    opt = _opt()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    sched.get_last_lr().append(9.0)
    assert len(sched.get_last_lr()) == 1
    _sequence(sched, 3)
    opt_sd, sched_sd = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in sched_sd and sched_sd["last_epoch"] == 3
    rest = _sequence(sched, 5)
    # resume as in torch: optimizer state first (it holds lr and initial_lr), then the
    # scheduler, then its state
    opt2 = _opt()
    opt2.load_state_dict(opt_sd)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=4)
    sched2.load_state_dict(sched_sd)
    assert _sequence(sched2, 5) == rest


def test_scheduler_errors():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_opt(), step_size=2, last_epoch=3)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(_opt(), step_size=0)
    with pytest.raises(ValueError, match="T_max must be a positive integer"):
        lr_scheduler.CosineAnnealingLR(_opt(), T_max=0)


# -- torch parity -------------------------------------------------------------------------


def _torch_sequence(torch, make, lr, n, groups=1):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    if groups == 1:
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    else:
        opt = torch.optim.SGD([{"params": [p], "lr": lr * (i + 1)}
                               for i, p in enumerate(params)], lr=lr, momentum=0.9)
    sched = make(torch.optim.lr_scheduler, opt)
    lrs = []
    for _ in range(n):
        lrs.append(sched.get_last_lr())
        opt.step()
        sched.step()
    return lrs, sched


SCHEDULES = [
    ("StepLR", dict(step_size=3)), ("StepLR", dict(step_size=2, gamma=0.7)),
    ("StepLR", dict(step_size=1, gamma=0.95)),
    ("CosineAnnealingLR", dict(T_max=5)), ("CosineAnnealingLR", dict(T_max=7, eta_min=0.003)),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.01)),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULES,
                         ids=[f"{n}-{kw}" for n, kw in SCHEDULES])
@pytest.mark.parametrize("groups", [1, 2])
def test_lr_sequences_match_torch_over_three_periods(torch, name, kwargs, groups):
    n = 6 * kwargs.get("T_max", kwargs.get("step_size")) + 3  # 3 cosine periods (2 T_max)
    make = lambda mod, opt: getattr(mod, name)(opt, **kwargs)  # noqa: E731
    theirs, tsched = _torch_sequence(torch, make, 0.3, n, groups)
    sched = make(lr_scheduler, _opt(0.3, groups))
    ours = _sequence(sched, n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert sched.last_epoch == tsched.last_epoch == n


def test_live_lr_change_carries_on_like_torch(torch):
    # the recursive form continues from whatever lr the group holds (a change from the UI)
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt_t = torch.optim.SGD(params, lr=0.3)
    s_t = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=6, eta_min=0.01)
    opt_o = optim.SGD([nn.Parameter(np.zeros(2))], lr=0.3)
    s_o = lr_scheduler.CosineAnnealingLR(opt_o, T_max=6, eta_min=0.01)
    for epoch in range(20):
        if epoch == 4:
            opt_t.param_groups[0]["lr"] = opt_o.param_groups[0]["lr"] = 0.05
        opt_t.step()
        opt_o.step()
        s_t.step()
        s_o.step()
        assert s_o.get_last_lr()[0] == pytest.approx(s_t.get_last_lr()[0], rel=1e-12)

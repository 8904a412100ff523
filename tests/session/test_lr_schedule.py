"""The learning-rate schedule of the project's training settings (StepLR, cosine)."""

from __future__ import annotations

import math

import pytest

from playground.project import ProjectError, load
from playground.project.format import check_training_value, from_dict, to_dict
from playground.session import Session


def _lr(s: Session) -> float:
    return s.optimizers[0].param_groups[0]["lr"]


def test_step_lr_multiplies_by_gamma_every_step_size_steps():
    p = load("xor_mlp")
    p.training.lr_schedule, p.training.step_size, p.training.gamma = "StepLR", 10, 0.5
    s = Session(p, timeline=False)
    assert _lr(s) == pytest.approx(0.1)
    s.train(9)
    assert _lr(s) == pytest.approx(0.1)
    s.train(16)  # 25 steps: two decays
    assert _lr(s) == pytest.approx(0.025)
    s.reset()
    assert _lr(s) == pytest.approx(0.1)  # a fresh run starts the schedule again


def test_cosine_reaches_zero_at_the_runs_steps_and_a_rebuilt_optimizer_resumes():
    p = load("xor_mlp")
    p.training.lr_schedule, p.training.steps = "CosineAnnealingLR", 40
    s = Session(p, timeline=False)
    s.train(20)
    assert _lr(s) == pytest.approx(0.05, rel=1e-6)  # half way: (1 + cos(pi/2)) / 2
    s.set_optimizer("Adam")  # a live change rebuilds the optimizer at step 20
    assert _lr(s) == pytest.approx(0.05, rel=1e-6)
    s.train(20)
    assert _lr(s) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(s.metrics["loss"])


def test_a_gan_schedules_both_players():
    p = load("gan_ring")
    p.training.lr_schedule, p.training.step_size, p.training.gamma = "StepLR", 2, 0.1
    s = Session(p, timeline=False)
    start = [o.param_groups[0]["lr"] for o in s.optimizers]
    s.train(2)
    assert [o.param_groups[0]["lr"] for o in s.optimizers] == pytest.approx(
        [lr * 0.1 for lr in start])


def test_the_schedule_is_validated_and_saved():
    p = load("xor_mlp")
    p.training.lr_schedule = "StepLR"
    raw = to_dict(p)
    assert from_dict(raw).training.lr_schedule == "StepLR"
    raw["training"]["lr_schedule"] = "Exponential"
    with pytest.raises(ProjectError, match="training.lr_schedule must be one of none, StepLR"):
        from_dict(raw)
    with pytest.raises(ProjectError, match="training.gamma"):
        check_training_value("gamma", 0.0)

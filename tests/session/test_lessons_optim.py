"""optimizers_race (issue 12): the TestFunction and GradientNoise nodes, the race of six
optimizers from one start, and the results its notes state."""

from __future__ import annotations

import numpy as np
import pytest

from playground.engine import Tensor
from playground.graph import GraphModel
from playground.graph.nodes.optimization import (FUNCTIONS, MINIMA, TestFunctionModule,
                                                 test_function)
from playground.project import load
from playground.session import Session
from playground.session.compare import apply_overrides
from playground.session.race import RACE, landscape, race

STEPS = 1000


def _grad(name, x, y):
    """Autograd's gradient of f at (x, y), in float64."""
    tx = Tensor(np.array([x]), requires_grad=True)
    ty = Tensor(np.array([y]), requires_grad=True)
    TestFunctionModule(name)(tx, ty).backward()
    return np.array([tx.grad[0], ty.grad[0]])


def _analytic(name, x, y):
    """∇f written out by hand from the formulas in the module's table."""
    if name == "rosenbrock":
        return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    if name == "beale":
        t = [(1.5, 1), (2.25, 2), (2.625, 3)]
        r = [c - x + x * y ** k for c, k in t]
        gx = sum(2 * ri * (-1 + y ** k) for ri, (_, k) in zip(r, t))
        gy = sum(2 * ri * (x * k * y ** (k - 1)) for ri, (_, k) in zip(r, t))
        return np.array([gx, gy])
    return np.array([2 * x, -2 * y + 2 * y ** 3])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_is_zero_gradient_at_its_minimum_and_matches_its_formula(name):
    mx, my = MINIMA[name]
    assert np.allclose(_grad(name, mx, my), 0.0, atol=1e-12)
    want = {"rosenbrock": 0.0, "beale": 0.0, "saddle": -0.5}[name]
    assert float(test_function(name, np.float64(mx), np.float64(my))) == pytest.approx(want)
    rng = np.random.default_rng(0)
    for x, y in rng.uniform(-1.5, 1.5, size=(5, 2)):
        g = _grad(name, x, y)
        assert np.allclose(g, _analytic(name, x, y), rtol=1e-12, atol=1e-12)
        eps = 1e-6  # central differences of the numpy formula, float64
        fd = [(test_function(name, x + eps, y) - test_function(name, x - eps, y)) / (2 * eps),
              (test_function(name, x, y + eps) - test_function(name, x, y - eps)) / (2 * eps)]
        assert np.allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_known_values_from_the_literature():
    # Rosenbrock at the classic start (-1.2, 1): 24.2 (Rosenbrock 1960); Beale at (0, 0):
    # 1.5² + 2.25² + 2.625² = 14.203125; the saddle's origin is a stationary point, f = 0
    assert test_function("rosenbrock", -1.2, 1.0) == pytest.approx(24.2)
    assert test_function("beale", 0.0, 0.0) == pytest.approx(14.203125)
    assert test_function("saddle", 0.0, 0.0) == 0.0
    assert np.allclose(_grad("saddle", 0.0, 0.0), 0.0)


def test_gradient_noise_adds_the_batch_mean_of_its_draws_to_the_gradient():
    eps = np.array([[0.5, -1.0], [1.5, 3.0]])
    tx = Tensor(np.array([0.3]), requires_grad=True)
    ty = Tensor(np.array([0.7]), requires_grad=True)
    TestFunctionModule("rosenbrock")(tx, ty, Tensor(eps)).backward()
    got = np.array([tx.grad[0], ty.grad[0]])
    assert np.allclose(got, _analytic("rosenbrock", 0.3, 0.7) + eps.mean(axis=0))


def test_the_path_keeps_the_latest_points_of_training_passes_only(monkeypatch):
    from playground.engine import no_grad
    from playground.graph.nodes import optimization

    monkeypatch.setattr(optimization, "PATH_CAPACITY", 5)
    m = TestFunctionModule("saddle")
    for k in range(8):
        m(Tensor(np.array([float(k)])), Tensor(np.array([0.5])))
    with no_grad():  # an evaluation: not a step
        m(Tensor(np.array([99.0])), Tensor(np.array([0.5])))
    m.eval()
    m(Tensor(np.array([98.0])), Tensor(np.array([0.5])))
    assert m.path_array()[:, 0].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_wiring_errors_name_the_port_and_the_fix():
    g = load("optimizers_race").graph
    model = GraphModel.from_dict(g)
    model.set_param("x", "shape", (2,))
    msg = model.errors()["f"]
    assert "needs x and y of one shape" in msg and "Give 'x' shape=(1,)" in msg


def _runs(function: str, start: tuple[float, float], steps: int = STEPS):
    base = apply_overrides(load("optimizers_race"), {
        "node.f.function": function, "node.x.value": start[0], "node.y.value": start[1]})
    return {r.config.label: r for r in race(base, steps=steps)}


def _dist(path: np.ndarray, point) -> np.ndarray:
    return np.linalg.norm(path - np.asarray(point), axis=1)


def test_rosenbrock_momentum_and_adam_reach_the_minimum_where_sgd_is_still_far():
    runs = _runs("rosenbrock", (-1.5, 2.0))
    assert [r for r in runs] == [label for label, _ in RACE]
    for r in runs.values():
        assert r.extras["path"].shape == (STEPS + 1, 2)
        assert np.allclose(r.extras["path"][0], (-1.5, 2.0))  # one start for all
    far = {k: float(_dist(r.extras["path"][-1:], (1, 1))[0]) for k, r in runs.items()}
    # the stated result: momentum, Nesterov and Adam end within 0.05 of (1, 1) after
    # 1,000 steps; plain SGD at the same lr is more than 1.5 away, still in the valley
    assert far["momentum"] < 0.05 and far["Nesterov"] < 0.05 and far["Adam"] < 0.05, far
    assert far["SGD"] > 1.5, far
    assert np.allclose(runs["SGD"].extras["path"][-1], (-0.66, 0.44), atol=0.02)  # the notes
    assert np.allclose(runs["AdaGrad"].extras["path"][-1], (-0.27, 0.08), atol=0.02)
    assert runs["SGD"].final["val_loss"] > 1.0 > 1e-3 > runs["momentum"].final["val_loss"]
    # Adam's and AdaGrad's first steps are lr per coordinate whatever the gradient
    # (-155, -50) at the start: the notes' "the same length in every direction"
    for k, lr in (("Adam", 0.05), ("AdaGrad", 0.5)):
        first = runs[k].extras["path"][1] - runs[k].extras["path"][0]
        assert np.allclose(first, (lr, lr), rtol=1e-3), (k, first)
    # the path is the run's: its last point is where the weights ended
    assert runs["Adam"].final["val_loss"] == pytest.approx(
        test_function("rosenbrock", *runs["Adam"].extras["path"][-1]), rel=1e-4)


def test_saddle_plain_sgd_stays_near_it_while_momentum_and_the_adaptive_ones_escape():
    runs = _runs("saddle", (1.0, 0.001))
    escaped = {k: int(np.argmax(np.abs(r.extras["path"][:, 1]) > 0.5)) if
               (np.abs(r.extras["path"][:, 1]) > 0.5).any() else None for k, r in runs.items()}
    assert escaped["SGD"] is None, escaped  # |y| < 0.5 after 1,000 steps
    assert abs(runs["SGD"].extras["path"][-1, 1]) < 0.01
    assert 340 < escaped["momentum"] < 400 and 340 < escaped["Nesterov"] < 400, escaped
    for k in ("AdaGrad", "RMSprop", "Adam"):  # per-coordinate steps: out in a few
        assert escaped[k] <= 11, escaped
        assert runs[k].final["val_loss"] == pytest.approx(-0.5, abs=1e-4)


def test_beale_sgd_lags_where_momentum_gets_there():
    runs = _runs("beale", (1.0, 1.5))
    far = {k: float(_dist(r.extras["path"][-1:], (3, 0.5))[0]) for k, r in runs.items()}
    assert far["momentum"] < 0.05 and far["Adam"] < 0.05, far
    assert 0.5 < far["SGD"] < 0.62, far  # "0.56 short"


def test_the_preset_trains_headless_and_its_session_shows_the_path():
    project = load("optimizers_race")
    s = Session(project)
    final = s.train(project.training.steps)
    view = s.views()["nodes"]["landscape"]
    assert view["function"] == "rosenbrock"
    assert view["path"].shape == (project.training.steps + 1, 2)
    assert np.linalg.norm(view["path"][-1] - np.array([1, 1])) < 0.05  # Adam, as saved
    assert final["val_loss"] < 1e-3
    steps, loss = s.history.copy_arrays()["loss"]  # the curve the notes describe
    assert loss[0] == pytest.approx(12.5)  # f(-1.5, 2) = 2.5² + 100·0.25²
    assert 5 < loss[steps == 20][0] < 8 and 0.05 < loss[steps == 500][0] < 0.2
    assert loss[-1] < 1e-3
    small = s.views(small=True)["nodes"]["landscape"]["path"]
    assert len(small) <= 256 and np.allclose(small[-1], view["path"][-1])
    s.reset()
    assert len(s.views()["nodes"]["landscape"]["path"]) == 1  # the start only


def test_noise_makes_the_gradient_stochastic_and_a_bigger_batch_averages_it():
    def spread(batch):
        p = apply_overrides(load("optimizers_race"), {
            "node.noise.std": 20.0, "training.optimizer": "SGD", "training.lr": 1e-3,
            "training.batch_size": batch, "node.f.function": "saddle",
            "node.x.value": 0.0, "node.y.value": 1.0})  # start at a minimum
        s = Session(p, timeline=False)
        s.train(300)
        return float(np.std(s.program.call("f").module.path_array()[100:], axis=0).mean())
    one, many = spread(1), spread(64)
    assert one > 3 * many > 0, (one, many)  # 1/√64 = 1/8 of the noise


def test_noisy_adam_needs_the_bigger_batch_as_the_notes_say():
    def final(batch):
        p = apply_overrides(load("optimizers_race"), {"node.noise.std": 20.0,
                                                      "training.batch_size": batch})
        return Session(p, timeline=False).train(STEPS)["val_loss"]
    assert final(1) > 0.3 and final(64) < 0.03


def test_landscape_grid_is_the_function_on_its_box():
    xs, ys, values = landscape("beale", 21)
    assert values.shape == (21, 21)
    assert values[4, 7] == pytest.approx(test_function("beale", xs[7], ys[4]))


def test_the_notes_name_their_sections_and_the_stated_numbers():
    p = load("optimizers_race")
    for heading in ("What it shows", "What to watch", "Things to try"):
        assert f"\n{heading}\n" in p.notes, heading
    assert p.topic == "Foundations"
    assert "0.05" in p.result and "Compare Runs" in p.notes

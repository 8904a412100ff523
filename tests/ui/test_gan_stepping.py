"""Step D and Step G: each moves one GAN player's weights only, says which player stepped,
and is disabled for projects without the GAN recipe."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from playground.project import load  # noqa: E402


def _weights(window) -> dict[str, np.ndarray]:
    return window.worker.call(lambda s: s.weights()).result(10)


def _press(qtbot, window, action) -> None:
    button = window.toolbar.widgetForAction(action)
    assert button is not None and button.isVisible() and button.isEnabled(), action.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.wait_for_stepper(10.0)


def _changed(before, after, prefixes) -> set[str]:
    """The nodes (of those whose ids start with ``prefixes``) whose weights moved."""
    return {k.split(".")[0] for k in before if k.startswith(prefixes)
            and not np.array_equal(before[k], after[k])}


def test_step_d_moves_only_the_discriminator_and_step_g_only_the_generator(make_window,
                                                                            qtbot):
    w = make_window("gan_ring")
    players = w.stepper.players
    assert players.step_d_action.isEnabled() and players.step_g_action.isEnabled()
    w.step_one_batch()  # a first training step, so that both players have moved once
    assert w.ensure_worker().call(lambda s: s.step_count).result(10) == 1
    g_nodes = tuple(w.project.recipe["generator"])
    d_nodes = tuple(w.project.recipe["discriminator"])
    w0 = _weights(w)

    _press(qtbot, w, players.step_d_action)
    w1 = _weights(w)
    assert _changed(w0, w1, d_nodes) == {"d_fc1", "d_fc2", "d_out"}
    assert _changed(w0, w1, g_nodes) == set()
    assert players.last_player == "discriminator"
    assert "Step D: the discriminator took one step" in w.last_message
    assert f"D(real) {players.last_metrics['d_real']:.3f}" in w.last_message
    assert "the discriminator stepped" in w.stepper.panel.title_label.text()

    _press(qtbot, w, players.step_g_action)
    w2 = _weights(w)
    assert _changed(w1, w2, g_nodes) == {"g_fc1", "g_fc2", "g_out"}
    assert _changed(w1, w2, d_nodes) == set()
    assert players.last_player == "generator"
    assert "Step G: the generator took one step" in w.last_message
    # neither is a training step: the count, and the history, stay where they were
    assert w.worker.call(lambda s: (s.step_count, s.history.last_step("d_loss"))).result(10) \
        == (1, 1)


def test_ten_discriminator_steps_make_it_surer_then_the_generator_catches_up(make_window,
                                                                             qtbot):
    """What the dcgan_digits notes ask a student to try. Each step reports the numbers from
    before its update. Measured (seed 0): ten Step D take D(real) from 0.51 to 0.64 and
    D(G(z)) from 0.52 to 0.38; ten Step G then take g_loss from 1.07 to 0.42, and the next
    Step D finds D(G(z)) at 0.66."""
    w = make_window("dcgan_digits")
    players = w.stepper.players
    d = []
    for _ in range(10):
        _press(qtbot, w, players.step_d_action)
        d.append(dict(players.last_metrics))
    assert d[-1]["d_real"] > d[0]["d_real"] + 0.05, d
    assert d[-1]["d_fake"] < d[0]["d_fake"] - 0.05, d
    g = []
    for _ in range(10):
        _press(qtbot, w, players.step_g_action)
        g.append(players.last_metrics["g_loss"])
    assert g[-1] < 0.7 * g[0], g  # the generator learns to fool the fixed discriminator
    _press(qtbot, w, players.step_d_action)
    assert players.last_metrics["d_fake"] > d[-1]["d_fake"] + 0.1


def test_step_d_and_step_g_are_disabled_without_the_gan_recipe(make_window):
    w = make_window("xor_mlp")
    players = w.stepper.players
    assert not players.step_d_action.isEnabled() and not players.step_g_action.isEnabled()
    assert not players.step_d_action.isVisible()  # not in the toolbar of other lessons
    assert "Only for GAN projects" in players.step_d_action.toolTip()
    w.set_document(load("gan_ring"))
    assert players.step_d_action.isEnabled() and players.step_g_action.isEnabled()
    assert players.step_d_action.isVisible() and players.step_g_action.isVisible()
    w.set_document(load("vae_digits"))
    assert not players.step_g_action.isEnabled() and not players.step_g_action.isVisible()

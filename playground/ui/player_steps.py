"""Step D and Step G: one update of one GAN player at a time.

A GAN's training step is one discriminator update then one generator update (Goodfellow et
al. 2014, Algorithm 1). These two actions pull the step apart, so that a student can see
what each player's update does to the other: Step D trains the discriminator once on a
fresh real batch and fresh noise (the generator held fixed), Step G trains the generator
once through the frozen discriminator (``GAN.player_step``). Neither counts as a training
step and neither can be undone (it is training). The actions are enabled and shown only for a
project with the GAN recipe; the status bar and the stepper say which player stepped, with its
numbers.

:class:`PlayerSteps` is built by the stepper (``StepperController``), which routes its
Futures through its own polling and calls :meth:`PlayerSteps.show_result`.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from .main_window import MainWindow

#: What each action does, by player: its text, shortcut and tooltip.
ACTIONS = {
    "discriminator": ("Step D", "Ctrl+F10",
                      "GAN: train only the discriminator, once, on a real batch and a "
                      "generated one (Ctrl+F10)"),
    "generator": ("Step G", "Ctrl+Shift+F10",
                  "GAN: train only the generator, once, through the frozen discriminator "
                  "(Ctrl+Shift+F10)"),
}
#: The tooltip of a disabled action.
GAN_ONLY = "Only for GAN projects (the gan recipe): {}"


def describe(player: str, metrics: dict) -> str:
    """One line: which player stepped and its numbers (before its update)."""
    if player == "discriminator":
        return (f"Step D: the discriminator took one step (the generator held fixed): "
                f"d_loss {metrics['d_loss']:.4f}, D(real) {metrics['d_real']:.3f}, "
                f"D(G(z)) {metrics['d_fake']:.3f}")
    return (f"Step G: the generator took one step (the discriminator held fixed): "
            f"g_loss {metrics['g_loss']:.4f}")


class PlayerSteps(QObject):
    """The Step D and Step G actions of ``window``.

    Attributes:
        actions: ``{"discriminator": QAction, "generator": QAction}``.
        step_d_action, step_g_action: the same two.
        last_player: the player that stepped last ("discriminator", "generator"), or None.
        last_metrics: its metrics.
    """

    def __init__(self, window: "MainWindow", submit: Callable[[str], None]):
        super().__init__(window)
        self.window = window
        self._submit = submit
        self.actions = {}
        for player, (text, key, tip) in ACTIONS.items():
            action = window.make_action(text, lambda p=player: self._submit(p), [key], tip)
            self.actions[player] = action
        self.step_d_action = self.actions["discriminator"]
        self.step_g_action = self.actions["generator"]
        self.last_player: str | None = None
        self.last_metrics: dict = {}
        self.set_recipe("supervised")

    def set_recipe(self, recipe: str) -> None:
        """Enable and show the actions for the GAN recipe only (hidden otherwise, so
        that they do not crowd the toolbar of every other lesson)."""
        gan = recipe == "gan"
        for player, action in self.actions.items():
            action.setEnabled(gan)
            action.setVisible(gan)
            tip = ACTIONS[player][2]
            action.setToolTip(tip if gan else GAN_ONLY.format(tip[5:]))
        if not gan:
            self.last_player, self.last_metrics = None, {}

    def show_result(self, player: str, metrics: dict | None, exc: BaseException | None,
                    panel) -> None:
        """Say which player stepped (status bar and stepper ``panel``), or why not."""
        if exc is not None:
            self.window.show_message(f"{ACTIONS[player][0]}: {exc}")
            panel.show_message(f"{ACTIONS[player][0]} failed", html.escape(str(exc)))
            return
        self.last_player, self.last_metrics = player, dict(metrics)
        line = describe(player, metrics)
        self.window.show_message(line)
        other = "generator" if player == "discriminator" else "discriminator"
        panel.show_message(
            f"{ACTIONS[player][0]}: the {player} stepped",
            f"{html.escape(line)}.<br><br>Only the {player}'s weights moved; the {other}'s "
            "are as they were, and the step count did not change (one training step is "
            "one Step D then one Step G). The numbers are from before the update: step "
            "again to see its effect.")


__all__ = ["ACTIONS", "PlayerSteps", "describe"]

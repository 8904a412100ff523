"""The small lessons (issue 12): each preset trains headless to the result its notes state."""

from __future__ import annotations

import pytest

from playground.project import load
from playground.session import Session


def _train(name: str, seed: int | None = None) -> dict[str, float]:
    project = load(name)
    if seed is not None:
        project.training.seed = seed
    return Session(project).train(project.training.steps)


@pytest.mark.parametrize("seed", [0, 1])
def test_softmax_digits_reaches_93_percent_held_out(seed):
    final = _train("softmax_digits", seed)
    assert final["val_accuracy"] >= 0.93, final


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_single_linear_unit_fails_on_xor_where_the_mlp_succeeds(seed):
    linear = _train("perceptron_xor", seed)
    mlp = _train("xor_mlp", seed)
    assert linear["val_accuracy"] <= 0.75, linear
    assert mlp["val_accuracy"] >= 0.95, mlp


def test_the_lesson_notes_name_their_sections_and_the_stated_numbers():
    for name, number in (("softmax_digits", "93%"), ("perceptron_xor", "0.75")):
        notes = load(name).notes
        for heading in ("What it shows", "What to watch", "Things to try"):
            assert f"\n{heading}\n" in notes, (name, heading)
        assert number in notes, name

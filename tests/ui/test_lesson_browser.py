"""File ▸ Presets ▸ Lesson Browser…: lessons by course topic; pick one, train it, read it."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from playground.graph import GraphModel  # noqa: E402
from playground.graph.nodes.regression import has_data_source  # noqa: E402
from playground.project import load, preset_names  # noqa: E402
from playground.ui.lesson_browser import (COURSE_ORDER, INSPECT_TOPIC,  # noqa: E402
                                          render_thumbnail)


def test_every_trainable_preset_states_its_topic_and_result():
    for name in preset_names():
        p = load(name)
        if has_data_source(GraphModel.from_dict(p.graph)):
            assert p.topic in COURSE_ORDER, name
            assert p.result, name


def test_the_browser_groups_lessons_by_topic_then_the_architectures(make_window, qtbot):
    w = make_window("xor_mlp")
    w.lesson_browser_action.trigger()
    b = w.lesson_browser
    topics = b.topics()
    names = [t for t, _ in topics]
    assert names[0] == "Foundations" and names[-1] == INSPECT_TOPIC
    assert [t for t in names if t in COURSE_ORDER] == [t for t in COURSE_ORDER if t in names]
    listed = {n for _, group in topics for n in group}
    assert listed == set(preset_names())
    assert "resnet18" in dict(topics)[INSPECT_TOPIC] and "xor_mlp" in dict(topics)["Foundations"]
    assert b.selected_name() == "xor_mlp"  # opens on the lesson that is open
    qtbot.waitUntil(lambda: not b._pending, timeout=20_000)  # every row got its thumbnail
    assert not b.item("gan_ring").icon(0).isNull()


def test_pick_a_lesson_train_it_and_see_its_lesson_text(make_window, qtbot):
    w = make_window("xor_mlp")
    w.lesson_browser_action.trigger()
    b = w.lesson_browser
    b.tree.setCurrentItem(b.item("softmax_digits"))
    assert "Stated result:" in b.notes.toPlainText()
    assert "Softmax regression on the digits" in b.notes.toPlainText()
    assert b.open_selected()
    assert w.project.name == "softmax_digits"
    snap = w.train_steps_sync(150)
    assert snap.step == 150 and snap.metrics["val_accuracy"] > 0.9
    assert "multinomial logistic regression" in w.lesson.panel.toPlainText()


def test_a_thumbnail_draws_the_graph(qtbot):
    image = render_thumbnail(load("cnn_digits"))
    assert image.width() == 480 and image.height() == 270
    colours = {image.pixel(x, y) for x in range(0, 480, 8) for y in range(0, 270, 8)}
    assert len(colours) > 20  # nodes and wires, not an empty background

"""Classroom basics of the window: the Lesson dock, the window's size and saved layout, docks
that follow the project opened, the GAN's curve legend, the Help menu, one Gradient Health
entry, and the decision boundary's place when the timeline's coarser grid is shown."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QRect, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QAction, QKeySequence  # noqa: E402
from PySide6.QtWidgets import QApplication, QDockWidget, QTabBar  # noqa: E402

import playground  # noqa: E402
from playground.session import Boundary  # noqa: E402
from playground.ui import window_state  # noqa: E402
from playground.ui.help import action_keys, shortcut_rows  # noqa: E402
from playground.ui.lesson import NO_NOTES, notes_html  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402
from playground.ui.plots import BoundaryWidget  # noqa: E402

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


def in_front(dock: QDockWidget) -> bool:
    """Shown and not behind another tab."""
    return not dock.isHidden() and not dock.visibleRegion().isEmpty()


# -------------------------------------------------------------------------------- lesson


def test_notes_render_as_paragraphs_headings_lists_and_escaped_text():
    notes = ("What it shows\nA GAN **learns** a ring.\n\nThings to try:\n- Set `g_loss` to "
             "*minimax*.\n- Lower the lr\n  a lot.\n\nPublished: see https://x.org/a. "
             "1 < 2 & <script>")
    out = notes_html(notes, "gan_ring")
    assert out.split("\n") == [
        "<h2>gan_ring</h2>",
        "<h3>What it shows</h3>",
        "<p>A GAN <b>learns</b> a ring.</p>",
        "<h3>Things to try</h3>",
        "<ul><li>Set <code>g_loss</code> to <i>minimax</i>.</li><li>Lower the lr a lot.</li></ul>",
        '<p><b>Published:</b> see <a href="https://x.org/a">https://x.org/a</a>. '
        "1 &lt; 2 &amp; &lt;script&gt;</p>"]
    # one long paragraph stays one paragraph, however it is wrapped
    assert notes_html("One line\nthat goes on.").count("<p>") == 1


def test_the_lesson_dock_shows_the_notes_of_each_project_opened(make_window, qtbot):
    w = make_window("gan_ring")
    panel, dock = w.lesson.panel, w.lesson.dock
    assert in_front(dock) and dock in w.tabifiedDockWidgets(w.inspector_dock)
    text = panel.toPlainText()
    assert text.startswith("gan_ring") and "ring of eight Gaussians" in text
    assert panel.lineWrapMode() == panel.LineWrapMode.WidgetWidth
    w.canvas.select_node("g_fc1")  # the first node selected: the inspector comes forward
    qtbot.waitUntil(lambda: in_front(w.inspector_dock), timeout=HANG_MS)
    assert not in_front(dock)

    assert w.open_project("xor_mlp")
    qtbot.waitUntil(lambda: in_front(dock), timeout=HANG_MS)
    assert "XOR is the classic problem" in panel.toPlainText()
    assert "Gaussians" not in panel.toPlainText()
    assert w.new_project()
    assert NO_NOTES.split(" (")[0] in panel.toPlainText()
    view = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    assert dock.toggleViewAction() in view.actions()


# -------------------------------------------------------------------- size and layout


def test_the_window_fits_the_screen_it_opens_on():
    assert window_state.fit_geometry(QRect(0, 0, 1366, 728)) == QRect(0, 0, 1366, 728)
    assert window_state.fit_geometry(QRect(0, 0, 1920, 1050)) == QRect(160, 25, 1600, 1000)
    assert window_state.fit_geometry(QRect(1920, 30, 1280, 994)) == QRect(1920, 30, 1280, 994)


@pytest.mark.parametrize("preset", ["xor_mlp", "gan_ring", "resnet18"])
def test_at_1366x768_every_dock_is_reachable_and_on_screen(qtbot, preset):
    w = MainWindow(preset)
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    assert w.minimumSizeHint().width() <= 1366 and w.minimumSizeHint().height() <= 768
    assert w.toolbar.sizeHint().width() <= 1366  # no action behind the toolbar's » button
    window = w.rect()
    docks = [d for d in w.findChildren(QDockWidget) if not d.isHidden()]
    assert {"Lesson", "Palette", "Inspector", "Training curves", "Summary"} <= \
        {d.windowTitle().split(" (")[0] for d in docks}
    for dock in docks:
        dock.raise_()
        QApplication.processEvents()
        box = QRect(dock.mapTo(w, dock.rect().topLeft()), dock.size())
        assert window.contains(box), dock.windowTitle()
        assert box.width() >= 140 and box.height() >= 100, (dock.windowTitle(), box)
    canvas = w.canvas.geometry()
    assert canvas.width() >= 600 and canvas.height() >= 280
    w.shutdown()


def test_geometry_and_dock_layout_are_saved_on_close_and_restored(qtbot, app_settings):
    store = window_state.settings()
    assert store.fileName().startswith(str(app_settings))  # never the user's own settings
    w = MainWindow("xor_mlp")
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    w.resize(1234, 700)
    w.show()
    qtbot.waitExposed(w)
    w.palette_dock.toggleViewAction().trigger()  # the user closes the palette
    left = Qt.DockWidgetArea.LeftDockWidgetArea
    w.addDockWidget(left, w.live_views.docks["Histograms"])  # and moves a dock to the left
    QApplication.processEvents()
    assert w.palette_dock.isHidden()
    w.close()
    assert window_state.settings().value("window/state") is not None

    again = MainWindow("xor_mlp")
    again.confirm_discard = lambda: True
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    # (restoreGeometry keeps a window on its screen: the offscreen one is 800 px wide, so
    # only the height comes back exactly)
    assert again.height() == 700
    assert again.palette_dock.isHidden() and not again.inspector_dock.isHidden()
    assert again.dockWidgetArea(again.live_views.docks["Histograms"]) == left
    assert again.dockWidgetArea(again.lesson.dock) == Qt.DockWidgetArea.RightDockWidgetArea
    again.shutdown()

    shot = MainWindow("xor_mlp", remember_layout=False)  # screenshots: the default layout
    qtbot.addWidget(shot)
    assert not shot.palette_dock.isHidden()
    shot.shutdown()


# ------------------------------------------------------------------- docks per project


def test_docks_an_architecture_hid_come_back_with_the_next_preset(make_window, qtbot):
    w = make_window("resnet18")
    docks = w.live_views.docks
    assert docks["Histograms"].isHidden() and docks["Decision boundary"].isHidden()
    assert w.open_project("xor_mlp")
    for title in ("Histograms", "Gradient health", "Decision boundary", "Training curves"):
        assert not docks[title].isHidden(), title
    assert docks["GAN"].isHidden()
    # no tab bar Qt left behind shows through (with tabs of docks now hidden)
    qtbot.wait(10)
    shown = {d.windowTitle() for d in w.findChildren(QDockWidget) if not d.isHidden()}
    for bar in w.findChildren(QTabBar):
        if bar.parent() is w and bar.isVisible() and w.rect().intersects(bar.geometry()):
            assert {bar.tabText(i) for i in range(bar.count())} <= shown


def test_a_dock_the_user_hid_stays_hidden_until_the_next_project(make_window):
    w = make_window("xor_mlp")
    docks = w.live_views.docks
    docks["Decision boundary"].toggleViewAction().trigger()  # the user hides it
    docks["Histograms"].close()  # its close button
    w.train_steps_sync(3)  # the first frame: the boundary applies, but the user said no
    assert docks["Decision boundary"].isHidden() and docks["Histograms"].isHidden()
    assert w.open_project("spiral_mlp")  # a new project: its own docks again
    assert not docks["Decision boundary"].isHidden() and not docks["Histograms"].isHidden()


# -------------------------------------------------------------------------- curves


@pytest.mark.parametrize("preset, loss_labels, second_labels", [
    ("gan_ring", ["D loss", "G loss"], ["D(G(z))", "D(real)"]),
    ("xor_mlp", ["train", "held-out"], ["train", "held-out"]),
])
def test_the_loss_legend_names_the_recipes_losses(make_window, preset, loss_labels,
                                                  second_labels):
    w = make_window(preset)
    snap = w.train_steps_sync(12)
    curves = w.curves
    assert curves.legend_labels() == (loss_labels, second_labels)
    if preset == "gan_ring":
        assert curves.loss_title == "Losses: discriminator and generator"
        for slot, key in (("loss", "d_loss"), ("val_loss", "g_loss")):
            np.testing.assert_array_equal(curves.data(slot)[1],
                                          np.asarray(snap.history[key][1], np.float64))
        assert {r[0] for r in curves.csv_table()[1]} >= {"d_loss", "g_loss", "loss"}
    w.open_project("xor_mlp" if preset == "gan_ring" else "gan_ring")
    w.train_steps_sync(3)
    assert curves.legend_labels()[0] == (["train", "held-out"] if preset == "gan_ring"
                                         else ["D loss", "G loss"])


# ---------------------------------------------------------------------------- menus


def test_help_lists_every_shortcut_from_the_actions(make_window, qtbot):
    w = make_window("xor_mlp")
    action = w.help_menu.shortcuts_action
    assert QKeySequence(QKeySequence.StandardKey.HelpContents) in action.shortcuts()
    action.trigger()
    dialog = w.help_menu.dialog
    assert dialog.isVisible()
    table = dialog.table
    rows = [tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())]
    assert rows == shortcut_rows(w)
    native = QKeySequence.SequenceFormat.NativeText
    assert ("File", "Save", QKeySequence(QKeySequence.StandardKey.Save).toString(native)) in rows
    assert ("Train", "Train", "Ctrl+Return, F5") in rows
    assert ("View", "Gradient Health", "Ctrl+H") in rows
    assert ("Help", "Keyboard Shortcuts", action_keys(action)) in rows
    # every action with a shortcut is listed, and no two share a key (Qt fires neither)
    listed = {r[1] for r in rows}
    keys: dict[str, str] = {}
    for a in w.findChildren(QAction):
        for seq in a.shortcuts():
            text = seq.toString(native)
            assert a.text().split("\t")[0].replace("&", "").rstrip("…") in listed
            assert keys.setdefault(text, a.text()) == a.text(), f"{text}: {a.text()}, {keys[text]}"
    dialog.close()

    w.help_menu.about_action.trigger()
    box = w.help_menu.dialog
    assert box.isVisible() and f"DL Playground {playground.__version__}" in box.text()
    box.close()


def test_view_has_one_gradient_health_entry_and_it_shows_the_dock(make_window, qtbot):
    w = make_window("xor_mlp")
    view = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    entries = [a for a in view.actions() if "gradient health" in a.text().lower()]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.isCheckable() and entry.shortcut() == QKeySequence("Ctrl+H")
    dock = w.live_views.docks["Gradient health"]
    dock.close()
    entry.trigger()  # the overlay on, and its dock in front
    assert entry.isChecked() and in_front(dock)
    qtbot.waitUntil(lambda: w.stepper.health is not None, timeout=HANG_MS)
    entry.trigger()
    assert not entry.isChecked()


# ------------------------------------------------------------------------- boundary


def test_the_boundary_image_covers_the_data_range_whatever_its_grid(qtbot):
    widget = BoundaryWidget()
    qtbot.addWidget(widget)
    x_range, y_range = (-1.5, 2.5), (-2.0, 1.0)

    def boundary(res: int) -> Boundary:
        probs = np.random.default_rng(res).dirichlet([1, 1], size=(res, res)).astype(np.float32)
        return Boundary(x_range=x_range, y_range=y_range, probs=probs)

    expected = QRectF(-1.5, -2.0, 4.0, 3.0)
    for res in (32, 80, 32, 80):  # a timeline entry's grid, the live one, and back
        widget.update_from(type("Snap", (), {"boundary": boundary(res)})())
        image = widget.image
        assert image.image.shape[:2] == (res, res)
        shown = image.mapRectToParent(image.boundingRect())
        assert shown == expected, (res, shown)

"""The network fits the screen: every preset opens whole and without overlapping nodes, zoom
to fit (Ctrl+0) fits any graph, the view refits on resize until the user zooms or pans, and a
long graph laid out for a window wraps into bands.

The window tests open every preset in a MainWindow (File ▸ Open; a few in a new window
too) at 1366×768 and at 1920×1080 and check what is on screen: the canvas's visible scene
rect holds every node's bounding rect.
"""

from __future__ import annotations

import networkx as nx
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence, QUndoStack, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.graph import GraphModel, layout  # noqa: E402
from playground.graph.layout import layered_positions  # noqa: E402
from playground.project import load, preset_names  # noqa: E402
from playground.ui.canvas import CanvasView  # noqa: E402
from playground.ui.canvas.view import FIT_MARGIN, MIN_ZOOM  # noqa: E402

PRESETS = preset_names()
SIZES = [(1366, 768), (1920, 1080)]
#: presets opened in a fresh window too: small (shown at 100 %), long (wrapped), wide
STARTUP = [n for n in ("xor_mlp", "resnet50", "googlenet", "transformer_reverse")
           if n in PRESETS]
#: waits end as soon as their condition holds; this only stops a hang (a loaded machine
#: can take seconds to deliver a resize)
HANG_GUARD_MS = 60_000


def visible(view: CanvasView):
    return view.mapToScene(view.viewport().rect()).boundingRect()


def outside(view: CanvasView) -> list[str]:
    """The nodes not wholly on screen."""
    seen = visible(view)
    return [i.node_id for i in view.canvas_scene.node_items()
            if not seen.contains(i.sceneBoundingRect())]


def fills(view: CanvasView) -> bool:
    """The graph spans the viewport in width or height, but for the margin (or it is shown
    at 100 %): zoom to fit did not leave it small."""
    rect = view.canvas_scene.items_rect()
    port = view.viewport().rect()
    z = view.zoom_level()
    return z == pytest.approx(1.0) or (
        rect.width() * z >= port.width() - 2 * FIT_MARGIN - 2
        or rect.height() * z >= port.height() - 2 * FIT_MARGIN - 2)


def wheel(view: CanvasView, delta: int) -> None:
    vp = view.viewport()
    pos = QPointF(vp.rect().center())
    event = QWheelEvent(pos, QPointF(vp.mapToGlobal(pos.toPoint())), QPoint(),
                        QPoint(0, delta), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(vp, event)


def make_view(qtbot, model: GraphModel, w: int, h: int) -> CanvasView:
    view = CanvasView(model, QUndoStack())
    qtbot.addWidget(view)
    view.resize(w, h)
    view.show()
    qtbot.waitExposed(view)
    return view


def one_row(name: str) -> GraphModel:
    """A preset laid out in one band, however long (ResNet-50: ~9000 units wide)."""
    m = GraphModel.from_dict(load(name).graph)
    for n, pos in layout(m).items():
        m.move_node(n, pos)
    return m


# --------------------------------------------------------------------------- the presets


@pytest.mark.parametrize("name", PRESETS)
def test_no_preset_has_overlapping_nodes(qtbot, name):
    view = CanvasView(GraphModel.from_dict(load(name).graph), QUndoStack())
    qtbot.addWidget(view)
    items = view.canvas_scene.node_items()
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            assert not a.sceneBoundingRect().intersects(b.sceneBoundingRect()), \
                f"{name}: {a.node_id} overlaps {b.node_id}"


def check_whole(qtbot, w, name: str) -> None:
    """Every node of ``w``'s canvas is on screen, and the graph is not left small."""
    view = w.canvas
    try:  # the fit follows the window's resize and dock layout events
        qtbot.waitUntil(lambda: not outside(view) and fills(view), timeout=HANG_GUARD_MS)
    except qtbot.TimeoutError:
        pass  # the assertions below say what is wrong
    assert not outside(view), f"{name} at {w.size().toTuple()}: off screen {outside(view)}"
    assert view.viewport().width() > 300 and view.viewport().height() > 150
    assert fills(view), f"{name} at {w.size().toTuple()}: zoom {view.zoom_level():.3f} " \
        f"leaves it small in {view.viewport().size()}"


def test_every_preset_opens_whole_at_both_window_sizes(qtbot):
    """File ▸ Open of every preset in one window, first at the small size, then bigger.
    (How long opening takes is measured in benchmarks/bench_open_presets.py.)"""
    from playground.ui.main_window import MainWindow
    w = MainWindow("xor_mlp")
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    try:
        w.resize(*SIZES[0])
        w.show()
        qtbot.waitExposed(w)
        for name in PRESETS:
            w.resize(*SIZES[0])
            assert w.open_project(name), name
            for size in SIZES:  # shown at the small size, then made bigger
                w.resize(*size)
                check_whole(qtbot, w, name)
    finally:
        w.shutdown()


@pytest.mark.parametrize("name", STARTUP)
def test_a_preset_opens_whole_in_a_new_window(qtbot, name):
    """``playground NAME``: the window's first show fits the graph, then a bigger window."""
    from playground.ui.main_window import MainWindow
    w = MainWindow(name)
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    try:
        for size in SIZES:
            w.resize(*size)
            if not w.isVisible():
                w.show()
                qtbot.waitExposed(w)
            check_whole(qtbot, w, name)
    finally:
        w.shutdown()


def test_opening_another_preset_fits_it(make_window, qtbot):
    w = make_window("xor_mlp")
    w.resize(1366, 768)
    wheel(w.canvas, 600)  # zoomed in on the old document
    assert w.open_project("googlenet")
    qtbot.waitUntil(lambda: not outside(w.canvas), timeout=HANG_GUARD_MS)
    assert fills(w.canvas) and w.canvas.auto_fit()


# ------------------------------------------------------------------------- zoom to fit


def test_zoom_to_fit_shows_a_long_chain_whole_and_the_wheel_gets_back_there(qtbot):
    view = make_view(qtbot, one_row("resnet50"), 1000, 600)
    fit = view.fit_zoom()
    assert fit < MIN_ZOOM  # 24 nodes in one row: below the wheel's usual floor
    wheel(view, 480)
    assert outside(view) != [] and not view.auto_fit()
    view.zoom_to_fit()
    assert outside(view) == [] and fills(view)
    assert view.zoom_level() == pytest.approx(fit)
    wheel(view, 240)
    for _ in range(12):  # the wheel zooms out as far as the fit, and no further
        wheel(view, -240)
    assert view.zoom_level() == pytest.approx(fit)


def test_ctrl_0_fits_after_zooming_and_panning(make_window, qtbot):
    w = make_window("resnet50")
    assert w.zoom_fit_action.shortcut() == QKeySequence("Ctrl+0")
    view = w.canvas
    qtbot.waitUntil(lambda: outside(view) == [], timeout=HANG_GUARD_MS)
    wheel(view, 720)
    view.pan_by(400, 150)
    assert outside(view) != []
    w.zoom_fit_action.trigger()
    assert outside(view) == [] and fills(view)


def test_the_view_refits_on_resize_until_the_user_zooms(qtbot):
    view = make_view(qtbot, GraphModel.from_dict(load("vgg16").graph), 500, 300)
    assert view.auto_fit() and outside(view) == []
    small = view.zoom_level()
    view.resize(1400, 800)
    QApplication.processEvents()
    assert view.zoom_level() > small * 1.5 and outside(view) == [] and fills(view)
    wheel(view, 120)  # the user zooms: a resize no longer refits
    zoom = view.zoom_level()
    view.resize(700, 400)
    QApplication.processEvents()
    assert not view.auto_fit() and view.zoom_level() == pytest.approx(zoom)
    view.zoom_to_fit()  # ... until the next zoom to fit
    view.resize(1200, 700)
    QApplication.processEvents()
    assert view.auto_fit() and outside(view) == [] and fills(view)


def test_panning_ends_auto_fit(qtbot):
    view = make_view(qtbot, GraphModel.from_dict(load("xor_mlp").graph), 900, 500)
    before = visible(view).center()
    vp = view.viewport()
    c = vp.rect().center()
    qtbot.mousePress(vp, Qt.MiddleButton, pos=c)
    qtbot.mouseMove(vp, c + QPoint(60, 20))
    qtbot.mouseRelease(vp, Qt.MiddleButton, pos=c + QPoint(60, 20))
    moved = visible(view).center()
    zoom = view.zoom_level()
    assert moved.x() == pytest.approx(before.x() - 60 / zoom, abs=2) and not view.auto_fit()
    view.resize(1400, 800)  # room for 100 %, but the user has panned: no refit
    QApplication.processEvents()
    assert zoom < 1.0 and view.zoom_level() == pytest.approx(zoom)


# ---------------------------------------------------------------------------- wrapping


def chain(n: int, size=(200.0, 120.0)):
    nodes = [f"n{i}" for i in range(n)]
    return nodes, list(zip(nodes, nodes[1:])), {k: size for k in nodes}


def test_a_long_chain_wraps_into_bands_that_fit_the_window_bigger():
    nodes, edges, sizes = chain(24)
    flat = layered_positions(nodes, edges, sizes)
    wrapped = layered_positions(nodes, edges, sizes, window=(1200, 600))

    def zoom(pos):
        w = max(x + sizes[n][0] for n, (x, _) in pos.items())
        h = max(y + sizes[n][1] for n, (_, y) in pos.items())
        return min(1200 / w, 600 / h)

    assert zoom(wrapped) > 2 * zoom(flat)
    rows = sorted({y for _, y in wrapped.values()})
    assert len(rows) >= 3
    for a, b in edges:  # left to right within a band, or from one band's end to the next
        (ax, ay), (bx, by) = wrapped[a], wrapped[b]
        assert (ay == by and ax + sizes[a][0] < bx) or (by > ay + sizes[a][1] and bx == 0)
    boxes = [(x, y, *sizes[n]) for n, (x, y) in wrapped.items()]
    for i, (ax, ay, aw, ah) in enumerate(boxes):
        for bx, by, bw, bh in boxes[i + 1:]:
            assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah)


def test_a_graph_that_fits_or_has_no_single_wire_cut_does_not_wrap():
    nodes, edges, sizes = chain(4)  # 1190 units wide: 100 % in the window
    window = (1200, 600)
    assert layered_positions(nodes, edges, sizes, window=window) == \
        layered_positions(nodes, edges, sizes)
    nodes, edges, sizes = chain(6)  # 1850 units: 0.55 in 1020 pixels, still drawn in full
    assert layered_positions(nodes, edges, sizes, window=(1020, 600)) == \
        layered_positions(nodes, edges, sizes)
    assert layered_positions(nodes, edges, sizes, window=(900, 600)) != \
        layered_positions(nodes, edges, sizes)  # 0.49: it wraps
    # two parallel chains joined at both ends: every cut crosses two wires
    g = nx.DiGraph([("s", "a0"), ("s", "b0")] + [(f"{p}{i}", f"{p}{i + 1}") for p in "ab"
                                                 for i in range(11)]
                   + [("a11", "t"), ("b11", "t"), ("t", "u")])
    sizes = {n: (200.0, 120.0) for n in g}
    pos = layered_positions(list(g), list(g.edges()), sizes, window=window)
    assert pos == layered_positions(list(g), list(g.edges()), sizes)


def test_arrange_wraps_a_long_graph_to_the_view(qtbot):
    view = make_view(qtbot, one_row("resnet50"), 1100, 650)
    one_band = view.fit_zoom()
    view.arrange()
    assert view.fit_zoom() > 2.5 * one_band
    assert outside(view) == [] and fills(view)
    view.undo_stack.undo()
    assert view.fit_zoom() == pytest.approx(one_band, rel=0.02)

"""The tensor viewer: which view each shape gets, the numbers it shows, the value under
the cursor, pooling of large heatmaps and the image grid."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF  # noqa: E402

from playground.ui.tensor_view import (TensorView, choose_mode, image_grid,  # noqa: E402
                                       pool_max_abs)

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


@pytest.fixture
def view(qtbot):
    v = TensorView("t")
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    qtbot.waitExposed(v)
    return v


@pytest.mark.parametrize("shape, mode", [
    ((), "scalar"), ((1,), "scalar"), ((8,), "table"), ((2, 8), "table"), ((64,), "heatmap"),
    ((32, 8), "heatmap"), ((4, 6, 10), "sequence"), ((3, 2, 8, 8), "images"),
    ((2, 3, 4, 5, 6), "heatmap")])
def test_each_shape_gets_its_view(shape, mode):
    assert choose_mode(shape) == mode


def test_small_tensors_are_a_table_of_their_numbers(view):
    a = np.array([[0.125, -2.5, 3.0, 0.0], [1e-5, 7.0, -1.0, 2.0]], np.float32)
    view.set_array(a, title="weight")
    assert view.mode() == "table"
    np.testing.assert_allclose(view.table_values(), a, rtol=1e-4)  # 4 significant digits
    assert "weight" in view.title() and "(2, 4)" in view.title()
    view.set_array(np.float32(0.6931))
    assert view.mode() == "scalar" and view.scalar_label.text() == "0.6931"


def test_heatmap_hover_names_the_index_and_value(view, qtbot):
    a = np.arange(32 * 8, dtype=np.float32).reshape(32, 8) - 100
    view.set_array(a)
    assert view.mode() == "heatmap"
    assert view.levels() == (-155.0, 155.0)  # signed: symmetric about 0
    assert view.hover_text(3, 5) == f"[3, 5] = {a[3, 5]:g}"
    assert view.hover_text(40, 0) == ""  # outside
    # a real mouse move over pixel (row 10, col 2) writes its value below the plot
    pt = view.image.mapToScene(QPointF(2.5, 10.5))  # the pixel's centre
    with qtbot.waitSignal(view.hovered, timeout=HANG_MS) as sig:
        view.plot_widget.scene().sigMouseMoved.emit(pt)
    assert sig.args == [f"[10, 2] = {a[10, 2]:g}"]
    assert view.hover_label.text() == f"[10, 2] = {a[10, 2]:g}"
    view.set_array(np.abs(a) + 1)
    assert view.levels() == (0.0, float(np.abs(a).max() + 1))  # non-negative: from 0


def test_large_heatmaps_pool_to_the_largest_magnitude_of_each_block():
    a = np.zeros((1200, 1200))
    np.fill_diagonal(a, 1.0)
    a[600, 601] = -5.0
    pooled, br, bc = pool_max_abs(a, max_side=512)
    assert (br, bc) == (3, 3) and pooled.shape == (400, 400)
    assert np.all(np.diag(pooled) != 0)  # the diagonal stays visible
    assert pooled[200, 200] == -5.0  # the largest magnitude wins, with its sign
    same, br, bc = pool_max_abs(np.ones((10, 20)))
    assert (br, bc) == (1, 1) and same.shape == (10, 20)


def test_a_big_jacobian_hover_names_its_block(view):
    a = np.diag(np.arange(1, 1025, dtype=np.float64))
    view.set_array(a)
    assert view.hover_text(0, 0) == "[0:2, 0:2] largest |value| = 2"


def test_image_grid_puts_examples_in_rows_and_channels_in_columns(view):
    a = np.random.default_rng(0).random((3, 2, 4, 5)).astype(np.float32)
    img, n, c = image_grid(a)
    assert (n, c) == (3, 2) and img.shape == (3 * 5 - 1, 2 * 6 - 1)
    np.testing.assert_array_equal(img[5:9, 6:11], a[1, 1])
    assert np.isnan(img[4, 0])  # the gap between examples
    view.set_array(a)
    assert view.mode() == "images"
    assert view.hover_text(6, 7) == f"[1, 1, 1, 1] = {a[1, 1, 1, 1]:.4g}"
    assert view.hover_text(4, 0) == ""


def test_sequences_show_one_example_with_a_row_per_position(view):
    a = np.random.default_rng(1).standard_normal((4, 6, 10))
    view.set_array(a)
    assert view.mode() == "sequence" and view.example_spin.isVisible()
    assert view.example_spin.maximum() == 3
    view.example_spin.setValue(2)
    assert view.hover_text(5, 9) == f"[2, 5, 9] = {a[2, 5, 9]:.4g}"
    np.testing.assert_allclose(view.image.image, a[2].astype(np.float32))
    view.set_array(None)
    assert view.mode() == "empty" and not view.example_spin.isVisible()

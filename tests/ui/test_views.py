"""The live view docks: each shows real numbers from a short real training run, follows the
selected node, exports PNG and CSV, and the timeline slider shows an old step."""

from __future__ import annotations

import csv
import dataclasses
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage  # noqa: E402

from playground.engine import Tensor  # noqa: E402
from playground.graph import GraphModel  # noqa: E402
from playground.project import Project, Training  # noqa: E402
from playground.session.timeline import Timeline  # noqa: E402
from playground.session.views import view_batch  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402
from playground.ui.views.training import rebin  # noqa: E402


@pytest.fixture
def trained(qtbot):
    """``trained(project, steps)``: a window whose session trained ``steps`` steps on this
    thread with a timeline entry every 5 steps."""
    made = []

    def make(project, steps: int, select: str | None = None) -> MainWindow:
        w = MainWindow(project)
        w.confirm_discard = lambda: True
        qtbot.addWidget(w)
        w.resize(1400, 900)
        w.show()
        made.append(w)
        s = w._ensure_session()
        s.timeline = Timeline(capacity=50, interval=5)
        s.timeline_budget = None  # an entry every 5 steps, whatever it costs
        w.live_views.show_all = True
        if select:
            w.canvas.select_node(select)
        w.train_steps_sync(steps)
        return w

    yield make
    for w in made:
        w.shutdown()


def draw(w: MainWindow, title: str):
    """Bring the view's dock to the front and draw the current frame into it."""
    c = w.live_views
    c.docks[title].show()
    c.docks[title].raise_()
    view = c.views[title]
    view.show_frame(c.frame, force=True)
    return view


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def check_png(view, path):
    view.export_png(path)
    img = QImage(str(path))
    assert not img.isNull() and img.width() > 50 and img.height() > 50
    # not one flat colour: something was drawn
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7)
               for y in range(0, img.height(), 7)}
    assert len(colours) > 5


def node_output(s, node, port="output"):
    x, y = view_batch(s)
    with s.inference():
        trace = s.run(s.feeds(x, y), until=s.program.ancestors(node))
    return trace[node][port].data


def test_cnn_views_show_the_selected_nodes_numbers_and_export(trained, tmp_path):
    w = trained("cnn_digits", 30, select="conv1")
    s = w.session
    assert s.focus == "conv1"
    # -- histograms: exact counts now, heatmap columns from the timeline entries
    hv = draw(w, "Histograms")
    assert hv.showing_content() and hv.node == "conv1"
    out = node_output(s, "conv1")
    assert hv.now["activation"].counts.sum() == out.size == 64 * 16 * 8 * 8
    assert hv.now["weight"].counts.sum() == 16 * 1 * 3 * 3 + 16
    expected, _ = np.histogram(out, bins=hv.now["activation"].edges)
    assert np.abs(expected - hv.now["activation"].counts).sum() <= 2  # (edge rounding)
    img, steps, edges = hv.heat["weight"]
    entries = s.timeline.entries()
    assert steps.tolist() == [e.step for e in entries] == list(range(5, 31, 5))
    np.testing.assert_allclose(img.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(img[:, 2], rebin(entries[2].histograms["conv1"]["weight"], edges))
    # -- feature maps: the node's output for the first held-out example; kernels = weights
    fv = draw(w, "Feature maps")
    assert fv.node == "conv1" and fv.showing_content()
    np.testing.assert_allclose(fv.maps, out[0], rtol=1e-6)
    np.testing.assert_array_equal(fv.kernels, s.program.call("conv1").module.weight.data)
    header, rows = read_csv(fv.export_csv(tmp_path / "maps.csv"))
    assert header == ["kind", "channel", "in_channel", "row", "col", "value"]
    maps = [r for r in rows if r[0] == "map"]
    assert len(maps) == 16 * 8 * 8 and len(rows) - len(maps) == 16 * 9
    c, r, col = 3, 4, 5
    row = next(x for x in maps if x[1:5] == [str(c), "", str(r), str(col)])
    assert float(row[5]) == pytest.approx(float(out[0, c, r, col]), rel=1e-5)
    check_png(fv, tmp_path / "maps.png")
    # -- gradient health: per-layer series from the timeline, the selected layer thick
    gv = draw(w, "Gradient health")
    assert set(gv.series) == {"conv1", "conv2", "fc"}
    want = [e.health.nodes["conv1"].param_grad_norm for e in entries]
    np.testing.assert_allclose(gv.series["conv1"]["grad_norm"], want)
    assert gv.curves["conv1"][0].opts["pen"].widthF() > gv.curves["fc"][0].opts["pen"].widthF()
    header, rows = read_csv(gv.export_csv(tmp_path / "health.csv"))
    assert len(rows) == 3 * len(entries) and header[:2] == ["node", "step"]
    # -- the views follow the selection
    w.canvas.select_node("conv2")
    assert s.focus == "conv2"
    fv = draw(w, "Feature maps")
    assert fv.node == "conv2" and fv.maps.shape == (32, 4, 4)
    np.testing.assert_allclose(fv.maps, node_output(s, "conv2")[0], rtol=1e-6)
    assert draw(w, "Histograms").node == "conv2"
    # -- curves and histograms export
    header, rows = read_csv(draw(w, "Training curves").export_csv(tmp_path / "c.csv"))
    losses = [float(r[2]) for r in rows if r[0] == "loss"]
    assert len(losses) == 30 and losses == pytest.approx(list(s.history.copy_arrays()["loss"][1]))
    header, rows = read_csv(draw(w, "Histograms").export_csv(tmp_path / "h.csv"))
    now = [r for r in rows if r[1] == "activation now"]
    assert sum(int(r[6]) for r in now) == 64 * 32 * 4 * 4


def test_timeline_slider_shows_an_old_step_and_snaps_back_to_live(trained):
    w = trained("cnn_digits", 30, select="conv1")
    c = w.live_views
    live_maps = draw(w, "Feature maps").maps.copy()
    early = w.session.timeline.entries()[0]
    assert early.step == 5
    c.timeline.slider.setValue(0)  # the user drags the slider to the left end
    assert c.timeline.step == 5 and not c.frame.live and c.frame.step == 5
    fv = draw(w, "Feature maps")
    then = np.asarray(early.views["nodes"]["conv"]["maps"], np.float32)
    np.testing.assert_array_equal(fv.maps, then)
    assert not np.allclose(then, live_maps, atol=1e-2)  # the past differs from now
    assert "timeline: step 5" in fv.caption.text()
    curves = draw(w, "Training curves").inner
    assert curves.csv_table()[1][-1][1] <= 5  # the curves stop at the scrubbed step
    assert len(draw(w, "Histograms").heat["weight"][1]) == 1
    # a new snapshot while scrubbed keeps the past; pressing Train snaps back to live
    snap = w.session.snapshot()
    c.show_snapshot(snap)
    assert c.frame.step == 5
    c.show_snapshot(dataclasses.replace(snap, running=True))
    assert c.timeline.step is None and c.frame.live and c.frame.step == 30
    assert c.timeline.slider.value() == c.timeline.slider.maximum()


def test_gan_view_shows_real_and_generated_points_over_the_discriminator(trained, tmp_path):
    w = trained("gan_ring", 20)
    gv = draw(w, "GAN")
    assert gv.showing_content()
    views = w.live_views.frame.views
    np.testing.assert_array_equal(gv.data["fake"], views["fake"])
    np.testing.assert_array_equal(gv.data["real"], w.session.dataset.train.input[:512])
    # the heatmap is D's probability of "real" at the grid points
    d = views["discriminator"]
    s = w.session
    grid = np.array([[d.x_range[0], d.y_range[0]], [d.x_range[1], d.y_range[1]]], np.float32)
    with s.inference():
        logits = s.recipe._discriminate(s.feeds(*s.current_batch()), Tensor(grid)).data
    p = 1 / (1 + np.exp(-logits[:, 0]))
    assert gv.data["probs"][0, 0] == pytest.approx(p[0], abs=1e-5)
    assert gv.data["probs"][-1, -1] == pytest.approx(p[1], abs=1e-5)
    header, rows = read_csv(gv.export_csv(tmp_path / "gan.csv"))
    assert sum(r[0] == "fake" for r in rows) == 512 and sum(r[0] == "real" for r in rows) == 512
    check_png(gv, tmp_path / "gan.png")
    assert "2-D points" in draw(w, "Samples").placeholder_text  # no image samples here


def test_vae_latent_points_are_the_encoder_means_and_samples_are_decoded(trained, tmp_path):
    w = trained("vae_digits", 20)
    s = w.session
    lv = draw(w, "Latent space")
    val = s.dataset.val
    np.testing.assert_allclose(lv.points, s.recipe.encode(val.input[:1000]), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(lv.labels, val.target[:1000])
    assert lv.manifold.shape == (12, 12, 1, 8, 8)
    header, rows = read_csv(lv.export_csv(tmp_path / "latent.csv"))
    assert len(rows) == len(lv.points) and float(rows[0][1]) == pytest.approx(lv.points[0, 0])
    check_png(lv, tmp_path / "latent.png")
    sv = draw(w, "Samples")
    z = np.random.default_rng(0).standard_normal((64, 2))
    np.testing.assert_allclose(sv.samples, s.recipe.decode(z), rtol=1e-5, atol=1e-6)
    assert draw(w, "Feature maps").placeholder_text.startswith("No convolution")


def attention_project() -> Project:
    m = GraphModel()
    m.add_node("Dataset", params={"dataset": "reverse", "n_samples": 64}, node_id="data")
    m.add_node("Embedding", params={"num_embeddings": 10, "embedding_dim": 8}, node_id="emb")
    m.add_node("MultiheadAttention", params={"embed_dim": 8, "num_heads": 2,
                                             "batch_first": True}, node_id="attn")
    m.add_node("Linear", params={"in_features": 8, "out_features": 10}, node_id="out")
    m.add_node("Permute", params={"dims": [0, 2, 1]}, node_id="perm")
    m.add_node("CrossEntropyLoss", node_id="loss")
    m.connect("data", "x", "emb", "input")
    for port in ("query", "key", "value"):
        m.connect("emb", "output", "attn", port)
    m.connect("attn", "output", "out", "input")
    m.connect("out", "output", "perm", "input")
    m.connect("perm", "output", "loss", "input")
    m.connect("data", "target", "loss", "target")
    return Project(name="attention", graph=m.to_dict(),
                   training=Training(steps=10, batch_size=16, optimizer="Adam", lr=0.01))


def test_attention_embedding_and_sequence_views(trained, tmp_path):
    w = trained(attention_project(), 10, select="attn")
    s = w.session
    av = draw(w, "Attention")
    assert av.node == "attn" and av.weights.shape == (2, 8, 8)
    np.testing.assert_allclose(av.weights.sum(axis=-1), 1.0, atol=1e-5)  # softmax rows
    x, y = view_batch(s)
    assert list(av.key_tokens) == [str(t) for t in x[0]]
    # per head, although the node averages its attn_weights output
    avg = node_output(s, "attn", "attn_weights")[0]
    np.testing.assert_allclose(av.weights.mean(axis=0), avg, rtol=1e-5, atol=1e-6)
    header, rows = read_csv(av.export_csv(tmp_path / "attn.csv"))
    assert len(rows) == 2 * 8 * 8 and header[-1] == "weight"
    check_png(av, tmp_path / "attn.png")
    ev = draw(w, "Embeddings")
    table = s.program.call("emb").module.weight.data
    centred = table - table.mean(axis=0)
    # PCA: the coordinates' covariance is diagonal with the top two eigenvalues
    cov = np.cov(ev.data["coords"].T)
    top = np.sort(np.linalg.eigvalsh(np.cov(centred.T)))[::-1][:2]
    np.testing.assert_allclose(np.diag(cov), top, rtol=1e-3)
    assert abs(cov[0, 1]) < 1e-4
    u = table / np.linalg.norm(table, axis=1, keepdims=True)
    sims = u @ u[3]
    sims[3] = -np.inf
    assert ev.neighbours(3)[0][0] == int(np.argmax(sims))
    qv = draw(w, "Sequences")
    seq = w.live_views.frame.views["sequence"]
    logits = node_output(s, "out")[:6]
    np.testing.assert_array_equal(seq["prediction"], logits.argmax(axis=-1))
    np.testing.assert_array_equal(seq["target"], y[:6])
    header, rows = read_csv(qv.export_csv(tmp_path / "seq.csv"))
    assert len(rows) == 6 * 8 and rows[0][3] == str(y[0, 0])
    assert "output" in qv.text.toPlainText()


@pytest.mark.parametrize("preset, shown, hidden", [
    ("cnn_digits", {"Feature maps"}, {"Attention", "GAN", "Latent space", "Decision boundary"}),
    ("xor_mlp", {"Decision boundary"}, {"Feature maps", "Attention", "Samples"}),
    ("vae_digits", {"Latent space", "Samples"}, {"Feature maps", "GAN", "Decision boundary"}),
    ("transformer_reverse", {"Attention", "Sequences", "Embeddings"}, {"Feature maps", "GAN"}),
    ("resnet18", set(), {"Feature maps", "Decision boundary", "Attention", "Histograms"}),
])
def test_a_new_document_shows_the_views_its_graph_will_fill(qtbot, preset, shown, hidden):
    w = MainWindow(preset)
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    w.show()
    docks = w.live_views.docks
    assert {t for t in shown if docks[t].isVisible()} == shown
    assert not {t for t in hidden if docks[t].isVisible()}
    assert "Cannot train" not in w.last_message  # opening is not an attempt to train
    w.shutdown()


@pytest.mark.parametrize("preset, title, train_key, val_key", [
    ("gan_ring", "Discriminator: D(G(z)) and D(real)", "d_fake", "d_real"),
    ("vae_digits", "KL divergence", "kl", "val_kl"),
    ("xor_mlp", "Accuracy", "accuracy", "val_accuracy"),
])
def test_the_second_curve_panel_shows_the_recipes_own_metric(trained, preset, title,
                                                             train_key, val_key):
    w = trained(preset, 20)
    curves = w.curves
    assert curves.second_title == title
    history = w.session.snapshot().history
    for slot, key in (("accuracy", train_key), ("val_accuracy", val_key)):
        steps, values = history[key]
        x, y = curves.data(slot)
        np.testing.assert_array_equal(y, np.asarray(values, np.float64))
        assert len(x) == len(steps) > 0
    header, rows = curves.csv_table()
    assert {r[0] for r in rows} >= {train_key, val_key, "loss"}


def test_a_run_without_a_second_metric_shows_the_loss_alone(trained):
    w = trained("l1_vs_l2_outliers", 10)  # a regression: no accuracy to plot
    assert "accuracy" not in w.session.snapshot().history
    assert not w.curves.second_shown
    w2 = trained("xor_mlp", 10)
    assert w2.curves.second_shown and w2.curves.second_title == "Accuracy"
    w.curves.update_from(w2.session.snapshot())  # the same widget, a classifier's history
    assert w.curves.second_shown


def test_frames_are_spaced_so_the_ui_thread_keeps_its_cpu_share(make_window):
    from playground.ui import views as V

    w = make_window("xor_mlp")
    c = w.live_views
    now = time.thread_time()
    c._cpu_at = now
    assert c.frame_spacing(now) == V.VIEW_MS / 1000  # an idle UI: the plain frame rate
    # 60 ms of UI work since the last frame: the next waits until that is UI_SHARE of it
    assert c.frame_spacing(now + 0.06) == pytest.approx(0.06 / V.UI_SHARE)
    snap = w.train_steps_sync(3)
    running = dataclasses.replace(snap, running=True, step=snap.step + 1)
    c._cpu_at = time.thread_time() - 0.06
    # the last frame: just now (with a minute's slack for a loaded machine's stalls)
    c._shown_at = time.monotonic() + 60
    shown = c.frame
    c.show_snapshot(running)
    assert c.frame is shown  # too soon: the frame is skipped
    # long enough ago, with room for the CPU this test spends
    c._shown_at = time.monotonic() - (0.06 / V.UI_SHARE + 0.5)
    c.show_snapshot(running)
    assert c.frame is not shown and c.frame.step == snap.step + 1

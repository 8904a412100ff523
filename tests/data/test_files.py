"""The user's own data (issue 14): CSV, NPY/NPZ, IDX and text files read into datasets, used
by a Dataset node in a project that trains, saves and reopens; malformed files refused with
one clear message each."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from playground import data
from playground.data import DatasetFileError, files
from playground.graph import GraphModel
from playground.project import load, save
from playground.session import Session


def write_csv(path, n=200, seed=0, header=True):
    """Two Gaussian classes ("left", "right") in the plane, plus a noise column."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 2)) * 0.8 + np.where(label[:, None] == 1, 1.0, -1.0)
    noise = rng.normal(size=n)
    with open(path, "w", encoding="utf-8") as f:
        if header:
            f.write("x0,x1,noise,side\n")
        for (a, b), c, k in zip(x, noise, label):
            f.write(f"{a:.5f},{b:.5f},{c:.5f},{'right' if k else 'left'}\n")
    return x, label


def write_idx(path, array, code, compress=False):
    array = np.asarray(array)
    head = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(head + body)


def digits_idx(folder, compress=False):
    """The shipped digits (train split) as an MNIST-style IDX pair of uint8 files."""
    d = data.load_digits()
    images = np.round(d.train.input.reshape(-1, 8, 8) * 255).astype(np.uint8)
    suffix = ".gz" if compress else ""
    img = folder / f"train-images-idx3-ubyte{suffix}"
    write_idx(img, images, 0x08, compress)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", d.train.target.astype(np.uint8),
              0x08, compress)
    return img, images, d.train.target


def project_dict(dataset_params, in_features, classes, hidden=16, steps=300, lr=0.05):
    return {
        "schema_version": 2, "name": "mine",
        "graph": {
            "nodes": [
                {"id": "data", "type": "Dataset", "params": dataset_params, "pos": [0, 0]},
                {"id": "fc1", "type": "Linear", "params": {"in_features": in_features,
                                                           "out_features": hidden},
                 "pos": [200, 0]},
                {"id": "act", "type": "ReLU", "params": {}, "pos": [400, 0]},
                {"id": "fc2", "type": "Linear", "params": {"in_features": hidden,
                                                           "out_features": classes},
                 "pos": [600, 0]},
                {"id": "loss", "type": "CrossEntropyLoss", "params": {}, "pos": [800, 0]},
            ],
            "edges": [
                {"src": "data", "src_port": "x", "dst": "fc1", "dst_port": "input"},
                {"src": "fc1", "src_port": "output", "dst": "act", "dst_port": "input"},
                {"src": "act", "src_port": "output", "dst": "fc2", "dst_port": "input"},
                {"src": "fc2", "src_port": "output", "dst": "loss", "dst_port": "input"},
                {"src": "data", "src_port": "target", "dst": "loss", "dst_port": "target"},
            ],
        },
        "training": {"optimizer": "Adam", "lr": lr, "batch_size": 32, "steps": steps,
                     "seed": 0},
    }


def write_project(path, params, in_features, classes, **kw):
    path.write_text(json.dumps(project_dict(params, in_features, classes, **kw)))
    return path


# ---------------------------------------------------------------------------------- CSV


def test_csv_reads_columns_header_and_class_names(tmp_path):
    x, label = write_csv(tmp_path / "toy.csv")
    ds = files.load_csv(tmp_path / "toy.csv", input_columns="x0, x1", target_column="side")
    assert ds.class_names == ("left", "right") and ds.num_classes == 2
    assert ds.feature_shape == (2,) and ds.extras["columns"] == ("x0", "x1")
    assert len(ds.train) + len(ds.val) == 200 and len(ds.val) == 40
    # every row lands in one split with its own label, values as written (5 decimals)
    rows = np.concatenate([ds.train.input, ds.val.input])
    targets = np.concatenate([ds.train.target, ds.val.target])
    order = np.lexsort(rows.T[::-1])
    want = np.lexsort(np.round(x, 5).T[::-1])
    np.testing.assert_allclose(rows[order], np.round(x, 5)[want], atol=1e-5)
    np.testing.assert_array_equal(targets[order], label[want])
    # stratified: each class holds out 20% of its rows (to one row)
    for c in (0, 1):
        share = (ds.val.target == c).sum() / (label == c).sum()
        assert abs(share - 0.2) < 0.02
    # the default inputs are every column but the last (the target)
    assert files.load_csv(tmp_path / "toy.csv").feature_shape == (3,)


def test_csv_without_header_numbers_its_columns_and_maps_numeric_labels(tmp_path):
    p = tmp_path / "plain.csv"
    p.write_text("".join(f"{i * 0.1:.1f};{(i % 3) * 10}\n" for i in range(30)))
    table = files.read_table(p)
    assert not table.has_header and table.delimiter == ";" and table.columns == ("0", "1")
    ds = files.load_csv(p)
    assert ds.class_names == ("0", "10", "20")  # sorted as numbers, named as written
    assert set(np.unique(ds.train.target)) == {0, 1, 2}


def test_csv_regression_gives_float_targets(tmp_path):
    p = tmp_path / "line.csv"
    xs = np.linspace(-1, 1, 50)
    p.write_text("x,y\n" + "".join(f"{v:.4f},{3 * v + 1:.4f}\n" for v in xs))
    ds = files.load_csv(p, task="regression")
    assert ds.train.target.dtype == np.float32 and ds.train.target.shape == (40, 1)
    np.testing.assert_allclose(ds.train.target[:, 0], 3 * ds.train.input[:, 0] + 1, atol=1e-3)


def test_a_project_trains_on_a_csv_to_95_percent_held_out(tmp_path):
    write_csv(tmp_path / "toy.csv", n=400)
    params = {"dataset": "csv", "path": "toy.csv", "input_columns": "x0, x1",
              "target_column": "side"}
    project = load(write_project(tmp_path / "mine.json", params, 2, 2, steps=200))
    assert project.graph["nodes"][0]["params"]["path"] == str(tmp_path / "toy.csv")
    final = Session(project).train(200)
    # two Gaussians (sd 0.8) with means 2.83 apart: the Bayes accuracy is Phi(1.77) = 0.96
    assert final["val_accuracy"] >= 0.9, final


def test_cli_trains_a_csv_project(tmp_path):
    write_csv(tmp_path / "toy.csv", n=400)
    params = {"dataset": "csv", "path": "toy.csv", "input_columns": "x0, x1",
              "target_column": "side"}
    write_project(tmp_path / "mine.json", params, 2, 2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-m", "playground", "train",
                          str(tmp_path / "mine.json"), "--steps", "150", "--json"],
                         cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    final = json.loads(out.stdout.strip().splitlines()[-1])
    assert final["step"] == 150 and final["accuracy"] >= 0.9, final


# ---------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [False, True])
def test_idx_pair_reads_images_and_labels(tmp_path, compress):
    img, images, target = digits_idx(tmp_path, compress)
    assert files.idx_info(img).shape == images.shape
    ds = files.load_idx(img)
    assert ds.image_shape == (1, 8, 8) and ds.feature_shape == (64,)
    assert ds.class_names == tuple(str(d) for d in range(10))
    assert len(ds.train) + len(ds.val) == len(images)
    # the pixels come back as written, scaled to [0, 1]
    scaled = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    first = np.flatnonzero((scaled == ds.train.input[0]).all(axis=1))
    assert len(first) >= 1 and target[first[0]] == ds.train.target[0]


def test_a_project_trains_on_an_idx_pair_to_90_percent_held_out(tmp_path):
    digits_idx(tmp_path)
    params = {"dataset": "idx", "path": "train-images-idx3-ubyte"}
    project = load(write_project(tmp_path / "digits.json", params, 64, 10, hidden=32,
                                 steps=300, lr=0.01))
    final = Session(project).train(300)
    assert final["val_accuracy"] >= 0.9, final


# ------------------------------------------------------------------------------ NPY/NPZ


def test_npz_with_keras_style_keys_uses_its_test_split(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "m.npz"
    np.savez(p, x_train=rng.integers(0, 256, (30, 5, 5), dtype=np.uint8),
             y_train=np.arange(30) % 3, x_test=rng.integers(0, 256, (9, 5, 5), dtype=np.uint8),
             y_test=np.arange(9) % 3)
    infos = {i.key: i for i in files.array_infos(p)}
    assert infos["x_train"].shape == (30, 5, 5) and infos["x_train"].dtype == "uint8"
    ds = files.load_arrays(p)
    assert (len(ds.train), len(ds.val)) == (30, 9) and ds.image_shape == (1, 5, 5)
    assert ds.train.input.max() <= 1.0


def test_npy_inputs_with_an_npy_of_targets(tmp_path):
    x = np.random.default_rng(1).normal(size=(20, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(20) % 2)
    ds = files.load_arrays(tmp_path / "x.npy", target_path=str(tmp_path / "y.npy"))
    assert ds.feature_shape == (3,) and ds.num_classes == 2 and len(ds.val) == 4


# ------------------------------------------------------------------------------- text


def test_text_dataset_reads_a_users_text(tmp_path):
    p = tmp_path / "poem.txt"
    p.write_text("the cat sat on the mat. " * 100, encoding="utf-8")
    ds = data.text.load_text(50, 0, 16, path=p)
    assert ds.class_names == tuple(sorted(set("the cat sat on the mat. ")))
    assert ds.extras["corpus"] == "poem"
    same = data.load("text", n_samples=50, seq_len=16, path=p)
    np.testing.assert_array_equal(same.train.input, ds.train.input)
    with pytest.raises(ValueError, match="only 'digits' and 'text' do"):
        data.load("xor", path=p)
    m = GraphModel()
    node = m.add_node("Dataset", params={"dataset": "text", "path": str(p), "seq_len": 16})
    assert m.states()[node].ok and m.states()[node].outputs["x"] == (None, 16)


# --------------------------------------------------------------------------- bad files


def _message(load_fn):
    with pytest.raises((DatasetFileError, FileNotFoundError)) as ei:
        load_fn()
    return str(ei.value)


def test_malformed_files_give_one_clear_message_each(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,c\n1,2,0\n3,4\n")
    assert _message(lambda: files.load_csv(ragged)) == (
        f"{ragged}: row 3 has 2 cells but row 1 has 3; every row needs the same columns "
        "(a ragged row, or a comma inside a number?)")
    cell = tmp_path / "cell.csv"
    cell.write_text("a,b,label\n1,2,x\n1,two,y\n")
    assert _message(lambda: files.load_csv(cell)) == (
        f"{cell}: row 3, column 'b' (number 1) holds 'two', not a number; inputs must be "
        "numbers (fix the cell, or leave the column out of input_columns)")
    assert _message(lambda: files.load_csv(tmp_path / "gone.csv")) == \
        f"CSV file not found: {tmp_path / 'gone.csv'}"
    assert "'nope' is not a column; the columns are a, b, label" in \
        _message(lambda: files.load_csv(cell, target_column="nope"))

    bad_magic = tmp_path / "bad-images-idx3-ubyte"
    bad_magic.write_bytes(b"\x08\x03\x00\x00" + bytes(40))
    assert "not an IDX file: it starts with bytes 08 03 00 00" in \
        _message(lambda: files.load_idx(bad_magic))
    wrong_dims = tmp_path / "w-images-idx3-ubyte"
    write_idx(wrong_dims, np.zeros((10, 4, 4), np.uint8), 0x08)
    with open(wrong_dims, "r+b") as f:  # claim 11 images where 10 are stored
        f.seek(4)
        f.write(struct.pack(">I", 11))
    assert _message(lambda: files.load_idx(wrong_dims)) == (
        f"{wrong_dims}: its header claims shape (11, 4, 4) (176 bytes of uint8) but the "
        "file holds 160 bytes after it")
    write_idx(tmp_path / "v-images-idx3-ubyte", np.zeros((10, 4, 4), np.uint8), 0x08)
    write_idx(tmp_path / "v-labels-idx1-ubyte", np.zeros(9, np.uint8), 0x08)
    assert _message(lambda: files.load_idx(tmp_path / "v-images-idx3-ubyte")) == (
        f"{tmp_path / 'v-labels-idx1-ubyte'}: 9 labels for the 10 images of "
        "v-images-idx3-ubyte")

    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    assert "dtype object (pickled Python objects)" in \
        _message(lambda: files.load_arrays(tmp_path / "obj.npy"))
    huge = tmp_path / "huge.npy"  # a header claiming 8 TB in a 200-byte file
    with open(huge, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (10**6, 10**6)})
        f.write(bytes(64))
    assert "its header claims shape (1000000, 1000000)" in \
        _message(lambda: files.load_arrays(huge))


def test_a_missing_file_marks_the_dataset_node_and_the_project_still_opens(tmp_path):
    write_csv(tmp_path / "toy.csv")
    path = write_project(tmp_path / "mine.json", {"dataset": "csv", "path": "toy.csv",
                                                  "input_columns": "x0, x1"}, 2, 2)
    os.remove(tmp_path / "toy.csv")
    project = load(path)  # opens
    model = GraphModel.from_dict(project.graph)
    state = model.states()["data"]
    assert state.status == "error"
    assert state.message == ("Dataset 'data' cannot load its data: CSV file not found: "
                             f"{tmp_path / 'toy.csv'}")


# ----------------------------------------------------------------- paths in the project


def test_the_data_path_is_saved_relative_and_survives_a_move(tmp_path, monkeypatch):
    folder = tmp_path / "course"
    (folder / "data").mkdir(parents=True)
    write_csv(folder / "data" / "toy.csv")
    params = {"dataset": "csv", "path": "data/toy.csv", "input_columns": "x0, x1"}
    project = load(write_project(folder / "mine.json", params, 2, 2))
    assert project.graph["nodes"][0]["params"]["path"] == str(folder / "data" / "toy.csv")
    save(project, folder / "copy.json")
    stored = json.loads((folder / "copy.json").read_text())["graph"]["nodes"][0]["params"]
    assert stored["path"] == "data/toy.csv"
    moved = tmp_path / "moved"
    os.rename(folder, moved)
    monkeypatch.chdir(tmp_path)  # another working directory than the project's
    again = load(moved / "copy.json")
    assert again.graph["nodes"][0]["params"]["path"] == str(moved / "data" / "toy.csv")
    model = GraphModel.from_dict(again.graph)
    assert model.states()["data"].ok and model.states()["data"].outputs["x"] == (None, 2)


def test_a_regression_node_fits_a_line_to_a_csv(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(300, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 1 + 0.05 * rng.standard_normal(300)
    (tmp_path / "line.csv").write_text(
        "a,b,y\n" + "".join(f"{p:.5f},{q:.5f},{t:.5f}\n" for (p, q), t in zip(x, y)))
    graph = {
        "nodes": [
            {"id": "data", "type": "Regression", "params": {"function": "file",
                                                            "path": "line.csv"}},
            {"id": "fc", "type": "Linear", "params": {"in_features": 2, "out_features": 1}},
            {"id": "loss", "type": "MSELoss", "params": {}},
        ],
        "edges": [
            {"src": "data", "src_port": "x", "dst": "fc", "dst_port": "input"},
            {"src": "fc", "src_port": "output", "dst": "loss", "dst_port": "input"},
            {"src": "data", "src_port": "target", "dst": "loss", "dst_port": "target"},
        ],
    }
    (tmp_path / "fit.json").write_text(json.dumps({
        "schema_version": 2, "graph": graph,
        "training": {"optimizer": "Adam", "lr": 0.05, "batch_size": 32, "steps": 400}}))
    session = Session(load(tmp_path / "fit.json"))
    final = session.train(400)
    weight = session.program.state_dict()["fc.weight"]
    np.testing.assert_allclose(weight, [[3.0, -2.0]], atol=0.05)
    assert final["val_loss"] < 0.05 ** 2 * 2, final  # the noise's variance, to a factor 2


def test_cli_trains_on_a_folder_of_images(tmp_path):
    """Stripes across or down, as PNGs in a subfolder per class; the CLI installs Qt's
    image decoder (the data layer has none of its own)."""
    from PySide6.QtGui import QImage

    rng = np.random.default_rng(0)
    for name in ("across", "down"):
        (tmp_path / "stripes" / name).mkdir(parents=True)
        for i in range(15):
            rows = (np.arange(16) // 2 + int(rng.integers(0, 2))) % 2 == 0  # 2 px wide
            stripes = np.where(rows[:, None], 200, 0).astype(np.uint8).repeat(16, axis=1)
            pixels = np.ascontiguousarray(stripes if name == "across" else stripes.T)
            image = QImage(pixels.data, 16, 16, 16, QImage.Format.Format_Grayscale8)
            assert image.save(str(tmp_path / "stripes" / name / f"{i}.png"))
    params = {"dataset": "image_folder", "path": "stripes", "image_size": 8}
    write_project(tmp_path / "stripes.json", params, 64, 2, steps=60, lr=0.01)
    out = subprocess.run([sys.executable, "-m", "playground", "train",
                          str(tmp_path / "stripes.json"), "--json"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    final = json.loads(out.stdout.strip().splitlines()[-1])
    assert final["val_accuracy"] == 1.0, final  # 6 held-out images, an easy cue

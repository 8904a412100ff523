"""Tests of playground.data: toys, digits asset, registry errors, mini-batching."""

from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from playground import data
from playground.data import toys

TOYS = ["xor", "circles", "moons", "spirals", "blobs"]
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
DIGITS_SHA256 = "3a00349c1ac2b2cd91094a1495a800f819f4eae3b65580bf6375bc4cfe64974f"
PKG_DIR = Path(data.__file__).resolve().parent


# ---------------------------------------------------------------- registry


def test_names_and_infos():
    assert data.names() == ["xor", "circles", "moons", "spirals", "blobs", "linear", "ring",
                            "digits", "digits_subset", "reverse", "dates", "text",
                            "skipgram"]
    assert set(data.DATASETS) == set(data.names())
    for name, info in data.DATASETS.items():
        assert info.name == name
        assert info.is_2d == (name not in ("digits", "digits_subset", "reverse", "dates", "text",
                                           "skipgram"))
    assert data.DATASETS["blobs"].defaults["centers"] == 3
    assert data.DATASETS["blobs"].num_classes == 3
    assert data.DATASETS["digits"].num_classes == 10
    assert dict(data.DATASETS["digits"].defaults) == {}
    with pytest.raises(TypeError):
        data.DATASETS["xor"].defaults["noise"] = 5  # read-only


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as ei:
        data.load("mnist")
    msg = str(ei.value)
    assert "'mnist'" in msg
    for n in data.names():
        assert n in msg
    with pytest.raises(ValueError):  # also a ValueError
        data.load("mnist")


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"n_samples": 3}, "n_samples"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 10.5}, "n_samples"),
        ({"n_samples": True}, "n_samples"),
        ({"n_samples": 100_001}, "n_samples"),
        ({"noise": -0.01}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"noise": 1.5}, "noise"),
        ({"noise": "0.1"}, "noise"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.0}, "seed"),
    ],
)
def test_bad_params_name_param_and_range(kwargs, param):
    with pytest.raises(ValueError) as ei:
        data.load("moons", **kwargs)
    msg = str(ei.value)
    assert msg.startswith(param)
    if param == "n_samples":
        assert "[4, 100000]" in msg
    if param == "noise":
        assert "[0.0, 1.0]" in msg


def test_n_samples_lower_bound_is_inclusive():
    ds = data.load("xor", n_samples=4, noise=0.0)
    assert len(ds.train) == 4 and len(ds.val) == 4
    assert np.bincount(ds.train.target).tolist() == [2, 2]
    ds = data.load("xor", n_samples=np.int64(6), noise=np.float32(0.0))  # numpy scalars ok
    assert len(ds.train) == 6


def test_centers_and_path_only_where_they_apply():
    with pytest.raises(ValueError, match="centers"):
        data.load("moons", centers=4)
    with pytest.raises(ValueError, match=r"centers must be in \[2, 10\]"):
        data.load("blobs", centers=1)
    with pytest.raises(ValueError, match=r"centers must be in \[2, 10\]"):
        data.load("blobs", centers=11)
    with pytest.raises(ValueError, match="path"):
        data.load("xor", path="x.npz")


# ---------------------------------------------------------------- toys


@pytest.mark.parametrize("name", TOYS)
def test_toy_shapes_dtypes_metadata(name):
    ds = data.load(name, n_samples=101, seed=3)
    assert ds.name == name
    assert ds.feature_shape == (2,) and ds.image_shape is None
    for split in (ds.train, ds.val):
        assert split.input.shape == (101, 2) and split.input.dtype == np.float32
        assert split.target.shape == (101,) and split.target.dtype == np.int64
        assert split.input.flags.c_contiguous
        assert np.isfinite(split.input).all()
        assert 0 <= split.target.min() and split.target.max() < ds.num_classes
    assert len(ds.class_names) == ds.num_classes == data.DATASETS[name].num_classes


@pytest.mark.parametrize("name", TOYS)
def test_toy_defaults_are_used(name):
    ds = data.load(name)
    assert len(ds.train) == data.DATASETS[name].defaults["n_samples"]


@pytest.mark.parametrize("name", TOYS)
def test_toy_determinism_by_seed(name):
    a, b, c = data.load(name, seed=7), data.load(name, seed=7), data.load(name, seed=8)
    for s in ("train", "val"):
        np.testing.assert_array_equal(getattr(a, s).input, getattr(b, s).input)
        np.testing.assert_array_equal(getattr(a, s).target, getattr(b, s).target)
    assert not np.array_equal(a.train.input, c.train.input)
    # val is an independent draw, not a copy of train
    assert not np.array_equal(a.train.input, a.val.input)


@pytest.mark.parametrize("name", TOYS)
@pytest.mark.parametrize("n", [4, 7, 200, 333])
def test_toy_class_balance(name, n):
    ds = data.load(name, n_samples=n, seed=1)
    k = ds.num_classes
    counts = np.bincount(ds.train.target, minlength=k)
    assert counts.sum() == n
    expected = [n // k + (1 if i < n % k else 0) for i in range(k)]
    assert counts.tolist() == expected


@pytest.mark.parametrize("name", TOYS)
def test_toy_rows_are_shuffled(name):
    y = data.load(name, n_samples=200, seed=0).train.target
    # not sorted by class and not strictly alternating
    assert np.any(np.diff(y) < 0)
    assert not np.array_equal(y, np.arange(200) % data.DATASETS[name].num_classes)


def test_xor_geometry_noise_free():
    ds = data.load("xor", n_samples=1000, noise=0.0, seed=2)
    x, y = ds.train.input, ds.train.target
    assert np.abs(x).max() <= 1.0
    assert np.abs(x).min() >= toys.XOR_PADDING - 1e-7
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] > 0).astype(np.int64))
    # all four quadrants are populated
    quad = (x[:, 0] > 0).astype(int) * 2 + (x[:, 1] > 0)
    assert np.bincount(quad, minlength=4).min() > 150


def test_circles_geometry_noise_free():
    ds = data.load("circles", n_samples=500, noise=0.0, seed=2)
    r = np.linalg.norm(ds.train.input, axis=1)
    np.testing.assert_allclose(r[ds.train.target == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[ds.train.target == 1], 0.5, atol=1e-6)


def test_moons_geometry_noise_free():
    ds = data.load("moons", n_samples=500, noise=0.0, seed=2)
    x, y = ds.train.input.astype(np.float64), ds.train.target
    assert x[:, 0].min() >= -1 - 1e-6 and x[:, 0].max() <= 1 + 1e-6
    assert x[:, 1].min() >= -0.5 - 1e-6 and x[:, 1].max() <= 0.5 + 1e-6
    # undo the scaling: upper moon on the unit circle, lower on the circle about (1, 0.5)
    p = x * 1.5 + np.array([0.5, 0.25])
    np.testing.assert_allclose(np.linalg.norm(p[y == 0], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        np.linalg.norm(p[y == 1] - np.array([1.0, 0.5]), axis=1), 1.0, atol=1e-5
    )


def test_spirals_geometry_noise_free():
    ds = data.load("spirals", n_samples=600, noise=0.0, seed=2)
    x, y = ds.train.input.astype(np.float64), ds.train.target
    r = np.linalg.norm(x, axis=1)
    assert r.max() <= 1.0 + 1e-6
    # angle (measured as in the generator: atan2(x, y)) matches 2*pi*1.75*r + pi*class
    a = np.arctan2(x[:, 0], x[:, 1])
    expected = 2 * np.pi * toys.SPIRAL_TURNS * r + np.pi * y
    diff = np.angle(np.exp(1j * (a - expected)))
    assert np.abs(diff[r > 1e-3]).max() < 1e-3
    # the arms really are interleaved: both cover the full radius range
    for k in (0, 1):
        assert r[y == k].min() < 0.05 and r[y == k].max() > 0.95


def test_blobs_geometry():
    ds = data.load("blobs", n_samples=3000, noise=0.1, seed=4, centers=5)
    assert ds.num_classes == 5 and len(ds.class_names) == 5
    c = toys.blob_centers(5)
    for k in range(5):
        pts = ds.train.input[ds.train.target == k]
        np.testing.assert_allclose(pts.mean(0), c[k], atol=0.02)
        np.testing.assert_allclose(pts.std(0), 0.1, rtol=0.15)
    # centres are shared by train and val
    for k in range(5):
        np.testing.assert_allclose(ds.val.input[ds.val.target == k].mean(0), c[k], atol=0.02)


def test_noise_is_coordinate_std():
    clean = data.load("circles", n_samples=2000, noise=0.0, seed=5).train.input
    noisy = data.load("circles", n_samples=2000, noise=0.2, seed=5).train.input
    r_clean = np.linalg.norm(clean, axis=1)
    r_noisy = np.linalg.norm(noisy, axis=1)
    assert r_clean.std() < r_noisy.std()
    # radial spread of outer ring ~ noise (0.2)
    outer = data.load("circles", n_samples=4000, noise=0.2, seed=5).train
    r = np.linalg.norm(outer.input[outer.target == 0], axis=1)
    assert 0.17 < r.std() < 0.23


# ---------------------------------------------------------------- digits


def _digest(images, target, val_index):
    h = hashlib.sha256()
    for a in (images, target, val_index):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_digits_asset_contents():
    assert data.DIGITS_PATH.is_file(), data.DIGITS_PATH
    with np.load(data.DIGITS_PATH, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["images", "target", "val_index"]
        images, target, val_index = npz["images"], npz["target"], npz["val_index"]
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert target.shape == (1797,) and target.dtype == np.uint8
    assert images.min() == 0 and images.max() == 16
    assert np.bincount(target).tolist() == DIGIT_COUNTS
    assert val_index.dtype == np.int64 and val_index.shape == (359,)
    assert np.all(np.diff(val_index) > 0)
    per_class_val = np.bincount(target[val_index], minlength=10)
    assert per_class_val.tolist() == [round(0.2 * c) for c in DIGIT_COUNTS]
    assert _digest(images, target, val_index) == DIGITS_SHA256


def test_digits_asset_matches_sklearn_copy():
    sk = pytest.importorskip("sklearn.datasets")
    d = sk.load_digits()
    with np.load(data.DIGITS_PATH, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["images"], d.images)
        np.testing.assert_array_equal(npz["target"], d.target)


def test_load_digits():
    ds = data.load("digits")
    assert ds.name == "digits" and ds.num_classes == 10
    assert ds.feature_shape == (64,) and ds.image_shape == (1, 8, 8)
    assert ds.class_names == tuple("0123456789")
    assert ds.train.input.shape == (1438, 64) and ds.val.input.shape == (359, 64)
    for s in (ds.train, ds.val):
        assert s.input.dtype == np.float32 and s.target.dtype == np.int64
        assert s.input.min() == 0.0 and s.input.max() == 1.0
        # values are exactly k/16
        np.testing.assert_array_equal(s.input * 16, np.round(s.input * 16))
    counts = np.bincount(ds.train.target, minlength=10) + np.bincount(ds.val.target, minlength=10)
    assert counts.tolist() == DIGIT_COUNTS


def test_digits_split_disjoint_fixed_and_faithful():
    with np.load(data.DIGITS_PATH, allow_pickle=False) as npz:
        images, target, val_index = npz["images"], npz["target"], npz["val_index"]
    ds = data.load("digits", seed=123, n_samples=10, noise=0.5)  # all ignored
    flat = images.reshape(1797, 64).astype(np.float32) / 16
    np.testing.assert_array_equal(ds.val.input, flat[val_index])
    np.testing.assert_array_equal(ds.val.target, target[val_index])
    train_index = np.setdiff1d(np.arange(1797), val_index)
    np.testing.assert_array_equal(ds.train.input, flat[train_index])
    np.testing.assert_array_equal(ds.train.target, target[train_index])
    assert np.intersect1d(train_index, val_index).size == 0
    again = data.load("digits")
    np.testing.assert_array_equal(again.val.input, ds.val.input)
    # image reshape convention round-trips to the stored scans
    np.testing.assert_array_equal(
        ds.val.input.reshape(-1, *ds.image_shape)[:, 0] * 16, images[val_index]
    )


def test_digits_labels_are_learnable():
    # nearest class-mean on train -> val; real data with right labels scores ~0.9
    ds = data.load("digits")
    means = np.stack([ds.train.input[ds.train.target == k].mean(0) for k in range(10)])
    d2 = ((ds.val.input[:, None, :] - means[None]) ** 2).sum(-1)
    acc = (d2.argmin(1) == ds.val.target).mean()
    assert acc > 0.85


def test_digits_missing_file_names_path(tmp_path):
    p = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        data.load("digits", path=p)


def test_digits_corrupt_file_names_path(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"this is not a zip file")
    with pytest.raises(data.DatasetFileError, match="bad.npz"):
        data.load("digits", path=p)
    # truncated copy of the real file
    t = tmp_path / "trunc.npz"
    t.write_bytes(data.DIGITS_PATH.read_bytes()[:1000])
    with pytest.raises(ValueError, match="trunc.npz"):
        data.load("digits", path=t)


def test_digits_wrong_contents(tmp_path):
    good = dict(np.load(data.DIGITS_PATH, allow_pickle=False))
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "val_index"}, "val_index"),
        "dtype": ({**good, "images": good["images"].astype(np.float64)}, "'images'"),
        "range": ({**good, "images": good["images"] + 1}, "0..16"),
        "length": ({**good, "target": good["target"][:-1]}, "'target'"),
        "index": ({**good, "val_index": np.array([5, 1, 2000])}, "'val_index'"),
        "pickle": ({**good, "target": np.array([object()] * 1797, dtype=object)}, "pickle"),
    }
    for label, (arrays, needle) in cases.items():
        p = tmp_path / f"{label}.npz"
        np.savez(p, **arrays)
        with pytest.raises(data.DatasetFileError) as ei:
            data.load("digits", path=p)
        assert str(p) in str(ei.value), label
        assert needle in str(ei.value), (label, str(ei.value))


def test_digits_path_override(tmp_path):
    p = tmp_path / "copy.npz"
    shutil.copy(data.DIGITS_PATH, p)
    ds = data.load("digits", path=str(p))
    assert len(ds.train) == 1438


# ---------------------------------------------------------------- batching


def _split(n, f=3):
    x = np.arange(n * f, dtype=np.float32).reshape(n, f)
    return data.Split(input=x, target=np.arange(n, dtype=np.int64))


@pytest.mark.parametrize("n, b", [(100, 10), (103, 10), (64, 64), (5, 1)])
def test_batches_cover_each_example_once_per_epoch(n, b):
    s = _split(n)
    got = list(data.batches(s, b, np.random.default_rng(0), drop_last=False))
    ids = np.concatenate([y for _, y in got])
    assert sorted(ids.tolist()) == list(range(n))
    for x, y in got:
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x[:, 0], y * 3)  # rows stay paired with their targets
    assert [len(y) for _, y in got] == [b] * (n // b) + ([n % b] if n % b else [])
    assert not np.array_equal(ids, np.arange(n))  # shuffled


def test_batches_drop_last():
    s = _split(103)
    got = list(data.batches(s, 10, 0))
    assert len(got) == 10 and all(len(y) == 10 for _, y in got)
    ids = np.concatenate([y for _, y in got])
    assert len(np.unique(ids)) == 100  # no repeats, 3 skipped
    # batch larger than the split: one batch of everything
    got = list(data.batches(_split(7), 32, 0))
    assert len(got) == 1 and sorted(got[0][1].tolist()) == list(range(7))


def test_batches_shuffle_differs_by_epoch_and_is_seeded():
    s = _split(50)
    rng = np.random.default_rng(1)
    e1 = np.concatenate([y for _, y in data.batches(s, 10, rng)])
    e2 = np.concatenate([y for _, y in data.batches(s, 10, rng)])
    assert not np.array_equal(e1, e2)
    r1 = np.concatenate([y for _, y in data.batches(s, 10, np.random.default_rng(1))])
    np.testing.assert_array_equal(e1, r1)
    ordered = np.concatenate([y for _, y in data.batches(s, 10, shuffle=False)])
    np.testing.assert_array_equal(ordered, np.arange(50))


def test_batches_returns_copies():
    s = _split(20)
    x, _ = next(data.batches(s, 5, 0))
    x[:] = -1
    assert s.input.min() >= 0


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, None])
def test_batch_size_errors(bad):
    with pytest.raises(ValueError, match="batch_size"):
        list(data.batches(_split(10), bad, 0))
    with pytest.raises(ValueError, match="batch_size"):
        data.Loader(_split(10), bad, 0)


def test_loader_next_batch_epochs():
    s = _split(103)
    ld = data.Loader(s, 10, rng=3)
    assert len(ld) == 10
    orders = []
    for epoch in range(3):
        ids = np.concatenate([ld.next_batch()[1] for _ in range(len(ld))])
        assert len(np.unique(ids)) == 100  # each example at most once per epoch
        assert ld.epoch == epoch
        orders.append(ids)
    # reshuffled every epoch
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    ld.next_batch()
    assert ld.epoch == 3
    # same seed -> same stream
    a, b = data.Loader(s, 10, rng=9), data.Loader(s, 10, rng=9)
    for _ in range(25):
        np.testing.assert_array_equal(a.next_batch()[1], b.next_batch()[1])


def test_loader_exact_coverage_without_drop():
    s = _split(23)
    ld = data.Loader(s, 5, rng=0, drop_last=False)
    assert len(ld) == 5
    ids = np.concatenate([ld.next_batch()[1] for _ in range(5)])
    assert sorted(ids.tolist()) == list(range(23))
    ids = np.concatenate([y for _, y in ld])  # __iter__: one fresh epoch
    assert sorted(ids.tolist()) == list(range(23))


def test_loader_on_real_dataset():
    ds = data.load("digits")
    ld = data.Loader(ds.train, 64, rng=0)
    x, y = ld.next_batch()
    assert x.shape == (64, 64) and y.shape == (64,)
    assert x.dtype == np.float32 and y.dtype == np.int64
    # one epoch of 1438 examples in batches of 64 drops the last 1438 % 64 = 30
    assert len(ld) == 1438 // 64


def test_loader_empty_split():
    with pytest.raises(ValueError, match="N=0"):
        data.Loader(_split(0), 4, 0)


# ---------------------------------------------------------------- types


def test_split_validation():
    with pytest.raises(ValueError, match="float32"):
        data.Split(input=np.zeros((3, 2)), target=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="int64"):
        data.Split(input=np.zeros((3, 2), np.float32), target=np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="N=3"):
        data.Split(input=np.zeros((3, 2), np.float32), target=np.zeros(4, np.int64))


def test_dataset_validation():
    s = _split(4, f=2)
    with pytest.raises(ValueError, match="class_names"):
        data.Dataset("t", s, None, 2, (2,), None, ("a",))
    with pytest.raises(ValueError, match="targets"):
        data.Dataset("t", s, None, 2, (2,), None, ("a", "b"))  # targets go up to 3
    with pytest.raises(ValueError, match="feature_shape"):
        data.Dataset("t", s, None, 4, (3,), None, tuple("abcd"))


# ---------------------------------------------------------------- layering


def test_package_imports_numpy_only():
    allowed = {"numpy", "__future__"}
    stdlib_ok = {"dataclasses", "types", "typing", "pathlib", "os", "zipfile", "math",
                 "operator", "collections", "functools", "itertools", "abc", "datetime",
                 "re", "csv", "gzip", "struct", "zlib"}
    for f in PKG_DIR.rglob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import inside playground.data
                    continue
                mods = [node.module]
            else:
                continue
            for m in mods:
                if m == "playground._resources":  # where the shipped files are; stdlib only
                    continue
                top = m.split(".")[0]
                assert top in allowed | stdlib_ok, f"{f.name} imports {m}"

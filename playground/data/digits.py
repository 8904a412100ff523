"""The UCI handwritten digits (1,797 real 8x8 scans) from ``assets/digits/digits.npz``.

See ``assets/digits/README.md`` for provenance, licence (CC BY 4.0) and how the file and its
fixed held-out split were made.
"""

from __future__ import annotations

import zipfile
from os import PathLike
from pathlib import Path

import numpy as np

from playground._resources import resource_path

from .base import Dataset, DatasetFileError, Split

__all__ = ["DIGITS_PATH", "load_digits", "load_digits_subset", "read_digits_file",
           "SUBSET_RANGE"]

DIGITS_PATH = resource_path("assets", "digits", "digits.npz")
"""Default location of the asset: ``<repo>/assets/digits/digits.npz``, or inside the
installed package (see :func:`playground._resources.resource_path`)."""

NUM_SCANS = 1797
IMAGE_SHAPE = (1, 8, 8)
PIXEL_MAX = 16
SUBSET_RANGE = (10, 1438)
"""Allowed training-set sizes of :func:`load_digits_subset` (10 = one scan per class; 1,438 =
the whole training split)."""


def read_digits_file(path: str | PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read and check the raw arrays of a digits ``.npz`` (no pickle is ever loaded).

    Returns:
        images: uint8 (N, 8, 8), values 0..16; target: uint8 (N,), values 0..9;
        val_index: int64 (V,), sorted, unique, in 0..N-1.

    Raises:
        FileNotFoundError: the file does not exist (message names the path).
        DatasetFileError: (a ValueError) the file is not a readable ``.npz`` or an array is
            missing or has the wrong dtype, shape or values (message names the path and array).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"digits asset not found: {path} (regenerate it with assets/digits/make_digits.py)"
        )

    def bad(what: str) -> DatasetFileError:
        return DatasetFileError(f"digits asset {path} is invalid: {what}")

    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"images", "target", "val_index"} - set(npz.files)
            if missing:
                raise bad(f"missing array(s) {sorted(missing)}")
            images, target, val_index = npz["images"], npz["target"], npz["val_index"]
    except DatasetFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetFileError(f"cannot read digits asset {path}: {exc}") from exc

    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (8, 8):
        raise bad(f"'images' must be uint8 (N, 8, 8), got {images.dtype} {images.shape}")
    n = images.shape[0]
    if images.size and images.max() > PIXEL_MAX:
        raise bad(f"'images' values must be 0..{PIXEL_MAX}, max is {images.max()}")
    if target.dtype != np.uint8 or target.shape != (n,):
        raise bad(f"'target' must be uint8 ({n},), got {target.dtype} {target.shape}")
    if target.size and target.max() > 9:
        raise bad(f"'target' values must be 0..9, max is {target.max()}")
    if val_index.dtype.kind not in "iu" or val_index.ndim != 1:
        raise bad(
            f"'val_index' must be a 1-D integer array, got {val_index.dtype} {val_index.shape}"
        )
    val_index = val_index.astype(np.int64)
    if val_index.size and (
        val_index.min() < 0 or val_index.max() >= n or np.any(np.diff(val_index) <= 0)
    ):
        raise bad(f"'val_index' must be sorted, unique indices in 0..{n - 1}")
    return images, target, val_index


def _split(images: np.ndarray, target: np.ndarray, index: np.ndarray) -> Split:
    x = images[index].reshape(index.size, -1).astype(np.float32) / np.float32(PIXEL_MAX)
    return Split(input=x, target=target[index].astype(np.int64))


def load_digits(path: str | PathLike[str] | None = None) -> Dataset:
    """Load the digits as a :class:`Dataset`.

    Args:
        path: the ``.npz`` to read; default :data:`DIGITS_PATH`.

    Returns:
        Dataset ``"digits"``: inputs float32 (N, 64), pixel intensity scaled to [0, 1]
        (raw 0..16 divided by 16), row-major 8x8 (``input.reshape(-1, 1, 8, 8)`` gives images);
        targets int64 digit 0..9; ``image_shape=(1, 8, 8)``. val = the rows in the stored
        ``val_index`` (359 scans, stratified), train = the other 1,438, both in file order.

    Raises:
        FileNotFoundError, DatasetFileError: see :func:`read_digits_file`.
    """
    images, target, val_index = read_digits_file(DIGITS_PATH if path is None else path)
    is_val = np.zeros(images.shape[0], dtype=bool)
    is_val[val_index] = True
    return Dataset(
        name="digits",
        train=_split(images, target, np.flatnonzero(~is_val)),
        val=_split(images, target, val_index),
        num_classes=10,
        feature_shape=(64,),
        image_shape=IMAGE_SHAPE,
        class_names=tuple(str(d) for d in range(10)),
    )


def load_digits_subset(n_samples: int, seed: int = 0,
                       path: str | PathLike[str] | None = None) -> Dataset:
    """The digits with only ``n_samples`` training scans: a small training set to overfit.

    The scans are drawn from the 1,438 training scans, class-balanced: a seeded permutation
    (``numpy.random.default_rng(seed)``) orders each class's scans, and the subset takes
    the first ones of every class in turn, so each class has ``n_samples // 10`` or one
    more. The held-out split is the full fixed 359 scans, as in :func:`load_digits`, so
    held-out accuracies compare with every other digits preset.

    Args:
        n_samples: training scans, an integer in :data:`SUBSET_RANGE` = [10, 1438].
        seed: non-negative integer; picks which scans.
        path: the ``.npz`` to read; default :data:`DIGITS_PATH`.

    Returns:
        Dataset ``"digits_subset"``: as :func:`load_digits` (float32 (N, 64) in [0, 1],
        int64 targets, ``image_shape=(1, 8, 8)``), train N = ``n_samples`` in file order,
        val the 359 held-out scans.

    Raises:
        ValueError: ``n_samples`` outside :data:`SUBSET_RANGE` (names the range).
        FileNotFoundError, DatasetFileError: see :func:`read_digits_file`.
    """
    lo, hi = SUBSET_RANGE
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or not lo <= n_samples <= hi:
        raise ValueError(f"digits_subset: n_samples must be an integer in [{lo}, {hi}] "
                         f"(training scans to keep), got {n_samples!r}")
    full = load_digits(path)
    rng = np.random.default_rng(seed)
    order = rng.permutation(full.train.target.size)
    labels = full.train.target[order]
    rank = np.empty(order.size, dtype=np.int64)  # each scan's place within its class
    for c in range(10):
        rank[labels == c] = np.arange(np.count_nonzero(labels == c))
    keep = np.sort(order[np.lexsort((labels, rank))[:n_samples]])
    return Dataset(
        name="digits_subset",
        train=Split(input=full.train.input[keep], target=full.train.target[keep]),
        val=full.val,
        num_classes=full.num_classes,
        feature_shape=full.feature_shape,
        image_shape=full.image_shape,
        class_names=full.class_names,
    )

"""The user's own data: CSV tables, NPY/NPZ arrays, MNIST-style IDX files and folders of
images by class, read into the same :class:`~playground.data.Dataset` the shipped datasets
are (regression CSVs into a :class:`~playground.data.regression.RegressionDataset`).

Families (the Dataset node's ``dataset`` param, :data:`FAMILIES`):

* ``csv``: a table of numbers, one example per row. ``input_columns`` and
  ``target_column`` pick the columns by header name or 0-based number (``"0-3, 5"``,
  ``"sepal_length, petal_width"``); empty means every column but the target, and the last
  column. The first row is a header when some column is numeric below it but not in it
  (:func:`read_table`). Delimiter: comma, semicolon, tab or spaces (sniffed).
* ``npz``: an ``.npz`` with the inputs and targets under two keys (``input_columns`` and
  ``target_column`` name them; empty: the first of ``x``/``X``/``x_train``/``images``/
  ``data`` and of ``y``/``Y``/``y_train``/``labels``/``target``), or an ``.npy`` 2-D table
  whose columns are picked as a CSV's, or an ``.npy`` of inputs with its targets in a second
  ``.npy`` (``target_path``). A Keras-style ``x_test``/``y_test`` pair beside
  ``x_train``/``y_train`` is the held-out split.
* ``idx``: MNIST's IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): big-endian,
  magic ``0x0000`` + a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D
  float32, 0x0E float64) + the number of dimensions, then each dimension as a uint32. The
  images file (N, H, W) or (N, F) and the labels file (N,) (``target_path``; empty: found
  beside the images by MNIST's names, ``...-images-idx3-ubyte`` -> ``...-labels-idx1-ubyte``),
  optionally gzipped (``.gz``).
* ``image_folder``: one subfolder per class (its name is the class's), images in it
  resized to ``image_size`` x ``image_size``, grayscale or RGB. Decoding images needs an
  image library; the data layer imports numpy only, so the app installs one with
  :func:`set_image_reader` (``playground.ui.image_files`` uses Qt's QImage).

Inputs are float32; one-byte integers (uint8 pixels) are divided by their type's maximum
(255; int8: 127), so pixels lie in [0, 1]; wider integers and floats keep their values. Images come flat, (N, C*H*W) row-major with
``image_shape=(C, H, W)``, as the digits do. Classification targets are mapped to class
indices 0..C-1 in sorted order (numerically when every label is a number), and the class
names are the labels as written.

Held-out split: a file without its own test split holds out ``val_fraction`` of the
examples, stratified by class (a seeded shuffle within each class).

Reading never executes code (``np.load(allow_pickle=False)``), and every size a file claims
(an array header's shape, an IDX file's dimensions) is checked against the bytes it holds
and :data:`MAX_BYTES` before anything is allocated. A bad file raises
:class:`~playground.data.DatasetFileError` (or FileNotFoundError) whose message names the
file and what is wrong in it (for a CSV, the row and column).
"""

from __future__ import annotations

import os

from ..base import Dataset
from ..regression import RegressionDataset
from ._common import (COLORS, IMAGE_SIZE_RANGE, MAX_BYTES, TASKS, VAL_FRACTION_RANGE,
                      stamp)
from .arrays import X_KEYS, Y_KEYS, ArrayInfo, array_infos, load_arrays
from .idx import idx_info, labels_path_for, load_idx
from .images import (IMAGE_SUFFIXES, ImageReader, image_folder_classes, image_reader,  # noqa: F401
                     load_image_folder, set_image_reader)
from .tables import MAX_CSV_BYTES, Table, choose_columns, load_csv, read_table  # noqa: F401

__all__ = ["FAMILIES", "TASKS", "COLORS", "MAX_BYTES", "VAL_FRACTION_RANGE",
           "IMAGE_SIZE_RANGE", "IMAGE_SUFFIXES", "Table", "ArrayInfo", "load_file",
           "load_csv", "load_arrays", "load_idx", "load_image_folder", "read_table",
           "array_infos", "idx_info", "choose_columns", "X_KEYS", "Y_KEYS",
           "labels_path_for", "image_folder_classes", "set_image_reader", "image_reader",
           "stamp"]

#: Dataset-node ``dataset`` values read from the user's files, with a one-line doc each.
FAMILIES = {
    "csv": "a CSV table: one example per row, input columns and a target column",
    "npz": "NPY/NPZ arrays: inputs and targets by key, or an .npy table",
    "idx": "MNIST-style IDX files: images and labels",
    "image_folder": "a folder of images, one subfolder per class",
}


def load_file(family: str, path: str | os.PathLike, *, target_path: str = "",
              input_columns: str = "", target_column: str = "",
              task: str = "classification", image_size: int = 28, color: str = "grayscale",
              val_fraction: float = 0.2, seed: int = 0) -> Dataset | RegressionDataset:
    """Read the user's file of ``family`` (a key of :data:`FAMILIES`); the options a family
    does not read are ignored. See :func:`load_csv`, :func:`load_arrays`, :func:`load_idx`
    and :func:`load_image_folder` for shapes and errors.

    Raises:
        ValueError: an unknown family.
    """
    if family == "csv":
        return load_csv(path, input_columns=input_columns, target_column=target_column,
                        task=task, val_fraction=val_fraction, seed=seed)
    if family == "npz":
        return load_arrays(path, target_path=target_path, input_columns=input_columns,
                           target_column=target_column, task=task,
                           val_fraction=val_fraction, seed=seed)
    if family == "idx":
        return load_idx(path, target_path=target_path, val_fraction=val_fraction, seed=seed)
    if family == "image_folder":
        return load_image_folder(path, image_size=image_size, color=color,
                                 val_fraction=val_fraction, seed=seed)
    raise ValueError(f"unknown file family {family!r}; valid: {', '.join(FAMILIES)}")

"""Datasets: 2-D toys, the UCI handwritten digits, token sequences (``reverse``, ``dates``)
and a text corpus (``text``), plus mini-batching.

numpy only (no torch, scikit-learn, Qt or other playground packages).

    >>> from playground import data
    >>> ds = data.load("moons", n_samples=200, noise=0.1, seed=0)
    >>> ds.train.input.shape, ds.train.target.dtype
    ((200, 2), dtype('int64'))
    >>> loader = data.Loader(ds.train, batch_size=32, rng=0)
    >>> x, y = loader.next_batch()        # x float32 (32, 2), y int64 (32,)

See :func:`load` for parameters, :data:`DATASETS` for what each dataset accepts.
"""

from .base import Dataset, DatasetFileError, DatasetInfo, Split, UnknownDatasetError
from .digits import DIGITS_PATH, load_digits
from .loader import Loader, batches
from . import dates, text
from .registry import (CENTERS_RANGE, DATASETS, MIN_COUNT_RANGE, N_SAMPLES_RANGE, NOISE_RANGE,
                       SEQ_LEN_RANGE, load, names)

__all__ = [
    "Split",
    "Dataset",
    "DatasetInfo",
    "DATASETS",
    "load",
    "names",
    "batches",
    "Loader",
    "load_digits",
    "DIGITS_PATH",
    "N_SAMPLES_RANGE",
    "NOISE_RANGE",
    "CENTERS_RANGE",
    "SEQ_LEN_RANGE",
    "MIN_COUNT_RANGE",
    "text",
    "dates",
    "UnknownDatasetError",
    "DatasetFileError",
]

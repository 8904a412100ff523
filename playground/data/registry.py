"""The dataset registry: :data:`DATASETS`, :func:`names`, :func:`load`."""

from __future__ import annotations

import math
import operator
from os import PathLike
from typing import Any

import numpy as np

from . import dates, sequences, skipgram, text, toys
from .base import Dataset, DatasetInfo, Split, UnknownDatasetError
from .digits import SUBSET_RANGE, load_digits, load_digits_subset

__all__ = ["DATASETS", "names", "load", "N_SAMPLES_RANGE", "NOISE_RANGE", "CENTERS_RANGE",
           "SEQ_LEN_RANGE", "MIN_COUNT_RANGE"]

N_SAMPLES_RANGE = (4, 100_000)
NOISE_RANGE = (0.0, 1.0)
CENTERS_RANGE = (2, 10)
SEQ_LEN_RANGE = (2, 512)
MIN_COUNT_RANGE = (1, 1000)

_TOY_RANGES = {"n_samples": N_SAMPLES_RANGE, "noise": NOISE_RANGE}


def _toy(name, title, description, n_samples, noise, num_classes=2, **extra):
    defaults = {"n_samples": n_samples, "noise": noise}
    ranges = dict(_TOY_RANGES)
    if "centers" in extra:
        defaults["centers"] = extra["centers"]
        ranges["centers"] = CENTERS_RANGE
    return DatasetInfo(
        name=name,
        title=title,
        description=description,
        defaults=defaults,
        ranges=ranges,
        is_2d=True,
        num_classes=extra.get("centers", num_classes),
    )


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _toy("xor", "XOR", "Points in the four quadrants; class = sign of x*y. "
             "Not linearly separable: needs a hidden layer.", 200, 0.05),
        _toy("circles", "Circles", "Two concentric rings (radius 1 and 0.5). "
             "Separable by distance from the origin.", 200, 0.1),
        _toy("moons", "Moons", "Two interleaving half circles.", 200, 0.1),
        _toy("spirals", "Spirals", "Two interleaved spirals of 1.75 turns. "
             "The hardest toy: needs depth or good features.", 300, 0.05),
        _toy("blobs", "Blobs", "Gaussian blobs around fixed centres on a circle; "
             "'noise' is each blob's standard deviation.", 200, 0.2, centers=3),
        _toy("linear", "Linearly separable", "Two classes either side of a straight line, "
             "with a margin of 0.1 before the jitter: a single linear unit separates them.",
             200, 0.05),
        _toy("ring", "Ring of 8 Gaussians", "Eight Gaussian modes on a circle of radius 0.8, "
             "the GAN mode-collapse benchmark; the class is the mode, 'noise' its standard "
             "deviation.", 512, 0.05, num_classes=toys.RING_MODES),
        DatasetInfo(
            name="digits",
            title="Handwritten digits (8x8)",
            description="1,797 real 8x8 scans of handwritten digits 0-9 (UCI optdigits), "
            "pixels scaled to [0, 1]; fixed 359-scan held-out split.",
            defaults={},
            ranges={},
            is_2d=False,
            num_classes=10,
        ),
        DatasetInfo(
            name="digits_subset",
            title="Handwritten digits, a small training set",
            description="The 8x8 digits with only n_samples training scans (class-balanced, "
            "picked by seed) and the full 359-scan held-out split: a training set small "
            "enough to overfit. 'noise' is ignored.",
            defaults={"n_samples": 200},
            ranges={"n_samples": SUBSET_RANGE},
            is_2d=False,
            num_classes=10,
        ),
        DatasetInfo(
            name="reverse",
            title="Reverse digit sequences",
            description=f"Sequences of {sequences.REVERSE_LENGTH} random digits (tokens 0-9) "
            "and their reversals: a sequence-to-sequence task for attention. 'noise' is "
            "ignored.",
            defaults={"n_samples": 2000},
            ranges={"n_samples": N_SAMPLES_RANGE},
            is_2d=False,
            num_classes=sequences.REVERSE_VOCAB,
            is_sequence=True,
        ),
        DatasetInfo(
            name="dates",
            title="Human dates to ISO",
            description=f"Dates between {dates.FIRST_DAY.year} and {dates.LAST_DAY.year} "
            f"written by people in {len(dates.FORMATS)} formats ('3 March 1998', '03/03/98', "
            "'March 3rd, 1998', 'Tue 3 Mar 1998', ...) paired with the ISO date "
            "'1998-03-03' and an end token: sequence-to-sequence with attention. Held-out "
            "days are never trained on. 'noise' is ignored.",
            defaults={"n_samples": 4000},
            ranges={"n_samples": N_SAMPLES_RANGE},
            is_2d=False,
            num_classes=len(dates.TARGET_VOCAB),
            is_sequence=True,
        ),
        DatasetInfo(
            name="text",
            title="Shakespeare text (language model)",
            description="Next-character (level=char) or next-word (level=word) prediction "
            "on Shakespeare's Coriolanus, Acts I-III (95 KB, public domain): windows of "
            "seq_len tokens, the target shifted by one; the last 10% of the text is held "
            "out. 'noise' is ignored.",
            defaults={"n_samples": 2000, "seq_len": 64, "level": "char", "min_count": 2},
            ranges={"n_samples": N_SAMPLES_RANGE, "seq_len": SEQ_LEN_RANGE,
                    "min_count": MIN_COUNT_RANGE},
            is_2d=False,
            num_classes=text.CHAR_VOCAB_SIZE,
            is_sequence=True,
        ),
        skipgram.INFO,  # (center, context) word pairs for word2vec: playground.data.skipgram
    )
}
"""Registry key -> :class:`DatasetInfo`, in palette order."""

_TOY_MAKERS = {
    "xor": toys.make_xor,
    "circles": toys.make_circles,
    "moons": toys.make_moons,
    "spirals": toys.make_spirals,
    "blobs": toys.make_blobs,
    "ring": toys.make_ring,
    "linear": toys.make_linear,
}
_CLASS_NAMES = {
    "xor": ("x*y < 0", "x*y > 0"),
    "circles": ("outer", "inner"),
    "moons": ("upper", "lower"),
    "spirals": ("spiral 0", "spiral 1"),
    "ring": tuple(f"mode {i}" for i in range(toys.RING_MODES)),
    "linear": ("below the line", "above the line"),
}
_TRAIN, _VAL = 0, 1


def names() -> list[str]:
    """Registry keys, in palette order."""
    return list(DATASETS)


def _info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}"
        ) from None


def _int_param(param: str, value: Any, lo: int, hi: int) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        v = operator.index(value)
    except TypeError:
        raise ValueError(f"{param} must be an integer in [{lo}, {hi}], got {value!r}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{param} must be in [{lo}, {hi}], got {v}")
    return v


def _float_param(param: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{param} must be a number in [{lo}, {hi}], got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{param} must be in [{lo}, {hi}], got {v}")
    return v


def _check_seed(seed: Any) -> int:
    try:
        if isinstance(seed, bool):
            raise TypeError
        s = operator.index(seed)
    except TypeError:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}") from None
    if s < 0:
        raise ValueError(f"seed must be a non-negative integer, got {s}")
    return s


def load(
    name: str,
    *,
    n_samples: int | None = None,
    noise: float | None = None,
    seed: int = 0,
    centers: int | None = None,
    path: str | PathLike[str] | None = None,
    seq_len: int | None = None,
    level: str | None = None,
    min_count: int | None = None,
) -> Dataset:
    """Build or read dataset ``name``.

    2-D toys (``xor``, ``circles``, ``moons``, ``spirals``, ``blobs``, ``ring``, ``linear``): train and val
    both hold
    ``n_samples`` points, drawn independently from the same distribution with generators seeded
    by ``(seed, 0)`` and ``(seed, 1)``; inputs float32 (n_samples, 2) roughly in [-1, 1]^2,
    classes balanced to within one point. Same arguments give identical arrays. ``ring``'s
    8 classes are its modes.

    ``reverse``: train and val each hold ``n_samples`` digit sequences, int64 (n_samples, L)
    with L = 8, drawn like the toys' splits; the target (n_samples, L) is each sequence
    reversed (``target_shape=(L,)``, ``num_classes=10`` tokens). ``noise`` is ignored.

    ``dates``: train and val each hold ``n_samples`` human-written dates, int64 (n_samples,
    S) source characters with S = 32, and their ISO form, target int64 (n_samples, T) with
    T = 11 (ten characters and an end token; ``num_classes=12``); train and held-out days
    are disjoint. Token layout: :mod:`playground.data.dates`. ``noise`` is ignored.

    ``text``: next-token windows of the shipped corpus (:mod:`playground.data.text`):
    x int64 (N, L) with L = ``seq_len`` and target int64 (N, L) the same tokens shifted by
    one; ``n_samples`` training windows at seeded random offsets in the first 90% of the
    text, and the non-overlapping windows of the last 10% (at most ``n_samples``) held out.
    ``num_classes`` = the vocabulary size (``class_names`` its tokens); ``extras`` holds the
    ``vocabulary`` and the train ``unigram`` frequencies. ``noise`` is ignored.

    ``digits``: read from the asset file (``path``, default
    ``<repo>/assets/digits/digits.npz``); fixed train (1,438) / val (359) split; ``n_samples``,
    ``noise``, ``seed`` and ``centers`` are ignored. ``digits_subset``: the same with only
    ``n_samples`` (10..1,438, default 200) class-balanced training scans picked by ``seed``
    and the full held-out split (:func:`~playground.data.digits.load_digits_subset`).

    Args:
        name: a key of :data:`DATASETS` (see :func:`names`).
        n_samples: points per split, integer in ``N_SAMPLES_RANGE`` = [4, 100000];
            None = the dataset's default (``DATASETS[name].defaults``).
        noise: standard deviation of the Gaussian jitter added to each coordinate, in input
            units, in ``NOISE_RANGE`` = [0, 1]; for ``blobs`` the blob standard deviation.
            None = the dataset's default.
        seed: non-negative integer.
        centers: ``blobs`` only: number of blobs = classes, in [2, 10]; None = 3.
        path: ``digits``: the ``.npz`` to read; ``text``: a UTF-8 text file to model instead
            of the shipped corpus (:func:`playground.data.text.load_text`).
        seq_len: ``text`` only: L, tokens per window, in ``SEQ_LEN_RANGE`` = [2, 512];
            None = 64.
        level: ``text`` only: ``"char"`` (default) or ``"word"``.
        min_count: ``text`` with ``level="word"`` only matters: words rarer than this in
            the training text become ``<unk>``, in ``MIN_COUNT_RANGE``; None = 2.

    Raises:
        UnknownDatasetError: (a KeyError and a ValueError) unknown ``name``; lists valid names.
        ValueError: a parameter out of range or of the wrong type (message names it and the
            allowed range), or ``centers``/``path`` given to a dataset that does not take it.
        FileNotFoundError, DatasetFileError: ``digits`` asset missing or invalid (names the path).
    """
    info = _info(name)
    if centers is not None and "centers" not in info.defaults:
        raise ValueError(f"dataset {name!r} has no parameter 'centers' (only 'blobs' does)")
    given = {"seq_len": seq_len, "level": level, "min_count": min_count}
    extra = [k for k, v in given.items() if v is not None and k not in info.defaults]
    if extra:
        raise ValueError(f"dataset {name!r} has no parameter {extra[0]!r} (only 'text' does)")
    if name == "digits":
        return load_digits(path)
    if name == "digits_subset":  # a class-balanced subset of the train split: data.digits
        d = info.defaults["n_samples"] if n_samples is None else n_samples
        return load_digits_subset(d, _check_seed(seed), path)
    if path is not None and name != "text":
        raise ValueError(f"dataset {name!r} has no parameter 'path' (only 'digits' and "
                         "'text' do)")

    d = info.defaults
    n = _int_param("n_samples", d["n_samples"] if n_samples is None else n_samples,
                   *N_SAMPLES_RANGE)
    if name == "reverse":
        return _load_reverse(info, n, _check_seed(seed))
    if name == "dates":
        return _load_dates(info, n, _check_seed(seed))
    if name == "skipgram":  # x (N, 1) center ids, target (N, 1+k): see data.skipgram
        return skipgram.load(n, _check_seed(seed))
    if name == "text":
        d = info.defaults
        lvl = d["level"] if level is None else level
        if lvl not in text.LEVELS:
            raise ValueError(f"level must be one of {', '.join(text.LEVELS)}, got {lvl!r}")
        return text.load_text(n, _check_seed(seed),
                              _int_param("seq_len", d["seq_len"] if seq_len is None
                                         else seq_len, *SEQ_LEN_RANGE), lvl,
                              _int_param("min_count", d["min_count"] if min_count is None
                                         else min_count, *MIN_COUNT_RANGE), path)
    sigma = _float_param("noise", d["noise"] if noise is None else noise, *NOISE_RANGE)
    s = _check_seed(seed)
    make = _TOY_MAKERS[name]
    kwargs: dict[str, int] = {}
    if name == "blobs":
        kwargs["centers"] = _int_param(
            "centers", d["centers"] if centers is None else centers, *CENTERS_RANGE
        )
    num_classes = kwargs.get("centers", info.num_classes)

    def split(which: int) -> Split:
        x, y = make(n, sigma, np.random.default_rng([s, which]), **kwargs)
        return Split(input=x, target=y)

    return Dataset(
        name=name,
        train=split(_TRAIN),
        val=split(_VAL),
        num_classes=num_classes,
        feature_shape=(2,),
        image_shape=None,
        class_names=_CLASS_NAMES.get(name, tuple(f"blob {i}" for i in range(num_classes))),
    )


def _load_reverse(info: DatasetInfo, n: int, seed: int) -> Dataset:
    def split(which: int) -> Split:
        x, y = sequences.make_reverse(n, np.random.default_rng([seed, which]))
        return Split(input=x, target=y)

    return Dataset(
        name=info.name,
        train=split(_TRAIN),
        val=split(_VAL),
        num_classes=sequences.REVERSE_VOCAB,
        feature_shape=(sequences.REVERSE_LENGTH,),
        image_shape=None,
        class_names=tuple(str(d) for d in range(sequences.REVERSE_VOCAB)),
        target_shape=(sequences.REVERSE_LENGTH,),
    )


def _load_dates(info: DatasetInfo, n: int, seed: int) -> Dataset:
    def split(which: int) -> Split:
        x, y, _ = dates.make_dates(n, np.random.default_rng([seed, which]),
                                   held_out=which == _VAL)
        return Split(input=x, target=y)

    return Dataset(
        name=info.name,
        train=split(_TRAIN),
        val=split(_VAL),
        num_classes=len(dates.TARGET_VOCAB),
        feature_shape=(dates.SOURCE_LENGTH,),
        image_shape=None,
        class_names=dates.TARGET_VOCAB,
        target_shape=(dates.TARGET_LENGTH,),
        input_vocab=dates.SOURCE_VOCAB,
    )


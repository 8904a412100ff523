"""Folders of images by class. Decoding needs an image library and the data layer imports
numpy only, so the app installs a decoder with :func:`set_image_reader`
(``playground.ui.image_files`` uses Qt's QImage)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..base import Dataset, DatasetFileError
from ._common import COLORS, IMAGE_SIZE_RANGE, MAX_BYTES, _check_fraction, _classification, \
    _existing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".webp")

ImageReader = Callable[[str, int, int], np.ndarray]
_reader: ImageReader | None = None


def set_image_reader(reader: ImageReader | None) -> None:
    """Install the function that decodes images: ``reader(path, size, channels)`` returns
    uint8 (size, size, channels), the image resized to size x size (channels 1: grayscale,
    3: RGB), and raises ValueError for a file it cannot decode."""
    global _reader
    _reader = reader


def image_reader() -> ImageReader | None:
    """The installed image decoder, or None."""
    return _reader


def image_folder_classes(path: str | os.PathLike) -> dict[str, list[Path]]:
    """Class name -> its image files (sorted), for the subfolders of ``path`` that hold
    images (sorted by name). Hidden files and folders are skipped.

    Raises:
        FileNotFoundError, DatasetFileError: not a folder, or no subfolder with images.
    """
    p = _existing(path, "image folder", folder=True)
    out = {}
    for sub in sorted(q for q in p.iterdir() if q.is_dir() and not q.name.startswith(".")):
        files = sorted(f for f in sub.iterdir() if f.is_file() and not f.name.startswith(".")
                       and f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            out[sub.name] = files
    if not out:
        raise DatasetFileError(f"{p}: no subfolder holds images ({', '.join(IMAGE_SUFFIXES)}); "
                               "put each class's images in a subfolder named after it")
    return out


def load_image_folder(path: str | os.PathLike, *, image_size: int = 28,
                      color: str = "grayscale", val_fraction: float = 0.2,
                      seed: int = 0) -> Dataset:
    """A folder of images by class (see the module docstring) as a dataset.

    Shapes: inputs float32 (N, C*S*S) in [0, 1], S = ``image_size``, C = 1 (grayscale) or
    3 (rgb), row-major (C, S, S); ``image_shape=(C, S, S)``.

    Raises:
        FileNotFoundError, DatasetFileError: see :func:`image_folder_classes`; an image
        that cannot be decoded (names it); no image reader installed. ValueError: bad
        ``image_size``, ``color`` or ``val_fraction``.
    """
    lo, hi = IMAGE_SIZE_RANGE
    if isinstance(image_size, bool) or not isinstance(image_size, int) or \
            not lo <= image_size <= hi:
        raise ValueError(f"image_size must be a whole number in [{lo}, {hi}], got "
                         f"{image_size!r}")
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    val_fraction = _check_fraction(val_fraction)
    classes = image_folder_classes(path)
    if _reader is None:
        raise DatasetFileError(f"{path}: no image decoder is installed (the app installs "
                               "Qt's: playground.ui.image_files.install())")
    channels = 1 if color == "grayscale" else 3
    n = sum(len(v) for v in classes.values())
    if n * channels * image_size * image_size * 4 > MAX_BYTES:
        raise DatasetFileError(f"{path}: {n} images of {image_size}x{image_size} take over "
                               f"{MAX_BYTES / 1e9:.1f} GB; choose a smaller image_size")
    x = np.empty((n, channels, image_size, image_size), np.uint8)
    labels = []
    i = 0
    for name, files in classes.items():
        for f in files:
            try:
                img = _reader(str(f), image_size, channels)
            except ValueError as exc:
                raise DatasetFileError(f"{f}: cannot read the image ({exc})") from None
            x[i] = np.asarray(img, np.uint8).reshape(image_size, image_size,
                                                     channels).transpose(2, 0, 1)
            labels.append(name)
            i += 1
    ds = _classification("image_folder", x, labels, (channels, image_size, image_size),
                         val_fraction, seed, extras={"path": str(path)})
    return ds


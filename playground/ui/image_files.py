"""Decoding image files with Qt's QImage, for ``playground.data.files``' image folders.

The data layer imports numpy only (no Qt below ui/), so it decodes images through a
function the app installs (:func:`playground.data.files.set_image_reader`); this module is
that function. QImage reads PNG, JPEG, BMP, GIF, PGM/PPM and WebP (with its plugin) without
a QGuiApplication, so ``playground train`` installs it too. QImage is reentrant, so the
training worker thread may call it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from playground.data import files

__all__ = ["read_image", "install"]


def read_image(path: str, size: int, channels: int) -> np.ndarray:
    """The image at ``path`` resized to ``size`` x ``size`` (smooth, aspect ratio not
    kept), as uint8 (size, size, channels): 1 = grayscale (Qt's luminance), 3 = RGB.

    Raises:
        ValueError: Qt cannot decode the file.
    """
    image = QImage(path)
    if image.isNull():
        raise ValueError("not an image Qt can decode (PNG, JPEG, BMP, GIF, PGM/PPM)")
    image = image.scaled(size, size, Qt.AspectRatioMode.IgnoreAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
    fmt = QImage.Format.Format_Grayscale8 if channels == 1 else QImage.Format.Format_RGB888
    image = image.convertToFormat(fmt)
    row = image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), np.uint8, count=row * size).reshape(size, row)
    return buf[:, :size * channels].reshape(size, size, channels).copy()


def install() -> None:
    """Make :func:`read_image` the data layer's image decoder."""
    files.set_image_reader(read_image)

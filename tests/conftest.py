"""Test setup: Qt renders offscreen, and BLAS uses one thread (small arrays)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

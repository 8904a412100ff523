"""Waiting on a TrainingWorker's thread in session tests (test_diagnose.py, test_nan_guard.py)."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(pred: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``pred()`` every 10 ms: True as soon as it holds, False after ``timeout`` seconds
    (tests ``assert`` it, so a hang fails instead of blocking the suite)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False

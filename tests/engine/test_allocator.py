"""The engine's glibc malloc tuning (playground/engine/_allocator.py)."""

import ctypes
import sys

import numpy as np
import pytest

from playground.engine import _allocator


def _is_glibc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL(None).gnu_get_libc_version
    except (OSError, AttributeError):
        return False
    return True


@pytest.fixture
def fresh(monkeypatch):
    """Let tune_malloc run again in this process (it runs once per process)."""
    monkeypatch.setattr(_allocator, "_done", None)
    yield
    _allocator._done = None
    _allocator.tune_malloc()  # leave the process as the engine import left it


def test_applied_on_import_exactly_when_glibc(monkeypatch):
    import os
    want = _is_glibc() and os.environ.get("PLAYGROUND_MALLOPT") != "0"
    assert _allocator.tune_malloc() is want


def test_env_opt_out_is_respected(fresh, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MALLOPT", "0")
    assert _allocator.tune_malloc() is False
    assert _allocator.tune_malloc() is False  # remembered, no second attempt


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page faults: Linux only")
@pytest.mark.skipif(not _is_glibc(), reason="glibc only")
@pytest.mark.skipif(not _allocator.tune_malloc(), reason="tuning switched off")
def test_big_temporaries_do_not_page_fault_again():
    import resource

    def churn():
        for _ in range(10):  # like a training step: several big temporaries alive at once
            arrays = [np.empty(4 << 20, np.uint8) for _ in range(6)]
            for a in arrays:
                a.fill(1)
            del arrays, a

    churn()  # the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    churn()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # untuned, the freed 24 MiB goes back to the kernel each round: ~6000 faults each
    assert faults < 1000, faults

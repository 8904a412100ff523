"""Keep glibc's malloc from handing big training temporaries back to the kernel.

Why: a training step allocates and frees the same large temporaries (im2col cols,
activations, gradients: a few MB each) every step. glibc's malloc serves a request
above ``M_MMAP_THRESHOLD`` (128 KiB at start, raised dynamically up to 32 MiB) with a
fresh ``mmap`` and returns it with ``munmap`` on free, and it trims the top of the heap
back to the kernel once more than ``M_TRIM_THRESHOLD`` is free there. Either way the
next step's array lands on fresh pages, and the first touch of each 4 KiB page is a
page fault that costs more than the arithmetic on it. Measured on the CNN workload of
``benchmarks/bench_engine.py`` (2-core AMD EPYC, glibc): 12.4 -> 6.6 ms per step.

What: on import of the engine, when the C library is glibc, :func:`tune_malloc` calls
``mallopt`` so that blocks up to 32 MiB come from the heap (``M_MMAP_THRESHOLD``) and
up to 128 MiB of free heap top is kept rather than trimmed (``M_TRIM_THRESHOLD``), with
16 MiB of slack per heap extension (``M_TOP_PAD``). The cost is that a process keeps up
to ~128 MiB of freed memory mapped for reuse; nothing else changes (values are
untouched). Other platforms (macOS, Windows, musl) and non-glibc Linux are left alone.
Set the environment variable ``PLAYGROUND_MALLOPT=0`` to skip it.

Source: glibc manual, "Malloc Tunable Parameters"; mallopt(3).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["tune_malloc"]

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's own maximum for the dynamic threshold (64-bit)
TRIM_THRESHOLD = 128 << 20
TOP_PAD = 16 << 20

_done: bool | None = None


def tune_malloc() -> bool:
    """Apply the settings above once per process; True when they were applied (glibc),
    False when skipped (another C library or platform, or ``PLAYGROUND_MALLOPT=0``).
    Never raises."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux") or os.environ.get("PLAYGROUND_MALLOPT") == "0":
        return False
    try:
        libc = ctypes.CDLL(None)
        version = libc.gnu_get_libc_version  # glibc only: musl has no such symbol
        version.restype = ctypes.c_char_p
        version()
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
          and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
          and mallopt(_M_TOP_PAD, TOP_PAD) == 1)
    _done = ok
    return ok

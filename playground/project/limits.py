"""How much a file may claim: sizes, depths and memory budgets, and opening only regular
files.

A hostile or broken file must be refused before it costs memory or time, so every limit is
checked on what the file *says* (a JSON's bytes and nesting, an array header's shape, a zip
member's size) before anything is allocated. Special files (a FIFO, a device, a folder) are
refused without reading: opening a FIFO for reading would block until a writer comes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ProjectError

#: Largest project JSON read (bytes). Presets are about 10 kB.
MAX_PROJECT_BYTES = 32 * 2**20
#: Deepest nesting of JSON arrays and objects. A block inside a block adds 4 levels.
MAX_JSON_DEPTH = 200
#: Longest number literal in a project JSON (characters); longer ones are refused before
#: Python converts them (a 5,000-digit integer costs time and Python refuses > 4,300).
MAX_NUMBER_CHARS = 100
#: Most arrays in one weights file.
MAX_WEIGHT_ARRAYS = 100_000
#: Fraction of the machine's memory that a weights file or a graph's parameters may take.
MEMORY_FRACTION = 0.25
#: Assumed machine memory when the OS does not say (bytes).
_FALLBACK_MEMORY = 8 * 2**30


def machine_memory() -> int:
    """Physical memory in bytes (``sysconf`` on Linux and macOS; 8 GiB where unknown)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages) * int(size)
    except (AttributeError, ValueError, OSError):
        pass
    return _FALLBACK_MEMORY


#: Environment variable that sets the memory budget in bytes instead (tests, small machines).
BUDGET_ENV = "PLAYGROUND_MEMORY_BUDGET"


def memory_budget() -> int:
    """Bytes a weights file may hold, or a graph take to train (its parameters as float32
    with their gradients and optimizer state, and its activations at the batch size):
    :data:`MEMORY_FRACTION` of the machine's memory, or the whole number of bytes in the
    environment variable ``PLAYGROUND_MEMORY_BUDGET`` when it is set (an unreadable or
    non-positive value is ignored)."""
    override = os.environ.get(BUDGET_ENV, "").strip()
    if override:
        try:
            value = int(float(override)) if len(override) <= 30 else 0
        except (ValueError, OverflowError):
            value = 0
        if value > 0:
            return value
    return int(machine_memory() * MEMORY_FRACTION)


def budget_text() -> str:
    """How the budget was set, for messages: "a quarter of its memory" or the variable."""
    if os.environ.get(BUDGET_ENV, "").strip() and memory_budget() != \
            int(machine_memory() * MEMORY_FRACTION):
        return f"set by {BUDGET_ENV}"
    return "a quarter of its memory" if MEMORY_FRACTION == 0.25 else \
        f"{MEMORY_FRACTION:.0%} of its memory"


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 kB"``; powers of 1000, as file managers show sizes."""
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def open_regular(path: Path, max_bytes: int, what: str):
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    The file is opened without blocking and checked with ``fstat`` on the open descriptor,
    so a FIFO or device never blocks the app and cannot be swapped in after the check.

    Raises:
        ProjectError: not a regular file, too large, or unreadable; names ``what``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read the {what}: {exc.strerror or exc}",
                           "" if what == "project file" else "weights") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                    "a folder" if stat.S_ISDIR(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise ProjectError(f"{path}: the {what} is {kind}, not a regular file; only "
                               "regular files are opened",
                               "" if what == "project file" else "weights")
        if st.st_size > max_bytes:
            raise ProjectError(f"{path}: the {what} is {format_bytes(st.st_size)}; at most "
                               f"{format_bytes(max_bytes)} is read",
                               "" if what == "project file" else "weights")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise

"""Grad mode: whether ops record the tape. ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The mode is per thread, as in PyTorch: a ``no_grad`` block on the UI thread does not switch
off recording for the training worker.
"""

from __future__ import annotations

import functools
import threading

__all__ = ["is_grad_enabled", "no_grad", "enable_grad", "set_grad_enabled"]


class _GradMode(threading.local):
    enabled = True  # class default: every new thread starts with grad enabled


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when ops record the tape on this thread (the default)."""
    return _mode.enabled


class _GradModeContext:
    """Set the grad mode inside a ``with`` block, or around every call of a decorated
    function, and restore the previous mode on exit (even on an exception)."""

    _enabled = True

    def __init__(self):
        self._prev = []  # a stack, so one instance can be entered re-entrantly

    def __enter__(self):
        self._prev.append(_mode.enabled)
        _mode.enabled = self._enabled
        return self

    def __exit__(self, *exc_info):
        _mode.enabled = self._prev.pop()
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Do not record ops: outputs have ``requires_grad=False`` and no ``grad_fn``.

    Use for evaluation and for in-place parameter updates. Works as a context manager
    (``with no_grad(): ...``) and as a decorator (``@no_grad()``).
    """

    _enabled = False


class enable_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Record ops again inside a ``no_grad`` block. Context manager or decorator."""

    _enabled = True


class set_grad_enabled(_GradModeContext):  # noqa: N801 - PyTorch's name
    """``set_grad_enabled(mode)`` switches recording on or off at once; used as a context
    manager it restores the previous mode on exit."""

    def __init__(self, mode: bool):
        super().__init__()
        self._enabled = bool(mode)
        self._prev.append(_mode.enabled)
        _mode.enabled = self._enabled

    def __enter__(self):
        return self  # already set in __init__

    def __call__(self, func):
        raise TypeError("set_grad_enabled(mode) is not a decorator; use no_grad() or "
                        "enable_grad()")

"""numpy autograd engine with PyTorch's public names and semantics.

    from playground.engine import Tensor, tensor, no_grad, functional as F, nn, optim, init

imports numpy and nothing else (no other project module, no torch).

* :class:`Tensor` -- ``.data`` and ``.grad`` are numpy arrays; default dtype float32.
* :class:`Function` -- one class per op: ``forward(ctx, ...)`` / ``backward(ctx, grad)``.
* :func:`backward_steps` -- ``backward()`` one op at a time, for the stepping UI.
* :func:`manual_seed` -- reseed the generator behind ``init``, ``randn`` and ``rand``.
"""

import numpy as _np

from . import functional, init, nn, ops, optim
from ._random import initial_seed, manual_seed
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import (BackwardStep, Function, Tensor, backward_steps, ones, rand, randn,
                     tensor, unbroadcast, zeros)

float32 = _np.float32
float64 = _np.float64
int64 = _np.int64

__all__ = ["Tensor", "tensor", "Function", "BackwardStep", "backward_steps", "unbroadcast",
           "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "manual_seed",
           "initial_seed", "zeros", "ones", "randn", "rand", "functional", "nn", "optim",
           "init", "ops", "float32", "float64", "int64"]

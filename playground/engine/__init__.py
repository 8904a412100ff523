"""numpy autograd engine with PyTorch's public names and semantics.

    from playground.engine import Tensor, tensor, no_grad, functional as F, nn, optim, init

imports numpy and nothing else (no other project module, no torch).

* :class:`Tensor` -- ``.data`` and ``.grad`` are numpy arrays; default dtype float32.
* :class:`Function` -- one class per op: ``forward(ctx, ...)`` / ``backward(ctx, grad)``.
* :func:`backward_steps` -- ``backward()`` one op at a time, for the stepping UI, with
  local Jacobians on request.
* :func:`manual_seed` -- reseed the generator behind ``init``, ``randn`` and ``rand``.
* torch-style functions: ``cat``, ``stack``, ``split``, ``chunk``, ``where``, ``max``,
  ``clamp``, ``pad``, ... (see :mod:`.ops`).

Importing the engine tunes glibc's malloc for training (large temporaries stay in the
heap instead of being unmapped and page-faulted back every step); see :mod:`._allocator`.
"""

import numpy as _np

from ._allocator import tune_malloc as _tune_malloc

_tune_malloc()  # glibc: keep big temporaries in the heap (see _allocator); before any array

from . import functional, init, nn, ops, optim
from ._random import initial_seed, manual_seed
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .ops import (abs, argmax, argmin, cat, chunk, clamp, clip, concat, exp, flatten, log,
                  matmul, max, mean, min, pad, permute, reshape, split, sqrt, squeeze, stack,
                  sum, transpose, unsqueeze, where)
from .tensor import (JACOBIAN_MAX_SIZE, BackwardStep, Function, Tensor, backward_steps,
                     local_jacobians, ones, rand, randn, tensor, unbroadcast, zeros)

float32 = _np.float32
float64 = _np.float64
int64 = _np.int64
long = _np.int64
bool = _np.bool_

__all__ = ["Tensor", "tensor", "Function", "BackwardStep", "backward_steps", "local_jacobians",
           "JACOBIAN_MAX_SIZE", "unbroadcast", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "manual_seed", "initial_seed", "zeros", "ones", "randn", "rand",
           "functional", "nn", "optim", "init", "ops", "float32", "float64", "int64", "long",
           "cat", "concat", "stack", "split", "chunk", "flatten", "unsqueeze", "squeeze",
           "permute", "transpose", "reshape", "pad", "where", "argmax", "argmin", "sqrt",
           "clamp", "clip", "exp", "log", "mean", "matmul", "tanh", "sigmoid", "relu",
           "softmax", "log_softmax"]
# max, min, abs, sum and bool are here too (engine.max(x, dim), x.to(engine.bool)), but
# left out of __all__ so that a star import does not shadow the builtins.

tanh, sigmoid, relu = functional.tanh, functional.sigmoid, functional.relu
softmax, log_softmax = functional.softmax, functional.log_softmax

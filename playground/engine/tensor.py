"""Tensor, Function and the tape.

A :class:`Tensor` wraps a numpy array. Every op is a :class:`Function`: ``Function.apply``
runs its ``forward`` on the arrays and, when grad mode is on and some input requires grad,
records the op on the output's ``grad_fn``. That chain of ``grad_fn`` nodes is the tape.

:func:`backward_steps` walks the tape from a root in reverse topological order and yields
one :class:`BackwardStep` per op. ``Tensor.backward()`` is that same generator, exhausted.
With ``jacobians=True`` each step also carries the op's local Jacobians, computed from the
op's own backward (:func:`local_jacobians`); training never asks for them.

Design notes:
    * ``.data`` and ``.grad`` are plain ``np.ndarray``; ``.grad`` has ``.data``'s shape and
      dtype.
    * A Function instance *is* the ``ctx``: ``forward(ctx, ...)`` saves what ``backward``
      needs with ``ctx.save(name=array)``, readable later as ``ctx.name`` (and all together
      as ``ctx.saved``). The stepping UI reads them.
    * ``backward`` must not modify its incoming gradient in place: the same array can be
      shared by several tensors (``Add`` hands ``g`` to both inputs).
    * After ``backward()`` the graph is unlinked (``ctx.inputs = None``) unless
      ``retain_graph=True``, so intermediates are freed by reference counting; a second
      ``backward()`` through the same ops raises ``RuntimeError``. Saved arrays stay on
      each ``grad_fn`` for inspection and go away with its output tensor.
"""

from __future__ import annotations

from collections import deque
from itertools import compress
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from .grad_mode import _mode

__all__ = ["Tensor", "tensor", "Function", "BackwardStep", "backward_steps",
           "local_jacobians", "JACOBIAN_MAX_SIZE", "unbroadcast", "zeros", "ones", "randn",
           "rand"]


# ----------------------------------------------------------------------------- Function


class Function:
    """One differentiable op. Subclasses define two static methods:

    ``forward(ctx, *arrays, **kwargs) -> np.ndarray``
        Gets the inputs' arrays (a non-Tensor input, e.g. a Python scalar or an integer
        target, is passed as is) and returns the output array. Saves what backward needs
        with ``ctx.save(...)``.
    ``backward(ctx, grad) -> gradient or tuple of gradients``
        Gets dL/d(output), the output's shape, and returns dL/d(input) for each input, in
        order: an array of that input's shape, or None. It need only compute those with
        ``ctx.needs_input_grad[i]`` true.

    Attributes set by :meth:`apply` on the ctx:
        inputs: the inputs as given (Tensors and constants); None once backward has freed
            the graph.
        needs_input_grad: one bool per input.
    """

    inputs: tuple | None = None
    needs_input_grad: tuple = ()

    def save(self, **arrays: Any) -> None:
        """Keep ``arrays`` for backward and for inspection: ``ctx.name`` or ``ctx.saved``."""
        self.__dict__.update(arrays)
        saved = self.__dict__.get("saved")
        if saved is None:
            self.saved = arrays
        else:
            saved.update(arrays)

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> "Tensor":
        """Run the op on ``inputs`` and return the output Tensor. The op is recorded (the
        output gets ``grad_fn`` and ``requires_grad=True``) only when grad mode is on and
        some input is a Tensor that requires grad."""
        ctx = cls()
        arrays = []
        needs = []
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                needs.append(x.requires_grad)
            elif isinstance(x, np.generic):  # numpy scalars become Python ones (keep f32)
                arrays.append(x.item())
                needs.append(False)
            else:  # a constant
                arrays.append(x)
                needs.append(False)
        record = True in needs and _mode.enabled
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        y = cls.forward(ctx, *arrays, **kwargs)
        if type(y) is not np.ndarray:  # numpy returns scalars from 0-d ops
            y = np.asarray(y)
        t = _new_tensor(Tensor)  # _result, inlined: this is the hottest path
        t.data = y
        t.grad = None
        t._retains_grad = False
        t._hooks = None
        if record:
            ctx.inputs = inputs
            t.requires_grad = True
            t._ctx = ctx
        else:
            t.requires_grad = False
            t._ctx = None
        return t

    @staticmethod
    def forward(ctx, *arrays, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting.

    Broadcasting prepends size-1 dims and stretches size-1 dims; the gradient of a
    stretched input is the sum over the copies. E.g. grad (2, 3, 4) -> shape (3, 1)
    sums dim 0, then dim 2 with keepdims.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead > 0:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return np.asarray(grad)


# ----------------------------------------------------------------------------- Tensor


def _as_array(data: Any, dtype: Any = None, copy: bool = False) -> np.ndarray:
    """Convert to an ndarray with the engine's dtype rules: floats become float32 unless
    a float64 ndarray is passed (kept, for gradient checks); integers and bools stay."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype) if copy else np.asarray(data, dtype=dtype)
    arr = np.array(data) if copy else np.asarray(data)
    kind = arr.dtype.kind
    if kind == "f" and arr.dtype != np.float32:
        if not (arr.dtype == np.float64 and isinstance(data, np.ndarray)):
            arr = arr.astype(np.float32)
    elif kind == "O":
        raise TypeError(f"cannot make a Tensor from {type(data).__name__} "
                        "(expected numbers, nested lists of numbers or an ndarray)")
    return arr


def _result(data: np.ndarray, requires_grad: bool, ctx: Function | None) -> "Tensor":
    """Fast constructor for op outputs: no dtype conversion or checks."""
    t = _new_tensor(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._ctx = ctx
    t._retains_grad = False
    t._hooks = None
    return t


_new_tensor = object.__new__


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    ``Tensor(data, requires_grad=False, dtype=None)`` wraps ``data`` (numbers, lists or an
    ndarray; an ndarray of the final dtype is used without a copy, like
    ``torch.as_tensor``). Without ``dtype``, floats become float32, except that a float64
    ndarray stays float64; integer arrays stay integer (class-index targets).

    Attributes:
        data: the values, an ``np.ndarray``.
        grad: ``np.ndarray`` of ``data``'s shape and dtype, or None. Filled by backward()
            on leaves that require grad and on tensors that called ``retain_grad()``.
            Gradients accumulate (``+=``) across backward calls until zeroed.
        requires_grad: whether backward computes a gradient for this tensor.
        grad_fn: the op that made this tensor (None for leaves).

    Raises:
        TypeError: ``requires_grad=True`` on a non-floating dtype, or data that is not
            numeric.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retains_grad", "_hooks",
                 "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self._hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- properties ---------------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def grad_fn(self) -> Function | None:
        """The op that produced this tensor, or None for a leaf."""
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (user-created, parameters)."""
        return self._ctx is None

    @property
    def T(self) -> "Tensor":  # noqa: N802 - PyTorch's name
        """Transpose of a 2-D tensor; a 0-D or 1-D tensor is returned as is.

        Raises:
            ValueError: for 3 or more dims (use ``transpose(dim0, dim1)``).
        """
        if self.data.ndim == 2:
            return _ops.Transpose.apply(self, dim0=0, dim1=1)
        if self.data.ndim < 2:
            return self
        raise ValueError(f"Tensor.T expects a 2-D tensor, got shape {self.shape}; "
                         "use transpose(dim0, dim1)")

    def size(self, dim: int | None = None):
        """The shape, or the length of one dim."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number.

        Raises:
            ValueError: the tensor has more than one element.
        """
        if self.data.size != 1:
            raise ValueError(f"a Tensor with {self.data.size} elements cannot be converted "
                             "to a Python number")
        return self.data.item()

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a Tensor with {self.data.size} elements "
                               "is ambiguous")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def numpy(self) -> np.ndarray:
        """The data array itself (no copy).

        Raises:
            RuntimeError: the tensor requires grad (use ``.detach().numpy()`` or ``.data``),
                as in PyTorch.
        """
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad. "
                               "Use tensor.detach().numpy() (or tensor.data) instead.")
        return self.data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (np.float32, np.int64):
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={self._ctx!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- autograd -------------------------------------------------------------------

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place on a leaf; returns self.

        Raises:
            TypeError: asked for grad on a non-floating dtype.
            RuntimeError: turning it off on a non-leaf (use ``detach()``).
        """
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating point tensors can require gradients, "
                            f"got dtype {self.data.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; "
                               "use detach() for a non-leaf")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        Args:
            gradient: dL/d(self), of self's shape. May be omitted for a one-element tensor
                (it is 1).
            retain_graph: keep the graph so that backward can run through it again.

        Raises:
            RuntimeError: self does not require grad; ``gradient`` omitted for a
                non-scalar or of the wrong shape; the graph was already freed.
        """
        deque(backward_steps(self, gradient, retain_graph), maxlen=0)

    def backward_steps(self, gradient: Any = None, retain_graph: bool = False,
                       jacobians: bool = False) -> Iterator["BackwardStep"]:
        """``backward()`` one op at a time; see :func:`backward_steps`."""
        return backward_steps(self, gradient, retain_graph, jacobians)

    def detach(self) -> "Tensor":
        """A new leaf sharing ``data``, with ``requires_grad=False``."""
        return _result(self.data, False, None)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf after backward (leaves keep it anyway).

        Raises:
            RuntimeError: the tensor does not require grad.
        """
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a Tensor that has requires_grad=False")
        if self._ctx is not None:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook: Callable[[np.ndarray], np.ndarray | None]
                      ) -> "RemovableHandle":
        """Call ``hook(grad)`` when dL/d(self) has been computed in backward.

        ``grad`` is the full gradient w.r.t. this tensor (summed over all its uses), an
        ndarray of self's shape. The hook must not modify it in place; it may return a
        replacement array, which is used from then on (and stored in ``.grad``), or None.
        For a leaf the hook runs before the gradient is accumulated into ``.grad``.

        Returns a handle whose ``remove()`` unregisters the hook.

        Raises:
            RuntimeError: the tensor does not require grad.
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require "
                               "gradient")
        if self._hooks is None:
            self._hooks = {}
        return RemovableHandle(self._hooks, hook)

    # -- operators ------------------------------------------------------------------

    def __add__(self, other):
        return _ops.Add.apply(self, other)

    def __radd__(self, other):
        return _ops.Add.apply(other, self)

    def __sub__(self, other):
        return _ops.Sub.apply(self, other)

    def __rsub__(self, other):
        return _ops.Sub.apply(other, self)

    def __mul__(self, other):
        return _ops.Mul.apply(self, other)

    def __rmul__(self, other):
        return _ops.Mul.apply(other, self)

    def __truediv__(self, other):
        return _ops.Div.apply(self, other)

    def __rtruediv__(self, other):
        return _ops.Div.apply(other, self)

    def __pow__(self, other):
        return _ops.Pow.apply(self, other)

    def __rpow__(self, other):
        return _ops.Pow.apply(other, self)

    def __matmul__(self, other):
        return _ops.Matmul.apply(self, other)

    def __rmatmul__(self, other):
        return _ops.Matmul.apply(other, self)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __pos__(self):
        return self

    # -- methods --------------------------------------------------------------------

    def add(self, other):
        return _ops.Add.apply(self, other)

    def sub(self, other):
        return _ops.Sub.apply(self, other)

    def mul(self, other):
        return _ops.Mul.apply(self, other)

    def div(self, other):
        return _ops.Div.apply(self, other)

    def pow(self, exponent):
        return _ops.Pow.apply(self, exponent)

    def matmul(self, other):
        return _ops.Matmul.apply(self, other)

    def neg(self):
        return _ops.Neg.apply(self)

    def sum(self, dim: int | tuple | None = None, keepdim: bool = False) -> "Tensor":
        """Sum over ``dim`` (an int, a tuple of ints, or None for all dims)."""
        return _ops.Sum.apply(self, dim=dim, keepdim=keepdim)

    def mean(self, dim: int | tuple | None = None, keepdim: bool = False) -> "Tensor":
        """Mean over ``dim`` (an int, a tuple of ints, or None for all dims)."""
        return _ops.Mean.apply(self, dim=dim, keepdim=keepdim)

    def reshape(self, *shape) -> "Tensor":
        """Same data, new shape: ``x.reshape(2, -1)`` or ``x.reshape((2, -1))``."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return _ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Merge dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) for
        ``start_dim=1``. A 0-d tensor becomes shape (1,).

        Raises:
            IndexError: a dim out of range; ValueError: start_dim after end_dim.
        """
        shape = self.data.shape
        nd = len(shape)
        if nd == 0:
            return _ops.Flatten.apply(self, shape=(1,))
        s, e = _ops._dim(start_dim, nd, "flatten"), _ops._dim(end_dim, nd, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        n = 1
        for k in shape[s:e + 1]:
            n *= k
        return _ops.Flatten.apply(self, shape=shape[:s] + (n,) + shape[e + 1:])

    def unsqueeze(self, dim: int) -> "Tensor":
        """Insert a size-1 dim at ``dim`` (in [-ndim-1, ndim]): (3, 4) -> (3, 1, 4) for 1.

        Raises:
            IndexError: dim out of range.
        """
        shape = self.data.shape
        d = _ops._dim(dim, len(shape) + 1, "unsqueeze")
        return _ops.Unsqueeze.apply(self, shape=shape[:d] + (1,) + shape[d:])

    def squeeze(self, dim: int | tuple | None = None) -> "Tensor":
        """Remove size-1 dims: all of them (``dim=None``), or those among ``dim`` (an int
        or a tuple) that have size 1; a listed dim of another size stays, as torch.

        Raises:
            IndexError: a dim out of range.
        """
        shape = self.data.shape
        if dim is None:
            drop = {d for d, n in enumerate(shape) if n == 1}
        else:
            dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
            drop = {d for d in (_ops._dim(d, len(shape), "squeeze") for d in dims)
                    if shape and shape[d] == 1}
        new = tuple(n for d, n in enumerate(shape) if d not in drop)
        return _ops.Squeeze.apply(self, shape=new)

    def permute(self, *dims) -> "Tensor":
        """Reorder dims: ``x.permute(2, 0, 1)`` (or a tuple) maps (H, W, C) -> (C, H, W);
        output dim i is input dim ``dims[i]``.

        Raises:
            ValueError: ``dims`` is not a permutation of the tensor's dims.
        """
        if len(dims) == 1 and not isinstance(dims[0], (int, np.integer)):
            dims = tuple(dims[0])
        nd = self.data.ndim
        if len(dims) != nd:
            raise ValueError(f"permute: the tensor has {nd} dims but {len(dims)} were given "
                             f"({dims})")
        dims = tuple(_ops._dim(d, nd, "permute") for d in dims)
        if len(set(dims)) != nd:
            raise ValueError(f"permute: dims {dims} repeat a dim; each dim appears once")
        return _ops.Permute.apply(self, dims=dims)

    def expand(self, *sizes) -> "Tensor":
        """Broadcast to ``sizes`` without copying: size-1 dims stretch, -1 keeps a dim,
        new dims may be added in front. (3, 1) -> (2, 3, 4) with ``expand(2, -1, 4)``.

        Raises:
            ValueError: fewer sizes than dims, -1 for a new dim, or a non-1 dim asked to
                change size.
        """
        if len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer)):
            sizes = tuple(sizes[0])
        shape = self.data.shape
        lead = len(sizes) - len(shape)
        if lead < 0:
            raise ValueError(f"expand: {len(sizes)} sizes given for a tensor of {len(shape)} "
                             "dims; give at least one per dim")
        new = []
        for i, n in enumerate(sizes):
            n = int(n)
            if i < lead:
                if n < 0:
                    raise ValueError(f"expand: size {n} for the new leading dim {i}; -1 "
                                     "only keeps an existing dim")
            else:
                old = shape[i - lead]
                if n == -1:
                    n = old
                elif old != 1 and n != old:
                    raise ValueError(f"expand: dim {i - lead} has size {old}, which can't "
                                     f"become {n} (only size-1 dims expand); sizes {sizes}")
            new.append(n)
        return _ops.Expand.apply(self, shape=tuple(new))

    def expand_as(self, other: "Tensor") -> "Tensor":
        """``expand(other.shape)``."""
        return self.expand(other.shape)

    def view_as(self, other: "Tensor") -> "Tensor":
        """``reshape(other.shape)``."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def split(self, split_size_or_sections, dim: int = 0) -> tuple:
        """Cut along ``dim`` into pieces of ``split_size_or_sections`` (an int: the last
        piece may be smaller) or of the listed sizes, which must sum to the dim's size.
        Each piece is a view with its own gradient.

        Raises:
            ValueError: a size < 1 (or < 0 in a list), or listed sizes that don't sum to
                the dim's size.
        """
        d = _ops._dim(dim, self.data.ndim, "split")
        n = self.data.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size < 1 and not (size == 0 and n == 0):
                raise ValueError(f"split: split_size must be positive, got {size}")
            sizes = [size] * (n // size) + [n % size] if n else [0]
            if sizes[-1] == 0 and len(sizes) > 1:
                sizes.pop()
        else:
            sizes = [int(k) for k in split_size_or_sections]
            if any(k < 0 for k in sizes) or sum(sizes) != n:
                raise ValueError(f"split: sizes {sizes} must be non-negative and sum to "
                                 f"{n}, the size of dim {dim}")
        lead = (slice(None),) * d
        pieces = []
        start = 0
        for k in sizes:
            pieces.append(_ops.Split.apply(self, index=lead + (slice(start, start + k),)))
            start += k
        return tuple(pieces)

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        """Cut into ``chunks`` pieces along ``dim`` of ceil(n / chunks) each; the last may
        be smaller and there may be fewer pieces, as torch.

        Raises:
            ValueError: chunks < 1.
        """
        if chunks < 1:
            raise ValueError(f"chunk expects chunks to be at least 1, got {chunks}")
        n = self.data.shape[_ops._dim(dim, self.data.ndim, "chunk")]
        return self.split(max(-(-n // chunks), 1), dim)

    def __getitem__(self, index) -> "Tensor":
        """numpy/torch indexing with gradient: ints, slices, None, ``...`` (a view) and
        integer arrays/lists/Tensors or boolean masks (a copy; an element picked twice
        gets both gradients).

        Raises:
            IndexError: an index out of range or of a non-integer type.
        """
        return _ops.GetItem.apply(self, index=_index(index))

    def __iter__(self) -> Iterator["Tensor"]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def t(self) -> "Tensor":
        """Transpose of a tensor with at most 2 dims (as ``.T``)."""
        return self.T

    def contiguous(self) -> "Tensor":
        return self

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        """Swap two dims."""
        return _ops.Transpose.apply(self, dim0=dim0, dim1=dim1)

    def exp(self):
        return _ops.Exp.apply(self)

    def log(self):
        return _ops.Log.apply(self)

    def relu(self):
        return _ops.ReLU.apply(self)

    def sigmoid(self):
        return _ops.Sigmoid.apply(self)

    def tanh(self):
        return _ops.Tanh.apply(self)

    def sqrt(self):
        return _ops.Sqrt.apply(self)

    def abs(self):
        return _ops.Abs.apply(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> "Tensor":
        """Clip into [min, max] elementwise (either bound may be None). The gradient is 1
        where min <= x <= max, bounds included, as torch; 0 outside.

        Raises:
            ValueError: both bounds None. TypeError: a bound is a Tensor that requires
                grad (bounds are constants here).
        """
        if min is None and max is None:
            raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
        return _ops.Clamp.apply(self, min=_bound(min), max=_bound(max))

    clip = clamp

    def where(self, condition: Any, other: Any) -> "Tensor":
        """``self`` where ``condition``, else ``other`` (see ``engine.where``)."""
        return _ops.where(condition, self, other)

    def max(self, dim: int | None = None, keepdim: bool = False):
        """The largest element as a 0-d tensor (gradient split evenly between ties), or,
        with ``dim``, the named tuple ``(values, indices)`` along it: values with
        gradient to the first maximum of each slice, indices int64 without gradient.

        Raises:
            IndexError: dim out of range.
        """
        return self._extreme(dim, keepdim, "max")

    def min(self, dim: int | None = None, keepdim: bool = False):
        """The smallest element, or ``(values, indices)`` along ``dim``; see :meth:`max`."""
        return self._extreme(dim, keepdim, "min")

    def _extreme(self, dim: int | None, keepdim: bool, name: str):
        """:meth:`max` (``name`` "max") or :meth:`min` ("min")."""
        op, arg, result, cmp = ((_ops.Max, np.argmax, _ops.max_return, ">") if name == "max"
                                else (_ops.Min, np.argmin, _ops.min_return, "<"))
        if dim is None:
            return op.apply(self)
        if isinstance(dim, Tensor):
            raise TypeError(f"{name}(other) (the elementwise {name}imum) is not supported; "
                            f"use where(a {cmp} b, a, b)")
        d = _ops._dim(dim, self.data.ndim, name)
        idx = arg(self.data, axis=d, keepdims=True)
        values = op.apply(self, dim=d, keepdim=keepdim, indices=idx)
        return result(values, _result(idx if keepdim else idx.squeeze(d), False, None))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        """Index of the largest element, int64, no gradient: into the flattened tensor
        without ``dim``, else along it (the first on ties)."""
        return _arg(np.argmax, self.data, dim, keepdim, "argmax")

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        """Index of the smallest element; see :meth:`argmax`."""
        return _arg(np.argmin, self.data, dim, keepdim, "argmin")

    # -- comparisons: bool tensors, never recorded (masks for where and indexing) -------

    __hash__ = object.__hash__  # identity, as torch: tensors are dict keys (optimizers)

    def __eq__(self, other):
        o = _cmp_operand(other)
        return NotImplemented if o is NotImplemented else _bool(self.data == o)

    def __ne__(self, other):
        o = _cmp_operand(other)
        return NotImplemented if o is NotImplemented else _bool(self.data != o)

    def __lt__(self, other):
        o = _cmp_operand(other)
        return NotImplemented if o is NotImplemented else _bool(self.data < o)

    def __le__(self, other):
        o = _cmp_operand(other)
        return NotImplemented if o is NotImplemented else _bool(self.data <= o)

    def __gt__(self, other):
        o = _cmp_operand(other)
        return NotImplemented if o is NotImplemented else _bool(self.data > o)

    def __ge__(self, other):
        o = _cmp_operand(other)
        return NotImplemented if o is NotImplemented else _bool(self.data >= o)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # -- dtype and copies -----------------------------------------------------------

    def to(self, *args: Any, dtype: Any = None) -> "Tensor":
        """This tensor in another dtype: ``x.to(np.float64)``, ``x.to(other_tensor)``;
        a device ('cpu') is accepted and changes nothing. The same tensor when nothing
        changes. A floating result keeps the gradient path; an integer or bool one is
        detached, as torch.

        Raises:
            ValueError: a device other than the CPU.
        """
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.data.dtype
            elif isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda", "mps"):
                if not a.startswith("cpu"):
                    raise ValueError(f"to({a!r}): this engine runs on the CPU only")
            else:
                dtype = a
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype == self.data.dtype:
            return self
        if dtype.kind == "f":
            return _ops.Cast.apply(self, dtype=dtype)
        return _result(self.data.astype(dtype), False, None)

    def float(self) -> "Tensor":
        """As float32 (see :meth:`to`)."""
        return self.to(np.float32)

    def double(self) -> "Tensor":
        """As float64 (see :meth:`to`)."""
        return self.to(np.float64)

    def long(self) -> "Tensor":
        """As int64, without gradient (see :meth:`to`)."""
        return self.to(np.int64)

    def int(self) -> "Tensor":
        """As int32, without gradient (see :meth:`to`)."""
        return self.to(np.int32)

    def bool(self) -> "Tensor":
        """As bool, without gradient (see :meth:`to`)."""
        return self.to(np.bool_)

    def clone(self) -> "Tensor":
        """A copy of the data that stays on the tape (gradient flows through)."""
        return _ops.Clone.apply(self)

    def softmax(self, dim: int):
        return _functional.Softmax.apply(self, dim=dim)

    def log_softmax(self, dim: int):
        return _functional.LogSoftmax.apply(self, dim=dim)


def _index(index: Any) -> tuple:
    """An index as a tuple numpy takes: Tensors become their arrays, lists arrays, numpy
    integers ints (so that basic indexing is recognised)."""
    if type(index) is not tuple:
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.data
        elif isinstance(i, list):
            i = np.asarray(i)
        elif isinstance(i, np.integer):
            i = int(i)
        out.append(i)
    return tuple(out)


def _bound(b: Any) -> Any:
    if isinstance(b, Tensor):
        if b.requires_grad:
            raise TypeError("clamp: a bound that requires grad is not supported; bounds "
                            "are constants (use where() for a learned bound)")
        return b.data
    return b.item() if isinstance(b, np.generic) else b


def _cmp_operand(other: Any) -> Any:
    if isinstance(other, Tensor):
        return other.data
    if isinstance(other, (int, float, np.ndarray, np.generic)):
        return other
    if isinstance(other, (list, tuple)):
        return np.asarray(other)
    return NotImplemented


def _bool(a: Any) -> "Tensor":
    return _result(a if type(a) is np.ndarray else np.asarray(a), False, None)


def _arg(fn: Callable, data: np.ndarray, dim: int | None, keepdim: bool, name: str
         ) -> "Tensor":
    if dim is None:
        i = np.asarray(fn(data), dtype=np.int64)
        return _result(i.reshape((1,) * data.ndim) if keepdim else i, False, None)
    d = _ops._dim(dim, data.ndim, name)
    return _result(np.asarray(fn(data, axis=d, keepdims=keepdim), dtype=np.int64), False,
                   None)


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict, hook: Callable):
        RemovableHandle._next_id += 1
        self.id = RemovableHandle._next_id
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf Tensor holding a copy of ``data`` (like ``torch.tensor``). Same dtype
    rules as :class:`Tensor`."""
    t = Tensor(_as_array(data, dtype, copy=True))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros, default float32."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ones, default float32."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the engine's generator (see ``manual_seed``)."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    data = _random.generator().standard_normal(shape).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the engine's generator (see ``manual_seed``)."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    data = _random.generator().random(shape).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- the tape


class BackwardStep(NamedTuple):
    """One op of the backward walk, yielded by :func:`backward_steps` after the op's
    gradients have been propagated (leaves whose last use this was have ``.grad`` set).

    Attributes:
        fn: the op node (its ctx); its saved arrays are attributes, all in ``fn.saved``.
        op: the op's name, e.g. ``"Linear"``.
        output: the tensor the op produced.
        upstream: dL/d(output), of output's shape (after the output's hooks ran).
        downstream: dL/d(input) per input, None where the input needs no gradient.
        inputs: the op's inputs as given (Tensors and constants).
        jacobian: with ``backward_steps(..., jacobians=True)``, the local Jacobian
            d(output)/d(input) per input: an ndarray of shape (output.size, input.size),
            row i = dL/d(input) for upstream = the i-th one-hot vector, so that
            ``downstream[k].ravel() == jacobian[k].T @ upstream.ravel()``. None for an input
            that needs no gradient or when output.size or input.size exceeds
            ``JACOBIAN_MAX_SIZE`` (4096). The field itself is None without
            ``jacobians=True``.
    """

    fn: Function
    op: str
    output: Tensor
    upstream: np.ndarray
    downstream: tuple
    inputs: tuple
    jacobian: tuple | None = None


def _freed(fn: Function) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (at {fn!r}); its graph "
        "was freed by the first backward(). Pass retain_graph=True to the first "
        "backward() if you need to go through it twice.")


def _toposort(root: Tensor) -> tuple[list[Tensor], dict[int, int]]:
    """Non-leaf tensors reachable from root, inputs before outputs (iterative DFS), and
    how many times each leaf that requires grad is used (to know when its grad is done)."""
    order: list[Tensor] = []
    leaf_uses: dict[int, int] = {}
    fn = root._ctx
    if fn.inputs is None:
        raise _freed(fn)
    seen = {id(root)}
    stack = [(root, compress(fn.inputs, fn.needs_input_grad))]
    while stack:
        t, parents = stack[-1]
        for x in parents:  # the inputs that need a gradient
            fn = x._ctx
            if fn is None:
                k = id(x)
                leaf_uses[k] = leaf_uses.get(k, 0) + 1
            elif id(x) not in seen:
                if fn.inputs is None:
                    raise _freed(fn)
                seen.add(id(x))
                stack.append((x, compress(fn.inputs, fn.needs_input_grad)))
                break
        else:
            stack.pop()
            order.append(t)
    return order, leaf_uses


def _run_hooks(t: Tensor, g: np.ndarray) -> np.ndarray:
    for hook in tuple(t._hooks.values()):
        new = hook(g)
        if new is not None:
            new = np.asarray(new)
            if new.shape != t.data.shape:
                raise RuntimeError(f"hook {hook!r} returned a gradient of shape {new.shape} "
                                   f"for a tensor of shape {t.data.shape}")
            g = new
    return g


def _store_grad(t: Tensor, g: np.ndarray) -> None:
    """``t.grad += g``; the first time, ``t.grad`` becomes an owned copy in t's dtype."""
    if t.grad is None:
        t.grad = np.array(g, dtype=t.data.dtype)
    else:
        t.grad += g


def _initial_gradient(root: Tensor, gradient: Any) -> np.ndarray:
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                               f"this tensor has shape {root.shape}. Pass "
                               "backward(gradient=...) with an array of that shape.")
        return np.ones(root.data.shape, root.data.dtype)
    g = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
    if g.shape != root.data.shape:
        raise RuntimeError(f"backward(gradient=...) has shape {g.shape} but the tensor has "
                           f"shape {root.shape}; they must match")
    return g


#: Largest output or input size (elements) for which a local Jacobian is computed.
JACOBIAN_MAX_SIZE = 4096


def local_jacobians(fn: Function, upstream: np.ndarray, inputs: tuple, needs: tuple,
                    max_size: int = JACOBIAN_MAX_SIZE) -> tuple:
    """The local Jacobians d(output)/d(input) of the op ``fn``, one per input.

    Exact and generic: row i of each Jacobian is the op's own ``backward`` applied to the
    i-th one-hot upstream vector (J[i, :] = backward(e_i)), so it costs output.size
    backward calls. Each is an ndarray (output.size, input.size) in the upstream's dtype,
    or None for an input that needs no gradient or when either size exceeds
    ``max_size``. ``upstream`` gives the output's shape and dtype only.
    """
    n_out = upstream.size
    want = [need and n_out <= max_size and x.data.size <= max_size
            for x, need in zip(inputs, needs)]
    if not any(want):
        return (None,) * len(inputs)
    jac = [np.zeros((n_out, x.data.size), upstream.dtype) if w else None
           for x, w in zip(inputs, want)]
    shape, dtype = upstream.shape, upstream.dtype
    for i in range(n_out):
        e = np.zeros(n_out, dtype)  # fresh each time: backward may keep or return it
        e[i] = 1
        out = fn.backward(fn, e.reshape(shape))
        if type(out) is not tuple:
            out = (out,)
        for j, gx in zip(jac, out):
            if j is not None and gx is not None:
                j[i] = np.ravel(gx)
    return tuple(jac)


def backward_steps(root: Tensor, gradient: Any = None, retain_graph: bool = False,
                   jacobians: bool = False) -> Iterator[BackwardStep]:
    """Backpropagate from ``root`` one op at a time; yield a :class:`BackwardStep` per op.

    Topologically sorts the ops reachable from root (iteratively: graphs can be deep),
    then walks them from root back to the leaves. For each op it runs the output's hooks,
    stores a retained ``.grad``, calls ``backward`` and adds each input's gradient into
    that input's buffer; a leaf's ``.grad`` is accumulated (``+=``) once all of its uses
    are done. Exhausting the generator is exactly ``root.backward(gradient,
    retain_graph)``. Stopping early leaves the remaining leaves' ``.grad`` untouched.

    Args:
        root: the tensor to differentiate, usually the scalar loss.
        gradient: dL/d(root), of root's shape; default 1 for a one-element root.
        retain_graph: keep the graph for another backward.
        jacobians: also give each step's local Jacobians (:func:`local_jacobians`, in
            ``BackwardStep.jacobian``). Off by default: they cost output.size extra
            backward calls per op, and training never asks for them.

    Raises:
        RuntimeError: root does not require grad; bad ``gradient``; the graph was freed by
            an earlier backward; an op returned a gradient of the wrong shape.
    """
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad and has no "
                           "grad_fn: no input of the computation has requires_grad=True "
                           "(or it ran under no_grad)")
    g = _initial_gradient(root, gradient)
    if root._ctx is None:  # a leaf: nothing to walk
        return _leaf_root(root, g)
    order, leaf_uses = _toposort(root)  # eager, so errors surface at the call
    return _walk(root, g, order, leaf_uses, retain_graph, jacobians)


def _leaf_root(root: Tensor, g: np.ndarray) -> Iterator[BackwardStep]:
    if root._hooks:
        g = _run_hooks(root, g)
    _store_grad(root, g)
    yield from ()


def _walk(root: Tensor, g: np.ndarray, order: list[Tensor], leaf_uses: dict[int, int],
          retain_graph: bool, jacobians: bool = False) -> Iterator[BackwardStep]:
    grads = {id(root): g}  # dL/dt for non-leaf tensors, summed over their uses so far
    leaf_grads: dict[int, np.ndarray] = {}
    for t in reversed(order):
        fn = t._ctx
        inputs, needs = fn.inputs, fn.needs_input_grad
        g = grads.pop(id(t), None)
        if g is not None:
            if t._hooks:
                g = _run_hooks(t, g)
            if t._retains_grad:
                _store_grad(t, g)
            out = fn.backward(fn, g)
            if type(out) is not tuple:
                out = (out,)
            if len(out) != len(inputs):
                raise RuntimeError(f"{type(fn).__name__}.backward returned {len(out)} "
                                   f"gradients for {len(inputs)} inputs")
        else:  # no gradient reached this op (every consumer returned None)
            out = (None,) * len(inputs)
        downstream = []
        for x, need, gx in zip(inputs, needs, out):
            if not need:
                downstream.append(None)
                continue
            downstream.append(gx)
            if gx is not None and gx.shape != x.data.shape:
                raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of "
                                   f"shape {gx.shape} for an input of shape {x.data.shape}")
            k = id(x)
            if x._ctx is not None:
                if gx is not None:
                    prev = grads.get(k)
                    grads[k] = gx if prev is None else prev + gx
                continue
            if gx is not None:  # a leaf: buffer until its last use
                prev = leaf_grads.get(k)
                leaf_grads[k] = gx if prev is None else prev + gx
            left = leaf_uses[k] - 1
            leaf_uses[k] = left
            if not left:
                acc = leaf_grads.pop(k, None)
                if acc is not None:
                    if x._hooks:
                        acc = _run_hooks(x, acc)
                    _store_grad(x, acc)
        if not retain_graph:
            fn.inputs = None  # unlink: intermediates become collectable
        if g is not None:  # tuple.__new__: a NamedTuple's own __new__ is slower
            yield _new_step(BackwardStep, (
                fn, type(fn).__name__, t, g, tuple(downstream), inputs,
                local_jacobians(fn, g, inputs, needs) if jacobians else None))


_new_step = tuple.__new__


# Ops are defined on top of Function; imported last to close the cycle.
from . import _random  # noqa: E402
from . import functional as _functional  # noqa: E402
from . import ops as _ops  # noqa: E402

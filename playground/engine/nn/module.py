"""Module: the base class of layers and models, as ``torch.nn.Module``."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np

from ..tensor import Tensor
from .parameter import Parameter

__all__ = ["Module", "IncompatibleKeys"]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _value_array(value: Any) -> np.ndarray:
    """A state-dict value as an ndarray: ndarray, engine Tensor or a CPU torch tensor."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, duck-typed
        value = value.detach().cpu().numpy()
    return np.asarray(value)


class Module:
    """Base class of every layer and model.

    Assigning a :class:`Parameter` or a Module to an attribute registers it (in
    definition order), so ``parameters()``, ``state_dict()``, ``train()`` and
    ``zero_grad()`` reach it. Buffers (``register_buffer``) are non-learnable state,
    such as BatchNorm's running statistics: in ``state_dict()`` but not in
    ``parameters()``. Names are dotted paths such as ``"0.weight"`` or
    ``"encoder.fc.bias"``, as in PyTorch. Subclasses call ``super().__init__()`` first and
    define ``forward``; calling the module calls ``forward``.

    Attributes:
        training: True in training mode (the default), False after ``eval()``.
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- registration -----------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, (Parameter, Module)):
            if params is None:
                raise AttributeError(f"cannot assign {name!r} before Module.__init__() is "
                                     f"called; call super().__init__() first in "
                                     f"{type(self).__name__}.__init__")
            if isinstance(value, Parameter):
                self._modules.pop(name, None)
                self._buffers.pop(name, None)
                params[name] = value
            else:
                params.pop(name, None)
                self._buffers.pop(name, None)
                self._modules[name] = value
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(a Tensor or None expected)")
            self._buffers[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter "
                                f"{name!r} (a Parameter or None expected)")
            params[name] = None
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (a Module or None expected)")
            self._modules[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers_set.discard(name)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None: a declared but absent parameter, like a Linear
        without bias) under ``name``.

        Raises:
            TypeError: ``param`` is neither a Parameter nor None.
        """
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            "(a Parameter or None expected)")
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._modules.pop(name, None)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register ``tensor`` as a buffer: module state that is not learned (e.g.
        BatchNorm's ``running_mean``). It is reachable as an attribute, listed by
        ``buffers()``, and, if ``persistent``, saved in ``state_dict()``. An ndarray is
        wrapped in a Tensor (keeping its dtype); None declares an absent buffer.

        Raises:
            TypeError: ``tensor`` is not a Tensor, ndarray or None, or ``name`` is not
                a string.
            KeyError: ``name`` is empty, contains ".", or is already an attribute that
                is not a buffer.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"buffer name can't be empty or contain '.', got {name!r}")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        if isinstance(tensor, np.ndarray):
            tensor = Tensor(tensor)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} "
                            "(a Tensor, an ndarray or None expected)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as a child under ``name``.

        Raises:
            TypeError: ``module`` is not a Module (or None).
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        self._parameters.pop(name, None)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # -- traversal --------------------------------------------------------------------

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True,
                      _memo: set | None = None) -> Iterator[tuple[str, "Module"]]:
        """``(dotted_name, module)`` for self (name ``prefix``) and every descendant, depth
        first in registration order; a module reachable by two paths is listed once
        unless ``remove_duplicate=False``."""
        memo = set() if _memo is None else _memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate, memo)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, child in self.named_children():
            yield child

    def _named_params(self, prefix: str, recurse: bool, remove_duplicate: bool
                      ) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        mods = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, Parameter)`` pairs, each shared parameter once."""
        return self._named_params(prefix, recurse, remove_duplicate=True)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted_name, buffer)`` pairs (persistent or not), each shared buffer once."""
        seen = set()
        mods = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, b in mod._buffers.items():
                if b is None or (remove_duplicate and id(b) in seen):
                    continue
                seen.add(id(b))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _named_state(self) -> Iterator[tuple[str, Tensor]]:
        """What ``state_dict()`` holds, in PyTorch's order: per module (depth first), its
        parameters, then its persistent buffers; shared tensors under each name."""
        for mod_prefix, mod in self.named_modules(remove_duplicate=False):
            for name, p in mod._parameters.items():
                if p is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers_set:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    # -- modes and gradients ----------------------------------------------------------

    def train(self, mode: bool = True) -> "Module":
        """Set training mode on self and every descendant; returns self."""
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default), or fill it with 0."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.fill(0)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # -- state dict -------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted_name: copy of the array}`` for every parameter and persistent buffer,
        in PyTorch's order (per module: parameters, then buffers; a shared tensor
        appears under each of its names)."""
        return {k: t.data.copy() for k, t in self._named_state()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True
                        ) -> IncompatibleKeys:
        """Copy values into the parameters and persistent buffers in place (cast to each
        one's dtype).

        Values may be numpy arrays, engine Tensors, or CPU torch tensors. Nothing is
        copied unless every entry checks out.

        Args:
            state_dict: ``{dotted_name: array}``, e.g. from ``state_dict()`` here or from
                a torch module with the same structure.
            strict: require exactly the same keys.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            RuntimeError: a shape differs, a value is not numeric, or (strict) keys are
                missing or unexpected; the message names every offending key.
        """
        own = dict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(repr(k) for k in unexpected) + ".")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: "
                          + ", ".join(repr(k) for k in missing) + ".")
        values = {}
        for key, param in own.items():
            if key not in state_dict:
                continue
            try:
                value = _value_array(state_dict[key])
            except Exception as exc:  # noqa: BLE001 - reported with the key
                errors.append(f"value for {key!r} is not an array: {exc}")
                continue
            if value.dtype.kind not in "fiub":
                errors.append(f"value for {key!r} has non-numeric dtype {value.dtype}")
            elif value.shape != param.data.shape:
                errors.append(f"size mismatch for {key!r}: copying a param with shape "
                              f"{value.shape} from the checkpoint, the shape in the current "
                              f"model is {param.data.shape}.")
            else:
                values[key] = value
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:"
                               "\n\t" + "\n\t".join(errors))
        for key, value in values.items():
            own[key].data[...] = value
        return IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): " + repr(m).replace("\n", "\n  ")
                    for name, m in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

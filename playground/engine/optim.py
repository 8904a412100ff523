"""Optimizers, as ``torch.optim``: SGD and Adam with PyTorch's exact update rules.

Hyperparameters live in ``param_groups`` (a list of dicts with ``'params'``, ``'lr'``,
...) and are read on every ``step()``, so they can be changed live::

    for group in opt.param_groups:
        group["lr"] = 0.01

Updates are in place on each parameter's ``.data`` (never on the tape) with in-place
numpy ops. Parameters whose ``.grad`` is None are skipped.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from .grad_mode import enable_grad
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Base class. ``params`` is an iterable of Tensors, or of dicts (param groups) with
    a ``'params'`` list and optional per-group hyperparameters overriding ``defaults``.

    Attributes:
        param_groups: list of dicts: ``'params'`` (list of Tensors) plus every key of
            ``defaults``.
        state: per-parameter state (``{Tensor: dict}``), e.g. Adam's moments.

    Raises:
        ValueError: empty ``params``, a parameter in two groups, or a non-leaf parameter.
        TypeError: a parameter that is not a Tensor.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or dicts, got a single "
                            "Tensor; wrap it in a list")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones come from
        ``defaults``)."""
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (make it a Parameter or "
                                 "a leaf with requires_grad=True)")
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default), or fill it with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a ``.grad``. ``closure``, if given, re-evaluates
        the model and returns the loss (run with grad enabled); its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _check(name: str, value: float, ok: bool) -> None:
    if not ok:
        raise ValueError(f"Invalid {name}: {value}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, PyTorch's formulation
    (torch/optim/sgd.py). Per parameter p with gradient g:

        g = g + weight_decay * p                      (if weight_decay != 0)
        b = g on the first step, else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b       (if momentum != 0)
        p = p - lr * g

    Nesterov momentum after Sutskever et al. (2013), "On the importance of initialization
    and momentum in deep learning".

    Raises:
        ValueError: negative lr, momentum or weight_decay; nesterov without momentum or
            with dampening.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False):
        _check("learning rate", lr, lr >= 0.0)
        _check("momentum value", momentum, momentum >= 0.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, momentum = group["lr"], group["momentum"]
        dampening, weight_decay = group["dampening"], group["weight_decay"]
        nesterov = group["nesterov"]
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if weight_decay != 0:
                g = g + weight_decay * p.data
            if momentum != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = np.array(g, dtype=p.data.dtype)
                else:
                    buf *= momentum
                    if dampening == 0:
                        buf += g
                    else:
                        buf += (1 - dampening) * g
                g = g + momentum * buf if nesterov else buf
            p.data -= lr * g


class Adam(Optimizer):
    """Adam, PyTorch's formulation (torch/optim/adam.py). Per parameter p with gradient
    g, at step t = 1, 2, ...:

        g = g + weight_decay * p                       (L2 penalty, if weight_decay != 0)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v); use v_max for v          (if amsgrad)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Sources: Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", Algorithm
    1; AMSGrad from Reddi et al. (2018), "On the Convergence of Adam and Beyond".

    Raises:
        ValueError: negative lr, eps or weight_decay, or a beta outside [0, 1).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False):
        _check("learning rate", lr, lr >= 0.0)
        _check("epsilon value", eps, eps >= 0.0)
        _check("beta parameter at index 0", betas[0], 0.0 <= betas[0] < 1.0)
        _check("beta parameter at index 1", betas[1], 0.0 <= betas[1] < 1.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2) = group["lr"], group["betas"]
        eps, weight_decay, amsgrad = group["eps"], group["weight_decay"], group["amsgrad"]
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0,
                                         "exp_avg": np.zeros_like(p.data),
                                         "exp_avg_sq": np.zeros_like(p.data)}
                if amsgrad:
                    state["max_exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] = t = state["step"] + 1
            if weight_decay != 0:
                g = g + weight_decay * p.data
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            sq = g * g
            sq *= 1 - beta2
            v += sq
            if amsgrad:
                v_max = state.get("max_exp_avg_sq")
                if v_max is None:  # amsgrad switched on after the first step
                    v_max = state["max_exp_avg_sq"] = np.zeros_like(v)
                v = np.maximum(v_max, v, out=v_max)
            denom = np.sqrt(v)
            denom /= math.sqrt(1 - beta2 ** t)
            denom += eps
            np.divide(m, denom, out=denom)
            denom *= lr / (1 - beta1 ** t)
            p.data -= denom

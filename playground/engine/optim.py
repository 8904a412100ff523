"""Optimizers, as ``torch.optim``: SGD, Adagrad, RMSprop, Adam and AdamW with PyTorch's
exact update rules (its docs' pseudo-code and ``_single_tensor_*`` implementations), and
learning-rate schedules in :mod:`.lr_scheduler` (``optim.lr_scheduler.StepLR``).

Hyperparameters live in ``param_groups`` (a list of dicts with ``'params'``, ``'lr'``,
...) and are read on every ``step()``, so they can be changed live::

    for group in opt.param_groups:
        group["lr"] = 0.01

Updates are in place on each parameter's ``.data`` (never on the tape) with in-place
numpy ops. Parameters whose ``.grad`` is None are skipped.

``state_dict()`` / ``load_state_dict()`` use torch's layout and state names
(``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}``), so a
torch optimizer's state dict loads here (and ours into torch once the arrays are turned
into tensors).
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterable

import numpy as np

from .grad_mode import enable_grad
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler"]


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

    # -- state dicts ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as torch lays it out: ``{'state': {i: {name: value}},
        'param_groups': [group with 'params' as indices]}``, parameters numbered in
        param-group order. Arrays are copies; ``step`` is an int."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict from :meth:`state_dict` (or from a torch optimizer of the same
        kind: tensors become arrays in each parameter's dtype, ``step`` an int). The saved
        hyperparameters replace the current ones, as in torch.

        Raises:
            ValueError: the number of groups, or of parameters in a group, differs.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than the optimizer "
                             f"({len(self.param_groups)})")
        id_map: dict[Any, Tensor] = {}
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group "
                                 f"({len(saved['params'])} vs {len(group['params'])})")
            id_map.update(zip(saved["params"], group["params"]))
        self.state = {}
        for key, values in state_dict["state"].items():
            p = id_map.get(key)
            if p is None:
                continue
            self.state[p] = {name: _state_value(name, v, p) for name, v in values.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            for k, v in self.defaults.items():
                new.setdefault(k, v)
            if "betas" in new:
                new["betas"] = tuple(float(b) for b in new["betas"])
            new["params"] = group["params"]
            new_groups.append(new)
        self.param_groups = new_groups

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _state_value(name: str, value: Any, p: Tensor) -> Any:
    """A loaded state entry: torch tensors (duck-typed) and arrays become owned arrays in
    the parameter's dtype; ``step`` becomes an int."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    if name == "step":
        return int(np.asarray(value).item())
    if isinstance(value, np.ndarray):
        return np.array(value, dtype=p.data.dtype if value.dtype.kind == "f" else None)
    return copy.deepcopy(value)


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


class Adagrad(Optimizer):
    """Adagrad, PyTorch's formulation (torch/optim/adagrad.py). Per parameter p with
    gradient g, at step t = 1, 2, ... (the sum starts at ``initial_accumulator_value``):

        g = g + weight_decay * p                      (if weight_decay != 0)
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g^2
        p = p - clr * g / (sqrt(sum) + eps)

    Source: Duchi, Hazan & Singer (2011), "Adaptive subgradient methods for online learning
    and stochastic optimization", JMLR 12.

    Raises:
        ValueError: negative lr, lr_decay, weight_decay, initial_accumulator_value or eps.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10):
        _check("learning rate", lr, lr >= 0.0)
        _check("lr_decay value", lr_decay, lr_decay >= 0.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        _check("initial_accumulator_value value", initial_accumulator_value,
               initial_accumulator_value >= 0.0)
        _check("epsilon value", eps, eps >= 0.0)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps))
        for group in self.param_groups:  # torch creates the state up front
            for p in group["params"]:
                self.state[p] = {"step": 0, "sum": np.full_like(
                    p.data, group["initial_accumulator_value"])}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay = group["weight_decay"]
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            state = self.state.get(p)
            if state is None:  # a group added after construction
                state = self.state[p] = {"step": 0, "sum": np.full_like(
                    p.data, group["initial_accumulator_value"])}
            state["step"] = t = state["step"] + 1
            if weight_decay != 0:
                g = g + weight_decay * p.data
            clr = lr / (1 + (t - 1) * lr_decay)
            acc = state["sum"]
            acc += g * g
            std = np.sqrt(acc)
            std += eps
            np.divide(g, std, out=std)
            std *= clr
            p.data -= std


class RMSprop(Optimizer):
    """RMSprop, PyTorch's formulation (torch/optim/rmsprop.py). Per parameter p with
    gradient g (v, b and g_avg start at 0):

        g = g + weight_decay * p                      (if weight_decay != 0)
        v = alpha * v + (1 - alpha) * g^2
        g_avg = alpha * g_avg + (1 - alpha) * g;  v~ = v - g_avg^2    (if centered)
        d = sqrt(v~ or v) + eps
        b = momentum * b + g / d;  p = p - lr * b     (if momentum > 0)
        p = p - lr * g / d                            (otherwise)

    Source: Hinton, "Neural networks for machine learning", lecture 6e (2012); the centered
    form from Graves (2013), "Generating sequences with recurrent neural networks", eq. 38-45.

    Raises:
        ValueError: negative lr, alpha, eps, momentum or weight_decay.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False):
        _check("learning rate", lr, lr >= 0.0)
        _check("epsilon value", eps, eps >= 0.0)
        _check("momentum value", momentum, momentum >= 0.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        _check("alpha value", alpha, alpha >= 0.0)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum, centered = (group["weight_decay"], group["momentum"],
                                            group["centered"])
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "square_avg": np.zeros_like(p.data)}
                if momentum > 0:
                    state["momentum_buffer"] = np.zeros_like(p.data)
                if centered:
                    state["grad_avg"] = np.zeros_like(p.data)
            state["step"] += 1
            if weight_decay != 0:
                g = g + weight_decay * p.data
            v = state["square_avg"]
            v *= alpha
            v += (1 - alpha) * (g * g)
            if centered:
                g_avg = state.setdefault("grad_avg", np.zeros_like(p.data))
                g_avg += (1 - alpha) * (g - g_avg)  # torch's lerp
                avg = v - g_avg * g_avg
                np.sqrt(avg, out=avg)
            else:
                avg = np.sqrt(v)
            avg += eps
            if momentum > 0:
                buf = state.setdefault("momentum_buffer", np.zeros_like(p.data))
                buf *= momentum
                buf += g / avg
                p.data -= lr * buf
            else:
                np.divide(g, avg, out=avg)
                avg *= lr
                p.data -= avg


class Adam(Optimizer):
    """Adam, PyTorch's formulation (torch/optim/adam.py). Per parameter p with gradient
    g, at step t = 1, 2, ...:

        p = p * (1 - lr * weight_decay)                (decoupled_weight_decay: AdamW)
        g = g + weight_decay * p                       (otherwise: L2 penalty)
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
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False):
        _check("learning rate", lr, lr >= 0.0)
        _check("epsilon value", eps, eps >= 0.0)
        _check("beta parameter at index 0", betas[0], 0.0 <= betas[0] < 1.0)
        _check("beta parameter at index 1", betas[1], 0.0 <= betas[1] < 1.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2) = group["lr"], group["betas"]
        eps, weight_decay, amsgrad = group["eps"], group["weight_decay"], group["amsgrad"]
        decoupled = group.get("decoupled_weight_decay", False)
        if not amsgrad and weight_decay == 0 and self._update_flat(group, lr, beta1, beta2,
                                                                    eps):
            return
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
                if decoupled:
                    p.data *= 1 - lr * weight_decay
                else:
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
            denom = np.sqrt(v, out=np.empty_like(v))  # an array even for a 0-d parameter
            denom /= math.sqrt(1 - beta2 ** t)
            denom += eps
            np.divide(m, denom, out=denom)
            denom *= lr / (1 - beta1 ** t)
            p.data -= denom


    def _update_flat(self, group: dict[str, Any], lr: float, beta1: float, beta2: float,
                     eps: float) -> bool:
        """The update of :meth:`_update_group` (no weight decay, no amsgrad) for all the
        group's parameters at once: their moments live in one flat buffer each
        (``state[p]['exp_avg']`` and ``['exp_avg_sq']`` are views into them) and the
        gradients are concatenated, so the ~11 numpy calls per parameter become ~11 in
        all plus one subtraction per parameter. The same elementwise float operations
        in the same order, so the results are identical to the per-parameter loop.

        Returns False, changing nothing, when the group does not fit: fewer than two
        parameters with a gradient, mixed dtypes or shapes, or states that are not
        all fresh or all at the same step (e.g. after ``load_state_dict`` of a partial
        state); the caller then runs the per-parameter loop."""
        params = [p for p in group["params"] if p.grad is not None]
        if len(params) < 2:
            return False
        dtype = params[0].data.dtype
        if dtype.kind != "f":
            return False
        state = self.state
        cache = getattr(self, "_flat", None)
        if cache is None:
            cache = self._flat = {}
        entry = cache.get(id(group))
        step = None
        if entry is not None:  # still valid: same params, state arrays still our views
            cparams, m_flat, v_flat, m_views, v_views = entry
            if len(cparams) == len(params):
                st0 = state.get(params[0])
                step = None if st0 is None else st0.get("step")
                for p, q, m, v in zip(params, cparams, m_views, v_views):
                    st = state.get(p)
                    if (p is not q or st is None or st.get("exp_avg") is not m
                            or st.get("exp_avg_sq") is not v or st.get("step") != step
                            or p.data.shape != m.shape or p.grad.shape != m.shape
                            or p.data.dtype != dtype or p.grad.dtype != dtype):
                        entry = None
                        break
            else:
                entry = None
        if entry is None:
            entry = self._flat_state(params, dtype)
            if entry is None:
                return False
            live = {id(g) for g in self.param_groups}
            for key in [k for k in cache if k not in live]:
                del cache[key]
            cache[id(group)] = entry
            step = state[params[0]]["step"]
        _, m_flat, v_flat, m_views, _ = entry
        g = np.concatenate([p.grad.reshape(-1) for p in params])
        t = step + 1
        for p in params:
            state[p]["step"] = t
        m_flat *= beta1
        m_flat += (1 - beta1) * g
        v_flat *= beta2
        sq = g * g
        sq *= 1 - beta2
        v_flat += sq
        denom = np.sqrt(v_flat)
        denom /= math.sqrt(1 - beta2 ** t)
        denom += eps
        np.divide(m_flat, denom, out=denom)
        denom *= lr / (1 - beta1 ** t)
        start = 0
        for p, m in zip(params, m_views):
            stop = start + m.size
            p.data -= denom[start:stop].reshape(m.shape)
            start = stop
        return True

    def _flat_state(self, params: list, dtype: Any) -> tuple | None:
        """Move the params' Adam moments into flat buffers (fresh states start at zero);
        None when the states are mixed (some fresh, different steps, other shapes)."""
        states = [self.state.get(p) for p in params]
        fresh = [st is None for st in states]
        if any(fresh) and not all(fresh):
            return None
        for p in params:
            if p.data.dtype != dtype or p.grad.dtype != dtype or p.grad.shape != p.data.shape:
                return None
        if not all(fresh):
            steps = {st.get("step") for st in states}
            if len(steps) != 1 or not isinstance(next(iter(steps)), int):
                return None
            for p, st in zip(params, states):
                m, v = st.get("exp_avg"), st.get("exp_avg_sq")
                if not (isinstance(m, np.ndarray) and isinstance(v, np.ndarray)
                        and m.shape == v.shape == p.data.shape):
                    return None
        total = sum(p.data.size for p in params)
        m_flat, v_flat = np.zeros(total, dtype), np.zeros(total, dtype)
        m_views, v_views = [], []
        start = 0
        for p, st in zip(params, states):
            stop = start + p.data.size
            m = m_flat[start:stop].reshape(p.data.shape)
            v = v_flat[start:stop].reshape(p.data.shape)
            if st is None:
                st = self.state[p] = {"step": 0}
            else:
                m[...] = st["exp_avg"]
                v[...] = st["exp_avg_sq"]
            st["exp_avg"], st["exp_avg_sq"] = m, v
            m_views.append(m)
            v_views.append(v)
            start = stop
        return tuple(params), m_flat, v_flat, m_views, v_views


class AdamW(Adam):
    """Adam with decoupled weight decay, PyTorch's formulation (torch/optim/adamw.py):
    before each Adam step, p = p * (1 - lr * weight_decay), instead of adding
    weight_decay * p to the gradient (so the decay is not rescaled by Adam's
    denominator). Update otherwise as :class:`Adam`. Note the default
    weight_decay = 1e-2. Source: Loshchilov & Hutter (2019), "Decoupled Weight Decay
    Regularization", Algorithm 2.

    Raises:
        ValueError: negative lr, eps or weight_decay, or a beta outside [0, 1).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # always decoupled, as torch's AdamW
            group["decoupled_weight_decay"] = True


# Schedules need Optimizer; imported last to close the cycle (torch.optim.lr_scheduler).
from . import lr_scheduler  # noqa: E402

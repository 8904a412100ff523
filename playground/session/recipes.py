"""Training recipes: how a Session turns batches into parameter updates.

A project declares its recipe in the file's ``"recipe"`` object. The project layer checks
the fields' types (``playground.project.format.validate_recipe``); binding a recipe to the
compiled graph checks that the node ids exist and the wiring fits, and raises
:class:`SessionError` naming the field otherwise.

``{"type": "supervised"}`` (the default)
    One optimizer (``training``), one batch per step, the loss is the sum of the graph's
    loss nodes. A sequence-to-sequence graph trained with teacher forcing (a ShiftRight
    node fed by the Dataset's target gives the decoder its input) also reports
    ``val_greedy_accuracy``: the per-token accuracy of greedy autoregressive decoding
    (:func:`greedy_decode`) on the first ``GREEDY_EVAL_SEQUENCES`` held-out sequences,
    next to ``val_accuracy``, which is teacher-forced, over the whole held-out split.
    With ``"decoding": {"beam_width": k, "sequences": n, "length_penalty": α}`` it decodes
    the first n held-out sequences greedily and by beam search instead and reports
    ``exact_match_greedy``, ``exact_match_beam``, ``log_prob_greedy``, ``log_prob_beam``
    (see :func:`playground.session.decoding.decoding_metrics`).

``{"type": "vae", "beta": 1.0, "kl": "<node id>", "latent": "<node id>"}``
    A variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").
    The graph draws the whole model: an encoder giving ``mu`` and ``logvar``, a
    Reparameterize node (``z = mu + exp(logvar / 2) * eps``, eps ~ N(0, I)), a decoder, a
    reconstruction loss and a GaussianKL loss node. The loss is
    ``reconstruction + beta * kl``: for beta = 1 the negative ELBO, per example, and beta > 1
    is the beta-VAE of Higgins et al. (2017). A loss node with ``reduction="sum"`` (summed
    over the batch) is divided by the batch size N, so that each term is per example, as
    the ELBO is (Kingma & Welling's estimator averaged over the minibatch), and training and
    held-out values compare; use "sum" for the reconstruction (all pixels of an example
    count) and "batchmean" or "sum" for the KL.

    * ``beta``: weight of the KL term, ≥ 0 (default 1.0).
    * ``kl``: id of the KL loss node (default: the one GaussianKL node).
    * ``latent``: id of the node whose output is the latent code z (default: the one
      Reparameterize node). Its ``mu`` input gives the latent view's points; feeding z into
      it and running the decoder gives the manifold view.

    Every other loss node is reconstruction. Metrics: ``loss``, ``reconstruction``, ``kl``,
    ``elbo`` (= -(reconstruction + kl)) and ``val_`` of each on the held-out split.

``{"type": "gan", "generator": [...], "discriminator": [...], "d_steps": 1,
"g_loss": "non_saturating", "g_optimizer": {...}, "d_optimizer": {...}}``
    A generative adversarial network (Goodfellow et al. 2014, Algorithm 1). The graph
    draws noise -> generator -> discriminator -> logits: the discriminator's one input from
    outside it must be wired from the generator's samples. The recipe feeds the same input
    the Dataset's real batch in turn, and computes both players' losses itself (no loss
    node is needed):

        d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0)
        g_loss = BCE(D(G(z)), 1)                      "non_saturating" (the default)
        g_loss = -BCE(D(G(z)), 0) = E log(1 - D(G(z)))  "minimax", the original game

    with BCE on logits. One step is ``d_steps`` discriminator updates (each on a fresh real
    batch and fresh noise, the generator held fixed) then one generator update (the
    discriminator held fixed). The minimax loss saturates when D rejects the samples
    confidently, which is why the non-saturating one is the default (Goodfellow et al.
    2014, section 3).

    * ``generator``, ``discriminator``: node ids; each side's optimizer owns its nodes'
      parameters. Every node with parameters must be on one side.
    * ``d_steps``: discriminator updates per generator update (k in Algorithm 1), 1..100.
    * ``g_loss``: ``"non_saturating"`` or ``"minimax"``.
    * ``g_optimizer``, ``d_optimizer``: ``optimizer``, ``lr``, ``momentum``, ``nesterov``,
      ``weight_decay``, ``betas``; what is left out comes from ``training``.

    Metrics: ``d_loss``, ``g_loss``, ``loss`` (their sum), ``d_real`` and ``d_fake`` (the
    discriminator's mean probability of "real" on each), and every k steps
    ``modes_covered`` and ``high_quality`` (see :func:`mode_coverage`; for images
    :func:`class_coverage`, and ``frechet_distance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from playground.engine import Tensor, optim
from playground.graph import Trace
from playground.project.format import OPTIMIZERS

from .autoencoder import autoencoder_views
from .decoding import decoding_metrics

if TYPE_CHECKING:  # pragma: no cover
    from .health import Probe
    from .session import Session


class RecipeError(ValueError):
    """The graph does not fit the recipe; the message names the field and the fix."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def grid_points(lo: np.ndarray, hi: np.ndarray, res: int
                ) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """``res * res`` points (float32, (res², 2)) on a grid over the box ``lo``..``hi``,
    row by row from y = lo[1] up (so ``values.reshape(res, res)`` is an image with y on its
    rows), and the box's x and y ranges."""
    xs, ys = np.linspace(lo[0], hi[0], res), np.linspace(lo[1], hi[1], res)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    return pts, (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def make_schedulers(optimizers: list, training, step: int = 0) -> list:
    """The learning-rate schedulers ``training.lr_schedule`` asks for, one per optimizer
    (``[]`` for ``"none"``), advanced to training step ``step`` (so that a rebuilt optimizer,
    e.g. after a live settings change, resumes the schedule where the run is). One scheduler
    step per training step; CosineAnnealingLR's ``T_max`` is ``training.steps``."""
    kind = getattr(training, "lr_schedule", "none")
    if kind == "none":
        return []
    out = []
    for opt in optimizers:
        if kind == "StepLR":
            sch = optim.lr_scheduler.StepLR(opt, step_size=training.step_size,
                                            gamma=training.gamma)
        else:
            sch = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=training.steps)
        for _ in range(step):
            sch.step()
        out.append(sch)
    return out


def make_optimizer(params: list, training, overrides: Mapping[str, Any] | None = None
                   ) -> optim.Optimizer:
    """The optimizer named by the ``training`` settings (one of
    ``playground.project.format.OPTIMIZERS``) over ``params``, with ``overrides`` (a GAN
    side's optimizer object) taking precedence. ``momentum`` serves SGD and RMSprop,
    ``nesterov`` SGD, ``betas`` Adam and AdamW; the others keep PyTorch's defaults."""
    o = dict(overrides or {})
    name = o.get("optimizer", training.optimizer)
    lr = o.get("lr", training.lr)
    wd = o.get("weight_decay", training.weight_decay)
    momentum = o.get("momentum", training.momentum)
    if name == "SGD":
        nesterov = o.get("nesterov", training.nesterov) and momentum > 0
        return optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=wd)
    if name == "Adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "RMSprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd)
    betas = tuple(o.get("betas", (0.9, 0.999)))
    if name == "AdamW":
        return optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)
    if name != "Adam":
        raise ValueError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    return optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)


# --------------------------------------------------------------------------- supervised


class Recipe:
    """Supervised training, and the interface every recipe has.

    A recipe is made for a Session and bound again whenever the Session recompiles (a
    reset or a live edit): :meth:`bind` checks the graph and makes the optimizers.
    """

    type = "supervised"
    needs_loss_nodes = True

    def __init__(self, session: "Session", fields: Mapping[str, Any]):
        self.s = session
        self.fields = dict(fields)
        self.optimizer: optim.Optimizer | None = None

    # -- binding ------------------------------------------------------------------

    def bind(self) -> None:
        """Check the compiled graph against the recipe and make the optimizers.

        Raises:
            RecipeError: the message names the recipe field or node at fault.
        """
        self.shift = teacher_forcing_node(self.s)
        self.make_optimizers()

    def make_optimizers(self) -> None:
        params = list(self.s.program.parameters())
        if not params:
            raise RecipeError("the graph has no weights to train: put a layer with "
                              "parameters (Linear, Conv2d, ...) between the data and the loss")
        self.optimizer = make_optimizer(params, self.s.training)
        self.make_schedules()

    def make_schedules(self) -> None:
        """(Re)make the LR schedulers of ``training.lr_schedule`` at the current step, from
        each optimizer's own base learning rate (a live change of the schedule)."""
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = group.pop("initial_lr", group["lr"])
        self.schedulers = make_schedulers(self.optimizers, self.s.training,
                                          getattr(self.s, "step_count", 0))

    def step_schedules(self) -> None:
        """One scheduler step per training step (``training.lr_schedule``)."""
        for sch in getattr(self, "schedulers", ()):
            sch.step()

    @property
    def optimizers(self) -> list[optim.Optimizer]:
        return [self.optimizer]

    # -- the objective --------------------------------------------------------------

    def objective(self, trace: Trace) -> Tensor:
        """The scalar minimised, from a pass of the graph as drawn (stepping and gradient
        checks differentiate this)."""
        losses = self.s.program.losses
        loss = trace[losses[0]]["output"]
        for extra in losses[1:]:
            loss = loss + trace[extra]["output"]
        return loss

    def metrics(self, trace: Trace, loss: Tensor, target: np.ndarray, prefix: str = ""
                ) -> dict[str, float]:
        out = {f"{prefix}loss": float(loss.data)}
        acc = self.s.accuracy(trace, target)
        if acc is not None:
            out[f"{prefix}accuracy"] = acc
        return out

    # -- training -------------------------------------------------------------------

    def train_step(self, probe: "Probe | None" = None) -> tuple[dict[str, float], Trace]:
        """One iteration; returns its metrics and the trace of its (probed) pass."""
        s = self.s
        x, y = s.loader.next_batch()
        s.batch = (x, y)
        self.optimizer.zero_grad()
        trace = s.run(s.feeds(x, y), probe=probe)
        loss = self.objective(trace)
        if not loss.requires_grad:
            raise RecipeError("the loss depends on no parameter, so there is nothing to "
                              "learn: wire a layer with weights (Linear, Conv2d, ...) into "
                              "the loss's input")
        loss.backward()
        s.clip_gradients()  # training.clip_grad_norm (off unless set)
        self.optimizer.step()
        self.step_schedules()
        return self.metrics(trace, loss, y), trace

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics (``val_*``) on the whole held-out split, under ``no_grad``."""
        s = self.s
        val = s.dataset.val
        with s.inference():
            trace = s.run(s.feeds(val.input, val.target))
            loss = self.objective(trace)
        out = self.metrics(trace, loss, val.target, prefix="val_")
        decoding = self.fields.get("decoding")
        if getattr(self, "shift", None) is not None and "val_accuracy" in out and decoding:
            n = decoding["sequences"]  # greedy and beam search, exact match
            out.update(decoding_metrics(s, val.input[:n], val.target[:n], decoding))
        elif getattr(self, "shift", None) is not None and "val_accuracy" in out:
            n = GREEDY_EVAL_SEQUENCES  # (L passes each: a subset keeps evaluation cheap)
            out["val_greedy_accuracy"] = float(np.mean(greedy_decode(s, val.input[:n])
                                                       == val.target[:n]))
        return out

    def views(self, small: bool = False) -> dict[str, Any]:
        """Data for the recipe's own views: for an autoencoder (a loss whose target is the
        Dataset's x) its reconstructions and code space (:mod:`.autoencoder`), else none."""
        return autoencoder_views(self.s, small)


#: Held-out sequences decoded greedily at each evaluation (each costs L forward passes).
GREEDY_EVAL_SEQUENCES = 500


def teacher_forcing_node(session: "Session") -> str | None:
    """The id of the ShiftRight node that feeds the Dataset's target to a decoder (teacher
    forcing), when the graph has one and a CrossEntropyLoss names the logits; else None."""
    s = session
    if s.logits_node is None:
        return None
    for call in s.program.calls:
        if call.spec.type == "ShiftRight" and \
                any(src == s.data_node and port == "target" for _, src, port in call.inputs):
            return call.node_id
    return None


def greedy_decode(session: "Session", x: np.ndarray) -> np.ndarray:
    """Greedy autoregressive decoding of a teacher-forced sequence model, in eval mode.

    The graph learns p(y_t | y_<t, x) with the true tokens y_<t as the decoder's input
    (ShiftRight of the Dataset's target). Here the model's own predictions replace them:
    pass t feeds the predictions so far as the "target" (later positions hold 0, which a
    causal decoder cannot see) and keeps the argmax at position t, for t = 0..L-1. The
    true target is never fed, so the result is what the model produces on its own.

    Args:
        x: int64 (N, L) source sequences.

    Returns:
        int64 (N, L) predicted tokens.

    Raises:
        ValueError: the graph has no teacher-forcing ShiftRight node (see
            :func:`teacher_forcing_node`).
    """
    s = session
    if teacher_forcing_node(s) is None:
        raise ValueError("greedy decoding needs a ShiftRight node fed by the Dataset's target "
                         "(the decoder's input) and a CrossEntropyLoss on the logits")
    node, port = s.logits_node
    need = s.program.ancestors(node)
    length = s.dataset.target_shape[0]
    y = np.zeros((len(x), length), dtype=np.int64)
    with s.inference():
        for t in range(length):
            logits = s.program.run(s.feeds(x, y), until=need)[node][port].data
            # (N, C, L) as PyTorch's loss takes it, or (N, L, C)
            step = logits[:, :, t] if logits.shape[2:] == (length,) else logits[:, t]
            y[:, t] = step.argmax(axis=-1)
    return y


# --------------------------------------------------------------------------------- VAE


class VAE(Recipe):
    """Reconstruction + beta * KL with reparameterization (see the module docstring)."""

    type = "vae"

    def bind(self) -> None:
        s = self.s
        program = s.program
        kl = self.fields.get("kl")
        if kl is None:
            kls = [n for n in program.losses if program.call(n).spec.type == "GaussianKL"]
            if len(kls) != 1:
                raise RecipeError(f"the vae recipe needs one GaussianKL loss node, found "
                                  f"{len(kls)}; add one fed by the encoder's mu and logvar, "
                                  "or name it in recipe.kl")
            kl = kls[0]
        elif kl not in program.losses:
            raise RecipeError(f"recipe.kl: {kl!r} is not a loss node of the graph")
        latent = self.fields.get("latent")
        if latent is None:
            lat = [c.node_id for c in program.calls if c.spec.type == "Reparameterize"]
            if len(lat) != 1:
                raise RecipeError(f"the vae recipe needs one Reparameterize node, found "
                                  f"{len(lat)}; add one, or name the latent node in "
                                  "recipe.latent")
            latent = lat[0]
        elif not _has(program, latent):
            raise RecipeError(f"recipe.latent: the graph has no node {latent!r}")
        self.kl, self.latent = kl, latent
        self.reconstruction = [n for n in program.losses if n != kl]
        if not self.reconstruction:
            raise RecipeError("the vae recipe needs a reconstruction loss node besides the KL "
                              "(e.g. BCEWithLogitsLoss of the decoder's output against the "
                              "Dataset's x)")
        call = program.call(latent)
        port = next((p for p, _, _ in call.inputs if p == "mu"), None) or \
            (call.inputs[0][0] if call.inputs else None)
        self.mu = next(((src, sp) for p, src, sp in call.inputs if p == port), None)
        rec = program.call(self.reconstruction[0])
        self.decoded = next(((src, sp) for p, src, sp in rec.inputs if p == "input"),
                            None)
        self.beta = float(self.fields.get("beta", 1.0))
        self.summed = {n for n in [*self.reconstruction, kl]
                       if _params(s, n).get("reduction") == "sum"}
        super().bind()

    def _term(self, trace: Trace, node: str) -> Tensor:
        value = trace[node]["output"]
        if node in self.summed:  # summed over the batch: per example, as the ELBO is
            value = value * (1.0 / len(trace[self.s.data_node]["x"].data))
        return value

    def objective(self, trace: Trace) -> Tensor:
        rec = self._term(trace, self.reconstruction[0])
        for extra in self.reconstruction[1:]:
            rec = rec + self._term(trace, extra)
        kl = self._term(trace, self.kl)
        self._terms = (rec, kl)
        return rec + self.beta * kl

    def metrics(self, trace, loss, target, prefix=""):
        rec, kl = (float(t.data) for t in self._terms)
        return {f"{prefix}loss": float(loss.data), f"{prefix}reconstruction": rec,
                f"{prefix}kl": kl, f"{prefix}elbo": -(rec + kl)}

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The latent means (M, D) of inputs ``x`` (M, *F), in eval mode."""
        s = self.s
        if self.mu is None:
            return np.zeros((len(x), 0), np.float32)
        src, port = self.mu
        dummy = np.zeros((len(x), *s.dataset.target_shape), np.int64)
        with s.inference():
            trace = s.run(s.feeds(x, dummy), until=s.program.ancestors(src))
        return trace[src][port].data

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The decoder's output for latent codes ``z`` (M, D), through a sigmoid when the
        reconstruction loss takes logits; reshaped to the dataset's images when it has
        them. Runs in eval mode."""
        s = self.s
        src, port = self.decoded
        program = s.program
        encoder = program.ancestors(self.latent) - {self.latent}
        need = program.ancestors(src) - encoder
        out_port = program.call(self.latent).spec.outputs[0].name
        feeds = {self.latent: {out_port: Tensor(z.astype(np.float32))}}
        with s.inference():
            trace = s.run(feeds, until=need)
        y = trace[src][port].data
        if "Logits" in program.call(self.reconstruction[0]).spec.type:
            y = _sigmoid(y)
        shape = s.dataset.image_shape
        if shape is not None and y[0].size == int(np.prod(shape)):
            y = y.reshape(len(y), *shape)
        return y.astype(np.float32)

    def views(self, small: bool = False) -> dict[str, Any]:
        """``latent``: (means (M, D), class labels (M,)) of held-out examples;
        ``manifold``: decoded images (G, G, *image_shape) over a grid of z in [-2, 2]^2
        when D = 2, row 0 at the top (z_2 = +2); ``manifold_range``: the grid's extent."""
        s = self.s
        split = s.dataset.val or s.dataset.train
        m = 300 if small else 1000
        mu = self.encode(split.input[:m])
        out: dict[str, Any] = {"latent": (mu.astype(np.float32), split.target[:m].copy())}
        if mu.ndim == 2 and mu.shape[1] == 2 and self.decoded is not None:
            g = 8 if small else 12
            axis = np.linspace(-2.0, 2.0, g)
            zx, zy = np.meshgrid(axis, axis[::-1])
            z = np.stack([zx.ravel(), zy.ravel()], axis=1)
            img = self.decode(z)
            out["manifold"] = img.reshape(g, g, *img.shape[1:])
            out["manifold_range"] = (-2.0, 2.0)
        return out


def _params(session: "Session", node_id: str) -> Mapping[str, Any]:
    """A node's params, or {} for a node inside a closed block."""
    try:
        return session.model.params(node_id)
    except (KeyError, ValueError):
        return {}


def _has(program, node_id: str) -> bool:
    try:
        program.call(node_id)
    except KeyError:
        return False
    return True

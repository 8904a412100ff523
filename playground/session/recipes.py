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

from playground.engine import Tensor, no_grad, optim
from playground.engine import functional as F
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
        acc = self.s._accuracy(trace, target)
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


# --------------------------------------------------------------------------------- GAN


def mode_coverage(samples: np.ndarray, real: np.ndarray, labels: np.ndarray,
                  num_modes: int) -> tuple[int, float]:
    """How many modes of the real data the samples cover, and the samples' quality.

    Each mode's centre and spread are the mean and the RMS per-coordinate deviation of its
    real points (class = mode). A sample is *high quality* when it lies within 3 standard
    deviations of its nearest mode's centre; a mode is *covered* when it gets at least a
    quarter of its fair share (M / modes) of the high-quality samples. After Srivastava et
    al. (2017), "VEEGAN", section 5.1, and Metz et al. (2017).

    Returns ``(modes covered, fraction of high-quality samples)``.
    """
    centres = np.stack([real[labels == k].mean(axis=0) for k in range(num_modes)])
    spread = np.array([real[labels == k].std(axis=0).mean() for k in range(num_modes)])
    d = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
    nearest = d.argmin(axis=1)
    good = d[np.arange(len(samples)), nearest] <= 3.0 * np.maximum(spread[nearest], 1e-6)
    counts = np.bincount(nearest[good], minlength=num_modes)
    covered = int(np.sum(counts >= 0.25 * len(samples) / num_modes))
    return covered, float(good.mean()) if len(samples) else 0.0


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to samples ``a`` (M, F) and ``b``
    (K, F): ``|mu_a - mu_b|² + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` (Dowson & Landau 1982;
    Heusel et al. 2017's FID, here on the raw pixels rather than Inception features).
    ``Tr((S_a S_b)^(1/2))`` is the sum of the square roots of the eigenvalues of the
    symmetric ``S_b^(1/2) S_a S_b^(1/2)``. Units: squared pixel values. It shrinks with more
    samples even between two sets of real images (the estimate is biased), so compare
    numbers from the same M and K."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_b)
    root_b = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root_b @ cov_a @ root_b
    ev = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2) + np.trace(cov_a)
                 + np.trace(cov_b) - 2.0 * np.sum(np.sqrt(np.clip(ev, 0.0, None))))


#: k nearest real images that vote on a generated image's class, and the votes it needs.
KNN_K, KNN_AGREE = 10, 7


def class_coverage(samples: np.ndarray, real: np.ndarray, labels: np.ndarray,
                   num_classes: int) -> tuple[int, float]:
    """How many classes of real images (M_r, F) the generated ones (M, F) cover, and the
    share of them that look like one class.

    Each sample's class is the majority label of its ``KNN_K`` (10) nearest real images
    (Euclidean, in pixels); a sample is *recognisable* when at least ``KNN_AGREE`` (7) of
    them agree (they do for 87% of the real training digits, voted on by the held-out
    ones). A class is
    *covered* when it gets at least a quarter of its fair share (M / classes) of the
    recognisable samples, as in :func:`mode_coverage`.

    Returns ``(classes covered, fraction recognisable)``.
    """
    x, r = np.asarray(samples, np.float64), np.asarray(real, np.float64)
    d = (x ** 2).sum(axis=1)[:, None] + (r ** 2).sum(axis=1)[None] - 2.0 * x @ r.T
    k = min(KNN_K, len(r))
    votes = np.asarray(labels)[np.argpartition(d, k - 1, axis=1)[:, :k]]
    counts = np.stack([(votes == c).sum(axis=1) for c in range(num_classes)], axis=1)
    good = counts.max(axis=1) >= min(KNN_AGREE, k)
    per = np.bincount(counts.argmax(axis=1)[good], minlength=num_classes)
    covered = int(np.sum(per >= 0.25 * len(x) / num_classes))
    return covered, float(good.mean()) if len(x) else 0.0


class GAN(Recipe):
    """Two players, two optimizers, k discriminator steps per generator step (see the
    module docstring)."""

    type = "gan"
    needs_loss_nodes = False

    def bind(self) -> None:
        program = self.s.program
        sides = {}
        for key in ("generator", "discriminator"):
            ids = self.fields[key]
            for i, node in enumerate(ids):
                if not _has(program, node):
                    raise RecipeError(f"recipe.{key}[{i}]: the graph has no node {node!r}")
            sides[key] = list(ids)
        g_nodes, d_nodes = set(sides["generator"]), set(sides["discriminator"])
        into_d = [(call.node_id, port, src, sport) for call in program.calls
                  if call.node_id in d_nodes for port, src, sport in call.inputs
                  if src not in d_nodes]
        if len(into_d) != 1:
            raise RecipeError(f"the discriminator (recipe.discriminator) must have exactly one "
                              f"input wired from outside it, the generator's samples; it has "
                              f"{len(into_d)}. Wire the generator's output into the first "
                              "discriminator node.")
        dst, port, src, sport = into_d[0]
        if src not in g_nodes:
            raise RecipeError(f"the discriminator's input ({dst}.{port}) is wired from "
                              f"{src!r}, which is not in recipe.generator. Wire the "
                              "generator's output into it; the recipe feeds it the real data "
                              "in turn.")
        consumed = {(s_, sp) for call in program.calls if call.node_id in d_nodes
                    for _, s_, sp in call.inputs}
        ends = [(n, p.name) for n in sides["discriminator"]
                for p in program.call(n).spec.outputs if (n, p.name) not in consumed]
        if len(ends) != 1:
            raise RecipeError("the discriminator must end in one output, its logits (N, 1); "
                              f"it has {len(ends)} unconnected outputs: "
                              f"{', '.join(f'{n}.{p}' for n, p in ends) or 'none'}")
        for call in program.calls:
            if call.node_id not in g_nodes | d_nodes and call.module is not None and \
                    any(True for _ in call.module.parameters()):
                raise RecipeError(f"node {call.node_id!r} has parameters but is in neither "
                                  "recipe.generator nor recipe.discriminator; add it to the "
                                  "side it belongs to")
        self.g_nodes, self.d_nodes = sides["generator"], sides["discriminator"]
        self.d_params = self._params(self.d_nodes)
        self.entry = (dst, port)
        self.samples = (src, sport)
        self.logits = ends[0]
        self.g_run = program.ancestors(src)
        self.drawn = self.g_run | d_nodes
        self.d_steps = int(self.fields.get("d_steps", 1))
        self.g_loss = self.fields.get("g_loss", "non_saturating")
        self.make_optimizers()

    def _params(self, nodes) -> list:
        program = self.s.program
        return [p for n in nodes if program.call(n).module is not None
                for p in program.call(n).module.parameters()]

    def make_optimizers(self) -> None:
        t = self.s.training
        for side, nodes in (("generator", self.g_nodes), ("discriminator", self.d_nodes)):
            if not self._params(nodes):
                raise RecipeError(f"recipe.{side}: its nodes have no weights to train; list "
                                  f"the {side}'s layers (Linear, ...) there")
        self.g_optimizer = make_optimizer(self._params(self.g_nodes), t,
                                          self.fields.get("g_optimizer"))
        self.d_optimizer = make_optimizer(self._params(self.d_nodes), t,
                                          self.fields.get("d_optimizer"))
        self.optimizer = None
        self.make_schedules()

    @property
    def optimizers(self) -> list[optim.Optimizer]:
        return [self.g_optimizer, self.d_optimizer]

    # -- the two losses -------------------------------------------------------------

    @staticmethod
    def _bce(logits: Tensor, label: float) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, np.full(logits.shape, label,
                                                                  logits.data.dtype))

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        if self.g_loss == "minimax":
            return -self._bce(fake_logits, 0.0)
        return self._bce(fake_logits, 1.0)

    def objective(self, trace: Trace) -> Tensor:
        """The generator's loss on the drawn pass (noise -> G -> D)."""
        node, port = self.logits
        return self.generator_loss(trace[node][port])

    # -- passes ---------------------------------------------------------------------

    def _discriminate(self, feeds, x: Tensor) -> Tensor:
        node, port = self.logits
        return self.s.run(feeds, until=set(self.d_nodes), inputs={self.entry: x})[node][port]

    def generate(self, feeds) -> Tensor:
        """A batch of samples from the generator, under ``no_grad``."""
        node, port = self.samples
        with no_grad():
            return self.s.run(feeds, until=self.g_run)[node][port]

    def sample(self, n: int) -> np.ndarray:
        """``n`` generated samples (n, *sample shape), in eval mode."""
        s = self.s
        x, y = s.current_batch()
        feeds = s.feeds(x, y)
        out, have = [], 0
        with s.inference():
            while have < n:
                batch = self.generate(feeds).data
                out.append(batch)
                have += len(batch)
        return np.concatenate(out)[:n]

    def discriminator_step(self) -> dict[str, float]:
        """One discriminator update on a fresh real batch and fresh noise, the generator
        held fixed: ``d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0)``. Returns ``d_loss``,
        ``d_real`` and ``d_fake`` (D's mean probability of "real" on each, before the
        update). The generator makes the fakes in training mode, so the running statistics
        of its batch norms take the batch in (as in PyTorch); its weights do not move."""
        s = self.s
        x, y = s.loader.next_batch()
        s.batch = (x, y)
        feeds = s.feeds(x, y)
        fake = self.generate(feeds)
        real_logits = self._discriminate(feeds, feeds[s.data_node]["x"])
        fake_logits = self._discriminate(feeds, fake)
        d_loss = self._bce(real_logits, 1.0) + self._bce(fake_logits, 0.0)
        self.d_optimizer.zero_grad()
        d_loss.backward()
        self.d_optimizer.step()
        return {"d_loss": float(d_loss.data),
                "d_real": float(_sigmoid(real_logits.data).mean()),
                "d_fake": float(_sigmoid(fake_logits.data).mean())}

    def generator_step(self, probe=None) -> tuple[dict[str, float], Trace]:
        """One generator update through the discriminator held fixed (its weights get no
        gradient), on fresh noise; the Dataset feeds the last batch (its x only sets N).
        Returns ``g_loss`` (before the update) and the trace of the drawn pass."""
        s = self.s
        for p in self.d_params:  # the discriminator is held fixed: no weight gradients
            p.requires_grad = False
        try:
            self.g_optimizer.zero_grad()
            trace = s.run(s.feeds(*s.current_batch()), probe=probe, until=self.drawn)
            g_loss = self.objective(trace)
            g_loss.backward()
            self.g_optimizer.step()
        finally:
            for p in self.d_params:
                p.requires_grad = True
        return {"g_loss": float(g_loss.data)}, trace

    def train_step(self, probe=None):
        for _ in range(self.d_steps):
            d_metrics = self.discriminator_step()
        g_metrics, trace = self.generator_step(probe)
        metrics = {"loss": d_metrics["d_loss"] + g_metrics["g_loss"], **d_metrics,
                   **g_metrics}
        self.step_schedules()
        return metrics, trace

    #: The players :meth:`player_step` steps.
    PLAYERS = ("discriminator", "generator")

    def player_step(self, player: str) -> dict[str, float]:
        """One update of one player only, outside the alternating schedule (the stepper's
        Step D and Step G): :meth:`discriminator_step` or :meth:`generator_step`. It is
        not a training step: the step count, the history and the LR schedules stay where
        they are; the session's latest metrics take the player's numbers, and a pass being
        stepped is dropped (the weights moved). Returns the player's metrics.

        Raises:
            ValueError: ``player`` is not ``"discriminator"`` or ``"generator"``.
        """
        if player not in self.PLAYERS:
            raise ValueError(f"player must be one of {', '.join(self.PLAYERS)}, got {player!r}")
        s = self.s
        if player == "discriminator":
            metrics = self.discriminator_step()
        else:
            metrics, _ = self.generator_step()
        s.metrics.update(metrics)
        s._tape = None  # the pass a stepper walks was made with the old weights
        return metrics

    def evaluate(self) -> dict[str, float]:
        """``modes_covered`` and ``high_quality`` of 1,000 samples against the held-out real
        data's modes (its classes): for 2-D points see :func:`mode_coverage`; for images
        the classes covered and the share of recognisable samples of
        :func:`class_coverage`, and ``frechet_distance`` to the held-out images
        (:func:`frechet_distance`)."""
        s = self.s
        real = s.dataset.val or s.dataset.train
        if real.input.ndim != 2 or real.target.ndim != 1:
            return {}
        fake = self.sample(1000).reshape(1000, -1)
        if fake.shape[1] != real.input.shape[1]:
            return {}
        if s.dataset.image_shape is None:
            covered, quality = mode_coverage(fake, real.input, real.target,
                                             s.dataset.num_classes)
            return {"modes_covered": float(covered), "high_quality": quality}
        covered, quality = class_coverage(fake, real.input, real.target, s.dataset.num_classes)
        return {"modes_covered": float(covered), "high_quality": quality,
                "frechet_distance": frechet_distance(fake, real.input)}

    def views(self, small: bool = False) -> dict[str, Any]:
        """``real`` and ``fake`` samples (M, *F); for 2-D data ``discriminator``: a
        :class:`~playground.session.session.Boundary` whose probs (H, W, 1) are D's
        probability of "real" over the data's extent; for image data ``samples``: the fake
        ones as images (M, C, H, W)."""
        from .session import Boundary

        s = self.s
        m = 256 if small else 512
        real = s.dataset.train.input[:m]
        fake = self.sample(m)
        out: dict[str, Any] = {"real": real.copy(), "fake": fake.astype(np.float32)}
        if s.is_2d:
            lo, hi = real.min(axis=0), real.max(axis=0)
            pad = 0.25 * (hi - lo)
            res = 32 if small else 64
            pts, xr, yr = grid_points(lo - pad, hi + pad, res)
            with s.inference():
                logits = self._discriminate(s.feeds(*s.current_batch()), Tensor(pts)).data
            prob = _sigmoid(logits.astype(np.float64)).reshape(res, res, 1)
            out["discriminator"] = Boundary(xr, yr, prob.astype(np.float32))
        elif s.dataset.image_shape is not None:
            out["samples"] = fake[:64].reshape(-1, *s.dataset.image_shape).astype(np.float32)
        return out


RECIPES = {"supervised": Recipe, "vae": VAE, "gan": GAN}


def make_recipe(session: "Session", fields: Mapping[str, Any]) -> Recipe:
    """The recipe object for a project's (validated) recipe fields."""
    return RECIPES[fields.get("type", "supervised")](session, fields)

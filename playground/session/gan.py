"""The GAN recipe (Goodfellow et al. 2014, Algorithm 1: k discriminator updates, then one
generator update, each player with its own optimizer) and the metrics it reports every k
steps: :func:`mode_coverage` for 2-D toys, :func:`class_coverage` and
:func:`frechet_distance` for images. The recipe's fields and losses are described in
:mod:`playground.session.recipes`, which registers it as ``"gan"``."""

from __future__ import annotations

from typing import Any

import numpy as np

from playground.engine import Tensor, no_grad, optim
from playground.engine import functional as F
from playground.graph import Trace
from playground.graph.spec import format_shape

from .diagnose import NonFiniteStep
from .recipes import Recipe, RecipeError, _has, _sigmoid, grid_points, make_optimizer


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
        self._check_shapes((src, sport), (dst, port), ends[0])
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

    def _check_shapes(self, samples: tuple[str, str], entry: tuple[str, str],
                      logits: tuple[str, str]) -> None:
        """The discriminator takes the real x and the generator's ``samples`` in turn (at
        ``entry``), so their inferred shapes must be the same (N and all); and its
        ``logits`` must be one per example, (N, 1) or (N,).

        Raises:
            RecipeError: a shape does not fit; the message gives the shapes and the fix.
        """
        states = self.s.model.states()

        def shape(node: str, port: str):  # None inside a closed block, or not inferred
            out = states[node].outputs.get(port) if node in states else None
            return out if isinstance(out, tuple) else None

        fake, data = shape(*samples), shape(self.s.data_node, "x")
        if fake is not None and data is not None and fake != data:
            raise RecipeError(
                f"the generator's samples ({samples[0]}.{samples[1]}, {format_shape(fake)}) "
                f"and the real data ({self.s.data_node}.x, {format_shape(data)}) must have "
                f"the same shape: the discriminator ({entry[0]}.{entry[1]}) takes both in "
                f"turn. Make the generator's last layer output {format_shape(data)}.")
        out = shape(*logits)
        if out is not None and out not in ((None, 1), (None,)):
            raise RecipeError(f"the discriminator's output ({logits[0]}.{logits[1]}) is "
                              f"{format_shape(out)}; it must be one logit per example, "
                              "(N, 1). Make its last layer output 1 feature.")

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
        """``d_steps`` discriminator updates, then one generator update. With the
        non-finite guard on, the step is one transaction: when the generator's update (or
        a later one of the ``d_steps``) is refused
        (:class:`~playground.session.diagnose.NonFiniteStep`), the discriminator's weights
        and optimizer state are put back as they were before the step, and the refusal
        is raised on."""
        kept = None
        if self.s.guard_nonfinite:  # a copy of D's weights and optimizer state
            kept = ([p.data.copy() for p in self.d_params], self.d_optimizer.state_dict())
        try:
            for _ in range(self.d_steps):
                d_metrics = self.discriminator_step()
            g_metrics, trace = self.generator_step(probe)
        except NonFiniteStep:
            if kept is not None:
                for p, data in zip(self.d_params, kept[0]):
                    p.data[...] = data
                self.d_optimizer.load_state_dict(kept[1])
            raise
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
        s.drop_stepping_pass()  # the pass a stepper walks was made with the old weights
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

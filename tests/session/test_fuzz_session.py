"""Fuzzing of Session and training (issue 13): seeded random valid graphs, built through
GraphModel the way a user wires them (a data node, random layers with random params in their
ranges, repaired with the fix inference offers, a loss), then saved and reopened, compiled
into a Session and trained a few steps (and, for some, stepped forward and backward one node
at a time).

Checked for every graph:

* no exception other than the documented typed ones: ``SessionError`` from ``Session()``
  (a graph that cannot train, with its reason), a ``RecipeError`` from a step (a loss that
  depends on no weight);
* every node's outputs at run time have the inferred shapes (N = the batch's rows);
* the saved project reopens to the same graph, inferred the same;
* the views (``Session.snapshot``, following one of the nodes) draw without an error;
* for some, a live edit (``Session.set_graph``) to another random graph either is refused
  and leaves the old graph, or trains on with the new graph's inferred shapes.

The suite runs :data:`SUITE_SEEDS` seeds (15 to 25 s here, on 2 shared cores) and
:data:`SUITE_GENERATIVE_SEEDS` mutated GAN and VAE presets (:func:`generative_project`);
``benchmarks/fuzz_session.py`` runs more. A finding prints the graph as JSON, so it can be
reproduced with ``Session(Project(graph=...))``.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from playground.graph import REGISTRY, GraphModel, ParamError, WiringError
from playground.graph.composite import CompositeError
from playground.project import Project, load, save
from playground.session import Session, SessionError
from playground.session.recipes import RecipeError

#: Graphs the suite builds and trains (seeds 0..SUITE_SEEDS-1).
SUITE_SEEDS = 200
#: Training steps per graph.
STEPS = 3
#: Data nodes and their settings (small, quick to load).
DATA = [("Dataset", {"dataset": d, "n_samples": 64}) for d in
        ("xor", "blobs", "ring", "spirals")] + \
    [("Dataset", {"dataset": d}) for d in ("digits_subset", "reverse", "dates")] + \
    [("Regression", {"n_samples": 64}), ("Regression", {"n_samples": 64, "in_features": 2})]
#: Node types the fuzzer draws between the data and the loss.
NOT_DRAWN = {"Dataset", "Input", "Regression", "GradientNoise", "Group", "TestFunction"}
LAYERS = [s.type for s in REGISTRY if not s.is_loss and s.type not in NOT_DRAWN]
#: The small, common ones, drawn as often as all the others together.
COMMON = ["Linear", "ReLU", "Tanh", "Sigmoid", "Flatten", "Dropout", "Add", "Multiply",
          "Concat", "LayerNorm", "BatchNorm1d", "Embedding", "Softmax", "NoiseSource",
          "Reshape", "Mean", "Scale", "Conv2d", "LSTM", "MultiheadAttention"]
CLASS_LOSSES = ["CrossEntropyLoss", "CrossEntropyLoss", "NLLLoss"]
VALUE_LOSSES = ["MSELoss", "MSELoss", "L1Loss", "SmoothL1Loss", "BCEWithLogitsLoss"]
#: What may come out of the run: the documented refusals.
TYPED_SESSION = (SessionError,)
TYPED_STEP = (RecipeError,)
MAX_VALUES = 20_000  # per example, so that a step stays fast
#: The graph a live edit switches to is seed + EDIT_SEED's.
EDIT_SEED = 1_000_003


def _param(rng: random.Random, pspec):
    if rng.random() < 0.7 or pspec.type in ("str", "path"):
        return pspec.default
    if pspec.type == "bool":
        return rng.random() < 0.5
    if pspec.type == "choice":
        return rng.choice(pspec.choices)
    if pspec.type == "int":
        lo = int(math.ceil(pspec.low)) if pspec.low is not None else 0
        hi = int(math.floor(pspec.high)) if pspec.high is not None else lo + 16
        return rng.randint(lo, min(hi, lo + 12))
    if pspec.type == "float":
        lo = pspec.low if pspec.low is not None else -2.0
        hi = pspec.high if pspec.high is not None else lo + 4.0
        return rng.uniform(lo, min(hi, lo + 2.0))
    return pspec.default  # ints (shapes, kernel sizes): the default, repaired by the fixes


def _outputs(m: GraphModel, kind: str = "tensor") -> list[tuple[str, str]]:
    out = []
    for n in m.nodes():
        s = m.state(n)
        if s.ok:
            out += [(n, p.name) for p in m.output_ports(n) if p.kind == kind]
    return out


def _repair(m: GraphModel, node: str, tries: int = 4) -> bool:
    """Apply the fixes inference offers until ``node`` is ok; True if it is."""
    for _ in range(tries):
        s = m.state(node)
        if s.ok:
            return True
        if s.fix is None:
            return False
        try:
            m.set_param(node, *s.fix)
        except ParamError:
            return False
    return m.state(node).ok


def _add(m: GraphModel, rng: random.Random, type_: str, wires: dict | None = None,
         params: dict | None = None, attempts: int = 4) -> str | None:
    """Add a node of ``type_`` (random params unless given), wire its inputs (``wires``,
    else outputs of the right kind: the first port from the newest outputs, a different
    one at each attempt, as a user tries wires; later ports sometimes the same source,
    sometimes another, sometimes none), repair it with the fixes inference offers; remove
    it and try again (with the default params every other time), and return None if no
    attempt becomes ok."""
    spec = REGISTRY[type_]
    first_port = next(iter(m_ports := spec.inputs), None)
    candidates = []
    if wires is None and first_port is not None:
        candidates = _outputs(m, first_port.kind)[::-1]  # newest first, then any
        candidates = candidates[:3] + rng.sample(candidates[3:], len(candidates[3:]))
    for attempt in range(attempts if wires is None else 2):
        drawn = params if params is not None else (
            {p.name: _param(rng, p) for p in spec.params} if attempt % 2 == 0 else {})
        try:
            node = m.add_node(type_, drawn)
        except (ParamError, CompositeError):
            continue
        first = None
        for i, port in enumerate(m_ports):
            if wires is not None:
                src = wires.get(port.name)
            elif i == 0:
                src = candidates[attempt % len(candidates)] if candidates else None
            else:
                choices = _outputs(m, port.kind)[-3:]
                src = (first if first is not None and rng.random() < 0.5 else
                       rng.choice(choices) if choices and rng.random() < 0.7 else None)
            if src is not None and src[0] != node:
                try:
                    m.connect(src[0], src[1], node, port.name)
                except WiringError:
                    pass
            first = first or src
        if _repair(m, node):
            return node
        m.remove_node(node)
        if params is not None and wires is not None:
            params = {}  # the given params failed: the defaults, wired the same
    return None


def _head(m: GraphModel, rng: random.Random, data: str, last: tuple[str, str]) -> bool:
    """Wire a loss from ``last`` (through Flatten and a Linear when needed) to the data's
    target; True if the graph ends up valid."""
    target_kind = m.output_port(data, "target").kind
    st = m.state(data)
    if target_kind == "index":
        classes = st.meta.get("target", {}).get("num_classes", 2)
        seq = len(st.outputs["target"]) > 1
        loss_type = rng.choice(CLASS_LOSSES)
    else:
        classes, seq = st.outputs["target"][-1], False
        loss_type = rng.choice(VALUE_LOSSES)
    wires = {"input": last, "target": (data, "target")}
    loss = _add(m, rng, loss_type, wires, params={})
    if loss is not None:
        return True
    src = last
    shape = m.state(src[0]).outputs[src[1]]
    if not isinstance(shape, tuple):
        return False
    if seq:  # (N, L, F) -> Linear over F -> (N, L, C) is not PyTorch's (N, C, L): permute
        if len(shape) != 3:
            return False
        fc = _add(m, rng, "Linear", {"input": src}, {"in_features": shape[-1],
                                                      "out_features": classes})
        perm = fc and _add(m, rng, "Permute", {"input": (fc, "output")}, {"dims": (0, 2, 1)})
        if not perm:
            return False
        src = (perm, "output")
    else:
        if len(shape) > 2:
            flat = _add(m, rng, "Flatten", {"input": src}, {})
            if flat is None:
                return False
            src = (flat, "output")
            shape = m.state(flat).outputs["output"]
        if len(shape) != 2:
            return False
        fc = _add(m, rng, "Linear", {"input": src}, {"in_features": shape[-1],
                                                      "out_features": classes})
        if fc is None:
            return False
        src = (fc, "output")
    wires["input"] = src
    return _add(m, rng, loss_type, wires, params={}) is not None


def _stem(m: GraphModel, rng: random.Random, data: str) -> None:
    """Sometimes turn the data into what the bigger layers take: tokens into embeddings
    (N, L, E), features into images (N, C, H, W) or sequences (N, L, F)."""
    x = m.state(data).outputs["x"]
    meta = m.state(data).meta.get("x") or {}
    kind = rng.random()
    if meta.get("dtype") == "int64":
        if kind < 0.8:
            _add(m, rng, "Embedding", {"input": (data, "x")},
                 {"num_embeddings": meta["num_classes"],
                  "embedding_dim": rng.choice([4, 8, 12])})
        return
    if kind < 0.4:
        return
    src = (data, "x")
    side = rng.choice([4, 8])
    if x[1] != 64 or kind < 0.6:
        fc = _add(m, rng, "Linear", {"input": src}, {"in_features": x[1],
                                                      "out_features": side * side})
        if fc is None:
            return
        src = (fc, "output")
    shape = (1, side, side) if kind < 0.8 else (side, side)  # per example: N stays
    _add(m, rng, "Reshape", {"input": src}, {"shape": shape})


def random_project(seed: int) -> Project | None:
    """A random valid supervised project (None if this seed's wiring did not come out
    valid)."""
    rng = random.Random(seed)
    m = GraphModel()
    data_type, data_params = rng.choice(DATA)
    data = m.add_node(data_type, data_params)
    _stem(m, rng, data)
    for _ in range(rng.randint(1, 7)):
        type_ = rng.choice(COMMON if rng.random() < 0.5 else LAYERS)
        node = _add(m, rng, type_)
        if node is not None and any(
                math.prod(d or 1 for d in shape) > MAX_VALUES
                for shape in m.state(node).outputs.values() if isinstance(shape, tuple)):
            m.remove_node(node)
    tensors = [o for o in _outputs(m) if o[0] != data or o[1] == "x"]
    if not tensors:
        return None
    last = tensors[-1] if rng.random() < 0.7 else rng.choice(tensors)
    if not _head(m, rng, data, last) or m.errors():
        return None
    p = Project(name=f"fuzz_{seed}", graph=m.to_dict())
    p.training.batch_size = rng.choice([1, 2, 5, 16])
    p.training.optimizer = rng.choice(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
    p.training.lr = rng.choice([1e-3, 1e-2, 0.1, 1.0])
    p.training.seed = seed
    return p


#: The generative presets the recipe fuzzer mutates (a GAN on points, a VAE and a DCGAN on
#: digit scans): the supervised generator above never makes their recipes.
GENERATIVE = ("gan_ring", "vae_digits", "dcgan_digits")
#: Generative seeds in the suite (``benchmarks/fuzz_session.py --generative`` runs more).
SUITE_GENERATIVE_SEEDS = 30


def generative_project(seed: int) -> Project | None:
    """One of :data:`GENERATIVE` with random params on about a quarter of its layers
    (repaired with the fixes inference offers), random recipe fields (a GAN's
    ``d_steps``, a VAE's ``beta``) and random training settings; None if it did not come
    out valid."""
    rng = random.Random(seed)
    project = load(GENERATIVE[seed % len(GENERATIVE)])
    m = GraphModel.from_dict(project.graph)
    for node in m.nodes():
        spec = m.spec(node)
        if spec.type in NOT_DRAWN or not spec.params or rng.random() > 0.25:
            continue
        pspec = rng.choice(spec.params)
        try:
            m.set_param(node, pspec.name, _param(rng, pspec))
        except (ParamError, CompositeError):
            continue
        for other in m.nodes():
            _repair(m, other)
    if m.errors():
        return None
    project.graph = m.to_dict()
    recipe = dict(project.recipe)
    if recipe.get("type") == "gan":
        recipe["d_steps"] = rng.choice([1, 2])
    elif recipe.get("type") == "vae":
        recipe["beta"] = rng.choice([0.0, 0.5, 1.0, 4.0])
    project.recipe = recipe
    project.training.batch_size = rng.choice([2, 5, 16])
    project.training.optimizer = rng.choice(["SGD", "Adam", "RMSprop"])
    project.training.lr = rng.choice([1e-3, 1e-2, 0.1, 1.0])
    project.training.seed = seed
    return project


def _shapes_agree(s: Session) -> list[str]:
    """Every node's outputs on the current batch against its inferred shapes (None = N)."""
    x, y = s.current_batch()
    with s.inference():
        trace = s.run(s.feeds(x, y))
    wrong = []
    for node, state in s.model.states().items():
        got = trace.outputs.get(node)
        if got is None:
            continue
        for port, shape in state.outputs.items():
            if port in got and hasattr(got[port], "shape") and isinstance(shape, tuple):
                want = tuple(len(x) if d is None else d for d in shape)
                if tuple(got[port].shape) != want:
                    wrong.append(f"{s.model.spec(node).type} '{node}'.{port} runs as "
                                 f"{tuple(got[port].shape)}, inferred {want}")
    return wrong


def check_project(project: Project, folder: Path, stepping: bool = False,
                  edit: Project | None = None) -> str:
    """Save and reopen, build a Session, train :data:`STEPS` steps, compare shapes (and
    step one forward and backward pass when ``stepping``; then, given ``edit``, switch
    to its graph as a live edit and train a step). Returns the outcome
    (``"trained"``, ``"diverged"`` or a typed refusal's class name); raises
    AssertionError for a finding, or lets an untyped exception out."""
    path = save(project, folder / "fuzz.json")
    again = load(path)
    reopened = GraphModel.from_dict(again.graph)
    model = GraphModel.from_dict(project.graph)
    assert reopened.to_dict() == model.to_dict(), "the saved graph reopens differently"
    assert {n: (s.status, s.outputs) for n, s in reopened.states().items()} == \
        {n: (s.status, s.outputs) for n, s in model.states().items()}, \
        "the reopened graph infers differently"
    try:
        s = Session(again, timeline=False)
    except TYPED_SESSION as exc:
        assert str(exc).strip()
        return type(exc).__name__
    outcome = "trained"
    with np.errstate(all="ignore"):
        for _ in range(STEPS):
            try:
                m = s.step()
            except TYPED_STEP as exc:
                assert str(exc).strip()
                return type(exc).__name__
            if "diverged" in m:
                assert s.divergence is not None and s.divergence.message
                outcome = "diverged"
                break
        wrong = _shapes_agree(s)
        assert not wrong, "shapes differ from inference: " + "; ".join(wrong)
        if stepping:
            for _ in s.forward_steps():
                pass
            for _ in s.backward_steps(jacobians=False):
                pass
        # what the app's views draw, following one node (the worker publishes this)
        nodes = s.model.nodes()
        s.set_focus(nodes[len(nodes) // 2])
        s.snapshot()
        if edit is not None:  # a live edit: another graph, keeping what still fits
            try:
                s.set_graph(edit.graph)
            except TYPED_SESSION:
                assert s.model.to_dict() == GraphModel.from_dict(again.graph).to_dict()
            try:
                s.step()
            except TYPED_STEP as exc:
                assert str(exc).strip()
                return outcome
            wrong = _shapes_agree(s)
            assert not wrong, "after a live edit, shapes differ: " + "; ".join(wrong)
    return outcome


def run(seeds, stepping_every: int = 4, log=None, generative: bool = False
        ) -> tuple[Counter, list[tuple[int, str]]]:
    """Fuzz ``seeds`` (:func:`random_project`'s graphs, or with ``generative``
    :func:`generative_project`'s); returns the outcome counts and the findings
    ``(seed, error)``."""
    outcomes: Counter = Counter()
    findings = []
    make = generative_project if generative else random_project
    with tempfile.TemporaryDirectory(prefix="fuzz_session_") as tmp:
        for seed in seeds:
            project = make(seed)
            if project is None:
                outcomes["not valid (skipped)"] += 1
                continue
            edit = make(seed + EDIT_SEED) if seed % stepping_every == 1 else None
            try:
                outcomes[check_project(project, Path(tmp),
                                       stepping=seed % stepping_every == 0, edit=edit)] += 1
            except Exception as exc:  # noqa: BLE001 - a finding: keep going, report it
                findings.append((seed, f"{type(exc).__name__}: {exc}"))
                outcomes["FINDING"] += 1
                if log is not None:
                    log(f"seed {seed}: {type(exc).__name__}: {exc}\n"
                        f"  graph: {json.dumps(project.graph)}")
    return outcomes, findings


def test_random_valid_graphs_train_with_the_inferred_shapes_and_no_untyped_error():
    t0 = time.perf_counter()
    outcomes, findings = run(range(SUITE_SEEDS), log=print)
    seconds = time.perf_counter() - t0
    print(f"{SUITE_SEEDS} seeds in {seconds:.1f} s: {dict(outcomes)}")
    assert findings == []
    ran = outcomes["trained"] + outcomes["diverged"]
    assert ran >= SUITE_SEEDS // 2, outcomes  # the generator makes mostly valid graphs


def test_mutated_gan_and_vae_projects_train_with_the_inferred_shapes_and_no_untyped_error():
    outcomes, findings = run(range(SUITE_GENERATIVE_SEEDS), stepping_every=3, log=print,
                             generative=True)
    print(f"{SUITE_GENERATIVE_SEEDS} generative seeds: {dict(outcomes)}")
    assert findings == []
    assert outcomes["trained"] + outcomes["diverged"] >= SUITE_GENERATIVE_SEEDS // 2, outcomes


# ------------------------------------------------------------------- what the fuzzing found


def _model(*nodes, edges=()):
    m = GraphModel()
    ids = {}
    for key, type_, params in nodes:
        ids[key] = m.add_node(type_, params, node_id=key)
    for src, sport, dst, dport in edges:
        m.connect(src, sport, dst, dport)
    return m


def test_concat_along_the_batch_dim_is_an_error_with_a_fix():
    m = _model(("data", "Dataset", {"dataset": "xor"}), ("cat", "Concat", {"dim": 0}),
               edges=[("data", "x", "cat", "input0"), ("data", "x", "cat", "input1")])
    s = m.state("cat")  # was inferred (N, 2), and ran as (2N, 2)
    assert s.status == "error" and "the batch dimension N: the result would hold 2·N " \
        "examples" in s.message and s.fix == ("dim", 1)
    m.set_param("cat", *s.fix)
    assert m.state("cat").outputs == {"output": (None, 4)}


def test_noise_source_takes_its_rows_from_dim_0_of_its_reference():
    m = _model(("data", "Dataset", {"dataset": "xor"}),
               ("p", "Parameter", {"shape": (3,)}), ("noise", "NoiseSource", {"dim": 5}),
               edges=[("p", "output", "noise", "reference")])
    assert m.state("noise").outputs == {"output": (3, 5)}  # was (N, 5), ran as (3, 5)
    m.disconnect(m.edge_into("noise", "reference"))
    m.connect("data", "x", "noise", "reference")
    assert m.state("noise").outputs == {"output": (None, 5)}


def test_flatten_that_would_merge_the_batch_dim_is_an_error_with_a_fix():
    m = _model(("data", "Dataset", {"dataset": "xor"}),
               ("flat", "Flatten", {"start_dim": -2, "end_dim": -1}),
               edges=[("data", "x", "flat", "input")])
    s = m.state("flat")  # was inferred (N,), and ran as (2N,)
    assert s.status == "error" and "would merge the batch dim N of (N, 2)" in s.message
    m.set_param("flat", *s.fix)
    assert m.state("flat").outputs == {"output": (None, 2)}


def test_class_scores_without_the_batch_dim_are_an_error_at_inference():
    m = _model(("data", "Dataset", {"dataset": "xor"}), ("p", "Parameter", {"shape": (1, 2)}),
               ("loss", "CrossEntropyLoss", {}),
               edges=[("p", "output", "loss", "input"), ("data", "target", "loss", "target")])
    assert "gets 1 rows of logits from 'p' but N targets from 'data': each target needs " \
        "its own row" in m.state("loss").message  # was a ValueError in the first step


def test_batch_norm_at_batch_size_one_is_refused_before_training():
    project = Project(graph=_model(
        ("data", "Dataset", {"dataset": "xor"}),
        ("fc", "Linear", {"in_features": 2, "out_features": 2}),
        ("bn", "BatchNorm1d", {"num_features": 2}), ("loss", "CrossEntropyLoss", {}),
        edges=[("data", "x", "fc", "input"), ("fc", "output", "bn", "input"),
               ("bn", "output", "loss", "input"),
               ("data", "target", "loss", "target")]).to_dict())
    project.training.batch_size = 1  # was "Expected more than 1 value per channel" at step 1
    try:
        Session(project, timeline=False)
    except SessionError as exc:
        assert "BatchNorm1d 'bn' normalises each channel over the batch, but at batch_size 1" \
            in str(exc) and "Raise training.batch_size to 2 or more" in str(exc)
    else:
        raise AssertionError("a BatchNorm1d at batch_size 1 was not refused")
    project.training.batch_size = 2
    assert "loss" in Session(project, timeline=False).step()


def test_histograms_of_one_large_value_do_not_divide_by_zero():
    from playground.session.health import histogram
    from playground.session.views import count_histogram

    counts = count_histogram(np.full(7, 1e10))  # lo + 1e-12 == lo: ZeroDivisionError
    assert counts.counts.sum() == 7 and counts.hi > counts.lo
    h = histogram(np.full(7, -3e38, np.float32))
    assert h.counts[0] == 1.0 and h.hi > h.lo


def test_the_attention_view_keeps_averaged_weights_that_a_node_downstream_takes():
    m = _model(
        ("data", "Dataset", {"dataset": "reverse"}),
        ("emb", "Embedding", {"num_embeddings": 10, "embedding_dim": 4}),
        ("mha", "MultiheadAttention", {"embed_dim": 4, "num_heads": 2, "batch_first": True}),
        ("enc", "TransformerEncoderLayer", {"d_model": 8, "nhead": 2, "batch_first": True,
                                            "dim_feedforward": 16}),
        ("fc", "Linear", {"in_features": 8, "out_features": 10}),
        ("perm", "Permute", {"dims": (0, 2, 1)}), ("loss", "CrossEntropyLoss", {}),
        edges=[("data", "x", "emb", "input"), ("emb", "output", "mha", "query"),
               ("emb", "output", "mha", "key"), ("emb", "output", "mha", "value"),
               ("mha", "attn_weights", "enc", "src"), ("enc", "output", "fc", "input"),
               ("fc", "output", "perm", "input"), ("perm", "output", "loss", "input"),
               ("data", "target", "loss", "target")])
    assert not m.errors()
    s = Session(Project(graph=m.to_dict()), timeline=False)
    s.step()
    s.set_focus("enc")  # the views ran mha per head, and enc got a 4-D input
    snap = s.snapshot()
    assert snap.views["nodes"]["focus"] == "enc"

"""Write the depth lessons (presets/<name>.json) from code.

    python tools/make_depth_presets.py [NAME ...]

* ``activations_saturation``: three 10-layer MLPs (sigmoid, tanh, ReLU), Xavier init.
* ``init_variance``: four 10-layer MLPs: tanh at normal(0.01) and at Xavier, ReLU at He
  and at normal(0.5).
* ``resnet_vs_plain``: a 20-layer plain MLP and a 20-layer residual one.

One digits Dataset feeds every net; each net has its own CrossEntropyLoss (named after it)
and shares no weights with the others. The layout: each net in its own bands, the nets
stacked with space between them, the Dataset on the left in the middle, and each net's loss
on a line of its own under the net's last band, at the left, next to the Dataset (so the
Dataset's target wires stay short; the logits reach the loss like a wrapped line). The
output is deterministic: running it again writes the same files
(tests/graph/test_depth_presets.py checks the committed ones).

The measured results in the notes come from the tests that train these presets
(tests/session/test_lessons_depth.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground.graph import GraphModel  # noqa: E402
from playground.project import Project  # noqa: E402
from playground.project.format import Training  # noqa: E402
from tools._preset_writer import check, chosen, parser, write  # noqa: E402

TOPIC = {"activations_saturation": "Foundations", "init_variance": "Foundations",
         "resnet_vs_plain": "Vision"}

#: name -> the nets: keyword arguments of :func:`tower`.
TOWERS = {
    "activations_saturation": [dict(prefix=a.lower(), depth=10, width=32, act=a,
                                    init="xavier_normal") for a in ("Sigmoid", "Tanh", "ReLU")],
    "init_variance": [dict(prefix=p, depth=10, width=32, act=a, init=i, init_std=s)
                      for p, a, i, s in (("tanh_small", "Tanh", "normal", 0.01),
                                         ("tanh_xavier", "Tanh", "xavier_normal", 0.01),
                                         ("relu_he", "ReLU", "kaiming_normal", 0.01),
                                         ("relu_large", "ReLU", "normal", 0.5))],
    "resnet_vs_plain": [dict(prefix="plain", depth=20, width=32, act="ReLU"),
                        dict(prefix="res", depth=20, width=32, act="ReLU", residual=True)],
}

#: Linear layers per band: a 10-layer net in two bands, a 20-layer one in four.
LAYERS_PER_BAND = 5
GAP_X = 60.0       # between two nodes of a band
BAND_GAP = 70.0    # between the bands of one net (the wire to the next band runs here)
NET_GAP = 160.0    # between two nets
LEFT_GAP = 150.0   # between the Dataset and the nets (its wires run here)
BRANCH_RISE = 110.0  # a residual branch sits this much above its block's Add and ReLU


def digits(m: GraphModel, n: int = 1797) -> str:
    return m.add_node("Dataset", {"dataset": "digits", "n_samples": n, "noise": 0.1,
                                  "seed": 0}, node_id="data", name="data")


def tower(m: GraphModel, data: str, prefix: str, depth: int, width: int, act: str,
          init: str = "default", init_std: float = 0.01, in_f: int = 64, classes: int = 10,
          residual: bool = False) -> list[list[tuple[str, bool]]]:
    """Add one net fed by ``data``: ``depth`` Linear layers with ``act`` between them (or,
    ``residual``, a stem, (depth - 2) / 2 blocks y = act(x + W2·act(W1·x)) and a head) and
    a CrossEntropyLoss named ``prefix``.

    Returns its bands for the layout: lists of ``(node_id, on_branch)``, in wire order, a
    new band starting where LAYERS_PER_BAND more Linear layers have been placed, before a
    Linear layer of a plain net or a residual block's last ReLU (so that one wire crosses
    a cut); the last band is the loss alone.
    """
    bands: list[list[tuple[str, bool]]] = [[]]
    layers = 0

    def cut() -> None:  # a place where a band may end
        if layers // LAYERS_PER_BAND >= len(bands):
            bands.append([])

    def linear(node_id, f_in, f_out, src, port, branch=False):
        nonlocal layers
        m.add_node("Linear", {"in_features": f_in, "out_features": f_out, "init": init,
                              "init_std": init_std}, node_id=node_id, name=node_id)
        m.connect(src, port, node_id, "input")
        bands[-1].append((node_id, branch))
        layers += 1
        return node_id

    def node(type_name, node_id, src, port, branch=False):
        m.add_node(type_name, node_id=node_id, name=node_id)
        m.connect(src, port, node_id, m.spec(node_id).inputs[0].name)
        bands[-1].append((node_id, branch))
        return node_id

    if residual:
        prev = node(act, f"{prefix}_stem_act", linear(f"{prefix}_stem", in_f, width, data, "x"),
                    "output")
        for b in range(1, (depth - 2) // 2 + 1):
            a = node(act, f"{prefix}{b}a_act",
                     linear(f"{prefix}{b}a", width, width, prev, "output", branch=True),
                     "output", branch=True)
            w2 = linear(f"{prefix}{b}b", width, width, a, "output", branch=True)
            add = node("Add", f"{prefix}{b}_add", w2, "output")
            m.connect(prev, "output", add, m.spec(add).inputs[1].name)
            cut()  # the Add's one wire to its ReLU: a block's input feeds two nodes
            prev = node(act, f"{prefix}{b}_act", add, "output")
        last = linear(f"{prefix}_head", width, classes, prev, "output")
    else:
        src, port, f_in = data, "x", in_f
        for k in range(1, depth + 1):
            cut()
            f_out = classes if k == depth else width
            src, port = linear(f"{prefix}{k}", f_in, f_out, src, port), "output"
            if k < depth:
                src = node(act, f"{prefix}{k}_act", src, "output")
            f_in = f_out
        last = src
    loss = m.add_node("CrossEntropyLoss", node_id=f"{prefix}_loss", name=prefix)
    m.connect(last, "output", loss, "input")
    m.connect(data, "target", loss, "target")
    bands.append([(loss, False)])
    return bands


def place(m: GraphModel, data: str, nets: list[list[list[tuple[str, bool]]]]) -> None:
    """Move the nodes: each band a row (nodes centred on its midline, a residual branch
    raised above it), the bands of a net stacked, the nets stacked with NET_GAP between
    them, the Dataset at the left, in the middle of them all."""
    x0 = m.estimate_size(data)[0] + LEFT_GAP
    y = 0.0
    for bands in nets:
        for band in bands:
            sizes = {n: m.estimate_size(n) for n, _ in band}
            rise = BRANCH_RISE if any(b for _, b in band) else 0.0
            top = min(-sizes[n][1] / 2 - (rise if b else 0.0) for n, b in band)
            bottom = max(sizes[n][1] / 2 - (rise if b else 0.0) for n, b in band)
            mid = y - top
            x = x0
            for n, b in band:
                w, h = sizes[n]
                m.move_node(n, (x, round(mid - h / 2 - (rise if b else 0.0))))
                x += w + GAP_X
            y += bottom - top + BAND_GAP
        y += NET_GAP - BAND_GAP
    height = y - NET_GAP
    m.move_node(data, (0.0, round(max(0.0, (height - m.estimate_size(data)[1]) / 2))))


def graph(name: str) -> GraphModel:
    m = GraphModel()
    data = digits(m)
    place(m, data, [tower(m, data, **t) for t in TOWERS[name]])
    check(name, m)
    return m


def make(name: str) -> Project:
    return Project(name=name, graph=graph(name).to_dict(), notes=NOTES[name],
                   topic=TOPIC[name], result=RESULT[name],
                   training=Training(optimizer="Adam", lr=0.001, batch_size=64, steps=300,
                                     seed=0))


def main(argv: list[str] | None = None) -> None:
    ap = parser(__doc__, TOWERS)
    for name in chosen(ap, ap.parse_args(argv), TOWERS, "depth lesson"):
        print(write(make(name)).relative_to(ROOT))


NOTES = {
"activations_saturation": """Why deep sigmoid nets do not train: the same 10-layer net three times, with sigmoid, tanh and ReLU.

What it shows
One digits Dataset feeds three separate 10-layer MLPs (64 → 32 × 9 → 10), one per activation; each has its own CrossEntropyLoss, named after its activation, and they share no weights, so training the sum trains each net as if it were alone. All three start with Xavier init (init = xavier_normal, with the gain torch.nn.init.calculate_gain gives the activation each layer feeds: 1 for sigmoid, 5/3 for tanh, √2 for ReLU), so what differs is the activation alone. A sigmoid's slope is at most 1/4 (at 0), so every layer the gradient goes back through shrinks it about four times: at the start the first layer's weight gradient is 3e-6 to 5e-6 of the last layer's (5 orders of magnitude), while tanh's and ReLU's stay within a factor of 10 (the test checks < 1e-4 for sigmoid, > 0.05 for the others, seeds 0 and 1). After 300 Adam steps tanh and ReLU reach 93% and 92% held-out, the sigmoid net 19% (10% is chance).

What to watch
- Layers view (it opens in front): activation std, gradient norm ‖∂L/∂W‖ (log axis) and the share of saturated units per layer, one curve per net. The sigmoid's gradient curve is a straight line on the log axis, falling towards the input: the vanishing gradient. After 300 steps its first layer still gets only about 2e-3 of the last layer's gradient (the caption); drag the Timeline slider to its left end to see the first steps. Its activations stay near 0.5 with a small spread (std about 0.12): not zero-centred, so the next layer's inputs are all positive.
- Training curves: the loss is the sum of the three; the accuracy in the status bar is the first net's (sigmoid).

Things to try
- Saturation: select sigmoid1, set init to normal and init_std to 1, and press Reset: 22% of the first layer's sigmoid outputs are now within 1% of 0 or 1 (the saturated % plot), where the slope is below 0.01 and almost no gradient passes (it was 0% with Xavier).
- Train ▸ Compare Runs…: add a row training.optimizer=SGD, training.lr=0.1. The held-out column is the first net's, the sigmoid's: 10% with SGD against 19% with Adam, which rescales each weight's step by its own gradient size and so moves even the first layers a little.
- In Compare Runs, a row node.sigmoid*_act.type=Tanh makes the sigmoid net's nine activations tanh (the glob matches sigmoid1_act … sigmoid9_act) and keeps its starting weights and batches: the first net's held-out accuracy goes from 19% to 96% after 300 steps. The activation alone held it back.""",

"init_variance": """Weight init sets whether a signal survives 10 layers: too small and it dies, too large and it explodes, Xavier (tanh) and He (ReLU) keep it.

What it shows
One digits Dataset feeds four separate 10-layer MLPs (64 → 32 × 9 → 10), each with its own CrossEntropyLoss, named after its setting:
- tanh_small: tanh, init = normal with init_std 0.01;
- tanh_xavier: tanh, init = xavier_normal, Var(w) = gain²·2/(fan_in + fan_out), gain 5/3 for tanh (Glorot & Bengio 2010);
- relu_he: ReLU, init = kaiming_normal, Var(w) = 2/fan_in (He et al. 2015);
- relu_large: ReLU, init = normal with init_std 0.5, twice He's std for these 32-wide layers.
A layer multiplies its input's variance by about fan_in·Var(w) times the activation's own factor. At 0.01 that product is 32 × 1e-4: the activation std falls about 18× per layer, to 1e-12 at layer 9; Xavier's keeps tanh's std between 0.56 and 0.67 at every layer; He's keeps ReLU's between 0.29 and 0.66; 0.5 doubles it every layer, from 1 to 130-220 (the test checks all four at the start, seeds 0 and 1). After 300 Adam steps the held-out accuracy is 91% (tanh_xavier), 94% (relu_he), 37% (relu_large) and 10%, chance, for tanh_small: its gradients are 1e-12, nothing moves.

What to watch
- Layers view (it opens in front): activation std per layer on a log axis, one curve per net: tanh_small falls in a straight line, relu_large climbs in one, the Xavier and He curves stay flat. The numbers above are the start's: drag the Timeline slider to its left end (the first steps) to see them; after 300 steps Adam has lifted tanh_small's later layers a little, but its first layer still gets about 5e-9 of its last layer's gradient (the caption). The gradient norm plot shows the same story backwards: relu_large's gradients are about 800, tanh_small's 1e-12.
- Training curves: the loss is the sum of the four; the accuracy in the status bar is the first net's (tanh_small), stuck at 10%.

Things to try
- Select a relu_he layer (relu_he2 … relu_he9), set init to xavier_normal and press Reset: the std curve stays as flat (new draws, same spread), because the gain of the ReLU it feeds is √2, and for a square 32 × 32 layer Xavier's Var = 2·2/(32 + 32) is exactly He's 2/32.
- Select tanh_small1 and set init_std to 0.3, then Reset: the first point of its std curve jumps up, and every later layer still divides it by about 18.
- Train ▸ Compare Runs…: add a row with the setting node.tanh_small*.init=xavier_normal (a glob: it sets the init of tanh_small1 … tanh_small10, and skips the Tanh nodes between them, which have none). Every other weight starts as in the saved run and the batches are the same, so only tanh_small's init differs: its held-out accuracy (the run table's column: it is the first net) goes from 10% to 95% after 300 steps.""",

"resnet_vs_plain": """Residual connections: a 20-layer plain MLP and the same depth with skip connections, side by side on the digits.

What it shows
One digits Dataset feeds two separate nets with their own CrossEntropyLoss and PyTorch's default init: plain, 20 Linear layers (64 → 32 × 19 → 10) with a ReLU after each but the last; and res, a Linear stem, nine residual blocks y = ReLU(x + W₂·ReLU(W₁·x)) (each an Add of the block's input and its two-layer branch, as in He et al. 2016, without batch norm) and a Linear head: also 20 Linear layers. In the plain net the signal passes through every layer, so with PyTorch's default init (Var(w) = 1/(3·fan_in), which shrinks a ReLU layer's output) the gradient reaching the first layer is about 1e-6 of the last layer's; through the Adds it skips the branches, so every layer of the residual net gets about the same gradient. After 300 Adam steps the residual net reaches 96% held-out, the plain one 10%, chance (seeds 0 and 1: 96% and 94% against 10%; the test checks that the plain net's held-out loss is higher, its accuracy below 0.5 with the residual one's above 0.85, and that its first layers' gradients are over 1000 times smaller).

What to watch
- Layers view (it opens in front): the gradient norm per layer on a log axis, plain against res: the plain curve rises from about 3e-8 at layer 1 to 4e-2 at layer 20, the residual one stays between about 0.02 and 0.4 at every layer (the start; drag the Timeline slider to its left end to see the first steps; after 300 steps the plain net's first layer still gets about 5e-6 of its last layer's gradient, the caption).
- Training curves: the loss is the sum of the two; the plain net's share stays at ln 10 = 2.30 (it predicts uniform probabilities), so the sum never falls below that. The accuracy in the status bar is the first net's (plain).

Things to try
- Give the plain net He init: in Train ▸ Compare Runs… add a row node.plain*.init=kaiming_normal (a glob: every plain Linear, plain1 … plain20; the ReLUs have no init and are skipped). Those layers start from He's draws, their gradients no longer vanish, and the plain net trains: 89% held-out after 300 steps (the run table's held-out column is the plain net's), close to the residual net. Much of a plain net's trouble here is the init, which is why He et al. needed both.
- Train ▸ Compare Runs…: rows training.lr=0.003 and training.lr=0.0003 against the saved 0.001 (the held-out column is the plain net's): at 0.0003 it stays at chance, at 0.003 it gets going (41% after 300 steps), since Adam's steps do not shrink with the gradient.
- Add a BatchNorm1d after each plain Linear (the other fix of 2015, Ioffe & Szegedy).""",
}

RESULT = {
    "activations_saturation": "10-layer MLPs, Xavier init: sigmoid's first layer gets ~3e-6 of its last layer's gradient and reaches 19% held-out; tanh 93%, ReLU 92% after 300 steps",
    "init_variance": "10 tanh/ReLU layers: std falls 18x per layer at normal(0.01), stays 0.56-0.67 with Xavier (tanh), 0.29-0.66 with He (ReLU), doubles per layer at normal(0.5)",
    "resnet_vs_plain": "20 layers, PyTorch init, 300 steps: residual 96% held-out, plain 10% (its first layer gets ~1e-6 of the last layer's gradient)",
}


if __name__ == "__main__":
    main()

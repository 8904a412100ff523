"""Write the regularization and CNN-family lessons (presets/<name>.json) from code.

    python tools/make_vision_lessons.py [NAME ...]

* ``regularization_overfit``: an MLP big enough to memorise 100 digit scans, with switched-off
  regularizers in place (Dropout p=0, Identity placeholders where batch norm goes) that
  Train ▸ Compare Runs turns on one at a time.
* ``inception_digits``, ``vgg_digits``, ``densenet_digits``: GoogLeNet, VGG and DenseNet
  shrunk to the 8×8 digits, built from the palette's blocks (Inception, BasicConv2d,
  VGGBlock, DenseBlock, DenseTransition) so that each trains in seconds.

The measured results in the notes come from the tests that train these presets
(tests/session/test_lessons_regularization.py, tests/session/test_lessons_cnn_families.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground.graph import GraphModel, layout, summary  # noqa: E402
from playground.graph.layout import PRESET_WINDOW  # noqa: E402
from playground.project import Project, save  # noqa: E402
from playground.project.format import Training  # noqa: E402

#: The regularization lesson's Compare Runs rows: label -> overrides
#: (see ``playground.session.compare``).
REGULARIZATION_RUNS = {
    "none": {},
    "weight decay": {"training.weight_decay": 0.005},
    "dropout": {"node.drop0.p": 0.2, "node.drop1.p": 0.5, "node.drop2.p": 0.5},
    "batch norm": {"node.bn1.type": "BatchNorm1d", "node.bn1.num_features": 256,
                   "node.bn2.type": "BatchNorm1d", "node.bn2.num_features": 256},
}


def setting_text(overrides: dict) -> str:
    """A Compare Runs dialog setting: ``key=value`` pairs joined by ", "."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items())


class Chain:
    """A Dataset, then nodes one after another (each fed by the previous one's output),
    then a CrossEntropyLoss on the last one and the Dataset's target."""

    def __init__(self, **data):
        self.m = GraphModel()
        self.m.add_node("Dataset", {"dataset": "digits", **data}, node_id="data")
        self.prev, self.port = "data", "x"

    def __call__(self, node_id: str, type_name: str, **params) -> str:
        self.m.add_node(type_name, params, node_id=node_id)
        self.m.connect(self.prev, self.port, node_id, "input")
        self.prev, self.port = node_id, "output"
        return node_id

    def loss(self) -> GraphModel:
        self.m.add_node("CrossEntropyLoss", {}, node_id="loss")
        self.m.connect(self.prev, self.port, "loss", "input")
        self.m.connect("data", "target", "loss", "target")
        return self.m

    def image(self) -> None:
        self("image", "Reshape", shape=(1, 8, 8))


# ------------------------------------------------------------------------- the graphs


def regularization_overfit() -> GraphModel:
    c = Chain(dataset="digits_subset", n_samples=100)
    c("drop0", "Dropout", p=0.0)
    hidden = 256
    for i, c_in in ((1, 64), (2, hidden)):
        c(f"fc{i}", "Linear", in_features=c_in, out_features=hidden)
        c(f"bn{i}", "Identity")
        c(f"relu{i}", "ReLU")
        c(f"drop{i}", "Dropout", p=0.0)
    c("fc3", "Linear", in_features=hidden, out_features=10)
    return c.loss()


def inception_digits() -> GraphModel:
    c = Chain()
    c.image()
    c("stem", "BasicConv2d", in_channels=1, out_channels=16, kernel_size=3, padding=1)
    c("inception_a", "Inception", in_channels=16, ch1x1=8, ch3x3red=8, ch3x3=16, ch5x5red=4,
      ch5x5=8, pool_proj=8)
    c("pool", "MaxPool2d", kernel_size=2)
    c("inception_b", "Inception", in_channels=40, ch1x1=16, ch3x3red=16, ch3x3=32,
      ch5x5red=8, ch5x5=16, pool_proj=16)
    c("avgpool", "AdaptiveAvgPool2d", output_size=1)
    c("flatten", "Flatten")
    c("fc", "Linear", in_features=80, out_features=10)
    return c.loss()


def vgg_digits() -> GraphModel:
    c = Chain()
    c.image()
    c("block1", "VGGBlock", in_channels=1, out_channels=16, num_convs=2)
    c("block2", "VGGBlock", in_channels=16, out_channels=32, num_convs=2)
    c("flatten", "Flatten")
    c("fc1", "Linear", in_features=32 * 2 * 2, out_features=64)
    c("relu", "ReLU")
    c("dropout", "Dropout", p=0.5)
    c("fc2", "Linear", in_features=64, out_features=10)
    return c.loss()


def densenet_digits() -> GraphModel:
    c = Chain()
    c.image()
    c("conv0", "Conv2d", in_channels=1, out_channels=16, kernel_size=3, padding=1, bias=False)
    c("denseblock1", "DenseBlock", num_layers=3, in_channels=16, growth_rate=8, bn_size=2)
    c("transition1", "DenseTransition", in_channels=40, out_channels=20)
    c("denseblock2", "DenseBlock", num_layers=3, in_channels=20, growth_rate=8, bn_size=2)
    c("norm5", "BatchNorm2d", num_features=44)
    c("relu5", "ReLU")
    c("avgpool", "AdaptiveAvgPool2d", output_size=1)
    c("flatten", "Flatten")
    c("fc", "Linear", in_features=44, out_features=10)
    return c.loss()


# -------------------------------------------------------------------------- the lessons


def _runs_text() -> str:
    return "\n".join(f"- {label}: {setting_text(o) or '(empty: the preset as it is)'}"
                     for label, o in REGULARIZATION_RUNS.items())


LESSONS = {
    "regularization_overfit": dict(
        build=regularization_overfit,
        topic="Foundations",
        training=Training(optimizer="SGD", lr=0.05, momentum=0.9, batch_size=32, steps=1500),
        result="100 training digits: train 100%, held-out 87%; dropout and batch norm raise "
               "held-out accuracy 2-5 points, weight decay halves the held-out loss",
        notes="""Overfitting and three ways to fight it, on a training set small enough to memorise.

What it shows
The data is only 100 of the digit scans (ten of each digit, Dataset `digits_subset`, n_samples 100); the held-out split is the usual 359 scans. The network is a 64-256-256-10 MLP with {params:,} parameters, {per_example:,} per training example, so it can learn every training scan by heart. Plain SGD (momentum 0.9, 1,500 steps of 32) does exactly that: training accuracy reaches 100% and the training loss about 0.000, while held-out accuracy stops near 87% and the held-out loss climbs back up to about 0.9-1.0 as the net grows ever more sure of its memorised answers. The gap between the two curves is overfitting.

The graph already holds three regularizers, switched off: Dropout nodes drop0 (on the pixels), drop1 and drop2 with p = 0, and Identity placeholders bn1 and bn2 where batch norm goes. Train ▸ Compare Runs… trains the variants from the same initial weights and the same batches, so the only difference is the regularizer.

What to watch
- Training curves: the train loss goes to zero while the held-out loss turns upward after a few hundred steps; the held-out accuracy is flat long before that.
- Compare Runs (rows below): weight decay (L2, 0.005) keeps the weights small, so the net is less sure of its memorised answers: the held-out loss about halves (0.9-1.0 to about 0.48) and so does the train/held-out loss gap, though held-out accuracy hardly moves (86%); dropout (0.2 on the pixels, 0.5 on the hidden units) raises held-out accuracy by 2-5 points (to 89-91%) and more than halves the held-out loss; batch norm, inserted after fc1 and fc2, raises it by about 4 points (to 91%): it mostly helps optimisation, and each example's normalisation depends on the rest of its batch, a noise that regularizes a little. The training accuracy of all four is 100%: none of them stops the net from fitting, they change which fit it finds.
- Histograms: select fc1 and compare the weights' spread with and without weight decay.

Things to try
- Train ▸ Compare Runs… with these four rows (label: setting):
""" + _runs_text() + """
- Give it more data: a row node.data.n_samples=1000 reaches about 97% held-out with a held-out loss near 0.11, more than any regularizer managed: more data is the best regularizer.
- Put two together: weight decay and dropout in one row give about 87%, no better than dropout alone; regularizers do not simply add up.
- Raise the hidden dropout to 0.8 (node.drop1.p=0.8, node.drop2.p=0.8): now it underfits, the training accuracy falls to about 59% in 1,500 steps and held-out to 47%.""",
    ),
}


def make(name: str) -> Project:
    lesson = LESSONS[name]
    model = lesson["build"]()
    for node_id, pos in layout(model, window=PRESET_WINDOW).items():
        model.move_node(node_id, pos)
    errors = model.errors()
    if errors:
        raise SystemExit(f"{name}: the graph has errors: {errors}")
    params = summary(model).total_params
    notes = lesson["notes"].replace("{params:,}", f"{params:,}").replace(
        "{per_example:,}", f"{params // 100:,}")
    return Project(name=name, graph=model.to_dict(), training=lesson["training"],
                   notes=notes, topic=lesson["topic"], result=lesson["result"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"presets to write: {', '.join(LESSONS)} (default: all)")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in LESSONS]
    if unknown:
        ap.error(f"no lesson {unknown[0]!r}; choose from {', '.join(LESSONS)}")
    for name in args.names or LESSONS:
        project = make(name)
        path = save(project, ROOT / "presets" / f"{name}.json")
        path.chmod(0o644)  # save() writes through a private temp file
        s = summary(GraphModel.from_dict(project.graph))
        print(f"{path.relative_to(ROOT)}: {s.total_params:,} params")


if __name__ == "__main__":
    main()

"""Write the regularization and CNN-family lessons (presets/<name>.json) from code.

    python tools/make_vision_lessons.py [NAME ...]
    python tools/make_vision_lessons.py --compare-png assets/screenshots/compare_regularization.png

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

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground.graph import GraphModel, summary  # noqa: E402
from playground.project import Project  # noqa: E402
from playground.project.format import Training  # noqa: E402
from tools._preset_writer import check, chosen, lay_out, parser, write  # noqa: E402

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
    return "\n".join(f"- {label}: `{setting_text(o)}`" if o else
                     f"- {label}: (leave the setting empty: the preset as it is)"
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
- Training curves: the train loss goes to zero while the held-out loss turns upward after about a hundred steps and keeps climbing; the held-out accuracy is flat from then on.
- Compare Runs (rows below), its held-out accuracy plot and its run table: weight decay (L2, 0.005) keeps the weights small, so the net is less sure of its memorised answers: the table's held-out loss about halves (0.9-1.0 to about 0.48) and so does the train/held-out loss gap, though held-out accuracy hardly moves (86%); dropout (0.2 on the pixels, 0.5 on the hidden units) raises held-out accuracy by 2-5 points (to 89-91%) for seeds 0 and 1, less steadily for others (3 points for seed 2, 0.3 for seed 3), and cuts the held-out loss by 35-65% for all four; batch norm, inserted after fc1 and fc2, raises it by 4-5 points (to 90-93%) for each of seeds 0 to 3: it mostly helps optimisation, and each example's normalisation depends on the rest of its batch, a noise that regularizes a little. The training accuracy of all four is 100%: none of them stops the net from fitting, they change which fit it finds.
- Histograms: select fc1. Its weights start with a standard deviation of 0.072 and spread to 0.087 as the net memorises; set weight_decay to 0.005 in the Training settings, Reset and train again, and they shrink to 0.039 instead.

Things to try
- Train ▸ Compare Runs… with the four rows below, and compare the curves and the run table.
- Give it more data: a row node.data.n_samples=1000 reaches about 97% held-out with a held-out loss near 0.11, more than any regularizer managed: more data is the best regularizer.
- Put two together: weight decay and dropout in one row give about 87%, no better than dropout alone; regularizers do not simply add up.
- Raise the hidden dropout to 0.8 (the dropout row with node.drop1.p=0.8, node.drop2.p=0.8): now it underfits, the training accuracy falls to about 59% in 1,500 steps and held-out to 47%.

Compare Runs rows
Each row's label, then its setting to paste into the dialog:
""" + _runs_text(),
    ),
}


_CNN_TRAINING = dict(optimizer="Adam", batch_size=64, lr_schedule="CosineAnnealingLR")

LESSONS.update({
    "inception_digits": dict(
        build=inception_digits,
        topic="Vision",
        training=Training(lr=0.01, steps=200, **_CNN_TRAINING),
        result="a small GoogLeNet: at least 97% held-out after 200 steps (99-100% measured); "
               "its 1×1 bottlenecks save {saved_pct}% of the 3×3 branches' weights",
        notes="""GoogLeNet's Inception module (Szegedy et al. 2015), shrunk to the 8x8 digits.

What it shows
The image is reshaped to (1, 8, 8) and a 3x3 stem (a BasicConv2d: conv without bias, BatchNorm, ReLU) makes 16 maps. Then two Inception blocks look at the same maps at several scales at once: a 1x1 branch, a 3x3 branch, a '5x5' branch (a 3x3 conv, as torchvision builds it) and a 3x3 max-pool branch, concatenated along the channels (inception_a: 8 + 16 + 8 + 8 = 40 maps). A max pool halves H and W between them, inception_b widens to 80 maps, and global average pooling and one Linear layer classify. The whole net has {params:,} parameters. Adam with a cosine learning-rate schedule reaches at least 97% on the 359 held-out scans in 200 steps (100% for seed 0, 99.2% for seed 1).

The 1x1 convolutions in front of the 3x3 branches (branch2_reduce, branch3_reduce) are bottlenecks: they cut the channels first, so the expensive conv has fewer inputs (Szegedy et al. 2015, section 4). The Summary counts what each saves against the same 3x3 conv applied directly to the block's input, C_out*C_in*9 weights against C_mid*C_in + C_out*C_mid*9:
{bottlenecks}
Together they save {saved:,} of {direct:,} weights ({saved_pct}%); googlenet's 18 save 75% of theirs.

What to watch
- Summary tab: the line under the table adds up the bottlenecks; hover it, or an inception row, for each one. Double-click inception_b to list the nodes inside with their counts.
- Feature maps: the stem's 16 maps and 3x3 kernels for the first held-out digit. To see a branch's maps, double-click inception_a to open it, double-click a branch (a BasicConv2d block) and select the Conv2d inside.
- Training curves: the held-out accuracy passes 95% within about 70 steps.

Things to try
- Select inception_b and set ch3x3red to 40, no reduction: its first bottleneck leaves the list and the block gains {no_reduce_gain:,} parameters.
- Compare with vgg_digits and densenet_digits: about the same accuracy from {vgg_params:,} and {densenet_params:,} parameters.""",
    ),
    "vgg_digits": dict(
        build=vgg_digits,
        topic="Vision",
        training=Training(lr=0.005, steps=400, **_CNN_TRAINING),
        result="a small VGG of 3×3 convs: at least 95% held-out after 400 steps (98-99% "
               "measured)",
        notes="""VGG's idea (Simonyan & Zisserman 2015) on the 8x8 digits: nothing but 3x3 convolutions, stacked.

What it shows
Two VGG blocks, each two 3x3 convolutions (padding 1) with ReLU and a 2x2 max pool: 16 channels, then 32, while H and W go 8 to 4 to 2. Then VGG's head in small: Flatten, Linear 128 to 64, ReLU, Dropout 0.5, Linear to the 10 classes; {params:,} parameters. Adam with a cosine schedule reaches at least 95% held-out in 400 steps (98.9% for seed 0, 97.8% for seed 1).

Why only 3x3: two stacked 3x3 convolutions see a 5x5 window, as one 5x5 convolution does, with 2*9*C*C instead of 25*C*C weights for C channels in and out, and a ReLU between them (Simonyan & Zisserman 2015, section 2.3). For block2's 32 channels that is 18,432 weights against 25,600.

What to watch
- Training curves: the training loss stays above the held-out loss; dropout is on while training and off when the held-out scans are scored, so the training batches are the harder test.
- Feature maps: block1/conv1's 16 maps and 3x3 kernels for the first held-out digit; double-click block2 to open it and select its conv2 for 32 maps of 4x4.
- Summary tab: the head's first Linear holds {fc1_params:,} of the parameters, as VGG-16's first fully connected layer holds most of its 138M.

Things to try
- Set batch_norm on both blocks (VGG-BN): 99.4% for seed 0 in the same 400 steps.
- Set the dropout's p to 0: the training loss falls to about 0.002 and held-out is about 98.3%.
- Compare with inception_digits, which replaces the big head by global average pooling.""",
    ),
    "densenet_digits": dict(
        build=densenet_digits,
        topic="Vision",
        training=Training(lr=0.01, steps=200, **_CNN_TRAINING),
        result="a small DenseNet: at least 97% held-out after 200 steps (99.7-100% measured)",
        notes="""DenseNet (Huang et al. 2017) on the 8x8 digits: every layer sees all the maps before it.

What it shows
A 3x3 stem conv makes 16 maps. denseblock1 has three dense layers; each is BN-ReLU-1x1 conv to bn_size*growth_rate = 16 maps, then BN-ReLU-3x3 conv to growth_rate = 8 new maps, concatenated to its input, so the channels grow 16, 24, 32, 40. A transition (BN-ReLU-1x1 conv to 20 channels, 2x2 average pool) halves the channels and H, W; denseblock2 grows them from 20 to 44; then BN, ReLU, global average pooling and one Linear. {params:,} parameters. Adam with a cosine schedule reaches at least 97% held-out in 200 steps (99.7% for seed 0, 100% for seed 1).

The 1x1 conv of each dense layer is a bottleneck (DenseNet-B, Huang et al. 2017, section 3): however wide the concatenation gets, the 3x3 conv sees only 16 channels. It saves weights only once the input is wide enough: a 3x3 conv straight from C_in channels to 8 has 72*C_in weights, the pair 16*C_in + 1,152, so from 21 channels on, and more the wider it gets. The Summary lists those layers:
{bottlenecks}
In densenet121 (growth rate 32, bn_size 4) the layers' inputs grow to 1,000 channels, and its {dn121_count} bottlenecks save {dn121_saved:,} weights.

What to watch
- Summary tab: the bottleneck line; double-click denseblock1 to list its layers and see the 1x1 conv's count grow with its input while the 3x3 conv's stays the same.
- Feature maps: conv0's 16 maps and kernels for the first held-out digit; open denseblock1 and one of its dense layers and select conv2 for the 8 maps that layer adds.
- Training curves: held-out accuracy passes 95% within about 100 steps, with a few dips on the way while batch norm's running statistics catch up with the moving weights; the cosine schedule's small final steps settle it.

Things to try
- Set denseblock2's num_layers to 6: norm5 turns red and says it now gets 68 channels; set its num_features and fc's in_features to 68 and train again.
- Set bn_size to 1 in both blocks: the 3x3 convs see only 8 channels; the bottlenecks save more, and the model is smaller.
- Compare with inception_digits: both concatenate along the channels, one across branches, one across depth.""",
    ),
})


def _values(name: str, model: GraphModel) -> dict:
    """The numbers a lesson's notes and result quote, computed from the graphs."""
    s = summary(model)
    found = s.bottlenecks
    saved, direct = sum(b.saved for b in found), sum(b.direct for b in found)
    values = {"params": s.total_params, "saved": saved, "direct": direct,
              "saved_pct": round(100 * saved / direct) if direct else 0,
              "bottlenecks": "\n".join(f"- {b.text}" for b in found),
              "per_example": s.total_params // 100}
    if name == "inception_digits":
        wide = inception_digits()
        wide.set_param("inception_b", "ch3x3red", 40)
        values["no_reduce_gain"] = summary(wide).total_params - s.total_params
        values["vgg_params"] = summary(vgg_digits()).total_params
        values["densenet_params"] = summary(densenet_digits()).total_params
    if name == "vgg_digits":
        values["fc1_params"] = s.row("fc1").params
    if name == "densenet_digits":
        from playground.project import load
        big = summary(GraphModel.from_dict(load("densenet121").graph)).bottlenecks
        values["dn121_count"] = len(big)
        values["dn121_saved"] = sum(b.saved for b in big)
    return values


def make(name: str) -> Project:
    lesson = LESSONS[name]
    model = lesson["build"]()
    lay_out(model)
    check(name, model)
    values = _values(name, model)
    return Project(name=name, graph=model.to_dict(), training=lesson["training"],
                   notes=lesson["notes"].format(**values), topic=lesson["topic"],
                   result=lesson["result"].format(**values))


def compare_screenshot(path: Path, size: tuple[int, int] = (1300, 800)) -> None:
    """Run the regularization lesson's four Compare Runs rows in the dialog (offscreen, the
    dark theme) and save it as a PNG: the README's picture of Compare Runs."""
    import os
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from playground.project import load
    from playground.ui.compare import CompareDialog
    from playground.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    dialog = CompareDialog(load("regularization_overfit"))
    dialog.runs_table.setRowCount(0)
    for label, overrides in REGULARIZATION_RUNS.items():
        dialog._add_row(label, setting_text(overrides))
    dialog.resize(*size)
    dialog.show()
    dialog.start()
    dialog.wait()
    app.processEvents()
    dialog.grab().save(str(path))
    print(f"{path}: {dialog.status.text()}")


def main(argv: list[str] | None = None) -> None:
    ap = parser(__doc__, LESSONS)
    ap.add_argument("--compare-png", metavar="FILE", type=Path,
                    help="instead, save the Compare Runs dialog after regularization_overfit's "
                         "four runs as FILE")
    args = ap.parse_args(argv)
    if args.compare_png:
        compare_screenshot(args.compare_png)
        return
    for name in chosen(ap, args, LESSONS, "lesson"):
        project = make(name)
        path = write(project)
        s = summary(GraphModel.from_dict(project.graph))
        print(f"{path.relative_to(ROOT)}: {s.total_params:,} params")


if __name__ == "__main__":
    main()

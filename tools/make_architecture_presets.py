"""Write the architecture presets (presets/<name>.json) from code, so they are reproducible.

    python tools/make_architecture_presets.py [NAME ...]

Each preset is an inspection graph: an ``Input`` node (3×224×224, LeNet-5 1×32×32) and the
network, built from the composite blocks of ``playground.graph.blocks`` (ResNetBasicBlock,
ResNetBottleneck, BasicConv2d, Inception, VGGBlock, DenseBlock, DenseTransition), which start
closed. Layers follow torchvision's model definitions (``torchvision/models/*.py``) so that
the parameter counts equal the ``num_params`` of torchvision's model pages to the unit;
LeNet-5 follows LeCun et al. 1998. The graphs are laid out by ``graph.layout``'s layered
layout, wrapped into bands for ``PRESET_WINDOW``. A block whose inside equals its template
is written without ``subgraph`` (the loader makes it from the template), which keeps the
files small.

Published numbers (num_params, GFLOPS) come from torchvision's documentation, one page per
model: https://pytorch.org/vision/stable/models/generated/torchvision.models.<name>.html
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground.graph import GraphModel, summary  # noqa: E402
from playground.project import Project  # noqa: E402
from tools._preset_writer import check, chosen, lay_out, parser, write  # noqa: E402

TV_PAGE = "https://pytorch.org/vision/stable/models/generated/torchvision.models.{}.html"

#: name -> (num_params, GFLOPS) as torchvision's model pages publish them (IMAGENET1K_V1).
PUBLISHED = {
    "alexnet": (61_100_840, 0.71),
    "vgg16": (138_357_544, 15.47),
    "vgg19": (143_667_240, 19.63),
    "resnet18": (11_689_512, 1.81),
    "resnet50": (25_557_032, 4.09),
    "googlenet": (6_624_904, 1.50),
    "densenet121": (7_978_856, 2.83),
}
#: LeNet-5 as LeCun et al. 1998 describe it (C1 156, C3 2,416 with full connectivity,
#: C5 48,120, F6 10,164, output 850 weights and biases).
LENET5_PARAMS = 61_706


class Chain:
    """Adds nodes one after another, each fed by the previous one's ``output``."""

    def __init__(self, shape: tuple[int, ...]):
        self.m = GraphModel()
        self.prev = self.m.add_node("Input", {"shape": shape}, node_id="image")

    def __call__(self, node_id: str, type_name: str, **params) -> str:
        self.m.add_node(type_name, params, node_id=node_id)
        self.m.connect(self.prev, "output", node_id, "input")
        self.prev = node_id
        return node_id

    def head(self, in_features: int, num_classes: int = 1000, pool: bool = True) -> None:
        if pool:
            self("avgpool", "AdaptiveAvgPool2d", output_size=1)
        self("flatten", "Flatten")
        self("fc", "Linear", in_features=in_features, out_features=num_classes)


def lenet5() -> GraphModel:
    """LeCun et al. 1998, "Gradient-based learning applied to document recognition": C1
    6@5×5, S2 2×2 subsampling, C3 16@5×5 (here fully connected to S2's six maps), S4, C5
    120@5×5, F6 84, 10 outputs; tanh squashing. S2/S4 are parameter-free average pools and
    the RBF output layer is a Linear layer, as in most modern re-implementations."""
    c = Chain((1, 32, 32))
    c("c1", "Conv2d", in_channels=1, out_channels=6, kernel_size=5)
    c("tanh1", "Tanh")
    c("s2", "AvgPool2d", kernel_size=2)
    c("c3", "Conv2d", in_channels=6, out_channels=16, kernel_size=5)
    c("tanh2", "Tanh")
    c("s4", "AvgPool2d", kernel_size=2)
    c("c5", "Conv2d", in_channels=16, out_channels=120, kernel_size=5)
    c("tanh3", "Tanh")
    c("flatten", "Flatten")
    c("f6", "Linear", in_features=120, out_features=84)
    c("tanh4", "Tanh")
    c("output", "Linear", in_features=84, out_features=10)
    return c.m


def alexnet() -> GraphModel:
    """torchvision ``AlexNet`` (the one-GPU variant of Krizhevsky et al. 2012)."""
    c = Chain((3, 224, 224))
    convs = [(3, 64, 11, 4, 2, True), (64, 192, 5, 1, 2, True), (192, 384, 3, 1, 1, False),
             (384, 256, 3, 1, 1, False), (256, 256, 3, 1, 1, True)]
    for i, (cin, cout, k, s, p, pool) in enumerate(convs, start=1):
        c(f"conv{i}", "Conv2d", in_channels=cin, out_channels=cout, kernel_size=k, stride=s,
          padding=p)
        c(f"relu{i}", "ReLU")
        if pool:
            c(f"pool{i}", "MaxPool2d", kernel_size=3, stride=2)
    c("avgpool", "AdaptiveAvgPool2d", output_size=6)
    c("flatten", "Flatten")
    c("dropout1", "Dropout", p=0.5)
    c("fc1", "Linear", in_features=256 * 6 * 6, out_features=4096)
    c("relu6", "ReLU")
    c("dropout2", "Dropout", p=0.5)
    c("fc2", "Linear", in_features=4096, out_features=4096)
    c("relu7", "ReLU")
    c("fc3", "Linear", in_features=4096, out_features=1000)
    return c.m


def _vgg(convs_per_stage: tuple[int, ...]) -> GraphModel:
    """torchvision ``VGG`` without batch norm: five VGGBlocks (64, 128, 256, 512, 512
    channels), AdaptiveAvgPool2d(7), classifier 25088-4096-4096-1000 with dropout."""
    c = Chain((3, 224, 224))
    cin = 3
    for i, (n, cout) in enumerate(zip(convs_per_stage, (64, 128, 256, 512, 512)), start=1):
        c(f"stage{i}", "VGGBlock", in_channels=cin, out_channels=cout, num_convs=n)
        cin = cout
    c("avgpool", "AdaptiveAvgPool2d", output_size=7)
    c("flatten", "Flatten")
    c("fc1", "Linear", in_features=512 * 7 * 7, out_features=4096)
    c("relu1", "ReLU")
    c("dropout1", "Dropout", p=0.5)
    c("fc2", "Linear", in_features=4096, out_features=4096)
    c("relu2", "ReLU")
    c("dropout2", "Dropout", p=0.5)
    c("fc3", "Linear", in_features=4096, out_features=1000)
    return c.m


def vgg16() -> GraphModel:
    """VGG-16, configuration D of Simonyan & Zisserman 2015 (torchvision ``vgg16``)."""
    return _vgg((2, 2, 3, 3, 3))


def vgg19() -> GraphModel:
    """VGG-19, configuration E of Simonyan & Zisserman 2015 (torchvision ``vgg19``)."""
    return _vgg((2, 2, 4, 4, 4))


def _resnet(block: str, layers: tuple[int, ...], expansion: int) -> GraphModel:
    """torchvision ``ResNet``: 7×7/2 conv, BN, ReLU, 3×3/2 max pool, four stages of blocks
    (the first block of stages 2-4 has stride 2), global average pool, fc."""
    c = Chain((3, 224, 224))
    c("conv1", "Conv2d", in_channels=3, out_channels=64, kernel_size=7, stride=2, padding=3,
      bias=False)
    c("bn1", "BatchNorm2d", num_features=64)
    c("relu", "ReLU")
    c("maxpool", "MaxPool2d", kernel_size=3, stride=2, padding=1)
    cin = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for k in range(blocks):
            c(f"layer{stage}_{k}", block, in_channels=cin, planes=planes,
              stride=2 if stage > 1 and k == 0 else 1)
            cin = planes * expansion
    c.head(512 * expansion)
    return c.m


def resnet18() -> GraphModel:
    """ResNet-18 (He et al. 2016): BasicBlocks [2, 2, 2, 2]."""
    return _resnet("ResNetBasicBlock", (2, 2, 2, 2), 1)


def resnet50() -> GraphModel:
    """ResNet-50 (He et al. 2016; torchvision's v1.5, stride on the 3×3): Bottlenecks
    [3, 4, 6, 3]."""
    return _resnet("ResNetBottleneck", (3, 4, 6, 3), 4)


def googlenet() -> GraphModel:
    """torchvision ``GoogLeNet`` (Szegedy et al. 2015) without the auxiliary classifiers
    (``aux_logits=False``): BasicConv2d stem, nine Inception modules, global average pool,
    dropout 0.2, fc 1024-1000. Its pools use ``ceil_mode=True``."""
    c = Chain((3, 224, 224))
    c("conv1", "BasicConv2d", in_channels=3, out_channels=64, kernel_size=7, stride=2,
      padding=3)
    c("maxpool1", "MaxPool2d", kernel_size=3, stride=2, ceil_mode=True)
    c("conv2", "BasicConv2d", in_channels=64, out_channels=64, kernel_size=1)
    c("conv3", "BasicConv2d", in_channels=64, out_channels=192, kernel_size=3, padding=1)
    c("maxpool2", "MaxPool2d", kernel_size=3, stride=2, ceil_mode=True)
    inception = {
        "inception3a": (192, 64, 96, 128, 16, 32, 32),
        "inception3b": (256, 128, 128, 192, 32, 96, 64),
        "maxpool3": None,
        "inception4a": (480, 192, 96, 208, 16, 48, 64),
        "inception4b": (512, 160, 112, 224, 24, 64, 64),
        "inception4c": (512, 128, 128, 256, 24, 64, 64),
        "inception4d": (512, 112, 144, 288, 32, 64, 64),
        "inception4e": (528, 256, 160, 320, 32, 128, 128),
        "maxpool4": None,
        "inception5a": (832, 256, 160, 320, 32, 128, 128),
        "inception5b": (832, 384, 192, 384, 48, 128, 128),
    }
    keys = ("in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
    for node_id, args in inception.items():
        if args is None:
            k = 3 if node_id == "maxpool3" else 2
            c(node_id, "MaxPool2d", kernel_size=k, stride=2, ceil_mode=True)
        else:
            c(node_id, "Inception", **dict(zip(keys, args)))
    c("avgpool", "AdaptiveAvgPool2d", output_size=1)
    c("flatten", "Flatten")
    c("dropout", "Dropout", p=0.2)
    c("fc", "Linear", in_features=1024, out_features=1000)
    return c.m


def densenet121() -> GraphModel:
    """torchvision ``densenet121`` (Huang et al. 2017): growth rate 32, blocks (6, 12, 24,
    16), bn_size 4, transitions halve the channels; norm5 and ReLU before the pool."""
    c = Chain((3, 224, 224))
    c("conv0", "Conv2d", in_channels=3, out_channels=64, kernel_size=7, stride=2, padding=3,
      bias=False)
    c("norm0", "BatchNorm2d", num_features=64)
    c("relu0", "ReLU")
    c("pool0", "MaxPool2d", kernel_size=3, stride=2, padding=1)
    ch = 64
    for i, n in enumerate((6, 12, 24, 16), start=1):
        c(f"denseblock{i}", "DenseBlock", num_layers=n, in_channels=ch, growth_rate=32,
          bn_size=4)
        ch += n * 32
        if i < 4:
            c(f"transition{i}", "DenseTransition", in_channels=ch, out_channels=ch // 2)
            ch //= 2
    c("norm5", "BatchNorm2d", num_features=ch)
    c("relu5", "ReLU")
    c.head(ch)
    return c.m


BUILDERS = {"lenet5": lenet5, "alexnet": alexnet, "vgg16": vgg16, "vgg19": vgg19,
            "resnet18": resnet18, "resnet50": resnet50, "googlenet": googlenet,
            "densenet121": densenet121}

TITLES = {"lenet5": "LeNet-5", "alexnet": "AlexNet", "vgg16": "VGG-16", "vgg19": "VGG-19",
          "resnet18": "ResNet-18", "resnet50": "ResNet-50",
          "googlenet": "GoogLeNet (Inception v1)", "densenet121": "DenseNet-121"}

INTRO = {
    "lenet5": "LeCun et al.'s 1998 digit recogniser on a 1x32x32 image: two convolution + "
              "tanh + 2x2 subsampling stages, a 5x5 convolution C5 down to 120 maps of 1x1, "
              "then F6 (84) and 10 outputs.",
    "alexnet": "Krizhevsky et al. 2012 (torchvision's one-GPU variant) at 3x224x224: five "
               "convolutions with ReLU and overlapping 3x3 max pools, then three fully "
               "connected layers. The first fc layer holds 37.7M of its 61.1M parameters.",
    "vgg16": "Simonyan & Zisserman 2015, configuration D, at 3x224x224: five VGG blocks of "
             "3x3 convolutions (2, 2, 3, 3, 3 convs; 64 to 512 channels), each ending in a 2x2 "
             "max pool, then a 25088-4096-4096-1000 classifier.",
    "vgg19": "Simonyan & Zisserman 2015, configuration E, at 3x224x224: as VGG-16 with 2, 2, "
             "4, 4, 4 convolutions per block.",
    "resnet18": "He et al. 2016 at 3x224x224: a 7x7 stem, four stages of two basic residual "
                "blocks (64, 128, 256, 512 channels; the first block of stages 2-4 halves H "
                "and W and adds a 1x1 projection shortcut), global average pool, fc.",
    "resnet50": "He et al. 2016 at 3x224x224, torchvision's v1.5 (stride on the 3x3 conv): "
                "bottleneck blocks [3, 4, 6, 3] (1x1 reduce, 3x3, 1x1 expand to 4x), global "
                "average pool, fc 2048-1000.",
    "googlenet": "Szegedy et al. 2015 at 3x224x224, as torchvision builds it without the "
                 "auxiliary classifiers: every conv is a BasicConv2d (conv without bias, "
                 "BatchNorm eps 0.001, ReLU), and nine Inception modules concatenate 1x1, "
                 "3x3, '5x5' and pool branches. Like torchvision, the '5x5' branch uses a 3x3 "
                 "kernel.",
    "densenet121": "Huang et al. 2017 at 3x224x224: dense blocks of 6, 12, 24 and 16 layers "
                   "(growth rate 32; each layer sees the concatenation of all before it), "
                   "transitions that halve channels and H, W, global average pool, fc.",
}

HOW_TO = ("The blocks start closed: double-click one (or use its Open button) to see its "
          "layers. This preset is for inspection (the Summary dock, one forward pass); it "
          "has no dataset and does not train.")


def notes(name: str, params: int, macs: int) -> str:
    ours = f"This graph: {params:,} parameters, {macs / 1e9:.2f} G multiply-accumulates " \
           f"(convolutions and linear layers) per image."
    if name == "lenet5":
        ref = (f"Published: {LENET5_PARAMS:,} parameters (LeCun, Bottou, Bengio & Haffner "
               "1998, 'Gradient-based learning applied to document recognition', Proc. IEEE "
               "86(11), section II.B; with C3 fully connected to S2, parameter-free "
               "subsampling and a linear output layer in place of the RBF units). LeNet-5 is "
               "not in torchvision, which publishes no numbers for it.")
    else:
        n, gflops = PUBLISHED[name]
        ref = (f"Published: num_params {n:,}, GFLOPS {gflops} (torchvision's model page "
               f"for {name}, IMAGENET1K_V1 weights: {TV_PAGE.format(name)}). torchvision's "
               "GFLOPS count multiply-accumulates, so compare them with the Summary's MACs.")
    return f"{INTRO[name]} {HOW_TO}\n\n{ref}\n\n{ours}"


def compact(graph: dict, model: GraphModel) -> dict:
    """``graph`` with each block's ``subgraph`` dropped when it equals its template."""
    for node in graph["nodes"]:
        if "subgraph" in node:
            spec = model.spec(node["id"])
            if spec.make_subgraph(model.params(node["id"])).to_dict() == node["subgraph"]:
                del node["subgraph"]
    return graph


def make(name: str) -> Project:
    model = BUILDERS[name]()
    lay_out(model)
    check(name, model)
    s = summary(model)
    return Project(name=name, graph=compact(model.to_dict(), model),
                   notes=notes(name, s.total_params, s.total_macs))


def main(argv: list[str] | None = None) -> None:
    ap = parser(__doc__, BUILDERS)
    for name in chosen(ap, ap.parse_args(argv), BUILDERS, "architecture"):
        path = write(make(name))
        s = summary(GraphModel.from_dict(json.loads(path.read_text())["graph"]))
        print(f"{path.relative_to(ROOT)}: {s.total_params:,} params, "
              f"{s.total_macs / 1e9:.3f} GMACs")


if __name__ == "__main__":
    main()

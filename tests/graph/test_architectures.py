"""The architecture presets (presets/lenet5 ... densenet121, written by
tools/make_architecture_presets.py) against the published numbers and against torch.

For each preset:

- its Summary's ``total_params`` equals the published count to the unit: torchvision's
  ``num_params`` (its model pages, e.g. https://pytorch.org/vision/stable/models/generated/
  torchvision.models.resnet18.html), or LeCun et al. 1998 for LeNet-5;
- its Summary's ``total_macs`` is within 2% of torchvision's published GFLOPS. Both count the
  same thing: torchvision's GFLOPS are the multiply-accumulates of convolutions and linear
  layers (its pools, norms, activations and adds are not counted), and our Summary gives
  MACs only to Conv2d and Linear (pools, BatchNorm, ReLU, Add and Concat cost 0 MACs, see
  graph/nodes/), so ``total_macs`` is compared directly, without any adjustment;
- a torch.nn build of the same architecture (written here after torchvision's model code,
  since torchvision is not installed) has the published parameter count too, its
  conv+linear MACs, counted with forward hooks, equal ours exactly, and, with its weights
  loaded into our compiled graph, our forward pass at the preset's full input size
  (3×224×224, LeNet-5 1×32×32) on a batch of 2 gives torch's logits.

The torch modules use our node ids as attribute names (``layer1_0.conv1``), so a parameter
``"layer1_0/conv1.weight"`` of our Program is torch's ``"layer1_0.conv1.weight"``. Measured
time of the whole file on the 2-core test machine: ~25 s, most of it the two VGGs' weight
init and forward passes (kept at 224, the size the presets are made for).
"""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest

from playground.engine import Tensor, no_grad
from playground.graph import GraphModel, compile, summary
from playground.project import load, presets_dir

torch = pytest.importorskip("torch")
tnn = torch.nn

#: name -> (num_params, GFLOPS): torchvision's model pages (IMAGENET1K_V1); LeNet-5: LeCun
#: et al. 1998 (C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850), no GFLOPS published.
PUBLISHED = {
    "lenet5": (61_706, None),
    "alexnet": (61_100_840, 0.71),
    "vgg16": (138_357_544, 15.47),
    "vgg19": (143_667_240, 19.63),
    "resnet18": (11_689_512, 1.81),
    "resnet50": (25_557_032, 4.09),
    "googlenet": (6_624_904, 1.50),
    "densenet121": (7_978_856, 2.83),
}
NAMES = list(PUBLISHED)

# ------------------------------------------------------------- torch builds (the oracle)


def seq(*named):
    return tnn.Sequential(OrderedDict(named))


def conv(cin, cout, k, s=1, p=0, bias=True):
    return tnn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias)


def t_lenet5():
    return seq(("c1", conv(1, 6, 5)), ("tanh1", tnn.Tanh()), ("s2", tnn.AvgPool2d(2)),
               ("c3", conv(6, 16, 5)), ("tanh2", tnn.Tanh()), ("s4", tnn.AvgPool2d(2)),
               ("c5", conv(16, 120, 5)), ("tanh3", tnn.Tanh()), ("flatten", tnn.Flatten()),
               ("f6", tnn.Linear(120, 84)), ("tanh4", tnn.Tanh()),
               ("output", tnn.Linear(84, 10)))


def t_alexnet():  # torchvision.models.alexnet.AlexNet
    return seq(("conv1", conv(3, 64, 11, 4, 2)), ("relu1", tnn.ReLU()),
               ("pool1", tnn.MaxPool2d(3, 2)),
               ("conv2", conv(64, 192, 5, p=2)), ("relu2", tnn.ReLU()),
               ("pool2", tnn.MaxPool2d(3, 2)),
               ("conv3", conv(192, 384, 3, p=1)), ("relu3", tnn.ReLU()),
               ("conv4", conv(384, 256, 3, p=1)), ("relu4", tnn.ReLU()),
               ("conv5", conv(256, 256, 3, p=1)), ("relu5", tnn.ReLU()),
               ("pool5", tnn.MaxPool2d(3, 2)), ("avgpool", tnn.AdaptiveAvgPool2d(6)),
               ("flatten", tnn.Flatten()), ("dropout1", tnn.Dropout()),
               ("fc1", tnn.Linear(9216, 4096)), ("relu6", tnn.ReLU()),
               ("dropout2", tnn.Dropout()), ("fc2", tnn.Linear(4096, 4096)),
               ("relu7", tnn.ReLU()), ("fc3", tnn.Linear(4096, 1000)))


def t_vgg(cfg):  # torchvision.models.vgg.VGG, cfgs "D" and "E", batch_norm=False
    stages, cin = [], 3
    for i, (n, cout) in enumerate(zip(cfg, (64, 128, 256, 512, 512)), start=1):
        layers = []
        for j in range(1, n + 1):
            layers += [(f"conv{j}", conv(cin, cout, 3, p=1)), (f"relu{j}", tnn.ReLU())]
            cin = cout
        stages.append((f"stage{i}", seq(*layers, ("pool", tnn.MaxPool2d(2, 2)))))
    return seq(*stages, ("avgpool", tnn.AdaptiveAvgPool2d(7)), ("flatten", tnn.Flatten()),
               ("fc1", tnn.Linear(25088, 4096)), ("relu1", tnn.ReLU()),
               ("dropout1", tnn.Dropout()), ("fc2", tnn.Linear(4096, 4096)),
               ("relu2", tnn.ReLU()), ("dropout2", tnn.Dropout()),
               ("fc3", tnn.Linear(4096, 1000)))


class TBlock(tnn.Module):  # torchvision BasicBlock / Bottleneck (v1.5)
    def __init__(self, cin, planes, stride, bottleneck):
        super().__init__()
        out = planes * (4 if bottleneck else 1)
        if bottleneck:
            self.convs = [("conv1", conv(cin, planes, 1, bias=False), "bn1"),
                          ("conv2", conv(planes, planes, 3, stride, 1, bias=False), "bn2"),
                          ("conv3", conv(planes, out, 1, bias=False), "bn3")]
        else:
            self.convs = [("conv1", conv(cin, planes, 3, stride, 1, bias=False), "bn1"),
                          ("conv2", conv(planes, planes, 3, 1, 1, bias=False), "bn2")]
        for name, c, bn in self.convs:
            setattr(self, name, c)
            setattr(self, bn, tnn.BatchNorm2d(c.out_channels))
        self.down = stride != 1 or cin != out
        if self.down:
            self.downsample_conv = conv(cin, out, 1, stride, bias=False)
            self.downsample_bn = tnn.BatchNorm2d(out)

    def forward(self, x):
        h = x
        for i, (name, _, bn) in enumerate(self.convs):
            h = getattr(self, bn)(getattr(self, name)(h))
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        short = self.downsample_bn(self.downsample_conv(x)) if self.down else x
        return torch.relu(h + short)


def t_resnet(layers, bottleneck):  # torchvision.models.resnet.ResNet
    mods = [("conv1", conv(3, 64, 7, 2, 3, bias=False)), ("bn1", tnn.BatchNorm2d(64)),
            ("relu", tnn.ReLU()), ("maxpool", tnn.MaxPool2d(3, 2, 1))]
    cin = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for k in range(n):
            mods.append((f"layer{stage}_{k}",
                         TBlock(cin, planes, 2 if stage > 1 and k == 0 else 1, bottleneck)))
            cin = planes * (4 if bottleneck else 1)
    return seq(*mods, ("avgpool", tnn.AdaptiveAvgPool2d(1)), ("flatten", tnn.Flatten()),
               ("fc", tnn.Linear(cin, 1000)))


def t_basic(cin, cout, k, s=1, p=0):  # torchvision.models.googlenet.BasicConv2d
    return seq(("conv", conv(cin, cout, k, s, p, bias=False)),
               ("bn", tnn.BatchNorm2d(cout, eps=0.001)), ("relu", tnn.ReLU()))


class TInception(tnn.Module):  # torchvision.models.googlenet.Inception
    def __init__(self, cin, ch1, ch3r, ch3, ch5r, ch5, pool):
        super().__init__()
        self.branch1 = t_basic(cin, ch1, 1)
        self.branch2_reduce, self.branch2 = t_basic(cin, ch3r, 1), t_basic(ch3r, ch3, 3, p=1)
        self.branch3_reduce, self.branch3 = t_basic(cin, ch5r, 1), t_basic(ch5r, ch5, 3, p=1)
        self.branch4_pool = tnn.MaxPool2d(3, 1, 1, ceil_mode=True)
        self.branch4 = t_basic(cin, pool, 1)

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(self.branch2_reduce(x)),
                          self.branch3(self.branch3_reduce(x)),
                          self.branch4(self.branch4_pool(x))], 1)


def t_googlenet():  # torchvision GoogLeNet(aux_logits=False, transform_input=False)
    inc = lambda *a: TInception(*a)  # noqa: E731
    return seq(("conv1", t_basic(3, 64, 7, 2, 3)), ("maxpool1", tnn.MaxPool2d(3, 2, ceil_mode=True)),
               ("conv2", t_basic(64, 64, 1)), ("conv3", t_basic(64, 192, 3, p=1)),
               ("maxpool2", tnn.MaxPool2d(3, 2, ceil_mode=True)),
               ("inception3a", inc(192, 64, 96, 128, 16, 32, 32)),
               ("inception3b", inc(256, 128, 128, 192, 32, 96, 64)),
               ("maxpool3", tnn.MaxPool2d(3, 2, ceil_mode=True)),
               ("inception4a", inc(480, 192, 96, 208, 16, 48, 64)),
               ("inception4b", inc(512, 160, 112, 224, 24, 64, 64)),
               ("inception4c", inc(512, 128, 128, 256, 24, 64, 64)),
               ("inception4d", inc(512, 112, 144, 288, 32, 64, 64)),
               ("inception4e", inc(528, 256, 160, 320, 32, 128, 128)),
               ("maxpool4", tnn.MaxPool2d(2, 2, ceil_mode=True)),
               ("inception5a", inc(832, 256, 160, 320, 32, 128, 128)),
               ("inception5b", inc(832, 384, 192, 384, 48, 128, 128)),
               ("avgpool", tnn.AdaptiveAvgPool2d(1)), ("flatten", tnn.Flatten()),
               ("dropout", tnn.Dropout(0.2)), ("fc", tnn.Linear(1024, 1000)))


class TDenseBlock(tnn.Module):  # torchvision.models.densenet._DenseBlock
    def __init__(self, n, cin, growth=32, bn_size=4):
        super().__init__()
        for i in range(1, n + 1):
            c = cin + (i - 1) * growth
            self.add_module(f"denselayer{i}", seq(
                ("norm1", tnn.BatchNorm2d(c)), ("relu1", tnn.ReLU()),
                ("conv1", conv(c, bn_size * growth, 1, bias=False)),
                ("norm2", tnn.BatchNorm2d(bn_size * growth)), ("relu2", tnn.ReLU()),
                ("conv2", conv(bn_size * growth, growth, 3, p=1, bias=False))))

    def forward(self, x):
        for layer in self.children():
            x = torch.cat([x, layer(x)], 1)
        return x


def t_densenet121():  # torchvision.models.densenet.DenseNet(32, (6, 12, 24, 16), 64)
    mods = [("conv0", conv(3, 64, 7, 2, 3, bias=False)), ("norm0", tnn.BatchNorm2d(64)),
            ("relu0", tnn.ReLU()), ("pool0", tnn.MaxPool2d(3, 2, 1))]
    ch = 64
    for i, n in enumerate((6, 12, 24, 16), start=1):
        mods.append((f"denseblock{i}", TDenseBlock(n, ch)))
        ch += 32 * n
        if i < 4:
            mods.append((f"transition{i}", seq(
                ("norm", tnn.BatchNorm2d(ch)), ("relu", tnn.ReLU()),
                ("conv", conv(ch, ch // 2, 1, bias=False)), ("pool", tnn.AvgPool2d(2, 2)))))
            ch //= 2
    return seq(*mods, ("norm5", tnn.BatchNorm2d(ch)), ("relu5", tnn.ReLU()),
               ("avgpool", tnn.AdaptiveAvgPool2d(1)), ("flatten", tnn.Flatten()),
               ("fc", tnn.Linear(ch, 1000)))


TORCH = {"lenet5": t_lenet5, "alexnet": t_alexnet,
         "vgg16": lambda: t_vgg((2, 2, 3, 3, 3)), "vgg19": lambda: t_vgg((2, 2, 4, 4, 4)),
         "resnet18": lambda: t_resnet((2, 2, 2, 2), False),
         "resnet50": lambda: t_resnet((3, 4, 6, 3), True),
         "googlenet": t_googlenet, "densenet121": t_densenet121}


def torch_forward(module, x) -> tuple[np.ndarray, int]:
    """``module(x)`` and the multiply-accumulates of its Conv2d and Linear layers for one
    example, from the actual output sizes: conv C_out·H'·W'·(C_in/groups)·K_H·K_W, linear
    in·out per position."""
    total = [0]

    def hook(mod, args, out):
        per_example = out.numel() // out.shape[0]
        if isinstance(mod, tnn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total[0] += per_example * k
        else:
            total[0] += per_example * mod.in_features

    hooks = [m.register_forward_hook(hook) for m in module.modules()
             if isinstance(m, (tnn.Conv2d, tnn.Linear))]
    # oneDNN off: its per-shape set-up made DenseNet's forward 4x slower here
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
        out = module(torch.from_numpy(x)).numpy()
    for h in hooks:
        h.remove()
    return out, total[0]


# --------------------------------------------------------------------------------- tests


def preset_model(name: str) -> GraphModel:
    return GraphModel.from_dict(load(name).graph)


@pytest.mark.parametrize("name", NAMES)
def test_preset_matches_the_published_counts(name):
    m = preset_model(name)
    assert m.errors() == {}
    s = summary(m)
    params, gflops = PUBLISHED[name]
    assert s.total_params == params
    if gflops is not None:
        assert abs(s.total_macs / 1e9 - gflops) / gflops < 0.02, s.total_macs
    notes = load(name).notes
    assert f"{params:,}" in notes
    if gflops is not None:
        assert f"GFLOPS {gflops}" in notes and \
            f"torchvision.models.{name}.html" in notes
    else:
        assert "LeCun" in notes and "1998" in notes


def test_presets_are_built_from_closed_blocks_and_laid_out():
    for name in NAMES:
        m = preset_model(name)
        blocks = [n for n in m.nodes() if m.is_composite(n)]
        assert (len(blocks) > 0) == (name not in ("lenet5", "alexnet")), name
        assert m.groups() == []  # every block starts closed
        pos = {n: m.node(n)["pos"] for n in m.nodes()}
        for e in m.edges():  # the layered layout: every wire runs left to right, or down
            (sx, sy), (dx, dy) = pos[e.src], pos[e.dst]  # to the next band when it wraps
            assert sx < dx or sy < dy, (name, e)


def test_generator_reproduces_the_committed_files():
    import importlib.util
    path = presets_dir().parent / "tools" / "make_architecture_presets.py"
    spec = importlib.util.spec_from_file_location("make_architecture_presets", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from playground.project.format import to_dict
    for name in NAMES:
        fresh = json.loads(json.dumps(to_dict(mod.make(name))))
        assert fresh == json.loads((presets_dir() / f"{name}.json").read_text()), name


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
@pytest.mark.parametrize("name", NAMES)
def test_forward_pass_equals_torch(name):
    m = preset_model(name)
    s = summary(m)
    torch.manual_seed(0)
    ref = TORCH[name]().eval()
    assert sum(p.numel() for p in ref.parameters()) == PUBLISHED[name][0]
    shape = tuple(m.params("image")["shape"])
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    want, macs = torch_forward(ref, x)
    assert macs == s.total_macs

    program = compile(m).eval()
    state = ref.state_dict()
    ours = {k: k.replace("/", ".") for k, _ in program.named_parameters()}
    weights = {k: state[t].numpy() for k, t in ours.items()}
    assert len(program.load_matching(weights)) == len(ours) == \
        len(list(ref.parameters()))
    with no_grad():
        trace = program.run({"image": {"output": Tensor(x)}})
    out = trace[m.topological_order()[-1]]["output"].data
    assert out.shape == want.shape == (2, 10 if name == "lenet5" else 1000)
    scale = np.abs(want).max()
    np.testing.assert_allclose(out, want, atol=2e-4 * scale, rtol=0)

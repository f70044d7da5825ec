"""Records PyTorch values for tests/nn/: the state-dict names, order and shapes PyTorch gives
to the zoo's models, and a residual block's forward/backward in training and evaluation.

The PyTorch models below mirror src/descent/nn/zoo.hpp and residual.hpp: a CIFAR ResNet
in the layout of akamaster/pytorch_resnet_cifar10 (conv1, bn1, layer1..3 of BasicBlocks
with conv1, bn1, conv2, bn2 and, where the shape changes, either the parameter-free
zero-padding shortcut (option A, akamaster's LambdaLayer) or a `shortcut` Sequential(conv1x1,
BN) projection (option B), fc), and the MLP and CNN as named nn.Sequential models.

Records:
  names/<model>/<key>  = [index, *shape]   for every state_dict entry of <model>
  block/<variant>/...  a BasicBlock(2 -> 3, stride 2) on a (2, 2, 5, 5) input (f64):
      state/<key>      its state dict (random weights and running statistics)
      x, out_train, grad_x, grad/<param>, after/<buffer>  (training mode, one step)
      out_eval                                           (evaluation, same state before)

Run with Debian's python (which has torch):
    /usr/bin/python3 tests/reference/record_nn.py
Writes tests/data/nn.txt.
"""
from collections import OrderedDict

import torch
import torch.nn as nn

from reference_writer import Writer

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


class ZeroPad(nn.Module):
    """Option A: x[:, :, ::stride, ::stride] with zero channels half before, half after."""

    def __init__(self, stride, pad):
        super().__init__()
        self.stride, self.pad = stride, pad

    def forward(self, x):
        s = self.stride
        return nn.functional.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, skip=True, bn=True, shortcut="B"):
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=not bn)
        self.bn2 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.shortcut = None
        self.zero_pad = None
        if skip and (stride != 1 or cin != cout) and shortcut == "A":
            self.zero_pad = ZeroPad(stride, (cout - cin) // 2)
        elif skip and (stride != 1 or cin != cout):
            layers = [nn.Conv2d(cin, cout, 1, stride, bias=not bn)]
            if bn:
                layers.append(nn.BatchNorm2d(cout))
            self.shortcut = nn.Sequential(*layers)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.skip:
            if self.shortcut is not None:
                out = out + self.shortcut(x)
            elif self.zero_pad is not None:
                out = out + self.zero_pad(x)
            else:
                out = out + x
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, depth, in_channels=1, classes=10, skip=True, bn=True, shortcut="A"):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(16) if bn else nn.Identity()
        self.relu = nn.ReLU()
        channels = [16]

        def stage(cout, stride):
            blocks = []
            for b in range(n):
                blocks.append(
                    BasicBlock(channels[0], cout, stride if b == 0 else 1, skip, bn, shortcut))
                channels[0] = cout
            return nn.Sequential(*blocks)

        self.layer1 = stage(16, 1)
        self.layer2 = stage(32, 2)
        self.layer3 = stage(64, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, classes)


def mlp(sizes, bn):
    layers = [("flatten", nn.Flatten())]
    for k in range(1, len(sizes)):
        hidden = k < len(sizes) - 1
        layers.append(("fc%d" % k, nn.Linear(sizes[k - 1], sizes[k], bias=not (hidden and bn))))
        if hidden:
            if bn:
                layers.append(("bn%d" % k, nn.BatchNorm1d(sizes[k])))
            layers.append(("act%d" % k, nn.ReLU()))
    return nn.Sequential(OrderedDict(layers))


def cnn(bn):
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 32, 3, padding=1, bias=not bn)),
        *([("bn1", nn.BatchNorm2d(32))] if bn else []),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1, bias=not bn)),
        *([("bn2", nn.BatchNorm2d(64))] if bn else []),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(64 * 7 * 7, 128)),
        ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(128, 10)),
    ]))


w = Writer("nn.txt", __doc__ + "\ntorch " + torch.__version__)

# The spec strings of src/descent/nn/zoo.hpp, as the C++ test builds them.
MODELS = [
    ("resnet20", ResNet(20)),
    ("resnet20,shortcut=B", ResNet(20, shortcut="B")),
    ("resnet8,skip=0,shortcut=B", ResNet(8, skip=False, shortcut="B")),
    ("resnet8,skip=0", ResNet(8, skip=False)),
    ("resnet8,bn=0", ResNet(8, bn=False)),
    ("resnet8,input=3x32x32,classes=100", ResNet(8, in_channels=3, classes=100)),
    ("mlp:784-256-256-10", mlp([784, 256, 256, 10], bn=False)),
    ("mlp:784-64-10,bn=1", mlp([784, 64, 10], bn=True)),
    ("cnn", cnn(bn=True)),
    ("cnn,bn=0", cnn(bn=False)),
]
for spec, model in MODELS:
    for index, (key, value) in enumerate(model.state_dict().items()):
        w.add("names/%s/%s" % (spec, key), torch.tensor([index] + list(value.shape)))

# ---- a residual block, forward and backward ----
VARIANTS = [("residual", True, True), ("plain", False, True), ("nobn", True, False)]
for variant, skip, bn in VARIANTS:
    block = BasicBlock(2, 3, stride=2, skip=skip, bn=bn)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape) * 0.5)
        for name, b in block.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape) + 0.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(3)
    prefix = "block/%s/" % variant
    for key, value in block.state_dict().items():
        w.add(prefix + "state/" + key, value)
    x = torch.randn(2, 2, 5, 5, requires_grad=True)
    w.add(prefix + "x", x)
    block.eval()
    with torch.no_grad():
        w.add(prefix + "out_eval", block(x))
    block.train()
    out = block(x)
    w.add(prefix + "out_train", out)
    projection = torch.randn(out.shape)
    w.add(prefix + "projection", projection)
    (out * projection).sum().backward()
    w.add(prefix + "grad_x", x.grad)
    for key, p in block.named_parameters():
        w.add(prefix + "grad/" + key, p.grad)
    for key, b in block.named_buffers():
        w.add(prefix + "after/" + key, b)

w.close()

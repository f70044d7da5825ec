#!/usr/bin/python3
"""Loads descent checkpoints into the equivalent PyTorch models and compares logits.

    /usr/bin/python3 tests/train/torch_interop.py CHECKPOINT IO SPEC [CHECKPOINT IO SPEC ...]

CHECKPOINT: a descent checkpoint (safetensors); IO: a safetensors file with "input" and
"logits", descent's output for that input in eval mode; SPEC: the model's zoo spec, one of
mlp:<sizes>[,bn=1], cnn, resnet<depth>. The files are read with a reader written here from
the format's description (the safetensors package is not needed), so that this also checks
that descent writes the format others read. Exits 0 when every logit matches to 1e-5, 1
otherwise, and 77 when this python has no torch (the C++ test then skips).
"""
import collections
import json
import struct
import sys

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit(77)

TOLERANCE = 1e-5
DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16,
          "BF16": torch.bfloat16, "I32": torch.int32, "I64": torch.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    start = 8 + length
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if end > begin:
            flat = torch.frombuffer(bytearray(data[start + begin:start + end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors, metadata


def mlp(sizes, bn):
    layers = [("flatten", nn.Flatten())]
    for k in range(1, len(sizes)):
        hidden = k < len(sizes) - 1
        layers.append((f"fc{k}", nn.Linear(sizes[k - 1], sizes[k], bias=not (hidden and bn))))
        if hidden:
            if bn:
                layers.append((f"bn{k}", nn.BatchNorm1d(sizes[k])))
            layers.append((f"act{k}", nn.ReLU()))
    return nn.Sequential(collections.OrderedDict(layers))


def cnn(classes=10):
    return nn.Sequential(collections.OrderedDict([
        ("conv1", nn.Conv2d(1, 32, 3, padding=1, bias=False)), ("bn1", nn.BatchNorm2d(32)),
        ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1, bias=False)), ("bn2", nn.BatchNorm2d(64)),
        ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(64 * 7 * 7, 128)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(128, classes))]))


class ZeroPad(nn.Module):
    """Option A's shortcut: x[:, :, ::stride, ::stride], zero channels half before, half after."""

    def __init__(self, stride, pad):
        super().__init__()
        self.stride, self.pad = stride, pad

    def forward(self, x):
        s = self.stride
        return nn.functional.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    """He et al. 2016's block; where the shape changes, option A (zero padding, no parameters)
    or B (a 1x1 projection), as descent's."""

    def __init__(self, inputs, outputs, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential()
        if (stride != 1 or inputs != outputs) and shortcut == "A":
            self.shortcut = ZeroPad(stride, (outputs - inputs) // 2)
        elif stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(outputs))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, depth, shortcut, classes=10):
        super().__init__()
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        channels = [16]

        def stage(outputs, stride):
            layers = []
            for b in range(blocks):
                layers.append(BasicBlock(channels[0], outputs, stride if b == 0 else 1, shortcut))
                channels[0] = outputs
            return nn.Sequential(*layers)

        self.layer1 = stage(16, 1)
        self.layer2 = stage(32, 2)
        self.layer3 = stage(64, 2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))


def build(spec):
    name, _, options = spec.partition(",")
    if name.startswith("mlp:"):
        return mlp([int(s) for s in name[4:].split("-")], "bn=1" in options)
    if name == "cnn":
        return cnn()
    if name.startswith("resnet"):
        return ResNet(int(name[6:]), "B" if "shortcut=B" in options else "A")
    raise SystemExit(f"torch_interop.py: unknown spec {spec!r}")


def check(checkpoint, io, spec):
    tensors, metadata = load_safetensors(checkpoint)
    assert metadata["format"] == "descent-checkpoint-1", metadata
    weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    model = build(spec)
    model.load_state_dict(weights, strict=True)  # every name, shape and buffer must match
    model.eval()
    data, _ = load_safetensors(io)
    with torch.no_grad():
        logits = model(data["input"])
    expected = data["logits"]
    difference = (logits - expected).abs().max().item()
    scale = expected.abs().max().item()
    ok = difference <= TOLERANCE * max(1.0, scale)
    print(f"{spec}: {len(weights)} tensors loaded, logits {tuple(logits.shape)}, "
          f"max |torch - descent| = {difference:.3g} (max |logit| {scale:.3g}) {'ok' if ok else 'MISMATCH'}")
    return ok


def main(args):
    if not args or len(args) % 3:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    results = [check(*args[i:i + 3]) for i in range(0, len(args), 3)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""The PyTorch side of bench/compare: the twin of bench/compare_driver.cpp.

Same models as descent's zoo (nn/zoo.hpp), same shapes, batch, optimizer, data sizes and
protocol; prints one JSON line with the same keys. Run with Debian's python3 (which has
python3-torch 1.13):

    /usr/bin/python3 bench/compare_torch.py --model mlp --optimizer sgd --threads 2

Threads: torch.set_num_threads(threads) only. The environment is left as it came, so
the caller decides whether OpenBLAS gets its own threads (PyTorch "as installed") or
OPENBLAS_NUM_THREADS=1 ("tuned").
"""
import argparse
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp():
    # mlp: 784-256-256-10, ReLU
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 10))


def cnn():
    # cnn: conv(1->32)-BN-ReLU-pool, conv(32->64)-BN-ReLU-pool, fc 3136-128-10
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        nn.Linear(128, 10))


class BasicBlock(nn.Module):
    # He et al. 2016; where the shape changes the shortcut is option A (x[:, :, ::2, ::2] with
    # zero channels half before, half after; no parameters), as descent's zoo default.
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride = stride
        self.pad = (cout - cin) // 2
        self.reshapes = stride != 1 or cin != cout

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.reshapes:
            s = self.stride
            x = F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, self.pad, self.pad))
        out = out + x
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, depth=20):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for k in range(n):
                blocks.append(BasicBlock(cin, cout, stride if k == 0 else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


MODELS = {"mlp": mlp, "cnn": cnn, "resnet20": lambda: ResNet(20)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=sorted(MODELS))
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--pool-batches", type=int, default=8)
    parser.add_argument("--spawn-time", type=float, default=-1.0)
    parser.add_argument("--label", default="torch")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MODELS[args.model]()
    model.train()
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    data_begin = time.monotonic()
    pool = args.pool_batches * args.batch
    images = torch.randn(pool, 1, 28, 28)
    labels = (torch.rand(pool) * 10).long()
    data_seconds = time.monotonic() - data_begin

    state = {"next": 0}

    def step():
        b = state["next"] % args.pool_batches
        state["next"] += 1
        x = images[b * args.batch:(b + 1) * args.batch]
        y = labels[b * args.batch:(b + 1) * args.batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    first_begin = time.monotonic()
    startup = first_begin - args.spawn_time - data_seconds if args.spawn_time >= 0 else -1.0
    loss_first = step()
    first_step = time.monotonic() - first_begin
    for _ in range(1, args.warmup):
        step()

    times = []
    cpu_begin = time.process_time()
    wall_begin = time.monotonic()
    loss_last = 0.0
    for _ in range(args.steps):
        begin = time.monotonic()
        loss_last = step()
        times.append(time.monotonic() - begin)
    wall = time.monotonic() - wall_begin
    cpu = time.process_time() - cpu_begin
    times.sort()
    median = times[len(times) // 2]
    samples = args.batch * args.steps
    print(json.dumps({
        "framework": args.label, "model": args.model, "optimizer": args.optimizer,
        "threads": args.threads, "batch": args.batch, "steps": args.steps,
        "samples_per_s": round(args.batch / median, 1),
        "samples_per_s_mean": round(samples / wall, 1),
        "samples_per_cpu_s": round(samples / cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "startup_s": round(startup, 4),
        "first_step_s": round(first_step, 4),
        "loss_first": loss_first, "loss_last": loss_last,
        "torch": torch.__version__,
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

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


class SequenceModel(nn.Module):
    # descent's zoo lstm:128,input=100x2 (or gru:...): the cell read at its last step by a
    # linear layer.
    def __init__(self, cell=nn.LSTM):
        super().__init__()
        self.rnn = cell(2, 128, batch_first=True)
        self.fc = nn.Linear(128, 1)

    def forward(self, x):
        _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        return self.fc(h_n[-1])


class Block(nn.Module):
    # descent's nn/transformer.hpp TransformerBlock: pre-norm, causal attention, GELU MLP.
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class TransformerLM(nn.Module):
    # transformer,vocab=96,len=128,dim=128,heads=4,layers=2 (learned positions, untied head).
    def __init__(self, vocab=96, length=128, dim=128, heads=4, layers=2):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, dim)
        self.pos_emb = nn.Parameter(torch.randn(length, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        self.register_buffer("mask", torch.triu(torch.ones(length, length, dtype=torch.bool), 1))

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb[:t]
        for block in self.blocks:
            x = block(x, self.mask[:t, :t])
        return self.head(self.ln_f(x))


MODELS = {"mlp": mlp, "cnn": cnn, "resnet20": lambda: ResNet(20), "lstm": SequenceModel,
          "gru": lambda: SequenceModel(nn.GRU), "transformer": TransformerLM}
BATCH = {"lstm": 64, "gru": 64, "transformer": 32}  # the others: 128


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=sorted(MODELS))
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=0, help="0: the model's (128, lstm and gru 64, "
                        "transformer 32)")
    parser.add_argument("--pool-batches", type=int, default=8)
    parser.add_argument("--spawn-time", type=float, default=-1.0)
    parser.add_argument("--label", default="torch")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: torch.autocast('cpu', dtype=torch.bfloat16) over the forward "
                             "and the loss (CPU autocast has no fp16 in 1.13)")
    args = parser.parse_args()

    if args.batch == 0:
        args.batch = BATCH.get(args.model, 128)
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
    if args.model in ("lstm", "gru"):
        images = torch.randn(pool, 100, 2)
        labels = torch.randn(pool, 1)
    elif args.model == "transformer":
        images = (torch.rand(pool, 128) * 96).long()
        labels = (torch.rand(pool, 128) * 96).long()
    else:
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
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            if args.model in ("lstm", "gru"):
                loss = F.mse_loss(model(x), y)
            elif args.model == "transformer":
                loss = F.cross_entropy(model(x).reshape(-1, 96), y.reshape(-1))
            else:
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
        "threads": args.threads, "precision": args.precision, "batch": args.batch,
        "steps": args.steps,
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

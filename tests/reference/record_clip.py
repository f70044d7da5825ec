"""Records PyTorch's gradient clipping (clip_grad_norm_, clip_grad_value_) and an AGC
reference (timm's adaptive_clip_grad formula) for tests/clip/clip_test.cpp.

Run with Debian's python and torch:  /usr/bin/python3 tests/reference/record_clip.py
Writes tests/data/clip.txt: the parameters and gradients ('param.i', 'grad.i'), then per case
the total norm ('<case>.norm') and the clipped gradients ('<case>.grad.i').
"""
import math

import torch

from reference_writer import Writer

SHAPES = [(4, 3), (5,), (2, 3, 2, 2)]


def make():
    torch.manual_seed(0)
    params = []
    for shape in SHAPES:
        p = torch.nn.Parameter(torch.randn(shape, dtype=torch.float64))
        p.grad = torch.randn(shape, dtype=torch.float64) * 0.7
        params.append(p)
    return params


def unitwise_norm(x):
    if x.ndim <= 1:
        return x.norm(2.0)
    return x.norm(2.0, dim=tuple(range(1, x.ndim)), keepdim=True)


def agc(params, clipping, eps=1e-3):
    for p in params:
        max_norm = unitwise_norm(p.detach()).clamp_(min=eps).mul_(clipping)
        grad_norm = unitwise_norm(p.grad.detach())
        clipped = p.grad.detach() * (max_norm / grad_norm.clamp(min=1e-6))
        p.grad.detach().copy_(torch.where(grad_norm < max_norm, p.grad.detach(), clipped))


def main():
    w = Writer("clip.txt", __doc__)
    for i, p in enumerate(make()):
        w.add("param.%d" % i, p)
        w.add("grad.%d" % i, p.grad)
    norm_cases = {
        "norm2": (1.0, 2.0),
        "norm1": (2.0, 1.0),
        "norm3": (0.5, 3.0),
        "norminf": (0.3, math.inf),
        "norm2_no_clip": (1e3, 2.0),
    }
    for name, (max_norm, p) in norm_cases.items():
        params = make()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=p)
        w.add(name + ".norm", total.reshape(()))
        for i, q in enumerate(params):
            w.add("%s.grad.%d" % (name, i), q.grad)
    params = make()
    torch.nn.utils.clip_grad_value_(params, 0.5)
    for i, q in enumerate(params):
        w.add("value.grad.%d" % i, q.grad)
    for name, clipping in {"agc": 0.3, "agc_small": 0.01}.items():
        params = make()
        agc(params, clipping)
        for i, q in enumerate(params):
            w.add("%s.grad.%d" % (name, i), q.grad)
    w.close()


if __name__ == "__main__":
    main()

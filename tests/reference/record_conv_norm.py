"""Records PyTorch values for tests/ops/conv_norm_test.cpp: matmul, conv2d, pooling,
batch_norm (training with running statistics over two steps, and evaluation) and
layer_norm. Inputs are recorded too, so the C++ test feeds the same numbers.

Run with Debian's python (which has torch):
    /usr/bin/python3 tests/reference/record_conv_norm.py
Writes tests/data/conv_norm.txt.
"""
import torch
import torch.nn.functional as F

from reference_writer import Writer

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

w = Writer("conv_norm.txt", __doc__ + "\ntorch " + torch.__version__)

# ---- matmul ----
a, b = torch.randn(3, 4), torch.randn(4, 5)
w.add("matmul_2d_a", a)
w.add("matmul_2d_b", b)
w.add("matmul_2d_out", a @ b)
a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
w.add("matmul_batched_a", a)
w.add("matmul_batched_b", b)
w.add("matmul_batched_out", a @ b)

# ---- conv2d: name, x shape, weight shape, bias, stride, padding, dilation ----
CONVS = [
    ("basic", (2, 3, 6, 6), (4, 3, 3, 3), True, 1, 1, 1),
    ("strided", (3, 2, 7, 6), (3, 2, 3, 2), True, (2, 1), (1, 0), 1),
    ("dilated", (2, 3, 8, 7), (2, 3, 3, 3), False, 1, 2, 2),
    ("pointwise", (4, 5, 4, 3), (3, 5, 1, 1), True, 1, 0, 1),
    ("wide", (5, 8, 5, 5), (6, 8, 3, 3), True, 2, 1, 1),
]
for name, xs, ws, has_bias, stride, padding, dilation in CONVS:
    x, weight = torch.randn(xs), torch.randn(ws)
    bias = torch.randn(ws[0]) if has_bias else None
    w.add("conv_%s_x" % name, x)
    w.add("conv_%s_w" % name, weight)
    if has_bias:
        w.add("conv_%s_b" % name, bias)
    out = F.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)
    w.add("conv_%s_out" % name, out)

# ---- pooling: name, x shape, kernel_size, stride, padding ----
POOLS = [
    ("square", (2, 3, 7, 6), 3, 2, 1),
    ("rect", (1, 2, 5, 6), (2, 3), (2, 1), (1, 1)),
    ("default", (2, 2, 4, 5), 2, None, 0),
]
for name, xs, kernel, stride, padding in POOLS:
    x = torch.randn(xs)
    w.add("pool_%s_x" % name, x)
    w.add("max_pool_%s_out" % name, F.max_pool2d(x, kernel, stride, padding))
    w.add("avg_pool_%s_out" % name, F.avg_pool2d(x, kernel, stride, padding))
x = torch.randn(2, 3, 5, 4)
w.add("global_pool_x", x)
w.add("global_pool_out", F.adaptive_avg_pool2d(x, 1))

# ---- batch_norm: two training steps, then evaluation ----
# 4-D, affine, default momentum and eps; inputs off-centre so the statistics matter.
bn = torch.nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(torch.randn(3))
    bn.bias.copy_(torch.randn(3))
w.add("bn4_weight", bn.weight)
w.add("bn4_bias", bn.bias)
bn.train()
for step in (1, 2):
    x = 2.0 + 3.0 * torch.randn(4, 3, 5, 5)
    w.add("bn4_x%d" % step, x)
    w.add("bn4_out%d" % step, bn(x))
    w.add("bn4_running_mean%d" % step, bn.running_mean)
    w.add("bn4_running_var%d" % step, bn.running_var)
bn.eval()
x = 2.0 + 3.0 * torch.randn(2, 3, 4, 4)
w.add("bn4_eval_x", x)
w.add("bn4_eval_out", bn(x))

# 2-D, no affine, momentum 0.3, eps 1e-3
bn = torch.nn.BatchNorm1d(4, affine=False, momentum=0.3, eps=1e-3)
bn.train()
for step in (1, 2):
    x = -1.0 + 0.5 * torch.randn(6, 4)
    w.add("bn2_x%d" % step, x)
    w.add("bn2_out%d" % step, bn(x))
    w.add("bn2_running_mean%d" % step, bn.running_mean)
    w.add("bn2_running_var%d" % step, bn.running_var)
bn.eval()
x = torch.randn(3, 4)
w.add("bn2_eval_x", x)
w.add("bn2_eval_out", bn(x))

# ---- layer_norm ----
x, weight, bias = 1.0 + torch.randn(3, 4, 5), torch.randn(4, 5), torch.randn(4, 5)
w.add("ln_affine_x", x)
w.add("ln_affine_w", weight)
w.add("ln_affine_b", bias)
w.add("ln_affine_out", F.layer_norm(x, (4, 5), weight, bias))
x = torch.randn(6, 8)
w.add("ln_plain_x", x)
w.add("ln_plain_out", F.layer_norm(x, (8,), eps=1e-3))

w.close()

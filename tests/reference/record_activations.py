"""Records PyTorch's softmax, log_softmax, cross_entropy and gelu (values and a few
gradients) on fixed inputs, for tests/ops/activation_reference_test.cpp.

Run with Debian's python (it has torch):  /usr/bin/python3 tests/reference/record_activations.py
Writes tests/data/activations.txt. The inputs are drawn here with a fixed seed and recorded
too, so the C++ test reads them instead of drawing its own.
"""
import torch
import torch.nn.functional as F

from reference_writer import Writer

torch.manual_seed(20240601)
w = Writer("activations.txt", __doc__ + "\ntorch " + torch.__version__)

# ---- softmax / log_softmax along every dim
x2 = torch.randn(4, 7, dtype=torch.float64) * 3
x3 = torch.randn(3, 5, 2, dtype=torch.float64) * 2
w.add("x2", x2)
w.add("x3", x3)
for name, x in (("x2", x2), ("x3", x3)):
    for dim in range(x.dim()):
        w.add("softmax_%s_dim%d" % (name, dim), torch.softmax(x, dim))
        w.add("log_softmax_%s_dim%d" % (name, dim), torch.log_softmax(x, dim))

# ---- gelu, exact and tanh, values and gradients on a grid with wide tails
g = torch.cat([torch.linspace(-9, 9, 37, dtype=torch.float64),
               torch.randn(20, dtype=torch.float64)])
w.add("gelu_x", g)
for approximate in ("none", "tanh"):
    x = g.clone().requires_grad_(True)
    y = F.gelu(x, approximate=approximate)
    (grad,) = torch.autograd.grad(y.sum(), x)
    w.add("gelu_%s" % approximate, y)
    w.add("gelu_%s_grad" % approximate, grad)

# ---- cross_entropy: reductions, ignore_index, label_smoothing (and their interaction)
logits = torch.randn(6, 5, dtype=torch.float64) * 2
target = torch.tensor([0, 4, -100, 2, 2, -100])
target_valid = torch.tensor([0, 4, 1, 2, 2, 3])
w.add("ce_logits", logits)
w.add("ce_target", target.double())
w.add("ce_target_valid", target_valid.double())
cases = [
    ("mean", "valid", -100, 0.0),
    ("sum", "valid", -100, 0.0),
    ("none", "valid", -100, 0.0),
    ("mean", "ignored", -100, 0.0),
    ("mean", "valid", 2, 0.0),
    ("mean", "valid", -100, 0.1),
    ("mean", "ignored", -100, 0.1),
    ("sum", "ignored", -100, 0.2),
    ("none", "ignored", -100, 0.3),
    ("mean", "valid", 2, 0.25),
    ("mean", "ignored", -100, 1.0),
]
for reduction, which, ignore_index, smoothing in cases:
    t = target if which == "ignored" else target_valid
    z = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(z, t, reduction=reduction, ignore_index=ignore_index,
                           label_smoothing=smoothing)
    (grad,) = torch.autograd.grad(loss.sum(), z)
    key = "ce_%s_%s_ignore%s_smooth%g" % (reduction, which, str(ignore_index).replace("-", "m"),
                                          smoothing)
    w.add(key, loss)
    w.add(key + "_grad", grad)

w.close()

"""Records torch.nn.MultiheadAttention (batch_first, causal boolean attn_mask) for
tests/nn/transformer_test.cpp: forward output and the gradients of sum(out * r) with
respect to the input and every parameter, in f64.

Cases: attention/<name>/{x, r, in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias,
out, grad_x, grad/<param>} for (B, T, dim, heads) = (2, 5, 8, 2) causal, (1, 4, 6, 3) causal
and (3, 3, 4, 1) without a mask.

Run with Debian's python (which has torch):
    /usr/bin/python3 tests/reference/record_attention.py
Writes tests/data/attention.txt.
"""
import torch
import torch.nn as nn

from reference_writer import Writer

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

w = Writer("attention.txt", __doc__ + "\ntorch " + torch.__version__)
CASES = [("causal", 2, 5, 8, 2, True), ("causal3heads", 1, 4, 6, 3, True),
         ("full", 3, 3, 4, 1, False)]
for name, B, T, D, H, causal in CASES:
    attn = nn.MultiheadAttention(D, H, batch_first=True)
    with torch.no_grad():  # random biases, so that they are checked too
        attn.in_proj_bias.copy_(torch.randn(3 * D) * 0.3)
        attn.out_proj.bias.copy_(torch.randn(D) * 0.3)
    x = torch.randn(B, T, D, requires_grad=True)
    r = torch.randn(B, T, D)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
    out, _ = attn(x, x, x, attn_mask=mask, need_weights=False)
    (out * r).sum().backward()
    p = "attention/%s/" % name
    w.add(p + "x", x)
    w.add(p + "r", r)
    for key, value in attn.state_dict().items():
        w.add(p + key, value)
    w.add(p + "out", out)
    w.add(p + "grad_x", x.grad)
    for key, param in attn.named_parameters():
        w.add(p + "grad/" + key, param.grad)
w.close()

"""Records optimizer trajectories from torch.optim (and from paper pseudo-code for Lion, LAMB
and LARS) for tests/optim/*_test.cpp.

Run with Debian's python (torch 1.13):  /usr/bin/python3 tests/reference/record_optim.py

Each test file lists its cases as string literals "torch: <expression>", e.g.
    "torch: torch.optim.Adam(p, lr=0.02, amsgrad=True)",
This script runs every expression on the problem below and writes tests/data/optim_<name>.txt
for tests/optim/<name>_test.cpp. The C++ test builds the same optimizer from the same text
through the registry, so the option names are checked too.

The problem (same formulas in tests/optim/torch_reference.hpp): 11 coordinates x_k in three
parameters, w (2, 3), b (3,) and c (2,), in two param groups [w, b] and [c]; group 1's lr is
halved after construction. Gradient at step t = 1..200:
    g_k = a_k sin(x_k - target_k) + 0.2 cos(0.3 t + k)
    a_k = 0.5 + 0.25 k,  target_k = 0.1 k - 0.5,  x_k(0) = 1 - 0.15 k
The second term is computed in double, then rounded to the parameter's dtype. c has no
gradient (grad None) when t % 3 == 0, so its step count lags. Records, keyed by the
expression without spaces: "<expr>|f64|<t>" for t in 1, 5, 50, 200 and "<expr>|f32|200";
each holds the 11 coordinates in order w, b, c.
"""
import glob
import math
import os
import re

import torch

from reference_writer import Writer

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "optim")
STEPS = 200
F64_SNAPSHOTS = (1, 5, 50, 200)
SHAPES = ((2, 3), (3,), (2,))


# ---- reference optimizers beyond torch 1.13, written from the papers' pseudo-code ----

class Lion(torch.optim.Optimizer):
    """Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m, g = state["exp_avg"], p.grad
                c = beta1 * m + (1 - beta1) * g             # c_t = b1 m + (1 - b1) g
                p.sub_(lr * (torch.sign(c) + wd * p))       # x = x - lr (sign(c) + wd x)
                m.copy_(beta2 * m + (1 - beta2) * g)        # m = b2 m + (1 - b2) g


class LAMB(torch.optim.Optimizer):
    """You et al. 2020, "Large Batch Optimization for Deep Learning", Algorithm 2, phi = id;
    trust ratio 1 where a norm is 0."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
                m.copy_(beta1 * m + (1 - beta1) * g)
                v.copy_(beta2 * v + (1 - beta2) * g * g)
                m_hat = m / (1 - beta1 ** t)
                v_hat = v / (1 - beta2 ** t)
                r = m_hat / (v_hat.sqrt() + eps)
                u = r + wd * p
                p_norm, u_norm = p.norm().item(), u.norm().item()
                trust = p_norm / u_norm if p_norm > 0 and u_norm > 0 else 1.0
                p.sub_(lr * trust * u)


class LARS(torch.optim.Optimizer):
    """You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks",
    Algorithm 1 with the trust coefficient of eq. (6); eps guards the division; local lr 1
    where a norm is 0."""

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0,
                 trust_coefficient=1e-3, eps=1e-8):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            eta, eps = group["trust_coefficient"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                v, g = state["momentum_buffer"], p.grad
                w_norm, g_norm = p.norm().item(), g.norm().item()
                local_lr = (eta * w_norm / (g_norm + wd * w_norm + eps)
                            if w_norm > 0 and g_norm > 0 else 1.0)
                v.copy_(mu * v + lr * local_lr * (g + wd * p))
                p.sub_(v)


# ---- the problem ----

def coefficients(dtype):
    k = [float(i) for i in range(11)]
    a = torch.tensor([0.5 + 0.25 * i for i in k], dtype=torch.float64).to(dtype)
    target = torch.tensor([0.1 * i - 0.5 for i in k], dtype=torch.float64).to(dtype)
    x0 = torch.tensor([1.0 - 0.15 * i for i in k], dtype=torch.float64).to(dtype)
    return a, target, x0


def run(expression, dtype, snapshots):
    previous_default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # PyTorch's scalar state (step, mu_product) follows it
    try:
        a, target, x0 = coefficients(dtype)
        params, offsets, offset = [], [], 0
        for shape in SHAPES:
            n = math.prod(shape)
            params.append(x0[offset:offset + n].clone().reshape(shape))
            offsets.append(offset)
            offset += n
        p = [{"params": params[:2]}, {"params": params[2:]}]
        namespace = {"torch": torch, "p": p, "Lion": Lion, "LAMB": LAMB, "LARS": LARS}
        opt = eval(expression, namespace)
        opt.param_groups[1]["lr"] *= 0.5
        out = {}
        for t in range(1, STEPS + 1):
            for index, (param, start) in enumerate(zip(params, offsets)):
                if index == 2 and t % 3 == 0:
                    param.grad = None
                    continue
                n = param.numel()
                x = param.detach().reshape(-1)
                noise = torch.tensor([0.2 * math.cos(0.3 * t + k) for k in range(start, start + n)],
                                     dtype=torch.float64).to(dtype)
                g = a[start:start + n] * torch.sin(x - target[start:start + n]) + noise
                param.grad = g.reshape(param.shape).clone()
            opt.step()
            if t in snapshots:
                out[t] = torch.cat([q.detach().reshape(-1) for q in params]).clone()
        return out
    finally:
        torch.set_default_dtype(previous_default)


def check_stable(expression):
    """Refuses a case whose trajectory is chaotic: a 1e-13 relative change of the start must
    stay below 1e-9 after 200 steps, or rounding differences would fail the test."""
    global coefficients
    exact = run(expression, torch.float64, (STEPS,))[STEPS]
    original = coefficients

    def perturbed(dtype):
        a, target, x0 = original(dtype)
        return a, target, x0 * (1 + 1e-13)

    coefficients = perturbed
    try:
        moved = run(expression, torch.float64, (STEPS,))[STEPS]
    finally:
        coefficients = original
    change = (exact - moved).abs().max().item()
    if change > 1e-9:
        raise SystemExit("%s is chaotic on this problem (a 1e-13 change of the start moves step "
                         "%d by %.1e); choose other options" % (expression, STEPS, change))


def main():
    for path in sorted(glob.glob(os.path.join(TESTS, "*_test.cpp"))):
        with open(path) as f:
            expressions = re.findall(r'"torch: ([^"]*)"', f.read())
        if not expressions:
            continue
        name = os.path.basename(path)[: -len("_test.cpp")]
        writer = Writer("optim_%s.txt" % name,
                        "Optimizer trajectories for tests/optim/%s_test.cpp, torch %s.\n"
                        "Written by tests/reference/record_optim.py (see its docstring)."
                        % (name, torch.__version__))
        for expression in expressions:
            check_stable(expression)
            key = expression.replace(" ", "")
            for t, values in run(expression, torch.float64, F64_SNAPSHOTS).items():
                writer.add("%s|f64|%d" % (key, t), values)
            writer.add("%s|f32|%d" % (key, STEPS), run(expression, torch.float32, (STEPS,))[STEPS])
        writer.close()


if __name__ == "__main__":
    main()

"""Records PyTorch's learning rates for every schedule descent implements.

Run with Debian's python and torch:  /usr/bin/python3 tests/reference/record_schedules.py
Writes tests/data/schedules.txt. For each case, two param groups (lr 0.1 and 0.02) are
stepped STEPS times; records '<case>.g0' (STEPS): group 0's lr in force at each step as
PyTorch's usual loop sees it (its recursive "chainable" form), and '<case>.g1' (STEPS/10):
group 1's lr at every 10th step. Values have 13 significant digits (tests compare at 1e-9).

PyTorch's chainable form and its closed form (_get_closed_form_lr) differ by at most 3e-14
relative on these cases (measured by this script's --drift flag), so descent follows the
closed form (a schedule is a pure function of the step) and matches both.
"""
import sys
import warnings

import torch
from torch.optim import lr_scheduler as S

from reference_writer import Writer

warnings.filterwarnings("ignore")
STEPS = 1100
LRS = [0.1, 0.02]


def optimizer():
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], lr=LRS[0])


CASES = {
    "constant": lambda o: S.ConstantLR(o, factor=0.5, total_iters=100),
    "step": lambda o: S.StepLR(o, step_size=100, gamma=0.5),
    "multistep": lambda o: S.MultiStepLR(o, milestones=[300, 600, 900], gamma=0.1),
    "exponential": lambda o: S.ExponentialLR(o, gamma=0.997),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=1000, eta_min=1e-4),
    "cosine_zero_min": lambda o: S.CosineAnnealingLR(o, T_max=500),
    "cosine_restarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=100, T_mult=2, eta_min=1e-5),
    "cosine_restarts_flat": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=150),
    "linear": lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=400),
    "linear_decay": lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=1000),
    "polynomial": lambda o: S.PolynomialLR(o, total_iters=1000, power=2.0),
    "one_cycle_cos": lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=STEPS + 1),
    "one_cycle_linear": lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=STEPS + 1,
                                               anneal_strategy="linear", pct_start=0.25,
                                               div_factor=10.0, final_div_factor=100.0),
    "one_cycle_three_phase": lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=STEPS + 1,
                                                    three_phase=True),
    "warmup_cosine": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=100),
            S.CosineAnnealingLR(o, T_max=1100, eta_min=0.0)], milestones=[100]),
    "warmup_step": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=50), S.StepLR(o, step_size=200, gamma=0.5)],
        milestones=[50]),
    "sequential3": lambda o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.1, total_iters=1000), S.ExponentialLR(o, gamma=0.99),
            S.CosineAnnealingLR(o, T_max=300, eta_min=1e-3)], milestones=[200, 700]),
}


def main():
    w = Writer("schedules.txt", __doc__)
    for name, make in CASES.items():
        opt = optimizer()
        sched = make(opt)
        stepped = torch.zeros(len(LRS), STEPS, dtype=torch.float64)
        has_closed = hasattr(sched, "_get_closed_form_lr")
        drift = 0.0
        for t in range(STEPS):
            for g, group in enumerate(opt.param_groups):
                stepped[g, t] = group["lr"]
            if has_closed:
                for g, lr in enumerate(sched._get_closed_form_lr()):
                    if lr != 0:
                        drift = max(drift, abs(stepped[g, t].item() - lr) / abs(lr))
            opt.step()
            sched.step()
        if "--drift" in sys.argv and has_closed:
            print("%-24s chainable vs closed form: max relative difference %.3g" % (name, drift))
        w.add(name + ".g0", stepped[0], digits=13)
        w.add(name + ".g1", stepped[1, ::10], digits=13)

    # ReduceLROnPlateau on a scripted metric sequence.
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.8999, 0.9, 0.9, 0.9, 0.9, 0.7, 0.7, 0.7,
               0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    w.add("plateau.metrics", torch.tensor(metrics, dtype=torch.float64))
    plateau_cases = {
        "plateau_min_rel": dict(mode="min", factor=0.5, patience=2),
        "plateau_min_abs_cooldown": dict(mode="min", factor=0.5, patience=1, threshold=0.05,
                                         threshold_mode="abs", cooldown=2),
        "plateau_max": dict(mode="max", factor=0.1, patience=3, min_lr=[1e-3, 1e-4]),
        "plateau_min_lr": dict(mode="min", factor=0.2, patience=0, min_lr=0.01),
    }
    for name, kwargs in plateau_cases.items():
        opt = optimizer()
        sched = S.ReduceLROnPlateau(opt, **kwargs)
        lrs = torch.zeros(len(LRS), len(metrics), dtype=torch.float64)
        for t, m in enumerate(metrics):
            sched.step(m)
            for g, group in enumerate(opt.param_groups):
                lrs[g, t] = group["lr"]
        w.add(name, lrs)
    w.close()


if __name__ == "__main__":
    main()

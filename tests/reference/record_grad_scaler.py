"""Records torch.cuda.amp.GradScaler on scripted sequences of clean and overflowing steps,
for tests/amp/grad_scaler_test.cpp.

Run with Debian's python and torch:  /usr/bin/python3 tests/reference/record_grad_scaler.py

PyTorch 1.13 on a machine without CUDA cannot run GradScaler as shipped: it disables itself,
and its two kernels, _amp_foreach_non_finite_check_and_unscale_ and _amp_update_scale_, exist
only for CUDA. So this script runs GradScaler's own Python code (the state machine of
unscale_/step/update, the skip, the f64 reciprocal) on CPU tensors, with those two kernels
replaced by line-for-line Python transcriptions of aten/src/ATen/native/cuda/AmpKernels.cu
(below). The optimizers (SGD, Adam) and clip_grad_norm_ are PyTorch's own.

Gradients are scripted, not computed: at step t, parameter element i gets the f32 value
    g(t, i) = ((7 t + 3 i) mod 11 - 5) * 2^-k        (exact in f32, so C++ can rebuild it)
times the current scale (a f32 product, as a scaled loss's backward gives), and at the steps
marked in '<case>.overflow' element 1 is replaced by +Inf (1), -Inf (2) or NaN (3), as a
fp16 overflow in backward would leave it. Records per case, per step: 'scale' and 'tracker'
(after update()), 'found_inf' (1 if the step was skipped), and 'param' (after the step).
"""
import math

import torch
import torch.cuda.amp.grad_scaler as grad_scaler

from reference_writer import Writer


# ---- the two CUDA kernels, transcribed ----

def amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale):
    # AmpKernels.cu: found_inf = 1 if any !isfinite(val); val = val * inv_scale (opmath f32)
    for g in grads:
        if not torch.isfinite(g).all():
            found_inf.fill_(1.0)
        g.mul_(inv_scale)


def amp_update_scale_(current_scale, growth_tracker, found_inf, growth_factor, backoff_factor,
                      growth_interval):
    # AmpKernels.cu, amp_update_scale_cuda_kernel (float scale, double factors):
    #   if (*found_inf) { *current_scale = (*current_scale)*backoff_factor; *growth_tracker = 0; }
    #   else { successful = *growth_tracker + 1;
    #          if (successful == growth_interval) {
    #            new_scale = static_cast<float>((*current_scale)*growth_factor);
    #            if (isfinite(new_scale)) *current_scale = new_scale;
    #            *growth_tracker = 0;
    #          } else { *growth_tracker = successful; } }
    scale = float(current_scale.item())  # f32 value, held exactly in a Python float (f64)
    if found_inf.item():
        current_scale.fill_(scale * backoff_factor)  # f64 product, stored as f32
        growth_tracker.fill_(0)
    else:
        successful = int(growth_tracker.item()) + 1
        if successful == growth_interval:
            new_scale = torch.tensor(scale * growth_factor, dtype=torch.float64).float()
            if math.isfinite(new_scale.item()):
                current_scale.copy_(new_scale)
            growth_tracker.fill_(0)
        else:
            growth_tracker.fill_(successful)
    return current_scale


class CpuReplicator(grad_scaler._MultiDeviceReplicator):
    def __init__(self, master_tensor):  # the original asserts a CUDA tensor
        self.master = master_tensor
        self._per_device_tensors = {}


torch._amp_foreach_non_finite_check_and_unscale_ = amp_foreach_non_finite_check_and_unscale_
torch._amp_update_scale_ = amp_update_scale_
grad_scaler._MultiDeviceReplicator = CpuReplicator
grad_scaler.amp_definitely_not_available = lambda: False


def make_scaler(**options):
    scaler = grad_scaler.GradScaler(**options)
    assert scaler.is_enabled()
    # what scale(loss) does first (scale() itself asserts a CUDA tensor)
    scaler._lazy_init_scale_growth_tracker(torch.device("cpu"))
    return scaler


def scripted_grad(step, numel, shift):
    i = torch.arange(numel)
    return (((7 * step + 3 * i) % 11) - 5).float() * 2.0**-shift


def run(w, name, steps, overflow, options, make_opt, shift, max_norm=None, record_param=True):
    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.linspace(-1, 1, 4, dtype=torch.float32))
    opt = make_opt([param])
    scaler = make_scaler(**options)
    scales, trackers, skipped, params = [], [], [], []
    kinds = {1: math.inf, 2: -math.inf, 3: math.nan}
    for step in range(steps):
        opt.zero_grad()
        # backward of scale * loss: scale * g in f32
        param.grad = scripted_grad(step, 4, shift) * scaler._scale
        if overflow[step]:
            param.grad[1] = kinds[overflow[step]]
        if max_norm is not None:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_([param], max_norm)
        scaler.step(opt)
        found = sum(v.item() for v in scaler._found_inf_per_device(opt).values())
        scaler.update()
        scales.append(scaler.get_scale())
        trackers.append(scaler._get_growth_tracker())
        skipped.append(1.0 if found else 0.0)
        params.append(param.detach().clone())
    w.add(name + ".overflow", torch.tensor(overflow, dtype=torch.float64))
    w.add(name + ".scale", torch.tensor(scales, dtype=torch.float64))
    w.add(name + ".tracker", torch.tensor(trackers, dtype=torch.float64))
    w.add(name + ".found_inf", torch.tensor(skipped, dtype=torch.float64))
    if record_param:
        w.add(name + ".param", torch.stack(params))
    else:
        w.add(name + ".param", params[-1])


def pattern(steps, marks):
    out = [0] * steps
    for step, kind in marks.items():
        out[step] = kind
    return out


def main():
    w = Writer("grad_scaler.txt", __doc__)
    # defaults (2^16, x2, x0.5, 2000): overflow early, grow after 2000 clean steps, back off
    # three times in a row, grow again
    run(w, "default", 4100, pattern(4100, {3: 1, 4: 3, 2010: 2, 2011: 1, 2012: 3}), {},
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), shift=10, record_param=False)
    # other factors, a short interval, clipping after unscale_, Adam
    marks = {0: 1, 1: 1, 5: 3, 9: 2, 10: 1, 17: 1, 30: 3, 31: 3, 32: 3, 33: 3, 45: 2}
    run(w, "clipped", 60, pattern(60, marks),
        dict(init_scale=1024.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=3),
        lambda p: torch.optim.Adam(p, lr=0.01), shift=6, max_norm=0.05)
    # factors that are not powers of two: the f64 products rounded to f32
    run(w, "odd_factors", 50, pattern(50, {2: 1, 3: 1, 11: 3, 20: 2, 21: 2, 40: 1}),
        dict(init_scale=1000.0, growth_factor=3.0, backoff_factor=0.3, growth_interval=2),
        lambda p: torch.optim.SGD(p, lr=0.1), shift=8)
    # growth stops at f32's top: 2^127 * 2 would be Inf, so the scale stays and the count
    # restarts
    run(w, "saturate", 6, pattern(6, {4: 1}),
        dict(init_scale=2.0**126, growth_factor=2.0, backoff_factor=0.5, growth_interval=1),
        lambda p: torch.optim.SGD(p, lr=0.1), shift=140)
    w.close()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Fits the polynomial coefficients of vmath.hpp and prints them as C++ constants.

Each is a near-minimax fit of the relative error on the given interval: weighted least
squares on Chebyshev nodes, reweighted by Lawson's algorithm, against mpmath at 40 digits.
The f32 accuracy of the finished functions is measured by tests/kernels/vmath_test.cpp.

    /usr/bin/python3 src/descent/kernels/vmath_fit.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def fit(f, a, b, degree, center=0.0, scale=None, nodes=2000, iterations=30):
    """Coefficients c of sum_k c_k (x - center)^k ~ f(x) on [a, b]; the error is relative to
    scale(x) (default: f(x) itself)."""
    k = np.arange(nodes)
    x = (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / nodes)
    y = np.array([float(f(mp.mpf(float(t)))) for t in x])
    s = y if scale is None else np.array([float(scale(mp.mpf(float(t)))) for t in x])
    basis = np.stack([(x - center) ** i for i in range(degree + 1)], axis=1)
    weights = np.ones_like(x)
    for _ in range(iterations):
        w = np.sqrt(weights) / np.abs(s)
        c, *_ = np.linalg.lstsq(basis * w[:, None], y * w, rcond=None)
        error = np.abs(basis @ c - y) / np.abs(s)
        weights = weights * error
        weights /= weights.sum()
    return c, error.max()


def show(name, c, error, note):
    print(f"// {note}; fit error {error:.2g}")
    values = ", ".join(f"{np.float32(v)!r}f".replace("np.float32(", "").replace(")", "")
                       for v in c)
    print(f"inline constexpr float {name}[] = {{{values}}};")


def main():
    half_ln2 = float(mp.log(2) / 2)
    c, e = fit(lambda r: (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(1) / 2,
               -half_ln2, half_ln2, 5)
    show("kExpP", c, e, "e^r = 1 + r + r^2 P(r), |r| <= ln2/2")

    c, e = fit(lambda t: (mp.log(1 + t) - t + t**2 / 2) / t**3 if t != 0 else mp.mpf(1) / 3,
               float(mp.sqrt(0.5) - 1), float(mp.sqrt(2) - 1), 8)
    show("kLogP", c, e, "log(1 + f) = f - f^2/2 + f^3 P(f), sqrt(1/2) - 1 <= f < sqrt(2) - 1")

    c, e = fit(lambda z: (mp.tanh(mp.sqrt(z)) - mp.sqrt(z)) / z**1.5 if z != 0 else mp.mpf(-1) / 3,
               0.0, 0.625**2, 4)
    show("kTanhP", c, e, "tanh(x) = x + x^3 P(x^2), |x| < 0.625")

    # erf(x) / x - 1 crosses 0: its error is measured relative to erf(x) / x.
    ratio = lambda z: mp.erf(mp.sqrt(z)) / mp.sqrt(z) if z != 0 else 2 / mp.sqrt(mp.pi)
    c, e = fit(lambda z: ratio(z) - 1, 0.0, 1.0, 6, scale=ratio)
    show("kErfP", c, e, "erf(x) = x + x P(x^2), |x| < 1")

    c, e = fit(lambda u: mp.erfc(1 / u) * mp.exp(1 / u**2) / u, 0.1, 1.0, 10, center=0.55)
    show("kErfcP", c, e, "erfc(x) = e^(-x^2) u P(u - 0.55), u = 1/x, 1 <= x <= 10")


if __name__ == "__main__":
    main()

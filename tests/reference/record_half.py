"""Records PyTorch's f32 -> f16 and f32 -> bf16 rounding for tests/core/half_test.cpp.

Run with Debian's python and torch:  /usr/bin/python3 tests/reference/record_half.py
Writes tests/data/half.txt: 'input_bits' (the f32 inputs as unsigned 32-bit patterns, so
Inf and the last bit travel exactly), 'f16_bits' and 'bf16_bits' (torch's results as
unsigned 16-bit patterns). No NaN inputs: PyTorch returns a
canonical NaN (0x7E00 for f16, 0xFFFF from its vectorized bf16 path) where descent keeps
the sign and payload as the hardware does; NaN handling is tested in C++ by its rule.
"""
import struct

import torch

from reference_writer import Writer


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def from_bits(bits):
    return bits.view(torch.float32)


def main():
    torch.manual_seed(0)
    inf = float("inf")
    specials = [0.0, -0.0, inf, -inf, 1.0, -1.0, 0.1, -2.5, 3.140625,
                # f16 top: 65504 is the largest, 65520 the midpoint to 65536 (ties to Inf)
                65504.0, 65505.0, 65519.0, 65520.0, -65520.0, 65536.0, 1e5, 3.0e38,
                # f16 bottom: 2^-14 smallest normal, 2^-24 smallest subnormal
                2.0**-14, 2.0**-14 - 2.0**-25, 2.0**-24, 2.0**-25, 1.5 * 2.0**-24,
                2.5 * 2.0**-24, 3.5 * 2.0**-24, 2.0**-26, -(2.0**-25), 1e-40, -1e-40, 2.0**-149,
                # ties to even at 1: f16 ulp 2^-10, bf16 ulp 2^-7
                1 + 2.0**-11, 1 + 3 * 2.0**-11, 1 + 2.0**-8, 1 + 3 * 2.0**-8,
                # bf16 top: (2 - 2^-8) * 2^127 is the midpoint to 2^128 (ties to Inf)
                (2 - 2.0**-7) * 2.0**127, (2 - 2.0**-8) * 2.0**127, 3.4028234663852886e38]
    values = torch.tensor([f32(v) for v in specials], dtype=torch.float32)

    # random magnitudes over f16's and bf16's ranges
    logs = torch.empty(1500).uniform_(-30, 18)
    magnitudes = torch.randn(1500).sign() * torch.exp2(logs)
    # random bit patterns, NaNs removed
    patterns = from_bits(torch.randint(-2**31, 2**31 - 1, (600,), dtype=torch.int32))
    patterns = patterns[~torch.isnan(patterns)]
    # exact midpoints between neighbouring f16 and bf16 values (the ties)
    f16_bits = torch.randint(0, 0x7BFF, (300,), dtype=torch.int32)
    f16_low = f16_bits.to(torch.int16).view(torch.float16).float()
    f16_high = (f16_bits + 1).to(torch.int16).view(torch.float16).float()
    bf16_bits = torch.randint(0, 0x7F7F, (300,), dtype=torch.int32)
    bf16_low = bf16_bits.to(torch.int16).view(torch.bfloat16).float()
    bf16_high = (bf16_bits + 1).to(torch.int16).view(torch.bfloat16).float()
    ties = torch.cat([(f16_low + f16_high) / 2, (bf16_low + bf16_high) / 2])
    values = torch.cat([values, magnitudes, patterns, ties, -ties[:100]])

    w = Writer("half.txt", __doc__)
    w.add("input_bits", values.view(torch.int32).double() % 2**32)
    w.add("f16_bits", values.half().view(torch.int16).to(torch.int32) & 0xFFFF)
    w.add("bf16_bits", values.bfloat16().view(torch.int16).to(torch.int32) & 0xFFFF)
    w.close()


if __name__ == "__main__":
    main()

// What the CPU can do, asked once.
#pragma once

namespace descent {

// AVX-512 F, VL, BW and DQ: what the code compiled for AVX-512 next to the AVX2 baseline
// needs (the optimizer's update loop, the direct convolutions, the 16-bit conversions).
inline bool cpu_has_avx512() {
#if defined(__x86_64__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  }();
  return has;
#else
  return false;
#endif
}

// AVX-512 as above, and AVX512-BF16 (vdpbf16ps, vcvtne2ps2bf16): descent's bf16 kernels.
inline bool cpu_has_avx512_bf16() {
#if defined(__x86_64__)
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

}  // namespace descent

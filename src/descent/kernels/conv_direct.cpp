#include "descent/kernels/conv_direct.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <type_traits>
#include <utility>

#include "descent/core/cpu.hpp"
#include "descent/core/error.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/avx512_gemm.hpp"
#include "descent/kernels/gemm_split.hpp"
#include "descent/kernels/workspace.hpp"

// Every function here runs only where available() (AVX-512 F, BW, VL) holds; the bf16 tiles'
// vdpbf16ps only where available_bf16() does (the compiler emits it for its intrinsic alone).
#define DESCENT_DIRECT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace descent::kernels::direct {
namespace {

using detail::ceil_div;

constexpr int kOB = 8;  // output channels of a positions tile
constexpr int kPV = 3;  // 16-position vectors of a positions tile
// Below this many multiply-adds a call stays on one thread.
constexpr std::int64_t kParallelMacs = std::int64_t{1} << 18;

std::int64_t round_up(std::int64_t a, std::int64_t b) {
  return ceil_div(a, b) * b;
}

// What a 32-bit slot of the padded input and of the packed weights holds: an f32, or (bf16
// inputs) two bf16 of consecutive channels, the lower channel in the low half, as vdpbf16ps
// multiplies them pairwise.
enum class Slots { f32, bf16_pairs };

// How one sample's input lies, padded and split into phase planes, in a thread's buffer of
// 32-bit slots, and the output positions that read it.
struct Layout {
  std::int64_t C = 0, H = 0, W = 0;  // the input sample (C channels of slots, H, W)
  std::int64_t KH = 0, KW = 0, pad_h = 0, pad_w = 0, s = 1;
  std::int64_t OH = 0, OW = 0;
  std::int64_t Hq = 0, Wq = 0;              // a phase plane
  std::int64_t positions = 0;               // OH * Wq rounded up to whole vectors
  std::int64_t phase_stride = 0;            // slots from one phase plane to the next
  std::int64_t phases_h = 1, phases_w = 1;  // phase rows and columns some tap reads
  std::int64_t channel_stride = 0;          // phases_h * phases_w phase planes
  std::int64_t taps() const { return C * KH * KW; }
  // with a stride, the padded input rows of one channel, each as wide as the split reads
  std::int64_t row_width() const { return s * round_up(Wq, 16); }
  std::int64_t row_floats() const { return row_width() + 16; }
  std::int64_t row_scratch() const { return s > 1 ? H * row_floats() + 16 : 0; }
  // the phase planes, then the rows
  std::int64_t sample_floats() const { return C * channel_stride + row_scratch(); }
};

// extra_h, extra_w: zero rows and columns past the padding at the bottom and right (the
// backward-data phases read further than their top and left padding).
Layout layout_of(std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t KH, std::int64_t KW,
                 std::int64_t pad_h, std::int64_t pad_w, std::int64_t s, std::int64_t OH,
                 std::int64_t OW, std::int64_t extra_h = 0, std::int64_t extra_w = 0) {
  Layout L{.C = C,
           .H = H,
           .W = W,
           .KH = KH,
           .KW = KW,
           .pad_h = pad_h,
           .pad_w = pad_w,
           .s = s,
           .OH = OH,
           .OW = OW};
  L.Hq = ceil_div(H + 2 * pad_h + extra_h, s);
  L.Wq = ceil_div(W + 2 * pad_w + extra_w, s);
  L.positions = round_up(OH * L.Wq, 16);
  // the last vector of positions reads this far past its start in the furthest tap's plane
  const std::int64_t reach = (KH - 1) / s * L.Wq + (KW - 1) / s;
  // and at least 16 slots past the plane, which a row's last vector may write into
  L.phase_stride = round_up(std::max(L.Hq * L.Wq, L.positions + reach) + 16, 16);
  L.phases_h = std::min(s, KH);
  L.phases_w = std::min(s, KW);
  L.channel_stride = L.phases_h * L.phases_w * L.phase_stride;
  return L;
}

// offsets[t] for tap t = (c * KH + kh) * KW + kw: where it reads position 0 in the buffer.
void tap_offsets(const Layout& L, std::int64_t* offsets) {
  for (std::int64_t c = 0; c < L.C; ++c) {
    for (std::int64_t kh = 0; kh < L.KH; ++kh) {
      for (std::int64_t kw = 0; kw < L.KW; ++kw) {
        const std::int64_t phase = (kh % L.s) * L.phases_w + kw % L.s;
        offsets[(c * L.KH + kh) * L.KW + kw] =
            c * L.channel_stride + phase * L.phase_stride + kh / L.s * L.Wq + kw / L.s;
      }
    }
  }
}

DESCENT_DIRECT void zeros(float* p, std::int64_t n) {
  for (std::int64_t i = 0; i < n; i += 16) {
    const std::int64_t k = std::min<std::int64_t>(16, n - i);
    _mm512_mask_storeu_ps(p + i, static_cast<__mmask16>(k == 16 ? 0xFFFF : (1u << k) - 1),
                          _mm512_setzero_ps());
  }
}

// out[0, n) = in[0, n), whole vectors then a masked tail (for the output rows).
DESCENT_DIRECT void copy_row(const float* in, std::int64_t n, float* out) {
  std::int64_t k = 0;
  for (; k + 16 <= n; k += 16) _mm512_storeu_ps(out + k, _mm512_loadu_ps(in + k));
  if (k < n) {
    const __mmask16 rest = static_cast<__mmask16>((1u << (n - k)) - 1);
    _mm512_mask_storeu_ps(out + k, rest, _mm512_maskz_loadu_ps(rest, in + k));
  }
}

// Asks for `bytes` at p to be brought into L2 (the next sample's input, while this one is
// computed).
DESCENT_DIRECT void prefetch(const void* p, std::int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (std::int64_t i = 0; i < bytes; i += 64) _mm_prefetch(c + i, _MM_HINT_T1);
}

// ---- padded rows ----
// row[0, width) = `pad` zeros, an input row (W values, as slots), zeros; whole unmasked
// vectors only, which may write up to 15 slots past row + width (into the next row, written
// after, or the plane's slack). Masked loads and stores cost several times more here (AMD
// Zen 5: a masked load that crosses a cache line, and a load that reads a masked store, wait).
// src.vector(k) gives the 16 slots of input columns k .. k + 15 (all inside the row), and
// src.one(k) the slot of column k.
template <typename Source>
DESCENT_DIRECT inline void padded_row_of(const Source& src, std::int64_t pad, std::int64_t W,
                                         std::int64_t width, float* row) {
  const __m512 zero = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < pad; j += 16) _mm512_storeu_ps(row + j, zero);
  if (W >= 16) {
    std::int64_t k = 0;
    for (; k + 16 <= W; k += 16) _mm512_storeu_ps(row + pad + k, src.vector(k));
    // the last vector ends at the row's end, overlapping the one before
    if (k < W) _mm512_storeu_ps(row + pad + W - 16, src.vector(W - 16));
  } else {
    for (std::int64_t k = 0; k < W; ++k) row[pad + k] = src.one(k);
  }
  for (std::int64_t j = pad + W; j < width; j += 16) _mm512_storeu_ps(row + j, zero);
}

DESCENT_DIRECT inline __m512i load16(const BFloat16* p) {
  return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

struct F32Source {
  const float* src;
  DESCENT_DIRECT __m512 vector(std::int64_t k) const { return _mm512_loadu_ps(src + k); }
  float one(std::int64_t k) const { return src[k]; }
};
// bf16 rows a and b (b null: zeros) as pairs (a[k], b[k]).
struct PairSource {
  const BFloat16* a;
  const BFloat16* b;
  DESCENT_DIRECT __m512 vector(std::int64_t k) const {
    const __m512i lo = load16(a + k);
    if (b == nullptr) return _mm512_castsi512_ps(lo);
    return _mm512_castsi512_ps(_mm512_or_si512(lo, _mm512_slli_epi32(load16(b + k), 16)));
  }
  float one(std::int64_t k) const {
    const std::uint32_t bits = a[k].bits | (b == nullptr ? 0u : std::uint32_t{b[k].bits} << 16);
    return std::bit_cast<float>(bits);
  }
};
// a bf16 row widened to f32
struct WidenedSource {
  const BFloat16* src;
  DESCENT_DIRECT __m512 vector(std::int64_t k) const {
    return _mm512_castsi512_ps(_mm512_slli_epi32(load16(src + k), 16));
  }
  float one(std::int64_t k) const { return static_cast<float>(src[k]); }
};

DESCENT_DIRECT void padded_row(const float* src, std::int64_t pad, std::int64_t W,
                               std::int64_t width, float* row) {
  padded_row_of(F32Source{src}, pad, W, width, row);
}

// The rows of one sample, by slot channel c and input row ih (`in`: the sample (C, H, W)).
struct F32Rows {
  const float* in;
  std::int64_t H, W;
  DESCENT_DIRECT void operator()(std::int64_t c, std::int64_t ih, std::int64_t pad,
                                 std::int64_t width, float* row) const {
    padded_row(in + (c * H + ih) * W, pad, W, width, row);
  }
};
struct PairRows {  // slot channel c: channels 2c and 2c + 1 of C
  const BFloat16* in;
  std::int64_t C, H, W;
  DESCENT_DIRECT void operator()(std::int64_t c, std::int64_t ih, std::int64_t pad,
                                 std::int64_t width, float* row) const {
    const BFloat16* b = 2 * c + 1 < C ? in + ((2 * c + 1) * H + ih) * W : nullptr;
    padded_row_of(PairSource{in + (2 * c * H + ih) * W, b}, pad, W, width, row);
  }
};
struct WidenedRows {
  const BFloat16* in;
  std::int64_t H, W;
  DESCENT_DIRECT void operator()(std::int64_t c, std::int64_t ih, std::int64_t pad,
                                 std::int64_t width, float* row) const {
    padded_row_of(WidenedSource{in + (c * H + ih) * W}, pad, W, width, row);
  }
};

// One sample into buf: zero padding, the phase planes some tap reads, and zeros past each
// plane. With a stride, a channel's padded rows go to the rows scratch first, all of them (a
// load that reads stores just made waits for them), then split into phases.
template <typename Rows>
DESCENT_DIRECT void fill_sample(const Layout& L, const Rows& rows, float* buf) {
  const std::int64_t plane = L.Hq * L.Wq;
  float* scratch = buf + L.C * L.channel_stride;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (std::int64_t c = 0; c < L.C; ++c) {
    float* channel = buf + c * L.channel_stride;
    if (L.s == 1) {
      for (std::int64_t i = 0; i < L.Hq; ++i) {
        const std::int64_t ih = i - L.pad_h;
        float* row = channel + i * L.Wq;
        if (ih < 0 || ih >= L.H) {
          padded_row(nullptr, L.Wq, 0, L.Wq, row);
        } else {
          rows(c, ih, L.pad_w, L.Wq, row);
        }
      }
    } else {
      for (std::int64_t ih = 0; ih < L.H; ++ih) {
        rows(c, ih, L.pad_w, L.row_width(), scratch + ih * L.row_floats());
      }
      for (std::int64_t a = 0; a < L.phases_h; ++a) {
        for (std::int64_t i = 0; i < L.Hq; ++i) {
          const std::int64_t ih = i * L.s + a - L.pad_h;
          const float* padded = scratch + ih * L.row_floats();
          for (std::int64_t b = 0; b < L.phases_w; ++b) {
            float* row = channel + (a * L.phases_w + b) * L.phase_stride + i * L.Wq;
            if (ih < 0 || ih >= L.H) {
              padded_row(nullptr, L.Wq, 0, L.Wq, row);
            } else if (L.s == 2) {
              // both phases' columns from one pair of loads; up to 15 slots past the row
              if (b > 0) continue;
              float* next = L.phases_w > 1 ? row + L.phase_stride : nullptr;
              for (std::int64_t j = 0; j < L.Wq; j += 16) {
                const __m512 lo = _mm512_loadu_ps(padded + 2 * j);
                const __m512 hi = _mm512_loadu_ps(padded + 2 * j + 16);
                _mm512_storeu_ps(row + j, _mm512_permutex2var_ps(lo, even, hi));
                if (next != nullptr) {
                  _mm512_storeu_ps(next + j, _mm512_permutex2var_ps(lo, odd, hi));
                }
              }
            } else {
              for (std::int64_t j = 0; j < L.Wq; ++j) row[j] = padded[j * L.s + b];
            }
          }
        }
      }
    }
    // after the rows, which may write a little into it
    for (std::int64_t ph = 0; ph < L.phases_h * L.phases_w; ++ph) {
      zeros(channel + ph * L.phase_stride + plane, L.phase_stride - plane);
    }
  }
}

// ---- the multiply-add of a slot ----

template <Slots S>
DESCENT_DIRECT __attribute__((always_inline)) inline __m512 madd(__m512 acc, __m512 a, __m512 b) {
  if constexpr (S == Slots::f32) {
    return _mm512_fmadd_ps(a, b, acc);
  } else {
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(a),
                            (__m512bh)_mm512_castps_si512(b));
  }
}

// ---- forward: positions across the vector (large planes) ----

// out[j][0:16 PV] (rows ld apart) = bias[j] + sum_t in[offsets[t] + 0:16 PV] * w[t][j]
template <Slots S, int PV>
DESCENT_DIRECT void forward_tile(const float* in, const std::int64_t* offsets, std::int64_t taps,
                                 const float* w, const float* bias, float* out, std::int64_t ld) {
  __m512 acc[PV][kOB];
  for (int j = 0; j < kOB; ++j) {
    const __m512 b = _mm512_set1_ps(bias[j]);
    for (int p = 0; p < PV; ++p) acc[p][j] = b;
  }
  for (std::int64_t t = 0; t < taps; ++t) {
    const float* src = in + offsets[t];
    __m512 xv[PV];
    for (int p = 0; p < PV; ++p) xv[p] = _mm512_loadu_ps(src + 16 * p);
    const float* wt = w + t * kOB;
    for (int j = 0; j < kOB; ++j) {
      const __m512 b = _mm512_set1_ps(wt[j]);
      for (int p = 0; p < PV; ++p) acc[p][j] = madd<S>(acc[p][j], xv[p], b);
    }
  }
  for (int j = 0; j < kOB; ++j) {
    for (int p = 0; p < PV; ++p) _mm512_storeu_ps(out + j * ld + 16 * p, acc[p][j]);
  }
}

// src (rows, ld_src): columns [0, cols) -> dst (cols, ld_dst), in 16x16 transposes.
DESCENT_DIRECT void transpose_block(const float* src, std::int64_t rows, std::int64_t cols,
                                    std::int64_t ld_src, float* dst, std::int64_t ld_dst) {
  for (std::int64_t c0 = 0; c0 < cols; c0 += 16) {
    const std::int64_t width = std::min<std::int64_t>(16, cols - c0);
    const __mmask16 col_mask = static_cast<__mmask16>(width == 16 ? 0xFFFF : (1u << width) - 1);
    for (std::int64_t r0 = 0; r0 < rows; r0 += 16) {
      const std::int64_t height = std::min<std::int64_t>(16, rows - r0);
      const __mmask16 row_mask = static_cast<__mmask16>(height == 16 ? 0xFFFF : (1u << height) - 1);
      __m512i r[16];
      for (std::int64_t i = 0; i < 16; ++i) {
        r[i] = i < height ? _mm512_maskz_loadu_epi32(col_mask, src + (r0 + i) * ld_src + c0)
                          : _mm512_setzero_si512();
      }
      detail::transpose16(r);
      for (std::int64_t c = 0; c < width; ++c) {
        _mm512_mask_storeu_epi32(dst + (c0 + c) * ld_dst + r0, row_mask, r[c]);
      }
    }
  }
}

// A forward pass as the kernel sees it: input (N, channels, H, W) in f32 or bf16, weights
// (O, channels * KH * KW) of the same type, bias (O) or null, output (N, O, OH, OW) in f32.
// L counts slot channels: channels, or pairs of them for bf16.
template <typename In>
struct Forward {
  static constexpr Slots kSlots = std::is_same_v<In, float> ? Slots::f32 : Slots::bf16_pairs;
  Layout L;
  std::int64_t N = 0, O = 0, channels = 0;
  const In* in = nullptr;
  const In* weights = nullptr;
  const float* bias = nullptr;
  float* out = nullptr;
};

template <typename In>
std::int64_t slot_channels(std::int64_t channels) {
  return std::is_same_v<In, float> ? channels : ceil_div(channels, 2);
}

// The slot of weight row o at slot tap t = (c, kh, kw): w[o][c][kh][kw], or the pair of
// channels 2c, 2c + 1 (zero past the last).
template <typename In>
float weight_slot(const Forward<In>& f, std::int64_t o, std::int64_t t) {
  const std::int64_t kernel = f.L.KH * f.L.KW;
  const In* row = f.weights + o * f.channels * kernel;
  if constexpr (std::is_same_v<In, float>) {
    return row[t];
  } else {
    const std::int64_t c = t / kernel, k = t % kernel;
    const std::uint32_t lo = row[2 * c * kernel + k].bits;
    const std::uint32_t hi = 2 * c + 1 < f.channels ? row[(2 * c + 1) * kernel + k].bits : 0;
    return std::bit_cast<float>(lo | hi << 16);
  }
}

// weights as [O / width][taps][width] slots and bias as [O / width][width], zero past O.
template <typename In>
void pack_weights(const Forward<In>& f, std::int64_t width, float* packed, float* bias) {
  const std::int64_t taps = f.L.taps();
  const std::int64_t blocks = ceil_div(f.O, width);
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    for (std::int64_t j = 0; j < width; ++j) {
      const std::int64_t o = blk * width + j;
      float* w = packed + blk * taps * width + j;
      for (std::int64_t t = 0; t < taps; ++t) w[t * width] = o < f.O ? weight_slot(f, o, t) : 0.0f;
      bias[blk * width + j] = o < f.O && f.bias != nullptr ? f.bias[o] : 0.0f;
    }
  }
}

template <typename In>
DESCENT_DIRECT void positions_block(const Forward<In>& f, const std::int64_t* offsets,
                                    const float* packed, const float* packed_bias, const float* buf,
                                    std::int64_t n, std::int64_t block, float* tile_out) {
  constexpr Slots S = Forward<In>::kSlots;
  const Layout& L = f.L;
  const std::int64_t taps = L.taps();
  const float* w = packed + block * taps * kOB;
  const float* bias = packed_bias + block * kOB;
  const std::int64_t ld = L.positions;
  std::int64_t q = 0;
  for (; q + 16 * kPV <= L.positions; q += 16 * kPV) {
    forward_tile<S, kPV>(buf + q, offsets, taps, w, bias, tile_out + q, ld);
  }
  if (L.positions - q == 32) forward_tile<S, 2>(buf + q, offsets, taps, w, bias, tile_out + q, ld);
  if (L.positions - q == 16) forward_tile<S, 1>(buf + q, offsets, taps, w, bias, tile_out + q, ld);
  const std::int64_t channels = std::min<std::int64_t>(kOB, f.O - block * kOB);
  for (std::int64_t j = 0; j < channels; ++j) {
    float* y = f.out + (n * f.O + block * kOB + j) * L.OH * L.OW;
    const float* row = tile_out + j * L.positions;
    for (std::int64_t oh = 0; oh < L.OH; ++oh) copy_row(row + oh * L.Wq, L.OW, y + oh * L.OW);
  }
}

// ---- forward: channels across the vector (small planes, channels in multiples of 16) ----

// out[k R + r][0:16 OV] (rows ld apart) = bias + sum_t in[offsets[t] + k row + r] *
// w[t][0:16 OV] for R consecutive output positions of ROWS consecutive rows (`row` apart in
// the input; the rows' R positions follow each other in out, so with ROWS > 1 a run is a
// whole row).
template <Slots S, int OV, int R, int ROWS = 1>
DESCENT_DIRECT void channels_tile(const float* in, const std::int64_t* offsets, std::int64_t taps,
                                  const float* w, const float* bias, float* out, std::int64_t ld,
                                  std::int64_t row) {
  __m512 acc[ROWS][R][OV];
  for (int v = 0; v < OV; ++v) {
    const __m512 b = _mm512_loadu_ps(bias + 16 * v);
    for (int k = 0; k < ROWS; ++k) {
      for (int r = 0; r < R; ++r) acc[k][r][v] = b;
    }
  }
  for (std::int64_t t = 0; t < taps; ++t) {
    const float* src = in + offsets[t];
    __m512 wv[OV];
    for (int v = 0; v < OV; ++v) wv[v] = _mm512_loadu_ps(w + t * 16 * OV + 16 * v);
    for (int k = 0; k < ROWS; ++k) {
      for (int r = 0; r < R; ++r) {
        const __m512 b = _mm512_set1_ps(src[k * row + r]);
        for (int v = 0; v < OV; ++v) acc[k][r][v] = madd<S>(acc[k][r][v], b, wv[v]);
      }
    }
  }
  for (int k = 0; k < ROWS; ++k) {
    for (int r = 0; r < R; ++r) {
      for (int v = 0; v < OV; ++v) _mm512_storeu_ps(out + (k * R + r) * ld + 16 * v, acc[k][r][v]);
    }
  }
}

// Output positions per channels tile, at most: 28 accumulators.
template <int OV>
constexpr int kMaxRun = 28 / OV;

using ChannelsTile = void (*)(const float*, const std::int64_t*, std::int64_t, const float*,
                              const float*, float*, std::int64_t, std::int64_t);
template <Slots S, int OV, int ROWS, std::size_t... R>
constexpr std::array<ChannelsTile, sizeof...(R)> channels_tiles(std::index_sequence<R...>) {
  return {&channels_tile<S, OV, static_cast<int>(R) + 1, ROWS>...};
}
// channels_tile<S, OV, R, ROWS> for R = 1 .. kMaxRun<OV> / ROWS, at index R - 1
template <Slots S, int OV, int ROWS>
constexpr auto kChannelsTiles =
    channels_tiles<S, OV, ROWS>(std::make_index_sequence<kMaxRun<OV> / ROWS>());

// The vectors of channels of one tile: 4 where the channels come in 64s, 2 in 32s, else 1;
// but 2 on planes at most 7 wide (two rows of 7 by 32 channels fill 28 accumulators, where 7
// positions by 64 channels leave one accumulator spilled).
std::int64_t channel_vectors(std::int64_t O, std::int64_t OW) {
  return O % 64 == 0 && OW > 7 ? 4 : O % 32 == 0 ? 2 : 1;
}

// Small planes with channels in multiples of 16 put channels across the vector: no columns of
// padding computed and dropped (a 7x7 plane padded to 9x9 would waste a third of a
// positions tile), at the price of a transpose of the output.
bool channels_across(const Layout& L, std::int64_t O) {
  return O % 16 == 0 && O >= 32 && L.OW <= 14;
}

template <int OV, typename In>
DESCENT_DIRECT void channels_block(const Forward<In>& f, const std::int64_t* offsets,
                                   const float* packed, const float* packed_bias, const float* buf,
                                   std::int64_t n, std::int64_t block, float* tile_out) {
  const Layout& L = f.L;
  const std::int64_t taps = L.taps();
  constexpr std::int64_t width = 16 * OV;
  const float* w = packed + block * taps * width;
  const float* bias = packed_bias + block * width;
  constexpr Slots S = Forward<In>::kSlots;
  std::int64_t oh = 0;
  if (2 * L.OW <= kMaxRun<OV>) {
    // whole rows, two at a time
    for (; oh + 2 <= L.OH; oh += 2) {
      kChannelsTiles<S, OV, 2>[L.OW - 1](buf + oh * L.Wq, offsets, taps, w, bias,
                                         tile_out + oh * L.OW * width, width, L.Wq);
    }
  }
  // each row in runs of nearly equal length, at most kMaxRun
  const std::int64_t runs = ceil_div(L.OW, kMaxRun<OV>);
  for (; oh < L.OH; ++oh) {
    for (std::int64_t i = 0; i < runs; ++i) {
      const std::int64_t ow0 = L.OW * i / runs, ow1 = L.OW * (i + 1) / runs;
      kChannelsTiles<S, OV, 1>[ow1 - ow0 - 1](buf + oh * L.Wq + ow0, offsets, taps, w, bias,
                                              tile_out + (oh * L.OW + ow0) * width, width, L.Wq);
    }
  }
  transpose_block(tile_out, L.OH * L.OW, width, width,
                  f.out + (n * f.O + block * width) * L.OH * L.OW, L.OH * L.OW);
}

// The threads of a call: gemm_split.hpp's rule (one below kParallelMacs, one inside a
// caller's region), and one where there is a single item to share.
int threads_for(std::int64_t items, std::int64_t macs) {
  return items >= 2 ? detail::gemm_threads(macs, kParallelMacs) : 1;
}

template <typename In>
void run_forward(const Forward<In>& f) {
  const Layout& L = f.L;
  const bool across = channels_across(L, f.O);
  const std::int64_t ov = channel_vectors(f.O, L.OW);
  const std::int64_t width = across ? 16 * ov : kOB;
  const std::int64_t blocks = ceil_div(f.O, width);
  const std::int64_t items = f.N * blocks;
  if (items == 0) return;
  Workspace<float> packed(blocks * width * (L.taps() + 1));
  float* packed_bias = packed.get() + blocks * width * L.taps();
  pack_weights(f, width, packed.get(), packed_bias);
  Workspace<std::int64_t> offsets(L.taps());
  tap_offsets(L, offsets.get());
  const int threads = threads_for(items, f.N * f.O * L.OH * L.OW * f.channels * L.KH * L.KW);
  const std::int64_t tile_floats = across ? L.OH * L.OW * width : kOB * L.positions;
  const std::int64_t per_thread = L.sample_floats() + tile_floats;
  Workspace<float> scratch(per_thread * threads);
  const std::int64_t sample = f.channels * L.H * L.W;
  on_threads(threads, [&](std::int64_t t, std::int64_t nt) {
    float* buf = scratch.get() + per_thread * t;
    float* tile_out = buf + L.sample_floats();
    std::int64_t filled = -1;
    for (std::int64_t i = items * t / nt; i < items * (t + 1) / nt; ++i) {
      const std::int64_t n = i / blocks;
      if (n != filled) {
        const In* in = f.in + n * sample;
        if constexpr (std::is_same_v<In, float>) {
          fill_sample(L, F32Rows{in, L.H, L.W}, buf);
        } else {
          fill_sample(L, PairRows{in, f.channels, L.H, L.W}, buf);
        }
        if (n + 1 < f.N) prefetch(in + sample, sample * static_cast<std::int64_t>(sizeof(In)));
        filled = n;
      }
      const std::int64_t block = i % blocks;
      if (!across) {
        positions_block(f, offsets.get(), packed.get(), packed_bias, buf, n, block, tile_out);
      } else if (ov == 4) {
        channels_block<4>(f, offsets.get(), packed.get(), packed_bias, buf, n, block, tile_out);
      } else if (ov == 2) {
        channels_block<2>(f, offsets.get(), packed.get(), packed_bias, buf, n, block, tile_out);
      } else {
        channels_block<1>(f, offsets.get(), packed.get(), packed_bias, buf, n, block, tile_out);
      }
    }
  });
}

// ---- backward weights (f32 sums of f32 or widened bf16 values) ----

// The output positions a weights tile takes per step: one (f32), or a pair (ow, ow + 1) of
// one row (bf16: the slot at a position holds the values at it and the next, and dy's slot
// the pair's two values, the second zero past the row's end).
template <Slots Sl>
constexpr std::int64_t kStep = Sl == Slots::f32 ? 1 : 2;

// dw[j][0:16 V] (rows ld apart) += sum over output positions (oh, ow) of
// buf[offsets[j] + oh * Wq + ow] * dyT[oh * ceil(OW / step) + ow / step][0:16 V]
template <Slots Sl, int V, int J>
DESCENT_DIRECT void weights_tile(const Layout& L, const float* buf, const std::int64_t* offsets,
                                 const float* dyT, std::int64_t ld, float* dw) {
  constexpr std::int64_t step = kStep<Sl>;
  const std::int64_t per_row = ceil_div(L.OW, step);
  __m512 acc[J][V];
  for (int j = 0; j < J; ++j) {
    for (int v = 0; v < V; ++v) acc[j][v] = _mm512_loadu_ps(dw + j * ld + 16 * v);
  }
  std::int64_t off[J];
  for (int j = 0; j < J; ++j) off[j] = offsets[j];
  for (std::int64_t oh = 0; oh < L.OH; ++oh) {
    const float* row = buf + oh * L.Wq;
    const float* d = dyT + oh * per_row * ld;
    for (std::int64_t ow = 0; ow < L.OW; ow += step, d += ld) {
      __m512 dv[V];
      for (int v = 0; v < V; ++v) dv[v] = _mm512_loadu_ps(d + 16 * v);
      for (int j = 0; j < J; ++j) {
        const __m512 b = _mm512_set1_ps(row[off[j] + ow]);
        for (int v = 0; v < V; ++v) acc[j][v] = madd<Sl>(acc[j][v], b, dv[v]);
      }
    }
  }
  for (int j = 0; j < J; ++j) {
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(dw + j * ld + 16 * v, acc[j][v]);
  }
}

// The same for 3 columns of kernel and stride S (1 or 2): R rows (c, kh) of 3 taps each; tap
// kw of a row reads its phase plane kw % S at kw / S past the row's first tap there, so the
// tile needs R * S pointers, not 3 R offsets (which spill and double the loads).
template <Slots Sl, int V, int R, int S>
DESCENT_DIRECT void weights_tile_kw3(const Layout& L, const float* buf, const std::int64_t* offsets,
                                     const float* dyT, std::int64_t ld, float* dw) {
  constexpr std::int64_t step = kStep<Sl>;
  const std::int64_t per_row = ceil_div(L.OW, step);
  __m512 acc[R][3][V];
  for (int r = 0; r < R; ++r) {
    for (int k = 0; k < 3; ++k) {
      for (int v = 0; v < V; ++v) acc[r][k][v] = _mm512_loadu_ps(dw + (3 * r + k) * ld + 16 * v);
    }
  }
  for (std::int64_t oh = 0; oh < L.OH; ++oh) {
    const float* src[R][S];
    for (int r = 0; r < R; ++r) {
      for (int b = 0; b < S; ++b) src[r][b] = buf + offsets[3 * r + b] + oh * L.Wq;
    }
    const float* d = dyT + oh * per_row * ld;
    for (std::int64_t ow = 0; ow < L.OW; ow += step, d += ld) {
      __m512 dv[V];
      for (int v = 0; v < V; ++v) dv[v] = _mm512_loadu_ps(d + 16 * v);
      for (int r = 0; r < R; ++r) {
        for (int k = 0; k < 3; ++k) {
          const __m512 b = _mm512_set1_ps(src[r][k % S][ow + k / S]);
          for (int v = 0; v < V; ++v) acc[r][k][v] = madd<Sl>(acc[r][k][v], b, dv[v]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int k = 0; k < 3; ++k) {
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(dw + (3 * r + k) * ld + 16 * v, acc[r][k][v]);
    }
  }
}

// Taps of a weights tile, at most: 12 with 32 channels, 24 with 16 (4 or 8 rows of a 3-wide
// kernel); fewer at the end.
constexpr std::int64_t kTapsWide = 12, kTapsNarrow = 24;

// Whether weights_sample runs the 3-wide tiles (stride 1 or 2, 3 columns of kernel).
bool rows_of_three(const Layout& L) {
  return L.s <= 2 && L.KW == 3;
}

// Taps [t, t1) of channels [o, o + 16 V) in tiles of J taps, halving at the end.
template <Slots Sl, int V, int J>
DESCENT_DIRECT void weights_taps(const Layout& L, const float* buf, const std::int64_t* offsets,
                                 std::int64_t t, std::int64_t t1, const float* dyT, std::int64_t ld,
                                 float* dw) {
  for (; t + J <= t1; t += J) weights_tile<Sl, V, J>(L, buf, offsets + t, dyT, ld, dw + t * ld);
  if constexpr (J > 1) weights_taps<Sl, V, J / 2>(L, buf, offsets, t, t1, dyT, ld, dw);
}
template <Slots Sl, int V, int R, int S>
DESCENT_DIRECT void weights_rows(const Layout& L, const float* buf, const std::int64_t* offsets,
                                 std::int64_t r, std::int64_t r1, const float* dyT, std::int64_t ld,
                                 float* dw) {
  for (; r + R <= r1; r += R) {
    weights_tile_kw3<Sl, V, R, S>(L, buf, offsets + 3 * r, dyT, ld, dw + 3 * r * ld);
  }
  if constexpr (R > 1) weights_rows<Sl, V, R / 2, S>(L, buf, offsets, r, r1, dyT, ld, dw);
}
template <Slots Sl, int V, int R>
DESCENT_DIRECT void weights_rows(const Layout& L, const float* buf, const std::int64_t* offsets,
                                 std::int64_t rows, const float* dyT, std::int64_t ld, float* dw) {
  if (L.s == 1) {
    weights_rows<Sl, V, R, 1>(L, buf, offsets, 0, rows, dyT, ld, dw);
  } else {
    weights_rows<Sl, V, R, 2>(L, buf, offsets, 0, rows, dyT, ld, dw);
  }
}

template <Slots Sl>
DESCENT_DIRECT void weights_sample(const Layout& L, const float* buf, const std::int64_t* offsets,
                                   const float* dyT, std::int64_t ld, float* dw) {
  const std::int64_t taps = L.taps();
  std::int64_t o = 0;
  if (rows_of_three(L)) {
    // 64 channels by 2 rows of 3 taps: per position 4 loads of dy and 6 broadcasts feed 24
    // FMAs, where 32 channels by 4 rows take 2 and 12
    for (; o + 64 <= ld; o += 64) {
      weights_rows<Sl, 4, 2>(L, buf, offsets, taps / 3, dyT + o, ld, dw + o);
    }
  }
  for (; o < ld; o += 32) {
    const bool narrow = ld - o == 16;
    if (rows_of_three(L) && narrow) {
      weights_rows<Sl, 1, kTapsNarrow / 3>(L, buf, offsets, taps / 3, dyT + o, ld, dw + o);
    } else if (rows_of_three(L)) {
      weights_rows<Sl, 2, kTapsWide / 3>(L, buf, offsets, taps / 3, dyT + o, ld, dw + o);
    } else if (narrow) {
      weights_taps<Sl, 1, kTapsNarrow>(L, buf, offsets, 0, taps, dyT + o, ld, dw + o);
    } else {
      weights_taps<Sl, 2, kTapsWide>(L, buf, offsets, 0, taps, dyT + o, ld, dw + o);
    }
  }
}

// bf16 backward weights: every phase plane of the (widened, exact) sample turned, in place,
// into slots of position pairs: slot q = (x[q], x[q + 1]) as bf16 (the low 16 bits of a
// widened bf16 are zero, so truncating is exact).
DESCENT_DIRECT void to_position_pairs(const Layout& L, float* buf) {
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  const std::int64_t plane = round_up(L.Hq * L.Wq, 16);  // + 1 read stays in the slack
  for (std::int64_t c = 0; c < L.C; ++c) {
    for (std::int64_t ph = 0; ph < L.phases_h * L.phases_w; ++ph) {
      float* p = buf + c * L.channel_stride + ph * L.phase_stride;
      for (std::int64_t q = 0; q < plane; q += 16) {
        const __m512i a = _mm512_castps_si512(_mm512_loadu_ps(p + q));
        const __m512i b = _mm512_castps_si512(_mm512_loadu_ps(p + q + 1));
        const __m512i pair = _mm512_or_si512(_mm512_srli_epi32(a, 16), _mm512_and_si512(b, high));
        _mm512_storeu_ps(p + q, _mm512_castsi512_ps(pair));
      }
    }
  }
}

// dy of one bf16 sample (O, OH, OW) as slots of position pairs (O, OH * ceil(OW / 2)): with
// OW even the rows' bf16 values already are the pairs; else each row's last pair gets a zero.
DESCENT_DIRECT const float* dy_pairs(const BFloat16* dy, std::int64_t O, std::int64_t OH,
                                     std::int64_t OW, float* out) {
  if (OW % 2 == 0) return reinterpret_cast<const float*>(dy);
  const std::int64_t per_row = ceil_div(OW, 2);
  for (std::int64_t r = 0; r < O * OH; ++r) {
    const BFloat16* in = dy + r * OW;
    float* o = out + r * per_row;
    for (std::int64_t i = 0; i < per_row; ++i) {
      const std::uint32_t hi = 2 * i + 1 < OW ? in[2 * i + 1].bits : 0u;
      o[i] = std::bit_cast<float>(in[2 * i].bits | hi << 16);
    }
  }
  return out;
}

// The sum of n bf16 values, in f32.
DESCENT_DIRECT float sum_bf16(const BFloat16* in, std::int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  std::int64_t k = 0;
  for (; k + 16 <= n; k += 16) acc = _mm512_add_ps(acc, WidenedSource{in}.vector(k));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  for (; k < n; ++k) sum += static_cast<float>(in[k]);
  return sum;
}

void check(bool handled, bool bf16, const Conv2dGeometry& g, const char* pass) {
  DESCENT_CHECK(available(),
                cat("conv2d (direct ", pass, "): this CPU has no AVX-512 (F, BW, VL)"));
  DESCENT_CHECK(!bf16 || available_bf16(),
                cat("conv2d (direct ", pass, ", bf16): this CPU has no AVX512-BF16"));
  DESCENT_CHECK(handled, cat("conv2d (direct ", pass, "): geometry not handled (kernel ", g.KH, "x",
                             g.KW, ", stride ", g.stride_h, "x", g.stride_w, ", padding ", g.pad_h,
                             "x", g.pad_w, ", dilation ", g.dilation_h, "x", g.dilation_w, ")"));
}

bool positive(const Conv2dGeometry& g) {
  return g.N >= 0 && g.C > 0 && g.O > 0 && g.KH > 0 && g.KW > 0 && g.OH > 0 && g.OW > 0 &&
         g.pad_h >= 0 && g.pad_w >= 0;
}

// Backward data with stride s, one phase at a time. Input row ih gets dy row oh through
// kernel row kh = ih + pad - s oh, so the rows with (ih + pad) mod s = r take the kernel rows
// r, r + s, ...: M = ceil((K - r) / s) of them. Their row i = (ih + pad - r) / s sums
// dy[i - m] w[r + s m] over m: a stride-1 correlation of dy with that sub-kernel flipped. It
// starts at the first i whose ih is in [0, H): i0, with dy padded by M - 1 - i0 on top and
// `extra` past the bottom; n rows of dx.
struct Phase {
  std::int64_t M = 0, i0 = 0, pad = 0, n = 0, extra = 0;
};
Phase phase_of(std::int64_t H, std::int64_t OH, std::int64_t K, std::int64_t pad, std::int64_t s,
               std::int64_t r) {
  Phase p;
  p.M = r < K ? ceil_div(K - r, s) : 0;
  p.i0 = pad > r ? ceil_div(pad - r, s) : 0;
  const std::int64_t first = s * p.i0 + r - pad;  // its input row
  p.n = first < H ? ceil_div(H - first, s) : 0;
  p.pad = p.M - 1 - p.i0;
  // rows read: 0 .. n + M - 2 of the padded dy, which holds OH + 2 pad rows
  p.extra = std::max<std::int64_t>(0, p.n + p.M - 1 - (OH + 2 * p.pad));
  return p;
}

// Every phase with rows to compute has a kernel and a padding of at least 0.
bool phases_fit(std::int64_t H, std::int64_t OH, std::int64_t K, std::int64_t pad, std::int64_t s) {
  for (std::int64_t r = 0; r < s; ++r) {
    const Phase p = phase_of(H, OH, K, pad, s, r);
    if (p.n > 0 && p.M > 0 && p.pad < 0) return false;
  }
  return true;
}

}  // namespace

template <typename In>
void conv2d_forward(const Conv2dGeometry& g, const In* x, const In* weight, const float* bias,
                    float* y) {
  check(handles_forward(g), !std::is_same_v<In, float>, g, "forward");
  Forward<In> f;
  f.L = layout_of(slot_channels<In>(g.C), g.H, g.W, g.KH, g.KW, g.pad_h, g.pad_w, g.stride_h, g.OH,
                  g.OW);
  f.N = g.N;
  f.O = g.O;
  f.channels = g.C;
  f.in = x;
  f.weights = weight;
  f.bias = bias;
  f.out = y;
  run_forward(f);
}

template <typename In>
void conv2d_backward_data(const Conv2dGeometry& g, const In* dy, const In* weight, float* dx) {
  check(handles_backward_data(g), !std::is_same_v<In, float>, g, "backward data");
  // Each phase: dx's rows and columns of that phase = the stride-1 forward pass of dy with the
  // phase's sub-kernel flipped and its input and output channels swapped:
  // w'[c][o][a][b] = w[o][c][rh + s (Mh - 1 - a)][rw + s (Mw - 1 - b)]. With stride 1 there is
  // one phase, whose output is dx itself.
  const std::int64_t s = g.stride_h;
  for (std::int64_t rh = 0; rh < s; ++rh) {
    for (std::int64_t rw = 0; rw < s; ++rw) {
      const Phase ph = phase_of(g.H, g.OH, g.KH, g.pad_h, s, rh);
      const Phase pw = phase_of(g.W, g.OW, g.KW, g.pad_w, s, rw);
      if (ph.n == 0 || pw.n == 0) continue;
      // dx at (s (i0 + i) + r - pad): this phase's rows and columns
      // an element-wise pass: on all threads above core's element threshold
      const std::int64_t planes = g.N * g.C;
      const int scatter_threads = planes * ph.n * pw.n > kParallelElements ? parallel_threads() : 1;
      auto scatter = [&](const float* out) {
        on_threads(scatter_threads, [&](std::int64_t t, std::int64_t nt) {
          for (std::int64_t plane = planes * t / nt; plane < planes * (t + 1) / nt; ++plane) {
            float* d = dx + plane * g.H * g.W;
            for (std::int64_t i = 0; i < ph.n; ++i) {
              float* row = d + (s * (ph.i0 + i) + rh - g.pad_h) * g.W + s * pw.i0 + rw - g.pad_w;
              const float* src = out == nullptr ? nullptr : out + (plane * ph.n + i) * pw.n;
              for (std::int64_t j = 0; j < pw.n; ++j) row[s * j] = src == nullptr ? 0.0f : src[j];
            }
          }
        });
      };
      if (ph.M == 0 || pw.M == 0) {
        scatter(nullptr);  // no kernel tap reaches these
        continue;
      }
      Forward<In> f;
      f.L = layout_of(slot_channels<In>(g.O), g.OH, g.OW, ph.M, pw.M, ph.pad, pw.pad, 1, ph.n, pw.n,
                      ph.extra, pw.extra);
      f.N = g.N;
      f.O = g.C;
      f.channels = g.O;
      const std::int64_t kernel = ph.M * pw.M;
      Workspace<In> swapped(g.C * g.O * kernel);
      for (std::int64_t c = 0; c < g.C; ++c) {
        for (std::int64_t o = 0; o < g.O; ++o) {
          const In* from = weight + (o * g.C + c) * g.KH * g.KW;
          In* to = swapped.get() + (c * g.O + o) * kernel;
          for (std::int64_t a = 0; a < ph.M; ++a) {
            for (std::int64_t b = 0; b < pw.M; ++b) {
              to[a * pw.M + b] = from[(rh + s * (ph.M - 1 - a)) * g.KW + rw + s * (pw.M - 1 - b)];
            }
          }
        }
      }
      f.in = dy;
      f.weights = swapped.get();
      if (s == 1) {
        f.out = dx;  // the one phase is dx
        run_forward(f);
        continue;
      }
      Workspace<float> out(g.N * g.C * ph.n * pw.n);
      f.out = out.get();
      run_forward(f);
      scatter(out.get());
    }
  }
}

template <typename In>
void conv2d_backward_weights(const Conv2dGeometry& g, const In* dy, const In* x, float* dweight,
                             float* dbias) {
  constexpr bool bf16 = !std::is_same_v<In, float>;
  constexpr Slots Sl = bf16 ? Slots::bf16_pairs : Slots::f32;
  check(handles_backward_weights(g), bf16, g, "backward weights");
  const std::int64_t taps = g.C * g.KH * g.KW;
  if (g.N == 0) {
    if (dweight != nullptr) std::fill(dweight, dweight + g.O * taps, 0.0f);
    if (dbias != nullptr) std::fill(dbias, dbias + g.O, 0.0f);
    return;
  }
  const Layout L = layout_of(g.C, g.H, g.W, g.KH, g.KW, g.pad_h, g.pad_w, g.stride_h, g.OH, g.OW);
  const std::int64_t ld = round_up(g.O, 16);
  const std::int64_t P = g.OH * g.OW;
  // dy's rows of slots per sample: a position each (f32) or a pair (bf16)
  const std::int64_t dy_slots = g.OH * ceil_div(g.OW, kStep<Sl>);
  Workspace<std::int64_t> offsets(taps);
  tap_offsets(L, offsets.get());
  const int threads = dweight == nullptr ? 1 : threads_for(g.N, g.N * g.O * P * taps);
  const std::int64_t part = taps * ld + ld;               // dw (taps, ld), db (ld)
  const std::int64_t paired = bf16 ? g.O * dy_slots : 0;  // dy_pairs' output
  const std::int64_t per_thread = L.sample_floats() + dy_slots * ld + part + paired;
  Workspace<float> scratch(per_thread * threads);
  int used = 1;
  on_threads(threads, [&](std::int64_t t, std::int64_t nt) {
    if (t == 0) used = static_cast<int>(nt);
    float* buf = scratch.get() + per_thread * t;
    float* dyT = buf + L.sample_floats();
    float* dw = dyT + dy_slots * ld;
    float* db = dw + taps * ld;
    float* pairs = db + ld;
    std::fill(dw, dw + part, 0.0f);
    for (std::int64_t n = g.N * t / nt; n < g.N * (t + 1) / nt; ++n) {
      const In* dy_n = dy + n * g.O * P;
      if (dbias != nullptr) {
        for (std::int64_t o = 0; o < g.O; ++o) {
          if constexpr (bf16) {
            db[o] += sum_bf16(dy_n + o * P, P);
          } else {
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (std::int64_t p = 0; p < P; ++p) sum += dy_n[p + o * P];
            db[o] += sum;
          }
        }
      }
      if (dweight == nullptr) continue;
      const std::int64_t sample = g.C * g.H * g.W;
      const float* dy_slots_n;
      if constexpr (bf16) {
        fill_sample(L, WidenedRows{x + n * sample, L.H, L.W}, buf);
        to_position_pairs(L, buf);
        dy_slots_n = dy_pairs(dy_n, g.O, g.OH, g.OW, pairs);
      } else {
        fill_sample(L, F32Rows{x + n * sample, L.H, L.W}, buf);
        dy_slots_n = dy_n;
      }
      if (n + 1 < g.N) {
        prefetch(x + (n + 1) * sample, sample * static_cast<std::int64_t>(sizeof(In)));
        prefetch(dy + (n + 1) * g.O * P, g.O * P * static_cast<std::int64_t>(sizeof(In)));
      }
      transpose_block(dy_slots_n, g.O, dy_slots, dy_slots, dyT, ld);
      if (ld > g.O) {
        for (std::int64_t p = 0; p < dy_slots; ++p) {
          std::fill(dyT + p * ld + g.O, dyT + (p + 1) * ld, 0.0f);
        }
      }
      weights_sample<Sl>(L, buf, offsets.get(), dyT, ld, dw);
    }
  });
  // the threads' sums, added in thread order
  const float* first = scratch.get() + L.sample_floats() + dy_slots * ld;
  if (dweight != nullptr) {
    for (std::int64_t o = 0; o < g.O; ++o) {
      for (std::int64_t k = 0; k < taps; ++k) {
        float sum = first[k * ld + o];
        for (int th = 1; th < used; ++th) sum += first[th * per_thread + k * ld + o];
        dweight[o * taps + k] = sum;
      }
    }
  }
  if (dbias != nullptr) {
    for (std::int64_t o = 0; o < g.O; ++o) {
      float sum = first[taps * ld + o];
      for (int th = 1; th < used; ++th) sum += first[th * per_thread + taps * ld + o];
      dbias[o] = sum;
    }
  }
}

bool available() {
  return cpu_has_avx512();
}

bool available_bf16() {
  return cpu_has_avx512_bf16();
}

bool handles_forward(const Conv2dGeometry& g) {
  return positive(g) && g.dilation_h == 1 && g.dilation_w == 1 && g.stride_h == g.stride_w &&
         g.stride_h >= 1;
}

bool handles_backward_data(const Conv2dGeometry& g) {
  return handles_forward(g) && phases_fit(g.H, g.OH, g.KH, g.pad_h, g.stride_h) &&
         phases_fit(g.W, g.OW, g.KW, g.pad_w, g.stride_w);
}

bool handles_backward_weights(const Conv2dGeometry& g) {
  return handles_forward(g);
}

template void conv2d_forward(const Conv2dGeometry&, const float*, const float*, const float*,
                             float*);
template void conv2d_forward(const Conv2dGeometry&, const BFloat16*, const BFloat16*, const float*,
                             float*);
template void conv2d_backward_data(const Conv2dGeometry&, const float*, const float*, float*);
template void conv2d_backward_data(const Conv2dGeometry&, const BFloat16*, const BFloat16*, float*);
template void conv2d_backward_weights(const Conv2dGeometry&, const float*, const float*, float*,
                                      float*);
template void conv2d_backward_weights(const Conv2dGeometry&, const BFloat16*, const BFloat16*,
                                      float*, float*);

}  // namespace descent::kernels::direct

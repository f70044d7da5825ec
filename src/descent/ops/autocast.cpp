// The mixed ops and the autocast state. The kernels are kernels/half.hpp's 16-bit GEMM and
// kernels/conv.hpp's mixed convolution.
#include "descent/ops/autocast.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <tuple>
#include <utility>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/conv.hpp"
#include "descent/kernels/half.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/detail/conv.hpp"
#include "descent/ops/detail/relu_mask.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduce.hpp"

namespace descent::ops {
namespace {

// A rounded copy of an f32 activation, known by the activation's memory. Neither is held:
// the f32 tensor is freed as soon as the forward moves on, and the copy lives as long as a
// backward closure saved it (relu's and the next mixed op's), so that backward frees it
// when those have run, not when the guard goes.
struct RoundedActivation {
  std::weak_ptr<const Storage> storage;
  const void* data = nullptr;
  Shape shape;
  std::weak_ptr<TensorImpl> low;
};

struct AutocastState {
  DType dtype = DType::f32;
  Tensor master;  // f32, or undefined
  Tensor low;     // master rounded to dtype
  // The last few activations rounded under this guard: an op that saves its output in 16
  // bits (relu) and the GEMM op it feeds then share one copy. A ring (no heap allocation).
  std::array<RoundedActivation, 8> recent;
  std::size_t next = 0;  // the slot the next copy takes
};
thread_local AutocastState autocast_state;

std::atomic<bool> counting{false};
std::atomic<std::int64_t> counted_values{0};
std::atomic<std::int64_t> counted_nonzero{0};
std::atomic<std::int64_t> counted_flushed{0};
std::atomic<std::int64_t> counted_overflowed{0};

// Calls fn.template operator()<L>() with L the C++ type of the 16-bit dtype.
template <typename Fn>
void dispatch_low(DType compute, Fn&& fn) {
  if (compute == DType::bf16) {
    fn.template operator()<BFloat16>();
  } else {
    fn.template operator()<Half>();
  }
}

void check_compute(const char* op, DType compute) {
  DESCENT_CHECK(compute == DType::f32 || compute == DType::bf16 || compute == DType::f16, op,
                ": compute dtype must be f32, bf16 or f16, got ", dtype_name(compute));
}

void check_input(const char* op, const char* name, const Tensor& t, DType compute) {
  DESCENT_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
  DESCENT_CHECK(t.dtype() == DType::f32 || t.dtype() == compute, op, ": ", name, " must be f32 or ",
                dtype_name(compute), ", got ", dtype_name(t.dtype()));
}

void check_weight_low(const char* op, const Tensor& weight_low, const Tensor& weight,
                      DType compute) {
  if (!weight_low.defined()) return;
  DESCENT_CHECK(weight_low.shape() == weight.shape() && weight_low.dtype() == compute, op,
                ": weight_low must be ", shape_str(weight.shape()), " ", dtype_name(compute),
                " (the weight's rounded copy), got ", shape_str(weight_low.shape()), " ",
                dtype_name(weight_low.dtype()));
}

// The copy of t that autocast_saved made under this guard, or an undefined tensor.
Tensor saved_copy(const Tensor& t) {
  for (const RoundedActivation& r : autocast_state.recent) {
    if (r.data != t.raw_data() || r.shape != t.shape() ||
        r.storage.lock() != t.weak_storage().lock()) {
      continue;
    }
    Tensor low(r.low.lock());
    if (low.defined() && low.dtype() == autocast_state.dtype) return low;
  }
  return Tensor();
}

// t in `compute`, without a copy when it already is or when autocast_saved rounded it; no
// history.
Tensor rounded(const Tensor& t, DType compute) {
  if (t.dtype() == compute) return t.detach();
  if (autocast_state.dtype == compute && t.dtype() == DType::f32) {
    if (Tensor low = saved_copy(t); low.defined()) return low;
  }
  return t.to(compute);
}

// The weight in `compute`: the given copy, the guard's master copy, or rounded now.
Tensor low_weight(const Tensor& weight, const Tensor& weight_low, DType compute) {
  if (weight_low.defined()) return weight_low.detach();
  const Tensor cached = autocast_low_copy(weight);
  if (cached.defined() && cached.dtype() == compute) return cached;
  return rounded(weight, compute);
}

// An incoming f32 gradient rounded to `compute`, counted when counting is on.
Tensor rounded_gradient(const Tensor& grad, DType compute) {
  Tensor low = grad.to(compute);
  if (!counting.load(std::memory_order_relaxed)) return low;
  const float* g = grad.data<float>();
  const std::int64_t n = grad.numel();
  std::int64_t nonzero = 0;
  std::int64_t flushed = 0;
  std::int64_t overflowed = 0;
  dispatch_low(compute, [&]<typename L>() {
    const L* l = low.data<L>();
    std::array<std::array<std::int64_t, 3>, kMaxThreads> parts;  // per thread, its counts
    int used = 1;
    on_threads(n > 32768 ? parallel_threads() : 1, [&](int t, int nt) {
      if (t == 0) used = nt;
      const auto [begin, end] = share_of(n, t, nt);
      std::array<std::int64_t, 3> c{};
      for (std::int64_t i = begin; i < end; ++i) {
        const float back = static_cast<float>(l[i]);
        c[0] += g[i] != 0.0f;
        c[1] += g[i] != 0.0f && back == 0.0f;
        c[2] += std::isfinite(g[i]) && std::isinf(back);
      }
      parts[t] = c;
    });
    for (int t = 0; t < used; ++t) {
      nonzero += parts[t][0];
      flushed += parts[t][1];
      overflowed += parts[t][2];
    }
  });
  counted_values += n;
  counted_nonzero += nonzero;
  counted_flushed += flushed;
  counted_overflowed += overflowed;
  return low;
}

// A linear layer's incoming gradient (rows, cols) rounded to `compute` and, in the same
// pass, its column sums (the bias gradient, f32: the same sums, in the same order, as
// sum_to's). Counting on: the two passes of rounded_gradient and sum_to.
// With `relu_out` (the bf16 output of a relu that followed the layer, fused into it), the
// gradient is first masked as relu's backward does: zero where that output is not > 0.
std::pair<Tensor, Tensor> rounded_gradient_and_column_sums(const Tensor& grad, std::int64_t rows,
                                                           std::int64_t cols, DType compute,
                                                           const Tensor& relu_out = Tensor()) {
  if (relu_out.defined() && counting.load(std::memory_order_relaxed)) {
    // counted as the unfused layers count: the masked gradient is what gets rounded
    Tensor masked = empty_like(grad);
    const float* pg = grad.data<float>();
    const auto* py = static_cast<const std::uint16_t*>(relu_out.raw_data());
    float* pm = masked.data<float>();
    for (std::int64_t i = 0; i < grad.numel(); ++i) {
      pm[i] = detail::relu_passes(py[i], detail::kBf16InfBits) ? pg[i] : 0.0f;
    }
    return rounded_gradient_and_column_sums(masked, rows, cols, compute);
  }
  const Tensor rows_cols = grad.view_of(0, {rows, cols});
  if (counting.load(std::memory_order_relaxed)) {
    return {rounded_gradient(grad, compute), sum_to(rows_cols, {cols})};
  }
  Tensor low = empty(grad.shape(), compute);
  Tensor sums = zeros({cols}, DType::f32);
  const float* g = grad.data<float>();
  float* ps = sums.data<float>();
  // blocks of columns across threads, each row of a block rounded, then added in row order
  constexpr std::int64_t kColumnBlock = 64;
  const std::int64_t blocks = (cols + kColumnBlock - 1) / kColumnBlock;
  const auto* mask =
      relu_out.defined() ? static_cast<const std::uint16_t*>(relu_out.raw_data()) : nullptr;
  dispatch_low(compute, [&]<typename L>() {
    L* pl = low.data<L>();
    parallel_for_if(rows * cols > kParallelElements, blocks, [&](std::int64_t b) {
      const std::int64_t j0 = b * kColumnBlock;
      const std::int64_t width = std::min(kColumnBlock, cols - j0);
      alignas(64) float masked[kColumnBlock];
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = g + r * cols + j0;
        if (mask != nullptr) {
          const std::uint16_t* m = mask + r * cols + j0;
#pragma omp simd
          for (std::int64_t j = 0; j < width; ++j) {
            const float v = row[j];  // read unconditionally: the loop vectorizes to a select
            masked[j] = detail::relu_passes(m[j], detail::kBf16InfBits) ? v : 0.0f;
          }
          row = masked;
        }
        convert_serial(row, pl + r * cols + j0, width);
#pragma omp simd
        for (std::int64_t j = 0; j < width; ++j) ps[j0 + j] += row[j];
      }
    });
  });
  return {low, sums};
}

// An f32 gradient returned in the dtype of the input it belongs to.
Tensor as_input_dtype(const Tensor& grad, DType dtype) {
  return grad.dtype() == dtype ? grad : grad.to(dtype);
}

}  // namespace

// ---- the autocast state ----

DType autocast_dtype() {
  return autocast_state.dtype;
}

DType autocast_dtype_for(const Tensor& a, const Tensor& b) {
  const bool f32 = a.defined() && b.defined() && a.dtype() == DType::f32 && b.dtype() == DType::f32;
  return f32 ? autocast_state.dtype : DType::f32;
}

AutocastGuard::AutocastGuard(DType compute) : AutocastGuard(compute, Tensor(), Tensor()) {}

AutocastGuard::AutocastGuard(DType compute, const Tensor& master, const Tensor& low)
    : previous_dtype_(autocast_state.dtype),
      previous_master_(autocast_state.master),
      previous_low_(autocast_state.low) {
  check_compute("AutocastGuard", compute);
  DESCENT_CHECK(master.defined() == low.defined(),
                "AutocastGuard: give both the master weights and their low copy, or neither");
  if (master.defined()) {
    DESCENT_CHECK(master.dtype() == DType::f32,
                  "AutocastGuard: the master weights must be f32, got ",
                  dtype_name(master.dtype()));
    DESCENT_CHECK(low.shape() == master.shape() && low.dtype() == compute,
                  "AutocastGuard: the low copy must be ", shape_str(master.shape()), " ",
                  dtype_name(compute), ", got ", shape_str(low.shape()), " ",
                  dtype_name(low.dtype()));
  }
  autocast_state = {compute, master, low, {}, 0};
}

AutocastGuard::~AutocastGuard() {
  autocast_state = {previous_dtype_, previous_master_, previous_low_, {}, 0};
}

Tensor autocast_saved(const Tensor& activation) {
  AutocastState& state = autocast_state;
  if (state.dtype == DType::f32 || !activation.defined() || activation.dtype() != DType::f32) {
    return activation.detach();
  }
  if (Tensor low = saved_copy(activation); low.defined()) return low;
  Tensor low = activation.to(state.dtype);
  state.recent[state.next] = {activation.weak_storage(), activation.raw_data(), activation.shape(),
                              low.impl_ptr()};
  state.next = (state.next + 1) % state.recent.size();
  return low;
}

Tensor autocast_saved(const Tensor& activation, const Tensor& low) {
  AutocastState& state = autocast_state;
  if (state.dtype == DType::f32 || !activation.defined() || activation.dtype() != DType::f32 ||
      !low.defined() || low.dtype() != state.dtype || low.shape() != activation.shape()) {
    return autocast_saved(activation);
  }
  state.recent[state.next] = {activation.weak_storage(), activation.raw_data(), activation.shape(),
                              low.impl_ptr()};
  state.next = (state.next + 1) % state.recent.size();
  return low;
}

Tensor autocast_low_copy(const Tensor& weight) {
  const AutocastState& state = autocast_state;
  if (!state.master.defined() || !weight.defined() || weight.dtype() != DType::f32 ||
      !weight.same_storage(state.master)) {
    return Tensor();
  }
  const std::ptrdiff_t bytes = static_cast<const char*>(weight.raw_data()) -
                               static_cast<const char*>(state.master.raw_data());
  const std::int64_t offset = bytes / static_cast<std::ptrdiff_t>(sizeof(float));
  if (bytes < 0 || offset + weight.numel() > state.master.numel()) return Tensor();
  return state.low.view_of(offset, weight.shape());
}

void count_gradient_rounding(bool enabled) {
  counting = enabled;
}

bool counting_gradient_rounding() {
  return counting.load();
}

RoundingCounts gradient_rounding_counts() {
  return {counted_values.load(), counted_nonzero.load(), counted_flushed.load(),
          counted_overflowed.load()};
}

void reset_gradient_rounding_counts() {
  counted_values = 0;
  counted_nonzero = 0;
  counted_flushed = 0;
  counted_overflowed = 0;
}

// ---- the mixed ops ----

namespace {

// What linear_mixed and linear_relu_mixed check and derive from their arguments.
struct MixedLinear {
  std::int64_t rows, in, out_features;
  Shape out_shape;
};

MixedLinear check_mixed_linear(const char* op, const Tensor& x, const Tensor& weight,
                               const Tensor& bias, DType compute, const Tensor& weight_low) {
  check_input(op, "x", x, compute);
  DESCENT_CHECK(weight.defined() && weight.dim() == 2 && weight.dtype() == DType::f32, op,
                ": expected weight (out, in) f32, got ",
                weight.defined() ? shape_str(weight.shape()) : "an undefined tensor", " ",
                weight.defined() ? dtype_name(weight.dtype()) : "");
  const std::int64_t in = weight.size(1);
  const std::int64_t out_features = weight.size(0);
  DESCENT_CHECK(x.dim() >= 1 && x.size(-1) == in, op, ": x ", shape_str(x.shape()),
                " does not end in the ", in, " features weight ", shape_str(weight.shape()),
                " expects");
  if (bias.defined()) {
    DESCENT_CHECK(bias.shape() == Shape{out_features} && bias.dtype() == DType::f32, op,
                  ": bias must be (", out_features, ") f32, got ", shape_str(bias.shape()), " ",
                  dtype_name(bias.dtype()));
  }
  check_weight_low(op, weight_low, weight, compute);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  return {x.numel() / std::max<std::int64_t>(in, 1), in, out_features, out_shape};
}

// A mixed linear layer's backward from its gradient rounded (dy_low, (rows, out)) and the
// bias gradient (db, undefined when not wanted): dx = dy W and dW = dy^T x, the latter added
// straight into an f32 weight's gradient buffer when it has one (the master weights' flat
// buffer).
autograd::Grads mixed_linear_grads(const autograd::Node& node, const Tensor& dy_low,
                                   const Tensor& db, const Tensor& x_low, const Tensor& w_low,
                                   const Shape& x_shape, DType x_dtype, const MixedLinear& l,
                                   DType compute) {
  autograd::Grads grads(3);
  const auto& [rows, in, out_features, out_shape] = l;
  Tensor gx = node.needs_grad(0) ? empty(x_shape, DType::f32) : Tensor();
  Tensor gw = node.needs_grad(1) ? node.accumulation_buffer(1) : Tensor();
  if (gw.defined() && gw.dtype() != DType::f32) gw = Tensor();
  const float w_beta = gw.defined() ? 1.0f : 0.0f;
  if (node.needs_grad(1) && !gw.defined()) gw = empty({out_features, in}, DType::f32);
  dispatch_low(compute, [&]<typename L>() {
    // both in one batch: on descent's bf16 kernel one parallel region, the work split evenly
    std::array<kernels::GemmOf<L>, 2> gemms;
    std::size_t count = 0;
    if (gx.defined()) {
      gemms[count++] = kernels::linear_input_grad_gemm(dy_low.data<L>(), w_low.data<L>(), rows,
                                                       out_features, in, gx.data<float>());
    }
    if (gw.defined()) {
      gemms[count++] = kernels::linear_weight_grad_gemm(dy_low.data<L>(), x_low.data<L>(), rows,
                                                        out_features, in, w_beta, gw.data<float>());
    }
    kernels::gemm(std::span<const kernels::GemmOf<L>>(gemms.data(), count));
  });
  if (gx.defined()) grads[0] = as_input_dtype(gx, x_dtype);
  if (gw.defined()) grads[1] = gw;
  if (node.needs_grad(2)) grads[2] = db;  // column sums of dy, in f32
  return grads;
}

// Where linear_relu_mixed runs fused: bf16 on descent's own kernel (its store applies relu
// and rounds); elsewhere it is relu(linear_mixed(...)).
bool linear_relu_fuses(DType compute) {
  return compute == DType::bf16 && kernels::bf16_gemm_path() == kernels::Gemm16Path::dot;
}

}  // namespace

Tensor linear_mixed(const Tensor& x, const Tensor& weight, const Tensor& bias, DType compute,
                    const Tensor& weight_low) {
  check_compute("linear_mixed", compute);
  if (compute == DType::f32) {
    const AutocastGuard off(DType::f32);
    return linear(x, weight, bias);
  }
  const MixedLinear l = check_mixed_linear("linear_mixed", x, weight, bias, compute, weight_low);
  const Tensor x_low = rounded(x, compute);  // (rows, in), saved for backward
  const Tensor w_low = low_weight(weight, weight_low, compute);
  Tensor out = empty(l.out_shape, DType::f32);  // (rows, out)
  float* po = out.data<float>();
  dispatch_low(compute, [&]<typename L>() {
    if (bias.defined()) {  // x W^T + b
      kernels::gemm_bias(false, true, l.rows, l.out_features, l.in, x_low.data<L>(), l.in,
                         w_low.data<L>(), l.in, bias.data<float>(), po, l.out_features);
    } else {
      kernels::gemm(false, true, l.rows, l.out_features, l.in, 1.0f, x_low.data<L>(), l.in,
                    w_low.data<L>(), l.in, 0.0f, po, l.out_features);
    }
  });
  return autograd::record(
      "linear_mixed", out, {x, weight, bias},
      [x_low, w_low, x_shape = x.shape(), x_dtype = x.dtype(), l, compute](
          const Tensor& grad, const autograd::Node& node) {
        // dy (rows, out) rounded, and the bias gradient (column sums of dy, f32) in its pass
        Tensor dy_low, db;
        if (node.needs_grad(2)) {
          std::tie(dy_low, db) =
              rounded_gradient_and_column_sums(grad, l.rows, l.out_features, compute);
        } else {
          dy_low = rounded_gradient(grad, compute);
        }
        return mixed_linear_grads(node, dy_low, db, x_low, w_low, x_shape, x_dtype, l, compute);
      });
}

Tensor linear_relu_mixed(const Tensor& x, const Tensor& weight, const Tensor& bias, DType compute,
                         const Tensor& weight_low) {
  check_compute("linear_relu_mixed", compute);
  if (!linear_relu_fuses(compute)) return relu(linear_mixed(x, weight, bias, compute, weight_low));
  const MixedLinear l =
      check_mixed_linear("linear_relu_mixed", x, weight, bias, compute, weight_low);
  const Tensor x_low = rounded(x, compute);  // (rows, in), saved for backward
  const Tensor w_low = low_weight(weight, weight_low, compute);
  Tensor out = empty(l.out_shape, DType::f32);   // (rows, out)
  Tensor out_low = empty(l.out_shape, compute);  // out rounded: the next layer's input
  // relu(x W^T + b), and its rounded copy, in the GEMM's store
  kernels::GemmBf16 g = kernels::linear_forward_gemm(
      x_low.data<BFloat16>(), w_low.data<BFloat16>(), l.rows, l.out_features, l.in,
      bias.defined() ? bias.data<float>() : nullptr, out.data<float>());
  g.relu = true;
  g.C_low = out_low.data<BFloat16>();
  kernels::gemm(std::span<const kernels::GemmBf16>(&g, 1));
  return autograd::record(
      "linear_relu_mixed", out, {x, weight, bias},
      [x_low, w_low, y_low = autocast_saved(out, out_low), x_shape = x.shape(), x_dtype = x.dtype(),
       l, compute](const Tensor& grad, const autograd::Node& node) {
        // dy masked by relu (y > 0) and rounded, and its column sums, in one pass
        auto [dy_low, db] =
            rounded_gradient_and_column_sums(grad, l.rows, l.out_features, compute, y_low);
        if (!node.needs_grad(2)) db = Tensor();
        return mixed_linear_grads(node, dy_low, db, x_low, w_low, x_shape, x_dtype, l, compute);
      });
}

Tensor matmul_mixed(const Tensor& a, const Tensor& b, DType compute) {
  check_compute("matmul_mixed", compute);
  if (compute == DType::f32) {
    const AutocastGuard off(DType::f32);
    return matmul(a, b);
  }
  check_input("matmul_mixed", "a", a, compute);
  check_input("matmul_mixed", "b", b, compute);
  DESCENT_CHECK(a.dim() >= 2 && b.dim() >= 2 && a.size(-1) == b.size(-2),
                "matmul_mixed: expected a (..., M, K) and b (..., K, N), got ",
                shape_str(a.shape()), " @ ", shape_str(b.shape()));
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  const Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  const bool shared_b = b.dim() == 2;
  DESCENT_CHECK(shared_b || a_batch == b_batch,
                "matmul_mixed: batch dimensions differ: ", shape_str(a.shape()), " @ ",
                shape_str(b.shape()), " (b must have a's batch dims, or be 2-D)");
  // (..., M, K) @ (K, N) is one GEMM of (batch * M) rows; otherwise one GEMM per batch
  const std::int64_t K = a.size(-1);
  const std::int64_t N = b.size(-1);
  const std::int64_t batch = shared_b ? 1 : shape_numel(a_batch);
  const std::int64_t M = shared_b ? a.numel() / std::max<std::int64_t>(K, 1) : a.size(-2);
  Shape out_shape = a.shape();
  out_shape.back() = N;
  const Tensor a_low = rounded(a, compute);  // saved for backward
  const Tensor b_low = rounded(b, compute);  // saved for backward
  Tensor out = empty(out_shape, DType::f32);
  dispatch_low(compute, [&]<typename L>() {
    kernels::gemm_strided_batch(false, false, batch, M, N, K, 1.0f, a_low.data<L>(), K, M * K,
                                b_low.data<L>(), N, K * N, 0.0f, out.data<float>(), N, M * N);
  });
  return autograd::record("matmul_mixed", out, {a, b},
                          [a_low, b_low, a_dtype = a.dtype(), b_dtype = b.dtype(), batch, M, N, K,
                           compute](const Tensor& grad, const autograd::Node& node) {
                            autograd::Grads grads(2);
                            const Tensor dy_low = rounded_gradient(grad, compute);  // (..., M, N)
                            dispatch_low(compute, [&]<typename L>() {
                              const L* dy = dy_low.data<L>();
                              if (node.needs_grad(0)) {
                                // dA = dC B^T   (M, N) @ (N, K)
                                Tensor ga = empty(a_low.shape(), DType::f32);
                                kernels::gemm_strided_batch(false, true, batch, M, K, N, 1.0f, dy,
                                                            N, M * N, b_low.data<L>(), N, K * N,
                                                            0.0f, ga.data<float>(), K, M * K);
                                grads[0] = as_input_dtype(ga, a_dtype);
                              }
                              if (node.needs_grad(1)) {
                                // dB = A^T dC   (K, M) @ (M, N)
                                Tensor gb = empty(b_low.shape(), DType::f32);
                                kernels::gemm_strided_batch(true, false, batch, K, N, M, 1.0f,
                                                            a_low.data<L>(), K, M * K, dy, N, M * N,
                                                            0.0f, gb.data<float>(), N, K * N);
                                grads[1] = as_input_dtype(gb, b_dtype);
                              }
                            });
                            return grads;
                          });
}

Tensor conv2d_mixed(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dOptions& options, DType compute, const Tensor& weight_low) {
  check_compute("conv2d_mixed", compute);
  if (compute == DType::f32) {
    const AutocastGuard off(DType::f32);
    return conv2d(x, weight, bias, options);
  }
  check_input("conv2d_mixed", "x", x, compute);
  DESCENT_CHECK(weight.defined() && weight.dtype() == DType::f32,
                "conv2d_mixed: the weight must be f32 (the master weight), got ",
                weight.defined() ? dtype_name(weight.dtype()) : "an undefined tensor");
  check_weight_low("conv2d_mixed", weight_low, weight, compute);
  const kernels::Conv2dGeometry g = detail::conv2d_geometry(
      x.shape(), weight.shape(), bias.defined() ? &bias.shape() : nullptr, options);
  if (bias.defined()) {
    DESCENT_CHECK(bias.dtype() == DType::f32, "conv2d_mixed: bias must be f32, got ",
                  dtype_name(bias.dtype()));
  }
  const Tensor x_low = rounded(x, compute);  // (N, C, H, W), saved for backward
  const Tensor w_low = low_weight(weight, weight_low, compute);
  Tensor out = empty({g.N, g.O, g.OH, g.OW}, DType::f32);
  dispatch_low(compute, [&]<typename L>() {
    kernels::conv2d_forward_mixed<L>(g, x_low.data<L>(), w_low.data<L>(),
                                     bias.defined() ? bias.data<float>() : nullptr,
                                     out.data<float>());
  });
  return autograd::record(
      "conv2d_mixed", out, {x, weight, bias},
      [x_low, w_low, x_dtype = x.dtype(), g, compute](const Tensor& grad,
                                                      const autograd::Node& node) {
        autograd::Grads grads(3);
        const Tensor dy_low = rounded_gradient(grad, compute);  // (N, O, OH, OW)
        dispatch_low(compute, [&]<typename L>() {
          if (node.needs_grad(0)) {
            Tensor dx = empty(x_low.shape(), DType::f32);
            kernels::conv2d_backward_input_mixed<L>(g, dy_low.data<L>(), w_low.data<L>(),
                                                    dx.data<float>());
            grads[0] = as_input_dtype(dx, x_dtype);
          }
          if (node.needs_grad(1)) {
            Tensor dweight = empty(w_low.shape(), DType::f32);
            kernels::conv2d_backward_weight_mixed<L>(g, dy_low.data<L>(), x_low.data<L>(),
                                                     dweight.data<float>(), nullptr);
            grads[1] = dweight;
          }
        });
        if (node.needs_grad(2)) {
          // db = sums of dy over (N, OH, OW), in f32
          grads[2] = sum(grad, {0, 2, 3});
        }
        return grads;
      });
}

}  // namespace descent::ops

#include "descent/ops/linalg.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <type_traits>
#include <utility>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/gemm.hpp"
#include "descent/kernels/half.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/shape.hpp"

namespace descent::ops {
namespace {

// C (batch, M, N) = op(A) @ op(B) (+ beta C); a_batched/b_batched say whether A/B step per
// batch (a shared matrix does not).
template <typename T>
void batched_gemm(bool trans_a, bool trans_b, std::int64_t batch, std::int64_t M, std::int64_t N,
                  std::int64_t K, const T* A, bool a_batched, const T* B, bool b_batched, T beta,
                  T* C) {
  const std::int64_t lda = trans_a ? M : K;
  const std::int64_t ldb = trans_b ? K : N;
  if constexpr (std::is_same_v<T, float>) {
    // 8 products per parallel region (kernels/half.hpp)
    kernels::gemm_strided_batch(trans_a, trans_b, batch, M, N, K, 1.0f, A, lda,
                                a_batched ? M * K : 0, B, ldb, b_batched ? K * N : 0, beta, C, N,
                                M * N);
  } else {
    for (std::int64_t i = 0; i < batch; ++i) {
      kernels::gemm(trans_a, trans_b, M, N, K, T(1), A + (a_batched ? i * M * K : 0), lda,
                    B + (b_batched ? i * K * N : 0), ldb, beta, C + i * M * N, N);
    }
  }
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (const DType compute = autocast_dtype_for(a, b); compute != DType::f32) {
    return matmul_mixed(a, b, compute);
  }
  DESCENT_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: needs tensors of rank >= 2, got ",
                shape_str(a.shape()), " @ ", shape_str(b.shape()));
  DESCENT_CHECK(a.dtype() == b.dtype(), "matmul: dtypes differ: ", dtype_name(a.dtype()), " @ ",
                dtype_name(b.dtype()));
  const std::int64_t M = a.size(-2);
  const std::int64_t K = a.size(-1);
  const std::int64_t N = b.size(-1);
  DESCENT_CHECK(b.size(-2) == K, "matmul: inner dimensions differ: ", shape_str(a.shape()), " @ ",
                shape_str(b.shape()));
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  const Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  const bool shared_b = b.dim() == 2;
  DESCENT_CHECK(shared_b || a_batch == b_batch,
                "matmul: batch dimensions differ: ", shape_str(a.shape()), " @ ",
                shape_str(b.shape()), " (b must have a's batch dims, or be 2-D)");
  if (shared_b) {
    // (..., M, K) @ (K, N) is one GEMM on (batch*M, K).
    Shape out_shape = a.shape();
    out_shape.back() = N;
    Tensor a2 = reshape(a, {-1, K});
    Tensor out2;
    {
      const std::int64_t rows = a2.size(0);
      out2 = empty({rows, N}, a.dtype());
      dispatch_float(a.dtype(), "matmul", [&]<typename T>() {
        batched_gemm<T>(false, false, 1, rows, N, K, a2.data<T>(), false, b.data<T>(), false, T(0),
                        out2.data<T>());
      });
    }
    Tensor out = out2.view_of(0, out_shape);
    return autograd::record(
        "matmul", out, {a, b},
        [a = a.detach(), b = b.detach(), K, N](const Tensor& grad, const autograd::Node& node) {
          autograd::Grads grads(2);
          const std::int64_t rows = grad.numel() / N;
          dispatch_float(grad.dtype(), "matmul backward", [&]<typename T>() {
            if (node.needs_grad(0)) {
              // dA = dC @ B^T
              Tensor ga = empty(a.shape(), a.dtype());
              batched_gemm<T>(false, true, 1, rows, K, N, grad.data<T>(), false, b.data<T>(), false,
                              T(0), ga.data<T>());
              grads[0] = ga;
            }
            if (node.needs_grad(1)) {
              // dB = A^T @ dC, summed over the batch
              Tensor gb = empty(b.shape(), b.dtype());
              batched_gemm<T>(true, false, 1, K, N, rows, a.data<T>(), false, grad.data<T>(), false,
                              T(0), gb.data<T>());
              grads[1] = gb;
            }
          });
          return grads;
        });
  }
  const std::int64_t batch = shape_numel(a_batch);
  Shape out_shape = a_batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, a.dtype());
  dispatch_float(a.dtype(), "matmul", [&]<typename T>() {
    batched_gemm<T>(false, false, batch, M, N, K, a.data<T>(), true, b.data<T>(), true, T(0),
                    out.data<T>());
  });
  return autograd::record("matmul", out, {a, b},
                          [a = a.detach(), b = b.detach(), batch, M, N, K](
                              const Tensor& grad, const autograd::Node& node) {
                            autograd::Grads grads(2);
                            dispatch_float(grad.dtype(), "matmul backward", [&]<typename T>() {
                              if (node.needs_grad(0)) {
                                // dA = dC @ B^T, per batch
                                Tensor ga = empty(a.shape(), a.dtype());
                                batched_gemm<T>(false, true, batch, M, K, N, grad.data<T>(), true,
                                                b.data<T>(), true, T(0), ga.data<T>());
                                grads[0] = ga;
                              }
                              if (node.needs_grad(1)) {
                                // dB = A^T @ dC, per batch
                                Tensor gb = empty(b.shape(), b.dtype());
                                batched_gemm<T>(true, false, batch, K, N, M, a.data<T>(), true,
                                                grad.data<T>(), true, T(0), gb.data<T>());
                                grads[1] = gb;
                              }
                            });
                            return grads;
                          });
}

namespace {

// What linear and linear_relu check and derive: rows (x's rows), in, out features.
struct LinearShape {
  std::int64_t rows, in, out_features;
  Shape out_shape;
};

LinearShape check_linear(const char* op, const Tensor& x, const Tensor& weight,
                         const Tensor& bias) {
  DESCENT_CHECK(x.defined() && weight.defined() && x.dim() >= 1 && weight.dim() == 2, op,
                ": expected x (..., in) and weight (out, in), got x ",
                x.defined() ? shape_str(x.shape()) : "undefined", " and weight ",
                weight.defined() ? shape_str(weight.shape()) : "undefined");
  const std::int64_t in = weight.size(1);
  const std::int64_t out_features = weight.size(0);
  DESCENT_CHECK(x.size(-1) == in, op, ": x ", shape_str(x.shape()), " has ", x.size(-1),
                " features but weight ", shape_str(weight.shape()), " expects ", in);
  DESCENT_CHECK(x.dtype() == weight.dtype(), op, ": dtypes differ: x ", dtype_name(x.dtype()),
                ", weight ", dtype_name(weight.dtype()));
  if (bias.defined()) {
    DESCENT_CHECK(bias.shape() == Shape{out_features} && bias.dtype() == x.dtype(), op,
                  ": bias must be (", out_features, ") ", dtype_name(x.dtype()), ", got ",
                  shape_str(bias.shape()), " ", dtype_name(bias.dtype()));
  }
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  return {x.numel() / std::max<std::int64_t>(in, 1), in, out_features, out_shape};
}

// A linear layer's dx = dy W and dW = dy^T x from dy (rows, out) into grads[0] and grads[1]
// (those the node needs); dW is added straight into the weight's gradient buffer when it has
// one (no temporary, no separate accumulation pass).
template <typename T>
void linear_input_and_weight_grads(const T* pg, const Tensor& x, const Tensor& weight,
                                   const LinearShape& l, const autograd::Node& node,
                                   autograd::Grads& grads) {
  const auto& [rows, in, out_features, out_shape] = l;
  Tensor gx, gw;
  if (node.needs_grad(0)) gx = empty(x.shape(), x.dtype());
  T beta_w = T(0);
  if (node.needs_grad(1)) {
    gw = node.accumulation_buffer(1);
    if (gw.defined()) beta_w = T(1);
    if (!gw.defined()) gw = empty(weight.shape(), weight.dtype());
  }
  // dx = dy @ W   (rows, out) @ (out, in);   dW = dy^T @ x   (out, rows) @ (rows, in)
  if constexpr (std::is_same_v<T, float>) {
    // both in one call: one parallel region on descent's own kernel
    std::array<kernels::GemmF32, 2> gemms;
    std::size_t count = 0;
    if (gx.defined()) {
      gemms[count++] = kernels::linear_input_grad_gemm(pg, weight.data<T>(), rows, out_features, in,
                                                       gx.data<T>());
    }
    if (gw.defined()) {
      gemms[count++] = kernels::linear_weight_grad_gemm(pg, x.data<T>(), rows, out_features, in,
                                                        beta_w, gw.data<T>());
    }
    kernels::gemm(std::span<const kernels::GemmF32>(gemms.data(), count));
  } else {
    if (gx.defined()) {
      kernels::gemm(false, false, rows, in, out_features, T(1), pg, out_features, weight.data<T>(),
                    in, T(0), gx.data<T>(), in);
    }
    if (gw.defined()) {
      kernels::gemm(true, false, out_features, in, rows, T(1), pg, out_features, x.data<T>(), in,
                    beta_w, gw.data<T>(), in);
    }
  }
  if (gx.defined()) grads[0] = gx;
  if (gw.defined()) grads[1] = gw;
}

// relu's backward and the bias gradient in one pass: dy = grad where y > 0 (else 0), and the
// column sums of dy when `sums` (blocks of 64 columns across threads, each summed in row
// order, as sum_to sums).
std::pair<Tensor, Tensor> relu_gradient_and_column_sums(const Tensor& grad, const Tensor& y,
                                                        std::int64_t rows, std::int64_t cols,
                                                        bool sums) {
  Tensor dy = empty(grad.shape(), DType::f32);
  Tensor db = sums ? zeros({cols}, DType::f32) : Tensor();
  const float* pg = grad.data<float>();
  const float* py = y.data<float>();
  float* pd = dy.data<float>();
  float* ps = sums ? db.data<float>() : nullptr;
  constexpr std::int64_t kColumnBlock = 64;
  const std::int64_t blocks = (cols + kColumnBlock - 1) / kColumnBlock;
  parallel_for_if(rows * cols > kParallelElements, blocks, [=](std::int64_t b) {
    const std::int64_t j0 = b * kColumnBlock;
    const std::int64_t width = std::min(kColumnBlock, cols - j0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t at = r * cols + j0;
#pragma omp simd
      for (std::int64_t j = 0; j < width; ++j) {
        const float g = pg[at + j];  // read unconditionally: the loop vectorizes to a select
        pd[at + j] = py[at + j] > 0.0f ? g : 0.0f;
      }
      if (ps != nullptr) {
#pragma omp simd
        for (std::int64_t j = 0; j < width; ++j) ps[j0 + j] += pd[at + j];
      }
    }
  });
  return {dy, db};
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (const DType compute = autocast_dtype_for(x, weight); compute != DType::f32) {
    return linear_mixed(x, weight, bias, compute);
  }
  const LinearShape l = check_linear("linear", x, weight, bias);
  const auto& [rows, in, out_features, out_shape] = l;
  Tensor out = empty(out_shape, x.dtype());
  dispatch_float(x.dtype(), "linear", [&]<typename T>() {
    T* po = out.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (bias.defined()) {  // the bias added in the GEMM's store
        kernels::gemm_bias(false, true, rows, out_features, in, x.data<T>(), in, weight.data<T>(),
                           in, bias.data<T>(), po, out_features);
        return;
      }
    }
    T beta = T(0);
    if (bias.defined()) {
      // start C from the bias rows, then C += x @ W^T
      const T* pb = bias.data<T>();
      parallel_for_if(rows * out_features > 32768, rows, [=](std::int64_t r) {
        for (std::int64_t j = 0; j < out_features; ++j) po[r * out_features + j] = pb[j];
      });
      beta = T(1);
    }
    kernels::gemm(false, true, rows, out_features, in, T(1), x.data<T>(), in, weight.data<T>(), in,
                  beta, po, out_features);
  });
  return autograd::record(
      "linear", out, {x, weight, bias},
      [x = x.detach(), weight = weight.detach(), l](const Tensor& grad,
                                                    const autograd::Node& node) {
        autograd::Grads grads(3);
        dispatch_float(grad.dtype(), "linear backward", [&]<typename T>() {
          linear_input_and_weight_grads<T>(grad.data<T>(), x, weight, l, node, grads);
          if (node.needs_grad(2)) {
            // db = column sums of dy
            grads[2] = sum_to(grad.view_of(0, {l.rows, l.out_features}), {l.out_features});
          }
        });
        return grads;
      });
}

Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (const DType compute = autocast_dtype_for(x, weight); compute != DType::f32) {
    return linear_relu_mixed(x, weight, bias, compute);
  }
  const LinearShape l = check_linear("linear_relu", x, weight, bias);
  if (x.dtype() != DType::f32) return relu(linear(x, weight, bias));
  // relu(x W^T + b) in the GEMM's store
  Tensor out = empty(l.out_shape, DType::f32);
  kernels::GemmF32 g = kernels::linear_forward_gemm(
      x.data<float>(), weight.data<float>(), l.rows, l.out_features, l.in,
      bias.defined() ? bias.data<float>() : nullptr, out.data<float>());
  g.relu = true;
  kernels::gemm(std::span<const kernels::GemmF32>(&g, 1));
  return autograd::record(
      "linear_relu", out, {x, weight, bias},
      [x = x.detach(), weight = weight.detach(), y = out.detach(), l](const Tensor& grad,
                                                                      const autograd::Node& node) {
        autograd::Grads grads(3);
        DESCENT_CHECK(grad.dtype() == DType::f32 && grad.numel() == y.numel(),
                      "linear_relu backward: expected an f32 gradient of ", y.numel(),
                      " elements, got ", shape_str(grad.shape()), " ", dtype_name(grad.dtype()));
        // relu's mask and the bias gradient in one pass, then dx and dW in one GEMM batch
        auto [dy, db] =
            relu_gradient_and_column_sums(grad, y, l.rows, l.out_features, node.needs_grad(2));
        linear_input_and_weight_grads<float>(dy.data<float>(), x, weight, l, node, grads);
        if (node.needs_grad(2)) grads[2] = db;
        return grads;
      });
}

}  // namespace descent::ops

#include "descent/ops/linalg.hpp"

#include <array>
#include <span>
#include <type_traits>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/gemm.hpp"
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
  for (std::int64_t i = 0; i < batch; ++i) {
    kernels::gemm(trans_a, trans_b, M, N, K, T(1), A + (a_batched ? i * M * K : 0), lda,
                  B + (b_batched ? i * K * N : 0), ldb, beta, C + i * M * N, N);
  }
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (const DType compute = autocast_dtype(); compute != DType::f32 && a.defined() && b.defined() &&
                                              a.dtype() == DType::f32 && b.dtype() == DType::f32) {
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

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (const DType compute = autocast_dtype(); compute != DType::f32 && x.defined() &&
                                              weight.defined() && x.dtype() == DType::f32 &&
                                              weight.dtype() == DType::f32) {
    return linear_mixed(x, weight, bias, compute);
  }
  DESCENT_CHECK(x.dim() >= 1 && weight.dim() == 2,
                "linear: expected x (..., in) and weight "
                "(out, in), got x ",
                shape_str(x.shape()), " and weight ", shape_str(weight.shape()));
  const std::int64_t in = weight.size(1);
  const std::int64_t out_features = weight.size(0);
  DESCENT_CHECK(x.size(-1) == in, "linear: x ", shape_str(x.shape()), " has ", x.size(-1),
                " features but weight ", shape_str(weight.shape()), " expects ", in);
  DESCENT_CHECK(x.dtype() == weight.dtype(), "linear: dtypes differ: x ", dtype_name(x.dtype()),
                ", weight ", dtype_name(weight.dtype()));
  if (bias.defined()) {
    DESCENT_CHECK(bias.shape() == Shape{out_features} && bias.dtype() == x.dtype(),
                  "linear: bias must be (", out_features, ") ", dtype_name(x.dtype()), ", got ",
                  shape_str(bias.shape()), " ", dtype_name(bias.dtype()));
  }
  const std::int64_t rows = x.numel() / in;
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
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
      [x = x.detach(), weight = weight.detach(), rows, in, out_features](
          const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(3);
        dispatch_float(grad.dtype(), "linear backward", [&]<typename T>() {
          const T* pg = grad.data<T>();
          Tensor gx, gw;
          if (node.needs_grad(0)) gx = empty(x.shape(), x.dtype());
          T beta_w = T(0);
          if (node.needs_grad(1)) {
            // dW is added straight into the weight's gradient buffer when it has one (no
            // temporary, no separate accumulation pass)
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
              gemms[count++] = {false, false,        rows,
                                in,    out_features, 1.0f,
                                pg,    out_features, weight.data<T>(),
                                in,    0.0f,         gx.data<T>(),
                                in};
            }
            if (gw.defined()) {
              gemms[count++] = {true, false,        out_features, in, rows,   1.0f,
                                pg,   out_features, x.data<T>(),  in, beta_w, gw.data<T>(),
                                in};
            }
            kernels::gemm(std::span<const kernels::GemmF32>(gemms.data(), count));
          } else {
            if (gx.defined()) {
              kernels::gemm(false, false, rows, in, out_features, T(1), pg, out_features,
                            weight.data<T>(), in, T(0), gx.data<T>(), in);
            }
            if (gw.defined()) {
              kernels::gemm(true, false, out_features, in, rows, T(1), pg, out_features,
                            x.data<T>(), in, beta_w, gw.data<T>(), in);
            }
          }
          if (gx.defined()) grads[0] = gx;
          if (gw.defined()) grads[1] = gw;
          if (node.needs_grad(2)) {
            // db = column sums of dy
            grads[2] = sum_to(grad.view_of(0, {rows, out_features}), {out_features});
          }
        });
        return grads;
      });
}

}  // namespace descent::ops

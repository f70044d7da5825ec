#include "descent/amp/autocast.hpp"

#include <algorithm>

#include "descent/autograd/autograd.hpp"
#include "descent/kernels/half.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/linalg.hpp"

namespace descent::amp {
namespace {

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

// t in `compute`, without a copy when it already is; no history.
Tensor rounded(const Tensor& t, DType compute) {
  return t.dtype() == compute ? t.detach() : t.to(compute);
}

// An f32 gradient returned in the dtype of the input it belongs to.
Tensor as_input_dtype(const Tensor& grad, DType dtype) {
  return grad.dtype() == dtype ? grad : grad.to(dtype);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, DType compute,
              const Tensor& weight_low) {
  check_compute("amp::linear", compute);
  if (compute == DType::f32) return ops::linear(x, weight, bias);
  check_input("amp::linear", "x", x, compute);
  DESCENT_CHECK(weight.defined() && weight.dim() == 2 && weight.dtype() == DType::f32,
                "amp::linear: expected weight (out, in) f32, got ",
                weight.defined() ? shape_str(weight.shape()) : "an undefined tensor", " ",
                weight.defined() ? dtype_name(weight.dtype()) : "");
  const std::int64_t in = weight.size(1);
  const std::int64_t out_features = weight.size(0);
  DESCENT_CHECK(x.dim() >= 1 && x.size(-1) == in, "amp::linear: x ", shape_str(x.shape()),
                " does not end in the ", in, " features weight ", shape_str(weight.shape()),
                " expects");
  if (bias.defined()) {
    DESCENT_CHECK(bias.shape() == Shape{out_features} && bias.dtype() == DType::f32,
                  "amp::linear: bias must be (", out_features, ") f32, got ",
                  shape_str(bias.shape()), " ", dtype_name(bias.dtype()));
  }
  if (weight_low.defined()) {
    DESCENT_CHECK(weight_low.shape() == weight.shape() && weight_low.dtype() == compute,
                  "amp::linear: weight_low must be ", shape_str(weight.shape()), " ",
                  dtype_name(compute), " (the weight's rounded copy), got ",
                  shape_str(weight_low.shape()), " ", dtype_name(weight_low.dtype()));
  }
  const std::int64_t rows = x.numel() / std::max<std::int64_t>(in, 1);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;

  const Tensor x_low = rounded(x, compute);  // (rows, in), saved for backward
  const Tensor w_low = weight_low.defined() ? weight_low.detach() : rounded(weight, compute);
  Tensor out = empty(out_shape, DType::f32);  // (rows, out)
  float* po = out.data<float>();
  float beta = 0.0f;
  if (bias.defined()) {
    // start C from the bias rows, then C += x W^T
    const float* pb = bias.data<float>();
#pragma omp parallel for if (rows * out_features > 32768)
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t j = 0; j < out_features; ++j) po[r * out_features + j] = pb[j];
    }
    beta = 1.0f;
  }
  dispatch_low(compute, [&]<typename L>() {
    kernels::gemm(false, true, rows, out_features, in, 1.0f, x_low.data<L>(), in, w_low.data<L>(),
                  in, beta, po, out_features);
  });
  return autograd::record(
      "amp::linear", out, {x, weight, bias},
      [x_low, w_low, x_shape = x.shape(), x_dtype = x.dtype(), rows, in, out_features, compute](
          const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(3);
        const Tensor dy_low = grad.to(compute);  // (rows, out)
        dispatch_low(compute, [&]<typename L>() {
          if (node.needs_grad(0)) {
            // dx = dy W   (rows, out) @ (out, in)
            Tensor gx = empty(x_shape, DType::f32);
            kernels::gemm(false, false, rows, in, out_features, 1.0f, dy_low.data<L>(),
                          out_features, w_low.data<L>(), in, 0.0f, gx.data<float>(), in);
            grads[0] = as_input_dtype(gx, x_dtype);
          }
          if (node.needs_grad(1)) {
            // dW = dy^T x   (out, rows) @ (rows, in)
            Tensor gw = empty({out_features, in}, DType::f32);
            kernels::gemm(true, false, out_features, in, rows, 1.0f, dy_low.data<L>(), out_features,
                          x_low.data<L>(), in, 0.0f, gw.data<float>(), in);
            grads[1] = gw;
          }
        });
        if (node.needs_grad(2)) {
          // db = column sums of dy, in f32
          grads[2] = ops::sum_to(grad.view_of(0, {rows, out_features}), {out_features});
        }
        return grads;
      });
}

Tensor matmul(const Tensor& a, const Tensor& b, DType compute) {
  check_compute("amp::matmul", compute);
  if (compute == DType::f32) return ops::matmul(a, b);
  check_input("amp::matmul", "a", a, compute);
  check_input("amp::matmul", "b", b, compute);
  DESCENT_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0),
                "amp::matmul: expected a (M, K) and b (K, N), got ", shape_str(a.shape()), " @ ",
                shape_str(b.shape()));
  const std::int64_t M = a.size(0);
  const std::int64_t K = a.size(1);
  const std::int64_t N = b.size(1);
  const Tensor a_low = rounded(a, compute);  // (M, K), saved for backward
  const Tensor b_low = rounded(b, compute);  // (K, N), saved for backward
  Tensor out = empty({M, N}, DType::f32);
  dispatch_low(compute, [&]<typename L>() {
    kernels::gemm(false, false, M, N, K, 1.0f, a_low.data<L>(), K, b_low.data<L>(), N, 0.0f,
                  out.data<float>(), N);
  });
  return autograd::record("amp::matmul", out, {a, b},
                          [a_low, b_low, a_dtype = a.dtype(), b_dtype = b.dtype(), M, N, K,
                           compute](const Tensor& grad, const autograd::Node& node) {
                            autograd::Grads grads(2);
                            const Tensor dy_low = grad.to(compute);  // (M, N)
                            dispatch_low(compute, [&]<typename L>() {
                              if (node.needs_grad(0)) {
                                // dA = dC B^T   (M, N) @ (N, K)
                                Tensor ga = empty({M, K}, DType::f32);
                                kernels::gemm(false, true, M, K, N, 1.0f, dy_low.data<L>(), N,
                                              b_low.data<L>(), N, 0.0f, ga.data<float>(), K);
                                grads[0] = as_input_dtype(ga, a_dtype);
                              }
                              if (node.needs_grad(1)) {
                                // dB = A^T dC   (K, M) @ (M, N)
                                Tensor gb = empty({K, N}, DType::f32);
                                kernels::gemm(true, false, K, N, M, 1.0f, a_low.data<L>(), K,
                                              dy_low.data<L>(), N, 0.0f, gb.data<float>(), N);
                                grads[1] = as_input_dtype(gb, b_dtype);
                              }
                            });
                            return grads;
                          });
}

}  // namespace descent::amp

// conv2d and pooling: validation, shapes and autograd; the loops are in kernels/conv.cpp
// and kernels/pool.cpp. Semantics and messages follow
// https://pytorch.org/docs/stable/generated/torch.nn.functional.conv2d.html,
// .../torch.nn.MaxPool2d.html and .../torch.nn.AvgPool2d.html (ceil_mode=false,
// count_include_pad=true, dilation 1 for pooling).
#include "descent/ops/conv.hpp"

#include <cstdint>

#include "descent/autograd/autograd.hpp"
#include "descent/kernels/conv.hpp"
#include "descent/kernels/pool.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/detail/conv.hpp"

namespace descent::ops {
namespace {

std::string pair_str(std::int64_t h, std::int64_t w) {
  return cat("(", h, ", ", w, ")");
}
std::string pair_str(const Size2& size) {
  return pair_str(size.h, size.w);
}

void check_image(const Tensor& x, const char* op) {
  DESCENT_CHECK(x.defined(), op, ": x is undefined");
  DESCENT_CHECK(x.dim() == 4, op, ": expected x (N, C, H, W), got ", shape_str(x.shape()));
}

// The tensor checks of conv2d; the shape checks are conv2d_geometry's.
kernels::Conv2dGeometry conv_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                      const Conv2dOptions& options) {
  check_image(x, "conv2d");
  DESCENT_CHECK(weight.defined(), "conv2d: weight is undefined");
  DESCENT_CHECK(x.dtype() == weight.dtype(), "conv2d: dtypes differ: x ", dtype_name(x.dtype()),
                " ", shape_str(x.shape()), ", weight ", dtype_name(weight.dtype()), " ",
                shape_str(weight.shape()));
  const kernels::Conv2dGeometry g =
      detail::conv2d_geometry(x.shape(), weight.shape(), nullptr, options);
  if (bias.defined()) {
    DESCENT_CHECK(bias.shape() == Shape{g.O} && bias.dtype() == x.dtype(), "conv2d: bias must be (",
                  g.O, ") ", dtype_name(x.dtype()), " for weight ", shape_str(weight.shape()),
                  ", got ", shape_str(bias.shape()), " ", dtype_name(bias.dtype()));
  }
  return g;
}

struct PoolSetup {
  kernels::Pool2dGeometry geometry;
  Shape out_shape;
};

PoolSetup pool_setup(const Tensor& x, const Pool2dOptions& options, const char* op) {
  check_image(x, op);
  const Size2& kernel = options.kernel_size;
  const Size2 stride(options.stride.h == 0 ? kernel.h : options.stride.h,
                     options.stride.w == 0 ? kernel.w : options.stride.w);
  DESCENT_CHECK(kernel.h > 0 && kernel.w > 0, op, ": kernel_size must be positive, got ",
                pair_str(kernel));
  DESCENT_CHECK(options.stride.h >= 0 && options.stride.w >= 0, op,
                ": stride must be positive (or 0 for kernel_size), got ", pair_str(options.stride));
  DESCENT_CHECK(options.padding.h >= 0 && options.padding.w >= 0, op,
                ": padding must be non-negative, got ", pair_str(options.padding));
  DESCENT_CHECK(2 * options.padding.h <= kernel.h && 2 * options.padding.w <= kernel.w, op,
                ": padding ", pair_str(options.padding), " must be at most half of kernel_size ",
                pair_str(kernel));
  kernels::Pool2dGeometry g;
  g.planes = x.size(0) * x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.KH = kernel.h;
  g.KW = kernel.w;
  g.stride_h = stride.h;
  g.stride_w = stride.w;
  g.pad_h = options.padding.h;
  g.pad_w = options.padding.w;
  const std::int64_t padded_h = g.H + 2 * g.pad_h;
  const std::int64_t padded_w = g.W + 2 * g.pad_w;
  DESCENT_CHECK(kernel.h <= padded_h && kernel.w <= padded_w, op, ": kernel_size ",
                pair_str(kernel), " is larger than the padded input ", pair_str(padded_h, padded_w),
                " of x ", shape_str(x.shape()), " with padding ", pair_str(options.padding));
  g.OH = g.out_h();
  g.OW = g.out_w();
  return {g, Shape{x.size(0), x.size(1), g.OH, g.OW}};
}

// Calls fn.template operator()<Index>() with Index the C++ type of max_pool2d's saved
// window positions: u8 or i64.
template <typename Fn>
void dispatch_pool_index(DType dtype, Fn&& fn) {
  if (dtype == DType::u8) {
    fn.template operator()<std::uint8_t>();
  } else {
    fn.template operator()<std::int64_t>();
  }
}

}  // namespace

namespace detail {

kernels::Conv2dGeometry conv2d_geometry(const Shape& x, const Shape& weight, const Shape* bias,
                                        const Conv2dOptions& options) {
  DESCENT_CHECK(x.size() == 4, "conv2d: expected x (N, C, H, W), got ", shape_str(x));
  DESCENT_CHECK(weight.size() == 4, "conv2d: expected weight (O, C, KH, KW), got ",
                shape_str(weight));
  DESCENT_CHECK(shape_numel(weight) > 0, "conv2d: weight ", shape_str(weight),
                " has an empty dimension");
  DESCENT_CHECK(x[1] == weight[1], "conv2d: x ", shape_str(x), " has ", x[1],
                " channels but weight ", shape_str(weight), " expects ", weight[1]);
  if (bias != nullptr) {
    DESCENT_CHECK(*bias == Shape{weight[0]}, "conv2d: bias must be (", weight[0], ") for weight ",
                  shape_str(weight), ", got ", shape_str(*bias));
  }
  DESCENT_CHECK(options.stride.h > 0 && options.stride.w > 0,
                "conv2d: stride must be positive, got ", pair_str(options.stride));
  DESCENT_CHECK(options.dilation.h > 0 && options.dilation.w > 0,
                "conv2d: dilation must be positive, got ", pair_str(options.dilation));
  DESCENT_CHECK(options.padding.h >= 0 && options.padding.w >= 0,
                "conv2d: padding must be non-negative, got ", pair_str(options.padding));
  kernels::Conv2dGeometry g;
  g.N = x[0];
  g.C = x[1];
  g.H = x[2];
  g.W = x[3];
  g.O = weight[0];
  g.KH = weight[2];
  g.KW = weight[3];
  g.stride_h = options.stride.h;
  g.stride_w = options.stride.w;
  g.pad_h = options.padding.h;
  g.pad_w = options.padding.w;
  g.dilation_h = options.dilation.h;
  g.dilation_w = options.dilation.w;
  const std::int64_t span_h = g.dilation_h * (g.KH - 1) + 1;
  const std::int64_t span_w = g.dilation_w * (g.KW - 1) + 1;
  const std::int64_t padded_h = g.H + 2 * g.pad_h;
  const std::int64_t padded_w = g.W + 2 * g.pad_w;
  DESCENT_CHECK(span_h <= padded_h && span_w <= padded_w, "conv2d: kernel ", pair_str(g.KH, g.KW),
                " with dilation ", pair_str(options.dilation), " spans ", pair_str(span_h, span_w),
                ", larger than the padded input ", pair_str(padded_h, padded_w), " of x ",
                shape_str(x), " with padding ", pair_str(options.padding));
  g.OH = g.out_h();
  g.OW = g.out_w();
  return g;
}

}  // namespace detail

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  if (const DType compute = autocast_dtype_for(x, weight); compute != DType::f32) {
    return conv2d_mixed(x, weight, bias, options, compute);
  }
  const kernels::Conv2dGeometry g = conv_geometry(x, weight, bias, options);
  Tensor out = empty({g.N, g.O, g.OH, g.OW}, x.dtype());  // (N, O, OH, OW)
  dispatch_float(x.dtype(), "conv2d", [&]<typename T>() {
    kernels::conv2d_forward<T>(g, x.data<T>(), weight.data<T>(),
                               bias.defined() ? bias.data<T>() : nullptr, out.data<T>());
  });
  return autograd::record(
      "conv2d", out, {x, weight, bias},
      [x = x.detach(), weight = weight.detach(), g](const Tensor& grad,
                                                    const autograd::Node& node) {
        autograd::Grads grads(3);
        dispatch_float(grad.dtype(), "conv2d backward", [&]<typename T>() {
          if (node.needs_grad(0)) {
            Tensor dx = empty(x.shape(), x.dtype());  // (N, C, H, W)
            kernels::conv2d_backward_input<T>(g, grad.data<T>(), weight.data<T>(), dx.data<T>());
            grads[0] = dx;
          }
          if (node.needs_grad(1) || node.needs_grad(2)) {
            Tensor dweight = node.needs_grad(1) ? empty(weight.shape(), x.dtype()) : Tensor();
            Tensor dbias = node.needs_grad(2) ? empty({g.O}, x.dtype()) : Tensor();
            kernels::conv2d_backward_weight<T>(g, grad.data<T>(), x.data<T>(),
                                               dweight.defined() ? dweight.data<T>() : nullptr,
                                               dbias.defined() ? dbias.data<T>() : nullptr);
            grads[1] = dweight;
            grads[2] = dbias;
          }
        });
        return grads;
      });
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  const PoolSetup setup = pool_setup(x, options, "max_pool2d");
  const kernels::Pool2dGeometry& g = setup.geometry;
  // the backward needs only where each maximum was: its position in the window, one byte
  // per output for windows up to 256 elements (a quarter of the f32 output; the plane
  // position in i64 was twice the output); larger windows, rare, keep an i64
  const DType index_dtype = g.KH * g.KW <= kernels::kMaxU8Window ? DType::u8 : DType::i64;
  Tensor out = empty(setup.out_shape, x.dtype());       // (N, C, OH, OW)
  Tensor argmax = empty(setup.out_shape, index_dtype);  // (N, C, OH, OW), kh * KW + kw
  dispatch_float(x.dtype(), "max_pool2d", [&]<typename T>() {
    dispatch_pool_index(index_dtype, [&]<typename Index>() {
      kernels::max_pool2d_forward<T, Index>(g, x.data<T>(), out.data<T>(), argmax.data<Index>());
    });
  });
  return autograd::record(
      "max_pool2d", out, {x},
      [argmax, g, shape = x.shape()](const Tensor& grad, const autograd::Node&) {
        Tensor dx = empty(shape, grad.dtype());
        dispatch_float(grad.dtype(), "max_pool2d backward", [&]<typename T>() {
          dispatch_pool_index(argmax.dtype(), [&]<typename Index>() {
            kernels::max_pool2d_backward<T, Index>(g, grad.data<T>(), argmax.data<Index>(),
                                                   dx.data<T>());
          });
        });
        return autograd::Grads{dx};
      });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  const PoolSetup setup = pool_setup(x, options, "avg_pool2d");
  const kernels::Pool2dGeometry& g = setup.geometry;
  Tensor out = empty(setup.out_shape, x.dtype());  // (N, C, OH, OW)
  dispatch_float(x.dtype(), "avg_pool2d", [&]<typename T>() {
    kernels::avg_pool2d_forward<T>(g, x.data<T>(), out.data<T>());
  });
  return autograd::record("avg_pool2d", out, {x},
                          [g, shape = x.shape()](const Tensor& grad, const autograd::Node&) {
                            Tensor dx = empty(shape, grad.dtype());
                            dispatch_float(grad.dtype(), "avg_pool2d backward", [&]<typename T>() {
                              kernels::avg_pool2d_backward<T>(g, grad.data<T>(), dx.data<T>());
                            });
                            return autograd::Grads{dx};
                          });
}

Tensor global_avg_pool2d(const Tensor& x) {
  check_image(x, "global_avg_pool2d");
  const std::int64_t planes = x.size(0) * x.size(1);
  const std::int64_t size = x.size(2) * x.size(3);
  DESCENT_CHECK(size > 0, "global_avg_pool2d: x ", shape_str(x.shape()), " has empty planes");
  Tensor out = empty({x.size(0), x.size(1), 1, 1}, x.dtype());  // (N, C, 1, 1)
  dispatch_float(x.dtype(), "global_avg_pool2d", [&]<typename T>() {
    kernels::plane_mean_forward<T>(planes, size, x.data<T>(), out.data<T>());
  });
  return autograd::record(
      "global_avg_pool2d", out, {x},
      [planes, size, shape = x.shape()](const Tensor& grad, const autograd::Node&) {
        Tensor dx = empty(shape, grad.dtype());
        dispatch_float(grad.dtype(), "global_avg_pool2d backward", [&]<typename T>() {
          kernels::plane_mean_backward<T>(planes, size, grad.data<T>(), dx.data<T>());
        });
        return autograd::Grads{dx};
      });
}

}  // namespace descent::ops

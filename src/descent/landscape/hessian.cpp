#include "descent/landscape/hessian.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "descent/core/dtype.hpp"
#include "descent/core/parallel_reduce.hpp"
#include "descent/nn/flat.hpp"

namespace descent::landscape {
namespace {

const nn::FlatParameters& flat_of(const nn::Module& model, const char* op) {
  DESCENT_CHECK(model.is_flat(), op,
                ": the model's parameters must be flattened (nn::build_model does it)");
  return model.flat_parameters();
}

void check_options(const HessianOptions& options, const char* op) {
  DESCENT_CHECK(std::isfinite(options.step) && options.step >= 0, op,
                ": step must be finite and >= 0 (0: the default), got ", options.step);
  DESCENT_CHECK(options.max_iterations >= 1, op, ": max_iterations must be >= 1, got ",
                options.max_iterations);
  DESCENT_CHECK(std::isfinite(options.tolerance) && options.tolerance > 0, op,
                ": tolerance must be finite and > 0, got ", options.tolerance);
  DESCENT_CHECK(options.samples >= 1, op, ": samples must be >= 1, got ", options.samples);
}

double dot(const Tensor& a, const Tensor& b) {
  double sum = 0.0;
  dispatch_float(a.dtype(), "landscape::dot", [&]<typename T>() {
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    const std::int64_t n = a.numel();
    sum = parallel_sum_if<double>(n > 32768, n,
                                  [=](std::int64_t i) { return static_cast<double>(x[i]) * y[i]; });
  });
  return sum;
}

// v *= factor
void scale(Tensor& v, double factor) {
  dispatch_float(v.dtype(), "landscape::scale", [&]<typename T>() {
    T* x = v.data<T>();
    const std::int64_t n = v.numel();
    parallel_simd_if(n > 32768, n, [=](std::int64_t i) { x[i] = static_cast<T>(x[i] * factor); });
  });
}

// y += factor * x
void axpy(Tensor& y, double factor, const Tensor& x) {
  dispatch_float(y.dtype(), "landscape::axpy", [&]<typename T>() {
    T* out = y.data<T>();
    const T* in = x.data<T>();
    const std::int64_t n = y.numel();
    parallel_simd_if(n > 32768, n, [=](std::int64_t i) {
      out[i] = static_cast<T>(out[i] + factor * static_cast<double>(in[i]));
    });
  });
}

// Zeros the elements between parameter ranges (alignment gaps), which no parameter owns.
void zero_gaps(Tensor& v, const nn::FlatParameters& flat) {
  dispatch_float(v.dtype(), "landscape", [&]<typename T>() {
    T* x = v.data<T>();
    std::int64_t next = 0;
    for (const nn::ParamRange& range : flat.ranges) {
      for (std::int64_t i = next; i < range.offset; ++i) x[i] = T(0);
      next = range.offset + range.numel;
    }
    for (std::int64_t i = next; i < v.numel(); ++i) x[i] = T(0);
  });
}

// The finite-difference product, with theta0 the unperturbed parameters.
class Products {
 public:
  Products(nn::Module& model, const GradientFn& gradient, double step, const char* op)
      : model_(model), gradient_(gradient), flat_(flat_of(model, op)) {
    DESCENT_CHECK(static_cast<bool>(gradient), op, ": no gradient function");
    theta0_ = flat_.params.detach().clone();  // (total,)
    step_ = step > 0 ? step : default_step(model);
  }
  ~Products() { flat_.params.detach().copy_(theta0_); }
  Products(const Products&) = delete;
  Products& operator=(const Products&) = delete;

  double step() const { return step_; }
  const nn::FlatParameters& flat() const { return flat_; }

  Tensor times(const Tensor& v) {
    const double v_norm = std::sqrt(dot(v, v));
    Tensor out = zeros(v.shape(), v.dtype());
    if (v_norm == 0.0) return out;
    // t moves the parameters by h in the 2-norm: t = h / ||v||.
    const double t = step_ / v_norm;
    move(v, t);
    gradient_(model_);
    const Tensor g_plus = flat_.grads.detach().clone();  // g(theta + t v)
    move(v, -t);
    gradient_(model_);
    const Tensor& g_minus = flat_.grads;  // g(theta - t v)
    flat_.params.detach().copy_(theta0_);
    dispatch_float(v.dtype(), "hessian_vector_product", [&]<typename T>() {
      T* hv = out.data<T>();
      const T* plus = g_plus.data<T>();
      const T* minus = g_minus.data<T>();
      const std::int64_t n = out.numel();
      const double inverse = 1.0 / (2.0 * t);
      parallel_simd_if(n > 32768, n, [=](std::int64_t i) {
        hv[i] = static_cast<T>((static_cast<double>(plus[i]) - minus[i]) * inverse);
      });
    });
    zero_gaps(out, flat_);
    return out;
  }

 private:
  // theta = theta0 + t v
  void move(const Tensor& v, double t) {
    dispatch_float(v.dtype(), "hessian_vector_product", [&]<typename T>() {
      T* theta = flat_.params.data<T>();
      const T* start = theta0_.data<T>();
      const T* direction = v.data<T>();
      const std::int64_t n = v.numel();
      parallel_simd_if(n > 32768, n, [=](std::int64_t i) {
        theta[i] = static_cast<T>(static_cast<double>(start[i]) + t * direction[i]);
      });
    });
  }

  nn::Module& model_;
  const GradientFn& gradient_;
  const nn::FlatParameters& flat_;
  Tensor theta0_;
  double step_ = 0.0;
};

void check_vector(const Tensor& v, const nn::FlatParameters& flat, const char* op) {
  DESCENT_CHECK(v.defined() && v.shape() == flat.params.shape() && v.dtype() == flat.params.dtype(),
                op, ": expected v ", shape_str(flat.params.shape()), " ",
                dtype_name(flat.params.dtype()), " (the model's flat parameters), got ",
                v.defined() ? shape_str(v.shape()) : std::string("an undefined tensor"), " ",
                v.defined() ? dtype_name(v.dtype()) : "");
}

}  // namespace

double default_step(const nn::Module& model) {
  const nn::FlatParameters& flat = flat_of(model, "default_step");
  const double epsilon = flat.params.dtype() == DType::f64
                             ? std::numeric_limits<double>::epsilon()
                             : static_cast<double>(std::numeric_limits<float>::epsilon());
  // sqrt(eps), not the smooth-case eps^(1/3): see the header on kinks.
  return std::sqrt(epsilon);
}

Tensor hessian_vector_product(nn::Module& model, const GradientFn& gradient, const Tensor& v,
                              double step) {
  DESCENT_CHECK(std::isfinite(step) && step >= 0,
                "hessian_vector_product: step must be finite and >= 0 (0: the default), got ",
                step);
  Products products(model, gradient, step, "hessian_vector_product");
  check_vector(v, products.flat(), "hessian_vector_product");
  return products.times(v);
}

namespace {

struct PowerResult {
  double eigenvalue = 0.0;  // of H (the shift added back)
  Tensor vector;
  std::int64_t iterations = 0;
  bool converged = false;
};

// Power iteration on H - shift I from a seeded Gaussian vector: v <- (H - shift I) v / norm,
// mu = v^T (H - shift I) v, stopping when |mu_k - mu_{k-1}| <= tolerance |mu_k|. It finds the
// eigenvalue of H - shift I of largest magnitude.
PowerResult power_iteration(Products& products, Generator& gen, double shift,
                            const HessianOptions& options) {
  const nn::FlatParameters& flat = products.flat();
  Tensor v = randn(flat.params.shape(), gen, flat.params.dtype());  // (total,)
  zero_gaps(v, flat);
  scale(v, 1.0 / std::sqrt(dot(v, v)));
  PowerResult result;
  double previous = 0.0;
  for (std::int64_t k = 1; k <= options.max_iterations; ++k) {
    Tensor hv = products.times(v);
    if (shift != 0.0) axpy(hv, -shift, v);  // (H - shift I) v; the gaps stay zero
    // Rayleigh quotient of the unit vector v
    const double mu = dot(v, hv);
    result.iterations = k;
    result.eigenvalue = mu + shift;
    const double hv_norm = std::sqrt(dot(hv, hv));
    if ((k > 1 && std::abs(mu - previous) <= options.tolerance * std::abs(mu)) || hv_norm == 0.0) {
      result.converged = true;
      break;
    }
    DESCENT_CHECK(std::isfinite(hv_norm), "top_hessian_eigenvalue: the Hessian-vector product ",
                  "is not finite at iteration ", k, " (a non-finite loss or gradient?)");
    // next vector: (H - shift I) v / its norm
    scale(hv, 1.0 / hv_norm);
    v = hv;
    previous = mu;
  }
  result.vector = v;
  return result;
}

}  // namespace

EigenResult top_hessian_eigenvalue(nn::Module& model, const GradientFn& gradient,
                                   const HessianOptions& options) {
  check_options(options, "top_hessian_eigenvalue");
  Products products(model, gradient, options.step, "top_hessian_eigenvalue");
  Generator gen(options.seed);
  PowerResult dominant = power_iteration(products, gen, 0.0, options);
  EigenResult result;
  result.step = products.step();
  result.dominant = dominant.eigenvalue;
  result.iterations = dominant.iterations;
  if (dominant.eigenvalue >= 0.0) {
    result.eigenvalue = dominant.eigenvalue;
    result.eigenvector = dominant.vector;
    result.converged = dominant.converged;
    return result;
  }
  // The dominant eigenvalue is the most negative one, lambda_min (a saddle, or a maximum):
  // H - lambda_min I has eigenvalues lambda_i - lambda_min >= 0, the largest of which belongs
  // to lambda_max.
  const PowerResult top = power_iteration(products, gen, dominant.eigenvalue, options);
  result.eigenvalue = top.eigenvalue;
  result.eigenvector = top.vector;
  result.iterations += top.iterations;
  result.converged = dominant.converged && top.converged;
  return result;
}

TraceResult hessian_trace(nn::Module& model, const GradientFn& gradient,
                          const HessianOptions& options) {
  check_options(options, "hessian_trace");
  Products products(model, gradient, options.step, "hessian_trace");
  const nn::FlatParameters& flat = products.flat();
  Generator gen(options.seed);
  // Welford's running mean and sum of squared deviations of z^T H z.
  double mean = 0.0;
  double squares = 0.0;
  for (std::int64_t s = 1; s <= options.samples; ++s) {
    Tensor z = rand(flat.params.shape(), gen, flat.params.dtype());  // U[0, 1) -> +-1
    dispatch_float(z.dtype(), "hessian_trace", [&]<typename T>() {
      T* x = z.data<T>();
      for (std::int64_t i = 0; i < z.numel(); ++i) x[i] = x[i] < T(0.5) ? T(-1) : T(1);
    });
    zero_gaps(z, flat);
    const double quadratic = dot(z, products.times(z));  // z^T H z
    DESCENT_CHECK(std::isfinite(quadratic), "hessian_trace: z^T H z is not finite at sample ", s,
                  " (a non-finite loss or gradient?)");
    const double delta = quadratic - mean;
    mean += delta / static_cast<double>(s);
    squares += delta * (quadratic - mean);
  }
  TraceResult result;
  result.trace = mean;
  result.samples = options.samples;
  result.step = products.step();
  if (options.samples > 1) {
    const double variance = squares / static_cast<double>(options.samples - 1);
    result.standard_error = std::sqrt(variance / static_cast<double>(options.samples));
  }
  return result;
}

}  // namespace descent::landscape

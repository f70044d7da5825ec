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

// Sturm count: how many eigenvalues of the symmetric tridiagonal matrix with diagonal `alpha`
// and off-diagonal `beta` (beta[i] couples i and i + 1) are below x.
std::size_t eigenvalues_below(const std::vector<double>& alpha, const std::vector<double>& beta,
                              double x) {
  std::size_t count = 0;
  double d = 1.0;
  for (std::size_t i = 0; i < alpha.size(); ++i) {
    const double coupling = i == 0 ? 0.0 : beta[i - 1] * beta[i - 1] / d;
    d = alpha[i] - x - coupling;
    if (d == 0.0) d = -std::numeric_limits<double>::min();  // x is an eigenvalue of a leading block
    count += d < 0.0;
  }
  return count;
}

// The eigenvalue of the tridiagonal matrix with `below` eigenvalues under it (0: the smallest,
// size - 1: the largest), by bisection between the Gershgorin bounds.
double tridiagonal_eigenvalue(const std::vector<double>& alpha, const std::vector<double>& beta,
                              std::size_t below) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (std::size_t i = 0; i < alpha.size(); ++i) {
    const double radius =
        (i > 0 ? std::abs(beta[i - 1]) : 0.0) + (i < beta.size() ? std::abs(beta[i]) : 0.0);
    lo = std::min(lo, alpha[i] - radius);
    hi = std::max(hi, alpha[i] + radius);
  }
  // invariant: at most `below` eigenvalues under lo, more than `below` under hi
  lo -= 1e-300 + 1e-15 * std::abs(lo);
  hi += 1e-300 + 1e-15 * std::abs(hi);
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;  // adjacent doubles
    (eigenvalues_below(alpha, beta, mid) > below ? hi : lo) = mid;
  }
  return 0.5 * (lo + hi);
}

// The unit eigenvector of the tridiagonal matrix for its eigenvalue `lambda`, by cyclic Jacobi
// rotations of the dense matrix (Golub & Van Loan 8.5), accumulating the rotations; the
// column whose eigenvalue is nearest lambda.
std::vector<double> tridiagonal_eigenvector(const std::vector<double>& alpha,
                                            const std::vector<double>& beta, double lambda) {
  const std::size_t n = alpha.size();
  std::vector<double> a(n * n, 0.0);
  std::vector<double> q(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    a[i * n + i] = alpha[i];
    q[i * n + i] = 1.0;
    if (i + 1 < n) a[i * n + i + 1] = a[(i + 1) * n + i] = beta[i];
  }
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    double diagonal = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      diagonal += a[i * n + i] * a[i * n + i];
      for (std::size_t j = i + 1; j < n; ++j) off += a[i * n + j] * a[i * n + j];
    }
    if (off <= 1e-30 * diagonal) break;
    for (std::size_t p = 0; p < n; ++p) {
      for (std::size_t r = p + 1; r < n; ++r) {
        const double apr = a[p * n + r];
        if (apr == 0.0) continue;
        const double theta = (a[r * n + r] - a[p * n + p]) / (2.0 * apr);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double sn = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // A <- A J, Q <- Q J
          const double akp = a[k * n + p];
          const double akr = a[k * n + r];
          a[k * n + p] = c * akp - sn * akr;
          a[k * n + r] = sn * akp + c * akr;
          const double qkp = q[k * n + p];
          const double qkr = q[k * n + r];
          q[k * n + p] = c * qkp - sn * qkr;
          q[k * n + r] = sn * qkp + c * qkr;
        }
        for (std::size_t k = 0; k < n; ++k) {  // A <- J^T A
          const double apk = a[p * n + k];
          const double ark = a[r * n + k];
          a[p * n + k] = c * apk - sn * ark;
          a[r * n + k] = sn * apk + c * ark;
        }
      }
    }
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (std::abs(a[i * n + i] - lambda) < std::abs(a[best * n + best] - lambda)) best = i;
  }
  std::vector<double> vector(n);
  for (std::size_t k = 0; k < n; ++k) vector[k] = q[k * n + best];
  return vector;
}

}  // namespace

EigenResult top_hessian_eigenvalue(nn::Module& model, const GradientFn& gradient,
                                   const HessianOptions& options) {
  check_options(options, "top_hessian_eigenvalue");
  Products products(model, gradient, options.step, "top_hessian_eigenvalue");
  const nn::FlatParameters& flat = products.flat();
  Generator gen(options.seed);
  Tensor v = randn(flat.params.shape(), gen, flat.params.dtype());  // (total,)
  zero_gaps(v, flat);
  scale(v, 1.0 / std::sqrt(dot(v, v)));
  EigenResult result;
  result.step = products.step();
  std::vector<Tensor> basis;  // v_1, v_2, ...: orthonormal
  std::vector<double> alpha;  // T's diagonal, v_k^T H v_k
  std::vector<double> beta;   // T's off-diagonal: beta[k] couples v_k and v_{k+1}
  double previous = 0.0;
  for (std::int64_t k = 1; k <= options.max_iterations; ++k) {
    basis.push_back(v);
    Tensor w = products.times(v);
    const double a = dot(w, v);
    DESCENT_CHECK(std::isfinite(a) && std::isfinite(dot(w, w)),
                  "top_hessian_eigenvalue: the Hessian-vector product is not finite at ",
                  "iteration ", k, " (a non-finite loss or gradient?)");
    alpha.push_back(a);
    // w <- H v_k - alpha_k v_k - beta_{k-1} v_{k-1}, then orthogonal to every v (twice: the
    // finite-difference products and rounding lose orthogonality, and a lost one brings back
    // copies of converged eigenvalues)
    axpy(w, -a, v);
    if (k > 1) axpy(w, -beta.back(), basis[basis.size() - 2]);
    for (int pass = 0; pass < 2; ++pass) {
      for (const Tensor& q : basis) axpy(w, -dot(w, q), q);
    }
    result.iterations = k;
    result.eigenvalue = tridiagonal_eigenvalue(alpha, beta, alpha.size() - 1);
    result.smallest = tridiagonal_eigenvalue(alpha, beta, 0);
    const double b = std::sqrt(dot(w, w));
    // b ~ 0: the v's span an invariant subspace, whose eigenvalues T's are
    const double size = std::max(std::abs(result.eigenvalue), std::abs(result.smallest));
    if ((k > 1 && std::abs(result.eigenvalue - previous) <=
                      options.tolerance * std::abs(result.eigenvalue)) ||
        b <= 1e-12 * size || size == 0.0) {
      result.converged = true;
      break;
    }
    previous = result.eigenvalue;
    beta.push_back(b);
    scale(w, 1.0 / b);
    v = w;
  }
  // the Ritz vector of the largest eigenvalue: V s, s its eigenvector of T
  const std::vector<double> s = tridiagonal_eigenvector(alpha, beta, result.eigenvalue);
  result.eigenvector = zeros(flat.params.shape(), flat.params.dtype());
  for (std::size_t k = 0; k < basis.size(); ++k) axpy(result.eigenvector, s[k], basis[k]);
  scale(result.eigenvector, 1.0 / std::sqrt(dot(result.eigenvector, result.eigenvector)));
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

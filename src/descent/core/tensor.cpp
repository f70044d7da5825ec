#include "descent/core/tensor.hpp"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>

#include "descent/core/allocator.hpp"
#include "descent/core/parallel.hpp"
#include "descent/core/pool.hpp"

namespace descent {

std::string shape_str(const Shape& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + ")";
}

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::shared_ptr<TensorImpl> make_tensor_impl() {
  return std::allocate_shared<TensorImpl>(pool::Allocator<TensorImpl>());
}

Storage::Storage(std::size_t bytes) : data(allocate(bytes)), nbytes(bytes) {}
Storage::~Storage() {
  deallocate(data, nbytes);
}

std::int64_t Tensor::size(std::int64_t d) const {
  const std::int64_t rank = dim();
  const std::int64_t index = d < 0 ? d + rank : d;
  DESCENT_CHECK(index >= 0 && index < rank, "Tensor::size: dimension ", d,
                " out of range for shape ", shape_str(shape()));
  return shape()[index];
}

namespace {

template <typename T>
double load(const void* data, std::int64_t i) {
  return static_cast<double>(static_cast<const T*>(data)[i]);
}

double load_any(DType dtype, const void* data, std::int64_t i) {
  switch (dtype) {
    case DType::f32:
      return load<float>(data, i);
    case DType::f64:
      return load<double>(data, i);
    case DType::bf16:
      return load<BFloat16>(data, i);
    case DType::f16:
      return load<Half>(data, i);
    case DType::i32:
      return load<std::int32_t>(data, i);
    case DType::i64:
      return load<std::int64_t>(data, i);
    case DType::u8:
      return load<std::uint8_t>(data, i);
    default:
      break;
  }
  throw Error(cat("Tensor: dtype ", dtype_name(dtype), " is not supported yet here"));
}

// value as an integer of type I, truncated toward zero as C++ (and PyTorch) convert; a value
// outside I's range or not finite is an Error (the cast itself would be undefined behaviour:
// garbage, not a wrap).
template <typename I>
I to_integer(double value, DType dtype) {
  // the bounds are exact doubles: -2^(bits-1) or 0, and 2^(bits-1) or 2^bits (one past)
  constexpr double lowest = static_cast<double>(std::numeric_limits<I>::min());
  constexpr double past = 2.0 * (static_cast<double>(std::numeric_limits<I>::max() / 2) + 1.0);
  DESCENT_CHECK(std::isfinite(value) && std::trunc(value) >= lowest && std::trunc(value) < past,
                "Tensor: the value ", value, " does not fit in ", dtype_name(dtype), " (",
                +std::numeric_limits<I>::min(), " to ", +std::numeric_limits<I>::max(), ")");
  return static_cast<I>(value);
}

void store_any(DType dtype, void* data, std::int64_t i, double value) {
  switch (dtype) {
    case DType::f32:
      static_cast<float*>(data)[i] = static_cast<float>(value);
      return;
    case DType::f64:
      static_cast<double*>(data)[i] = value;
      return;
    case DType::bf16:  // through f32, as PyTorch converts a double
      static_cast<BFloat16*>(data)[i] = BFloat16(static_cast<float>(value));
      return;
    case DType::f16:
      static_cast<Half*>(data)[i] = Half(static_cast<float>(value));
      return;
    case DType::i32:
      static_cast<std::int32_t*>(data)[i] = to_integer<std::int32_t>(value, dtype);
      return;
    case DType::i64:
      static_cast<std::int64_t*>(data)[i] = to_integer<std::int64_t>(value, dtype);
      return;
    case DType::u8:
      static_cast<std::uint8_t*>(data)[i] = to_integer<std::uint8_t>(value, dtype);
      return;
    default:
      break;
  }
  throw Error(cat("Tensor: dtype ", dtype_name(dtype), " is not supported yet here"));
}

void check_shape(const Shape& shape, const char* op) {
  for (std::int64_t d : shape) {
    DESCENT_CHECK(d >= 0, op, ": negative dimension in shape ", shape_str(shape));
  }
}

}  // namespace

double Tensor::item() const {
  DESCENT_CHECK(numel() == 1, "Tensor::item: needs exactly one element, tensor has shape ",
                shape_str(shape()));
  return load_any(dtype(), raw_data(), 0);
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> out(static_cast<std::size_t>(numel()));
  for (std::int64_t i = 0; i < numel(); ++i) out[i] = load_any(dtype(), raw_data(), i);
  return out;
}

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  DESCENT_CHECK(!requires_grad || is_floating(dtype()),
                "set_requires_grad: only floating-point tensors can require gradients, got ",
                dtype_name(dtype()));
  DESCENT_CHECK(is_leaf(),
                "set_requires_grad: only a leaf tensor's flag can be set; this one was "
                "made by an op (use detach() first)");
  impl().requires_grad = requires_grad;
  return *this;
}

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined()) {
    DESCENT_CHECK(grad.shape() == shape() && grad.dtype() == dtype(), "set_grad: gradient ",
                  shape_str(grad.shape()), " ", dtype_name(grad.dtype()), " does not match tensor ",
                  shape_str(shape()), " ", dtype_name(dtype()));
  }
  impl().grad = grad.impl_ptr();
}

Tensor Tensor::detach() const {
  auto out = make_tensor_impl();
  out->storage = impl().storage;
  out->offset_bytes = impl().offset_bytes;
  out->shape = impl().shape;
  out->numel = impl().numel;
  out->dtype = impl().dtype;
  return Tensor(std::move(out));
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  std::memcpy(out.raw_data(), raw_data(), nbytes());
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return clone();
  Tensor out = empty(shape(), target);
  const std::int64_t n = numel();
  if (dtype() == DType::f32 && target == DType::f64) {
    const float* src = data<float>();
    double* dst = out.data<double>();
    for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else if (dtype() == DType::f64 && target == DType::f32) {
    const double* src = data<double>();
    float* dst = out.data<float>();
    for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
  } else if (dtype() == DType::f32 && target == DType::bf16) {
    convert(data<float>(), out.data<BFloat16>(), n);
  } else if (dtype() == DType::f32 && target == DType::f16) {
    convert(data<float>(), out.data<Half>(), n);
  } else if (dtype() == DType::bf16 && target == DType::f32) {
    convert(data<BFloat16>(), out.data<float>(), n);
  } else if (dtype() == DType::f16 && target == DType::f32) {
    convert(data<Half>(), out.data<float>(), n);
  } else {
    for (std::int64_t i = 0; i < n; ++i) {
      store_any(target, out.raw_data(), i, load_any(dtype(), raw_data(), i));
    }
  }
  return out;
}

Tensor Tensor::view_of(std::int64_t element_offset, const Shape& view_shape) const {
  check_shape(view_shape, "view_of");
  const std::int64_t count = shape_numel(view_shape);
  const std::size_t start = impl().offset_bytes + element_offset * dtype_size(dtype());
  DESCENT_CHECK(
      element_offset >= 0 && start + count * dtype_size(dtype()) <= impl().storage->nbytes,
      "view_of: view ", shape_str(view_shape), " at element ", element_offset,
      " runs past the end of a storage of ", impl().storage->nbytes, " bytes");
  auto out = make_tensor_impl();
  out->storage = impl().storage;
  out->offset_bytes = start;
  out->shape = view_shape;
  out->numel = count;
  out->dtype = dtype();
  return Tensor(std::move(out));
}

Tensor& Tensor::fill_(double value) {
  const std::int64_t n = numel();
  switch (dtype()) {
    case DType::f32: {
      float* p = data<float>();
      const float v = static_cast<float>(value);
      parallel_simd_if(n > kParallelElements, n, [=](std::int64_t i) { p[i] = v; });
      break;
    }
    case DType::f64: {
      double* p = data<double>();
      parallel_simd_if(n > kParallelElements, n, [=](std::int64_t i) { p[i] = value; });
      break;
    }
    case DType::bf16:
    case DType::f16: {
      // one conversion, then a fill of the 16-bit pattern
      const float narrowed = static_cast<float>(value);
      const std::uint16_t bits =
          dtype() == DType::bf16 ? bf16_bits_from_float(narrowed) : f16_bits_from_float(narrowed);
      auto* p = static_cast<std::uint16_t*>(raw_data());
      parallel_simd_if(n > kParallelElements, n, [=](std::int64_t i) { p[i] = bits; });
      break;
    }
    default:
      for (std::int64_t i = 0; i < n; ++i) store_any(dtype(), raw_data(), i, value);
  }
  return *this;
}

Tensor& Tensor::copy_(const Tensor& source) {
  DESCENT_CHECK(source.shape() == shape(), "copy_: source shape ", shape_str(source.shape()),
                " differs from destination ", shape_str(shape()));
  if (source.dtype() == dtype()) {
    std::memmove(raw_data(), source.raw_data(), nbytes());
  } else {
    Tensor converted = source.to(dtype());
    std::memcpy(raw_data(), converted.raw_data(), nbytes());
  }
  return *this;
}

namespace {

void print_recursive(std::ostream& out, const Tensor& t, std::int64_t dim, std::int64_t offset,
                     int indent) {
  const std::int64_t n = t.shape()[dim];
  std::int64_t stride = 1;
  for (std::int64_t d = dim + 1; d < t.dim(); ++d) stride *= t.shape()[d];
  constexpr std::int64_t kEdge = 3;
  const bool elide = n > 2 * kEdge + 1;
  out << "[";
  for (std::int64_t i = 0; i < n; ++i) {
    if (elide && i == kEdge) {
      out << (dim + 1 == t.dim() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdge;
    }
    if (dim + 1 == t.dim()) {
      const double v = load_any(t.dtype(), t.raw_data(), offset + i);
      if (is_floating(t.dtype())) {
        out << std::fixed << std::setprecision(4) << v;
      } else {
        out << static_cast<std::int64_t>(v);
      }
    } else {
      print_recursive(out, t, dim + 1, offset + i * stride, indent + 1);
    }
    if (i + 1 < n) out << (dim + 1 == t.dim() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  out << "]";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream out;
  out << "tensor(";
  if (dim() == 0) {
    const double v = load_any(dtype(), raw_data(), 0);
    if (is_floating(dtype())) {
      out << std::fixed << std::setprecision(4) << v;
    } else {
      out << static_cast<std::int64_t>(v);
    }
  } else if (numel() == 0) {
    out << "[]";
  } else {
    print_recursive(out, *this, 0, 0, 7);
  }
  out << ", shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (requires_grad()) out << ", requires_grad=true";
  out << ")";
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  return out << tensor.str();
}

Tensor empty(const Shape& shape, DType dtype) {
  check_shape(shape, "empty");
  auto impl = make_tensor_impl();
  impl->shape = shape;
  impl->numel = shape_numel(shape);
  impl->dtype = dtype;
  impl->storage =
      std::allocate_shared<Storage>(pool::Allocator<Storage>(), impl->numel * dtype_size(dtype));
  return Tensor(std::move(impl));
}

Tensor zeros(const Shape& shape, DType dtype) {
  return full(shape, 0.0, dtype);
}
Tensor ones(const Shape& shape, DType dtype) {
  return full(shape, 1.0, dtype);
}
Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor out = empty(shape, dtype);
  out.fill_(value);
  return out;
}
Tensor zeros_like(const Tensor& like) {
  return zeros(like.shape(), like.dtype());
}
Tensor ones_like(const Tensor& like) {
  return ones(like.shape(), like.dtype());
}
Tensor empty_like(const Tensor& like) {
  return empty(like.shape(), like.dtype());
}
Tensor scalar(double value, DType dtype) {
  return full({}, value, dtype);
}

Tensor arange(double start, double end, double step, DType dtype) {
  DESCENT_CHECK(step != 0.0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
                "arange: needs finite start, end and a non-zero step, got start=", start,
                " end=", end, " step=", step);
  const double count = std::ceil((end - start) / step);
  const std::int64_t n = count > 0 ? static_cast<std::int64_t>(count) : 0;
  Tensor out = empty({n}, dtype);
  for (std::int64_t i = 0; i < n; ++i) store_any(dtype, out.raw_data(), i, start + i * step);
  return out;
}

Tensor arange(std::int64_t end, DType dtype) {
  return arange(0.0, static_cast<double>(end), 1.0, dtype);
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  const Shape actual = shape.empty() ? Shape{static_cast<std::int64_t>(values.size())} : shape;
  check_shape(actual, "from_vector");
  DESCENT_CHECK(shape_numel(actual) == static_cast<std::int64_t>(values.size()),
                "from_vector: ", values.size(), " values do not fill shape ", shape_str(actual));
  Tensor out = empty(actual, dtype);
  for (std::size_t i = 0; i < values.size(); ++i) store_any(dtype, out.raw_data(), i, values[i]);
  return out;
}

Tensor tensor(std::initializer_list<double> values, const Shape& shape, DType dtype) {
  return from_vector(std::vector<double>(values), shape, dtype);
}

void uniform_(Tensor& t, double low, double high, Generator& gen) {
  DESCENT_CHECK(low <= high, "uniform: low must not exceed high, got low=", low, " high=", high);
  const std::int64_t n = t.numel();
  const std::uint64_t first = gen.reserve(static_cast<std::uint64_t>(n));
  const std::uint64_t key = gen.seed();
  dispatch_float(t.dtype(), "uniform", [&]<typename T>() {
    T* p = t.data<T>();
    parallel_for_if(n > 16384, n, [=](std::int64_t i) {
      const auto words = philox4x32(first + i, key);
      double u;
      if constexpr (std::is_same_v<T, float>) {
        u = uniform01_f32(words[0]);
      } else {
        u = uniform01_f64(words[0], words[1]);
      }
      p[i] = static_cast<T>(low + (high - low) * u);
    });
  });
}

void normal_(Tensor& t, double mean, double stddev, Generator& gen) {
  DESCENT_CHECK(stddev >= 0, "normal: stddev must be >= 0, got ", stddev);
  const std::int64_t n = t.numel();
  const std::uint64_t first = gen.reserve(static_cast<std::uint64_t>(n));
  const std::uint64_t key = gen.seed();
  dispatch_float(t.dtype(), "normal", [&]<typename T>() {
    T* p = t.data<T>();
    parallel_for_if(n > 16384, n, [=](std::int64_t i) {
      // Box-Muller on two independent uniforms of the element's own counter.
      const auto words = philox4x32(first + i, key);
      const double u1 = 1.0 - uniform01_f64(words[0], words[1]);  // (0, 1]
      const double u2 = uniform01_f64(words[2], words[3]);
      const double radius = std::sqrt(-2.0 * std::log(u1));
      p[i] = static_cast<T>(mean + stddev * radius * std::cos(2.0 * M_PI * u2));
    });
  });
}

Tensor rand(const Shape& shape, Generator& gen, DType dtype) {
  return uniform(shape, 0.0, 1.0, gen, dtype);
}
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  Tensor out = empty(shape, dtype);
  uniform_(out, low, high, gen);
  return out;
}
Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  return normal(shape, 0.0, 1.0, gen, dtype);
}
Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen, DType dtype) {
  Tensor out = empty(shape, dtype);
  normal_(out, mean, stddev, gen);
  return out;
}

void set_num_threads(int threads) {
  DESCENT_CHECK(threads >= 1, "set_num_threads: needs at least 1 thread, got ", threads);
  omp_set_num_threads(threads);
}
int num_threads() {
  return omp_get_max_threads();
}

}  // namespace descent

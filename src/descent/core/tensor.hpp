// Tensor: a shared handle to a shape, a dtype and contiguous row-major storage.
//
// ====== Intended usage ======
//   Generator gen(42);
//   Tensor w = randn({256, 784}, gen).set_requires_grad(true);   // (out, in)
//   Tensor x = zeros({128, 784});                                  // (N, in)
//   Tensor y = ops::linear(x, w);                                  // (N, out)
//   ops::sum(y).backward();                                        // fills w.grad()
//
// Copying a Tensor copies the handle, not the data (as in PyTorch). Storage is always
// contiguous and row-major; it starts 64-byte aligned (a view, such as a parameter inside
// the flat buffer, starts where its offset puts it). Ops that change the layout
// (transpose, permute) copy.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "descent/core/dtype.hpp"
#include "descent/core/error.hpp"
#include "descent/core/rng.hpp"
#include "descent/core/shape.hpp"

namespace descent {

// "(2, 3, 4)"; "()" for a scalar.
std::string shape_str(const Shape& shape);
std::int64_t shape_numel(const Shape& shape);

namespace autograd {
struct Node;
}

// Owns one block from the caching allocator.
struct Storage {
  explicit Storage(std::size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  std::size_t nbytes = 0;
};

class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::size_t offset_bytes = 0;
  Shape shape;
  std::int64_t numel = 0;
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;         // accumulated gradient (leaves only)
  std::shared_ptr<autograd::Node> grad_fn;  // the op that made this tensor, if recorded
};

// A new, empty TensorImpl from the small-object pool (core/pool.hpp): no heap allocation once
// a training loop runs in steady state.
std::shared_ptr<TensorImpl> make_tensor_impl();

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor; defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl().shape.size()); }
  // Size of dimension d; negative d counts from the end.
  std::int64_t size(std::int64_t d) const;
  std::int64_t numel() const { return impl().numel; }
  DType dtype() const { return impl().dtype; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

  void* raw_data() const { return static_cast<char*>(impl().storage->data) + impl().offset_bytes; }
  // Typed pointer to the elements; throws if T does not match the dtype.
  template <typename T>
  T* data() const {
    DESCENT_CHECK(dtype() == dtype_of<T>(), "Tensor::data: tensor holds ", dtype_name(dtype()),
                  ", asked for ", dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw_data());
  }

  // The value of a one-element tensor, as double.
  double item() const;
  template <typename T>
  T item() const {
    return static_cast<T>(item());
  }
  // All elements as doubles (for tests and printing).
  std::vector<double> to_vector() const;

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as a parameter whose gradient backward() accumulates. Returns *this.
  Tensor& set_requires_grad(bool requires_grad);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  // The accumulated gradient, or an undefined tensor.
  Tensor grad() const { return Tensor(impl().grad); }
  void set_grad(const Tensor& grad);
  // Back-propagates from this tensor. A non-scalar needs `gradient` (same shape). The graph's
  // saved tensors are freed afterwards unless retain_graph is true. (Defined in autograd.)
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  // Same storage, no history.
  Tensor detach() const;

  // ---- copies and views ----
  Tensor clone() const;  // new storage, no history
  Tensor to(DType dtype) const;
  // A view of `shape` starting `element_offset` elements into this tensor's storage (no
  // copy, no history). Used for parameters inside the flat buffer.
  Tensor view_of(std::int64_t element_offset, const Shape& shape) const;
  // In-place, no history: fill with a value, copy from a tensor of the same shape.
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& source);
  Tensor& zero_() { return fill_(0.0); }

  bool same_storage(const Tensor& other) const {
    return defined() && other.defined() && impl_->storage == other.impl_->storage;
  }
  // The storage, without keeping it alive: for caches keyed on a tensor's memory that must
  // not hold it (ops/autocast.cpp).
  std::weak_ptr<const Storage> weak_storage() const { return impl().storage; }

  std::string str() const;
  TensorImpl& impl() const {
    DESCENT_CHECK(impl_ != nullptr, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// ---- creation ----
Tensor empty(const Shape& shape, DType dtype = DType::f32);
Tensor zeros(const Shape& shape, DType dtype = DType::f32);
Tensor ones(const Shape& shape, DType dtype = DType::f32);
Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
Tensor zeros_like(const Tensor& like);
Tensor ones_like(const Tensor& like);
Tensor empty_like(const Tensor& like);
Tensor scalar(double value, DType dtype = DType::f32);
// [start, end) by step, as torch.arange.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::f32);
Tensor arange(std::int64_t end, DType dtype = DType::i64);
// From values; shape defaults to (values.size(),). Converted to dtype.
Tensor from_vector(const std::vector<double>& values, const Shape& shape = {},
                   DType dtype = DType::f32);
Tensor tensor(std::initializer_list<double> values, const Shape& shape = {},
              DType dtype = DType::f32);

// Random draws; each element i uses counter gen.offset()+i, so results are independent of
// the thread count.
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32);  // U[0, 1)
Tensor uniform(const Shape& shape, double low, double high, Generator& gen,
               DType dtype = DType::f32);
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32);  // N(0, 1)
Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen,
              DType dtype = DType::f32);
// In place, no history: fills t from U[low, high) / N(mean, stddev).
void uniform_(Tensor& t, double low, double high, Generator& gen);
void normal_(Tensor& t, double mean, double stddev, Generator& gen);

// ---- threads ----
// Threads used by descent's kernels (OpenMP). Defaults to OpenMP's default.
void set_num_threads(int threads);
int num_threads();

}  // namespace descent

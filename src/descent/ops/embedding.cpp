// Embedding lookup, as torch.nn.functional.embedding (without padding_idx or max_norm).
#include "descent/ops/embedding.hpp"

#include <cstring>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel_reduce.hpp"

namespace descent::ops {
namespace {
constexpr std::int64_t kParallelThreshold = 32768;
}  // namespace

Tensor embedding(const Tensor& indices, const Tensor& weight) {
  DESCENT_CHECK(weight.dtype() == DType::f32 || weight.dtype() == DType::f64,
                "embedding: expected weight of f32 or f64, got ", dtype_name(weight.dtype()), " ",
                shape_str(weight.shape()));
  DESCENT_CHECK(weight.dim() == 2, "embedding: expected weight (V, D), got ",
                shape_str(weight.shape()));
  DESCENT_CHECK(indices.dtype() == DType::i64 || indices.dtype() == DType::i32,
                "embedding: expected indices of i64 or i32, got ", dtype_name(indices.dtype()), " ",
                shape_str(indices.shape()));
  const std::int64_t V = weight.size(0);
  const std::int64_t D = weight.size(1);
  const Tensor index = indices.dtype() == DType::i64 ? indices.detach() : indices.to(DType::i64);
  const std::int64_t* at = index.data<std::int64_t>();
  const std::int64_t n = index.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    DESCENT_CHECK(at[i] >= 0 && at[i] < V, "embedding: index ", at[i], " at position ", i,
                  " is out of range for V = ", V, " (weight ", shape_str(weight.shape()),
                  ", indices ", shape_str(indices.shape()), ")");
  }
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor out = empty(out_shape, weight.dtype());
  const std::size_t row_bytes = static_cast<std::size_t>(D) * dtype_size(weight.dtype());
  const char* table = static_cast<const char*>(weight.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for_if(n * D > kParallelThreshold, n, [=](std::int64_t i) {
    std::memcpy(dst + i * row_bytes, table + at[i] * row_bytes, row_bytes);
  });
  return autograd::record(
      "embedding", out, {weight}, [index, V, D](const Tensor& grad, const autograd::Node&) {
        // Scatter-add of the rows of grad into the rows they were read from.
        // The positions are grouped by row first (a counting sort), so that
        // each row of the weight's gradient is summed by one thread in position
        // order: deterministic, no atomics.
        const std::int64_t* at = index.data<std::int64_t>();
        const std::int64_t n = index.numel();
        std::vector<std::int64_t> start(static_cast<std::size_t>(V + 1), 0);
        for (std::int64_t i = 0; i < n; ++i) ++start[at[i] + 1];
        for (std::int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
        std::vector<std::int64_t> positions(static_cast<std::size_t>(n));
        std::vector<std::int64_t> fill(start.begin(), start.end() - 1);
        for (std::int64_t i = 0; i < n; ++i) positions[fill[at[i]]++] = i;

        Tensor gw = zeros({V, D}, grad.dtype());
        dispatch_float(grad.dtype(), "embedding backward", [&]<typename T>() {
          const T* pg = grad.data<T>();
          T* pw = gw.data<T>();
          const std::int64_t* first = start.data();
          const std::int64_t* order = positions.data();
          parallel_for_dynamic_if(n * D > kParallelThreshold, V, 16, [=](std::int64_t v) {
            T* row = pw + v * D;
            for (std::int64_t k = first[v]; k < first[v + 1]; ++k) {
              const T* from = pg + order[k] * D;
#pragma omp simd
              for (std::int64_t d = 0; d < D; ++d) row[d] += from[d];
            }
          });
        });
        return autograd::Grads{gw};
      });
}

}  // namespace descent::ops

#include "descent/ops/shape.hpp"

#include <algorithm>
#include <cstring>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel_reduce.hpp"
#include "descent/ops/reduce.hpp"

namespace descent::ops {
namespace {

constexpr std::int64_t kParallelThreshold = 32768;

// Calls fn.template operator()<U>() with U an unsigned type of the dtype's size: the copies
// here move elements without looking at them, so they serve every dtype.
template <typename Fn>
void dispatch_bytes(DType dtype, Fn&& fn) {
  switch (dtype_size(dtype)) {
    case 1:
      fn.template operator()<std::uint8_t>();
      return;
    case 2:
      fn.template operator()<std::uint16_t>();
      return;
    case 4:
      fn.template operator()<std::uint32_t>();
      return;
    default:
      fn.template operator()<std::uint64_t>();
      return;
  }
}

// ---- permute

struct Axis {
  std::int64_t size;
  std::int64_t in_stride;   // element stride of this output axis in the input
  std::int64_t out_stride;  // element stride in the (row-major) output
};

// Output axes of x permuted by perm, without size-1 axes and with neighbours merged where
// the input already holds them contiguously (e.g. (N, C, H, W) -> (N, H, W, C) becomes
// the transpose (N, C, H*W) -> (N, H*W, C)).
std::vector<Axis> permuted_axes(const Shape& shape, const std::vector<std::int64_t>& perm) {
  std::vector<std::int64_t> in_strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    in_strides[d] = stride;
    stride *= shape[d];
  }
  std::vector<Axis> axes;
  for (std::int64_t d : perm) {
    if (shape[d] == 1) continue;
    if (!axes.empty() && axes.back().in_stride == in_strides[d] * shape[d]) {
      axes.back().size *= shape[d];
      axes.back().in_stride = in_strides[d];
    } else {
      axes.push_back({shape[d], in_strides[d], 0});
    }
  }
  stride = 1;
  for (std::size_t k = axes.size(); k-- > 0;) {
    axes[k].out_stride = stride;
    stride *= axes[k].size;
  }
  return axes;
}

// Input and output offsets of multi-index `index` over the axes other than skip0/skip1.
void offsets_of(std::int64_t index, const std::vector<Axis>& axes, std::size_t skip0,
                std::size_t skip1, std::int64_t* in, std::int64_t* out) {
  *in = 0;
  *out = 0;
  for (std::size_t k = axes.size(); k-- > 0;) {
    if (k == skip0 || k == skip1) continue;
    const std::int64_t i = index % axes[k].size;
    index /= axes[k].size;
    *in += i * axes[k].in_stride;
    *out += i * axes[k].out_stride;
  }
}

Tensor permute_raw(const Tensor& x, const std::vector<std::int64_t>& perm) {
  Shape out_shape(perm.size());
  for (std::size_t k = 0; k < perm.size(); ++k) out_shape[k] = x.shape()[perm[k]];
  Tensor out = empty(out_shape, x.dtype());
  const std::int64_t n = x.numel();
  const auto axes = permuted_axes(x.shape(), perm);
  if (n == 0) return out;
  if (axes.size() <= 1) {
    std::memcpy(out.raw_data(), x.raw_data(), x.nbytes());
    return out;
  }
  const std::size_t last = axes.size() - 1;
  dispatch_bytes(x.dtype(), [&]<typename U>() {
    const U* src = static_cast<const U*>(x.raw_data());
    U* dst = static_cast<U*>(out.raw_data());
    if (axes[last].in_stride == 1) {
      // The last axis stays contiguous: copy whole rows.
      const std::int64_t width = axes[last].size;
      // axes by reference: a copy per thread would allocate
      const bool parallel = n > kParallelThreshold;
      parallel_for_if(parallel, n / width, [&axes, last, src, dst, width](std::int64_t row) {
        std::int64_t in = 0;
        std::int64_t at = 0;
        offsets_of(row, axes, last, last, &in, &at);
        std::memcpy(dst + at, src + in, width * sizeof(U));
      });
      return;
    }
    // A transpose between axis `unit` (contiguous in the input) and the last axis, in
    // 8 x 8 tiles: a tile reads 8 input lines and writes 8 output lines, few enough to stay
    // in L1 even when a power-of-two stride maps them all to one cache set. A full tile goes
    // through a small buffer, which the compiler turns into register shuffles. A task is
    // one strip of 8 along the last axis, for one index of the other axes.
    constexpr std::int64_t kTile = 8;
    std::size_t unit = 0;
    while (axes[unit].in_stride != 1) ++unit;
    const std::int64_t K = axes[unit].size;
    const std::int64_t L = axes[last].size;
    const std::int64_t in_l = axes[last].in_stride;    // input stride along the last axis
    const std::int64_t out_k = axes[unit].out_stride;  // output stride along `unit`
    const std::int64_t strips = (L + kTile - 1) / kTile;
    const std::int64_t others = n / (K * L);
    const bool parallel = n > kParallelThreshold;
    parallel_for_if(parallel, others * strips,
                    [&axes, unit, last, src, dst, K, L, in_l, out_k, strips](std::int64_t task) {
                      std::int64_t in = 0;
                      std::int64_t at = 0;
                      offsets_of(task / strips, axes, unit, last, &in, &at);
                      const U* from = src + in;
                      U* to = dst + at;
                      const std::int64_t l0 = (task % strips) * kTile;
                      const std::int64_t l1 = std::min(L, l0 + kTile);
                      U tile[kTile][kTile];
                      for (std::int64_t k0 = 0; k0 < K; k0 += kTile) {
                        const std::int64_t k1 = std::min(K, k0 + kTile);
                        if (k1 - k0 == kTile && l1 - l0 == kTile) {
                          for (std::int64_t l = 0; l < kTile; ++l) {
                            for (std::int64_t k = 0; k < kTile; ++k)
                              tile[k][l] = from[k0 + k + (l0 + l) * in_l];
                          }
                          for (std::int64_t k = 0; k < kTile; ++k) {
                            for (std::int64_t l = 0; l < kTile; ++l)
                              to[(k0 + k) * out_k + l0 + l] = tile[k][l];
                          }
                        } else {
                          for (std::int64_t k = k0; k < k1; ++k) {
                            for (std::int64_t l = l0; l < l1; ++l)
                              to[k * out_k + l] = from[k + l * in_l];
                          }
                        }
                      }
                    });
  });
  return out;
}

// ---- row copies for slice and concat
//
// dst[o * dst.outer + dst.first + i * dst.step + j] = src[o * src.outer + src.first +
// i * src.step + j] for o < outer, i < count, j < width (element offsets).
struct Lines {
  std::int64_t outer;
  std::int64_t first;
  std::int64_t step;
};

void copy_lines(const Tensor& src, Tensor& dst, std::int64_t outer, std::int64_t count,
                std::int64_t width, Lines from, Lines to) {
  const std::int64_t n = outer * count * width;
  if (n == 0) return;
  dispatch_bytes(src.dtype(), [&]<typename U>() {
    const U* ps = static_cast<const U*>(src.raw_data());
    U* pd = static_cast<U*>(dst.raw_data());
    if (width == 1) {  // a strided gather, e.g. slicing the last dimension with a step
      parallel_for_if(n > kParallelThreshold, outer, [=](std::int64_t o) {
        const U* s = ps + o * from.outer + from.first;
        U* d = pd + o * to.outer + to.first;
        for (std::int64_t i = 0; i < count; ++i) d[i * to.step] = s[i * from.step];
      });
      return;
    }
    parallel_for_2d_if(n > kParallelThreshold, outer, count, [=](std::int64_t o, std::int64_t i) {
      const U* s = ps + o * from.outer + from.first + i * from.step;
      U* d = pd + o * to.outer + to.first + i * to.step;
      for (std::int64_t j = 0; j < width; ++j) d[j] = s[j];
    });
  });
}

// Sizes before, at and after dimension d.
struct Split {
  std::int64_t outer = 1;
  std::int64_t size = 1;
  std::int64_t inner = 1;
};
Split split_at(const Shape& shape, std::int64_t d) {
  Split split;
  split.size = shape[d];
  for (std::int64_t k = 0; k < d; ++k) split.outer *= shape[k];
  for (std::size_t k = d + 1; k < shape.size(); ++k) split.inner *= shape[k];
  return split;
}

std::string shapes_str(std::span<const Tensor> tensors) {
  std::string text;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (i > 0) text += ", ";
    text += tensors[i].defined() ? shape_str(tensors[i].shape()) : "undefined";
  }
  return text;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape target = shape;
  std::int64_t known = 1;
  std::int64_t infer = -1;
  for (std::size_t k = 0; k < target.size(); ++k) {
    if (target[k] == -1) {
      DESCENT_CHECK(infer < 0, "reshape: only one dimension may be -1, got ", shape_str(shape));
      infer = static_cast<std::int64_t>(k);
    } else {
      DESCENT_CHECK(target[k] >= 0, "reshape: bad dimension in ", shape_str(shape));
      known *= target[k];
    }
  }
  if (infer >= 0) {
    DESCENT_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ",
                  shape_str(x.shape()), " into ", shape_str(shape));
    target[infer] = x.numel() / known;
  }
  DESCENT_CHECK(shape_numel(target) == x.numel(), "reshape: cannot reshape ", shape_str(x.shape()),
                " (", x.numel(), " elements) into ", shape_str(shape));
  Tensor out = x.detach().view_of(0, target);
  return autograd::record("reshape", out, {x},
                          [in_shape = x.shape()](const Tensor& grad, const autograd::Node&) {
                            return autograd::Grads{reshape(grad, in_shape)};
                          });
}

Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const std::int64_t start = normalize_dim(start_dim, x.shape(), "flatten");
  const std::int64_t end = normalize_dim(end_dim, x.shape(), "flatten");
  DESCENT_CHECK(start <= end, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim,
                " for shape ", shape_str(x.shape()));
  Shape target;
  std::int64_t merged = 1;
  for (std::int64_t k = 0; k < x.dim(); ++k) {
    if (k < start || k > end) {
      target.push_back(x.shape()[k]);
    } else {
      merged *= x.shape()[k];
      if (k == end) target.push_back(merged);
    }
  }
  return reshape(x, target);
}

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  const std::int64_t rank = x.dim();
  auto not_a_permutation = [&] {
    std::string text = "(";
    for (std::size_t k = 0; k < dims.size(); ++k) text += (k ? ", " : "") + std::to_string(dims[k]);
    return cat("permute: dims ", text, ") are not a permutation of the ", rank, " dimensions of x ",
               shape_str(x.shape()));
  };
  DESCENT_CHECK(static_cast<std::int64_t>(dims.size()) == rank, not_a_permutation());
  std::vector<std::int64_t> perm(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t k = 0; k < dims.size(); ++k) {
    const std::int64_t d = dims[k] < 0 ? dims[k] + rank : dims[k];
    DESCENT_CHECK(d >= 0 && d < rank && !seen[d], not_a_permutation());
    seen[d] = true;
    perm[k] = d;
  }
  Tensor out = permute_raw(x, perm);
  std::vector<std::int64_t> inverse(perm.size());
  for (std::size_t k = 0; k < perm.size(); ++k) inverse[perm[k]] = static_cast<std::int64_t>(k);
  return autograd::record("permute", out, {x},
                          [inverse](const Tensor& grad, const autograd::Node&) {
                            return autograd::Grads{permute_raw(grad, inverse)};
                          });
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  const std::int64_t d0 = normalize_dim(dim0, x.shape(), "transpose");
  const std::int64_t d1 = normalize_dim(dim1, x.shape(), "transpose");
  if (x.dim() == 0) return permute(x, {});
  std::vector<std::int64_t> perm(x.dim());
  for (std::int64_t k = 0; k < x.dim(); ++k) perm[k] = k;
  std::swap(perm[d0], perm[d1]);
  return permute(x, perm);
}

Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end,
             std::int64_t step) {
  DESCENT_CHECK(x.dim() > 0, "slice: x must have at least one dimension, got ",
                shape_str(x.shape()));
  DESCENT_CHECK(step > 0, "slice: step must be positive, got ", step, " for x ",
                shape_str(x.shape()));
  const std::int64_t d = normalize_dim(dim, x.shape(), "slice");
  const Split split = split_at(x.shape(), d);
  // As Python slicing: negative bounds count from the end, then both clamp to [0, size].
  auto bound = [&](std::int64_t b) {
    if (b < 0) b += split.size;
    return std::clamp<std::int64_t>(b, 0, split.size);
  };
  const std::int64_t first = bound(start);
  const std::int64_t stop = bound(end);
  const std::int64_t count = stop > first ? 1 + (stop - first - 1) / step : 0;
  Shape out_shape = x.shape();
  out_shape[d] = count;
  Tensor out = empty(out_shape, x.dtype());
  const std::int64_t inner = split.inner;
  const std::int64_t stride = count > 1 ? step : 1;  // a huge step must not overflow
  const Lines in_lines{split.size * inner, first * inner, stride * inner};
  const Lines out_lines{count * inner, 0, inner};
  copy_lines(x, out, split.outer, count, inner, in_lines, out_lines);
  return autograd::record("slice", out, {x},
                          [shape = x.shape(), split, count, in_lines, out_lines](
                              const Tensor& grad, const autograd::Node&) {
                            Tensor gx = zeros(shape, grad.dtype());
                            copy_lines(grad, gx, split.outer, count, split.inner, out_lines,
                                       in_lines);
                            return autograd::Grads{gx};
                          });
}

Tensor concat(std::span<const Tensor> tensors, std::int64_t dim) {
  DESCENT_CHECK(!tensors.empty(), "concat: needs at least one tensor");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    DESCENT_CHECK(tensors[i].defined(), "concat: tensor ", i, " is undefined (shapes ",
                  shapes_str(tensors), ")");
  }
  const Tensor& head = tensors[0];
  DESCENT_CHECK(head.dim() > 0, "concat: tensors must have at least one dimension, got (",
                shapes_str(tensors), ")");
  const std::int64_t d = normalize_dim(dim, head.shape(), "concat");
  Shape out_shape = head.shape();
  out_shape[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    DESCENT_CHECK(t.dtype() == head.dtype(), "concat: tensor ", i, " is ", dtype_name(t.dtype()),
                  " but tensor 0 is ", dtype_name(head.dtype()), " (shapes ", shapes_str(tensors),
                  ")");
    bool same = t.dim() == head.dim();
    for (std::int64_t k = 0; same && k < head.dim(); ++k) {
      same = k == d || t.shape()[k] == head.shape()[k];
    }
    DESCENT_CHECK(same, "concat: tensor ", i, " has shape ", shape_str(t.shape()),
                  " but tensor 0 has shape ", shape_str(head.shape()),
                  "; they may differ only in dimension ", dim);
    out_shape[d] += t.shape()[d];
  }
  Tensor out = empty(out_shape, head.dtype());
  const Split whole = split_at(out_shape, d);
  // Each input is one block of size_i * inner elements per outer index.
  // pooled vectors (core/pool.hpp): no heap allocation once a loop is in steady state
  std::vector<Lines, pool::Allocator<Lines>> blocks;
  std::vector<std::int64_t, pool::Allocator<std::int64_t>> widths;
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {
    const std::int64_t width = t.shape()[d] * whole.inner;
    blocks.push_back({whole.size * whole.inner, offset, 0});
    widths.push_back(width);
    copy_lines(t, out, whole.outer, 1, width, {width, 0, 0}, blocks.back());
    offset += width;
  }
  std::vector<Shape, pool::Allocator<Shape>> shapes;
  for (const Tensor& t : tensors) shapes.push_back(t.shape());
  return autograd::record(
      "concat", out, tensors,
      [shapes = std::move(shapes), blocks = std::move(blocks), widths = std::move(widths),
       outer = whole.outer](const Tensor& grad, const autograd::Node& node) {
        autograd::Grads grads(shapes.size());
        for (std::size_t i = 0; i < shapes.size(); ++i) {
          if (!node.needs_grad(i)) continue;
          grads[i] = empty(shapes[i], grad.dtype());
          copy_lines(grad, grads[i], outer, 1, widths[i], blocks[i], {widths[i], 0, 0});
        }
        return grads;
      });
}

Tensor concat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  return concat(std::span<const Tensor>(tensors), dim);
}
Tensor concat(std::initializer_list<Tensor> tensors, std::int64_t dim) {
  return concat(std::span<const Tensor>(tensors.begin(), tensors.size()), dim);
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  DESCENT_CHECK(!tensors.empty(), "stack: needs at least one tensor");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    DESCENT_CHECK(tensors[i].defined(), "stack: tensor ", i, " is undefined (shapes ",
                  shapes_str(tensors), ")");
    DESCENT_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
                  shape_str(tensors[i].shape()), " but tensor 0 has shape ",
                  shape_str(tensors[0].shape()), "; all must be equal");
  }
  // The new dimension may go anywhere in 0..rank (negative counts from rank + 1).
  const std::int64_t rank = tensors[0].dim() + 1;
  DESCENT_CHECK(dim >= -rank && dim < rank, "stack: dimension ", dim,
                " is out of range for stacking tensors of shape ", shape_str(tensors[0].shape()),
                " (the result has rank ", rank, ")");
  const std::int64_t d = dim < 0 ? dim + rank : dim;
  Shape unsqueezed = tensors[0].shape();
  unsqueezed.insert(unsqueezed.begin() + d, 1);
  std::vector<Tensor> pieces;
  pieces.reserve(tensors.size());
  for (const Tensor& t : tensors) pieces.push_back(reshape(t, unsqueezed));
  return concat(pieces, d);
}

}  // namespace descent::ops

// Reductions (sum, mean, max, var, argmax) and shape ops (transpose, permute, slice, concat,
// stack): gradient checks, f32 against f64, and forward values against plain loops over
// multi-indices, on sizes that take the parallel and tiled paths.
#include <cstring>
#include <limits>

#include "op_cases.hpp"

namespace descent {
namespace {

using testing::Case;
using V = const std::vector<Tensor>&;

std::vector<Case> reduce_cases() {
  return {
      {"sum dim 0", [](V in) { return ops::sum(in[0], {0}); }, {{3, 5, 2}}},
      {"sum dim 1 keepdim", [](V in) { return ops::sum(in[0], {1}, true); }, {{3, 5, 2}}},
      {"sum dims 0 2 (two runs)",
       [](V in) {
         return ops::sum(in[0], {2, 0});
       },
       {{3, 5, 2}}},
      {"sum dims 1 2",
       [](V in) {
         return ops::sum(in[0], {-1, 1});
       },
       {{3, 5, 2}}},
      {"sum wide inner", [](V in) { return ops::sum(in[0], {1}); }, {{2, 3, 130}}},
      {"sum batch 1", [](V in) { return ops::sum(in[0], {0}); }, {{1, 7}}},
      {"sum all", [](V in) { return ops::sum(in[0]); }, {{3, 5, 2}}},
      {"mean dims",
       [](V in) {
         return ops::mean(in[0], {0, 2}, true);
       },
       {{3, 5, 2}}},
      {"max dim 0", [](V in) { return ops::max(in[0], 0); }, {{3, 5, 2}}},
      {"max dim 1 keepdim", [](V in) { return ops::max(in[0], 1, true); }, {{3, 5, 2}}},
      {"max last dim", [](V in) { return ops::max(in[0], -1); }, {{1, 7}}},
      {"max wide inner", [](V in) { return ops::max(in[0], 0); }, {{3, 131}}},
      {"max all", [](V in) { return ops::max(in[0]); }, {{3, 5, 2}}},
      {"var dim 1", [](V in) { return ops::var(in[0], {1}); }, {{3, 5, 2}}},
      {"var last biased", [](V in) { return ops::var(in[0], {-1}, false); }, {{1, 7}}},
      {"var dims 0 2 keepdim (permuted)",
       [](V in) {
         return ops::var(in[0], {0, 2}, true, true);
       },
       {{3, 5, 2}}},
      {"var dims 0 2 3 (batch-norm like)",
       [](V in) {
         return ops::var(in[0], {0, 2, 3}, false);
       },
       {{2, 3, 2, 2}}},
      {"var all", [](V in) { return ops::var(in[0], {}); }, {{4, 3}}},
  };
}

std::vector<Case> shape_cases() {
  return {
      {"transpose 0 2", [](V in) { return ops::transpose(in[0], 0, 2); }, {{3, 5, 2}}},
      {"transpose batch 1", [](V in) { return ops::transpose(in[0], 0, 1); }, {{1, 7}}},
      {"transpose tiled", [](V in) { return ops::transpose(in[0], -1, -2); }, {{2, 19, 21}}},
      {"permute",
       [](V in) {
         return ops::permute(in[0], {2, 0, 1});
       },
       {{3, 5, 2}}},
      {"permute NCHW to NHWC",
       [](V in) {
         return ops::permute(in[0], {0, 2, 3, 1});
       },
       {{2, 3, 4, 5}}},
      {"slice step 2", [](V in) { return ops::slice(in[0], 1, 0, 5, 2); }, {{3, 5, 2}}},
      {"slice negative", [](V in) { return ops::slice(in[0], -1, -5, -1); }, {{1, 7}}},
      {"slice step 3 dim 0", [](V in) { return ops::slice(in[0], 0, 1, 100, 3); }, {{8, 3}}},
      {"concat dim 0",
       [](V in) {
         return ops::concat({in[0], in[1], in[2]}, 0);
       },
       {{2, 3}, {1, 3}, {4, 3}}},
      {"concat dim 1",
       [](V in) {
         return ops::concat({in[0], in[1]}, 1);
       },
       {{3, 5, 2}, {3, 1, 2}}},
      {"concat last",
       [](V in) {
         return ops::concat({in[0], in[1]}, -1);
       },
       {{1, 7}, {1, 2}}},
      {"concat same input twice",
       [](V in) {
         return ops::concat({in[0], in[0]}, 0);
       },
       {{2, 3}}},
      {"stack dim 0",
       [](V in) {
         return ops::stack({in[0], in[1]}, 0);
       },
       {{3, 5, 2}, {3, 5, 2}}},
      {"stack dim 1",
       [](V in) {
         return ops::stack({in[0], in[1], in[2]}, 1);
       },
       {{1, 7}, {1, 7}, {1, 7}}},
      {"stack last",
       [](V in) {
         return ops::stack({in[0], in[1]}, -1);
       },
       {{4, 3}, {4, 3}}},
  };
}

TEST(Gradcheck, Reductions) {
  testing::run_gradcheck(reduce_cases());
}

TEST(Gradcheck, ShapeOps) {
  testing::run_gradcheck(shape_cases());
}

TEST(F32MatchesF64, ReductionsAndShapes) {
  testing::run_f32_matches_f64(reduce_cases());
  testing::run_f32_matches_f64(shape_cases());
}

// ---- plain-loop references

Shape unravel(std::int64_t index, const Shape& shape) {
  Shape at(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    at[d] = index % shape[d];
    index /= shape[d];
  }
  return at;
}

std::int64_t ravel(const Shape& at, const Shape& shape) {
  std::int64_t index = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) index = index * shape[d] + at[d];
  return index;
}

// For each element of x, the position of its output when `dims` are reduced (keepdim).
std::vector<std::int64_t> reduced_positions(const Shape& shape, std::vector<std::int64_t> dims) {
  const std::int64_t rank = static_cast<std::int64_t>(shape.size());
  Shape keep = shape;
  for (auto& d : dims) {
    if (d < 0) d += rank;
    keep[d] = 1;
  }
  // keep_stride[d]: stride of dim d in the kept output, 0 for a reduced dim.
  std::vector<std::int64_t> keep_stride(rank);
  std::int64_t stride = 1;
  for (std::int64_t d = rank - 1; d >= 0; --d) {
    keep_stride[d] = keep[d] == 1 ? 0 : stride;
    stride *= keep[d];
  }
  std::vector<std::int64_t> positions(shape_numel(shape));
  for (std::int64_t i = 0; i < shape_numel(shape); ++i) {
    std::int64_t rest = i;
    std::int64_t position = 0;
    for (std::int64_t d = rank - 1; d >= 0; --d) {
      position += (rest % shape[d]) * keep_stride[d];
      rest /= shape[d];
    }
    positions[i] = position;
  }
  return positions;
}

struct Naive {
  std::vector<double> sum, max, var;
  std::vector<std::int64_t> argmax;
};

Naive naive_reduce(const Tensor& x, const std::vector<std::int64_t>& dims, bool unbiased) {
  const auto positions = reduced_positions(x.shape(), dims);
  const auto values = x.to_vector();
  const std::int64_t outputs = *std::max_element(positions.begin(), positions.end()) + 1;
  const double count = static_cast<double>(x.numel() / outputs);
  Naive r;
  r.sum.assign(outputs, 0.0);
  r.max.assign(outputs, -INFINITY);
  r.var.assign(outputs, 0.0);
  r.argmax.assign(outputs, -1);
  for (std::size_t i = 0; i < values.size(); ++i) {
    r.sum[positions[i]] += values[i];
    if (values[i] > r.max[positions[i]]) {
      r.max[positions[i]] = values[i];
      // Only meaningful for one reduced dim: the coordinate along it.
      const std::int64_t d = dims[0] < 0 ? dims[0] + x.dim() : dims[0];
      std::int64_t inner = 1;
      for (std::int64_t k = d + 1; k < x.dim(); ++k) inner *= x.size(k);
      r.argmax[positions[i]] = (static_cast<std::int64_t>(i) / inner) % x.size(d);
    }
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double deviation = values[i] - r.sum[positions[i]] / count;
    r.var[positions[i]] += deviation * deviation;
  }
  for (double& v : r.var) v /= count - (unbiased ? 1 : 0);
  return r;
}

void expect_close(const Tensor& actual, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(actual.numel(), static_cast<std::int64_t>(expected.size()));
  const Tensor reference = from_vector(expected, {}, DType::f64).view_of(0, actual.shape());
  EXPECT_LE(testing::max_deviation(actual, reference), tol);
}

TEST(Reductions, MatchPlainLoopsOnLargeTensors) {
  Generator gen(11);
  const std::vector<std::vector<std::int64_t>> dim_sets = {{0},    {1},    {2},      {-1},
                                                           {0, 2}, {1, 2}, {0, 1, 2}};
  for (DType dtype : {DType::f64, DType::f32}) {
    Tensor x = randn({30, 41, 50}, gen, dtype);  // 61500 elements: the parallel paths
    const double tol = dtype == DType::f64 ? 1e-12 : 2e-5;
    for (const auto& dims : dim_sets) {
      SCOPED_TRACE(::testing::Message()
                   << dtype_name(dtype) << " dims " << dims.size() << " first " << dims[0]);
      const Naive r = naive_reduce(x, dims, true);
      expect_close(ops::sum(x, dims), r.sum, tol);
      expect_close(ops::var(x, dims), r.var, tol);
      if (dims.size() == 1) {
        expect_close(ops::max(x, dims[0]), r.max, 0.0);
        const auto index = ops::argmax(x, dims[0]).to_vector();
        ASSERT_EQ(index.size(), r.argmax.size());
        for (std::size_t k = 0; k < index.size(); ++k) {
          ASSERT_EQ(index[k], static_cast<double>(r.argmax[k])) << "output " << k;
        }
      }
    }
    const Naive all = naive_reduce(x, {0, 1, 2}, true);
    expect_close(ops::sum(x), all.sum, tol);
    expect_close(ops::max(x), all.max, 0.0);
  }
  // A long row: sum over the last dim of (2, 100000) runs in chunks.
  Tensor row = randn({2, 100000}, gen, DType::f64);
  expect_close(ops::sum(row, {1}), naive_reduce(row, {1}, true).sum, 1e-12);
}

TEST(Reductions, SameBitsForOneOrTwoThreads) {
  Generator gen(12);
  Tensor x = randn({64, 300, 7}, gen, DType::f32);
  const int threads = num_threads();
  auto run = [&] {
    std::vector<Tensor> results = {ops::sum(x),      ops::sum(x, {0}),    ops::sum(x, {1}),
                                   ops::sum(x, {2}), ops::sum(x, {0, 2}), ops::var(x, {0, 2}),
                                   ops::max(x, 1),   ops::softmax(x, 1),  ops::log_softmax(x, 2)};
    return results;
  };
  set_num_threads(1);
  const auto one = run();
  set_num_threads(2);
  const auto two = run();
  set_num_threads(threads);
  for (std::size_t k = 0; k < one.size(); ++k) {
    EXPECT_EQ(std::memcmp(one[k].raw_data(), two[k].raw_data(), one[k].nbytes()), 0)
        << "result " << k;
  }
}

TEST(Reductions, TiesNaNsAndKeepdim) {
  // max along a dim: the first maximal element gets the gradient.
  Tensor x = tensor({1, 3, 3, 2, 5, 5}, {2, 3}, DType::f64).set_requires_grad(true);
  Tensor m = ops::max(x, 1);
  EXPECT_EQ(m.to_vector(), (std::vector<double>{3, 5}));
  EXPECT_EQ(ops::argmax(x, 1).to_vector(), (std::vector<double>{1, 1}));
  EXPECT_EQ(ops::argmax(x, 1).dtype(), DType::i64);
  EXPECT_EQ(ops::argmax(x, 0, true).shape(), (Shape{1, 3}));
  EXPECT_EQ(ops::max(x, 0, true).shape(), (Shape{1, 3}));
  ops::sum(m).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 0, 0, 1, 0}));
  // Long rows (the blocked search): ties resolve to the first, a NaN wins wherever it is.
  Tensor longer = zeros({3, 40}, DType::f64);
  double* pl = longer.data<double>();
  pl[20] = pl[35] = 5;            // row 0: tie in different blocks
  pl[40 + 3] = pl[40 + 17] = -1;  // row 1: all others 0, max 0 at index 0
  pl[80 + 5] = 7;                 // row 2: a NaN after the max
  pl[80 + 37] = NAN;
  EXPECT_EQ(ops::argmax(longer, 1).to_vector(), (std::vector<double>{20, 0, 37}));
  const auto long_max = ops::max(longer, 1).to_vector();
  EXPECT_EQ(long_max[0], 5.0);
  EXPECT_TRUE(std::isnan(long_max[2]));
  // max of all elements shares the gradient among ties, as torch.
  Tensor y = tensor({1, 4, 4, 2}, {4}, DType::f64).set_requires_grad(true);
  ops::max(y).backward();
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{0, 0.5, 0.5, 0}));
  // NaN wins, as torch.max.
  Tensor z = tensor({1, NAN, 3}, {1, 3});
  EXPECT_TRUE(std::isnan(ops::max(z, 1).item()));
  EXPECT_EQ(ops::argmax(z, 1).item(), 1.0);
  EXPECT_TRUE(std::isnan(ops::max(z).item()));
  // var of one element, unbiased: 0 / 0 = NaN, as torch.
  EXPECT_TRUE(std::isnan(ops::var(tensor({2.0}), {0}).item()));
  EXPECT_EQ(ops::var(tensor({2.0}), {0}, false).item(), 0.0);
  EXPECT_EQ(ops::var(zeros({2, 3, 4}), {0, 2}, true, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(ops::var(zeros({2, 3, 4}), {}).shape(), (Shape{}));
  // An empty dim list reduces everything, as torch 1.13's x.sum(dim=[]) and x.mean(dim=[]).
  const Tensor six = arange(0.0, 6.0, 1.0, DType::f64).view_of(0, {2, 3});
  EXPECT_EQ(ops::sum(six, {}).shape(), (Shape{}));
  EXPECT_EQ(ops::sum(six, {}).item(), 15.0);
  EXPECT_EQ(ops::sum(six, {}, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(ops::mean(six, {}).item(), 2.5);
  // scalars reduce over their one "dimension".
  EXPECT_EQ(ops::sum(scalar(2.5), {0}).item(), 2.5);
  EXPECT_EQ(ops::max(scalar(2.5), 0).item(), 2.5);
}

// ---- shape ops against index arithmetic

TEST(ShapeOps, PermuteMatchesIndexMapping) {
  Generator gen(21);
  struct Perm {
    Shape shape;
    std::vector<std::int64_t> dims;
  };
  const std::vector<Perm> perms = {
      {{300, 200}, {1, 0}},                // tiled transpose, parallel
      {{4, 30, 20, 25}, {0, 2, 3, 1}},     // NCHW -> NHWC
      {{4, 25, 20, 30}, {0, 3, 1, 2}},     // NHWC -> NCHW
      {{5, 1, 7, 1, 3}, {4, 1, 2, 0, 3}},  // size-1 dims
      {{6, 5, 4}, {0, 1, 2}},              // identity
      {{6, 5, 4}, {1, 0, 2}},              // rows stay contiguous
  };
  for (const Perm& p : perms) {
    for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
      Tensor x = randn(p.shape, gen, DType::f64).to(dtype);
      Tensor y = ops::permute(x, p.dims);
      const auto in = x.to_vector();
      const auto out = y.to_vector();
      bool ok = true;
      for (std::int64_t i = 0; i < y.numel() && ok; ++i) {
        const Shape at = unravel(i, y.shape());
        Shape src(at.size());
        for (std::size_t k = 0; k < at.size(); ++k) src[p.dims[k]] = at[k];
        ok = out[i] == in[ravel(src, x.shape())];
      }
      EXPECT_TRUE(ok) << shape_str(p.shape) << " " << dtype_name(dtype);
    }
  }
  EXPECT_EQ(ops::transpose(zeros({2, 3, 4}), 0, -1).shape(), (Shape{4, 3, 2}));
}

TEST(ShapeOps, SliceConcatStackValues) {
  Tensor x = arange(0, 24, 1, DType::f64);
  Tensor x3 = ops::reshape(x, {2, 3, 4});
  // Python's x[:, 1:, ::3]
  Tensor a = ops::slice(ops::slice(x3, 1, 1, 3), 2, 0, 4, 3);
  EXPECT_EQ(a.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(a.to_vector(), (std::vector<double>{4, 7, 8, 11, 16, 19, 20, 23}));
  // negative bounds and bounds past the end clamp, as Python.
  EXPECT_EQ(ops::slice(x, 0, -3, 100).to_vector(), (std::vector<double>{21, 22, 23}));
  EXPECT_EQ(ops::slice(x, 0, -100, 2).to_vector(), (std::vector<double>{0, 1}));
  EXPECT_EQ(ops::slice(x, 0, 5, 2).numel(), 0);
  EXPECT_EQ(ops::slice(x, 0, 3, 4, std::numeric_limits<std::int64_t>::max()).to_vector(),
            (std::vector<double>{3}));

  Tensor c = ops::concat({ops::slice(x3, 2, 0, 1), ops::slice(x3, 2, 1, 4)}, 2);
  EXPECT_EQ(c.to_vector(), x.to_vector());
  Tensor c0 = ops::concat({ops::slice(x3, 0, 1, 2), ops::slice(x3, 0, 0, 1)}, 0);
  EXPECT_EQ(ops::slice(c0, 0, 0, 1).to_vector(), ops::slice(x3, 0, 1, 2).to_vector());

  Tensor u = tensor({1, 2, 3}, {3}, DType::i64);
  Tensor v = tensor({4, 5, 6}, {3}, DType::i64);
  EXPECT_EQ(ops::stack({u, v}, 0).to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ops::stack({u, v}, 1).to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(ops::stack({u, v}, -1).shape(), (Shape{3, 2}));
}

}  // namespace
}  // namespace descent

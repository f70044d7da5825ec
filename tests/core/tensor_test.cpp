#include "descent/core/tensor.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>

#include "descent/core/allocator.hpp"

namespace descent {
namespace {

TEST(Tensor, CreationShapesAndValues) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), DType::f32);
  for (double v : z.to_vector()) EXPECT_EQ(v, 0.0);
  for (double v : ones({4}, DType::f64).to_vector()) EXPECT_EQ(v, 1.0);
  for (double v : full({2, 2}, 2.5).to_vector()) EXPECT_EQ(v, 2.5);
  EXPECT_EQ(arange(5).to_vector(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(5).dtype(), DType::i64);
  EXPECT_EQ(arange(1.0, 2.0, 0.25, DType::f64).to_vector(),
            (std::vector<double>{1.0, 1.25, 1.5, 1.75}));
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::i32);
  EXPECT_EQ(t.data<std::int32_t>()[5], 6);
  EXPECT_EQ(scalar(3.5, DType::f64).item(), 3.5);
  EXPECT_EQ(scalar(3.5).dim(), 0);
}

TEST(Tensor, StorageIs64ByteAligned) {
  for (std::int64_t n : {1, 3, 17, 1000, 100000}) {
    Tensor t = empty({n}, DType::f64);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

TEST(Tensor, BadInputThrows) {
  EXPECT_THROW(zeros({2, -1}), Error);
  EXPECT_THROW(tensor({1, 2, 3}, {2, 2}), Error);
  EXPECT_THROW(zeros({2}).item(), Error);
  EXPECT_THROW(zeros({2}).data<double>(), Error);
  EXPECT_THROW(zeros({2}).size(3), Error);
  EXPECT_THROW(zeros({2}, DType::i64).set_requires_grad(true), Error);
  EXPECT_THROW(Tensor().shape(), Error);
  EXPECT_THROW(zeros({4}).view_of(2, {3}), Error);
  EXPECT_THROW(zeros({4}).copy_(zeros({5})), Error);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor flat = zeros({10});
  Tensor v = flat.view_of(4, {2, 3});
  v.fill_(7.0);
  const auto values = flat.to_vector();
  EXPECT_EQ(values[3], 0.0);
  EXPECT_EQ(values[4], 7.0);
  EXPECT_EQ(values[9], 7.0);
  EXPECT_TRUE(v.same_storage(flat));
  Tensor c = v.clone();
  EXPECT_FALSE(c.same_storage(flat));
}

TEST(Tensor, ConversionsAndCopy) {
  Tensor a = tensor({1.5, -2.25, 3.0});
  Tensor b = a.to(DType::f64);
  EXPECT_EQ(b.to_vector(), (std::vector<double>{1.5, -2.25, 3.0}));
  EXPECT_EQ(a.to(DType::i64).to_vector(), (std::vector<double>{1, -2, 3}));
  Tensor c = zeros({3}, DType::f64);
  c.copy_(a);
  EXPECT_EQ(c.to_vector(), b.to_vector());
}

// An integer tensor takes a value truncated toward zero when it fits, and refuses one that does
// not (a NaN, an infinity, or out of the type's range) with an Error naming the value and the
// range, where the bare cast would be undefined behaviour.
TEST(Tensor, IntegerStoresCheckTheirRange) {
  EXPECT_EQ(tensor({0, 255, 2.9, -0.9}, {}, DType::u8).to_vector(),
            (std::vector<double>{0, 255, 2, 0}));
  EXPECT_EQ(tensor({-2147483648.0, 2147483647.0}, {}, DType::i32).to_vector(),
            (std::vector<double>{-2147483648.0, 2147483647.0}));
  EXPECT_EQ(full({2}, -9.2233720368547758e18, DType::i64).to_vector()[1], -9.2233720368547758e18);
  const auto message = [](const auto& call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([] { tensor({256}, {}, DType::u8); }),
            "Tensor: the value 256 does not fit in u8 (0 to 255)");
  EXPECT_EQ(message([] { tensor({-1}, {}, DType::u8); }),
            "Tensor: the value -1 does not fit in u8 (0 to 255)");
  EXPECT_NE(message([] { zeros({3}, DType::u8).fill_(300); }).find("300 does not fit in u8"),
            std::string::npos);
  EXPECT_NE(message([] { tensor({2147483648.0}).to(DType::i32); }).find("does not fit in i32"),
            std::string::npos);
  EXPECT_NE(message([] { full({1}, 9.2233720368547758e18, DType::i64); }).find("i64"),
            std::string::npos);
  EXPECT_NE(message([] { tensor({std::nan("")}).to(DType::i64); }).find("nan does not fit"),
            std::string::npos);
  EXPECT_NE(message([] { arange(250, 260, 1, DType::u8); }).find("256 does not fit"),
            std::string::npos);
}

TEST(Tensor, Printing) {
  Tensor t = tensor({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(t.str(),
            "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], shape=(2, 2), dtype=f32)");
  EXPECT_EQ(arange(3).str(), "tensor([0, 1, 2], shape=(3), dtype=i64)");
  EXPECT_NE(arange(100).str().find("..."), std::string::npos);
}

TEST(Rng, SeededAndReproducible) {
  Generator g1(7);
  Generator g2(7);
  EXPECT_EQ(randn({100}, g1).to_vector(), randn({100}, g2).to_vector());
  Generator g3(8);
  Generator g4(7);
  EXPECT_NE(randn({100}, g3).to_vector(), randn({100}, g4).to_vector());
  // consecutive draws differ
  Generator g5(7);
  EXPECT_NE(rand({10}, g5).to_vector(), rand({10}, g5).to_vector());
}

TEST(Rng, IndependentOfThreadCount) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  Generator g1(3);
  const auto one = randn({200000}, g1, DType::f64).to_vector();
  omp_set_num_threads(2);
  Generator g2(3);
  const auto two = randn({200000}, g2, DType::f64).to_vector();
  omp_set_num_threads(before);
  EXPECT_EQ(one, two);
}

TEST(Rng, Moments) {
  Generator gen(11);
  const auto n = randn({100000}, gen, DType::f64).to_vector();
  double mean = 0;
  double sq = 0;
  for (double v : n) {
    mean += v;
    sq += v * v;
  }
  mean /= n.size();
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(sq / n.size() - mean * mean, 1.0, 0.02);
  const auto u = uniform({100000}, -2, 4, gen).to_vector();
  double umean = 0;
  for (double v : u) {
    EXPECT_GE(v, -2.0);
    EXPECT_LT(v, 4.0);
    umean += v;
  }
  EXPECT_NEAR(umean / u.size(), 1.0, 0.03);
}

TEST(Allocator, ReusesFreedBlocks) {
  { Tensor warm = empty({12345}); }
  const auto before = allocator_stats();
  for (int i = 0; i < 10; ++i) {
    Tensor t = empty({12345});
  }
  const auto after = allocator_stats();
  EXPECT_EQ(after.system_allocs, before.system_allocs);
  EXPECT_GE(after.cache_hits, before.cache_hits + 10);
}

}  // namespace
}  // namespace descent

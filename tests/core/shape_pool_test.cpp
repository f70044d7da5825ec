// Shape (a small vector that keeps its first dimensions inline) and the small-object pool.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "descent/core/pool.hpp"
#include "descent/core/shape.hpp"
#include "descent/core/tensor.hpp"

namespace descent {
namespace {

TEST(Shape, ReadsAndEditsAsAVector) {
  Shape s = {2, 3, 4};
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.front(), 2);
  EXPECT_EQ(s.back(), 4);
  s.push_back(5);
  s.insert(s.begin(), 1);
  EXPECT_EQ(s, (Shape{1, 2, 3, 4, 5}));
  s.erase(s.begin() + 1, s.begin() + 3);
  EXPECT_EQ(s, (Shape{1, 4, 5}));
  s.insert(s.end(), {6, 7});
  EXPECT_EQ(s, (Shape{1, 4, 5, 6, 7}));
  s.resize(2);
  EXPECT_EQ(s, (Shape{1, 4}));
  EXPECT_EQ(Shape(3), (Shape{0, 0, 0}));
  EXPECT_EQ(Shape(std::vector<std::int64_t>{9, 8}), (Shape{9, 8}));
  EXPECT_EQ(Shape(2, 7), (Shape{7, 7}));
  EXPECT_NE(s, (Shape{1, 4, 0}));
  EXPECT_EQ(shape_str(Shape{}), "()");
}

TEST(Shape, GrowsPastItsInlineCapacityAndKeepsValuesThroughCopiesAndMoves) {
  Shape big;
  for (std::int64_t d = 0; d < 20; ++d) big.push_back(d + 1);  // well past kInline
  EXPECT_GT(big.capacity(), Shape::kInline);
  Shape copy = big;
  Shape moved = std::move(copy);
  EXPECT_EQ(moved, big);
  EXPECT_EQ(moved[19], 20);
  Shape small = {5, 6};
  Shape small_moved = std::move(small);
  EXPECT_EQ(small_moved, (Shape{5, 6}));
  small_moved = big;  // inline -> heap
  EXPECT_EQ(small_moved, big);
  small_moved = Shape{1};  // heap -> inline values
  EXPECT_EQ(small_moved, (Shape{1}));
  // a tensor of high rank works as any other
  Shape rank9(9, 1);
  rank9[8] = 3;
  EXPECT_EQ(zeros(rank9).numel(), 3);
}

TEST(Pool, AFreedBlockIsHandedOutAgain) {
  void* a = pool::allocate(40);
  pool::deallocate(a, 40);
  const pool::Stats before = pool::stats();
  void* b = pool::allocate(48);  // same size class (48 bytes)
  EXPECT_EQ(b, a);
  EXPECT_EQ(pool::stats().reuses, before.reuses + 1);
  EXPECT_EQ(pool::stats().system_allocs, before.system_allocs);
  pool::deallocate(b, 48);
}

TEST(Pool, BlocksMayBeFreedOnAnotherThreadAndLargeOnesBypassIt) {
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(pool::allocate(200));
  std::thread other([&] {
    for (void* b : blocks) pool::deallocate(b, 200);
  });
  other.join();  // the other thread's lists gave its blocks back when it ended
  void* big = pool::allocate(pool::kMaxPooled + 1);
  pool::deallocate(big, pool::kMaxPooled + 1);
  // the tensors' handles come from the pool: the second of two like tensors reuses blocks
  { const Tensor t = zeros({4}); }
  const pool::Stats before = pool::stats();
  { const Tensor t = zeros({4}); }
  EXPECT_EQ(pool::stats().system_allocs, before.system_allocs);
  EXPECT_GT(pool::stats().reuses, before.reuses);
}

}  // namespace
}  // namespace descent

// LAMB: trajectories against the paper's pseudo-code, toy convergence, exact resume, bad
// options.
#include "descent/optim/lamb.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// LAMB is tests/reference/record_optim.py's transcription of You et al. 2020, Algorithm 2.
// clang-format off
const std::vector<std::string> kTorch = {
    "torch: LAMB(p, lr=0.01)",
    "torch: LAMB(p, lr=0.01, betas=(0.8, 0.9))",
    "torch: LAMB(p, lr=0.01, eps=0.001)",
    "torch: LAMB(p, lr=0.01, weight_decay=0.1)",
    "torch: LAMB(p, lr=0.005, betas=(0.5, 0.99), eps=1e-4, weight_decay=0.05)",
};
// clang-format on

TEST(LAMB, MatchesPaper) {
  expect_matches_torch("optim_lamb.txt", kTorch);
}

TEST(LAMB, Converges) {
  expect_converges<LAMB>({.lr = 0.005}, parabola(), 2000, 1e-3);
  expect_converges<LAMB>({.lr = 0.002}, rosenbrock(), 20000, 1e-2);
}

TEST(LAMB, ResumesExactly) {
  expect_resumes_exactly<LAMB>({.lr = 0.01, .weight_decay = 0.01});
}

TEST(LAMB, TrustRatioIsPerTensor) {
  // Two tensors with the same direction but weights 10x apart: LAMB's step is 10x larger
  // for the larger weights (one trust ratio each), unlike Adam's.
  Tensor small = full({4}, 0.1, DType::f64).set_requires_grad(true);
  Tensor large = full({4}, 1.0, DType::f64).set_requires_grad(true);
  small.set_grad(full({4}, 0.5, DType::f64));
  large.set_grad(full({4}, 0.5, DType::f64));
  LAMB opt({small, large}, {.lr = 0.01});
  opt.step();
  const double small_step = 0.1 - small.to_vector()[0];
  const double large_step = 1.0 - large.to_vector()[0];
  EXPECT_NEAR(small_step, 0.01 * 0.1, 1e-9);
  EXPECT_NEAR(large_step, 0.01 * 1.0, 1e-9);
}

TEST(LAMB, RejectsBadOptions) {
  expect_rejects<LAMB>({.lr = -1}, "LAMB: lr must be >= 0, got -1");
  expect_rejects<LAMB>({.betas = {0.9, 1.2}}, "LAMB: beta2 must be in [0, 1), got 1.2");
  expect_rejects<LAMB>({.eps = 0}, "LAMB: eps must be > 0, got 0");
  expect_rejects<LAMB>({.weight_decay = -1}, "LAMB: weight_decay must be >= 0, got -1");
}

}  // namespace
}  // namespace descent::optim

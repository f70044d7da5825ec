// Lion: trajectories against the paper's pseudo-code, toy convergence, exact resume, bad
// options.
#include "descent/optim/lion.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// Lion is tests/reference/record_optim.py's transcription of Chen et al. 2023, Algorithm 2.
// clang-format off
const std::vector<std::string> kTorch = {
    "torch: Lion(p, lr=0.003)",
    "torch: Lion(p, lr=0.003, betas=(0.8, 0.9))",
    "torch: Lion(p, lr=0.003, weight_decay=0.5)",
    "torch: Lion(p, lr=0.001, betas=(0.95, 0.98), weight_decay=1.0)",
};
// clang-format on

TEST(Lion, MatchesPaper) {
  expect_matches_torch("optim_lion.txt", kTorch);
}

TEST(Lion, Converges) {
  // sign steps oscillate within about lr of the minimum: decay the lr to settle
  expect_converges<Lion>({.lr = 1e-3}, parabola(), 3000, 5e-3);
  expect_converges<Lion>({.lr = 1e-3}, rosenbrock(), 10000, 2e-2);
}

TEST(Lion, ResumesExactly) {
  expect_resumes_exactly<Lion>({.lr = 0.003, .weight_decay = 0.1});
}

TEST(Lion, RejectsBadOptions) {
  expect_rejects<Lion>({.lr = -1}, "Lion: lr must be >= 0, got -1");
  expect_rejects<Lion>({.betas = {0.9, 1.0}}, "Lion: beta2 must be in [0, 1), got 1");
  expect_rejects<Lion>({.weight_decay = -1}, "Lion: weight_decay must be >= 0, got -1");
}

}  // namespace
}  // namespace descent::optim

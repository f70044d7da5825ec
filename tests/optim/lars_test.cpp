// LARS: trajectories against the paper's pseudo-code, toy convergence, exact resume, bad
// options.
#include "descent/optim/lars.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// LARS is tests/reference/record_optim.py's transcription of You et al. 2017, Algorithm 1.
// clang-format off
const std::vector<std::string> kTorch = {
    "torch: LARS(p, lr=5.0)",
    "torch: LARS(p, lr=5.0, momentum=0)",
    "torch: LARS(p, lr=5.0, weight_decay=0.01)",
    "torch: LARS(p, lr=1.0, trust_coefficient=0.01)",
    "torch: LARS(p, lr=5.0, eps=0.1)",
    "torch: LARS(p, lr=2.0, momentum=0.5, weight_decay=0.05, trust_coefficient=0.005, eps=1e-6)",
};
// clang-format on

TEST(LARS, MatchesPaper) {
  expect_matches_torch("optim_lars.txt", kTorch);
}

TEST(LARS, Converges) {
  expect_converges<LARS>({.lr = 10.0, .momentum = 0.5}, parabola(), 3000, 1e-2);
}

TEST(LARS, ResumesExactly) {
  expect_resumes_exactly<LARS>({.lr = 5.0, .weight_decay = 0.01});
}

TEST(LARS, RejectsBadOptions) {
  expect_rejects<LARS>({.lr = -1}, "LARS: lr must be >= 0, got -1");
  expect_rejects<LARS>({.momentum = -1}, "LARS: momentum must be >= 0, got -1");
  expect_rejects<LARS>({.weight_decay = -1}, "LARS: weight_decay must be >= 0, got -1");
  expect_rejects<LARS>({.trust_coefficient = 0}, "LARS: trust_coefficient must be > 0, got 0");
  expect_rejects<LARS>({.eps = 0}, "LARS: eps must be > 0, got 0");
}

}  // namespace
}  // namespace descent::optim

// RMSprop: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/rmsprop.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.RMSprop(p, lr=0.01)",
    "torch: torch.optim.RMSprop(p, lr=0.01, alpha=0.9)",
    "torch: torch.optim.RMSprop(p, lr=0.01, eps=0.001)",
    "torch: torch.optim.RMSprop(p, lr=0.01, weight_decay=0.1)",
    "torch: torch.optim.RMSprop(p, lr=0.01, momentum=0.5)",
    "torch: torch.optim.RMSprop(p, lr=0.01, centered=True)",
    "torch: torch.optim.RMSprop(p, lr=0.01, maximize=True)",
    "torch: torch.optim.RMSprop(p, lr=0.005, momentum=0.8, centered=True)",
    "torch: torch.optim.RMSprop(p, lr=0.005, alpha=0.95, eps=1e-6, weight_decay=0.05, momentum=0.3, centered=True, maximize=True)",
};
// clang-format on

TEST(RMSprop, MatchesPyTorch) {
  expect_matches_torch("optim_rmsprop.txt", kTorch);
}

TEST(RMSprop, Converges) {
  expect_converges<RMSprop>({.lr = 1e-3}, parabola(), 2000, 1e-2);
  expect_converges<RMSprop>({.lr = 1e-3, .momentum = 0.5, .centered = true}, parabola(), 2000,
                            1e-2);
  expect_converges<RMSprop>({.lr = 1e-3}, rosenbrock(), 10000, 2e-2);
}

TEST(RMSprop, ResumesExactly) {
  expect_resumes_exactly<RMSprop>({.lr = 0.01, .momentum = 0.5, .centered = true});
  expect_resumes_exactly<RMSprop>({.lr = 0.01});
}

TEST(RMSprop, RejectsBadOptions) {
  expect_rejects<RMSprop>({.lr = -1}, "RMSprop: lr must be >= 0, got -1");
  expect_rejects<RMSprop>({.alpha = 1.5}, "RMSprop: alpha must be in [0, 1], got 1.5");
  expect_rejects<RMSprop>({.eps = 0}, "RMSprop: eps must be > 0, got 0");
  expect_rejects<RMSprop>({.weight_decay = -1}, "RMSprop: weight_decay must be >= 0, got -1");
  expect_rejects<RMSprop>({.momentum = -0.5}, "RMSprop: momentum must be >= 0, got -0.5");
}

}  // namespace
}  // namespace descent::optim

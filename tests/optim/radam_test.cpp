// RAdam: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/radam.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// beta2 = 0.999 keeps the unrectified (SGD) phase for 5 steps, beta2 = 0.9 for longer.
// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.RAdam(p, lr=0.02)",
    "torch: torch.optim.RAdam(p, lr=0.02, betas=(0.8, 0.9))",
    "torch: torch.optim.RAdam(p, lr=0.02, eps=0.001)",
    "torch: torch.optim.RAdam(p, lr=0.02, weight_decay=0.1)",
    "torch: torch.optim.RAdam(p, lr=0.01, betas=(0.5, 0.99), eps=1e-4, weight_decay=0.05)",
};
// clang-format on

TEST(RAdam, MatchesPyTorch) {
  expect_matches_torch("optim_radam.txt", kTorch);
}

TEST(RAdam, Converges) {
  expect_converges<RAdam>({.lr = 0.02}, parabola(), 1000, 1e-8);
  // the first 5 steps are plain momentum SGD on gradients in the hundreds: a small lr
  expect_converges<RAdam>({.lr = 0.003}, rosenbrock(), 10000, 5e-3);
}

TEST(RAdam, ResumesExactly) {
  expect_resumes_exactly<RAdam>({.lr = 0.02});
}

TEST(RAdam, RejectsBadOptions) {
  expect_rejects<RAdam>({.lr = -1}, "RAdam: lr must be >= 0, got -1");
  expect_rejects<RAdam>({.betas = {1.5, 0.9}}, "RAdam: beta1 must be in [0, 1), got 1.5");
  expect_rejects<RAdam>({.eps = 0}, "RAdam: eps must be > 0, got 0");
  expect_rejects<RAdam>({.weight_decay = -1}, "RAdam: weight_decay must be >= 0, got -1");
}

}  // namespace
}  // namespace descent::optim

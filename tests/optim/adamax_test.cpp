// Adamax: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/adamax.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.Adamax(p, lr=0.02)",
    "torch: torch.optim.Adamax(p, lr=0.02, betas=(0.8, 0.9))",
    "torch: torch.optim.Adamax(p, lr=0.02, eps=0.1)",
    "torch: torch.optim.Adamax(p, lr=0.02, weight_decay=0.1)",
    "torch: torch.optim.Adamax(p, lr=0.02, maximize=True)",
    "torch: torch.optim.Adamax(p, lr=0.01, betas=(0.5, 0.99), eps=1e-3, weight_decay=0.05, maximize=True)",
};
// clang-format on

TEST(Adamax, MatchesPyTorch) {
  expect_matches_torch("optim_adamax.txt", kTorch);
}

TEST(Adamax, Converges) {
  expect_converges<Adamax>({.lr = 0.05}, parabola(), 1000, 1e-4);
  expect_converges<Adamax>({.lr = 0.01}, rosenbrock(), 10000, 1e-2);
}

TEST(Adamax, ResumesExactly) {
  expect_resumes_exactly<Adamax>({.lr = 0.02, .weight_decay = 0.01});
}

TEST(Adamax, RejectsBadOptions) {
  expect_rejects<Adamax>({.lr = -1}, "Adamax: lr must be >= 0, got -1");
  expect_rejects<Adamax>({.betas = {0.9, 1.0}}, "Adamax: beta2 must be in [0, 1), got 1");
  expect_rejects<Adamax>({.eps = 0}, "Adamax: eps must be > 0, got 0");
  expect_rejects<Adamax>({.weight_decay = -1}, "Adamax: weight_decay must be >= 0, got -1");
}

}  // namespace
}  // namespace descent::optim

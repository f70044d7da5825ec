// Adam: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/adam.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.Adam(p, lr=0.02)",
    "torch: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.9))",
    "torch: torch.optim.Adam(p, lr=0.02, eps=0.001)",
    "torch: torch.optim.Adam(p, lr=0.02, weight_decay=0.1)",
    "torch: torch.optim.Adam(p, lr=0.02, amsgrad=True)",
    "torch: torch.optim.Adam(p, lr=0.02, maximize=True)",
    "torch: torch.optim.Adam(p, lr=0.01, betas=(0.5, 0.99), weight_decay=0.05, amsgrad=True)",
    "torch: torch.optim.Adam(p, lr=0.01, eps=1e-4, amsgrad=True, maximize=True)",
};
// clang-format on

TEST(Adam, MatchesPyTorch) {
  expect_matches_torch("optim_adam.txt", kTorch);
}

TEST(Adam, Converges) {
  expect_converges<Adam>({.lr = 0.05}, parabola(), 600, 1e-4);
  expect_converges<Adam>({.lr = 0.02, .amsgrad = true}, parabola(), 600, 1e-3);
  expect_converges<Adam>({.lr = 0.01}, rosenbrock(), 5000, 1e-3);
}

TEST(Adam, ResumesExactly) {
  expect_resumes_exactly<Adam>({.lr = 0.02, .weight_decay = 0.01});
  expect_resumes_exactly<Adam>({.lr = 0.02, .amsgrad = true});
}

TEST(Adam, RejectsBadOptions) {
  expect_rejects<Adam>({.lr = -1}, "Adam: lr must be >= 0, got -1");
  expect_rejects<Adam>({.betas = {1.0, 0.999}}, "Adam: beta1 must be in [0, 1), got 1");
  expect_rejects<Adam>({.betas = {0.9, 1.2}}, "Adam: beta2 must be in [0, 1), got 1.2");
  expect_rejects<Adam>({.betas = {-0.1, 0.9}}, "Adam: beta1 must be in [0, 1), got -0.1");
  expect_rejects<Adam>({.eps = 0}, "Adam: eps must be > 0, got 0");
  expect_rejects<Adam>({.weight_decay = -0.5}, "Adam: weight_decay must be >= 0, got -0.5");
}

}  // namespace
}  // namespace descent::optim

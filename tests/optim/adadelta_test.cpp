// Adadelta: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/adadelta.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.Adadelta(p)",
    "torch: torch.optim.Adadelta(p, lr=0.5)",
    "torch: torch.optim.Adadelta(p, rho=0.8)",
    "torch: torch.optim.Adadelta(p, eps=0.0001)",
    "torch: torch.optim.Adadelta(p, weight_decay=0.1)",
    "torch: torch.optim.Adadelta(p, maximize=True)",
    "torch: torch.optim.Adadelta(p, lr=2.0, rho=0.95, eps=1e-4, weight_decay=0.05, maximize=True)",
};
// clang-format on

TEST(Adadelta, MatchesPyTorch) {
  expect_matches_torch("optim_adadelta.txt", kTorch);
}

TEST(Adadelta, Converges) {
  // A long memory (rho near 1) lets the step sizes settle; Adadelta is slow in the
  // Rosenbrock valley.
  expect_converges<Adadelta>({.rho = 0.999}, parabola(), 2000, 1e-8);
  expect_converges<Adadelta>({.lr = 0.5, .rho = 0.999}, rosenbrock(), 20000, 0.1);
}

TEST(Adadelta, ResumesExactly) {
  expect_resumes_exactly<Adadelta>({.rho = 0.8, .weight_decay = 0.01});
}

TEST(Adadelta, RejectsBadOptions) {
  expect_rejects<Adadelta>({.lr = -1}, "Adadelta: lr must be >= 0, got -1");
  expect_rejects<Adadelta>({.rho = 1.1}, "Adadelta: rho must be in [0, 1], got 1.1");
  expect_rejects<Adadelta>({.eps = 0}, "Adadelta: eps must be > 0, got 0");
  expect_rejects<Adadelta>({.weight_decay = -1}, "Adadelta: weight_decay must be >= 0, got -1");
}

}  // namespace
}  // namespace descent::optim

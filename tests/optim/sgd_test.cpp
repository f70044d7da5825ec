// SGD: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/sgd.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// Each option alone, then combinations (recorded by tests/reference/record_optim.py).
// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.SGD(p, lr=0.05)",
    "torch: torch.optim.SGD(p, lr=0.05, momentum=0.9)",
    "torch: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.3)",
    "torch: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)",
    "torch: torch.optim.SGD(p, lr=0.05, weight_decay=0.1)",
    "torch: torch.optim.SGD(p, lr=0.05, maximize=True)",
    "torch: torch.optim.SGD(p, lr=0.02, momentum=0.8, weight_decay=0.05, nesterov=True, maximize=True)",
    "torch: torch.optim.SGD(p, lr=0.03, momentum=0.5, dampening=0.5, weight_decay=0.01)",
};
// clang-format on

TEST(SGD, MatchesPyTorch) {
  expect_matches_torch("optim_sgd.txt", kTorch);
}

TEST(SGD, Converges) {
  expect_converges<SGD>({.lr = 0.04}, parabola(), 300, 1e-6);
  expect_converges<SGD>({.lr = 0.02, .momentum = 0.9, .nesterov = true}, parabola(), 300, 1e-6);
  expect_converges<SGD>({.lr = 1e-3, .momentum = 0.9}, rosenbrock(), 20000, 1e-3);
}

TEST(SGD, ResumesExactly) {
  expect_resumes_exactly<SGD>({.lr = 0.05, .momentum = 0.9, .nesterov = true});
  expect_resumes_exactly<SGD>({.lr = 0.05, .weight_decay = 0.1});
}

TEST(SGD, RejectsBadOptions) {
  expect_rejects<SGD>({.lr = -0.1}, "SGD: lr must be >= 0, got -0.1");
  expect_rejects<SGD>({.momentum = -0.9}, "SGD: momentum must be >= 0, got -0.9");
  expect_rejects<SGD>({.weight_decay = -1}, "SGD: weight_decay must be >= 0, got -1");
  expect_rejects<SGD>({.nesterov = true},
                      "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum 0 and "
                      "dampening 0");
  expect_rejects<SGD>({.momentum = 0.9, .dampening = 0.1, .nesterov = true},
                      "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum 0.9 and "
                      "dampening 0.1");
}

}  // namespace
}  // namespace descent::optim

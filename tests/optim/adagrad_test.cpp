// Adagrad: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/adagrad.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.Adagrad(p, lr=0.1)",
    "torch: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.05)",
    "torch: torch.optim.Adagrad(p, lr=0.1, weight_decay=0.1)",
    "torch: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.5)",
    "torch: torch.optim.Adagrad(p, lr=0.1, eps=0.01)",
    "torch: torch.optim.Adagrad(p, lr=0.1, maximize=True)",
    "torch: torch.optim.Adagrad(p, lr=0.2, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-6)",
};
// clang-format on

TEST(Adagrad, MatchesPyTorch) {
  expect_matches_torch("optim_adagrad.txt", kTorch);
}

TEST(Adagrad, Converges) {
  expect_converges<Adagrad>({.lr = 0.5}, parabola(), 500, 1e-4);
  expect_converges<Adagrad>({.lr = 0.5}, rosenbrock(), 20000, 1e-2);
}

TEST(Adagrad, ResumesExactly) {
  expect_resumes_exactly<Adagrad>({.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1});
}

TEST(Adagrad, RejectsBadOptions) {
  expect_rejects<Adagrad>({.lr = -1}, "Adagrad: lr must be >= 0, got -1");
  expect_rejects<Adagrad>({.lr_decay = -1}, "Adagrad: lr_decay must be >= 0, got -1");
  expect_rejects<Adagrad>({.weight_decay = -1}, "Adagrad: weight_decay must be >= 0, got -1");
  expect_rejects<Adagrad>({.initial_accumulator_value = -1},
                          "Adagrad: initial_accumulator_value must be >= 0, got -1");
  expect_rejects<Adagrad>({.eps = 0}, "Adagrad: eps must be > 0, got 0");
}

}  // namespace
}  // namespace descent::optim

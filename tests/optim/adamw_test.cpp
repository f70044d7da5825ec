// AdamW: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/adamw.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.AdamW(p, lr=0.02)",
    "torch: torch.optim.AdamW(p, lr=0.02, betas=(0.8, 0.9))",
    "torch: torch.optim.AdamW(p, lr=0.02, eps=0.001)",
    "torch: torch.optim.AdamW(p, lr=0.02, weight_decay=0.5)",
    "torch: torch.optim.AdamW(p, lr=0.02, weight_decay=0)",
    "torch: torch.optim.AdamW(p, lr=0.02, amsgrad=True)",
    "torch: torch.optim.AdamW(p, lr=0.02, maximize=True)",
    "torch: torch.optim.AdamW(p, lr=0.01, betas=(0.5, 0.99), weight_decay=0.2, amsgrad=True)",
};
// clang-format on

TEST(AdamW, MatchesPyTorch) {
  expect_matches_torch("optim_adamw.txt", kTorch);
}

TEST(AdamW, Converges) {
  expect_converges<AdamW>({.lr = 0.05, .weight_decay = 0}, parabola(), 600, 1e-4);
  // decoupled decay pulls the minimum toward 0, so it is only near (1, 1)
  expect_converges<AdamW>({.lr = 0.01, .weight_decay = 1e-4}, rosenbrock(), 5000, 2e-3);
}

TEST(AdamW, ResumesExactly) {
  expect_resumes_exactly<AdamW>({.lr = 0.02});
  expect_resumes_exactly<AdamW>({.lr = 0.02, .amsgrad = true});
}

TEST(AdamW, DefaultWeightDecay) {
  EXPECT_EQ(AdamWOptions{}.weight_decay, 1e-2);
}

TEST(AdamW, RejectsBadOptions) {
  expect_rejects<AdamW>({.lr = -1}, "AdamW: lr must be >= 0, got -1");
  expect_rejects<AdamW>({.betas = {0.9, 1.2}}, "AdamW: beta2 must be in [0, 1), got 1.2");
  expect_rejects<AdamW>({.eps = -1e-8}, "AdamW: eps must be > 0, got -1e-08");
  expect_rejects<AdamW>({.weight_decay = -0.01}, "AdamW: weight_decay must be >= 0, got -0.01");
}

}  // namespace
}  // namespace descent::optim

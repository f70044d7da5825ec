// NAdam: PyTorch trajectories, toy convergence, exact resume, bad options.
#include "descent/optim/nadam.hpp"

#include <gtest/gtest.h>

#include "helpers.hpp"

namespace descent::optim {
namespace {

using namespace testing;

// foreach=True: PyTorch 1.13's foreach path has the paper's formula; its single-tensor path
// counts mu_t twice in the look-ahead term (see nadam.hpp).
// clang-format off
const std::vector<std::string> kTorch = {
    "torch: torch.optim.NAdam(p, lr=0.02, foreach=True)",
    "torch: torch.optim.NAdam(p, lr=0.02, betas=(0.8, 0.9), foreach=True)",
    "torch: torch.optim.NAdam(p, lr=0.02, eps=0.001, foreach=True)",
    "torch: torch.optim.NAdam(p, lr=0.02, weight_decay=0.1, foreach=True)",
    "torch: torch.optim.NAdam(p, lr=0.02, momentum_decay=0.01, foreach=True)",
    "torch: torch.optim.NAdam(p, lr=0.01, betas=(0.5, 0.99), eps=1e-4, weight_decay=0.05, momentum_decay=0.002, foreach=True)",
};
// clang-format on

TEST(NAdam, MatchesPyTorch) {
  expect_matches_torch("optim_nadam.txt", kTorch);
}

TEST(NAdam, Converges) {
  expect_converges<NAdam>({.lr = 0.05}, parabola(), 600, 1e-4);
  expect_converges<NAdam>({.lr = 0.005}, rosenbrock(), 8000, 2e-3);
}

TEST(NAdam, ResumesExactly) {
  expect_resumes_exactly<NAdam>({.lr = 0.02});
}

TEST(NAdam, KeepsMuProduct) {
  Tensor p = zeros({2}).set_requires_grad(true);
  p.set_grad(ones({2}));
  NAdam opt({p}, {});
  opt.step();
  opt.step();
  const double beta1 = 0.9;
  const double mu1 = beta1 * (1 - 0.5 * std::pow(0.96, 1 * 4e-3));
  const double mu2 = beta1 * (1 - 0.5 * std::pow(0.96, 2 * 4e-3));
  EXPECT_DOUBLE_EQ(opt.state_dict().at("state.0.mu_product").item(), mu1 * mu2);
}

TEST(NAdam, RejectsBadOptions) {
  expect_rejects<NAdam>({.lr = -1}, "NAdam: lr must be >= 0, got -1");
  expect_rejects<NAdam>({.betas = {0.9, 1.2}}, "NAdam: beta2 must be in [0, 1), got 1.2");
  expect_rejects<NAdam>({.eps = 0}, "NAdam: eps must be > 0, got 0");
  expect_rejects<NAdam>({.weight_decay = -1}, "NAdam: weight_decay must be >= 0, got -1");
  expect_rejects<NAdam>({.momentum_decay = -1}, "NAdam: momentum_decay must be >= 0, got -1");
}

}  // namespace
}  // namespace descent::optim

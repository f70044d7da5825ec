// GradScaler: scripted sequences of clean and overflowing steps against torch's GradScaler
// (tests/reference/record_grad_scaler.py: PyTorch's own Python state machine, SGD, Adam and
// clip_grad_norm_, with its two CUDA kernels transcribed), then the PyTorch errors, the
// state dict, the fused clipping against clip::clip_grad_norm_, and bad input.
#include "descent/amp/grad_scaler.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "descent/autograd/autograd.hpp"
#include "descent/clip/clip.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/reduce.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/sgd.hpp"
#include "reference_data.hpp"

namespace descent::amp {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// g(t, i) = ((7 t + 3 i) mod 11 - 5) * 2^-shift, as the recording script scripts it.
float scripted_grad(std::int64_t step, std::int64_t i, int shift) {
  return std::ldexp(static_cast<float>((7 * step + 3 * i) % 11 - 5), -shift);
}

struct ScriptedCase {
  std::string name;
  GradScalerOptions options;
  std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)> make_optimizer;
  int shift;
  double max_norm;        // infinity: no clipping
  bool param_every_step;  // else only the final parameter is recorded
  double param_rtol;
};

std::vector<ScriptedCase> scripted_cases() {
  auto sgd = [](double lr, double momentum) {
    return [=](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
      return std::make_unique<optim::SGD>(std::move(p),
                                          optim::SGDOptions{.lr = lr, .momentum = momentum});
    };
  };
  auto adam = [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.01});
  };
  return {
      {"default", {}, sgd(0.01, 0.9), 10, kInf, false, 1e-5},
      {"clipped",
       {.init_scale = 1024, .growth_factor = 4, .backoff_factor = 0.25, .growth_interval = 3},
       adam,
       6,
       0.05,
       true,
       1e-5},
      {"odd_factors",
       {.init_scale = 1000, .growth_factor = 3, .backoff_factor = 0.3, .growth_interval = 2},
       sgd(0.1, 0.0),
       8,
       kInf,
       true,
       1e-6},
      {"saturate",
       {.init_scale = 0x1p126, .growth_factor = 2, .backoff_factor = 0.5, .growth_interval = 1},
       sgd(0.1, 0.0),
       140,
       kInf,
       true,
       1e-6},
  };
}

TEST(GradScaler, MatchesTorchOnScriptedOverflows) {
  const auto records = testing::load_reference("grad_scaler.txt");
  for (const ScriptedCase& c : scripted_cases()) {
    SCOPED_TRACE(c.name);
    const auto overflow = testing::ref(records, c.name + ".overflow").to_vector();
    const auto scales = testing::ref(records, c.name + ".scale").to_vector();
    const auto trackers = testing::ref(records, c.name + ".tracker").to_vector();
    const auto found = testing::ref(records, c.name + ".found_inf").to_vector();
    const auto params = testing::ref(records, c.name + ".param").to_vector();
    const auto steps = static_cast<std::int64_t>(overflow.size());

    Tensor param = tensor({-1.0, -1.0 / 3, 1.0 / 3, 1.0}).set_requires_grad(true);  // linspace
    param.set_grad(zeros({4}));
    auto opt = c.make_optimizer({param});
    GradScaler scaler(c.options);
    const float specials[] = {0.0f, INFINITY, -INFINITY, NAN};
    for (std::int64_t step = 0; step < steps; ++step) {
      opt->zero_grad();
      // the backward of scale * loss, and an fp16 overflow where the script has one
      float* g = param.grad().data<float>();
      for (std::int64_t i = 0; i < 4; ++i) {
        g[i] = scripted_grad(step, i, c.shift) * static_cast<float>(scaler.get_scale());
      }
      if (overflow[step] != 0) g[1] = specials[static_cast<int>(overflow[step])];
      if (std::isfinite(c.max_norm)) scaler.unscale_(*opt, {.max_norm = c.max_norm});
      const bool stepped = scaler.step(*opt);
      scaler.update();
      ASSERT_EQ(scaler.get_scale(), scales[step]) << "step " << step;
      ASSERT_EQ(scaler.growth_tracker(), trackers[step]) << "step " << step;
      ASSERT_EQ(stepped, found[step] == 0.0) << "step " << step;
      ASSERT_EQ(scaler.found_inf(), found[step] == 1.0) << "step " << step;
      if (c.param_every_step) {
        for (std::int64_t i = 0; i < 4; ++i) {
          const double expected = params[step * 4 + i];
          ASSERT_NEAR(param.data<float>()[i], expected, c.param_rtol * std::abs(expected) + 1e-7)
              << "step " << step << " element " << i;
        }
      }
    }
    if (!c.param_every_step) {
      for (std::int64_t i = 0; i < 4; ++i) {
        EXPECT_NEAR(param.data<float>()[i], params[i], c.param_rtol * std::abs(params[i]) + 1e-7);
      }
    }
  }
}

TEST(GradScaler, ScaleMultipliesTheLoss) {
  GradScaler scaler({.init_scale = 512});
  Tensor w = tensor({1.0, 2.0, 3.0}).set_requires_grad(true);
  Tensor x = tensor({0.5, -0.25, 4.0});
  scaler.scale(ops::sum(ops::mul(w, x))).backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{256.0, -128.0, 2048.0}));
  EXPECT_EQ(scaler.scale(scalar(2.0)).item(), 1024.0);
  GradScaler off({.enabled = false});
  Tensor loss = scalar(2.0);
  EXPECT_TRUE(off.scale(loss).same_storage(loss));
  EXPECT_EQ(off.get_scale(), 1.0);
}

// One parameter with a gradient, and an optimizer on it.
struct WithGrad {
  Tensor param;
  std::unique_ptr<optim::SGD> opt;
  explicit WithGrad(std::vector<double> grad, DType dtype = DType::f32) {
    param = zeros({static_cast<std::int64_t>(grad.size())}, dtype).set_requires_grad(true);
    param.set_grad(from_vector(grad, {}, dtype));
    opt = std::make_unique<optim::SGD>(std::vector<Tensor>{param}, optim::SGDOptions{.lr = 1.0});
  }
};

TEST(GradScaler, UnscaleFindsInfAndNaNInOnePass) {
  for (double bad : {kInf, -kInf, std::nan("")}) {
    WithGrad s({1.0, bad, 2.0});
    GradScaler scaler;
    const Unscaled u = scaler.unscale_(*s.opt);
    EXPECT_TRUE(u.found_inf);
    EXPECT_FALSE(std::isfinite(u.total_norm));
    EXPECT_EQ(u.clip, 1.0);
    EXPECT_FALSE(scaler.step(*s.opt));
    EXPECT_EQ(s.param.to_vector(), (std::vector<double>{0, 0, 0}));  // skipped
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), 32768.0);
  }
  // large finite f64 gradients: the norm overflows, yet nothing is Inf, so no skip
  WithGrad big({1e200, -1e200}, DType::f64);
  GradScaler scaler;
  EXPECT_FALSE(scaler.unscale_(*big.opt).found_inf);
}

TEST(GradScaler, FusedClippingEqualsUnscaleThenClipGradNorm) {
  Generator gen(5);
  const std::int64_t n = 100003;  // several chunks, threaded
  const double max_norm = 2.0;
  Tensor true_grad = randn({n}, gen);
  auto run = [&](bool fused, bool in_place) {
    Tensor param = zeros({n}).set_requires_grad(true);
    param.set_grad(ops::mul(true_grad, 65536.0).detach());
    optim::SGD opt({param}, {.lr = 0.5});
    GradScaler scaler;
    if (fused) {
      const Unscaled u = scaler.unscale_(opt, {.max_norm = max_norm, .in_place = in_place});
      EXPECT_NEAR(u.total_norm,
                  clip::grad_norm(std::vector<Tensor>{param}) / (in_place ? 1 : 65536),
                  1e-9 * u.total_norm);
      EXPECT_LT(u.clip, 1.0);
      scaler.step(opt);
    } else {
      // PyTorch's order: unscale in place, clip in place, step
      param.grad().copy_(ops::mul(param.grad(), 1.0 / 65536));
      clip::clip_grad_norm_(std::vector<Tensor>{param}, max_norm);
      opt.step();
    }
    return param.to_vector();
  };
  const auto reference = run(false, false);
  const auto fused = run(true, false);
  const auto in_place = run(true, true);
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_NEAR(fused[i], reference[i], 1e-6 * std::abs(reference[i]) + 1e-12) << i;
    ASSERT_EQ(in_place[i], fused[i]) << i;
  }
}

TEST(GradScaler, InPlaceLeavesUnscaledGradients) {
  WithGrad s({1024.0, -2048.0});
  GradScaler scaler({.init_scale = 1024});
  scaler.unscale_(*s.opt, {.in_place = true});
  EXPECT_EQ(s.param.grad().to_vector(), (std::vector<double>{1.0, -2.0}));
  scaler.step(*s.opt);
  EXPECT_EQ(s.param.to_vector(), (std::vector<double>{-1.0, 2.0}));
}

TEST(GradScaler, NormDoesNotDependOnThreadCount) {
  Generator gen(9);
  Tensor big = randn({300000}, gen).set_requires_grad(true);
  big.set_grad(randn({300000}, gen));
  optim::SGD opt({big}, {.lr = 0.1});
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = GradScaler().unscale_(opt).total_norm;
  omp_set_num_threads(3);
  const double three = GradScaler().unscale_(opt).total_norm;
  omp_set_num_threads(threads);
  EXPECT_EQ(one, three);
}

TEST(GradScaler, EachOptimizerSkipsOnItsOwnInfAndTheScaleBacksOffOnAny) {
  WithGrad clean({1.0, 1.0});
  WithGrad overflowing({1.0, kInf});
  GradScaler scaler({.init_scale = 4});
  EXPECT_TRUE(scaler.step(*clean.opt));
  EXPECT_FALSE(scaler.step(*overflowing.opt));
  EXPECT_EQ(clean.param.to_vector(), (std::vector<double>{-0.25, -0.25}));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 2.0);
  EXPECT_TRUE(scaler.found_inf());
}

TEST(GradScaler, StepOrderErrorsAsPyTorch) {
  WithGrad s({1.0});
  GradScaler scaler;
  EXPECT_THROW(scaler.update(), Error);  // nothing recorded yet
  scaler.unscale_(*s.opt);
  try {
    scaler.unscale_(*s.opt);
    ADD_FAILURE() << "second unscale_ did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already been called"), std::string::npos) << e.what();
  }
  scaler.step(*s.opt);
  EXPECT_THROW(scaler.step(*s.opt), Error);
  EXPECT_THROW(scaler.unscale_(*s.opt), Error);
  scaler.update();
  // a new step starts clean
  EXPECT_NO_THROW(scaler.unscale_(*s.opt));
  EXPECT_NO_THROW(scaler.step(*s.opt));
  EXPECT_NO_THROW(scaler.update());
}

TEST(GradScaler, DisabledNeverSkipsButStillClips) {
  WithGrad s({3.0, 4.0});
  GradScaler scaler({.enabled = false});
  const Unscaled u = scaler.unscale_(*s.opt, {.max_norm = 1.0});
  EXPECT_NEAR(u.total_norm, 5.0, 1e-12);
  EXPECT_TRUE(scaler.step(*s.opt));
  EXPECT_NEAR(s.param.to_vector()[0], -0.6, 1e-6);
  scaler.update();
  EXPECT_TRUE(scaler.state_dict().empty());
  WithGrad bad({kInf});
  EXPECT_TRUE(scaler.step(*bad.opt));  // as PyTorch: a disabled scaler does not skip
  EXPECT_TRUE(std::isinf(bad.param.to_vector()[0]));
  EXPECT_NO_THROW(scaler.load_state_dict({}));
}

TEST(GradScaler, StateDictRoundTripsAndResumesExactly) {
  GradScaler a({.growth_interval = 3});
  WithGrad s({1.0});
  for (int step = 0; step < 5; ++step) {
    a.step(*s.opt);
    a.update();
  }
  const optim::StateDict saved = a.state_dict();
  EXPECT_EQ(saved.at("scale").item(), 131072.0);
  EXPECT_EQ(saved.at("_growth_tracker").item(), 2.0);
  EXPECT_EQ(saved.at("growth_interval").item(), 3.0);
  EXPECT_EQ(saved.at("growth_factor").item(), 2.0);
  EXPECT_EQ(saved.at("backoff_factor").item(), 0.5);
  GradScaler b;  // other options: the dict brings them
  b.load_state_dict(saved);
  for (int step = 0; step < 4; ++step) {
    a.step(*s.opt);
    a.update();
    b.step(*s.opt);
    b.update();
    EXPECT_EQ(a.get_scale(), b.get_scale());
    EXPECT_EQ(a.growth_tracker(), b.growth_tracker());
  }
}

TEST(GradScaler, BadStateDictIsAClearErrorAndChangesNothing) {
  GradScaler scaler({.init_scale = 8});
  const optim::StateDict good = scaler.state_dict();
  auto with = [&](const std::string& key, double value) {
    optim::StateDict d = good;
    d[key] = scalar(value, DType::f64);
    return d;
  };
  const std::vector<std::pair<optim::StateDict, std::string>> cases = {
      {with("scale", kInf), "scale must be finite and > 0"},
      {with("scale", std::nan("")), "scale must be finite and > 0"},
      {with("scale", 0.0), "scale must be finite and > 0"},
      {with("scale", -2.0), "scale must be finite and > 0"},
      {with("scale", 1e39), "scale must be finite and > 0"},  // Inf as a f32
      {with("growth_factor", 1.0), "growth_factor must be > 1"},
      {with("backoff_factor", 1.0), "backoff_factor must be in (0, 1)"},
      {with("growth_interval", 0.0), "growth_interval must be a whole number"},
      {with("growth_interval", 2.5), "growth_interval must be a whole number"},
      {with("_growth_tracker", 2000.0), "_growth_tracker must be a whole number in [0"},
      {with("_growth_tracker", -1.0), "_growth_tracker must be a whole number in [0"},
      {{}, "the state dict is empty"},
  };
  for (const auto& [dict, message] : cases) {
    try {
      scaler.load_state_dict(dict);
      ADD_FAILURE() << "no error for: " << message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("GradScaler::load_state_dict"), std::string::npos);
    }
    EXPECT_EQ(scaler.get_scale(), 8.0);
  }
  optim::StateDict missing = good;
  missing.erase("_growth_tracker");
  EXPECT_THROW(scaler.load_state_dict(missing), Error);
  optim::StateDict shaped = good;
  shaped["scale"] = zeros({2}, DType::f64);
  EXPECT_THROW(scaler.load_state_dict(shaped), Error);
}

TEST(GradScaler, BadOptionsAndArgumentsThrow) {
  EXPECT_THROW(GradScaler({.init_scale = 0}), Error);
  EXPECT_THROW(GradScaler({.init_scale = kInf}), Error);
  EXPECT_THROW(GradScaler({.init_scale = std::nan("")}), Error);
  EXPECT_THROW(GradScaler({.growth_factor = 1.0}), Error);
  EXPECT_THROW(GradScaler({.backoff_factor = 1.0}), Error);
  EXPECT_THROW(GradScaler({.backoff_factor = 0.0}), Error);
  EXPECT_THROW(GradScaler({.growth_interval = 0}), Error);
  try {
    GradScaler({.growth_factor = 0.5});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "GradScaler: growth_factor must be > 1, got 0.5");
  }
  GradScaler scaler;
  WithGrad s({1.0});
  EXPECT_THROW(scaler.update(kInf), Error);
  EXPECT_THROW(scaler.update(0.0), Error);
  EXPECT_THROW(scaler.unscale_(*s.opt, {.max_norm = 0.0}), Error);
  EXPECT_THROW(scaler.unscale_(*s.opt, {.norm_type = -1.0}), Error);
  EXPECT_THROW(scaler.scale(Tensor()), Error);
  scaler.update(256.0);
  EXPECT_EQ(scaler.get_scale(), 256.0);
}

}  // namespace
}  // namespace descent::amp

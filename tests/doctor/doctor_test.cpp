#include "descent/train/doctor.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "descent/core/error.hpp"

namespace descent::train {
namespace {

// A healthy run: loss decaying with noise, gradient norm wandering around 1, update ratio
// near 1e-3, few dead units.
StepStats healthy(std::int64_t step) {
  const double wobble = std::sin(step * 0.7);
  return {.step = step,
          .loss = 2.3 * std::exp(-step / 300.0) + 0.1 + 0.05 * wobble,
          .grad_norm = 1.0 + 0.3 * wobble,
          .lr = 0.1,
          .update_ratio = 1e-3 * (1.0 + 0.5 * wobble),
          .dead_relu_fraction = 0.1 + 0.05 * wobble};
}

std::vector<std::string> run(Doctor& doctor, std::int64_t steps, StepStats (*make)(std::int64_t)) {
  std::vector<std::string> codes;
  for (std::int64_t step = 0; step < steps; ++step) {
    for (const Diagnosis& d : doctor.observe(make(step))) codes.push_back(d.code);
  }
  return codes;
}

TEST(Doctor, QuietOnAHealthyRun) {
  Doctor doctor;
  EXPECT_TRUE(run(doctor, 2000, healthy).empty());
  EXPECT_TRUE(doctor.observe_evaluation({.batch_norm_in_training = false}, 2000).empty());
}

TEST(Doctor, QuietOnANoisyButBoundedGradientNorm) {
  Doctor doctor;
  auto spiky = [](std::int64_t step) {
    StepStats s = healthy(step);
    s.grad_norm = step % 10 == 0 ? 50.0 : 0.5;  // spikes, but no steady growth
    return s;
  };
  EXPECT_TRUE(run(doctor, 500, spiky).empty());
}

TEST(Doctor, ExplodingGradients) {
  Doctor doctor;
  auto exploding = [](std::int64_t step) {
    StepStats s = healthy(step);
    if (step > 100) s.grad_norm = std::pow(1.3, step - 100.0);
    return s;
  };
  const auto codes = run(doctor, 200, exploding);
  ASSERT_EQ(codes, std::vector<std::string>{"exploding_gradients"});
  EXPECT_NE(doctor.diagnoses()[0].message.find("--clip-norm"), std::string::npos);
  EXPECT_GT(doctor.diagnoses()[0].step, 100);
  EXPECT_LT(doctor.diagnoses()[0].step, 140);
}

TEST(Doctor, NonFiniteGradientNorm) {
  Doctor doctor;
  auto blows_up = [](std::int64_t step) {
    StepStats s = healthy(step);
    if (step == 50) s.grad_norm = std::numeric_limits<double>::infinity();
    return s;
  };
  EXPECT_EQ(run(doctor, 60, blows_up), std::vector<std::string>{"exploding_gradients"});
  EXPECT_EQ(doctor.diagnoses()[0].step, 50);
}

TEST(Doctor, EarlyDivergenceWithoutWarmup) {
  auto diverging = [](std::int64_t step) {
    StepStats s = healthy(step);
    s.loss = 2.3 * std::exp(step / 10.0);
    s.lr = 1.0;
    return s;
  };
  Doctor doctor;
  EXPECT_EQ(run(doctor, 100, diverging), std::vector<std::string>{"early_divergence"});
  EXPECT_NE(doctor.diagnoses()[0].message.find("warmup"), std::string::npos);
  // With warmup configured the doctor does not suggest it.
  Doctor with_warmup({.warmup_steps = 500});
  EXPECT_TRUE(run(with_warmup, 100, diverging).empty());
}

TEST(Doctor, UpdateRatioTooHighAndTooLow) {
  Doctor high;
  auto big = [](std::int64_t step) {
    StepStats s = healthy(step);
    s.update_ratio = 0.2;
    return s;
  };
  EXPECT_EQ(run(high, 100, big), std::vector<std::string>{"update_ratio_high"});
  EXPECT_EQ(high.diagnoses()[0].step, 49);
  Doctor low;
  auto tiny = [](std::int64_t step) {
    StepStats s = healthy(step);
    s.update_ratio = 1e-7;
    return s;
  };
  EXPECT_EQ(run(low, 100, tiny), std::vector<std::string>{"update_ratio_low"});
  // A short excursion is not enough.
  Doctor brief;
  auto excursion = [](std::int64_t step) {
    StepStats s = healthy(step);
    if (step % 60 < 30) s.update_ratio = 0.2;
    return s;
  };
  EXPECT_TRUE(run(brief, 300, excursion).empty());
}

TEST(Doctor, DeadRelus) {
  Doctor doctor;
  auto dead = [](std::int64_t step) {
    StepStats s = healthy(step);
    if (step > 30) s.dead_relu_fraction = 0.8;
    return s;
  };
  EXPECT_EQ(run(doctor, 100, dead), std::vector<std::string>{"dead_relus"});
}

TEST(Doctor, BatchNormInTrainingModeDuringEvaluation) {
  Doctor doctor;
  const auto d = doctor.observe_evaluation({.batch_norm_in_training = true, .module = "bn1"}, 7);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].message.find("'bn1'"), std::string::npos);
  EXPECT_NE(d[0].message.find("model.eval()"), std::string::npos);
  // once per run
  EXPECT_TRUE(doctor.observe_evaluation({.batch_norm_in_training = true}, 8).empty());
}

TEST(Doctor, UnknownFieldsKeepRulesQuiet) {
  Doctor doctor;
  for (std::int64_t step = 0; step < 300; ++step) {
    EXPECT_TRUE(doctor.observe({.step = step}).empty());
  }
}

TEST(Doctor, BadOptionsThrow) {
  EXPECT_THROW(Doctor({.explode_window = 1}), Error);
  EXPECT_THROW(Doctor({.spike_factor = 0.5}), Error);
  EXPECT_THROW(Doctor({.ratio_high = 0.1, .ratio_low = 1.0}), Error);
}

}  // namespace
}  // namespace descent::train

namespace descent::train {
namespace {

TEST(Doctor, Fp16UnderflowWithoutLossScalingOnly) {
  // 5% of the gradient values flushed to zero: a warning without scaling, none with it
  for (double scale : {1.0, 65536.0}) {
    Doctor doctor;
    std::vector<std::string> codes;
    for (std::int64_t step = 0; step < 50; ++step) {
      StepStats s = healthy(step);
      s.fp16_underflow = step < 10 ? 0.0 : 0.05;
      s.loss_scale = scale;
      for (const Diagnosis& d : doctor.observe(s)) {
        codes.push_back(d.code);
        EXPECT_NE(d.message.find("5% of the nonzero gradient values underflowed"),
                  std::string::npos)
            << d.message;
      }
    }
    EXPECT_EQ(codes, scale == 1.0 ? std::vector<std::string>{"fp16_underflow"}
                                  : std::vector<std::string>{});
  }
  // below the threshold (0.1%): quiet
  Doctor doctor;
  StepStats s = healthy(1);
  s.fp16_underflow = 5e-4;
  s.loss_scale = 1.0;
  EXPECT_TRUE(doctor.observe(s).empty());
  EXPECT_THROW(Doctor({.underflow_fraction = 2.0}), Error);
}

}  // namespace
}  // namespace descent::train

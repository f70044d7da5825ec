// Checks every optimizer's test runs: convergence on toy functions, exact resume from a
// state dict, and clear errors for bad options.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "descent/optim/optimizer.hpp"
#include "torch_reference.hpp"

namespace descent::optim::testing {

// ---- toy functions (f64, gradients in closed form) ----

struct ToyFunction {
  std::string name;
  std::vector<double> start;
  std::vector<double> minimum;
  std::function<double(const double*)> value;
  std::function<void(const double*, double*)> gradient;
};

// f(x, y) = x^2 + 10 y^2: a parabola with condition number 10.
inline ToyFunction parabola() {
  return {"parabola",
          {1.5, -1.0},
          {0.0, 0.0},
          [](const double* x) { return x[0] * x[0] + 10.0 * x[1] * x[1]; },
          [](const double* x, double* g) {
            g[0] = 2.0 * x[0];
            g[1] = 20.0 * x[1];
          }};
}

// Rosenbrock with a = 1, b = 100: a curved valley with its minimum at (1, 1).
inline ToyFunction rosenbrock() {
  return {"rosenbrock",
          {-1.0, 1.5},
          {1.0, 1.0},
          [](const double* x) {
            return (1.0 - x[0]) * (1.0 - x[0]) + 100.0 * std::pow(x[1] - x[0] * x[0], 2);
          },
          [](const double* x, double* g) {
            g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
            g[1] = 200.0 * (x[1] - x[0] * x[0]);
          }};
}

// Runs `steps` steps from the function's start; expects to end within `tolerance` of the
// minimum (and to have started farther than that).
template <typename Opt>
void expect_converges(const typename Opt::OptionsType& options, const ToyFunction& f, int steps,
                      double tolerance) {
  SCOPED_TRACE(std::string(Opt::name) + " on " + f.name);
  Tensor x = from_vector(f.start, {2}, DType::f64).set_requires_grad(true);
  Tensor grad = zeros({2}, DType::f64);
  x.set_grad(grad);
  Opt opt({x}, options);
  auto distance = [&] {
    return std::hypot(x.data<double>()[0] - f.minimum[0], x.data<double>()[1] - f.minimum[1]);
  };
  ASSERT_GT(distance(), 10 * tolerance);
  for (int step = 0; step < steps; ++step) {
    f.gradient(x.data<double>(), grad.data<double>());
    opt.step();
  }
  EXPECT_LT(distance(), tolerance) << "ended at (" << x.data<double>()[0] << ", "
                                   << x.data<double>()[1] << "), f = " << f.value(x.data<double>());
}

// ---- exact resume ----

inline std::vector<Tensor> clone_params(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.clone().set_requires_grad(true));
  return out;
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// 200 f32 steps of the reference problem without a break, against 100 steps, a state dict
// (cloned: it shares memory with the optimizer), a fresh optimizer on copied parameters
// that loads it, and 100 more steps: the parameters and the state must be bit-identical.
template <typename Opt>
void expect_resumes_exactly(const typename Opt::OptionsType& options) {
  SCOPED_TRACE(Opt::name);
  auto make = [&](const std::vector<Tensor>& p) {
    return Opt(std::vector<ParamGroup<typename Opt::OptionsType>>{{{p[0], p[1]}, options},
                                                                  {{p[2]}, options}});
  };
  std::vector<Tensor> straight = problem_params(DType::f32);
  Opt straight_opt = make(straight);
  std::vector<Tensor> first = problem_params(DType::f32);
  Opt first_opt = make(first);
  for (int t = 1; t <= 100; ++t) {
    set_problem_grads<float>(straight, t);
    straight_opt.step();
    set_problem_grads<float>(first, t);
    first_opt.step();
  }
  StateDict saved;
  for (const auto& [key, value] : first_opt.state_dict()) saved[key] = value.clone();

  std::vector<Tensor> resumed = clone_params(first);
  Opt resumed_opt = make(resumed);
  resumed_opt.load_state_dict(saved);
  for (int t = 101; t <= 200; ++t) {
    set_problem_grads<float>(straight, t);
    straight_opt.step();
    set_problem_grads<float>(resumed, t);
    resumed_opt.step();
  }
  for (std::size_t i = 0; i < straight.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(straight[i], resumed[i])) << "parameter " << i;
  }
  const StateDict a = straight_opt.state_dict();
  const StateDict b = resumed_opt.state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, value] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    EXPECT_TRUE(bitwise_equal(value, b.at(key))) << key;
  }
}

// ---- bad options ----

template <typename Opt>
void expect_rejects(const typename Opt::OptionsType& options, const std::string& message) {
  Tensor p = zeros({3}).set_requires_grad(true);
  try {
    Opt opt({p}, options);
    ADD_FAILURE() << "no error; expected: " << message;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

}  // namespace descent::optim::testing

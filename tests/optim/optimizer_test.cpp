// The shared machinery: skipping, gradient scale and skip flag, zero_grad, lr per group,
// flat buffers and views, no allocation after the first step, state dicts, the registry,
// and the errors for bad parameters.
#include <gtest/gtest.h>

#include <cmath>

#include "descent/core/allocator.hpp"
#include "descent/ops/arith.hpp"
#include "descent/optim/all.hpp"
#include "helpers.hpp"

namespace descent::optim {
namespace {

using testing::bitwise_equal;

// Every registered optimizer, with default options.
std::vector<std::string> all_names() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : optimizer_registry()) names.push_back(name);
  return names;
}

bool is_layer_wise(const std::string& name) {
  return name == "lamb" || name == "lars";
}

Tensor param_with_grad(const Shape& shape, std::uint64_t seed, DType dtype = DType::f32) {
  Generator gen(seed);
  Tensor p = randn(shape, gen, dtype).set_requires_grad(true);
  p.set_grad(randn(shape, gen, dtype));
  return p;
}

void expect_throws_message(const std::function<void()>& fn, const std::string& message) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected: " << message;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(Optimizer, RegistryHasEveryOptimizer) {
  EXPECT_EQ(all_names(),
            (std::vector<std::string>{"adadelta", "adagrad", "adam", "adamax", "adamw", "lamb",
                                      "lars", "lion", "nadam", "radam", "rmsprop", "sgd"}));
}

TEST(Optimizer, SkipsParamsWithoutGrad) {
  for (const std::string& name : all_names()) {
    SCOPED_TRACE(name);
    Tensor with = param_with_grad({5}, 1);
    Tensor without = param_with_grad({4}, 2);
    without.set_grad(Tensor());
    const Tensor before = without.clone();
    auto opt = create_optimizer(name, {with, without}, {{"lr", "0.1"}});
    opt->step();
    opt->step();
    EXPECT_TRUE(bitwise_equal(without, before));
    EXPECT_EQ(opt->state(0).step, 2);
    EXPECT_FALSE(opt->state(1).initialized);
    EXPECT_EQ(opt->state_dict().count("state.1.step"), 0u);
  }
}

TEST(Optimizer, GradScaleFoldsIntoTheStep) {
  // Doubled gradients with grad_scale 0.5 give bit-identical steps (both scalings are exact).
  for (const std::string& name : all_names()) {
    SCOPED_TRACE(name);
    Tensor a = param_with_grad({7, 3}, 3);
    Tensor b = a.clone().set_requires_grad(true);
    b.set_grad(ops::mul(a.grad(), 2.0));
    auto opt_a = create_optimizer(name, {a}, {{"lr", "0.01"}});
    auto opt_b = create_optimizer(name, {b}, {{"lr", "0.01"}});
    for (int step = 0; step < 3; ++step) {
      opt_a->step();
      opt_b->step({.grad_scale = 0.5f});
    }
    EXPECT_TRUE(bitwise_equal(a, b));
  }
}

TEST(Optimizer, SkipFlagChangesNothing) {
  for (const std::string& name : all_names()) {
    SCOPED_TRACE(name);
    Tensor p = param_with_grad({6}, 4);
    auto opt = create_optimizer(name, {p}, {{"lr", "0.1"}});
    opt->step();
    const Tensor before = p.clone();
    StateDict state;
    for (const auto& [key, value] : opt->state_dict()) state[key] = value.clone();
    opt->step({.grad_scale = 1.0f, .skip = true});
    EXPECT_TRUE(bitwise_equal(p, before));
    for (const auto& [key, value] : opt->state_dict()) {
      EXPECT_TRUE(bitwise_equal(value, state.at(key))) << key;
    }
    EXPECT_EQ(opt->state(0).step, 1);
  }
}

TEST(Optimizer, ZeroGradZerosInPlace) {
  Tensor p = param_with_grad({3, 4}, 5);
  Tensor q = param_with_grad({2}, 6);
  q.set_grad(Tensor());
  const Tensor grad = p.grad();
  SGD opt({p, q});
  opt.zero_grad();
  EXPECT_TRUE(p.grad().same_storage(grad));
  for (double v : grad.to_vector()) EXPECT_EQ(v, 0.0);
  EXPECT_FALSE(q.grad().defined());
}

TEST(Optimizer, LrPerGroup) {
  Tensor a = param_with_grad({2}, 7);
  Tensor b = param_with_grad({2}, 8);
  SGD opt({{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.2, .momentum = 0.9}}});
  EXPECT_EQ(opt.num_groups(), 2u);
  EXPECT_EQ(opt.lr(0), 0.1);
  EXPECT_EQ(opt.lr(1), 0.2);
  opt.set_lr(1, 0.05);
  EXPECT_EQ(opt.lr(1), 0.05);
  EXPECT_EQ(opt.options(1).momentum, 0.9);
  opt.set_lr(0.3);
  EXPECT_EQ(opt.lr(0), 0.3);
  EXPECT_EQ(opt.lr(1), 0.3);
  expect_throws_message([&] { opt.set_lr(0, -1.0); }, "SGD: lr must be >= 0, got -1");
  expect_throws_message([&] { opt.lr(2); }, "SGD: param group 2 does not exist (there are 2)");
  expect_throws_message([&] { opt.set_lr(2, 0.1); },
                        "SGD: param group 2 does not exist (there are 2)");
}

TEST(Optimizer, LrChangeTakesEffectNextStep) {
  Tensor p = zeros({1}, DType::f64).set_requires_grad(true);
  p.set_grad(ones({1}, DType::f64));
  SGD opt({p}, {.lr = 0.1});
  opt.step();
  opt.set_lr(0.5);
  opt.step();
  EXPECT_DOUBLE_EQ(p.item(), -0.6);
}

// The flat buffer as one parameter, or as views into it (with views of the flat gradient):
// an element-wise rule gives bit-identical results either way, threaded or not.
TEST(Optimizer, FlatBufferAndViewsAgree) {
  const std::int64_t n = 40000;  // above the threading threshold
  const std::vector<std::int64_t> sizes = {35000, 4990, 10};
  for (const std::string& name : all_names()) {
    if (is_layer_wise(name)) continue;  // one trust ratio per tensor, by design
    SCOPED_TRACE(name);
    Tensor flat = param_with_grad({n}, 9);
    Tensor buffer = flat.clone();
    Tensor grad_buffer = flat.grad().clone();
    std::vector<Tensor> views;
    std::int64_t offset = 0;
    for (std::int64_t size : sizes) {
      Tensor view = buffer.view_of(offset, {size}).set_requires_grad(true);
      view.set_grad(grad_buffer.view_of(offset, {size}));
      views.push_back(view);
      offset += size;
    }
    auto opt_flat = create_optimizer(name, {flat}, {{"lr", "0.01"}});
    auto opt_views = create_optimizer(name, views, {{"lr", "0.01"}});
    for (int step = 0; step < 3; ++step) {
      opt_flat->step();
      opt_views->step();
    }
    EXPECT_TRUE(bitwise_equal(flat, buffer));
  }
}

TEST(Optimizer, NoAllocationAfterFirstStep) {
  for (const std::string& name : all_names()) {
    SCOPED_TRACE(name);
    Tensor flat = param_with_grad({40000}, 10);
    Tensor small = param_with_grad({3, 5}, 11);
    auto opt = create_optimizer(name, {flat, small}, {{"lr", "0.01"}});
    opt->step();
    const AllocatorStats before = allocator_stats();
    for (int step = 0; step < 5; ++step) {
      opt->step({.grad_scale = 0.5f});
      opt->zero_grad();
    }
    const AllocatorStats after = allocator_stats();
    EXPECT_EQ(after.system_allocs, before.system_allocs);
    EXPECT_EQ(after.cache_hits, before.cache_hits);
    EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  }
}

TEST(Optimizer, MixedDtypesInOneOptimizer) {
  Tensor single = param_with_grad({4}, 12, DType::f32);
  Tensor dbl = param_with_grad({4}, 13, DType::f64);
  Tensor single_alone = single.clone().set_requires_grad(true);
  single_alone.set_grad(single.grad());
  Tensor dbl_alone = dbl.clone().set_requires_grad(true);
  dbl_alone.set_grad(dbl.grad());
  Adam both({single, dbl}, {.lr = 0.1});
  Adam a({single_alone}, {.lr = 0.1});
  Adam b({dbl_alone}, {.lr = 0.1});
  both.step();
  a.step();
  b.step();
  EXPECT_TRUE(bitwise_equal(single, single_alone));
  EXPECT_TRUE(bitwise_equal(dbl, dbl_alone));
  EXPECT_EQ(both.state_dict().at("state.0.exp_avg").dtype(), DType::f32);
  EXPECT_EQ(both.state_dict().at("state.1.exp_avg").dtype(), DType::f64);
}

TEST(Optimizer, TwoPassRuleOnThreadedTensor) {
  // LAMB on a tensor above the threading threshold: one step from zero state against the
  // formula written out serially.
  const std::int64_t n = 40000;  // above the threading threshold
  Tensor p = param_with_grad({n}, 14, DType::f64);
  const std::vector<double> x = p.to_vector();
  const std::vector<double> g = p.grad().to_vector();
  LAMB opt({p}, {.lr = 0.01, .weight_decay = 0.1});
  opt.step();
  const double beta1 = 0.9;
  const double beta2 = 0.999;
  const double eps = 1e-6;
  std::vector<double> direction(n);
  double x_sq = 0;
  double d_sq = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double m_hat = (1 - beta1) * g[i] / (1 - beta1);
    const double v_hat = (1 - beta2) * g[i] * g[i] / (1 - beta2);
    direction[i] = m_hat / (std::sqrt(v_hat) + eps) + 0.1 * x[i];
    x_sq += x[i] * x[i];
    d_sq += direction[i] * direction[i];
  }
  const double trust = std::sqrt(x_sq) / std::sqrt(d_sq);
  const std::vector<double> after = p.to_vector();
  for (std::int64_t i = 0; i < n; i += 997) {
    EXPECT_NEAR(after[i], x[i] - 0.01 * trust * direction[i], 1e-12) << i;
  }
}

// ---- bad parameters ----

TEST(Optimizer, RejectsBadParameters) {
  expect_throws_message([] { SGD opt(std::vector<Tensor>{}); }, "SGD: got an empty parameter list");
  Tensor p = param_with_grad({2, 3}, 15);
  expect_throws_message(
      [&] {
        Adam opt({p, p});
      },
      "Adam: parameters 0 and 1 share memory (the same tensor twice, or a view "
      "and the buffer it views); pass each parameter once");
  expect_throws_message(
      [&] {
        Adam opt({p, p.view_of(2, {2}).set_requires_grad(true)});
      },
      "Adam: parameters 0 and 1 share memory (the same tensor twice, or a view "
      "and the buffer it views); pass each parameter once");
  Tensor made = ops::mul(p, 2.0);
  expect_throws_message([&] { SGD opt({made}); },
                        "SGD: parameter 0 (2, 3) is not a leaf (it was made by an op); optimize "
                        "the leaf it came from");
  expect_throws_message([] { SGD opt({zeros({3}, DType::i64)}); },
                        "SGD: parameter 0 (3) is i64; optimizers update f32 or f64 tensors");
  expect_throws_message([] { SGD opt({Tensor()}); },
                        "SGD: parameter 0 (group 0) is an undefined tensor");
  // Disjoint views of one buffer are fine.
  Tensor buffer = zeros({10}).set_requires_grad(true);
  SGD views({buffer.view_of(0, {5}).set_requires_grad(true),
             buffer.view_of(5, {5}).set_requires_grad(true)});
  EXPECT_EQ(views.num_params(), 2u);
}

// ---- options ----

TEST(Optimizer, SetOptionsValidatesAndKeepsState) {
  Tensor p = param_with_grad({3}, 16);
  Adam opt({p});
  opt.set_options(0, {.lr = 0.5, .amsgrad = true});  // no state yet: any change
  EXPECT_EQ(opt.options().lr, 0.5);
  opt.step();
  expect_throws_message([&] { opt.set_options(0, {.amsgrad = false}); },
                        "Adam: set_options: group 0 has state; options that change which state is "
                        "kept ((exp_avg, exp_avg_sq, max_exp_avg_sq) -> (exp_avg, exp_avg_sq)) "
                        "cannot change after its first step");
  expect_throws_message([&] { opt.set_options(0, {.eps = -1, .amsgrad = true}); },
                        "Adam: eps must be > 0, got -1");
  opt.set_options(0, {.lr = 0.01, .betas = {0.8, 0.9}, .amsgrad = true});
  EXPECT_EQ(opt.options().betas[0], 0.8);
}

TEST(Optimizer, OptionsAsText) {
  Tensor p = param_with_grad({3}, 33);
  auto opt = create_optimizer("adam", {p}, {{"lr", "0.01"}});
  EXPECT_EQ(opt->group_options(0), (OptionMap{{"amsgrad", "false"},
                                              {"betas", "0.9,0.999"},
                                              {"eps", "1e-08"},
                                              {"lr", "0.01"},
                                              {"maximize", "false"},
                                              {"weight_decay", "0"}}));
  opt->update_group_options(0, {{"betas", "0.8,0.9"}, {"weight_decay", "0.1"}});
  const auto& adam = dynamic_cast<const Adam&>(*opt);
  EXPECT_EQ(adam.options().betas[0], 0.8);
  EXPECT_EQ(adam.options().weight_decay, 0.1);
  EXPECT_EQ(adam.options().lr, 0.01);
  expect_throws_message(
      [&] {
        opt->update_group_options(0, {{"betas", "0.8,1.0"}});
      },
      "Adam: beta2 must be in [0, 1), got 1");
  expect_throws_message(
      [&] {
        opt->update_group_options(0, {{"momentum", "0.9"}});
      },
      "Adam: unknown option 'momentum' (options: lr, betas, eps, weight_decay, "
      "amsgrad, maximize)");
  EXPECT_EQ(adam.options().betas[1], 0.9);  // unchanged by the failures
}

TEST(Optimizer, WeightDecayGroups) {
  Tensor weight = zeros({4, 3}).set_requires_grad(true);
  Tensor bias = zeros({4}).set_requires_grad(true);
  Tensor scale = zeros({4}).set_requires_grad(true);
  const auto groups = weight_decay_groups<AdamWOptions>({weight, bias, scale}, {.lr = 1e-3});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].params.size(), 1u);
  EXPECT_EQ(groups[0].options.weight_decay, 1e-2);
  EXPECT_EQ(groups[1].params.size(), 2u);
  EXPECT_EQ(groups[1].options.weight_decay, 0.0);
  EXPECT_EQ(groups[1].options.lr, 1e-3);
  AdamW opt(groups);
  EXPECT_EQ(opt.num_groups(), 2u);
  EXPECT_EQ(weight_decay_groups<SGDOptions>({bias}, {}).size(), 1u);
}

// ---- state dicts ----

TEST(StateDict, HasPyTorchNames) {
  Tensor a = param_with_grad({2, 2}, 17);
  Tensor b = param_with_grad({3}, 18);
  Adam opt({{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.2, .amsgrad = true}}});
  opt.step();
  std::vector<std::string> keys;
  for (const auto& [key, value] : opt.state_dict()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"param_groups.0.amsgrad",
                                            "param_groups.0.betas",
                                            "param_groups.0.eps",
                                            "param_groups.0.lr",
                                            "param_groups.0.maximize",
                                            "param_groups.0.params",
                                            "param_groups.0.weight_decay",
                                            "param_groups.1.amsgrad",
                                            "param_groups.1.betas",
                                            "param_groups.1.eps",
                                            "param_groups.1.lr",
                                            "param_groups.1.maximize",
                                            "param_groups.1.params",
                                            "param_groups.1.weight_decay",
                                            "state.0.exp_avg",
                                            "state.0.exp_avg_sq",
                                            "state.0.step",
                                            "state.1.exp_avg",
                                            "state.1.exp_avg_sq",
                                            "state.1.max_exp_avg_sq",
                                            "state.1.step"}));
  const StateDict dict = opt.state_dict();
  EXPECT_EQ(dict.at("state.0.step").item(), 1.0);
  EXPECT_EQ(dict.at("param_groups.1.lr").item(), 0.2);
  EXPECT_EQ(dict.at("param_groups.1.params").to_vector(), std::vector<double>{1.0});
  EXPECT_EQ(dict.at("param_groups.0.betas").to_vector(), (std::vector<double>{0.9, 0.999}));
  EXPECT_TRUE(dict.at("state.0.exp_avg").same_storage(opt.state(0).buffers[0]));
}

TEST(StateDict, LoadRestoresOptions) {
  Tensor p = param_with_grad({3}, 19);
  SGD source({p}, {.lr = 0.3, .momentum = 0.9, .nesterov = true});
  source.step();
  Tensor q = p.clone().set_requires_grad(true);
  SGD target({q}, {.lr = 0.01});
  target.load_state_dict(source.state_dict());
  EXPECT_EQ(target.lr(), 0.3);
  EXPECT_TRUE(target.options().nesterov);
  EXPECT_EQ(target.state(0).step, 1);
}

TEST(StateDict, RejectsMismatches) {
  Tensor p = param_with_grad({2, 3}, 20);
  SGD sgd({p}, {.lr = 0.1, .momentum = 0.9});
  sgd.step();
  const StateDict sgd_state = sgd.state_dict();

  Tensor q = param_with_grad({2, 3}, 21);
  Adam adam({q});
  adam.step();
  const Tensor before = adam.state(0).buffers[0].clone();
  expect_throws_message([&] { adam.load_state_dict(sgd_state); },
                        "Adam: load_state_dict: missing entry 'param_groups.0.betas' (is this the "
                        "state dict of another optimizer?)");
  // The failed load changed nothing.
  EXPECT_TRUE(bitwise_equal(adam.state(0).buffers[0], before));
  EXPECT_EQ(adam.lr(), 1e-3);

  // Same options, wrong state names.
  StateDict renamed = adam.state_dict();
  renamed["state.0.momentum_buffer"] = renamed.at("state.0.exp_avg");
  expect_throws_message([&] { adam.load_state_dict(renamed); },
                        "Adam: load_state_dict: unexpected entry 'state.0.momentum_buffer' (is "
                        "this the state dict of another optimizer, or of other options?)");
  StateDict missing = adam.state_dict();
  missing.erase("state.0.exp_avg_sq");
  expect_throws_message([&] { adam.load_state_dict(missing); },
                        "Adam: load_state_dict: missing entry 'state.0.exp_avg_sq' (is this the "
                        "state dict of another optimizer?)");

  // Wrong shape.
  Tensor other = param_with_grad({3, 2}, 22);
  SGD sgd_other({other}, {.lr = 0.1, .momentum = 0.9});
  expect_throws_message([&] { sgd_other.load_state_dict(sgd_state); },
                        "SGD: load_state_dict: 'state.0.momentum_buffer' is (2, 3) f32 but "
                        "parameter 0 is (3, 2) f32");

  // Other groups.
  SGD two_groups({{{param_with_grad({2, 3}, 23)}, {}}, {{param_with_grad({1}, 24)}, {}}});
  expect_throws_message([&] { two_groups.load_state_dict(sgd_state); },
                        "SGD: load_state_dict: missing entry 'param_groups.1.params' (is this "
                        "the state dict of another optimizer?)");
  SGD two_params({param_with_grad({2, 3}, 25), param_with_grad({1}, 26)});
  expect_throws_message([&] { two_params.load_state_dict(sgd_state); },
                        "SGD: load_state_dict: group 0 has 2 parameters but the state dict's "
                        "has 1");

  // Bad values.
  StateDict bad_step = sgd_state;
  bad_step["state.0.step"] = scalar(1.5, DType::f64);
  expect_throws_message([&] { sgd.load_state_dict(bad_step); },
                        "SGD: load_state_dict: state.0.step must be a non-negative integer, got "
                        "1.5");
  StateDict bad_lr = sgd_state;
  bad_lr["param_groups.0.lr"] = scalar(-1.0, DType::f64);
  expect_throws_message([&] { sgd.load_state_dict(bad_lr); }, "SGD: lr must be >= 0, got -1");
}

TEST(StateDict, NeverSteppedParamsHaveNoState) {
  Tensor a = param_with_grad({2}, 27);
  Tensor b = param_with_grad({2}, 28);
  b.set_grad(Tensor());
  Adam opt({a, b});
  opt.step();
  Adam fresh({a.clone().set_requires_grad(true), b.clone().set_requires_grad(true)});
  fresh.load_state_dict(opt.state_dict());
  EXPECT_TRUE(fresh.state(0).initialized);
  EXPECT_FALSE(fresh.state(1).initialized);
}

// ---- registry ----

TEST(Registry, CreatesFromText) {
  Tensor p = param_with_grad({3}, 29);
  auto opt =
      create_optimizer("adamw", {p}, {{"lr", "3e-4"}, {"betas", "0.9,0.95"}, {"amsgrad", "true"}});
  EXPECT_EQ(opt->name(), "AdamW");
  const auto& adamw = dynamic_cast<const AdamW&>(*opt);
  EXPECT_EQ(adamw.options().lr, 3e-4);
  EXPECT_EQ(adamw.options().betas[1], 0.95);
  EXPECT_TRUE(adamw.options().amsgrad);
  EXPECT_EQ(adamw.options().weight_decay, 1e-2);
}

TEST(Registry, GroupOverrides) {
  Tensor a = param_with_grad({3, 3}, 30);
  Tensor b = param_with_grad({3}, 31);
  auto opt = create_optimizer("sgd", {{{a}, {}}, {{b}, {{"weight_decay", "0"}}}},
                              {{"lr", "0.1"}, {"momentum", "0.9"}, {"weight_decay", "5e-4"}});
  const auto& sgd = dynamic_cast<const SGD&>(*opt);
  EXPECT_EQ(sgd.options(0).weight_decay, 5e-4);
  EXPECT_EQ(sgd.options(1).weight_decay, 0.0);
  EXPECT_EQ(sgd.options(1).momentum, 0.9);
}

TEST(Registry, ListsOptionsWithDefaults) {
  const RegistryEntry& adam = optimizer_registry().at("adam");
  ASSERT_EQ(adam.options.size(), 6u);
  EXPECT_EQ(adam.options[0].name, "lr");
  EXPECT_EQ(adam.options[0].default_value, "0.001");
  EXPECT_EQ(adam.options[1].name, "betas");
  EXPECT_EQ(adam.options[1].default_value, "0.9,0.999");
  EXPECT_EQ(adam.options[4].default_value, "false");
  EXPECT_FALSE(adam.summary.empty());
}

TEST(Registry, RejectsBadText) {
  Tensor p = param_with_grad({3}, 32);
  expect_throws_message([&] { create_optimizer("adma", {p}); },
                        "unknown optimizer 'adma' (known: adadelta, adagrad, adam, adamax, adamw, "
                        "lamb, lars, lion, nadam, radam, rmsprop, sgd)");
  expect_throws_message(
      [&] {
        create_optimizer("adam", {p}, {{"momentum", "0.9"}});
      },
      "Adam: unknown option 'momentum' (options: lr, betas, eps, weight_decay, "
      "amsgrad, maximize)");
  expect_throws_message(
      [&] {
        create_optimizer("adam", {p}, {{"lr", "fast"}});
      },
      "Adam: option lr: expected a number, got 'fast'");
  expect_throws_message(
      [&] {
        create_optimizer("adam", {p}, {{"lr", "0.1x"}});
      },
      "Adam: option lr: expected a number, got '0.1x'");
  expect_throws_message(
      [&] {
        create_optimizer("adam", {p}, {{"betas", "0.9"}});
      },
      "Adam: option betas: expected two numbers as 'beta1,beta2', got '0.9'");
  expect_throws_message(
      [&] {
        create_optimizer("adam", {p}, {{"amsgrad", "maybe"}});
      },
      "Adam: option amsgrad: expected true or false, got 'maybe'");
  expect_throws_message(
      [&] {
        create_optimizer("adam", {p}, {{"betas", "0.9,1.5"}});
      },
      "Adam: beta2 must be in [0, 1), got 1.5");
  expect_throws_message(
      [&] {
        create_optimizer("sgd", {p}, {{"nesterov", "true"}});
      },
      "SGD: nesterov needs momentum > 0 and dampening = 0, got momentum 0 and "
      "dampening 0");
}

}  // namespace
}  // namespace descent::optim

// Module: registration and naming, train/eval, state_dict and load_state_dict, the
// forgotten-eval() warning.
#include <gtest/gtest.h>

#include "descent/autograd/autograd.hpp"
#include "descent/nn/nn.hpp"
#include "descent/ops.hpp"
#include "nn_test_util.hpp"

namespace descent {
namespace {

using testing::expect_error;

// A model with its own parameter and buffer, a Sequential with a default-named and a named
// child, and a norm layer.
class Tiny : public nn::Module {
 public:
  explicit Tiny(Generator& gen) : Module("Tiny") {
    scale = register_parameter("scale", ones({3}), nn::ParamKind::norm);
    register_buffer("steps", zeros({}, DType::i64));
    body = register_module("body", std::make_shared<nn::Sequential>());
    body->push_back(std::make_shared<nn::Linear>(3, 4, gen));
    body->push_back(std::make_shared<nn::ReLU>());
    body->push_back("head", std::make_shared<nn::Linear>(4, 2, gen));
    norm = register_module("norm", std::make_shared<nn::BatchNorm1d>(2));
  }
  Tensor forward(const Tensor& x) override {  // (N, 3) -> (N, 2)
    return norm->forward(body->forward(ops::mul(x, scale)));
  }
  Tensor scale;
  std::shared_ptr<nn::Sequential> body;
  std::shared_ptr<nn::BatchNorm1d> norm;
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& items) {
  std::vector<std::string> out;
  for (const auto& [name, t] : items) out.push_back(name);
  return out;
}

TEST(Module, NamesFollowPyTorchOrder) {
  Generator gen(0);
  Tiny model(gen);
  EXPECT_EQ(model.state_dict().keys(),
            (std::vector<std::string>{"scale", "steps", "body.0.weight", "body.0.bias",
                                      "body.head.weight", "body.head.bias", "norm.weight",
                                      "norm.bias", "norm.running_mean", "norm.running_var",
                                      "norm.num_batches_tracked"}));
  EXPECT_EQ(names_of(model.named_parameters()),
            (std::vector<std::string>{"scale", "body.0.weight", "body.0.bias", "body.head.weight",
                                      "body.head.bias", "norm.weight", "norm.bias"}));
  EXPECT_EQ(names_of(model.named_buffers()),
            (std::vector<std::string>{"steps", "norm.running_mean", "norm.running_var",
                                      "norm.num_batches_tracked"}));
  std::vector<std::string> modules;
  for (const auto& [name, module] : model.named_modules()) modules.push_back(name);
  EXPECT_EQ(modules,
            (std::vector<std::string>{"", "body", "body.0", "body.1", "body.head", "norm"}));
  EXPECT_EQ(model.norm->path(), "norm");
  EXPECT_EQ((*model.body)[2].path(), "body.head");
  EXPECT_EQ(model.num_parameters(), 3 + 4 * 3 + 4 + 2 * 4 + 2 + 2 + 2);
}

TEST(Module, NumBatchesTrackedIsAnI64Scalar) {
  nn::BatchNorm2d bn(4);
  const Tensor count = bn.state_dict().at("num_batches_tracked");
  EXPECT_EQ(count.dtype(), DType::i64);
  EXPECT_EQ(count.shape(), Shape{});
  EXPECT_EQ(count.item(), 0.0);
}

TEST(Module, PathsAreRightWhateverTheBuildOrder) {
  // Built bottom-up: the innermost module is registered before its parents are.
  auto inner = std::make_shared<nn::Sequential>();
  auto bn = inner->push_back(std::make_shared<nn::BatchNorm2d>(3));
  auto middle = std::make_shared<nn::Sequential>();
  middle->push_back("b", inner);
  nn::Sequential root;
  root.push_back("a", middle);
  EXPECT_EQ(bn->path(), "a.b.0");
  EXPECT_EQ(root.state_dict().keys().front(), "a.b.0.weight");
}

TEST(Module, RegistrationChecksNames) {
  Generator gen(0);
  nn::Sequential seq;
  seq.push_back("fc", std::make_shared<nn::Linear>(2, 2, gen));
  expect_error([&] { seq.push_back("fc", std::make_shared<nn::ReLU>()); },
               {"Sequential", "'fc' is already registered"});
  expect_error([&] { seq.push_back("a.b", std::make_shared<nn::ReLU>()); }, {"without '.'", "a.b"});
  expect_error([&] { seq.push_back("", std::make_shared<nn::ReLU>()); }, {"non-empty"});
  expect_error([&] { seq.register_parameter("p", zeros({2}, DType::i64)); },
               {"parameter 'p'", "floating-point"});
  Tensor x = ones({2}).set_requires_grad(true);
  expect_error([&] { seq.register_parameter("q", ops::mul(x, 2.0)); }, {"leaf"});
}

TEST(Module, ParametersRequireGradAndTiedOnesAppearOnce) {
  Generator gen(0);
  nn::Sequential seq;
  auto fc = seq.push_back(std::make_shared<nn::Linear>(3, 3, gen));
  EXPECT_TRUE(fc->weight.requires_grad());
  seq.register_parameter("tied", fc->weight);  // weight tying
  EXPECT_EQ(seq.parameters().size(), 2u);
  EXPECT_EQ(seq.state_dict().size(), 3u);  // the state dict lists both names, as PyTorch
}

TEST(Module, TrainAndEvalReachEveryModule) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("resnet8"), gen);
  auto all_in_mode = [&](bool training) {
    for (const auto& [name, module] : model->named_modules()) {
      if (module->is_training() != training) return false;
    }
    return true;
  };
  EXPECT_TRUE(all_in_mode(true));
  model->eval();
  EXPECT_TRUE(all_in_mode(false));
  model->train();
  EXPECT_TRUE(all_in_mode(true));
  model->train(false);
  EXPECT_TRUE(all_in_mode(false));
}

TEST(Module, StateDictSharesStorageWithoutHistory) {
  Generator gen(0);
  nn::Linear fc(3, 2, gen);
  nn::StateDict state = fc.state_dict();
  const Tensor& weight = state.at("weight");
  EXPECT_TRUE(weight.same_storage(fc.weight));
  EXPECT_FALSE(weight.requires_grad());
  fc.weight.fill_(0.5);
  EXPECT_EQ(weight.to_vector(), std::vector<double>(6, 0.5));
}

// A state dict of `model` with fresh values (clones, so loading really copies).
nn::StateDict cloned_state(const nn::Module& model) {
  nn::StateDict out;
  for (const auto& [key, value] : model.state_dict()) out.insert(key, value.clone());
  return out;
}

TEST(LoadStateDict, RoundTripCopiesInPlace) {
  Generator gen_a(1), gen_b(2);
  auto a = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4,bn=1"), gen_a);
  auto b = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4,bn=1"), gen_b);
  // Make the buffers differ too.
  Tensor(a->state_dict().at("bn1.running_mean")).fill_(0.25);
  Tensor(a->state_dict().at("bn1.num_batches_tracked")).fill_(7);
  const Tensor b_flat = b->flat_parameters().params;
  const Tensor b_weight = b->named_parameters().front().second;  // fc1.weight

  const nn::LoadResult result = b->load_state_dict(cloned_state(*a));
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_TRUE(result.unexpected_keys.empty());
  for (const auto& [key, value] : a->state_dict()) {
    EXPECT_EQ(value.to_vector(), b->state_dict().at(key).to_vector()) << key;
  }
  // In place: the parameters are still views of the same flat buffer.
  EXPECT_TRUE(b_weight.same_storage(b_flat));
  EXPECT_TRUE(b->state_dict().at("fc1.weight").same_storage(b->flat_parameters().params));
  EXPECT_EQ(b->state_dict().at("bn1.num_batches_tracked").item(), 7.0);
}

TEST(LoadStateDict, StrictListsEveryMissingAndUnexpectedKey) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4,bn=1"), gen);
  nn::StateDict state = cloned_state(*model);
  state.erase("fc1.weight");
  state.erase("bn1.running_var");
  state.insert("fc9.weight", zeros({2}));
  state.insert("extra", zeros({1}));
  expect_error([&] { model->load_state_dict(state); },
               {"2 missing key(s): fc1.weight, bn1.running_var",
                "2 unexpected key(s): fc9.weight, extra", "strict=false"});
}

TEST(LoadStateDict, ShapeMismatchNamesKeyAndBothShapes) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4"), gen);
  nn::StateDict state;
  for (const auto& [key, value] : model->state_dict()) {
    state.insert(key, key == "fc2.weight" ? zeros({4, 15}) : value.clone());
  }
  expect_error([&] { model->load_state_dict(state); },
               {"size mismatch for 'fc2.weight'", "the dict has (4, 15)", "the model has (4, 16)"});
  // Not even strict=false loads a wrong shape.
  expect_error([&] { model->load_state_dict(state, false); }, {"fc2.weight", "(4, 15)"});
}

TEST(LoadStateDict, NothingChangesOnError) {
  Generator gen_a(1), gen_b(2);
  auto a = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4"), gen_a);
  auto b = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4"), gen_b);
  nn::StateDict state = cloned_state(*a);
  state.erase("fc2.bias");  // the last key: a loader copying as it validates would copy the rest
  const std::vector<double> before = b->flat_parameters().params.to_vector();
  EXPECT_THROW(b->load_state_dict(state), Error);
  EXPECT_EQ(b->flat_parameters().params.to_vector(), before);
}

TEST(LoadStateDict, NonStrictLoadsTheMatchingKeys) {
  Generator gen_a(1), gen_b(2);
  auto a = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4"), gen_a);
  auto b = nn::build_model(nn::ModelSpec::parse("mlp:8-16-4"), gen_b);
  nn::StateDict state = cloned_state(*a);
  state.erase("fc2.weight");
  state.insert("unused", zeros({3}));
  const std::vector<double> b_fc2 = b->state_dict().at("fc2.weight").to_vector();
  const nn::LoadResult result = b->load_state_dict(state, false);
  EXPECT_EQ(result.missing_keys, std::vector<std::string>{"fc2.weight"});
  EXPECT_EQ(result.unexpected_keys, std::vector<std::string>{"unused"});
  EXPECT_EQ(b->state_dict().at("fc1.weight").to_vector(),
            a->state_dict().at("fc1.weight").to_vector());
  EXPECT_EQ(b->state_dict().at("fc2.weight").to_vector(), b_fc2);
}

TEST(LoadStateDict, ConvertsDtypes) {
  Generator gen(0);
  nn::Linear fc(2, 2, gen);
  nn::StateDict state;
  state.insert("weight", tensor({1, 2, 3, 4}, {2, 2}, DType::f64));
  state.insert("bias", tensor({5, 6}, {2}, DType::f64));
  fc.load_state_dict(state);
  EXPECT_EQ(fc.weight.dtype(), DType::f32);
  EXPECT_EQ(fc.weight.to_vector(), (std::vector<double>{1, 2, 3, 4}));
}

TEST(StateDict, KeysAreUniqueAndLookupsNameTheKey) {
  nn::StateDict state;
  state.insert("a", zeros({1}));
  expect_error([&] { state.insert("a", zeros({1})); }, {"'a' is already present"});
  expect_error([&] { state.at("b"); }, {"no key 'b'"});
  expect_error([&] { state.erase("b"); }, {"'b'"});
}

// ---- the forgotten-eval() warning ----

struct Captured {
  std::vector<std::string> messages;
  nn::ScopedWarningHandler handler{[this](const std::string& m) { messages.push_back(m); }};
};

TEST(EvalWarning, TrainingModeUnderNoGradWarnsOncePerModel) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("resnet8"), gen);
  Tensor x = randn({2, 1, 8, 8}, gen);
  Captured captured;
  {
    autograd::NoGradGuard no_grad;
    model->forward(x);
    model->forward(x);
  }
  ASSERT_EQ(captured.messages.size(), 1u);
  EXPECT_EQ(captured.messages[0],
            "BatchNorm2d 'bn1' is in training mode under no-grad: batch statistics are used and "
            "running statistics updated; call model.eval() for evaluation");
  // A second model warns for itself, naming its own module.
  Tiny tiny(gen);
  {
    autograd::NoGradGuard no_grad;
    tiny.forward(randn({4, 3}, gen));
  }
  ASSERT_EQ(captured.messages.size(), 2u);
  EXPECT_NE(captured.messages[1].find("BatchNorm1d 'norm'"), std::string::npos);
}

TEST(EvalWarning, SilentInEvalOrWithGrad) {
  Generator gen(0);
  Tiny tiny(gen);
  Captured captured;
  tiny.forward(randn({4, 3}, gen));  // training with grad: the normal case
  tiny.eval();
  {
    autograd::NoGradGuard no_grad;
    tiny.forward(randn({4, 3}, gen));  // evaluation: the right way
  }
  EXPECT_TRUE(captured.messages.empty());
}

TEST(EvalWarning, DefaultHandlerPrintsOneLineToStderr) {
  nn::BatchNorm2d bn(2);
  Generator gen(0);
  ::testing::internal::CaptureStderr();
  {
    autograd::NoGradGuard no_grad;
    bn.forward(randn({2, 2, 3, 3}, gen));
    bn.forward(randn({2, 2, 3, 3}, gen));
  }
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed,
            "descent: warning: BatchNorm2d is in training mode under no-grad: batch statistics "
            "are used and running statistics updated; call model.eval() for evaluation\n");
}

TEST(Module, ForwardOfAContainerWithoutOneThrows) {
  nn::Module bare("Bare");
  expect_error([&] { bare.forward(zeros({1})); }, {"Bare", "no forward()"});
}

}  // namespace
}  // namespace descent

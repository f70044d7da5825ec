// The model zoo: PyTorch's state-dict names, parameter counts and FLOPs by formula, deep
// residual and plain networks running forward and backward, model specs.
#include <gtest/gtest.h>

#include <variant>

#include "descent/nn/nn.hpp"
#include "descent/ops.hpp"
#include "nn_test_util.hpp"
#include "reference_data.hpp"

namespace descent {
namespace {

using testing::expect_error;

TEST(Zoo, StateDictNamesOrderAndShapesMatchPyTorch) {
  const auto records = testing::load_reference("nn.txt");
  // The specs record_nn.py built in PyTorch.
  const std::vector<std::string> specs = {"resnet20",
                                          "resnet20,shortcut=B",
                                          "resnet8,skip=0,shortcut=B",
                                          "resnet8,skip=0",
                                          "resnet8,bn=0",
                                          "resnet8,input=3x32x32,classes=100",
                                          "mlp:784-256-256-10",
                                          "mlp:784-64-10,bn=1",
                                          "cnn",
                                          "cnn,bn=0"};
  for (const std::string& spec : specs) {
    SCOPED_TRACE(spec);
    const std::string prefix = "names/" + spec + "/";
    std::size_t expected_count = 0;
    for (const auto& [key, value] : records) expected_count += key.starts_with(prefix) ? 1 : 0;
    ASSERT_GT(expected_count, 0u);
    Generator gen(0);
    const nn::StateDict state = nn::build_model(nn::ModelSpec::parse(spec), gen)->state_dict();
    EXPECT_EQ(state.size(), expected_count);
    std::int64_t index = 0;
    for (const auto& [key, value] : state) {
      auto found = records.find(prefix + key);
      if (found == records.end()) {
        ADD_FAILURE() << "PyTorch has no '" << key << "'";
        continue;
      }
      const std::vector<double> record = found->second.to_vector();  // index, then shape
      EXPECT_EQ(record[0], static_cast<double>(index)) << key << " is out of order";
      const Shape shape(record.begin() + 1, record.end());
      EXPECT_EQ(value.shape(), shape) << key;
      ++index;
    }
  }
}

// He et al.'s CIFAR ResNet, counted layer by layer; `projection`: option B's shortcuts.
std::int64_t resnet_parameters(std::int64_t depth, std::int64_t in_channels, std::int64_t classes,
                               bool skip, bool bn, bool projection) {
  const std::int64_t n = (depth - 2) / 6;
  auto conv = [&](std::int64_t cin, std::int64_t cout, std::int64_t k) {
    return cin * cout * k * k + (bn ? 0 : cout);
  };
  auto norm = [&](std::int64_t c) { return bn ? 2 * c : 0; };
  std::int64_t total = conv(in_channels, 16, 3) + norm(16);
  std::int64_t cin = 16;
  for (std::int64_t cout : {16, 32, 64}) {
    for (std::int64_t b = 0; b < n; ++b) {
      total += conv(cin, cout, 3) + norm(cout) + conv(cout, cout, 3) + norm(cout);
      if (skip && projection && cin != cout) total += conv(cin, cout, 1) + norm(cout);
      cin = cout;
    }
  }
  return total + 64 * classes + classes;
}

TEST(Zoo, ResNetParameterCountsFollowTheFormula) {
  // The known figure for the CIFAR ResNet-20 with option A (3 input channels, 10 classes):
  // 0.27M in He et al.'s table 6, 269,722 in akamaster/pytorch_resnet_cifar10.
  EXPECT_EQ(resnet_parameters(20, 3, 10, true, true, false), 269722);
  EXPECT_EQ(resnet_parameters(20, 1, 10, true, true, true), 272186);
  const std::vector<std::string> specs = {"resnet8",
                                          "resnet20",
                                          "resnet32",
                                          "resnet44",
                                          "resnet56",
                                          "resnet110",
                                          "resnet20,skip=0",
                                          "resnet20,bn=0",
                                          "resnet20,skip=0,bn=0",
                                          "resnet8,input=3x32x32,classes=100",
                                          "resnet110,skip=0,bn=0",
                                          "resnet20,shortcut=B",
                                          "resnet32,shortcut=b,bn=0",
                                          "resnet20,skip=0,shortcut=B"};
  for (const std::string& spec : specs) {
    SCOPED_TRACE(spec);
    const nn::ModelSpec parsed = nn::ModelSpec::parse(spec);
    const auto& options = std::get<nn::ResNetOptions>(parsed.options);
    Generator gen(0);
    auto model = nn::build_model(parsed, gen);
    EXPECT_EQ(
        model->num_parameters(),
        resnet_parameters(options.depth, options.in_channels, options.num_classes, options.skip,
                          options.batch_norm, options.shortcut == nn::Shortcut::projection));
    EXPECT_EQ(model->flat_parameters().num_parameters(), model->num_parameters());
  }
}

TEST(Zoo, OtherModelsParameterCounts) {
  Generator gen(0);
  EXPECT_EQ(nn::build_model(nn::ModelSpec::parse("mlp"), gen)->num_parameters(),
            784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  EXPECT_EQ(
      nn::build_model(nn::ModelSpec::parse("mlp:784-512-10,act=gelu,bn=1"), gen)->num_parameters(),
      784 * 512 + 2 * 512 + 512 * 10 + 10);
  EXPECT_EQ(nn::build_model(nn::ModelSpec::parse("cnn"), gen)->num_parameters(),
            32 * 9 + 2 * 32 + 64 * 32 * 9 + 2 * 64 + 64 * 7 * 7 * 128 + 128 + 128 * 10 + 10);
}

// Forward FLOPs of one 1x28x28 sample through ResNet-20 under info.hpp's counting rules.
double resnet20_flops(bool projection) {
  double total = 0;
  auto conv = [&](double cin, double cout, double k, double side) {
    total += 2 * cin * cout * k * k * side * side;
  };
  auto per_element = [&](double count, double c, double side) { total += count * c * side * side; };
  conv(1, 16, 3, 28);
  per_element(2 + 1, 16, 28);  // bn1, relu
  double cin = 16;
  double side = 28;
  for (double cout : {16.0, 32.0, 64.0}) {
    for (int b = 0; b < 3; ++b) {
      if (b == 0 && cout != 16) side /= 2;
      conv(cin, cout, 3, side);
      per_element(2 + 1, cout, side);  // bn1, relu
      conv(cout, cout, 3, side);
      per_element(2, cout, side);  // bn2
      if (projection && cin != cout) {
        conv(cin, cout, 1, side);
        per_element(2, cout, side);  // shortcut BN
      }
      per_element(1 + 1, cout, side);  // add, relu
      cin = cout;
    }
  }
  total += 64 * 7 * 7;        // global average pool
  total += 2 * 64 * 10 + 10;  // fc
  return total;
}

TEST(Zoo, InfoCountsParametersAndFlops) {
  Generator gen(0);
  const nn::ModelSpec option_a = nn::ModelSpec::parse("resnet20");
  const nn::ModelInfo info_a = nn::model_info(*nn::build_model(option_a, gen), option_a.input);
  EXPECT_EQ(info_a.parameters, 269434);
  EXPECT_DOUBLE_EQ(info_a.flops, resnet20_flops(false));
  const std::string table_a = nn::format_info(info_a);
  EXPECT_NE(table_a.find("layer2.0.shortcut"), std::string::npos) << table_a;
  EXPECT_NE(table_a.find("zero-padding shortcut (option A)"), std::string::npos) << table_a;

  const nn::ModelSpec spec = nn::ModelSpec::parse("resnet20,shortcut=B");
  auto model = nn::build_model(spec, gen);
  const nn::ModelInfo info = nn::model_info(*model, spec.input);
  EXPECT_EQ(info.parameters, 272186);
  EXPECT_DOUBLE_EQ(info.flops, resnet20_flops(true));
  EXPECT_EQ(info.output, Shape{10});
  std::int64_t row_parameters = 0;
  for (const nn::LayerSummary& row : info.layers) row_parameters += row.parameters;
  EXPECT_EQ(row_parameters, info.parameters);
  EXPECT_EQ(info.layers.front().name, "conv1");
  EXPECT_EQ(info.layers.back().name, "fc");

  const std::string table = nn::format_info(info);
  for (const char* part :
       {"layer2.0.shortcut.0", "Conv2d(16, 32, kernel_size=1, stride=2, bias=false)",
        "(32, 14, 14)", "272,186", "layer1.0.add", "FLOPs per sample"}) {
    EXPECT_NE(table.find(part), std::string::npos) << part << "\n" << table;
  }
  expect_error(
      [&] {
        nn::model_info(*model, {3, 28, 28});
      },
      {"Conv2d 'conv1': expected (N, 1, H, W), got (1, 3, 28, 28)"});
}

TEST(Zoo, SummaryShapesMatchForward) {
  for (const char* text :
       {"resnet8", "resnet8,shortcut=B", "resnet8,skip=0,bn=0", "resnet8,input=3x17x13",
        "cnn,input=3x20x12", "mlp:12-7-3,bn=1", "mlp,act=leaky_relu,dropout=0.2"}) {
    SCOPED_TRACE(text);
    Generator gen(0);
    const nn::ModelSpec spec = nn::ModelSpec::parse(text);
    auto model = nn::build_model(spec, gen);
    Shape batch{2};
    batch.insert(batch.end(), spec.input.begin(), spec.input.end());
    Shape expected{2};
    const nn::ModelInfo info = nn::model_info(*model, spec.input);
    expected.insert(expected.end(), info.output.begin(), info.output.end());
    EXPECT_EQ(model->forward(randn(batch, gen)).shape(), expected);
  }
}

// Deep networks with and without skip connections must both run and give every parameter
// a finite gradient (whether they train well is the experiments' business).
TEST(Zoo, ResNet56AndItsPlainTwinRunForwardAndBackward) {
  for (const char* text : {"resnet56", "resnet56,skip=0", "resnet20,shortcut=B"}) {
    SCOPED_TRACE(text);
    Generator gen(0);
    auto model = nn::build_model(nn::ModelSpec::parse(text), gen);
    const Tensor x = randn({2, 1, 16, 16}, gen);  // small images keep the test fast
    const Tensor labels = tensor({3, 7}, {2}, DType::i64);
    const Tensor logits = model->forward(x);
    ASSERT_EQ(logits.shape(), (Shape{2, 10}));
    ops::cross_entropy(logits, labels).backward();
    for (const auto& [name, p] : model->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_TRUE(testing::all_finite_values(p.grad())) << name;
      EXPECT_GT(testing::max_abs_diff(p.grad(), zeros(p.shape())), 0.0)
          << name << " got no gradient";
    }
    EXPECT_TRUE(testing::all_finite_values(model->flat_parameters().grads));
  }
}

TEST(Zoo, WithOptionAThePlainTwinHasExactlyTheSameLayers) {
  Generator gen(0);
  nn::StateDict residual = nn::build_model(nn::ModelSpec::parse("resnet20"), gen)->state_dict();
  Generator gen_plain(0);
  nn::StateDict plain =
      nn::build_model(nn::ModelSpec::parse("resnet20,skip=0"), gen_plain)->state_dict();
  ASSERT_EQ(plain.keys(), residual.keys());
  for (const std::string& key : plain.keys()) {  // same seed: the same initial weights too
    EXPECT_EQ(testing::max_abs_diff(plain.at(key), residual.at(key)), 0.0) << key;
  }
}

TEST(Zoo, WithOptionBThePlainTwinHasTheSameMainPathAndNoProjections) {
  Generator gen(0);
  const auto residual =
      nn::build_model(nn::ModelSpec::parse("resnet20,shortcut=B"), gen)->state_dict().keys();
  const auto plain =
      nn::build_model(nn::ModelSpec::parse("resnet20,skip=0,shortcut=B"), gen)->state_dict().keys();
  std::vector<std::string> residual_main;
  for (const std::string& key : residual) {
    if (key.find("shortcut") == std::string::npos) residual_main.push_back(key);
  }
  EXPECT_EQ(plain, residual_main);
  EXPECT_LT(plain.size(), residual.size());
}

TEST(Zoo, BuildIsSeeded) {
  Generator a(4), b(4), c(5);
  const auto spec = nn::ModelSpec::parse("resnet8");
  EXPECT_EQ(nn::build_model(spec, a)->flat_parameters().params.to_vector(),
            nn::build_model(spec, b)->flat_parameters().params.to_vector());
  EXPECT_NE(nn::build_model(spec, a)->flat_parameters().params.to_vector(),
            nn::build_model(spec, c)->flat_parameters().params.to_vector());
}

// init=he: every convolution N(0, 2 / fan_out), as torchvision's ResNets; the rest as before.
TEST(Zoo, HeInitDrawsTheConvolutionsFromTheirFanOut) {
  Generator gen(3);
  auto model = nn::build_model(nn::ModelSpec::parse("resnet20,init=he"), gen);
  Generator default_gen(3);
  auto reference = nn::build_model(nn::ModelSpec::parse("resnet20"), default_gen);
  int convolutions = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    const std::vector<double> values = p.to_vector();
    if (p.dim() == 4) {  // (out, in, 3, 3)
      ++convolutions;
      const double expected = std::sqrt(2.0 / static_cast<double>(p.size(0) * 9));
      double mean = 0.0;
      double squares = 0.0;
      for (double v : values) mean += v;
      mean /= static_cast<double>(values.size());
      for (double v : values) squares += (v - mean) * (v - mean);
      const double stddev = std::sqrt(squares / static_cast<double>(values.size() - 1));
      // the sample standard deviation's relative standard error is 1 / sqrt(2 n): 5 of them
      const double tolerance = 5.0 / std::sqrt(2.0 * static_cast<double>(values.size()));
      EXPECT_NEAR(stddev / expected, 1.0, tolerance) << name;
      EXPECT_NEAR(mean, 0.0, 5.0 * expected / std::sqrt(double(values.size()))) << name;
    } else {  // BN, fc: PyTorch's defaults, as without the option
      const std::vector<double> ref = reference->state_dict().at(name).to_vector();
      if (name.find("bn") != std::string::npos) {
        EXPECT_EQ(values, ref) << name;
      }
    }
  }
  EXPECT_EQ(convolutions, 19);
}

// zero_init_residual=1: each block's last BN weight is 0, so every block starts as relu of its
// shortcut (the identity on a non-negative input), and a deep net's first loss is near a
// uniform guess's ln 10 (PyTorch's own ResNet-56 with default init starts at 2.7-3.8).
TEST(Zoo, ZeroInitResidualMakesEveryBlockStartAsItsShortcut) {
  Generator gen(0);
  auto model = nn::build_model(nn::ModelSpec::parse("resnet56,zero_init_residual=1"), gen);
  auto& resnet = dynamic_cast<nn::ResNet&>(*model);
  int blocks = 0;
  for (const auto* layer : {&resnet.layer1, &resnet.layer2, &resnet.layer3}) {
    for (const auto& [name, child] : (*layer)->named_children()) {
      auto& block = dynamic_cast<nn::BasicBlock&>(*child);
      EXPECT_EQ(testing::max_abs_diff(block.bn2->weight, zeros(block.bn2->weight.shape())), 0.0);
      ++blocks;
    }
  }
  EXPECT_EQ(blocks, 27);
  // an identity block: relu(bn2(...) + x) with bn2 giving its bias, 0: x itself for x >= 0
  auto& first = dynamic_cast<nn::BasicBlock&>(*resnet.layer1->named_children()[0].second);
  const Tensor x = ops::relu(randn({4, 16, 8, 8}, gen));
  EXPECT_EQ(testing::max_abs_diff(first.forward(x), x), 0.0);
  const Tensor images = randn({128, 1, 28, 28}, gen);
  std::vector<double> classes(128);
  for (std::size_t i = 0; i < classes.size(); ++i) classes[i] = static_cast<double>(i % 10);
  const Tensor labels = from_vector(classes, {128}, DType::i64);
  const double loss = ops::cross_entropy(model->forward(images), labels).item();
  EXPECT_NEAR(loss, std::log(10.0), 0.15);
}

// ---- specs ----

TEST(ModelSpec, ParsesNamesAndOptions) {
  {
    const auto spec = nn::ModelSpec::parse("resnet20");
    const auto& o = std::get<nn::ResNetOptions>(spec.options);
    EXPECT_EQ(o.depth, 20);
    EXPECT_TRUE(o.skip);
    EXPECT_TRUE(o.batch_norm);
    EXPECT_EQ(o.in_channels, 1);
    EXPECT_EQ(o.num_classes, 10);
    EXPECT_EQ(spec.input, (Shape{1, 28, 28}));
  }
  {
    const auto spec = nn::ModelSpec::parse("resnet110,bn=0,skip=0,classes=100,input=3x32x32");
    const auto& o = std::get<nn::ResNetOptions>(spec.options);
    EXPECT_EQ(o.depth, 110);
    EXPECT_FALSE(o.skip);
    EXPECT_FALSE(o.batch_norm);
    EXPECT_EQ(o.in_channels, 3);
    EXPECT_EQ(o.num_classes, 100);
    EXPECT_EQ(spec.input, (Shape{3, 32, 32}));
  }
  {
    const auto spec = nn::ModelSpec::parse("mlp");
    const auto& o = std::get<nn::MLPOptions>(spec.options);
    EXPECT_EQ(o.sizes, (std::vector<std::int64_t>{784, 256, 256, 10}));
    EXPECT_EQ(o.activation, nn::Activation::relu);
    EXPECT_FALSE(o.batch_norm);
    EXPECT_EQ(spec.input, Shape{784});
  }
  {
    const auto spec = nn::ModelSpec::parse("mlp:784-512-10,act=gelu,bn=1,dropout=0.25");
    const auto& o = std::get<nn::MLPOptions>(spec.options);
    EXPECT_EQ(o.sizes, (std::vector<std::int64_t>{784, 512, 10}));
    EXPECT_EQ(o.activation, nn::Activation::gelu);
    EXPECT_TRUE(o.batch_norm);
    EXPECT_EQ(o.dropout, 0.25);
  }
  {
    const auto spec = nn::ModelSpec::parse("cnn,bn=0,input=3x32x32,classes=5");
    const auto& o = std::get<nn::CNNOptions>(spec.options);
    EXPECT_FALSE(o.batch_norm);
    EXPECT_EQ(o.in_channels, 3);
    EXPECT_EQ(o.image_size.h, 32);
    EXPECT_EQ(o.num_classes, 5);
  }
}

TEST(ModelSpec, BadSpecsSayWhatIsWrong) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"resnet20,shortcut=C", "shortcut must be A (zero-padding) or B (1x1 projection), got 'C'"},
      {"resnt20", "unknown model 'resnt20' (known: mlp, cnn, resnet<6n+2>"},
      {"", "unknown model ''"},
      {"resnet21", "resnet depth must be 6n+2"},
      {"resnet", "resnet depth must be 6n+2"},
      {"resnet2", "resnet depth must be 6n+2"},
      {"resnet20,skip=2", "option 'skip' must be 0 or 1, got '2'"},
      {"resnet20,foo=1",
       "unknown option 'foo' for resnet (known: skip, bn, shortcut, classes, "
       "input, init, zero_init_residual)"},
      {"resnet20,init=xavier", "init must be pytorch (the layers' defaults) or he"},
      {"resnet20,zero_init_residual=1,bn=0", "zero_init_residual=1 needs bn=1 and skip=1"},
      {"resnet20,zero_init_residual=1,skip=0", "zero_init_residual=1 needs bn=1 and skip=1"},
      {"resnet20,zero_init_residual=2", "option 'zero_init_residual' must be 0 or 1, got '2'"},
      {"resnet20,skip", "expected <option>=<value>, got 'skip'"},
      {"resnet20,", "expected <option>=<value>, got ''"},
      {"resnet20,skip=0,skip=1", "option 'skip' is given twice"},
      {"resnet20:5", "'resnet20' takes no ':' argument"},
      {"mlp:784-a-10", "bad layer sizes '784-a-10'"},
      {"mlp:784-0-10", "bad layer sizes '784-0-10'"},
      {"mlp:784", "mlp needs at least an input and an output size"},
      {"mlp,act=swish", "unknown activation 'swish'"},
      {"mlp,dropout=1", "option 'dropout' must be a number in [0, 1), got '1'"},
      {"mlp,skip=0", "unknown option 'skip' for mlp (known: act, bn, dropout)"},
      {"cnn,input=3x32", "option 'input' must be <channels>x<height>x<width>"},
      {"cnn,input=1x2x2", "cnn needs images of at least 4x4"},
      {"cnn,classes=0", "option 'classes' must be a positive integer, got '0'"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    expect_error([&] { nn::ModelSpec::parse(text); }, {"model '" + text + "': ", message});
  }
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

TEST(Zoo, RecurrentNetsByName) {
  struct Case {
    const char* spec;
    const char* cell;
    std::int64_t hidden, layers, steps, features, outputs;
  };
  for (const Case& c :
       {Case{"lstm", "LSTM", 128, 1, 100, 2, 1},
        Case{"rnn:32,act=relu,layers=2,input=50x3,outputs=4", "RNN", 32, 2, 50, 3, 4},
        Case{"gru:16,input=7x8,outputs=4", "GRU", 16, 1, 7, 8, 4}}) {
    SCOPED_TRACE(c.spec);
    const nn::ModelSpec spec = nn::ModelSpec::parse(c.spec);
    EXPECT_EQ(spec.input, (Shape{c.steps, c.features}));
    Generator gen(0);
    auto model = nn::build_model(spec, gen);
    auto* seq = dynamic_cast<nn::SequenceModel*>(model.get());
    ASSERT_NE(seq, nullptr);
    EXPECT_EQ(seq->rnn->type_name(), c.cell);
    EXPECT_EQ(seq->rnn->hidden_size(), c.hidden);
    EXPECT_EQ(seq->rnn->num_layers(), c.layers);
    const Tensor x = randn({3, c.steps, c.features}, gen);
    const Tensor y = model->forward(x);
    EXPECT_EQ(y.shape(), (Shape{3, c.outputs}));
    // The head reads the last step of the last layer: the recurrent output at t = T - 1.
    const Tensor all = seq->rnn->forward(x);  // (3, T, H)
    const Tensor last = ops::reshape(ops::slice(all, 1, c.steps - 1, c.steps), {3, c.hidden});
    EXPECT_LT(testing::max_abs_diff(y, seq->fc->forward(last)), 1e-6);
    const nn::ModelInfo info = nn::model_info(*model, spec.input);
    EXPECT_EQ(info.output, (Shape{c.outputs}));
    EXPECT_EQ(info.parameters, model->num_parameters());
  }
  Generator names_gen(0);
  const auto names =
      nn::build_model(nn::ModelSpec::parse("lstm:8"), names_gen)->state_dict().keys();
  EXPECT_EQ(names,
            (std::vector<std::string>{"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                      "rnn.bias_hh_l0", "fc.weight", "fc.bias"}));
}

TEST(Zoo, TransformerByName) {
  const nn::ModelSpec spec =
      nn::ModelSpec::parse("transformer,vocab=20,len=16,dim=8,heads=2,layers=3,tied=1");
  EXPECT_EQ(spec.input, Shape{16});
  const auto& o = std::get<nn::TransformerLMOptions>(spec.options);
  EXPECT_EQ(o.vocab_size, 20);
  EXPECT_EQ(o.layers, 3);
  EXPECT_TRUE(o.tie_weights);
  Generator gen(0);
  auto model = nn::build_model(spec, gen);
  const Tensor tokens = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::i64);
  EXPECT_EQ(model->forward(tokens).shape(), (Shape{2, 3, 20}));
  const nn::ModelInfo info = nn::model_info(*model, spec.input);
  EXPECT_EQ(info.output, (Shape{16, 20}));
  EXPECT_EQ(info.parameters, model->num_parameters());
  const auto defaults =
      std::get<nn::TransformerLMOptions>(nn::ModelSpec::parse("transformer").options);
  EXPECT_EQ(defaults.vocab_size, 256);
  EXPECT_EQ(defaults.dim, 128);
  EXPECT_EQ(defaults.positions, nn::Positions::learned);
}

TEST(Zoo, BadSequenceSpecs) {
  for (const auto& [spec, message] : std::vector<std::pair<std::string, std::string>>{
           {"lstm:0", "hidden size' must be a positive integer"},
           {"lstm,act=relu", "option 'act' is for rnn only"},
           {"rnn,act=sigmoid", "must be tanh or relu"},
           {"gru,input=100", "<steps>x<features>"},
           {"transformer,dim=10,heads=4", "multiple of heads"},
           {"transformer,pos=rotary", "learned or sinusoidal"},
           {"transformer,dim=6,heads=2,pos=sinusoidal,heads=3", "given twice"},
           {"transformer:3", "takes no ':' argument"},
       }) {
    SCOPED_TRACE(spec);
    testing::expect_error([&] { nn::ModelSpec::parse(spec); }, {message});
  }
}

}  // namespace
}  // namespace descent

// PyTorch reads descent's checkpoints: Debian's python3 with Debian's torch loads the
// checkpoints of an MLP (with batch norm), the CNN and ResNet-20 (shortcut options A and B) into
// the equivalent torch models (tests/train/torch_interop.py, strict load_state_dict) and gets the
// same logits.
#include <sys/wait.h>

#include <cstdlib>

#include "descent/autograd/autograd.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/loss.hpp"
#include "descent/optim/all.hpp"
#include "descent/train/checkpoint.hpp"
#include "train_test_util.hpp"

namespace descent::train {
namespace {

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, which has python3-torch

TEST(TorchInterop, PyTorchLoadsTheCheckpointsAndComputesTheSameLogits) {
  if (!std::filesystem::exists(kPython)) GTEST_SKIP() << kPython << " is not installed";
  testing::TempDir dir;
  std::string command = cat(kPython, " ", DESCENT_TEST_DATA, "/../train/torch_interop.py");
  int index = 0;
  for (const char* spec : {"mlp:784-64-32-10,bn=1", "cnn", "resnet20", "resnet20,shortcut=B"}) {
    Generator gen(5);
    auto model = nn::build_model(nn::ModelSpec::parse(spec), gen);
    optim::SGD optimizer(model->parameters(), {.lr = 0.05, .momentum = 0.9});
    // Two training steps, so that weights and BN statistics leave their initial values.
    for (int step = 0; step < 2; ++step) {
      const Tensor x = randn({16, 1, 28, 28}, gen);
      const Tensor y =
          from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}, {16}, DType::i64);
      model->zero_grad();
      ops::cross_entropy(model->forward(x), y).backward();
      optimizer.step();
    }
    model->eval();
    const Tensor input = randn({4, 1, 28, 28}, gen);  // (N, 1, 28, 28)
    Tensor logits;
    {
      autograd::NoGradGuard no_grad;
      logits = model->forward(input);  // (N, 10)
    }
    const std::string name = cat("model", index++);
    save_checkpoint(dir.file(name + ".safetensors"), capture(*model, &optimizer));
    save_safetensors(dir.file(name + "-io.safetensors"), {{"input", input}, {"logits", logits}});
    command += cat(" ", dir.file(name + ".safetensors"), " ", dir.file(name + "-io.safetensors"),
                   " '", spec, "'");
  }
  const std::string log = dir.file("python.log");
  const int status = std::system((command + " > " + log + " 2>&1").c_str());
  ASSERT_TRUE(WIFEXITED(status)) << command;
  const std::string output = testing::read_file(log);
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << kPython << " has no torch";
  EXPECT_EQ(WEXITSTATUS(status), 0) << command << "\n" << output;
  // Option A's shortcut has no parameters; option B adds two 1x1 convolutions and their BNs.
  EXPECT_NE(output.find("resnet20: 116 tensors loaded"), std::string::npos) << output;
  EXPECT_NE(output.find("resnet20,shortcut=B: 128 tensors loaded"), std::string::npos) << output;
  std::printf("%s", output.c_str());
}

}  // namespace
}  // namespace descent::train

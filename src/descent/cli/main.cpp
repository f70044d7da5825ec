// The `descent` command.
#include <cstdio>
#include <cstring>
#include <string>

#include "descent/core/error.hpp"
#include "descent/nn/info.hpp"
#include "descent/nn/zoo.hpp"

namespace {

constexpr const char* kUsage =
    "usage: descent <command> [options]\n"
    "\n"
    "commands:\n"
    "  help              show this message\n"
    "  info <model>      layers, parameter count and FLOPs per sample of a model, e.g.\n"
    "                    resnet20, resnet56,skip=0, resnet110,bn=0, cnn,\n"
    "                    mlp:784-512-10,act=gelu,bn=1 (see src/descent/nn/zoo.hpp)\n";

// descent info <model-spec>
int run_info(int argc, char** argv) {
  if (argc != 3) {
    throw descent::Error("info: expected one model spec, e.g. 'descent info resnet20'");
  }
  const descent::nn::ModelSpec spec = descent::nn::ModelSpec::parse(argv[2]);
  descent::Generator gen(0);
  const auto model = descent::nn::build_model(spec, gen);
  std::fputs(descent::nn::format_info(descent::nn::model_info(*model, spec.input)).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2 || std::strcmp(argv[1], "help") == 0 || std::strcmp(argv[1], "--help") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (std::strcmp(argv[1], "info") == 0) return run_info(argc, argv);
    throw descent::Error(descent::cat("unknown command '", argv[1], "' (try: descent help)"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "descent: %s\n", e.what());
    return 1;
  }
}

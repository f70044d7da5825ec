// The descent side of bench/compare: trains one zoo model on synthetic data held in memory
// and prints one JSON line of measurements. bench/compare_torch.py is its PyTorch twin
// (same models, shapes, optimizer, data sizes and protocol); bench/compare runs both.
//
//   ./build/bench/compare_driver --model mlp --optimizer sgd --threads 2 --steps 50
//
// Protocol: build the model and the data, run --warmup steps (not timed), then --steps
// timed steps, each zero_grad + forward + loss + backward + optimizer step on the next batch
// of a pool of --pool-batches batches. The models and their data:
//   mlp, cnn, resnet20  N(0, 1) 1x28x28 images, uniform labels of 10 classes, cross-entropy;
//                       batch 128
//   lstm                the zoo's lstm:128,input=100x2 (LSTM 2 -> 128 read at its last step
//                       by a linear layer): N(0, 1) sequences (B, 100, 2), N(0, 1) targets
//                       (B, 1), mean squared error; batch 64
//   gru                 the same with the zoo's gru:128,input=100x2
//   transformer         transformer,vocab=96,len=128,dim=128,heads=4,layers=2: uniform tokens
//                       (B, 128), next-token cross-entropy over all B * 128 positions; batch 32
// Reported (JSON keys):
//   samples_per_s      batch / median step time (robust to time slices lost to other
//                      processes on a shared machine)
//   samples_per_s_mean batch * steps / total timed wall time
//   samples_per_cpu_s  batch * steps / process CPU time (user + sys) of the timed steps
//   peak_rss_mb        the process's peak resident set (getrusage ru_maxrss)
//   startup_s          from --spawn-time (the parent's CLOCK_MONOTONIC when it started
//                      this process) to the start of the first step, minus the time spent
//                      making the data
//   first_step_s       the first step alone (it creates the kernels' plans and caches)
//   loss_first, loss_last  the first warm-up step's loss and the last step's loss
//   news_per_step      calls to operator new per timed step (tensor storage comes from the
//                      caching allocator and is not counted unless it misses; autograd
//                      nodes, shapes and closures are)
//   system_allocs_per_step  tensor blocks the caching allocator took from the system per
//                      timed step (0 once warm)
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "descent/amp/grad_scaler.hpp"
#include "descent/amp/policy.hpp"
#include "descent/core/allocator.hpp"
#include "descent/core/tensor.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/shape.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/sgd.hpp"

std::atomic<std::int64_t> g_news{0};

namespace {

using descent::Tensor;

struct Args {
  std::string model = "mlp";
  std::string optimizer = "sgd";
  int threads = 1;
  int steps = 50;
  int warmup = 3;
  std::int64_t batch = 0;  // 0: the model's (see above)
  std::int64_t pool_batches = 8;
  double spawn_time = -1.0;
  std::string precision = "fp32";  // bf16, fp16: autocast on a 16-bit copy of the weights
};

double monotonic_seconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "compare_driver: " << problem << "\n"
            << "usage: compare_driver [--model mlp|cnn|resnet20|lstm|gru|transformer]\n"
            << "       [--optimizer sgd|adam]\n"
            << "       [--threads N] [--steps N] [--warmup N] [--batch N] [--pool-batches N]\n"
            << "       [--spawn-time SECONDS] [--precision fp32|bf16|fp16]\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) usage("missing value after " + std::string(flag));
    const std::string value = argv[++i];
    try {
      if (flag == "--model") {
        args.model = value;
      } else if (flag == "--optimizer") {
        args.optimizer = value;
      } else if (flag == "--threads") {
        args.threads = std::stoi(value);
      } else if (flag == "--steps") {
        args.steps = std::stoi(value);
      } else if (flag == "--warmup") {
        args.warmup = std::stoi(value);
      } else if (flag == "--batch") {
        args.batch = std::stoll(value);
      } else if (flag == "--pool-batches") {
        args.pool_batches = std::stoll(value);
      } else if (flag == "--precision") {
        args.precision = value;
      } else if (flag == "--spawn-time") {
        args.spawn_time = std::stod(value);
      } else {
        usage("unknown flag " + std::string(flag));
      }
    } catch (const std::logic_error&) {
      usage("bad value '" + value + "' for " + std::string(flag));
    }
  }
  if (args.batch == 0)
    args.batch = args.model == "lstm" || args.model == "gru" ? 64
                 : args.model == "transformer"               ? 32
                                                             : 128;
  if (args.threads < 1 || args.steps < 1 || args.warmup < 1 || args.batch < 1 ||
      args.pool_batches < 1) {
    usage("--threads, --steps, --warmup, --batch and --pool-batches must be >= 1");
  }
  if (args.model != "mlp" && args.model != "cnn" && args.model != "resnet20" &&
      args.model != "lstm" && args.model != "gru" && args.model != "transformer") {
    // the data and the protocol are these models' (bench/compare_torch.py builds the same)
    usage("--model: mlp, cnn, resnet20, lstm, gru or transformer, got '" + args.model + "'");
  }
  if (args.optimizer != "sgd" && args.optimizer != "adam") usage("--optimizer: sgd or adam");
  if (args.precision != "fp32" && args.precision != "bf16" && args.precision != "fp16") {
    usage("--precision: fp32, bf16 or fp16");
  }
  return args;
}

std::unique_ptr<descent::optim::Optimizer> make_optimizer(const Args& args, const Tensor& params) {
  if (args.optimizer == "adam") {
    return std::make_unique<descent::optim::Adam>(std::vector<Tensor>{params},
                                                  descent::optim::AdamOptions{.lr = 1e-3});
  }
  return std::make_unique<descent::optim::SGD>(
      std::vector<Tensor>{params}, descent::optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
}

int run(const Args& args) {
  descent::set_num_threads(args.threads);
  descent::Generator gen(0);
  // lstm and gru: the same task (the adding problem's shape), the same read-out
  const bool lstm = args.model == "lstm" || args.model == "gru";
  const bool transformer = args.model == "transformer";
  const std::string spec = lstm          ? args.model + ":128,input=100x2"
                           : transformer ? "transformer,vocab=96,len=128,dim=128,heads=4,layers=2"
                                         : args.model;
  std::shared_ptr<descent::nn::Module> model =
      descent::nn::build_model(descent::nn::ModelSpec::parse(spec), gen);
  descent::nn::FlatParameters& flat = model->flat_parameters();
  std::unique_ptr<descent::optim::Optimizer> opt = make_optimizer(args, flat.params);
  model->train();

  // The data: pool_batches batches (see the protocol above).
  const double data_begin = monotonic_seconds();
  const std::int64_t pool = args.pool_batches * args.batch;
  descent::Shape sample = {1, 28, 28};
  if (lstm) sample = {100, 2};
  if (transformer) sample = {128};
  std::int64_t per_sample = 1;
  for (const std::int64_t d : sample) per_sample *= d;
  descent::Shape pool_shape = {pool};
  pool_shape.insert(pool_shape.end(), sample.begin(), sample.end());
  Tensor inputs;
  Tensor targets;
  auto uniform_ints = [&](std::int64_t n, std::int64_t classes) {
    const Tensor u = descent::rand({n}, gen);
    Tensor out = descent::empty({n}, descent::DType::i64);
    for (std::int64_t i = 0; i < n; ++i) {
      out.data<std::int64_t>()[i] = static_cast<std::int64_t>(u.data<float>()[i] * classes);
    }
    return out;
  };
  if (lstm) {
    inputs = descent::randn(pool_shape, gen);
    targets = descent::randn({pool, 1}, gen);
  } else if (transformer) {
    inputs = uniform_ints(pool * 128, 96).view_of(0, pool_shape);
    targets = uniform_ints(pool * 128, 96).view_of(0, pool_shape);
  } else {
    inputs = descent::randn(pool_shape, gen);
    targets = uniform_ints(pool, 10);
  }
  const std::int64_t per_target = lstm ? 1 : transformer ? 128 : 1;
  const double data_seconds = monotonic_seconds() - data_begin;

  // Mixed precision as the Trainer runs it: autocast on a 16-bit copy of the f32 master
  // weights, which the optimizer rounds into the copy as it updates them; fp16 scales the
  // loss (GradScaler).
  const descent::amp::PrecisionPolicy policy{descent::amp::parse_precision(args.precision)};
  std::optional<descent::amp::MasterWeights> low;
  if (policy.is_low_precision()) {
    low.emplace(flat.params, policy.compute_dtype());
    opt->write_low_copy(low->master(), low->copy());  // rounded in the update's pass
  }
  descent::amp::GradScaler scaler(policy.scaler_options());

  std::int64_t next = 0;
  auto step = [&]() -> double {
    const std::int64_t b = next++ % args.pool_batches;
    descent::Shape x_shape = {args.batch};
    x_shape.insert(x_shape.end(), sample.begin(), sample.end());
    const Tensor x = inputs.view_of(b * args.batch * per_sample, x_shape);
    opt->zero_grad();
    Tensor loss;
    std::optional<descent::ops::AutocastGuard> autocast;
    if (low) autocast.emplace(policy.compute_dtype(), flat.params, low->copy());
    if (lstm) {
      const Tensor y = targets.view_of(b * args.batch, {args.batch, 1});
      loss = descent::ops::mse_loss(model->forward(x), y);
    } else if (transformer) {
      const Tensor y = targets.view_of(b * args.batch * per_target, {args.batch * 128});
      loss = descent::ops::cross_entropy(
          descent::ops::reshape(model->forward(x), {args.batch * 128, 96}), y);
    } else {
      const Tensor y = targets.view_of(b * args.batch, {args.batch});
      loss = descent::ops::cross_entropy(model->forward(x), y);
    }
    scaler.scale(loss).backward();
    scaler.step(*opt);
    scaler.update();
    return loss.item();
  };

  const double first_begin = monotonic_seconds();
  const double startup = args.spawn_time >= 0 ? first_begin - args.spawn_time - data_seconds : -1.0;
  const double loss_first = step();
  const double first_step = monotonic_seconds() - first_begin;
  for (int i = 1; i < args.warmup; ++i) step();

  std::vector<double> times;
  times.reserve(args.steps);
  double loss_last = 0.0;
  // Memory a step adds to the resting state (weights, gradients, optimizer state, data): the
  // activations saved for backward and the temporaries, at their peak.
  const std::size_t resting_bytes = descent::allocator_stats().bytes_in_use;
  const std::int64_t news_begin = g_news.load();
  const std::uint64_t system_begin = descent::allocator_stats().system_allocs;
  const double cpu_begin = process_cpu_seconds();
  const double wall_begin = monotonic_seconds();
  for (int i = 0; i < args.steps; ++i) {
    const double begin = monotonic_seconds();
    loss_last = step();
    times.push_back(monotonic_seconds() - begin);
  }
  const double wall = monotonic_seconds() - wall_begin;
  const double cpu = process_cpu_seconds() - cpu_begin;
  const double news_per_step = static_cast<double>(g_news.load() - news_begin) / args.steps;
  const double system_per_step =
      static_cast<double>(descent::allocator_stats().system_allocs - system_begin) / args.steps;
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  // the fastest tenth: what the step costs when no other tenant takes the CPU (A/B on a busy
  // host; the median stays the headline figure)
  const double p10 = times[times.size() / 10];

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double samples = static_cast<double>(args.batch) * args.steps;
  std::printf(
      "{\"framework\": \"descent\", \"model\": \"%s\", \"optimizer\": \"%s\", \"threads\": %d, "
      "\"precision\": \"%s\", "
      "\"batch\": %lld, \"steps\": %d, \"samples_per_s\": %.1f, \"samples_per_s_p10\": %.1f, "
      "\"samples_per_s_mean\": %.1f, "
      "\"samples_per_cpu_s\": %.1f, \"peak_rss_mb\": %.1f, \"startup_s\": %.4f, "
      "\"first_step_s\": %.4f, \"news_per_step\": %.1f, "
      "\"system_allocs_per_step\": %.2f, \"step_peak_mb\": %.2f, "
      "\"loss_first\": %.6f, \"loss_last\": %.6f}\n",
      args.model.c_str(), args.optimizer.c_str(), args.threads, args.precision.c_str(),
      static_cast<long long>(args.batch), args.steps, args.batch / median, args.batch / p10,
      samples / wall, samples / cpu, usage.ru_maxrss / 1024.0, startup, first_step, news_per_step,
      system_per_step,
      (static_cast<double>(descent::allocator_stats().peak_bytes_in_use) -
       static_cast<double>(resting_bytes)) /
          (1024.0 * 1024.0),
      loss_first, loss_last);
  return 0;
}

}  // namespace

// Counting replacements of the global operator new and its delete, over malloc and free
// (GCC cannot tell that this new is malloc, hence the pragma).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::cerr << "compare_driver: " << e.what() << "\n";
    return 1;
  }
}

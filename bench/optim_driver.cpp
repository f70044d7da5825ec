// The descent side of bench/compare_optim: times one optimizer's step on one flat f32
// parameter of N elements and prints one JSON line.
//
//   build/bench/optim_driver --optimizer adam --params 10000000 --steps 30 --threads 1
//
// Protocol: parameters N(0, 1), gradients N(0, 1) (fixed: the step reads them, never
// writes them), 3 warm-up steps, then `steps` timed steps; the median step time is
// reported. bytes_per_param counts each array read or written once (STREAM's convention):
// SGD with momentum reads p, g, m and writes p, m (5 x 4 bytes); Adam and AdamW read p, g,
// m, v and write p, m, v (7 x 4 bytes). The triad (a = b + s c) is measured in the same
// process right after, at the same element count.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "descent/optim/all.hpp"

using namespace descent;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: optim_driver [--optimizer sgd|adam|adamw] [--params N] [--steps K] "
               "[--threads T]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "adam";
  std::int64_t n = 10'000'000;
  int steps = 30;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--optimizer") {
      name = value;
    } else if (flag == "--params") {
      n = std::stoll(value);
    } else if (flag == "--steps") {
      steps = std::stoi(value);
    } else if (flag == "--threads") {
      threads = std::stoi(value);
    } else {
      return usage();
    }
  }
  if (argc % 2 == 0 || n <= 0 || steps <= 0 || threads <= 0) return usage();
  set_num_threads(threads);
  Generator gen(0);
  Tensor p = randn({n}, gen).set_requires_grad(true);
  Tensor g = randn({n}, gen);
  p.set_grad(g);
  std::unique_ptr<optim::Optimizer> opt;
  double bytes_per_param = 0;
  if (name == "sgd") {
    opt = std::make_unique<optim::SGD>(std::vector<Tensor>{p},
                                       optim::SGDOptions{.lr = 1e-3, .momentum = 0.9});
    bytes_per_param = 5 * 4;
  } else if (name == "adam") {
    opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, optim::AdamOptions{.lr = 1e-3});
    bytes_per_param = 7 * 4;
  } else if (name == "adamw") {
    opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, optim::AdamWOptions{.lr = 1e-3});
    bytes_per_param = 7 * 4;
  } else {
    return usage();
  }
  for (int i = 0; i < 3; ++i) opt->step();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const auto begin = bench::Clock::now();
    opt->step();
    times.push_back(bench::seconds(begin, bench::Clock::now()));
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double gbps = bytes_per_param * static_cast<double>(n) / median / 1e9;
  const double triad = bench::measure_triad(n, 0.5);
  std::printf(
      "{\"optimizer\": \"%s\", \"params\": %lld, \"threads\": %d, \"median_step_s\": %.6g, "
      "\"bytes_per_param\": %g, \"GB_s\": %.4g, \"triad_GB_s\": %.4g}\n",
      name.c_str(), static_cast<long long>(n), threads, median, bytes_per_param, gbps, triad);
  return 0;
}

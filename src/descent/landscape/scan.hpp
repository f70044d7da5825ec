// Loss along lines and planes in weight space: 1-D linear interpolation between two sets of
// weights, 1-D and 2-D scans along directions around the current weights.
//
// Interpolation: Goodfellow, Vinyals, Saxe, "Qualitatively characterizing neural network
// optimization problems", ICLR 2015: theta(alpha) = (1 - alpha) theta_from + alpha theta_to.
// Scans: Li et al. 2018 (see directions.hpp): theta(x, y) = theta* + x d_x + y d_y, with
// x, y in linspace(-range, range, points), theta* the model's weights when the scan starts.
//
// ====== Intended usage ======
//   landscape::EvalSet subset(test_set, {.size = 512, .transforms = eval_transforms});
//   auto line = landscape::interpolate(*model, initial.model, final.model, subset);
//   auto grid = landscape::scan_2d(*model, x, y, subset, {.range = 1.0, .points = 21});
//   for (const landscape::ScanPoint& p : grid) ... p.x, p.y, p.loss, p.accuracy ...
//
// Every point is evaluated by EvalSet::evaluate (eval() mode, no-grad, the same examples).
// Afterwards the model holds exactly (bit for bit) the parameters and buffers it had before,
// also when an evaluation throws.
//
// Cost: one forward pass of the subset per point: a 21 x 21 scan is 441 passes. Measured
// (2026-11-29, the project's 2-core machine shared with other builds, load average 5.5 to
// 10.5; `descent landscape scan2d --grid 21 --subset N --threads 2`, ResNet-20 on
// Fashion-MNIST test images): N = 128 took 10 min 35 s of wall time but only 229 s of CPU
// time (the process got 36% of one core); a 5 x 5 grid costs 0.50 CPU-s per point at
// N = 128 and 1.36 at N = 512 (2.7 ms per image at the larger batch). On 2 free cores
// that is about 2 min for N = 128, 3 min for N = 256 and 5-6 min for N = 512 (extrapolated
// from the CPU time, not measured).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "descent/landscape/directions.hpp"
#include "descent/landscape/eval_set.hpp"

namespace descent::landscape {

// The most points per axis of a scan or interpolation (201 x 201 = 40401 forward passes of
// the subset: hours for a ResNet; a larger grid is almost certainly a typo).
inline constexpr std::int64_t kMaxGridPoints = 201;

// Called after each evaluated point with (points done, points in all).
using Progress = std::function<void(std::int64_t done, std::int64_t total)>;

struct ScanOptions {
  double range = 1.0;        // coordinates in [-range, range], > 0
  std::int64_t points = 21;  // per axis, in [2, kMaxGridPoints]
  Progress progress = nullptr;
};

struct InterpolationOptions {
  double from = 0.0;         // first alpha (e.g. -0.5 to look beyond theta_from)
  double to = 1.0;           // last alpha
  std::int64_t points = 21;  // in [2, kMaxGridPoints]
  Progress progress = nullptr;
};

struct ScanPoint {
  double x = 0.0;  // alpha for interpolation, the coordinate along d_x for scans
  double y = 0.0;  // along d_y (2-D scans only)
  double loss = 0.0;
  double accuracy = 0.0;
};

// linspace(first, last, points) with exact ends (and an exact 0 at the centre of a
// symmetric odd grid).
std::vector<double> linspace(double first, double last, std::int64_t points);

// `points` values of alpha in [from, to]. Parameters move as above; floating buffers (batch
// norm's running mean and variance) are interpolated the same way, since in eval() mode they
// are part of the function; integer buffers (num_batches_tracked) are left as they are.
// `from` and `to` must hold every parameter and buffer of the model, with its shape (as
// check_state_dict says).
std::vector<ScanPoint> interpolate(nn::Module& model, const nn::StateDict& from,
                                   const nn::StateDict& to, const EvalSet& data,
                                   const InterpolationOptions& options = {});

// `points` values of x; the result's y is 0.
std::vector<ScanPoint> scan_1d(nn::Module& model, const Direction& direction, const EvalSet& data,
                               const ScanOptions& options = {});

// points x points values, y-major (row j is y_j, column i is x_i): index j * points + i.
std::vector<ScanPoint> scan_2d(nn::Module& model, const Direction& x_direction,
                               const Direction& y_direction, const EvalSet& data,
                               const ScanOptions& options = {});

// Throws naming `what` (e.g. a checkpoint's file) and the first key that is missing, extra,
// or shaped differently from the model's state_dict().
void check_state_dict(const nn::Module& model, const nn::StateDict& dict, const std::string& what);

// Saves a model's parameters and buffers and puts them back, bit for bit, when destroyed.
class WeightsGuard {
 public:
  explicit WeightsGuard(nn::Module& model);
  ~WeightsGuard();
  WeightsGuard(const WeightsGuard&) = delete;
  WeightsGuard& operator=(const WeightsGuard&) = delete;
  // The saved values, by state_dict() name.
  const nn::StateDict& saved() const { return saved_; }

 private:
  nn::Module& model_;
  nn::StateDict saved_;
};

}  // namespace descent::landscape

// Directions in weight space, laid out as a model's flat parameters, and Li et al.'s filter
// normalization.
//
// Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets",
// NeurIPS 2018, section 4, and their code (github.com/tomgoldstein/loss-landscape,
// net_plotter.py: get_random_weights, normalize_directions_for_weights), whose defaults for
// plots of the weights (--dir_type weights --xnorm filter --xignore biasbn) we follow:
//   - d is drawn from N(0, I) with the shape of every parameter;
//   - filter normalization: each filter of d (slice i of its first dimension: an output
//     channel of a convolution (C_out, C_in, kH, kW), a row of a linear layer (out, in)) is
//     rescaled to the Frobenius norm of the same filter of the weights:
//         d_i <- d_i / (||d_i|| + 1e-10) * ||theta_i||
//     (the 1e-10 is theirs; it only matters for an all-zero filter);
//   - parameters of rank <= 1 (biases, batch norm's weight and bias) get d = 0 ("ignore
//     biasbn"); without ignoring, d = theta for them, as their code does ("keep directions
//     for weights/bias that are only 1 per node"). The paper's text says only that BN
//     parameters are left unperturbed; the code is what we match.
//   - only parameters move: batch norm's running statistics stay at their trained values
//     (their dir_type "weights"; "states" would also move the buffers).
// "layer" normalization rescales a whole parameter tensor the same way; "none" keeps the
// Gaussian draw.
//
// ====== Intended usage ======
//   landscape::Direction x = landscape::random_direction(*model, {.seed = 1});
//   landscape::Direction y = landscape::random_direction(*model, {.seed = 2});
//   auto grid = landscape::scan_2d(*model, x, y, subset, {.range = 1.0, .points = 21});
#pragma once

#include <cstdint>
#include <vector>

#include "descent/nn/flat.hpp"
#include "descent/nn/module.hpp"

namespace descent::landscape {

enum class Normalization { filter, layer, none };

struct DirectionOptions {
  Normalization normalization = Normalization::filter;
  // Li et al.'s "biasbn": d = 0 for parameters of rank <= 1. false: d = theta for them.
  bool ignore_bias_and_norm = true;
  std::uint64_t seed = 0;
};

// A direction in weight space.
struct Direction {
  Tensor values;                       // (total,) in the model's flat layout; gaps are zero
  std::vector<nn::ParamRange> ranges;  // the layout it was made for (names, offsets, shapes)
};

// A random direction for `model` (flattened), normalized to its current weights.
Direction random_direction(const nn::Module& model, const DirectionOptions& options = {});

// Rescales `direction` in place, filter by filter (or layer by layer), to the model's current
// weights, and applies the rank <= 1 rule above. Usable on any direction (e.g. the difference
// of two checkpoints).
void normalize_direction(Direction& direction, const nn::Module& model, Normalization normalization,
                         bool ignore_bias_and_norm = true);

// Throws naming `op`, `what` ("direction x"), the parameter and both shapes unless the
// direction was made for a model of this layout and dtype.
void check_direction(const Direction& direction, const nn::Module& model, const char* op,
                     const char* what = "direction");

// Euclidean norm of the direction over all parameters.
double norm(const Direction& direction);

}  // namespace descent::landscape

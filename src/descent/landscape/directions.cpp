#include "descent/landscape/directions.hpp"

#include <cmath>

#include "descent/core/dtype.hpp"

namespace descent::landscape {
namespace {

const nn::FlatParameters& flat_of(const nn::Module& model, const char* op) {
  DESCENT_CHECK(model.is_flat(), op,
                ": the model's parameters must be flattened (nn::build_model does it)");
  return model.flat_parameters();
}

template <typename T>
double squared_norm(const T* x, std::int64_t n) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

// Li et al.'s rescaling of one slice: d <- d / (||d|| + 1e-10) * ||w||.
template <typename T>
void rescale(T* d, const T* w, std::int64_t n) {
  const double factor = std::sqrt(squared_norm(w, n)) / (std::sqrt(squared_norm(d, n)) + 1e-10);
  for (std::int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] * factor);
}

}  // namespace

void check_direction(const Direction& direction, const nn::Module& model, const char* op,
                     const char* what) {
  const nn::FlatParameters& flat = flat_of(model, op);
  DESCENT_CHECK(direction.values.defined(), op, ": ", what, " is empty");
  const std::size_t count = std::min(direction.ranges.size(), flat.ranges.size());
  for (std::size_t i = 0; i < count; ++i) {
    const nn::ParamRange& mine = direction.ranges[i];
    const nn::ParamRange& theirs = flat.ranges[i];
    DESCENT_CHECK(
        mine.name == theirs.name && mine.shape == theirs.shape && mine.offset == theirs.offset, op,
        ": ", what, " does not fit the model: its parameter ", i, " is '", mine.name, "' ",
        shape_str(mine.shape), ", the model's is '", theirs.name, "' ", shape_str(theirs.shape),
        " (was it made for another model?)");
  }
  DESCENT_CHECK(direction.ranges.size() == flat.ranges.size(), op, ": ", what,
                " does not fit the model: it has ", direction.ranges.size(),
                " parameters, the model ", flat.ranges.size(), " (was it made for another model?)");
  DESCENT_CHECK(direction.values.shape() == flat.params.shape() &&
                    direction.values.dtype() == flat.params.dtype(),
                op, ": ", what, " is ", shape_str(direction.values.shape()), " ",
                dtype_name(direction.values.dtype()), ", the model's flat parameters ",
                shape_str(flat.params.shape()), " ", dtype_name(flat.params.dtype()));
}

void normalize_direction(Direction& direction, const nn::Module& model, Normalization normalization,
                         bool ignore_bias_and_norm) {
  check_direction(direction, model, "normalize_direction");
  const nn::FlatParameters& flat = model.flat_parameters();
  dispatch_float(flat.params.dtype(), "normalize_direction", [&]<typename T>() {
    T* d = direction.values.data<T>();
    const T* w = flat.params.data<T>();
    for (const nn::ParamRange& range : flat.ranges) {
      T* d_range = d + range.offset;
      const T* w_range = w + range.offset;
      if (range.shape.size() <= 1) {
        // Biases and normalization parameters: zero, or the weights themselves.
        for (std::int64_t i = 0; i < range.numel; ++i) {
          d_range[i] = ignore_bias_and_norm ? T(0) : w_range[i];
        }
        continue;
      }
      switch (normalization) {
        case Normalization::filter: {
          const std::int64_t filters = range.shape[0];
          const std::int64_t per_filter = range.numel / filters;  // C_in * kH * kW, or in
          for (std::int64_t f = 0; f < filters; ++f) {
            rescale(d_range + f * per_filter, w_range + f * per_filter, per_filter);
          }
          break;
        }
        case Normalization::layer:
          rescale(d_range, w_range, range.numel);
          break;
        case Normalization::none:
          break;
      }
    }
  });
}

Direction random_direction(const nn::Module& model, const DirectionOptions& options) {
  const nn::FlatParameters& flat = flat_of(model, "random_direction");
  Direction direction{.values = zeros(flat.params.shape(), flat.params.dtype()),
                      .ranges = flat.ranges};
  Generator gen(options.seed);
  for (const nn::ParamRange& range : flat.ranges) {
    // Drawn for every parameter, so that a parameter's draw does not depend on the options.
    Tensor draw = randn({range.numel}, gen, flat.params.dtype());
    direction.values.view_of(range.offset, {range.numel}).copy_(draw);
  }
  normalize_direction(direction, model, options.normalization, options.ignore_bias_and_norm);
  return direction;
}

double norm(const Direction& direction) {
  double sum = 0.0;
  dispatch_float(direction.values.dtype(), "landscape::norm", [&]<typename T>() {
    sum = squared_norm(direction.values.data<T>(), direction.values.numel());
  });
  return std::sqrt(sum);
}

}  // namespace descent::landscape

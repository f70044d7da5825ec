#include "descent/landscape/scan.hpp"

#include <cmath>

#include "descent/core/dtype.hpp"
#include "descent/core/parallel.hpp"

namespace descent::landscape {
namespace {

void check_points(std::int64_t points, const char* op) {
  DESCENT_CHECK(points >= 2 && points <= kMaxGridPoints, op, ": points per axis must be in [2, ",
                kMaxGridPoints, "], got ", points);
}

// theta = theta0 + x * dx + y * dy over the flat buffer, in double, rounded once.
void move_weights(const nn::FlatParameters& flat, const Tensor& start, const Tensor& dx, double x,
                  const Tensor* dy, double y) {
  dispatch_float(flat.params.dtype(), "scan", [&]<typename T>() {
    T* theta = flat.params.data<T>();
    const T* theta0 = start.data<T>();
    const T* d_x = dx.data<T>();
    const T* d_y = dy != nullptr ? dy->data<T>() : nullptr;
    const std::int64_t n = flat.params.numel();
    if (d_y == nullptr) {
      parallel_simd_if(n > 32768, n, [=](std::int64_t i) {
        theta[i] = static_cast<T>(static_cast<double>(theta0[i]) + x * d_x[i]);
      });
    } else {
      parallel_simd_if(n > 32768, n, [=](std::int64_t i) {
        theta[i] = static_cast<T>(static_cast<double>(theta0[i]) + x * d_x[i] + y * d_y[i]);
      });
    }
  });
}

}  // namespace

std::vector<double> linspace(double first, double last, std::int64_t points) {
  DESCENT_CHECK(points >= 1, "linspace: points must be >= 1, got ", points);
  std::vector<double> values(static_cast<std::size_t>(points), first);
  for (std::int64_t i = 1; i < points; ++i) {
    values[i] = first + (last - first) * static_cast<double>(i) / static_cast<double>(points - 1);
  }
  if (points > 1) values.back() = last;
  if (points % 2 == 1 && first == -last) values[points / 2] = 0.0;
  return values;
}

WeightsGuard::WeightsGuard(nn::Module& model) : model_(model) {
  for (const auto& [name, tensor] : model.state_dict()) saved_.insert(name, tensor.clone());
}

WeightsGuard::~WeightsGuard() {
  // state_dict() shares storage with the model: copying into it writes the weights in place.
  for (const auto& [name, tensor] : model_.state_dict()) {
    Tensor target = tensor;
    target.copy_(saved_.at(name));
  }
}

void check_state_dict(const nn::Module& model, const nn::StateDict& dict, const std::string& what) {
  const nn::StateDict own = model.state_dict();
  for (const auto& [name, tensor] : own) {
    const Tensor* found = dict.find(name);
    DESCENT_CHECK(found != nullptr, what, ": has no '", name, "' of shape ",
                  shape_str(tensor.shape()), "; is it a checkpoint of another model?");
    DESCENT_CHECK(found->shape() == tensor.shape(), what, ": '", name, "' is ",
                  shape_str(found->shape()), ", the model's is ", shape_str(tensor.shape()),
                  "; is it a checkpoint of another model?");
    DESCENT_CHECK(is_floating(found->dtype()) == is_floating(tensor.dtype()), what, ": '", name,
                  "' is ", dtype_name(found->dtype()), ", the model's is ",
                  dtype_name(tensor.dtype()));
  }
  for (const auto& [name, tensor] : dict) {
    DESCENT_CHECK(own.contains(name), what, ": has '", name,
                  "', which the model does not; is it a checkpoint of another model?");
  }
}

std::vector<ScanPoint> interpolate(nn::Module& model, const nn::StateDict& from,
                                   const nn::StateDict& to, const EvalSet& data,
                                   const InterpolationOptions& options) {
  check_points(options.points, "interpolate");
  DESCENT_CHECK(
      std::isfinite(options.from) && std::isfinite(options.to) && options.from < options.to,
      "interpolate: expected finite from < to, got from ", options.from, ", to ", options.to);
  check_state_dict(model, from, "interpolate: 'from'");
  check_state_dict(model, to, "interpolate: 'to'");
  WeightsGuard guard(model);
  // The floating entries, as (model tensor, from, to) in the model's dtype.
  struct Entry {
    Tensor target;
    Tensor from;
    Tensor to;
  };
  std::vector<Entry> entries;
  for (const auto& [name, tensor] : model.state_dict()) {
    if (!is_floating(tensor.dtype())) continue;
    const Tensor& a = from.at(name);
    const Tensor& b = to.at(name);
    entries.push_back({tensor, a.dtype() == tensor.dtype() ? a : a.to(tensor.dtype()),
                       b.dtype() == tensor.dtype() ? b : b.to(tensor.dtype())});
  }
  const std::vector<double> alphas = linspace(options.from, options.to, options.points);
  std::vector<ScanPoint> out;
  out.reserve(alphas.size());
  for (const double alpha : alphas) {
    for (Entry& entry : entries) {
      dispatch_float(entry.target.dtype(), "interpolate", [&]<typename T>() {
        T* theta = entry.target.data<T>();
        const T* a = entry.from.data<T>();
        const T* b = entry.to.data<T>();
        const std::int64_t n = entry.target.numel();
        // theta(alpha) = (1 - alpha) theta_from + alpha theta_to
        parallel_simd_if(n > 32768, n, [=](std::int64_t i) {
          theta[i] = static_cast<T>((1.0 - alpha) * a[i] + alpha * static_cast<double>(b[i]));
        });
      });
    }
    const Metrics metrics = data.evaluate(model);
    out.push_back({.x = alpha, .y = 0.0, .loss = metrics.loss, .accuracy = metrics.accuracy});
    if (options.progress) options.progress(static_cast<std::int64_t>(out.size()), options.points);
  }
  return out;
}

namespace {

std::vector<ScanPoint> scan(nn::Module& model, const Direction& x_direction,
                            const Direction* y_direction, const EvalSet& data,
                            const ScanOptions& options, const char* op) {
  check_points(options.points, op);
  DESCENT_CHECK(std::isfinite(options.range) && options.range > 0, op,
                ": range must be finite and > 0, got ", options.range);
  check_direction(x_direction, model, op, y_direction != nullptr ? "direction x" : "direction");
  if (y_direction != nullptr) check_direction(*y_direction, model, op, "direction y");
  WeightsGuard guard(model);
  const nn::FlatParameters& flat = model.flat_parameters();
  const Tensor start = flat.params.detach().clone();  // (total,) theta*
  const std::vector<double> coordinates = linspace(-options.range, options.range, options.points);
  const std::int64_t total =
      y_direction != nullptr ? options.points * options.points : options.points;
  std::vector<ScanPoint> out;
  out.reserve(static_cast<std::size_t>(total));
  const std::vector<double> ys = y_direction != nullptr ? coordinates : std::vector<double>{0.0};
  for (const double y : ys) {
    for (const double x : coordinates) {
      move_weights(flat, start, x_direction.values, x,
                   y_direction != nullptr ? &y_direction->values : nullptr, y);
      const Metrics metrics = data.evaluate(model);
      out.push_back({.x = x, .y = y, .loss = metrics.loss, .accuracy = metrics.accuracy});
      if (options.progress) options.progress(static_cast<std::int64_t>(out.size()), total);
    }
  }
  return out;
}

}  // namespace

std::vector<ScanPoint> scan_1d(nn::Module& model, const Direction& direction, const EvalSet& data,
                               const ScanOptions& options) {
  return scan(model, direction, nullptr, data, options, "scan_1d");
}

std::vector<ScanPoint> scan_2d(nn::Module& model, const Direction& x_direction,
                               const Direction& y_direction, const EvalSet& data,
                               const ScanOptions& options) {
  return scan(model, x_direction, &y_direction, data, options, "scan_2d");
}

}  // namespace descent::landscape

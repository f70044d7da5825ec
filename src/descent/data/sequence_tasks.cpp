#include "descent/data/sequence_tasks.hpp"

#include <vector>

#include "descent/core/parallel.hpp"
#include "descent/data/random.hpp"

namespace descent::data {
namespace {

constexpr std::int64_t kParallelThreshold = 256;  // examples

void check_options(const char* op, std::int64_t samples, std::int64_t length,
                   std::int64_t min_length, DType dtype) {
  DESCENT_CHECK(samples >= 1, op, ": samples must be >= 1, got ", samples);
  DESCENT_CHECK(length >= min_length, op, ": length (T) must be >= ", min_length, ", got ", length);
  DESCENT_CHECK(dtype == DType::f32 || dtype == DType::f64, op, ": dtype must be f32 or f64, got ",
                dtype_name(dtype));
}

// The second 64 random bits of a Philox draw (bits64 takes the first).
std::uint64_t bits64_high(const std::array<std::uint32_t, 4>& words) {
  return static_cast<std::uint64_t>(words[2]) << 32 | words[3];
}

}  // namespace

TensorDataset make_adding(const AddingOptions& options) {
  check_options("make_adding", options.samples, options.length, 2, options.dtype);
  const std::int64_t n = options.samples;
  const std::int64_t steps = options.length;
  const std::int64_t half = steps / 2;
  const std::uint64_t value_key = stream_key(options.seed, Purpose::adding, 0);
  const std::uint64_t marker_key = stream_key(options.seed, Purpose::adding, 1);
  std::vector<double> inputs(static_cast<std::size_t>(n * steps * 2));  // (N, T, 2)
  std::vector<double> targets(static_cast<std::size_t>(n));             // (N, 1)
  parallel_for_if(n > kParallelThreshold, n, [&](std::int64_t i) {
    double* example = inputs.data() + i * steps * 2;
    for (std::int64_t t = 0; t < steps; ++t) {
      const auto words = philox4x32(static_cast<std::uint64_t>(i * steps + t), value_key);
      example[2 * t] = uniform01_f64(words[0], words[1]);
    }
    const auto words = philox4x32(static_cast<std::uint64_t>(i), marker_key);
    // one marker in each half
    const auto first = static_cast<std::int64_t>(below(bits64(words), half));
    const auto second = half + static_cast<std::int64_t>(below(bits64_high(words), steps - half));
    example[2 * first + 1] = 1.0;
    example[2 * second + 1] = 1.0;
    targets[i] = example[2 * first] + example[2 * second];
  });
  return TensorDataset(from_vector(inputs, {n, steps, 2}, options.dtype),
                       from_vector(targets, {n, 1}, options.dtype));
}

TensorDataset make_temporal_order(const TemporalOrderOptions& options) {
  check_options("make_temporal_order", options.samples, options.length, 10, options.dtype);
  const std::int64_t n = options.samples;
  const std::int64_t steps = options.length;
  const std::int64_t tenth = steps / 10;
  const std::uint64_t distractor_key = stream_key(options.seed, Purpose::temporal_order, 0);
  const std::uint64_t relevant_key = stream_key(options.seed, Purpose::temporal_order, 1);
  const std::uint64_t order_key = stream_key(options.seed, Purpose::temporal_order, 2);
  std::vector<double> inputs(static_cast<std::size_t>(n * steps * kTemporalSymbols));
  std::vector<double> labels(static_cast<std::size_t>(n));
  auto symbol = [](TemporalSymbol s) { return static_cast<std::int64_t>(s); };
  parallel_for_if(n > kParallelThreshold, n, [&](std::int64_t i) {
    double* example = inputs.data() + i * steps * kTemporalSymbols;  // (T, 8)
    const auto words = philox4x32(static_cast<std::uint64_t>(i), relevant_key);
    // t1 in [T/10, 2T/10], t2 in [5T/10, 6T/10]
    const std::int64_t t1 = tenth + static_cast<std::int64_t>(below(bits64(words), tenth + 1));
    const std::int64_t t2 =
        5 * tenth + static_cast<std::int64_t>(below(bits64_high(words), tenth + 1));
    // X or Y at each
    const auto order = philox4x32(static_cast<std::uint64_t>(i), order_key);
    const bool first_is_y = order[0] & 1u;
    const bool second_is_y = order[1] & 1u;
    for (std::int64_t t = 0; t < steps; ++t) {
      std::int64_t s;
      if (t == 0) {
        s = symbol(TemporalSymbol::E);
      } else if (t == steps - 1) {
        s = symbol(TemporalSymbol::B);
      } else if (t == t1 || t == t2) {
        s = symbol((t == t1 ? first_is_y : second_is_y) ? TemporalSymbol::Y : TemporalSymbol::X);
      } else {
        const auto draw = philox4x32(static_cast<std::uint64_t>(i * steps + t), distractor_key);
        s = symbol(TemporalSymbol::a) + static_cast<std::int64_t>(below(bits64(draw), 4));
      }
      example[t * kTemporalSymbols + s] = 1.0;
    }
    labels[i] = 2.0 * first_is_y + second_is_y;
  });
  return TensorDataset(from_vector(inputs, {n, steps, kTemporalSymbols}, options.dtype),
                       from_vector(labels, {n}, DType::i64));
}

}  // namespace descent::data

// Sequence tasks with long-range dependencies, seeded: the adding problem and the
// temporal-order problem of Hochreiter & Schmidhuber (1997, "Long Short-Term Memory",
// experiments 4 and 6a), with the sequence length T as a parameter, as Pascanu, Mikolov &
// Bengio (2013, "On the difficulty of training recurrent neural networks") use them to show
// exploding and vanishing gradients.
//
// ====== Intended usage ======
//   data::TensorDataset train = data::make_adding({.samples = 10000, .length = 200});
//   train.inputs();   // (N, T, 2) f32: (value, marker) per step
//   train.targets();  // (N, 1) f32: the sum of the two marked values
//   auto lstm = std::make_shared<nn::LSTM>(2, 128, gen, nn::LSTMOptions{.batch_first = true});
//   ... regress targets on a Linear of the last step's hidden state (mse_loss) ...
//
//   data::TensorDataset order = data::make_temporal_order({.samples = 10000, .length = 100});
//   order.inputs();   // (N, T, 8) f32 one-hot symbols
//   order.targets();  // (N) i64 class in 0..3 (cross_entropy on the last step)
//
// Sequences are batch-first, (N, T, features), so an example is (T, features); models read
// them with batch_first = true. As in synthetic.hpp, every value comes from core's
// counter-based Philox with a counter of its own (example i, step t), so a task is a pure
// function of its options, the same for any thread count, and example i does not depend on
// how many examples were asked for.
#pragma once

#include <cstdint>

#include "descent/data/dataset.hpp"

namespace descent::data {

// The adding problem. Step t of an example carries two inputs:
//   value  ~ U[0, 1)
//   marker = 1 at exactly two steps, else 0
// The first marked step is drawn uniformly from the first half [0, T/2), the second from the
// second half [T/2, T) (the placement of Le, Jaitly & Hinton 2015 and later work;
// Hochreiter & Schmidhuber put the first marker among the first 10 steps). The target is the
// sum of the two marked values, in [0, 2). Predicting 1 always gives a mean squared error of
// 1/6 (the variance of the sum), the baseline a model must beat.
struct AddingOptions {
  std::int64_t samples = 1000;
  std::int64_t length = 100;  // T, at least 2
  std::uint64_t seed = 0;
  DType dtype = DType::f32;
};
// inputs (N, T, 2), targets (N, 1).
TensorDataset make_adding(const AddingOptions& options = {});

// Symbols of the temporal-order problem, in the order of their one-hot index.
enum class TemporalSymbol : std::int64_t { E = 0, B = 1, a = 2, b = 3, c = 4, d = 5, X = 6, Y = 7 };
constexpr std::int64_t kTemporalSymbols = 8;

// The temporal-order problem (Hochreiter & Schmidhuber 1997, experiment 6a). A sequence
// starts with E and ends with B; two steps carry a relevant symbol, X or Y, each drawn
// uniformly:
//   t1 uniform in [T/10, 2T/10]      (integer division; [10, 20] for T = 100)
//   t2 uniform in [5T/10, 6T/10]     ([50, 60] for T = 100)
// and every other step a distractor drawn uniformly from {a, b, c, d}. The class is the
// order of the relevant symbols: 0 = (X, X), 1 = (X, Y), 2 = (Y, X), 3 = (Y, Y).
struct TemporalOrderOptions {
  std::int64_t samples = 1000;
  std::int64_t length = 100;  // T, at least 10
  std::uint64_t seed = 0;
  DType dtype = DType::f32;
};
// inputs (N, T, 8) one-hot over TemporalSymbol, targets (N) i64.
TensorDataset make_temporal_order(const TemporalOrderOptions& options = {});

}  // namespace descent::data

#include "descent/nn/recurrent.hpp"

#include <algorithm>
#include <cmath>

#include "descent/autograd/autograd.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/gemm.hpp"
#include "descent/kernels/vmath.hpp"
#include "descent/nn/layers.hpp"
#include "descent/ops/shape.hpp"

namespace descent::nn {
namespace {

using Cell = Recurrent::Cell;

// Below this many elements per step, the element-wise pass stays on one thread.
constexpr std::int64_t kParallelThreshold = 16384;

std::int64_t gate_count(Cell cell) {
  switch (cell) {
    case Cell::lstm:
      return 4;
    case Cell::gru:
      return 3;
    default:
      return 1;
  }
}

const char* cell_op_name(Cell cell) {
  switch (cell) {
    case Cell::rnn_tanh:
      return "rnn_tanh";
    case Cell::rnn_relu:
      return "rnn_relu";
    case Cell::lstm:
      return "lstm";
    default:
      return "gru";
  }
}

// The gates' activations: kernels::vmath's branch-free f32 versions (within 2 ulp), which the
// `omp simd` loops below vectorize, where std::tanh and std::exp are scalar library calls (they
// took 38% of an LSTM step); f64 (the reference and gradient tests) keeps the C library's.
using kernels::vmath::sigmoid;
using kernels::vmath::tanh;

// Column sums of a (rows, cols) matrix, summed in row order (deterministic).
template <typename T>
void column_sums(const T* m, std::int64_t rows, std::int64_t cols, T* out) {
  std::fill(out, out + cols, T(0));
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* row = m + r * cols;
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) out[c] += row[c];
  }
}

// Calls f.template operator()<C>() with C = cell, so that the per-element loops see the
// cell as a constant.
template <typename F>
void dispatch_cell(Cell cell, F&& f) {
  switch (cell) {
    case Cell::rnn_tanh:
      f.template operator()<Cell::rnn_tanh>();
      break;
    case Cell::rnn_relu:
      f.template operator()<Cell::rnn_relu>();
      break;
    case Cell::lstm:
      f.template operator()<Cell::lstm>();
      break;
    case Cell::gru:
      f.template operator()<Cell::gru>();
      break;
  }
}

// What the backward pass reads, saved by the forward.
struct Saved {
  Tensor x;       // (T, B, I)
  Tensor h0;      // (B, H)
  Tensor c0;      // (B, H), LSTM
  Tensor w_ih;    // (G*H, I)
  Tensor w_hh;    // (G*H, H)
  Tensor out;     // (S, T, B, H): hidden states, then (LSTM) cell states
  Tensor gates;   // (T, B, G*H): activated gates (LSTM: i, f, g, o; GRU: r, z, n)
  Tensor hn_lin;  // (T, B, H), GRU: W_hn h_{t-1} + b_hn
};

template <Cell cell, typename T>
void forward_sequence(const Saved& s, const Tensor& b_ih, const Tensor& b_hh) {
  const std::int64_t steps = s.x.size(0);
  const std::int64_t batch = s.x.size(1);
  const std::int64_t in = s.x.size(2);
  const std::int64_t hidden = s.w_hh.size(1);
  const std::int64_t gh = gate_count(cell) * hidden;
  const T* x = s.x.data<T>();
  const T* h0 = s.h0.data<T>();
  const T* w_ih = s.w_ih.data<T>();
  const T* w_hh = s.w_hh.data<T>();
  const T* bi = b_ih.data<T>();
  const T* bh = b_hh.data<T>();
  T* gates = s.gates.data<T>();
  T* out_h = s.out.data<T>();
  T* out_c = cell == Cell::lstm ? out_h + steps * batch * hidden : nullptr;
  const T* c0 = cell == Cell::lstm ? s.c0.data<T>() : nullptr;
  T* hn_lin = cell == Cell::gru ? s.hn_lin.data<T>() : nullptr;
  Tensor hproj_t = empty({batch, gh}, s.x.dtype());  // (B, G*H), reused by every step
  T* hproj = hproj_t.data<T>();

  // the input projection of every step at once: (T*B, I) @ (I, G*H)
  kernels::gemm(false, true, steps * batch, gh, in, T(1), x, in, w_ih, in, T(0), gates, gh);

  for (std::int64_t t = 0; t < steps; ++t) {
    const T* h_prev = t == 0 ? h0 : out_h + (t - 1) * batch * hidden;
    const T* c_prev = cell != Cell::lstm ? nullptr : t == 0 ? c0 : out_c + (t - 1) * batch * hidden;
    // the recurrent projection: (B, H) @ (H, G*H)
    kernels::gemm(false, true, batch, gh, hidden, T(1), h_prev, hidden, w_hh, hidden, T(0), hproj,
                  gh);
    T* g_t = gates + t * batch * gh;
    T* h_t = out_h + t * batch * hidden;
    parallel_for_if(batch * gh > kParallelThreshold, batch, [=](std::int64_t b) {
      T* g = g_t + b * gh;
      const T* hp = hproj + b * gh;
      T* h = h_t + b * hidden;
      const T* hprev = h_prev + b * hidden;
      if (cell == Cell::rnn_tanh || cell == Cell::rnn_relu) {
#pragma omp simd
        for (std::int64_t j = 0; j < hidden; ++j) {
          const T pre = g[j] + bi[j] + hp[j] + bh[j];
          h[j] = cell == Cell::rnn_tanh ? tanh(pre) : std::max(pre, T(0));
        }
      } else if (cell == Cell::lstm) {
        const T* cprev = c_prev + b * hidden;
        T* c = out_c + t * batch * hidden + b * hidden;
#pragma omp simd
        for (std::int64_t j = 0; j < hidden; ++j) {
          const std::int64_t ji = j, jf = hidden + j, jg = 2 * hidden + j, jo = 3 * hidden + j;
          const T i_gate = sigmoid(g[ji] + bi[ji] + hp[ji] + bh[ji]);
          const T f_gate = sigmoid(g[jf] + bi[jf] + hp[jf] + bh[jf]);
          const T g_cand = tanh(g[jg] + bi[jg] + hp[jg] + bh[jg]);
          const T o_gate = sigmoid(g[jo] + bi[jo] + hp[jo] + bh[jo]);
          // c_t = f * c_{t-1} + i * g
          c[j] = f_gate * cprev[j] + i_gate * g_cand;
          // h_t = o * tanh(c_t)
          h[j] = o_gate * tanh(c[j]);
          g[ji] = i_gate;
          g[jf] = f_gate;
          g[jg] = g_cand;
          g[jo] = o_gate;
        }
      } else {
        T* hn = hn_lin + t * batch * hidden + b * hidden;
#pragma omp simd
        for (std::int64_t j = 0; j < hidden; ++j) {
          const std::int64_t jr = j, jz = hidden + j, jn = 2 * hidden + j;
          const T r_gate = sigmoid(g[jr] + bi[jr] + hp[jr] + bh[jr]);
          const T z_gate = sigmoid(g[jz] + bi[jz] + hp[jz] + bh[jz]);
          hn[j] = hp[jn] + bh[jn];
          // n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
          const T n_cand = tanh(g[jn] + bi[jn] + r_gate * hn[j]);
          // h_t = (1 - z) * n + z * h_{t-1}
          h[j] = (T(1) - z_gate) * n_cand + z_gate * hprev[j];
          g[jr] = r_gate;
          g[jz] = z_gate;
          g[jn] = n_cand;
        }
      }
    });
  }
}

// Gradients: [x, h0, c0, w_ih, w_hh, b_ih, b_hh].
template <Cell cell, typename T>
autograd::Grads backward_sequence(const Saved& s, const Tensor& grad, const autograd::Node& node) {
  const std::int64_t steps = s.x.size(0);
  const std::int64_t batch = s.x.size(1);
  const std::int64_t in = s.x.size(2);
  const std::int64_t hidden = s.w_hh.size(1);
  const std::int64_t gh = gate_count(cell) * hidden;
  const std::int64_t step_size = batch * hidden;
  const DType dtype = s.x.dtype();
  const T* x = s.x.data<T>();
  const T* h0 = s.h0.data<T>();
  const T* w_ih = s.w_ih.data<T>();
  const T* w_hh = s.w_hh.data<T>();
  const T* gates = s.gates.data<T>();
  const T* out_h = s.out.data<T>();
  const T* out_c = cell == Cell::lstm ? out_h + steps * step_size : nullptr;
  const T* c0 = cell == Cell::lstm ? s.c0.data<T>() : nullptr;
  const T* hn_lin = cell == Cell::gru ? s.hn_lin.data<T>() : nullptr;
  const T* grad_h = grad.data<T>();
  const T* grad_c = cell == Cell::lstm ? grad_h + steps * step_size : nullptr;

  // d loss / d pre-activations, as they enter the input projection (T, B, G*H) and, where
  // GRU makes them differ (its n gate is r * (W_hn h + b_hn)), the recurrent one.
  Tensor dgates_x_t = empty({steps, batch, gh}, dtype);
  Tensor dgates_h_t = cell == Cell::gru ? empty({steps, batch, gh}, dtype) : dgates_x_t;
  T* dgx = dgates_x_t.data<T>();
  T* dgh = dgates_h_t.data<T>();
  // d loss / d h_{t-1} and d c_{t-1} carried back through the recurrence (B, H)
  Tensor dh_next_t = zeros({batch, hidden}, dtype);
  Tensor dc_next_t = cell == Cell::lstm ? zeros({batch, hidden}, dtype) : Tensor();
  T* dh_next = dh_next_t.data<T>();
  T* dc_next = cell == Cell::lstm ? dc_next_t.data<T>() : nullptr;

  for (std::int64_t t = steps - 1; t >= 0; --t) {
    const T* h_prev = t == 0 ? h0 : out_h + (t - 1) * step_size;
    parallel_for_if(batch * gh > kParallelThreshold, batch, [=](std::int64_t b) {
      const std::int64_t row = t * step_size + b * hidden;
      const T* g = gates + (t * batch + b) * gh;
      T* dx_row = dgx + (t * batch + b) * gh;
      T* dh_row = dgh + (t * batch + b) * gh;
      T* dhn = dh_next + b * hidden;
#pragma omp simd
      for (std::int64_t j = 0; j < hidden; ++j) {
        const T dh = grad_h[row + j] + dhn[j];
        if (cell == Cell::rnn_tanh) {
          const T h = out_h[row + j];
          dx_row[j] = dh * (T(1) - h * h);
        } else if (cell == Cell::rnn_relu) {
          dx_row[j] = out_h[row + j] > T(0) ? dh : T(0);
        } else if (cell == Cell::lstm) {
          const std::int64_t ji = j, jf = hidden + j, jg = 2 * hidden + j, jo = 3 * hidden + j;
          const T i_gate = g[ji], f_gate = g[jf], g_cand = g[jg], o_gate = g[jo];
          const T c_prev = t == 0 ? c0[b * hidden + j] : out_c[row - step_size + j];
          const T tanh_c = tanh(out_c[row + j]);
          // d c_t: through h_t = o * tanh(c_t), from the output, from c_{t+1}
          const T dc =
              dh * o_gate * (T(1) - tanh_c * tanh_c) + grad_c[row + j] + dc_next[b * hidden + j];
          // d c_{t-1} = d c_t * f
          dc_next[b * hidden + j] = dc * f_gate;
          // gates, through their activations
          dx_row[ji] = dc * g_cand * i_gate * (T(1) - i_gate);
          dx_row[jf] = dc * c_prev * f_gate * (T(1) - f_gate);
          dx_row[jg] = dc * i_gate * (T(1) - g_cand * g_cand);
          dx_row[jo] = dh * tanh_c * o_gate * (T(1) - o_gate);
        } else {
          const std::int64_t jr = j, jz = hidden + j, jn = 2 * hidden + j;
          const T r_gate = g[jr], z_gate = g[jz], n_cand = g[jn];
          const T hn = hn_lin[row + j];
          // term 1: h_t = (1 - z) * n + ... -> d n, through tanh
          const T dn_pre = dh * (T(1) - z_gate) * (T(1) - n_cand * n_cand);
          // term 2: h_t = ... z * (h_{t-1} - n) -> d z, through sigmoid
          const T dz_pre = dh * (h_prev[b * hidden + j] - n_cand) * z_gate * (T(1) - z_gate);
          // term 3: n's r * (W_hn h + b_hn) -> d r, through sigmoid
          const T dr_pre = dn_pre * hn * r_gate * (T(1) - r_gate);
          dx_row[jr] = dr_pre;
          dx_row[jz] = dz_pre;
          dx_row[jn] = dn_pre;
          dh_row[jr] = dr_pre;
          dh_row[jz] = dz_pre;
          dh_row[jn] = dn_pre * r_gate;
          // d h_{t-1}, direct path z * h_{t-1}; the GEMM below adds the recurrent one
          dhn[j] = dh * z_gate;
        }
      }
    });
    // d h_{t-1} (+)= d pre_h (B, G*H) @ W_hh (G*H, H)
    const T beta = cell == Cell::gru ? T(1) : T(0);
    kernels::gemm(false, false, batch, hidden, gh, T(1), dgh + t * batch * gh, gh, w_hh, hidden,
                  beta, dh_next, hidden);
  }

  autograd::Grads grads(7);
  if (node.needs_grad(0)) {
    // d x = d pre_x (T*B, G*H) @ W_ih (G*H, I)
    grads[0] = empty({steps, batch, in}, dtype);
    kernels::gemm(false, false, steps * batch, in, gh, T(1), dgx, gh, w_ih, in, T(0),
                  grads[0].data<T>(), in);
  }
  if (node.needs_grad(1)) grads[1] = dh_next_t;
  if (node.needs_grad(2)) grads[2] = dc_next_t;
  if (node.needs_grad(3)) {
    // d W_ih = d pre_x^T (G*H, T*B) @ x (T*B, I)
    grads[3] = empty({gh, in}, dtype);
    kernels::gemm(true, false, gh, in, steps * batch, T(1), dgx, gh, x, in, T(0),
                  grads[3].data<T>(), in);
  }
  if (node.needs_grad(4)) {
    // d W_hh = sum_t d pre_h[t]^T (G*H, B) @ h_{t-1} (B, H): step 0 against h0, the rest
    // against the stored outputs h_0 .. h_{T-2} in one GEMM
    grads[4] = empty({gh, hidden}, dtype);
    T* dw = grads[4].data<T>();
    kernels::gemm(true, false, gh, hidden, batch, T(1), dgh, gh, h0, hidden, T(0), dw, hidden);
    if (steps > 1) {
      kernels::gemm(true, false, gh, hidden, (steps - 1) * batch, T(1), dgh + batch * gh, gh, out_h,
                    hidden, T(1), dw, hidden);
    }
  }
  if (node.needs_grad(5)) {
    grads[5] = empty({gh}, dtype);
    column_sums(dgx, steps * batch, gh, grads[5].data<T>());
  }
  if (node.needs_grad(6)) {
    grads[6] = empty({gh}, dtype);
    column_sums(dgh, steps * batch, gh, grads[6].data<T>());
  }
  return grads;
}

// One layer over the whole sequence, as one autograd op.
// x (T, B, I), h0 (B, H), c0 (B, H) for LSTM; biases may be undefined (no bias).
// Returns (S, T, B, H): the hidden states, and for LSTM (S = 2) then the cell states.
Tensor recurrent_layer(Cell cell, const Tensor& x, const Tensor& h0, const Tensor& c0,
                       const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                       const Tensor& b_hh) {
  const std::int64_t steps = x.size(0);
  const std::int64_t batch = x.size(1);
  const std::int64_t hidden = w_hh.size(1);
  const std::int64_t gh = w_hh.size(0);
  const DType dtype = x.dtype();
  Saved s;
  s.x = x.detach();
  s.h0 = h0.detach();
  s.c0 = c0.defined() ? c0.detach() : Tensor();
  s.w_ih = w_ih.detach();
  s.w_hh = w_hh.detach();
  const std::int64_t states = cell == Cell::lstm ? 2 : 1;
  Tensor out = empty({states, steps, batch, hidden}, dtype);
  s.out = out.detach();
  s.gates = empty({steps, batch, gh}, dtype);
  if (cell == Cell::gru) s.hn_lin = empty({steps, batch, hidden}, dtype);
  const Tensor bi = b_ih.defined() ? b_ih.detach() : zeros({gh}, dtype);
  const Tensor bh = b_hh.defined() ? b_hh.detach() : zeros({gh}, dtype);
  dispatch_float(dtype, cell_op_name(cell), [&]<typename T>() {
    dispatch_cell(cell, [&]<Cell C>() { forward_sequence<C, T>(s, bi, bh); });
  });
  return autograd::record(
      cell_op_name(cell), out, {x, h0, c0, w_ih, w_hh, b_ih, b_hh},
      [cell, s](const Tensor& grad, const autograd::Node& node) {
        autograd::Grads g;
        dispatch_float(grad.dtype(), cell_op_name(cell), [&]<typename T>() {
          dispatch_cell(cell, [&]<Cell C>() { g = backward_sequence<C, T>(s, grad, node); });
        });
        return g;
      });
}

const char* cell_description(Cell cell) {
  return cell == Cell::rnn_relu ? ", nonlinearity='relu'" : "";
}

}  // namespace

// ---- Recurrent ----

Recurrent::Recurrent(std::string type_name, Cell cell, std::int64_t input_size,
                     std::int64_t hidden_size, std::int64_t num_layers, bool bias, bool batch_first,
                     Generator& gen)
    : Module(std::move(type_name)),
      cell_(cell),
      input_size_(input_size),
      hidden_size_(hidden_size),
      num_layers_(num_layers),
      batch_first_(batch_first) {
  DESCENT_CHECK(input_size > 0, Module::type_name(), ": input_size must be positive, got ",
                input_size);
  DESCENT_CHECK(hidden_size > 0, Module::type_name(), ": hidden_size must be positive, got ",
                hidden_size);
  DESCENT_CHECK(num_layers > 0, Module::type_name(), ": num_layers must be positive, got ",
                num_layers);
  const std::int64_t gh = gate_count(cell) * hidden_size;
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (std::int64_t l = 0; l < num_layers; ++l) {
    const std::int64_t in = l == 0 ? input_size : hidden_size;
    const std::string suffix = "_l" + std::to_string(l);
    weight_ih.push_back(
        register_parameter("weight_ih" + suffix, uniform({gh, in}, -bound, bound, gen)));
    weight_hh.push_back(
        register_parameter("weight_hh" + suffix, uniform({gh, hidden_size}, -bound, bound, gen)));
    if (bias) {
      bias_ih.push_back(register_parameter("bias_ih" + suffix, uniform({gh}, -bound, bound, gen),
                                           ParamKind::bias));
      bias_hh.push_back(register_parameter("bias_hh" + suffix, uniform({gh}, -bound, bound, gen),
                                           ParamKind::bias));
    } else {
      bias_ih.emplace_back();
      bias_hh.emplace_back();
    }
  }
}

void Recurrent::check_input(const Shape& input) const {
  const char* layout = batch_first_ ? "(B, T, " : "(T, B, ";
  DESCENT_CHECK(input.size() == 3 && input[2] == input_size_, describe(*this), ": expected input ",
                layout, input_size_, "), got ", shape_str(input));
  DESCENT_CHECK(input[0] > 0 && input[1] > 0, describe(*this), ": expected input ", layout,
                input_size_, ") with T and B at least 1, got ", shape_str(input),
                " (an empty sequence or batch)");
}

void Recurrent::check_state(const char* name, const Tensor& state, std::int64_t batch) const {
  const Shape expected{num_layers_, batch, hidden_size_};
  DESCENT_CHECK(state.shape() == expected, describe(*this), ": expected ", name,
                " (num_layers, B, H) = ", shape_str(expected), ", got ", shape_str(state.shape()));
}

RecurrentOutput Recurrent::forward_with_state(const Tensor& x, const Tensor& h0, const Tensor& c0) {
  check_input(x.shape());
  const DType dtype = weight_ih[0].dtype();
  DESCENT_CHECK(x.dtype() == dtype, describe(*this), ": input is ", dtype_name(x.dtype()),
                " but the parameters are ", dtype_name(dtype));
  const Tensor seq = batch_first_ ? ops::transpose(x, 0, 1) : x;  // (T, B, I)
  const std::int64_t steps = seq.size(0);
  const std::int64_t batch = seq.size(1);
  const bool lstm = cell_ == Cell::lstm;
  if (!lstm) {
    DESCENT_CHECK(!c0.defined(), describe(*this), ": only LSTM takes a cell state c0");
  } else {
    DESCENT_CHECK(h0.defined() == c0.defined(), describe(*this),
                  ": pass both h0 and c0, or neither");
  }
  for (const auto& [name, state] : {std::pair{"h0", h0}, std::pair{"c0", c0}}) {
    if (!state.defined()) continue;
    check_state(name, state, batch);
    DESCENT_CHECK(state.dtype() == dtype, describe(*this), ": ", name, " is ",
                  dtype_name(state.dtype()), " but the parameters are ", dtype_name(dtype));
  }

  const Shape state_shape{batch, hidden_size_};
  // layer l's (B, H) slice of a (num_layers, B, H) state; zeros when none was given
  auto layer_state = [&](const Tensor& all, std::int64_t l) {
    if (!all.defined()) return zeros(state_shape, dtype);
    return num_layers_ == 1 ? ops::reshape(all, state_shape)
                            : ops::reshape(ops::slice(all, 0, l, l + 1), state_shape);
  };

  Tensor layer_input = seq;
  std::vector<Tensor> h_last, c_last;
  for (std::int64_t l = 0; l < num_layers_; ++l) {
    const Tensor h_init = layer_state(h0, l);
    const Tensor c_init = lstm ? layer_state(c0, l) : Tensor();
    Tensor states = recurrent_layer(cell_, layer_input, h_init, c_init, weight_ih[l], weight_hh[l],
                                    bias_ih[l], bias_hh[l]);  // (S, T, B, H)
    // (S*T, B, H): rows [0, T) are h_1..h_T, rows [T, 2T) c_1..c_T
    const Tensor rows = ops::reshape(states, {-1, batch, hidden_size_});
    layer_input = lstm ? ops::slice(rows, 0, 0, steps) : rows;  // (T, B, H)
    h_last.push_back(ops::slice(rows, 0, steps - 1, steps));
    if (lstm) c_last.push_back(ops::slice(rows, 0, 2 * steps - 1, 2 * steps));
  }

  RecurrentOutput result;
  result.output = batch_first_ ? ops::transpose(layer_input, 0, 1) : layer_input;
  result.h_n = num_layers_ == 1 ? h_last[0] : ops::concat(h_last, 0);
  if (lstm) result.c_n = num_layers_ == 1 ? c_last[0] : ops::concat(c_last, 0);
  return result;
}

Tensor Recurrent::forward(const Tensor& x) {
  return forward_with_state(x).output;
}

std::string Recurrent::str() const {
  std::string out = cat(type_name(), "(", input_size_, ", ", hidden_size_);
  if (num_layers_ != 1) out += cat(", num_layers=", num_layers_);
  out += cell_description(cell_);
  if (!bias_ih[0].defined()) out += ", bias=false";
  if (batch_first_) out += ", batch_first=true";
  return out + ")";
}

Shape Recurrent::summarize(const Shape& input, std::vector<LayerSummary>& rows) const {
  check_input(input);
  Shape output = input;
  output[2] = hidden_size_;
  const std::int64_t gh = gate_count(cell_) * hidden_size_;
  // per step and sample: both projections (2 per multiply-add) and their biases
  double per_vector = 0;
  for (std::int64_t l = 0; l < num_layers_; ++l) {
    const std::int64_t in = l == 0 ? input_size_ : hidden_size_;
    per_vector += 2.0 * gh * (in + hidden_size_) + 2.0 * gh;
  }
  return add_row(rows, output, static_cast<double>(input[0] * input[1]) * per_vector);
}

// ---- RNN, LSTM, GRU ----

RNN::RNN(std::int64_t input_size, std::int64_t hidden_size, Generator& gen, RNNOptions options)
    : Recurrent(
          "RNN", options.nonlinearity == RNNNonlinearity::tanh ? Cell::rnn_tanh : Cell::rnn_relu,
          input_size, hidden_size, options.num_layers, options.bias, options.batch_first, gen) {}

LSTM::LSTM(std::int64_t input_size, std::int64_t hidden_size, Generator& gen, LSTMOptions options)
    : Recurrent("LSTM", Cell::lstm, input_size, hidden_size, options.num_layers, options.bias,
                options.batch_first, gen) {}

GRU::GRU(std::int64_t input_size, std::int64_t hidden_size, Generator& gen, GRUOptions options)
    : Recurrent("GRU", Cell::gru, input_size, hidden_size, options.num_layers, options.bias,
                options.batch_first, gen) {}

}  // namespace descent::nn

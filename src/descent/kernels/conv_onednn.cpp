// oneDNN convolution primitives (https://oneapi-src.github.io/oneDNN/v2.6/
// dev_guide_convolution.html), as PyTorch's CPU conv2d uses them through ideep. Primitives
// are created with format_tag::any so that oneDNN picks its blocked layout, then cached per
// geometry (creating one JIT-compiles code). The scratchpad is ours (user mode), from the
// caching allocator, so concurrent calls share nothing and a warm loop makes no system
// allocation.
#include "descent/kernels/conv_onednn.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "descent/core/error.hpp"
#include "descent/kernels/onednn_run.hpp"
#include "descent/kernels/workspace.hpp"

namespace descent::kernels::onednn {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// A tensor of the caller's, in its NCHW (or OIHW, or x) layout, and the layout the primitive
// wants: the same memory when they agree, else a blocked copy in scratch memory with the
// reorders between the two. Created once per plan; pointed at each call's buffers.
struct Operand {
  Operand(const memory::desc& plain, const memory::desc& wanted)
      : user(onednn_run::unbound(plain)),
        used(wanted == plain ? user : onednn_run::unbound(wanted)),
        copy_bytes(wanted == plain ? 0 : static_cast<std::int64_t>(wanted.get_size())) {
    if (copy_bytes > 0) {
      to_used.emplace(user, used);
      to_user.emplace(used, user);
    }
  }
  memory user;
  memory used;
  std::int64_t copy_bytes;  // 0: the primitive uses the caller's buffer
  std::optional<dnnl::reorder> to_used;
  std::optional<dnnl::reorder> to_user;
};

// One pass's primitive with its operands (in the primitive's argument order) and scratchpad.
struct Bound {
  dnnl::primitive primitive;
  std::vector<std::pair<int, Operand>> operands;
  memory scratchpad;
  std::int64_t scratchpad_bytes = 0;
};

struct Plan {
  explicit Plan(const dnnl::convolution_forward::primitive_desc& pd) : forward_pd(pd) {}
  dnnl::convolution_forward::primitive_desc forward_pd;
  std::optional<Bound> forward;
  std::optional<dnnl::convolution_backward_data::primitive_desc> data_pd;
  std::optional<Bound> data;
  std::optional<dnnl::convolution_backward_weights::primitive_desc> weights_pd;
  std::optional<Bound> weights;
  // Whether each pass has a direct (JIT) implementation, not gemm or the reference loop
  bool forward_direct = false;
  bool data_direct = false;
  bool weights_direct = false;
  std::mutex mutex;  // held while a call points the operands at its buffers and runs
};

bool is_direct(const std::string& implementation) {
  return implementation.find("gemm:") == std::string::npos &&
         implementation.rfind("ref", 0) == std::string::npos;
}

using onednn_run::cpu_engine;

struct Dims {
  memory::dims x, weight, bias, y, strides, dilates, padding;
};
Dims dims_of(const Conv2dGeometry& g) {
  // oneDNN counts dilation from 0 (no gaps); PyTorch from 1.
  return {{g.N, g.C, g.H, g.W},   {g.O, g.C, g.KH, g.KW},   {g.O},
          {g.N, g.O, g.OH, g.OW}, {g.stride_h, g.stride_w}, {g.dilation_h - 1, g.dilation_w - 1},
          {g.pad_h, g.pad_w}};
}

memory::desc any_desc(const memory::dims& dims, memory::data_type type = memory::data_type::f32) {
  return memory::desc(dims, type, Tag::any);
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

enum class Inputs : std::int64_t { f32, bf16 };

using Key = std::array<std::int64_t, 16>;

// The inputs' type: f32 everywhere, or bf16 inputs (x, weight, dy) with f32 outputs and bias
// (mixed precision: oneDNN accumulates in f32).
memory::data_type low_type(Inputs inputs) {
  return inputs == Inputs::bf16 ? memory::data_type::bf16 : memory::data_type::f32;
}

// Each plan holds JIT-compiled code; a program that keeps changing shapes (a last, smaller
// batch is one more shape, not a problem) starts the cache afresh past this many.
constexpr std::size_t kMaxPlans = 256;

std::mutex plans_mutex;
std::map<Key, std::shared_ptr<Plan>>& plans() {
  static std::map<Key, std::shared_ptr<Plan>> cache;
  return cache;
}

enum class Pass { forward, data, weights };

memory::desc plain(const memory::dims& dims, memory::data_type type, Tag tag) {
  return memory::desc(dims, type, tag);
}

struct OperandSpec {
  int arg;
  memory::desc plain;
  memory::desc wanted;
};

Bound bind(dnnl::primitive primitive, const memory::desc& scratchpad,
           std::initializer_list<OperandSpec> specs) {
  Bound b{std::move(primitive),
          {},
          onednn_run::unbound(scratchpad),
          static_cast<std::int64_t>(scratchpad.get_size())};
  for (const OperandSpec& spec : specs)
    b.operands.emplace_back(spec.arg, Operand(spec.plain, spec.wanted));
  return b;
}

// The cached plan for g, with the primitive of `pass` created.
std::shared_ptr<Plan> plan(const Conv2dGeometry& g, Pass pass, Inputs inputs = Inputs::f32) {
  // clang-format off
  const Key key{g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                g.dilation_h, g.dilation_w, g.OH, g.OW, static_cast<std::int64_t>(inputs)};
  // clang-format on
  const memory::data_type in = low_type(inputs);
  const memory::data_type f32 = memory::data_type::f32;
  const std::lock_guard lock(plans_mutex);
  if (auto found = plans().find(key); found != plans().end()) {
    // the common case, without building the dims below (they are heap vectors)
    const Plan& p = *found->second;
    if (pass == Pass::forward || (pass == Pass::data && p.data) ||
        (pass == Pass::weights && p.weights)) {
      return found->second;
    }
  }
  const Dims d = dims_of(g);
  const dnnl::algorithm direct = dnnl::algorithm::convolution_direct;
  if (plans().size() >= kMaxPlans && plans().count(key) == 0) plans().clear();
  std::shared_ptr<Plan>& slot = plans()[key];
  try {
    if (!slot) {
      const dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_training, direct, any_desc(d.x, in), any_desc(d.weight, in),
          memory::desc(d.bias, memory::data_type::f32, Tag::x), any_desc(d.y), d.strides, d.dilates,
          d.padding, d.padding);
      dnnl::convolution_forward::primitive_desc pd(desc, user_scratchpad(), cpu_engine());
      slot = std::make_shared<Plan>(pd);
      slot->forward_direct = is_direct(pd.impl_info_str());
      slot->forward.emplace(
          bind(dnnl::convolution_forward(pd), pd.scratchpad_desc(),
               {{DNNL_ARG_SRC, plain(d.x, in, Tag::nchw), pd.src_desc()},
                {DNNL_ARG_WEIGHTS, plain(d.weight, in, Tag::oihw), pd.weights_desc()},
                {DNNL_ARG_BIAS, plain(d.bias, f32, Tag::x), pd.bias_desc()},
                {DNNL_ARG_DST, plain(d.y, f32, Tag::nchw), pd.dst_desc()}}));
    }
    Plan& p = *slot;
    if (pass == Pass::data && !p.data) {
      const dnnl::convolution_backward_data::desc desc(direct, any_desc(d.x),
                                                       any_desc(d.weight, in), any_desc(d.y, in),
                                                       d.strides, d.dilates, d.padding, d.padding);
      p.data_pd.emplace(desc, user_scratchpad(), cpu_engine(), p.forward_pd);
      const auto& pd = *p.data_pd;
      p.data_direct = is_direct(pd.impl_info_str());
      p.data.emplace(bind(dnnl::convolution_backward_data(pd), pd.scratchpad_desc(),
                          {{DNNL_ARG_DIFF_DST, plain(d.y, in, Tag::nchw), pd.diff_dst_desc()},
                           {DNNL_ARG_WEIGHTS, plain(d.weight, in, Tag::oihw), pd.weights_desc()},
                           {DNNL_ARG_DIFF_SRC, plain(d.x, f32, Tag::nchw), pd.diff_src_desc()}}));
    }
    if (pass == Pass::weights && !p.weights) {
      const dnnl::convolution_backward_weights::desc desc(
          direct, any_desc(d.x, in), any_desc(d.weight),
          memory::desc(d.bias, memory::data_type::f32, Tag::x), any_desc(d.y, in), d.strides,
          d.dilates, d.padding, d.padding);
      p.weights_pd.emplace(desc, user_scratchpad(), cpu_engine(), p.forward_pd);
      const auto& pd = *p.weights_pd;
      p.weights_direct = is_direct(pd.impl_info_str());
      p.weights.emplace(
          bind(dnnl::convolution_backward_weights(pd), pd.scratchpad_desc(),
               {{DNNL_ARG_DIFF_DST, plain(d.y, in, Tag::nchw), pd.diff_dst_desc()},
                {DNNL_ARG_SRC, plain(d.x, in, Tag::nchw), pd.src_desc()},
                {DNNL_ARG_DIFF_WEIGHTS, plain(d.weight, f32, Tag::oihw), pd.diff_weights_desc()},
                {DNNL_ARG_DIFF_BIAS, plain(d.bias, f32, Tag::x), pd.diff_bias_desc()}}));
    }
    return slot;
  } catch (const dnnl::error& e) {
    plans().erase(key);
    throw Error(cat("conv2d: oneDNN could not build a convolution for x (", g.N, ", ", g.C, ", ",
                    g.H, ", ", g.W, ") and weight (", g.O, ", ", g.C, ", ", g.KH, ", ", g.KW,
                    "): ", e.what()));
  }
}

template <typename F>
void run(F f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(cat("conv2d: oneDNN failed: ", e.what()));
  }
}

constexpr std::size_t kMaxOperands = 4;

// Runs a bound pass on the caller's buffers (in the operands' order; `outputs` flags those
// the primitive writes): inputs are reordered into the primitive's layout first, outputs
// back to the caller's after. The blocked copies and the scratchpad come from the caching
// allocator.
void execute(Plan& p, Bound& b, std::initializer_list<const void*> buffers,
             std::initializer_list<bool> outputs) {
  const std::lock_guard lock(p.mutex);
  const std::size_t n = b.operands.size();
  std::array<std::optional<Workspace<char>>, kMaxOperands> copies;
  std::array<dnnl_exec_arg_t, kMaxOperands + 1> args{};
  run([&] {
    for (std::size_t i = 0; i < n; ++i) {
      Operand& op = b.operands[i].second;
      // oneDNN takes mutable handles; inputs are only read
      op.user.set_data_handle(const_cast<void*>(buffers.begin()[i]));
      if (op.copy_bytes > 0) {
        copies[i].emplace(op.copy_bytes);
        op.used.set_data_handle(copies[i]->get());
        if (!outputs.begin()[i]) {
          onednn_run::execute(*op.to_used,
                              {{DNNL_ARG_FROM, op.user.get()}, {DNNL_ARG_TO, op.used.get()}},
                              "conv2d (reorder)");
        }
      }
      args[i] = {b.operands[i].first, op.used.get()};
    }
    Workspace<char> scratchpad(b.scratchpad_bytes);
    b.scratchpad.set_data_handle(scratchpad.get());
    args[n] = {DNNL_ARG_SCRATCHPAD, b.scratchpad.get()};
    onednn_run::execute(b.primitive, args.data(), static_cast<int>(n + 1), "conv2d");
    for (std::size_t i = 0; i < n; ++i) {
      Operand& op = b.operands[i].second;
      if (outputs.begin()[i] && op.copy_bytes > 0) {
        onednn_run::execute(*op.to_user,
                            {{DNNL_ARG_FROM, op.used.get()}, {DNNL_ARG_TO, op.user.get()}},
                            "conv2d (reorder)");
      }
    }
  });
}

template <typename L>
constexpr Inputs inputs_of() {
  return std::is_same_v<L, float> ? Inputs::f32 : Inputs::bf16;
}

template <typename L>
void forward(const Conv2dGeometry& g, const L* x, const L* weight, const float* bias, float* y) {
  const std::shared_ptr<Plan> plan_ref = plan(g, Pass::forward, inputs_of<L>());
  // the primitive always takes a bias; without one it adds zeros
  Workspace<float> zeros(bias == nullptr ? g.O : 0);
  if (bias == nullptr) std::fill(zeros.get(), zeros.get() + g.O, 0.0f);
  execute(*plan_ref, *plan_ref->forward, {x, weight, bias != nullptr ? bias : zeros.get(), y},
          {false, false, false, true});
}

template <typename L>
void backward_data(const Conv2dGeometry& g, const L* dy, const L* weight, float* dx) {
  const std::shared_ptr<Plan> plan_ref = plan(g, Pass::data, inputs_of<L>());
  execute(*plan_ref, *plan_ref->data, {dy, weight, dx}, {false, false, true});
}

template <typename L>
void backward_weights(const Conv2dGeometry& g, const L* dy, const L* x, float* dweight,
                      float* dbias) {
  const std::shared_ptr<Plan> plan_ref = plan(g, Pass::weights, inputs_of<L>());
  // the primitive always writes both; an unwanted one goes to scratch
  Workspace<float> unwanted(dweight == nullptr ? g.O * g.C * g.KH * g.KW
                                               : (dbias == nullptr ? g.O : 0));
  execute(*plan_ref, *plan_ref->weights,
          {dy, x, dweight != nullptr ? dweight : unwanted.get(),
           dbias != nullptr ? dbias : unwanted.get()},
          {false, false, true, true});
}

}  // namespace

bool has_direct_forward(const Conv2dGeometry& g, bool bf16) {
  const Inputs inputs = bf16 ? Inputs::bf16 : Inputs::f32;
  return plan(g, Pass::forward, inputs)->forward_direct;
}
bool has_direct_backward_data(const Conv2dGeometry& g, bool bf16) {
  const Inputs inputs = bf16 ? Inputs::bf16 : Inputs::f32;
  return plan(g, Pass::data, inputs)->data_direct;
}
bool has_direct_backward_weights(const Conv2dGeometry& g, bool bf16) {
  const Inputs inputs = bf16 ? Inputs::bf16 : Inputs::f32;
  return plan(g, Pass::weights, inputs)->weights_direct;
}

bool has_bf16() {
  // a small convolution's forward, built once: oneDNN has bf16 convolutions on AVX-512 CPUs
  // (native with AVX512-BF16, emulated without) and none (an unimplemented error) below
  static const bool available = [] {
    Conv2dGeometry g{.N = 1, .C = 16, .H = 8, .W = 8, .O = 16, .KH = 3, .KW = 3};
    g.OH = g.out_h();
    g.OW = g.out_w();
    try {
      const std::string impl = plan(g, Pass::forward, Inputs::bf16)->forward_pd.impl_info_str();
      return is_direct(impl);
    } catch (const Error&) {
      return false;
    }
  }();
  return available;
}

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias,
                    float* y) {
  forward(g, x, weight, bias, y);
}
void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* weight,
                          float* dx) {
  backward_data(g, dy, weight, dx);
}
void conv2d_backward_weights(const Conv2dGeometry& g, const float* dy, const float* x,
                             float* dweight, float* dbias) {
  backward_weights(g, dy, x, dweight, dbias);
}

void conv2d_forward(const Conv2dGeometry& g, const BFloat16* x, const BFloat16* weight,
                    const float* bias, float* y) {
  forward(g, x, weight, bias, y);
}
void conv2d_backward_data(const Conv2dGeometry& g, const BFloat16* dy, const BFloat16* weight,
                          float* dx) {
  backward_data(g, dy, weight, dx);
}
void conv2d_backward_weights(const Conv2dGeometry& g, const BFloat16* dy, const BFloat16* x,
                             float* dweight, float* dbias) {
  backward_weights(g, dy, x, dweight, dbias);
}

}  // namespace descent::kernels::onednn

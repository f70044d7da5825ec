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

#include "descent/core/error.hpp"
#include "descent/kernels/workspace.hpp"

namespace descent::kernels::onednn {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

struct Plan {
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_forward forward;
  std::optional<dnnl::convolution_backward_data::primitive_desc> data_pd;
  std::optional<dnnl::convolution_backward_data> data;
  std::optional<dnnl::convolution_backward_weights::primitive_desc> weights_pd;
  std::optional<dnnl::convolution_backward_weights> weights;
};

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

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

// The cached plan for g, with the primitive of `pass` created.
std::shared_ptr<Plan> plan(const Conv2dGeometry& g, Pass pass, Inputs inputs = Inputs::f32) {
  // clang-format off
  const Key key{g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                g.dilation_h, g.dilation_w, g.OH, g.OW, static_cast<std::int64_t>(inputs)};
  // clang-format on
  const memory::data_type in = low_type(inputs);
  const Dims d = dims_of(g);
  const dnnl::algorithm direct = dnnl::algorithm::convolution_direct;
  std::lock_guard lock(plans_mutex);
  if (plans().size() >= kMaxPlans && plans().count(key) == 0) plans().clear();
  std::shared_ptr<Plan>& slot = plans()[key];
  try {
    if (!slot) {
      const dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_training, direct, any_desc(d.x, in), any_desc(d.weight, in),
          memory::desc(d.bias, memory::data_type::f32, Tag::x), any_desc(d.y), d.strides, d.dilates,
          d.padding, d.padding);
      dnnl::convolution_forward::primitive_desc pd(desc, user_scratchpad(), cpu_engine());
      slot = std::make_shared<Plan>(Plan{pd, dnnl::convolution_forward(pd), {}, {}, {}, {}});
    }
    Plan& p = *slot;
    if (pass == Pass::data && !p.data) {
      const dnnl::convolution_backward_data::desc desc(direct, any_desc(d.x),
                                                       any_desc(d.weight, in), any_desc(d.y, in),
                                                       d.strides, d.dilates, d.padding, d.padding);
      p.data_pd.emplace(desc, user_scratchpad(), cpu_engine(), p.forward_pd);
      p.data.emplace(*p.data_pd);
    }
    if (pass == Pass::weights && !p.weights) {
      const dnnl::convolution_backward_weights::desc desc(
          direct, any_desc(d.x, in), any_desc(d.weight),
          memory::desc(d.bias, memory::data_type::f32, Tag::x), any_desc(d.y, in), d.strides,
          d.dilates, d.padding, d.padding);
      p.weights_pd.emplace(desc, user_scratchpad(), cpu_engine(), p.forward_pd);
      p.weights.emplace(*p.weights_pd);
    }
    return slot;
  } catch (const dnnl::error& e) {
    plans().erase(key);
    throw Error(cat("conv2d: oneDNN could not build a convolution for x (", g.N, ", ", g.C, ", ",
                    g.H, ", ", g.W, ") and weight (", g.O, ", ", g.C, ", ", g.KH, ", ", g.KW,
                    "): ", e.what()));
  }
}

bool is_direct(const std::string& implementation) {
  return implementation.find("gemm:") == std::string::npos &&
         implementation.rfind("ref", 0) == std::string::npos;
}

// A tensor in the caller's NCHW (or OIHW) buffer, seen in the layout `wanted`: the buffer
// itself when the layouts agree, else a reordered copy in scratch memory.
class Operand {
 public:
  template <typename T>
  Operand(const memory::dims& dims, Tag plain, const T* data, const memory::desc& wanted)
      // oneDNN takes a mutable handle; inputs are only read
      : user_(memory::desc(
                  dims, std::is_same_v<T, float> ? memory::data_type::f32 : memory::data_type::bf16,
                  plain),
              cpu_engine(), const_cast<T*>(data)) {
    if (wanted == user_.get_desc()) {
      used_ = user_;
      return;
    }
    scratch_.emplace(static_cast<std::int64_t>(wanted.get_size()));
    used_ = memory(wanted, cpu_engine(), scratch_->get());
  }
  // Copies the caller's values into the used layout (an input).
  void load(dnnl::stream& stream) {
    if (used_ != user_) dnnl::reorder(user_, used_).execute(stream, user_, used_);
  }
  // Copies the used layout back to the caller's buffer (an output).
  void store(dnnl::stream& stream) {
    if (used_ != user_) dnnl::reorder(used_, user_).execute(stream, used_, user_);
  }
  const memory& get() const { return used_; }

 private:
  memory user_;
  memory used_;
  std::optional<Workspace<char>> scratch_;
};

class Scratchpad {
 public:
  explicit Scratchpad(const memory::desc& desc)
      : bytes_(static_cast<std::int64_t>(desc.get_size())),
        memory_(desc, cpu_engine(), bytes_.get()) {}
  const memory& get() const { return memory_; }

 private:
  Workspace<char> bytes_;
  memory memory_;
};

template <typename F>
void run(F f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(cat("conv2d: oneDNN failed: ", e.what()));
  }
}

template <typename L>
constexpr Inputs inputs_of() {
  return std::is_same_v<L, float> ? Inputs::f32 : Inputs::bf16;
}

template <typename L>
void forward(const Conv2dGeometry& g, const L* x, const L* weight, const float* bias, float* y) {
  const std::shared_ptr<Plan> plan_ref = plan(g, Pass::forward, inputs_of<L>());
  Plan& p = *plan_ref;
  const Dims d = dims_of(g);
  run([&] {
    dnnl::stream stream(cpu_engine());
    Operand src(d.x, Tag::nchw, x, p.forward_pd.src_desc());
    Operand wei(d.weight, Tag::oihw, weight, p.forward_pd.weights_desc());
    Operand dst(d.y, Tag::nchw, y, p.forward_pd.dst_desc());
    // the primitive always takes a bias; without one it adds zeros
    Workspace<float> zeros(bias == nullptr ? g.O : 0);
    if (bias == nullptr) std::fill(zeros.get(), zeros.get() + g.O, 0.0f);
    Operand b(d.bias, Tag::x, bias != nullptr ? bias : zeros.get(), p.forward_pd.bias_desc());
    Scratchpad scratchpad(p.forward_pd.scratchpad_desc());
    src.load(stream);
    wei.load(stream);
    p.forward.execute(stream, {{DNNL_ARG_SRC, src.get()},
                               {DNNL_ARG_WEIGHTS, wei.get()},
                               {DNNL_ARG_BIAS, b.get()},
                               {DNNL_ARG_DST, dst.get()},
                               {DNNL_ARG_SCRATCHPAD, scratchpad.get()}});
    dst.store(stream);
    stream.wait();
  });
}

template <typename L>
void backward_data(const Conv2dGeometry& g, const L* dy, const L* weight, float* dx) {
  const std::shared_ptr<Plan> plan_ref = plan(g, Pass::data, inputs_of<L>());
  Plan& p = *plan_ref;
  const Dims d = dims_of(g);
  run([&] {
    dnnl::stream stream(cpu_engine());
    Operand diff_dst(d.y, Tag::nchw, dy, p.data_pd->diff_dst_desc());
    Operand wei(d.weight, Tag::oihw, weight, p.data_pd->weights_desc());
    Operand diff_src(d.x, Tag::nchw, dx, p.data_pd->diff_src_desc());
    Scratchpad scratchpad(p.data_pd->scratchpad_desc());
    diff_dst.load(stream);
    wei.load(stream);
    p.data->execute(stream, {{DNNL_ARG_DIFF_DST, diff_dst.get()},
                             {DNNL_ARG_WEIGHTS, wei.get()},
                             {DNNL_ARG_DIFF_SRC, diff_src.get()},
                             {DNNL_ARG_SCRATCHPAD, scratchpad.get()}});
    diff_src.store(stream);
    stream.wait();
  });
}

template <typename L>
void backward_weights(const Conv2dGeometry& g, const L* dy, const L* x, float* dweight,
                      float* dbias) {
  const std::shared_ptr<Plan> plan_ref = plan(g, Pass::weights, inputs_of<L>());
  Plan& p = *plan_ref;
  const Dims d = dims_of(g);
  run([&] {
    dnnl::stream stream(cpu_engine());
    // the primitive always writes both; an unwanted one goes to scratch
    Workspace<float> unwanted(dweight == nullptr ? g.O * g.C * g.KH * g.KW
                                                 : (dbias == nullptr ? g.O : 0));
    Operand diff_dst(d.y, Tag::nchw, dy, p.weights_pd->diff_dst_desc());
    Operand src(d.x, Tag::nchw, x, p.weights_pd->src_desc());
    Operand diff_wei(d.weight, Tag::oihw, dweight != nullptr ? dweight : unwanted.get(),
                     p.weights_pd->diff_weights_desc());
    Operand diff_bias(d.bias, Tag::x, dbias != nullptr ? dbias : unwanted.get(),
                      p.weights_pd->diff_bias_desc());
    Scratchpad scratchpad(p.weights_pd->scratchpad_desc());
    diff_dst.load(stream);
    src.load(stream);
    p.weights->execute(stream, {{DNNL_ARG_DIFF_DST, diff_dst.get()},
                                {DNNL_ARG_SRC, src.get()},
                                {DNNL_ARG_DIFF_WEIGHTS, diff_wei.get()},
                                {DNNL_ARG_DIFF_BIAS, diff_bias.get()},
                                {DNNL_ARG_SCRATCHPAD, scratchpad.get()}});
    if (dweight != nullptr) diff_wei.store(stream);
    if (dbias != nullptr) diff_bias.store(stream);
    stream.wait();
  });
}

}  // namespace

bool has_direct_forward(const Conv2dGeometry& g, bool bf16) {
  const Inputs inputs = bf16 ? Inputs::bf16 : Inputs::f32;
  return is_direct(plan(g, Pass::forward, inputs)->forward_pd.impl_info_str());
}
bool has_direct_backward_data(const Conv2dGeometry& g, bool bf16) {
  const Inputs inputs = bf16 ? Inputs::bf16 : Inputs::f32;
  return is_direct(plan(g, Pass::data, inputs)->data_pd->impl_info_str());
}
bool has_direct_backward_weights(const Conv2dGeometry& g, bool bf16) {
  const Inputs inputs = bf16 ? Inputs::bf16 : Inputs::f32;
  return is_direct(plan(g, Pass::weights, inputs)->weights_pd->impl_info_str());
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

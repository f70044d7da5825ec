// Optimizers: options, named state and a pure per-element rule, walked by one shared driver.
//
// ====== Intended usage ======
//   optim::AdamW opt(params, {.lr = 3e-4, .weight_decay = 0.1});   // params: leaf tensors
//   for (std::int64_t step = 0; step < steps; ++step) {
//     opt.zero_grad();                        // zeros every .grad() in place
//     loss(...).backward();
//     opt.set_lr(schedule(step));             // schedules set the lr of every group
//     opt.step({.grad_scale = clip_factor});  // the gradient scale costs no extra pass
//   }
//   StateDict saved = opt.state_dict();       // "state.0.exp_avg", "param_groups.0.lr", ...
//   opt.load_state_dict(saved);               // resume: bit-identical to an unbroken run
//
// Parameters are leaf tensors (f32 or f64; each may differ). The model's flat buffer can be
// passed as one tensor, which makes each step one vectorized, threaded pass per state
// array; per-parameter views of that buffer work too (one pass per view). Layer-wise
// optimizers (LAMB, LARS) need the per-parameter views: their trust ratio is per tensor.
// A parameter whose grad() is undefined is skipped, as PyTorch skips `p.grad is None`;
// its step count does not advance. State is allocated at a parameter's first step; later
// steps allocate nothing.
//
// Param groups are PyTorch's: each has its own parameters and a full copy of the options.
//   optim::SGD opt({{decay_params, {.lr = 0.1, .weight_decay = 5e-4}},
//                   {no_decay_params, {.lr = 0.1}}});
// weight_decay_groups() builds those two groups: tensors of rank >= 2 (weights) decay,
// rank <= 1 tensors (biases, normalization scales and shifts) do not.
//
// ====== Writing an optimizer ======  (one header, one test, and its line in all.hpp)
//   struct FooOptions {                      // PyTorch's names and defaults
//     double lr = 1e-3;
//     double beta = 0.9;
//     static constexpr auto fields() {        // for the state dict and the command line
//       return std::tuple{field("lr", &FooOptions::lr), field("beta", &FooOptions::beta)};
//     }
//   };
//   template <typename T>                     // T: float or double
//   struct FooRule {
//     static constexpr std::array slots = {Slot{"exp_avg"}};  // per-element state
//     T lr, beta;
//     FooRule(const FooOptions& o, ParamState& s);       // once per tensor per step
//     void update(T& param, T grad, T& exp_avg) const;   // once per element, inlined
//   };
//   class Foo : public RuleOptimizer<Foo, FooOptions> {
//    public:
//     static constexpr const char* name = "Foo";
//     using RuleOptimizer::RuleOptimizer;
//     static void validate(const FooOptions& o);          // throws "Foo: beta must be ..."
//     template <typename T, typename Fn>
//     static void with_rule(const FooOptions&, Fn&& fn) { fn.template operator()<FooRule<T>>(); }
//   };
//   inline const bool foo_registered = register_optimizer<Foo>("foo", "one-line summary");
//
// A slot whose `kept` flag is false is not stored (PyTorch's momentum_buffer when momentum
// is 0): the rule still receives a reference, to a scratch value, and must not read it.
// with_rule picks the rule from the options, so a flag that changes the kept state
// (amsgrad, centered) picks another instantiation. Optional members of a rule:
//   static constexpr std::array scalars = {Scalar{"mu_product", 1.0}};  // per-tensor scalars
//   static double initial(const Options& o, std::size_t slot);        // start value, else 0
//   void reduce(double& sum_a, double& sum_b, T param, T grad, T&... slots) const;
//   void finish(double sum_a, double sum_b);
// A rule with reduce() gets two passes: reduce over the tensor (in a fixed order, so
// results do not depend on scheduling), then finish(), then update() (LAMB, LARS).
//
// Speed: each pass is memory-bound (Adam moves 28 bytes per f32 parameter) once the loop
// vectorizes; loops with std::sqrt vectorize only under -fno-math-errno (as PyTorch builds),
// otherwise GCC keeps a libm call per element for errno (about 7x slower).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "descent/core/cpu.hpp"
#include "descent/core/half.hpp"
#include "descent/core/parallel.hpp"
#include "descent/core/tensor.hpp"

namespace descent::optim {

// What is decided per step outside the optimizer (gradient clipping, loss scaling).
struct StepOptions {
  // Multiplies every gradient before the rule sees it: 1 / loss_scale, a clipping factor,
  // or their product. Weight decay is added after scaling, as it is in PyTorch.
  float grad_scale = 1.0f;
  // Skips the step entirely (the loss scaler found inf or NaN): nothing changes.
  bool skip = false;
};

template <typename Options>
struct ParamGroup {
  std::vector<Tensor> params;
  Options options{};
};

// Flat, PyTorch-named entries: "state.<i>.<name>" (i counts parameters across groups),
// "param_groups.<g>.<option>" and "param_groups.<g>.params" (i64 parameter ids). Scalars
// (step, lr, flags) are f64 tensors of shape (); betas is (2,). Every optimizer keeps
// "state.<i>.step" (PyTorch's SGD has none). State tensors share memory with the optimizer:
// write or clone them before the next step. Loading converts state to the parameter's dtype.
using StateDict = std::map<std::string, Tensor>;

// One per-element state array of a rule.
struct Slot {
  std::string_view name;
  bool kept = true;
};

// One per-tensor scalar of a rule's state (NAdam's mu_product).
struct Scalar {
  std::string_view name;
  double initial = 0.0;
};

// Per-parameter state.
struct ParamState {
  bool initialized = false;
  std::int64_t step = 0;                    // steps taken by this parameter
  std::vector<Tensor> buffers;              // shaped and typed as the parameter
  std::span<const std::string_view> names;  // the rule's kept slots, naming buffers
  std::vector<double> scalars;
  std::span<const Scalar> scalar_names;
};

// ---- options as named fields ----

template <typename Options, typename Value>
struct Field {
  std::string_view name;
  Value Options::*member;
};

template <typename Options, typename Value>
constexpr Field<Options, Value> field(std::string_view name, Value Options::*member) {
  return {name, member};
}

// Calls fn(name, value) for every field of `options` (value is a reference to the member).
template <typename Options, typename Fn>
void for_each_field(Options& options, Fn&& fn) {
  std::apply([&](const auto&... f) { (fn(f.name, options.*(f.member)), ...); },
             std::remove_const_t<Options>::fields());
}

// Field values as state-dict tensors and command-line text. A field is a double, a bool or
// a pair of doubles (betas).
using Betas = std::array<double, 2>;
Tensor field_to_tensor(double value);
Tensor field_to_tensor(bool value);
Tensor field_to_tensor(const Betas& value);
// `where` names the entry in errors ("Adam: load_state_dict: param_groups.0.lr").
void field_from_tensor(const Tensor& t, double& value, const std::string& where);
void field_from_tensor(const Tensor& t, bool& value, const std::string& where);
void field_from_tensor(const Tensor& t, Betas& value, const std::string& where);
std::string field_to_string(double value);
std::string field_to_string(bool value);
std::string field_to_string(const Betas& value);
void field_from_string(std::string_view text, double& value, const std::string& where);
void field_from_string(std::string_view text, bool& value, const std::string& where);
void field_from_string(std::string_view text, Betas& value, const std::string& where);

// Options as text, by PyTorch's names: {"lr": "0.1", "betas": "0.9,0.999", "amsgrad": "true"}.
using OptionMap = std::map<std::string, std::string>;

// Sets the fields named in `text` (others keep their values). Throws for an unknown name
// (listing the known ones) or a malformed value; `who` names the optimizer in errors.
template <typename Options>
void apply_options(Options& options, const OptionMap& text, const char* who) {
  for (const auto& [key, value] : text) {
    bool found = false;
    for_each_field(options, [&](std::string_view name, auto& member) {
      if (name != key) return;
      field_from_string(value, member, cat(who, ": option ", key));
      found = true;
    });
    if (!found) {
      std::string known;
      for_each_field(options, [&](std::string_view name, const auto&) {
        known += (known.empty() ? "" : ", ") + std::string(name);
      });
      throw Error(cat(who, ": unknown option '", key, "' (options: ", known, ")"));
    }
  }
}

// ---- validation, naming the optimizer, the field and the value ----
namespace check {
// "<opt>: <field> must be >= 0, got <value>"
void non_negative(const char* optimizer, const char* field, double value);
// "<opt>: <field> must be > 0, got <value>"
void positive(const char* optimizer, const char* field, double value);
// "<opt>: <field> must be in [0, 1), got <value>"
void unit_interval(const char* optimizer, const char* field, double value);
// "<opt>: <field> must be in [0, 1], got <value>"
void closed_unit_interval(const char* optimizer, const char* field, double value);
// betas[0] as beta1, betas[1] as beta2, each in [0, 1).
void betas(const char* optimizer, const Betas& betas);
}  // namespace check

namespace detail {
// Where an update also writes its f32 parameters rounded to 16 bits: element i of the
// parameter goes to bf16[i] or f16[i]; both null: nowhere.
struct LowOut {
  BFloat16* bf16 = nullptr;
  Half* f16 = nullptr;
  bool any() const { return bf16 != nullptr || f16 != nullptr; }
};
}  // namespace detail

// ---- the type-erased interface ----

class Optimizer {
 public:
  Optimizer() = default;
  // Not copyable: a copy would share the state tensors (handles) with the original.
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer() = default;
  // PyTorch's class name: "Adam", "SGD".
  virtual std::string_view name() const = 0;
  virtual void step(const StepOptions& options = {}) = 0;
  // Zeros every defined gradient in place (the flat gradient buffer stays where it is).
  void zero_grad();

  std::size_t num_groups() const { return params_.size(); }
  const std::vector<Tensor>& params(std::size_t group) const;
  std::size_t num_params() const { return states_.size(); }
  // The state of parameter `index` (counted across groups), for inspection.
  const ParamState& state(std::size_t index) const;

  virtual double lr(std::size_t group = 0) const = 0;
  virtual void set_lr(std::size_t group, double lr) = 0;
  // Sets the lr of every group.
  void set_lr(double lr);
  // A group's options as text, for logs and reports; and changes by name (for schedules of
  // other hyperparameters, such as OneCycle's momentum), validated as set_options does.
  virtual OptionMap group_options(std::size_t group) const = 0;
  virtual void update_group_options(std::size_t group, const OptionMap& changes) = 0;

  virtual StateDict state_dict() const = 0;
  // Replaces state and options from a state dict of the same optimizer with the same groups
  // of the same shapes; throws (and changes nothing) otherwise.
  virtual void load_state_dict(const StateDict& dict) = 0;

  // From now on every step also writes each f32 parameter that lies inside `master` (a flat
  // f32 buffer), rounded to nearest even, into `low` (bf16 or f16, master's shape) at the
  // same offset, in the update's own pass over the parameter: amp::MasterWeights's copy kept
  // current without a second pass over the weights. Parameters outside `master` are not
  // written; an undefined `master` stops it. The caller keeps the copy as it was before the
  // first step (MasterWeights fills it).
  void write_low_copy(const Tensor& master, const Tensor& low);
  bool writes_low_copy() const { return low_copy_.defined(); }

 protected:
  // The low copy's part for `param`, or nowhere.
  detail::LowOut low_out(const Tensor& param) const;
  Tensor low_master_, low_copy_;

  // Checks the parameter lists: not empty, leaves, f32 or f64, no parameter twice (nor two
  // views that overlap).
  void set_params(const char* optimizer, std::vector<std::vector<Tensor>> groups);
  void check_group(const char* optimizer, std::size_t group) const;

  std::vector<std::vector<Tensor>> params_;  // per group
  std::vector<ParamState> states_;           // per parameter, in group order
};

// Two groups from one list: rank >= 2 tensors keep `options`, the others (biases,
// normalization parameters) get weight_decay = 0. Empty groups are left out.
template <typename Options>
std::vector<ParamGroup<Options>> weight_decay_groups(const std::vector<Tensor>& params,
                                                     const Options& options) {
  ParamGroup<Options> decay{{}, options};
  ParamGroup<Options> no_decay{{}, options};
  no_decay.options.weight_decay = 0.0;
  for (const Tensor& p : params) (p.dim() >= 2 ? decay : no_decay).params.push_back(p);
  std::vector<ParamGroup<Options>> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!no_decay.params.empty()) groups.push_back(std::move(no_decay));
  return groups;
}

namespace detail {

constexpr std::int64_t kParallelThreshold = kParallelElements;  // core/parallel.hpp

template <typename Rule>
constexpr std::size_t kept_count() {
  std::size_t count = 0;
  for (const Slot& slot : Rule::slots) count += slot.kept ? 1 : 0;
  return count;
}

// The names of the kept slots, in order (static storage, so ParamState can point at it).
template <typename Rule>
struct KeptNames {
  static constexpr std::array<std::string_view, kept_count<Rule>()> value = [] {
    std::array<std::string_view, kept_count<Rule>()> names{};
    std::size_t k = 0;
    for (const Slot& slot : Rule::slots) {
      if (slot.kept) names[k++] = slot.name;
    }
    return names;
  }();
};

// Index of slot `s` among the kept slots.
template <typename Rule>
constexpr std::size_t buffer_index(std::size_t s) {
  std::size_t k = 0;
  for (std::size_t i = 0; i < s; ++i) k += Rule::slots[i].kept ? 1 : 0;
  return k;
}

template <typename Rule>
constexpr std::span<const Scalar> scalars_of() {
  if constexpr (requires { Rule::scalars; }) {
    return std::span<const Scalar>(Rule::scalars);
  } else {
    return {};
  }
}

template <typename Rule, typename Options>
double initial_value(const Options& options, std::size_t slot) {
  if constexpr (requires { Rule::initial(options, slot); }) {
    return Rule::initial(options, slot);
  } else {
    return 0.0;
  }
}

template <typename Rule>
constexpr bool has_reduce = requires {
  &Rule::finish;
};

// The slot's element, or a scratch value for a slot that is not kept.
template <typename Rule, std::size_t S, typename T, std::size_t N>
T& slot_at(const std::array<T*, N>& slots, std::int64_t i, T& scratch) {
  if constexpr (Rule::slots[S].kept) {
    return slots[S][i];
  } else {
    return scratch;
  }
}

// The one loop every optimizer runs: the rule's update on elements [begin, end), with the
// gradient scaled. Slots that are not kept get a scratch value that the rule never reads.
template <typename Rule, typename T, std::size_t... S>
[[gnu::always_inline]] inline void update_loop(Rule rule, T* param, const T* grad, T grad_scale,
                                               std::int64_t begin, std::int64_t end,
                                               std::array<T*, sizeof...(S)> slots,
                                               std::index_sequence<S...>) {
  // rule and slots are private copies: the compiler then knows that stores to the
  // parameters cannot change the coefficients, hoists them and vectorizes the loop.
#pragma omp simd
  for (std::int64_t i = begin; i < end; ++i) {
    [[maybe_unused]] T scratch = T(0);
    rule.update(param[i], grad[i] * grad_scale, slot_at<Rule, S>(slots, i, scratch)...);
  }
}

#if defined(__x86_64__)
// The same loop compiled for AVX-512 (16 floats a vector, where the build's baseline gives 8):
// the same operations on each element, so the same results; Adam's square root and two
// divisions per element made its pass compute-bound at 8 lanes.
template <typename Rule, typename T, std::size_t... S>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,prefer-vector-width=512"))) void
update_loop_avx512(Rule rule, T* param, const T* grad, T grad_scale, std::int64_t begin,
                   std::int64_t end, std::array<T*, sizeof...(S)> slots,
                   std::index_sequence<S...> seq) {
  update_loop(rule, param, grad, grad_scale, begin, end, slots, seq);
}
#endif

template <typename Rule, typename T, std::size_t... S>
void update_range(Rule rule, T* param, const T* grad, T grad_scale, std::int64_t begin,
                  std::int64_t end, std::array<T*, sizeof...(S)> slots,
                  std::index_sequence<S...> seq) {
#if defined(__x86_64__)
  if (cpu_has_avx512()) {
    update_loop_avx512(rule, param, grad, grad_scale, begin, end, slots, seq);
    return;
  }
#endif
  update_loop(rule, param, grad, grad_scale, begin, end, slots, seq);
}

// The update over a whole tensor: in place for a small one (many small parameters pay no
// thread start), else one contiguous chunk per thread. With a low copy to write, each block
// of the chunk is updated, then rounded into the copy while it is still in L1.
template <typename Rule, typename T, std::size_t... S>
void update_pass(const Rule& rule, T* param, const T* grad, T grad_scale, std::int64_t n,
                 const std::array<T*, sizeof...(S)>& slots, std::index_sequence<S...> seq,
                 const LowOut& low = {}) {
  auto range = [&](std::int64_t begin, std::int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      if (low.any()) {
        constexpr std::int64_t kBlock = 2048;
        for (std::int64_t b = begin; b < end; b += kBlock) {
          const std::int64_t e = std::min(end, b + kBlock);
          update_range(rule, param, grad, grad_scale, b, e, slots, seq);
          if (low.bf16 != nullptr) {
            convert_serial(param + b, low.bf16 + b, e - b);
          } else {
            convert_serial(param + b, low.f16 + b, e - b);
          }
        }
        return;
      }
    }
    update_range(rule, param, grad, grad_scale, begin, end, slots, seq);
  };
  on_threads(n > kParallelThreshold ? parallel_threads() : 1, [&](int t, int nt) {
    const auto [begin, end] = share_of(n, t, nt);
    range(begin, end);
  });
}

// The first pass of a two-pass rule: sums over the tensor in per-thread chunks, added in
// thread order, so that the result depends only on the thread count (and the binary: the
// chunk loop is vectorized).
template <typename Rule, typename T, std::size_t... S>
std::pair<double, double> reduce_pass(const Rule& rule, T* param, const T* grad, T grad_scale,
                                      std::int64_t n, const std::array<T*, sizeof...(S)>& slots,
                                      std::vector<double>& partials, std::index_sequence<S...>) {
  const int threads = n > kParallelThreshold ? parallel_threads() : 1;
  if (partials.size() < 2 * static_cast<std::size_t>(threads)) partials.resize(2 * threads);
  int used = 1;
  on_threads(threads, [&](int part, int parts) {
    const auto [begin, end] = share_of(n, part, parts);
    double sum_a = 0.0;
    double sum_b = 0.0;
    const Rule local = rule;
    const std::array<T*, sizeof...(S)> local_slots = slots;
#pragma omp simd reduction(+ : sum_a, sum_b)
    for (std::int64_t i = begin; i < end; ++i) {
      [[maybe_unused]] T scratch = T(0);
      local.reduce(sum_a, sum_b, param[i], grad[i] * grad_scale,
                   slot_at<Rule, S>(local_slots, i, scratch)...);
    }
    partials[2 * part] = sum_a;
    partials[2 * part + 1] = sum_b;
    if (part == 0) used = parts;
  });
  double sum_a = 0.0;
  double sum_b = 0.0;
  for (int p = 0; p < used; ++p) {
    sum_a += partials[2 * p];
    sum_b += partials[2 * p + 1];
  }
  return {sum_a, sum_b};
}

}  // namespace detail

// ---- the shared driver ----

// Derived provides: `static constexpr const char* name`, `static void validate(const
// Options&)` and `template <typename T, typename Fn> static void with_rule(const Options&,
// Fn&&)`, which calls fn.template operator()<Rule>() with the rule for those options.
template <typename Derived, typename Options>
class RuleOptimizer : public Optimizer {
 public:
  using OptionsType = Options;

  // One group.
  explicit RuleOptimizer(std::vector<Tensor> params, const Options& options = {})
      : RuleOptimizer(std::vector<ParamGroup<Options>>{{std::move(params), options}}) {}
  explicit RuleOptimizer(std::vector<ParamGroup<Options>> groups) {
    std::vector<std::vector<Tensor>> lists;
    for (ParamGroup<Options>& group : groups) {
      Derived::validate(group.options);
      options_.push_back(group.options);
      lists.push_back(std::move(group.params));
    }
    set_params(Derived::name, std::move(lists));
  }

  std::string_view name() const override { return Derived::name; }

  const Options& options(std::size_t group = 0) const {
    check_group(Derived::name, group);
    return options_[group];
  }
  // Replaces a group's options (validated). Options that change the kept state (amsgrad,
  // centered, momentum on/off) cannot change once the group has state.
  void set_options(std::size_t group, const Options& options) {
    check_group(Derived::name, group);
    Derived::validate(options);
    const auto kept = kept_names(options);
    std::size_t index = first_index(group);
    for (std::size_t i = 0; i < params_[group].size(); ++i, ++index) {
      const ParamState& state = states_[index];
      DESCENT_CHECK(!state.initialized || same_names(state.names, kept), Derived::name,
                    ": set_options: group ", group,
                    " has state; options that change which state is kept (", join(state.names),
                    " -> ", join(kept), ") cannot change after its first step");
    }
    options_[group] = options;
  }

  OptionMap group_options(std::size_t group) const override {
    Options copy = options(group);
    OptionMap text;
    for_each_field(copy, [&](std::string_view field_name, const auto& value) {
      text[std::string(field_name)] = field_to_string(value);
    });
    return text;
  }
  void update_group_options(std::size_t group, const OptionMap& changes) override {
    Options changed = options(group);
    apply_options(changed, changes, Derived::name);
    set_options(group, changed);
  }

  double lr(std::size_t group = 0) const override { return options(group).lr; }
  using Optimizer::set_lr;
  void set_lr(std::size_t group, double lr) override {
    check_group(Derived::name, group);
    check::non_negative(Derived::name, "lr", lr);
    options_[group].lr = lr;
  }

  void step(const StepOptions& step_options = {}) override {
    if (step_options.skip) return;
    std::size_t index = 0;
    for (std::size_t group = 0; group < params_.size(); ++group) {
      const Options& options = options_[group];
      for (const Tensor& param : params_[group]) {
        ParamState& state = states_[index++];
        const Tensor grad = param.grad();
        if (!grad.defined()) continue;
        dispatch_float(param.dtype(), Derived::name, [&]<typename T>() {
          Derived::template with_rule<T>(options, [&]<typename Rule>() {
            step_tensor<Rule, T>(options, state, param, grad, step_options.grad_scale);
          });
        });
      }
    }
  }

  StateDict state_dict() const override {
    StateDict dict;
    for (std::size_t index = 0; index < states_.size(); ++index) {
      const ParamState& state = states_[index];
      if (!state.initialized) continue;
      const std::string prefix = cat("state.", index, ".");
      dict[prefix + "step"] = scalar(static_cast<double>(state.step), DType::f64);
      for (std::size_t k = 0; k < state.buffers.size(); ++k) {
        dict[prefix + std::string(state.names[k])] = state.buffers[k].detach();
      }
      for (std::size_t k = 0; k < state.scalars.size(); ++k) {
        dict[prefix + std::string(state.scalar_names[k].name)] =
            scalar(state.scalars[k], DType::f64);
      }
    }
    std::size_t index = 0;
    for (std::size_t group = 0; group < params_.size(); ++group) {
      const std::string prefix = cat("param_groups.", group, ".");
      Options options = options_[group];
      for_each_field(options, [&](std::string_view field_name, const auto& value) {
        dict[prefix + std::string(field_name)] = field_to_tensor(value);
      });
      std::vector<double> ids;
      for (std::size_t i = 0; i < params_[group].size(); ++i) {
        ids.push_back(static_cast<double>(index++));
      }
      dict[prefix + "params"] =
          from_vector(ids, {static_cast<std::int64_t>(ids.size())}, DType::i64);
    }
    return dict;
  }

  void load_state_dict(const StateDict& dict) override {
    const std::string where = cat(Derived::name, ": load_state_dict: ");
    std::map<std::string, bool> used;
    for (const auto& [key, value] : dict) used[key] = false;
    auto take = [&](const std::string& key) -> const Tensor* {
      auto found = dict.find(key);
      if (found == dict.end()) return nullptr;
      used[key] = true;
      return &found->second;
    };
    auto require = [&](const std::string& key) -> const Tensor& {
      const Tensor* t = take(key);
      DESCENT_CHECK(t != nullptr && t->defined(), where, "missing entry '", key,
                    "' (is this the state dict of another optimizer?)");
      return *t;
    };

    // Groups: the same count and sizes; options come from the dict, as in PyTorch.
    std::vector<Options> options = options_;
    std::vector<std::int64_t> saved_ids;
    for (std::size_t group = 0; group < params_.size(); ++group) {
      const std::string prefix = cat("param_groups.", group, ".");
      const Tensor& ids = require(prefix + "params");
      DESCENT_CHECK(ids.numel() == static_cast<std::int64_t>(params_[group].size()), where,
                    "group ", group, " has ", params_[group].size(),
                    " parameters but the state dict's has ", ids.numel());
      for (double id : ids.to_vector()) saved_ids.push_back(static_cast<std::int64_t>(id));
      for_each_field(options[group], [&](std::string_view field_name, auto& value) {
        const std::string key = prefix + std::string(field_name);
        field_from_tensor(require(key), value, where + key);
      });
      Derived::validate(options[group]);
    }
    DESCENT_CHECK(!take(cat("param_groups.", params_.size(), ".params")), where,
                  "the state dict has more than ", params_.size(), " parameter groups");

    // Per-parameter state, built aside and committed only when everything checks.
    std::vector<ParamState> states(states_.size());
    std::size_t index = 0;
    for (std::size_t group = 0; group < params_.size(); ++group) {
      for (const Tensor& param : params_[group]) {
        const std::string prefix = cat("state.", saved_ids[index], ".");
        ParamState& state = states[index++];
        const Tensor* step = take(prefix + "step");
        if (step == nullptr) continue;  // never stepped
        double step_value = 0.0;
        field_from_tensor(*step, step_value, where + prefix + "step");
        DESCENT_CHECK(step_value >= 0 &&
                          step_value == static_cast<double>(static_cast<std::int64_t>(step_value)),
                      where, prefix, "step must be a non-negative integer, got ", step_value);
        dispatch_float(param.dtype(), Derived::name, [&]<typename T>() {
          Derived::template with_rule<T>(options[group], [&]<typename Rule>() {
            init_state<Rule>(options[group], state, param);
          });
        });
        state.step = static_cast<std::int64_t>(step_value);
        for (std::size_t k = 0; k < state.buffers.size(); ++k) {
          const std::string key = prefix + std::string(state.names[k]);
          const Tensor& saved = require(key);
          DESCENT_CHECK(saved.shape() == param.shape() && is_floating(saved.dtype()), where, "'",
                        key, "' is ", shape_str(saved.shape()), " ", dtype_name(saved.dtype()),
                        " but parameter ", index - 1, " is ", shape_str(param.shape()), " ",
                        dtype_name(param.dtype()));
          state.buffers[k].copy_(saved);
        }
        for (std::size_t k = 0; k < state.scalars.size(); ++k) {
          const std::string key = prefix + std::string(state.scalar_names[k].name);
          field_from_tensor(require(key), state.scalars[k], where + key);
        }
      }
    }
    for (const auto& [key, was_used] : used) {
      DESCENT_CHECK(was_used, where, "unexpected entry '", key,
                    "' (is this the state dict of another optimizer, or of other options?)");
    }
    options_ = std::move(options);
    states_ = std::move(states);
  }

 private:
  static std::span<const std::string_view> kept_names(const Options& options) {
    std::span<const std::string_view> names;
    Derived::template with_rule<double>(
        options, [&]<typename Rule>() { names = detail::KeptNames<Rule>::value; });
    return names;
  }
  static bool same_names(std::span<const std::string_view> a, std::span<const std::string_view> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  static std::string join(std::span<const std::string_view> names) {
    std::string out = "(";
    for (std::size_t k = 0; k < names.size(); ++k) {
      out += (k ? ", " : "") + std::string(names[k]);
    }
    return out + ")";
  }
  std::size_t first_index(std::size_t group) const {
    std::size_t index = 0;
    for (std::size_t g = 0; g < group; ++g) index += params_[g].size();
    return index;
  }

  template <typename Rule>
  static void init_state(const Options& options, ParamState& state, const Tensor& param) {
    state = ParamState{};
    state.initialized = true;
    state.names = detail::KeptNames<Rule>::value;
    for (std::size_t s = 0; s < Rule::slots.size(); ++s) {
      if (Rule::slots[s].kept) {
        state.buffers.push_back(
            full(param.shape(), detail::initial_value<Rule>(options, s), param.dtype()));
      }
    }
    state.scalar_names = detail::scalars_of<Rule>();
    for (const Scalar& s : state.scalar_names) state.scalars.push_back(s.initial);
  }

  template <typename Rule, typename T>
  void step_tensor(const Options& options, ParamState& state, const Tensor& param,
                   const Tensor& grad, float grad_scale) {
    constexpr std::size_t kSlots = Rule::slots.size();
    if (!state.initialized) init_state<Rule>(options, state, param);
    ++state.step;
    Rule rule(options, state);
    std::array<T*, kSlots> slots{};
    for (std::size_t s = 0; s < kSlots; ++s) {
      if (Rule::slots[s].kept) {
        slots[s] = state.buffers[detail::buffer_index<Rule>(s)].template data<T>();
      }
    }
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    const std::int64_t n = param.numel();
    const T scale = static_cast<T>(grad_scale);
    if constexpr (detail::has_reduce<Rule>) {
      const auto [sum_a, sum_b] = detail::reduce_pass(rule, p, g, scale, n, slots, partials_,
                                                      std::make_index_sequence<kSlots>{});
      rule.finish(sum_a, sum_b);
    }
    detail::update_pass(rule, p, g, scale, n, slots, std::make_index_sequence<kSlots>{},
                        low_out(param));
  }

  std::vector<Options> options_;  // per group
  std::vector<double> partials_;  // per-thread sums of two-pass rules
};

}  // namespace descent::optim

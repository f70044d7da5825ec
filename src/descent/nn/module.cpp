#include "descent/nn/module.hpp"

#include <cstdio>
#include <mutex>
#include <set>
#include <unordered_set>

#include "descent/nn/flat.hpp"

namespace descent::nn {

// ---- StateDict ----

void StateDict::insert(std::string key, Tensor value) {
  DESCENT_CHECK(!index_.contains(key), "StateDict: key '", key, "' is already present");
  index_.emplace(key, items_.size());
  items_.emplace_back(std::move(key), std::move(value));
}

void StateDict::erase(std::string_view key) {
  auto it = index_.find(std::string(key));
  DESCENT_CHECK(it != index_.end(), "StateDict: no key '", key, "' to erase");
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(it->second));
  index_.clear();
  for (std::size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
}

bool StateDict::contains(std::string_view key) const {
  return find(key) != nullptr;
}

const Tensor* StateDict::find(std::string_view key) const {
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

const Tensor& StateDict::at(std::string_view key) const {
  const Tensor* found = find(key);
  DESCENT_CHECK(found != nullptr, "StateDict: no key '", key, "'");
  return *found;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, value] : items_) out.push_back(key);
  return out;
}

// ---- Module ----

struct Module::Tree {
  std::mutex mutex;
  std::set<std::string> warned;
};

Module::Module(std::string type_name)
    : type_name_(std::move(type_name)), tree_(std::make_shared<Tree>()) {}

Module::~Module() = default;

Tensor Module::forward(const Tensor&) {
  throw Error(cat(type_name_, path_.empty() ? "" : " '" + path_ + "'",
                  ": has no forward() of its own; call its children"));
}

Shape Module::summarize(const Shape&, std::vector<LayerSummary>&) const {
  throw Error(cat(type_name_, ": summarize() is not implemented for this module"));
}

Shape Module::add_row(std::vector<LayerSummary>& rows, const Shape& output, double flops) const {
  rows.push_back({path_, str(), output, num_own_parameters(), flops});
  return output;
}

void Module::check_new_name(const std::string& name) const {
  DESCENT_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_,
                ": a parameter, buffer or child name must be non-empty and without '.', got '",
                name, "'");
  bool taken = false;
  for (const Parameter& p : parameters_) taken = taken || p.name == name;
  for (const auto& [buffer_name, buffer] : buffers_) taken = taken || buffer_name == name;
  for (const auto& [child_name, child] : children_) taken = taken || child_name == name;
  DESCENT_CHECK(!taken, type_name_, ": the name '", name, "' is already registered");
}

Tensor Module::register_parameter(std::string name, Tensor value, ParamKind kind) {
  check_new_name(name);
  DESCENT_CHECK(value.defined() && is_floating(value.dtype()), type_name_, ": parameter '", name,
                "' must be a defined floating-point tensor");
  DESCENT_CHECK(value.is_leaf(), type_name_, ": parameter '", name,
                "' must be a leaf tensor (detach() it first)");
  value.set_requires_grad(true);
  parameters_.push_back({std::move(name), value, kind});
  return value;
}

Tensor Module::register_buffer(std::string name, Tensor value) {
  check_new_name(name);
  DESCENT_CHECK(value.defined(), type_name_, ": buffer '", name, "' must be a defined tensor");
  buffers_.emplace_back(std::move(name), value);
  return value;
}

void Module::add_child(std::string name, std::shared_ptr<Module> child) {
  check_new_name(name);
  DESCENT_CHECK(child != nullptr, type_name_, ": child '", name, "' is null");
  DESCENT_CHECK(child.get() != this, type_name_, ": a module cannot be its own child");
  child->set_path(path_.empty() ? name : path_ + "." + name);
  child->adopt_tree(tree_);
  children_.emplace_back(std::move(name), std::move(child));
}

// Paths are rewritten top-down whenever a subtree is registered, so they are right once the
// model is assembled, whatever order it was built in.
void Module::set_path(const std::string& path) {
  path_ = path;
  for (auto& [name, child] : children_) child->set_path(path + "." + name);
}

void Module::adopt_tree(const std::shared_ptr<Tree>& tree) {
  tree_ = tree;
  for (auto& [name, child] : children_) child->adopt_tree(tree);
}

void Module::collect_parameters(const std::string& prefix, std::vector<ParameterEntry>& out) const {
  for (const Parameter& p : parameters_) out.push_back({prefix + p.name, p.tensor, p.kind});
  for (const auto& [name, child] : children_) child->collect_parameters(prefix + name + ".", out);
}

void Module::collect_buffers(const std::string& prefix,
                             std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, buffer] : buffers_) out.emplace_back(prefix + name, buffer);
  for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (const Parameter& p : parameters_) out.insert(prefix + p.name, p.tensor.detach());
  for (const auto& [name, buffer] : buffers_) out.insert(prefix + name, buffer.detach());
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

std::vector<Module::ParameterEntry> Module::parameter_entries() const {
  std::vector<ParameterEntry> all;
  collect_parameters("", all);
  std::vector<ParameterEntry> unique;
  std::unordered_set<const TensorImpl*> seen;
  for (ParameterEntry& entry : all) {
    if (seen.insert(entry.tensor.impl_ptr().get()).second) unique.push_back(std::move(entry));
  }
  return unique;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (ParameterEntry& entry : parameter_entries()) {
    out.emplace_back(std::move(entry.name), entry.tensor);
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (ParameterEntry& entry : parameter_entries()) out.push_back(entry.tensor);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [name, module] : std::as_const(*this).named_modules()) {
    out.emplace_back(name, const_cast<Module*>(module));
  }
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  std::vector<std::pair<std::string, const Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [name, module] = stack.back();
    stack.pop_back();
    out.emplace_back(name, module);
    const auto& children = module->children_;
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      stack.emplace_back(name.empty() ? it->first : name + "." + it->first, it->second.get());
    }
  }
  return out;
}

std::int64_t Module::num_parameters() const {
  std::int64_t total = 0;
  for (const Tensor& p : parameters()) total += p.numel();
  return total;
}

std::int64_t Module::num_own_parameters() const {
  std::int64_t total = 0;
  for (const Parameter& p : parameters_) total += p.tensor.numel();
  return total;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) out += (i > 0 ? ", " : "") + names[i];
  return out;
}

bool convertible(DType from, DType to) {
  auto plain = [](DType d) {
    return d == DType::f32 || d == DType::f64 || d == DType::i32 || d == DType::i64;
  };
  return from == to || (plain(from) && plain(to));
}

}  // namespace

LoadResult Module::load_state_dict(const StateDict& dict, bool strict) {
  const StateDict own = state_dict();
  LoadResult result;
  std::vector<std::string> mismatches;
  for (const auto& [key, target] : own) {
    const Tensor* source = dict.find(key);
    if (source == nullptr) {
      result.missing_keys.push_back(key);
    } else if (!source->defined()) {
      mismatches.push_back(cat("'", key, "' is an undefined tensor in the dict"));
    } else if (source->shape() != target.shape()) {
      mismatches.push_back(cat("size mismatch for '", key, "': the dict has ",
                               shape_str(source->shape()), ", the model has ",
                               shape_str(target.shape())));
    } else if (!convertible(source->dtype(), target.dtype())) {
      mismatches.push_back(cat("dtype mismatch for '", key, "': the dict has ",
                               dtype_name(source->dtype()), ", the model has ",
                               dtype_name(target.dtype())));
    }
  }
  for (const auto& [key, source] : dict) {
    if (!own.contains(key)) result.unexpected_keys.push_back(key);
  }

  std::vector<std::string> problems;
  if (strict && !result.missing_keys.empty()) {
    problems.push_back(
        cat(result.missing_keys.size(), " missing key(s): ", join(result.missing_keys)));
  }
  if (strict && !result.unexpected_keys.empty()) {
    problems.push_back(
        cat(result.unexpected_keys.size(), " unexpected key(s): ", join(result.unexpected_keys)));
  }
  problems.insert(problems.end(), mismatches.begin(), mismatches.end());
  if (!problems.empty()) {
    std::string message = cat("load_state_dict: cannot load into ", type_name_, ": ");
    for (std::size_t i = 0; i < problems.size(); ++i) message += (i > 0 ? "; " : "") + problems[i];
    if (strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty())) {
      message += " (pass strict=false to load the matching keys only)";
    }
    throw Error(message);
  }

  for (const auto& [key, target] : own) {
    const Tensor* source = dict.find(key);
    if (source != nullptr) Tensor(target).copy_(*source);
  }
  return result;
}

namespace {

// Re-points `t`'s own TensorImpl at a converted copy, so every handle sees the new dtype.
void convert_in_place(const Tensor& t, DType dtype) {
  if (!is_floating(t.dtype()) || t.dtype() == dtype) return;
  const Tensor converted = t.to(dtype);
  TensorImpl& impl = t.impl();
  impl.storage = converted.impl().storage;
  impl.offset_bytes = converted.impl().offset_bytes;
  impl.dtype = dtype;
  impl.grad = nullptr;
}

}  // namespace

void Module::to(DType dtype) {
  DESCENT_CHECK(dtype == DType::f32 || dtype == DType::f64, type_name_,
                ".to: parameters can be f32 or f64, got ", dtype_name(dtype));
  convert(dtype);
  if (flat_ != nullptr) flatten_parameters(*this);
}

void Module::convert(DType dtype) {
  for (Parameter& p : parameters_) convert_in_place(p.tensor, dtype);
  for (auto& [name, buffer] : buffers_) convert_in_place(buffer, dtype);
  for (auto& [name, child] : children_) child->convert(dtype);
}

void Module::zero_grad() {
  // Called every step: one fill of the flat buffer, then a walk that allocates nothing, for
  // gradients outside it (no flattening, or a grad replaced after flattening).
  const Tensor* flat_grads = flat_ != nullptr ? &flat_->grads : nullptr;
  if (flat_grads != nullptr) Tensor(*flat_grads).zero_();
  zero_grads_outside(flat_grads);
}

void Module::zero_grads_outside(const Tensor* flat_grads) {
  for (Parameter& p : parameters_) {
    Tensor grad = p.tensor.grad();
    if (grad.defined() && (flat_grads == nullptr || !grad.same_storage(*flat_grads))) grad.zero_();
  }
  for (auto& [name, child] : children_) child->zero_grads_outside(flat_grads);
}

FlatParameters& Module::flat_parameters() const {
  DESCENT_CHECK(flat_ != nullptr, type_name_,
                ": parameters are not flattened; call nn::flatten_parameters(model) first");
  return *flat_;
}

void Module::warn_once_per_model(const std::string& key, const std::string& message) const {
  {
    std::lock_guard lock(tree_->mutex);
    if (!tree_->warned.insert(key).second) return;
  }
  warn(message);
}

// ---- warnings ----

namespace {

struct WarningSink {
  std::mutex mutex;
  WarningHandler handler;
};

WarningSink& sink() {
  static WarningSink* instance = new WarningSink();  // never destroyed, usable from any dtor
  return *instance;
}

void print_to_stderr(const std::string& message) {
  std::fprintf(stderr, "descent: warning: %s\n", message.c_str());
}

}  // namespace

WarningHandler set_warning_handler(WarningHandler handler) {
  WarningSink& s = sink();
  std::lock_guard lock(s.mutex);
  WarningHandler previous = s.handler ? std::move(s.handler) : WarningHandler(print_to_stderr);
  s.handler = std::move(handler);
  return previous;
}

void warn(const std::string& message) {
  WarningSink& s = sink();
  WarningHandler handler;
  {
    std::lock_guard lock(s.mutex);
    handler = s.handler;
  }
  if (handler) {
    handler(message);
  } else {
    print_to_stderr(message);
  }
}

}  // namespace descent::nn

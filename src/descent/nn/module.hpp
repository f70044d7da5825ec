// Module: the base of every layer and model, named as in PyTorch.
//
// ====== Intended usage ======
//   class TwoLayer : public nn::Module {
//    public:
//     explicit TwoLayer(Generator& gen) : Module("TwoLayer") {
//       fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 256, gen));
//       fc2 = register_module("fc2", std::make_shared<nn::Linear>(256, 10, gen));
//     }
//     Tensor forward(const Tensor& x) override {  // (N, 784) -> (N, 10)
//       return fc2->forward(ops::relu(fc1->forward(x)));
//     }
//     std::shared_ptr<nn::Linear> fc1, fc2;
//   };
//
//   auto model = std::make_shared<TwoLayer>(gen);
//   nn::FlatParameters& flat = nn::flatten_parameters(*model);  // see flat.hpp
//   model->train();
//   ops::cross_entropy(model->forward(x), y).backward();         // fills flat.grads
//   ... an optimizer steps over flat.params / flat.ranges ...
//   model->zero_grad();
//   model->eval();                                                // before evaluating
//
// Names: a module's own parameters and buffers carry the names they were registered with;
// a child's are prefixed with the child's name and a dot, so a BatchNorm2d registered as
// "bn1" in block "0" of Sequential "layer1" owns "layer1.0.bn1.running_mean". Orders are
// PyTorch's: state_dict() lists a module's parameters, then its buffers, then each child's
// entries in registration order; named_parameters() visits modules in that same pre-order.
//
// Mode: train()/eval() set the mode of a module and of every module below it; the mode is
// state on each module, never a global switch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::nn {

struct FlatParameters;  // flat.hpp

// An ordered map from a dotted name to a tensor, as PyTorch's OrderedDict state dict.
class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  // Appends an entry; throws if the key is already present.
  void insert(std::string key, Tensor value);
  // Removes an entry; throws if the key is absent.
  void erase(std::string_view key);
  bool contains(std::string_view key) const;
  // The entry's tensor, or nullptr.
  const Tensor* find(std::string_view key) const;
  // The entry's tensor; throws naming the key when it is absent.
  const Tensor& at(std::string_view key) const;
  std::size_t size() const { return items_.size(); }
  std::vector<std::string> keys() const;
  const std::vector<Item>& items() const { return items_; }
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, std::size_t> index_;
};

// What load_state_dict(..., strict = false) skipped.
struct LoadResult {
  std::vector<std::string> missing_keys;     // in the model, not in the dict
  std::vector<std::string> unexpected_keys;  // in the dict, not in the model
};

// What a parameter is for; optimizers use it to form param groups (commonly: no weight
// decay for biases and normalization parameters).
enum class ParamKind { weight, bias, norm };

// One row of a model summary (see info.hpp): a leaf layer, its output and its cost.
struct LayerSummary {
  std::string name;         // dotted path, "layer1.0.conv1"
  std::string layer;        // "Conv2d(16, 16, kernel_size=3, padding=1, bias=false)"
  Shape output;             // output shape, batch dimension included
  std::int64_t parameters;  // this layer's own parameter elements
  double flops;             // forward FLOPs for the given input
};

class Module {
 public:
  // `type_name` is the class name users see in messages and tables ("BatchNorm2d").
  explicit Module(std::string type_name);
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation. The default throws: containers without a forward of their own must
  // not be called.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // ---- description ----
  const std::string& type_name() const { return type_name_; }
  // Dotted path inside the model this module was registered into ("layer1.0.bn1"); empty for
  // the root.
  const std::string& path() const { return path_; }
  // One line for tables and messages, as PyTorch's repr: "Linear(784, 256, bias=true)".
  virtual std::string str() const { return type_name_; }
  // Shape inference for summaries: the output shape for an input of shape `input` (batch
  // dimension included), checked as forward() checks it, without computing anything. Leaf
  // layers append their row to `rows`; containers walk their children in forward order.
  virtual Shape summarize(const Shape& input, std::vector<LayerSummary>& rows) const;

  // ---- registration (from a subclass's constructor) ----
  // Names may not be empty, contain '.', or repeat a parameter, buffer or child name.
  // The returned handle is the registered tensor itself (flattening moves its storage, and
  // every handle follows).
  Tensor register_parameter(std::string name, Tensor value, ParamKind kind = ParamKind::weight);
  Tensor register_buffer(std::string name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    add_child(std::move(name), module);
    return module;
  }

  // ---- walking the tree ----
  // Parameters in pre-order; a tensor registered twice (weight tying) appears once.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  // As named_parameters(), with each parameter's kind.
  struct ParameterEntry {
    std::string name;
    Tensor tensor;
    ParamKind kind;
  };
  std::vector<ParameterEntry> parameter_entries() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  // This module (named "") and every module below it, in pre-order.
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  // Total number of parameter elements.
  std::int64_t num_parameters() const;
  // This module's own parameter elements (not its children's).
  std::int64_t num_own_parameters() const;

  // ---- mode ----
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- state ----
  // Parameters and buffers by dotted name. The tensors share storage with the module
  // (detached: no history, no grad), as PyTorch's state_dict.
  StateDict state_dict() const;
  // Copies the dict's values into the module's parameters and buffers, in place (a flat
  // buffer stays intact). Validates everything before copying anything: with strict, one
  // Error lists every missing and every unexpected key; in either mode a shape mismatch
  // throws naming the key and both shapes. Values of another dtype are converted.
  LoadResult load_state_dict(const StateDict& dict, bool strict = true);

  // Converts the floating parameters and buffers of this module and all below it to
  // `dtype` (f32 or f64), in place: handles stay valid, gradients are dropped. A flattened
  // module is flattened again. Call it on the root, before handing parameters out.
  void to(DType dtype);

  // Zeros every parameter's gradient (one fill of the flat gradient buffer when this module
  // was flattened).
  void zero_grad();
  // The flat buffers made by flatten_parameters(*this); throws if it was not called.
  FlatParameters& flat_parameters() const;
  bool is_flat() const { return flat_ != nullptr; }

 protected:
  // For leaf layers' summarize(): appends this layer's row and returns `output`.
  Shape add_row(std::vector<LayerSummary>& rows, const Shape& output, double flops) const;
  // Sends `message` to the warning handler once per model (the tree this module belongs
  // to), whatever `key` the repeated call passes; different keys warn separately.
  void warn_once_per_model(const std::string& key, const std::string& message) const;

 private:
  struct Parameter {
    std::string name;
    Tensor tensor;
    ParamKind kind;
  };
  struct Tree;  // state shared by every module of one model

  void add_child(std::string name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name) const;
  void set_path(const std::string& path);
  void adopt_tree(const std::shared_ptr<Tree>& tree);
  void collect_state(const std::string& prefix, StateDict& out) const;
  void zero_grads_outside(const Tensor* flat_grads);
  void convert(DType dtype);
  void collect_parameters(const std::string& prefix, std::vector<ParameterEntry>& out) const;
  void collect_buffers(const std::string& prefix,
                       std::vector<std::pair<std::string, Tensor>>& out) const;
  friend FlatParameters& flatten_parameters(Module& model);

  std::string type_name_;
  std::string path_;
  bool training_ = true;
  std::vector<Parameter> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<Tree> tree_;
  std::shared_ptr<FlatParameters> flat_;
};

// ---- warnings ----
// Warnings from nn (such as BatchNorm in training mode under no-grad) go to one handler.
// Handlers get the message alone; the default prints "descent: warning: <message>" to stderr.
using WarningHandler = std::function<void(const std::string& message)>;
// Installs `handler` (an empty one restores the default) and returns the previous one.
WarningHandler set_warning_handler(WarningHandler handler);
void warn(const std::string& message);

// Installs a handler for the scope of a test or a tool, restoring the previous one after.
class ScopedWarningHandler {
 public:
  explicit ScopedWarningHandler(WarningHandler handler)
      : previous_(set_warning_handler(std::move(handler))) {}
  ~ScopedWarningHandler() { set_warning_handler(std::move(previous_)); }
  ScopedWarningHandler(const ScopedWarningHandler&) = delete;
  ScopedWarningHandler& operator=(const ScopedWarningHandler&) = delete;

 private:
  WarningHandler previous_;
};

}  // namespace descent::nn

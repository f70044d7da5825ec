// Optimizers by name, with options as text: what the command line needs.
//
// ====== Intended usage ======
//   auto opt = optim::create_optimizer("adamw", params, {{"lr", "3e-4"}, {"betas", "0.9,0.95"}});
//   auto opt = optim::create_optimizer("sgd", {{decay, {}}, {no_decay, {{"weight_decay", "0"}}}},
//                                      {{"lr", "0.1"}, {"momentum", "0.9"}});
//   for (const auto& [name, entry] : optim::optimizer_registry()) print(name, entry.options);
//
// Each optimizer header joins the registry with one line:
//   inline const bool adam_registered = register_optimizer<Adam>("adam", "Adam (Kingma & Ba)");
// so a program knows the optimizers whose headers it includes (descent/optim/all.hpp
// includes them all). Names are lower case; option names are PyTorch's ("weight_decay");
// values are numbers, true/false, or "beta1,beta2" for betas.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

// A param group by name: parameters, and options that override the optimizer's.
struct GroupSpec {
  std::vector<Tensor> params;
  OptionMap options;
};

struct OptionInfo {
  std::string name;
  std::string default_value;  // as text
};

struct RegistryEntry {
  std::string name;     // "adamw"
  std::string summary;  // one line for --help
  std::vector<OptionInfo> options;
  std::function<std::unique_ptr<Optimizer>(std::vector<GroupSpec>, const OptionMap&)> create;
};

// Every registered optimizer, by name.
const std::map<std::string, RegistryEntry>& optimizer_registry();
// Adds an entry; throws when the name is taken.
void add_to_registry(RegistryEntry entry);

// Throws for an unknown name (listing the known ones), an unknown option (listing the
// optimizer's options), a malformed value, or options that fail validation.
std::unique_ptr<Optimizer> create_optimizer(const std::string& name, std::vector<Tensor> params,
                                            const OptionMap& options = {});
std::unique_ptr<Optimizer> create_optimizer(const std::string& name, std::vector<GroupSpec> groups,
                                            const OptionMap& options = {});

template <typename Opt>
bool register_optimizer(const std::string& name, const std::string& summary) {
  using Options = typename Opt::OptionsType;
  RegistryEntry entry;
  entry.name = name;
  entry.summary = summary;
  Options defaults{};
  for_each_field(defaults, [&](std::string_view field_name, const auto& value) {
    entry.options.push_back({std::string(field_name), field_to_string(value)});
  });
  entry.create = [](std::vector<GroupSpec> specs, const OptionMap& text) {
    Options common{};
    apply_options(common, text, Opt::name);
    std::vector<ParamGroup<Options>> groups;
    for (GroupSpec& spec : specs) {
      Options options = common;
      apply_options(options, spec.options, Opt::name);
      groups.push_back({std::move(spec.params), options});
    }
    return std::unique_ptr<Optimizer>(std::make_unique<Opt>(std::move(groups)));
  };
  add_to_registry(std::move(entry));
  return true;
}

}  // namespace descent::optim

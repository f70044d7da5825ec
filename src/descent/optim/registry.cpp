#include "descent/optim/registry.hpp"

namespace descent::optim {
namespace {

// A function-local map: headers register during static initialization, in any order.
std::map<std::string, RegistryEntry>& registry() {
  static std::map<std::string, RegistryEntry> entries;
  return entries;
}

}  // namespace

const std::map<std::string, RegistryEntry>& optimizer_registry() {
  return registry();
}

void add_to_registry(RegistryEntry entry) {
  const std::string name = entry.name;
  const bool added = registry().emplace(name, std::move(entry)).second;
  DESCENT_CHECK(added, "optimizer registry: '", name, "' is registered twice");
}

std::unique_ptr<Optimizer> create_optimizer(const std::string& name, std::vector<Tensor> params,
                                            const OptionMap& options) {
  std::vector<GroupSpec> groups;
  groups.push_back({std::move(params), {}});
  return create_optimizer(name, std::move(groups), options);
}

std::unique_ptr<Optimizer> create_optimizer(const std::string& name, std::vector<GroupSpec> groups,
                                            const OptionMap& options) {
  const auto& entries = registry();
  auto found = entries.find(name);
  if (found == entries.end()) {
    std::string known;
    for (const auto& [key, entry] : entries) known += (known.empty() ? "" : ", ") + key;
    throw Error(cat("unknown optimizer '", name, "' (known: ", known, ")"));
  }
  return found->second.create(std::move(groups), options);
}

}  // namespace descent::optim

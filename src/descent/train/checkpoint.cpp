#include "descent/train/checkpoint.hpp"

#include <charconv>
#include <set>
#include <vector>

#include "descent/nn/layers.hpp"

namespace descent::train {
namespace {

constexpr const char* kRngPrefix = "rng.";

// "a, b, c and 4 more"
std::string some(const std::vector<std::string>& names) {
  std::string out;
  const std::size_t shown = std::min<std::size_t>(names.size(), 3);
  for (std::size_t i = 0; i < shown; ++i) out += (i > 0 ? ", " : "") + names[i];
  if (names.size() > shown) out += cat(" and ", names.size() - shown, " more");
  return out;
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

// The model's dropout layers by path, whose generators a checkpoint saves.
std::vector<std::pair<std::string, nn::Dropout*>> dropout_layers(nn::Module& model) {
  std::vector<std::pair<std::string, nn::Dropout*>> out;
  for (const auto& [name, module] : model.named_modules()) {
    if (auto* dropout = dynamic_cast<nn::Dropout*>(module)) out.emplace_back(name, dropout);
  }
  return out;
}

}  // namespace

Checkpoint capture(nn::Module& model, const optim::Optimizer* optimizer) {
  Checkpoint checkpoint;
  checkpoint.model = model.state_dict();
  checkpoint.metadata["format"] = kCheckpointFormat;
  if (optimizer != nullptr) {
    checkpoint.optimizer = optimizer->state_dict();
    checkpoint.metadata["optimizer"] = std::string(optimizer->name());
  }
  for (const auto& [name, dropout] : dropout_layers(model)) {
    const Generator& gen = dropout->generator();
    checkpoint.metadata[kRngPrefix + name] = cat(gen.seed(), " ", gen.offset());
  }
  return checkpoint;
}

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint,
                     const SaveOptions& options) {
  NamedTensors tensors;
  for (const auto& [name, tensor] : checkpoint.model) {
    DESCENT_CHECK(!name.starts_with(kOptimizerPrefix) && !name.starts_with(kEmaPrefix),
                  "save_checkpoint '", path, "': model entry '", name,
                  "' collides with the prefix of the optimizer's or the EMA's entries");
    tensors.emplace_back(name, tensor);
  }
  for (const auto& [name, tensor] : checkpoint.optimizer) {
    tensors.emplace_back(kOptimizerPrefix + name, tensor);
  }
  for (const auto& [name, tensor] : checkpoint.ema) tensors.emplace_back(kEmaPrefix + name, tensor);
  Metadata metadata = checkpoint.metadata;
  metadata["format"] = kCheckpointFormat;
  save_safetensors(path, tensors, metadata, options);
}

Checkpoint load_checkpoint(const std::string& path) {
  Safetensors file = load_safetensors(path);
  const auto format = file.metadata.find("format");
  DESCENT_CHECK(format != file.metadata.end() && format->second == kCheckpointFormat,
                "checkpoint '", path, "': not a descent checkpoint (its __metadata__ has format '",
                format == file.metadata.end() ? std::string("<none>") : format->second,
                "', expected '", kCheckpointFormat, "')");
  Checkpoint checkpoint;
  checkpoint.path = path;
  checkpoint.metadata = std::move(file.metadata);
  for (auto& [name, tensor] : file.tensors) {
    if (name.starts_with(kOptimizerPrefix)) {
      checkpoint.optimizer[name.substr(std::string_view(kOptimizerPrefix).size())] = tensor;
    } else if (name.starts_with(kEmaPrefix)) {
      checkpoint.ema.insert(name.substr(std::string_view(kEmaPrefix).size()), tensor);
    } else {
      checkpoint.model.insert(name, tensor);
    }
  }
  return checkpoint;
}

void restore(const Checkpoint& checkpoint, nn::Module& model, optim::Optimizer* optimizer) {
  const std::string where = cat("checkpoint '", checkpoint.path, "': ");

  // The model: a short, readable account of what differs before anything is touched.
  const nn::StateDict own = model.state_dict();
  std::vector<std::string> missing;
  std::vector<std::string> unexpected;
  std::vector<std::string> mismatched;
  for (const auto& [name, tensor] : own) {
    const Tensor* saved = checkpoint.model.find(name);
    if (saved == nullptr) {
      missing.push_back(name);
    } else if (saved->shape() != tensor.shape()) {
      mismatched.push_back(
          cat(name, " ", shape_str(saved->shape()), " vs the model's ", shape_str(tensor.shape())));
    }
  }
  for (const auto& [name, tensor] : checkpoint.model) {
    if (!own.contains(name)) unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string message = where + "does not fit the model " + model.str() + ":";
    if (!missing.empty()) message += cat(" missing ", some(missing), ";");
    if (!unexpected.empty()) message += cat(" unexpected ", some(unexpected), ";");
    if (!mismatched.empty()) message += cat(" shapes differ for ", some(mismatched), ";");
    message.back() = ' ';
    throw Error(message + "(was it saved from another model?)");
  }

  // The RNG streams, parsed before anything changes.
  std::vector<std::pair<nn::Dropout*, std::pair<std::uint64_t, std::uint64_t>>> streams;
  for (const auto& [name, dropout] : dropout_layers(model)) {
    const auto found = checkpoint.metadata.find(kRngPrefix + name);
    DESCENT_CHECK(found != checkpoint.metadata.end(), where, "no RNG state for dropout layer '",
                  name, "' (metadata 'rng.", name, "')");
    const std::string& text = found->second;
    const std::size_t space = text.find(' ');
    std::uint64_t seed = 0;
    std::uint64_t offset = 0;
    DESCENT_CHECK(space != std::string::npos && parse_u64(text.substr(0, space), seed) &&
                      parse_u64(text.substr(space + 1), offset),
                  where, "metadata 'rng.", name, "' must be '<seed> <offset>', got '", text, "'");
    streams.push_back({dropout, {seed, offset}});
  }

  if (optimizer != nullptr) {
    DESCENT_CHECK(!checkpoint.optimizer.empty(), where, "holds no optimizer state");
    const auto saved = checkpoint.metadata.find("optimizer");
    DESCENT_CHECK(saved != checkpoint.metadata.end() && saved->second == optimizer->name(), where,
                  "holds the state of optimizer ",
                  saved == checkpoint.metadata.end() ? std::string("<unnamed>") : saved->second,
                  ", not ", optimizer->name());
    try {
      optimizer->load_state_dict(checkpoint.optimizer);  // changes nothing when it throws
    } catch (const Error& e) {
      throw Error(where + e.what());
    }
  }
  model.load_state_dict(checkpoint.model);  // checked above: cannot fail
  for (auto& [dropout, state] : streams) dropout->generator().set_state(state.first, state.second);
}

const std::string& metadata_at(const Checkpoint& checkpoint, const std::string& key) {
  const auto found = checkpoint.metadata.find(key);
  DESCENT_CHECK(found != checkpoint.metadata.end(), "checkpoint '", checkpoint.path,
                "': no metadata entry '", key, "'");
  return found->second;
}

std::int64_t metadata_int(const Checkpoint& checkpoint, const std::string& key) {
  const std::string& text = metadata_at(checkpoint, key);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  DESCENT_CHECK(error == std::errc() && end == text.data() + text.size(), "checkpoint '",
                checkpoint.path, "': metadata '", key, "' must be an integer, got '", text, "'");
  return value;
}

}  // namespace descent::train

#include "descent/optim/optimizer.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace descent::optim {

// ---- fields ----

Tensor field_to_tensor(double value) {
  return scalar(value, DType::f64);
}
Tensor field_to_tensor(bool value) {
  return scalar(value ? 1.0 : 0.0, DType::f64);
}
Tensor field_to_tensor(const Betas& value) {
  return from_vector({value[0], value[1]}, {2}, DType::f64);
}

void field_from_tensor(const Tensor& t, double& value, const std::string& where) {
  DESCENT_CHECK(t.defined() && t.numel() == 1, where, ": expected one value, got ",
                t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor"));
  value = t.item();
}

void field_from_tensor(const Tensor& t, bool& value, const std::string& where) {
  double number = 0.0;
  field_from_tensor(t, number, where);
  DESCENT_CHECK(number == 0.0 || number == 1.0, where, ": expected 0 or 1, got ", number);
  value = number == 1.0;
}

void field_from_tensor(const Tensor& t, Betas& value, const std::string& where) {
  DESCENT_CHECK(t.defined() && t.numel() == 2, where, ": expected two values, got ",
                t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor"));
  const std::vector<double> values = t.to_vector();
  value = {values[0], values[1]};
}

std::string field_to_string(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}
std::string field_to_string(bool value) {
  return value ? "true" : "false";
}
std::string field_to_string(const Betas& value) {
  return field_to_string(value[0]) + "," + field_to_string(value[1]);
}

namespace {

bool parse_double(std::string_view text, double& value) {
  // std::from_chars for double is in libstdc++ 11+; it rejects a leading '+', which users type.
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && ptr == end && !text.empty();
}

}  // namespace

void field_from_string(std::string_view text, double& value, const std::string& where) {
  DESCENT_CHECK(parse_double(text, value), where, ": expected a number, got '", text, "'");
}

void field_from_string(std::string_view text, bool& value, const std::string& where) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") {
    value = true;
  } else if (text == "false" || text == "0" || text == "no" || text == "off") {
    value = false;
  } else {
    throw Error(cat(where, ": expected true or false, got '", text, "'"));
  }
}

void field_from_string(std::string_view text, Betas& value, const std::string& where) {
  const std::size_t comma = text.find(',');
  DESCENT_CHECK(comma != std::string_view::npos && parse_double(text.substr(0, comma), value[0]) &&
                    parse_double(text.substr(comma + 1), value[1]),
                where, ": expected two numbers as 'beta1,beta2', got '", text, "'");
}

// ---- checks ----

namespace check {

void non_negative(const char* optimizer, const char* field, double value) {
  DESCENT_CHECK(value >= 0.0, optimizer, ": ", field, " must be >= 0, got ", value);
}

void positive(const char* optimizer, const char* field, double value) {
  DESCENT_CHECK(value > 0.0, optimizer, ": ", field, " must be > 0, got ", value);
}

void unit_interval(const char* optimizer, const char* field, double value) {
  DESCENT_CHECK(value >= 0.0 && value < 1.0, optimizer, ": ", field, " must be in [0, 1), got ",
                value);
}

void closed_unit_interval(const char* optimizer, const char* field, double value) {
  DESCENT_CHECK(value >= 0.0 && value <= 1.0, optimizer, ": ", field, " must be in [0, 1], got ",
                value);
}

void betas(const char* optimizer, const Betas& betas) {
  unit_interval(optimizer, "beta1", betas[0]);
  unit_interval(optimizer, "beta2", betas[1]);
}

}  // namespace check

// ---- Optimizer ----

void Optimizer::zero_grad() {
  for (const auto& group : params_) {
    for (const Tensor& param : group) {
      Tensor grad = param.grad();
      if (grad.defined()) grad.zero_();
    }
  }
}

void Optimizer::write_low_copy(const Tensor& master, const Tensor& low) {
  if (!master.defined()) {
    low_master_ = Tensor();
    low_copy_ = Tensor();
    return;
  }
  DESCENT_CHECK(master.dtype() == DType::f32, name(),
                ": write_low_copy: the master weights must be f32, got ",
                dtype_name(master.dtype()));
  DESCENT_CHECK(low.defined() && (low.dtype() == DType::bf16 || low.dtype() == DType::f16) &&
                    low.shape() == master.shape(),
                name(), ": write_low_copy: the copy must be bf16 or f16 of shape ",
                shape_str(master.shape()), ", got ",
                low.defined() ? shape_str(low.shape()) + " " + std::string(dtype_name(low.dtype()))
                              : std::string("an undefined tensor"));
  low_master_ = master;
  low_copy_ = low;
}

detail::LowOut Optimizer::low_out(const Tensor& param) const {
  if (!low_copy_.defined() || param.dtype() != DType::f32 || !param.same_storage(low_master_)) {
    return {};
  }
  const std::ptrdiff_t bytes =
      static_cast<const char*>(param.raw_data()) - static_cast<const char*>(low_master_.raw_data());
  const std::int64_t offset = bytes / static_cast<std::ptrdiff_t>(sizeof(float));
  if (bytes < 0 || offset + param.numel() > low_master_.numel()) return {};
  if (low_copy_.dtype() == DType::bf16) return {low_copy_.data<BFloat16>() + offset, nullptr};
  return {nullptr, low_copy_.data<Half>() + offset};
}

const std::vector<Tensor>& Optimizer::params(std::size_t group) const {
  check_group(name().data(), group);
  return params_[group];
}

const ParamState& Optimizer::state(std::size_t index) const {
  DESCENT_CHECK(index < states_.size(), name(), ": state: parameter ", index,
                " does not exist (there are ", states_.size(), ")");
  return states_[index];
}

void Optimizer::set_lr(double lr) {
  for (std::size_t group = 0; group < params_.size(); ++group) set_lr(group, lr);
}

void Optimizer::check_group(const char* optimizer, std::size_t group) const {
  DESCENT_CHECK(group < params_.size(), optimizer, ": param group ", group,
                " does not exist (there are ", params_.size(), ")");
}

void Optimizer::set_params(const char* optimizer, std::vector<std::vector<Tensor>> groups) {
  struct Range {
    const void* storage;
    std::uintptr_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;
  std::size_t index = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (const Tensor& param : groups[g]) {
      DESCENT_CHECK(param.defined(), optimizer, ": parameter ", index, " (group ", g,
                    ") is an undefined tensor");
      DESCENT_CHECK(param.dtype() == DType::f32 || param.dtype() == DType::f64, optimizer,
                    ": parameter ", index, " ", shape_str(param.shape()), " is ",
                    dtype_name(param.dtype()), "; optimizers update f32 or f64 tensors");
      DESCENT_CHECK(param.is_leaf(), optimizer, ": parameter ", index, " ",
                    shape_str(param.shape()),
                    " is not a leaf (it was made by an op); optimize the leaf it came from");
      const auto begin = reinterpret_cast<std::uintptr_t>(param.raw_data());
      ranges.push_back({param.impl().storage.get(), begin, begin + param.nbytes(), index});
      ++index;
    }
  }
  DESCENT_CHECK(index > 0, optimizer, ": got an empty parameter list");
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return std::tie(a.storage, a.begin) < std::tie(b.storage, b.begin);
  });
  for (std::size_t k = 1; k < ranges.size(); ++k) {
    const Range& a = ranges[k - 1];
    const Range& b = ranges[k];
    DESCENT_CHECK(a.storage != b.storage || a.end <= b.begin || a.begin == a.end, optimizer,
                  ": parameters ", std::min(a.index, b.index), " and ", std::max(a.index, b.index),
                  " share memory (the same tensor twice, or a view and the buffer it views); "
                  "pass each parameter once");
  }
  params_ = std::move(groups);
  states_.assign(index, ParamState{});
}

}  // namespace descent::optim

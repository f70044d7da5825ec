#include "descent/amp/policy.hpp"

#include <string>

namespace descent::amp {

Precision parse_precision(std::string_view text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  if (text == "fp16") return Precision::fp16;
  throw Error(cat("precision: expected fp32, bf16 or fp16, got '", std::string(text), "'"));
}

std::string_view precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32:
      return "fp32";
    case Precision::bf16:
      return "bf16";
    case Precision::fp16:
      return "fp16";
  }
  return "?";
}

DType PrecisionPolicy::compute_dtype() const {
  switch (precision) {
    case Precision::bf16:
      return DType::bf16;
    case Precision::fp16:
      return DType::f16;
    case Precision::fp32:
      break;
  }
  return DType::f32;
}

GradScalerOptions PrecisionPolicy::scaler_options() const {
  return {.enabled = precision == Precision::fp16};
}

MasterWeights::MasterWeights(const Tensor& master, DType compute) : master_(master) {
  DESCENT_CHECK(master.defined() && master.dtype() == DType::f32,
                "MasterWeights: the master weights must be a f32 tensor, got ",
                master.defined() ? dtype_name(master.dtype()) : "an undefined tensor");
  DESCENT_CHECK(compute == DType::bf16 || compute == DType::f16,
                "MasterWeights: the copy's dtype must be bf16 or f16, got ", dtype_name(compute));
  copy_ = empty(master.shape(), compute);
  refresh();
}

void MasterWeights::refresh() {
  const float* src = master_.data<float>();
  if (copy_.dtype() == DType::bf16) {
    convert(src, copy_.data<BFloat16>(), master_.numel());
  } else {
    convert(src, copy_.data<Half>(), master_.numel());
  }
}

Tensor MasterWeights::view(std::int64_t element_offset, const Shape& shape) const {
  return copy_.view_of(element_offset, shape);
}

}  // namespace descent::amp

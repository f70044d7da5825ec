#include "descent/nn/flat.hpp"

namespace descent::nn {

std::int64_t FlatParameters::num_parameters() const {
  std::int64_t total = 0;
  for (const ParamRange& r : ranges) total += r.numel;
  return total;
}

const ParamRange& FlatParameters::range(const std::string& name) const {
  for (const ParamRange& r : ranges) {
    if (r.name == name) return r;
  }
  throw Error(cat("FlatParameters: no parameter named '", name, "'"));
}

FlatParameters& flatten_parameters(Module& model) {
  const std::vector<Module::ParameterEntry> entries = model.parameter_entries();
  const DType dtype = entries.empty() ? DType::f32 : entries.front().tensor.dtype();
  for (const auto& entry : entries) {
    DESCENT_CHECK(entry.tensor.dtype() == dtype, "flatten_parameters: all parameters of ",
                  model.type_name(), " must share one dtype; '", entries.front().name, "' is ",
                  dtype_name(dtype), " but '", entry.name, "' is ",
                  dtype_name(entry.tensor.dtype()));
    DESCENT_CHECK(entry.tensor.dtype() == DType::f32 || entry.tensor.dtype() == DType::f64,
                  "flatten_parameters: parameter '", entry.name, "' is ",
                  dtype_name(entry.tensor.dtype()), "; only f32 and f64 can be flattened");
  }
  const auto align = static_cast<std::int64_t>(kFlatAlignmentBytes / dtype_size(dtype));

  auto flat = std::make_shared<FlatParameters>();
  std::int64_t total = 0;
  for (const auto& entry : entries) {
    total = (total + align - 1) / align * align;
    flat->ranges.push_back({entry.name, total, entry.tensor.numel(), entry.tensor.shape(),
                            entry.kind != ParamKind::weight});
    total += entry.tensor.numel();
  }
  // The gaps between ranges must be zero, hence zeros() rather than empty().
  flat->params = zeros({total}, dtype);
  flat->grads = zeros({total}, dtype);

  for (std::size_t i = 0; i < entries.size(); ++i) {
    const ParamRange& r = flat->ranges[i];
    Tensor param = entries[i].tensor;
    Tensor value_view = flat->params.view_of(r.offset, r.shape);
    Tensor grad_view = flat->grads.view_of(r.offset, r.shape);
    value_view.copy_(param);
    if (param.grad().defined()) grad_view.copy_(param.grad());
    // Re-point the parameter's own TensorImpl, so every handle to it (the layer's member,
    // the module's registry, the caller's copies) now reads and writes the flat buffer.
    TensorImpl& impl = param.impl();
    impl.storage = value_view.impl().storage;
    impl.offset_bytes = value_view.impl().offset_bytes;
    param.set_grad(grad_view);
  }
  flat->params.set_requires_grad(true);
  flat->params.set_grad(flat->grads);
  model.flat_ = std::move(flat);
  return *model.flat_;
}

}  // namespace descent::nn

#include "descent/autograd/autograd.hpp"

#include <atomic>
#include <cmath>

#include "descent/core/parallel_reduce.hpp"

namespace descent::autograd {
namespace {

thread_local bool g_grad_enabled = true;
thread_local bool g_anomaly_enabled = false;
thread_local bool g_in_backward = false;  // ops called by backward functions are not "forward"

struct InBackward {
  bool previous = g_in_backward;
  InBackward() { g_in_backward = true; }
  ~InBackward() { g_in_backward = previous; }
};

// dst += src, elementwise, same shape and dtype.
void add_into(Tensor& dst, const Tensor& src) {
  const std::int64_t n = dst.numel();
  dispatch_float(dst.dtype(), "backward (accumulate)", [&]<typename T>() {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    parallel_simd_if(n > kParallelElements, n, [=](std::int64_t i) { d[i] += s[i]; });
  });
}

Tensor sum_of(const Tensor& a, const Tensor& b) {
  Tensor out = a.clone();
  add_into(out, b);
  return out;
}

}  // namespace

bool grad_enabled() {
  return g_grad_enabled;
}
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) {
  g_grad_enabled = false;
}
NoGradGuard::~NoGradGuard() {
  g_grad_enabled = previous_;
}

bool anomaly_enabled() {
  return g_anomaly_enabled;
}
AnomalyGuard::AnomalyGuard(bool enabled) : previous_(g_anomaly_enabled) {
  g_anomaly_enabled = enabled;
}
AnomalyGuard::~AnomalyGuard() {
  g_anomaly_enabled = previous_;
}

bool all_finite(const Tensor& t) {
  if (t.dtype() != DType::f32 && t.dtype() != DType::f64) return true;
  return dispatch_float(t.dtype(), "all_finite", [&]<typename T>() {
    const T* p = t.data<T>();
    const std::int64_t n = t.numel();
    return parallel_sum_if<std::int64_t>(n > kParallelElements, n, [=](std::int64_t i) {
             return std::int64_t{!std::isfinite(p[i])};
           }) == 0;
  });
}

Tensor Node::accumulation_buffer(std::size_t input) const {
  if (!needs_grad(input) || g_anomaly_enabled) return Tensor();
  const Tensor& leaf = inputs[input];
  if (leaf.grad_fn() || !leaf.impl().grad) return Tensor();
  Tensor buffer(leaf.impl().grad);  // the same handle: the engine recognizes it
  if (buffer.shape() != leaf.shape() || buffer.dtype() != leaf.dtype()) return Tensor();
  return buffer;
}

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs) {
    if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}

Tensor record(const char* name, Tensor output, std::span<const Tensor> inputs,
              BackwardFn backward) {
  if (g_anomaly_enabled && !g_in_backward) {
    DESCENT_CHECK(all_finite(output), "anomaly: the forward of '", name, "' produced NaN or Inf",
                  " in its output ", shape_str(output.shape()));
  }
  if (!g_grad_enabled) return output;
  auto node = std::allocate_shared<Node>(pool::Allocator<Node>());
  bool any = false;
  node->inputs.resize(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.defined() || !input.requires_grad()) continue;
    any = true;
    if (!input.grad_fn()) {
      node->inputs[i] = input;  // a leaf: its gradient accumulates in it
      continue;
    }
    // An intermediate: backward needs its grad_fn and shape, not its memory. Holding the
    // tensor itself would keep every activation alive until backward, whether or not an op
    // saved it; an op that needs one captures it (or a 16-bit copy) itself.
    auto meta = make_tensor_impl();
    meta->shape = input.shape();
    meta->numel = input.numel();
    meta->dtype = input.dtype();
    meta->requires_grad = true;
    meta->grad_fn = input.grad_fn();
    node->inputs[i] = Tensor(std::move(meta));
  }
  if (!any) return output;
  node->name = name;
  node->backward = std::move(backward);
  output.impl().requires_grad = true;
  output.impl().grad_fn = std::move(node);
  return output;
}

}  // namespace descent::autograd

namespace descent {

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  using autograd::Node;
  DESCENT_CHECK(requires_grad(),
                "backward: this tensor does not require grad and has no "
                "grad_fn (did an input have requires_grad set? was it made under NoGradGuard?)");
  Tensor seed;
  if (gradient.defined()) {
    DESCENT_CHECK(gradient.shape() == shape() && gradient.dtype() == dtype(), "backward: gradient ",
                  shape_str(gradient.shape()), " ", dtype_name(gradient.dtype()),
                  " does not match the tensor ", shape_str(shape()), " ", dtype_name(dtype()));
    seed = gradient;
  } else {
    DESCENT_CHECK(numel() == 1,
                  "backward: a gradient can be implied only for a scalar; this "
                  "tensor has shape ",
                  shape_str(shape()), " (pass a gradient of that shape)");
    seed = ones(shape(), dtype());
  }

  autograd::NoGradGuard no_grad;
  autograd::InBackward in_backward;
  if (is_leaf()) {
    TensorImpl& leaf = impl();
    if (leaf.grad) {
      Tensor existing(leaf.grad);
      autograd::add_into(existing, seed);
    } else {
      leaf.grad = seed.clone().impl_ptr();
    }
    return;
  }

  // Reverse topological order by an iterative depth-first post-order walk. The nodes mark
  // themselves with this walk's number, and hold the gradient summed for their output, so
  // the walk needs no map (and allocates nothing once a training loop is in steady state).
  static std::atomic<std::uint64_t> walks{0};
  const std::uint64_t walk = ++walks;
  using NodeList = std::vector<Node*, pool::Allocator<Node*>>;
  NodeList order;
  std::vector<std::pair<Node*, std::size_t>, pool::Allocator<std::pair<Node*, std::size_t>>> stack;
  stack.emplace_back(grad_fn().get(), 0);
  grad_fn()->visited_by = walk;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& input = node->inputs[next++];
      if (input.defined() && input.grad_fn() && input.grad_fn()->visited_by != walk) {
        input.grad_fn()->visited_by = walk;
        stack.emplace_back(input.grad_fn().get(), 0);
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  // A throw below must not leave gradients parked in the graph.
  struct ClearPending {
    NodeList& nodes;
    ~ClearPending() {
      for (Node* node : nodes) node->pending_grad = Tensor();
    }
  } clear_pending{order};

  grad_fn()->pending_grad = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    if (!node->pending_grad.defined()) continue;  // no gradient flows here
    Tensor grad_output = std::move(node->pending_grad);
    node->pending_grad = Tensor();
    DESCENT_CHECK(node->backward != nullptr, "backward: tried to go through the graph of '",
                  node->name,
                  "' a second time, but its saved tensors were freed after the "
                  "first backward() (pass retain_graph=true to the first call)");
    autograd::Grads grads = node->backward(grad_output, *node);
    DESCENT_CHECK(grads.size() == node->inputs.size(), "backward of '", node->name, "' returned ",
                  grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const Tensor& input = node->inputs[i];
      if (!input.defined()) continue;
      Tensor& g = grads[i];
      DESCENT_CHECK(g.defined(), "backward of '", node->name, "' gave no gradient for input ", i,
                    " which requires grad");
      DESCENT_CHECK(g.shape() == input.shape(), "backward of '", node->name,
                    "' gave a gradient of shape ", shape_str(g.shape()), " for input ", i,
                    " of shape ", shape_str(input.shape()));
      if (autograd::g_anomaly_enabled) {
        DESCENT_CHECK(autograd::all_finite(g), "anomaly: the backward of '", node->name,
                      "' produced NaN or Inf in the gradient of its input ", i, " ",
                      shape_str(input.shape()));
      }
      if (input.grad_fn()) {
        Tensor& slot = input.grad_fn()->pending_grad;
        slot = slot.defined() ? autograd::sum_of(slot, g) : std::move(g);
      } else {
        TensorImpl& leaf = input.impl();
        if (g.impl_ptr() == leaf.grad) continue;  // added in place (Node::accumulation_buffer)
        if (leaf.grad) {
          Tensor existing(leaf.grad);
          autograd::add_into(existing, g);
        } else {
          leaf.grad = g.clone().impl_ptr();
        }
      }
    }
    if (!retain_graph) node->backward = nullptr;
  }
}

}  // namespace descent

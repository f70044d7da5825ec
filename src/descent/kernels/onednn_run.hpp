// Running a cached oneDNN primitive without a heap allocation in descent's code: the memory
// objects are created once per plan (without a buffer) and pointed at the caller's data each
// call, the stream is one per thread, and the arguments go to the C API as an array on the
// stack (the C++ API's execute() takes an std::unordered_map). What oneDNN allocates inside
// an execution (its execution context) is its own; tests/alloc counts it apart.
#pragma once

#include <initializer_list>
#include <oneapi/dnnl/dnnl.hpp>

#include "descent/core/error.hpp"

namespace descent::kernels::onednn_run {

inline dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

inline dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// A memory object for `desc` with no buffer yet (set_data_handle before each use).
inline dnnl::memory unbound(const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, cpu_engine(), DNNL_MEMORY_NONE);
}

// Runs `primitive` on this thread's stream and waits; `what` names the op in the error.
inline void execute(const dnnl::primitive& primitive, const dnnl_exec_arg_t* args, int count,
                    const char* what) {
  dnnl::stream& stream = thread_stream();
  dnnl_status_t status = dnnl_primitive_execute(primitive.get(), stream.get(), count, args);
  if (status == dnnl_success) status = dnnl_stream_wait(stream.get());
  DESCENT_CHECK(status == dnnl_success, what, ": oneDNN failed to run a primitive (status ",
                static_cast<int>(status), ")");
}
inline void execute(const dnnl::primitive& primitive, std::initializer_list<dnnl_exec_arg_t> args,
                    const char* what) {
  execute(primitive, args.begin(), static_cast<int>(args.size()), what);
}

}  // namespace descent::kernels::onednn_run

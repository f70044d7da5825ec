// oneDNN matmul (https://oneapi-src.github.io/oneDNN/v2.6/dev_guide_matmul.html) rather than
// OpenBLAS's cblas_sbgemm: Debian's libopenblas declares sbgemm in cblas.h but is built
// without it (the symbol is missing), and oneDNN 2.6 has no public bf16 gemm function
// (dnnl_gemm_bf16bf16f32 is internal), so the matmul primitive is the way in. Its strided
// memory descriptors express the transposes and leading dimensions directly; alpha and beta
// become an output scale and a sum post-op, fixed per primitive, so they are in the key.
#include "descent/kernels/half.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>

#include "descent/core/error.hpp"
#include "descent/core/parallel.hpp"
#include "descent/kernels/bf16_dot.hpp"
#include "descent/kernels/gemm.hpp"
#include "descent/kernels/onednn_run.hpp"
#include "descent/kernels/workspace.hpp"

namespace descent::kernels {
namespace {

using dnnl::memory;

using onednn_run::cpu_engine;

// The primitive and its memory objects, pointed at each call's buffers under `mutex` (a plan
// may be shared by threads).
struct Plan {
  explicit Plan(const dnnl::matmul::primitive_desc& desc)
      : pd(desc),
        primitive(desc),
        a(onednn_run::unbound(desc.src_desc())),
        b(onednn_run::unbound(desc.weights_desc())),
        c(onednn_run::unbound(desc.dst_desc())),
        scratch(onednn_run::unbound(desc.scratchpad_desc())),
        scratch_bytes(static_cast<std::int64_t>(desc.scratchpad_desc().get_size())) {}
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
  memory a, b, c, scratch;
  std::int64_t scratch_bytes;
  std::mutex mutex;
};

using Key = std::array<std::int64_t, 10>;
constexpr std::size_t kMaxPlans = 256;

std::mutex plans_mutex;
std::map<Key, std::shared_ptr<Plan>>& plans() {
  static std::map<Key, std::shared_ptr<Plan>> cache;
  return cache;
}

memory::dims strides_of(bool transposed, std::int64_t ld) {
  return transposed ? memory::dims{1, ld} : memory::dims{ld, 1};
}

dnnl::matmul::primitive_desc make_pd(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
                                     std::int64_t K, float alpha, std::int64_t lda,
                                     std::int64_t ldb, float beta, std::int64_t ldc) {
  const memory::desc a({M, K}, memory::data_type::bf16, strides_of(trans_a, lda));
  const memory::desc b({K, N}, memory::data_type::bf16, strides_of(trans_b, ldb));
  const memory::desc c({M, N}, memory::data_type::f32, memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, cpu_engine());
}

std::shared_ptr<Plan> plan(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N,
                           std::int64_t K, float alpha, std::int64_t lda, std::int64_t ldb,
                           float beta, std::int64_t ldc) {
  const Key key{trans_a,
                trans_b,
                M,
                N,
                K,
                lda,
                ldb,
                ldc,
                std::bit_cast<std::int32_t>(alpha),
                std::bit_cast<std::int32_t>(beta)};
  std::lock_guard lock(plans_mutex);
  if (plans().size() >= kMaxPlans && plans().count(key) == 0) plans().clear();
  std::shared_ptr<Plan>& slot = plans()[key];
  if (!slot) {
    try {
      auto pd = make_pd(trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc);
      slot = std::make_shared<Plan>(pd);
    } catch (const dnnl::error& e) {
      plans().erase(key);
      throw Error(cat("gemm (bf16): oneDNN could not build a matmul for M=", M, " N=", N, " K=", K,
                      ": ", e.what()));
    }
  }
  return slot;
}

bool detect_onednn_native() {
  try {
    const auto pd = make_pd(false, false, 16, 16, 16, 1.0f, 16, 16, 0.0f, 16);
    const std::string implementation = pd.impl_info_str();
    // "ref:..." is oneDNN's slow reference loop: widening to f32 beats it
    return implementation.rfind("ref", 0) != 0;
  } catch (const dnnl::error&) {
    return false;
  }
}

// The stored matrix (rows, cols) with row stride ld, widened to f32 with the same stride.
template <typename T>
void widen(const T* src, std::int64_t rows, std::int64_t cols, std::int64_t ld, float* dst) {
  if (rows == 0 || cols == 0) return;
  convert(src, dst, (rows - 1) * ld + cols);
}

template <typename T>
void gemm_widened(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                  float alpha, const T* A, std::int64_t lda, const T* B, std::int64_t ldb,
                  float beta, float* C, std::int64_t ldc) {
  // stored shapes: A (M, K) or (K, M) when transposed; B (K, N) or (N, K)
  const std::int64_t a_rows = trans_a ? K : M;
  const std::int64_t a_cols = trans_a ? M : K;
  const std::int64_t b_rows = trans_b ? N : K;
  const std::int64_t b_cols = trans_b ? K : N;
  Workspace<float> a32(a_rows == 0 ? 0 : (a_rows - 1) * lda + a_cols);
  Workspace<float> b32(b_rows == 0 ? 0 : (b_rows - 1) * ldb + b_cols);
  widen(A, a_rows, a_cols, lda, a32.get());
  widen(B, b_rows, b_cols, ldb, b32.get());
  gemm(trans_a, trans_b, M, N, K, alpha, a32.get(), lda, b32.get(), ldb, beta, C, ldc);
}

}  // namespace

const char* gemm16_path_name(Gemm16Path path) {
  switch (path) {
    case Gemm16Path::native:
      return "onednn-bf16";
    case Gemm16Path::dot:
      return "avx512-bf16";
    case Gemm16Path::widen:
      return "widen-f32";
  }
  return "?";
}

bool gemm16_path_available(Gemm16Path path) {
  static const bool onednn_native = detect_onednn_native();
  switch (path) {
    case Gemm16Path::native:
      return onednn_native;
    case Gemm16Path::dot:
      return bf16_dot_available();
    case Gemm16Path::widen:
      return true;
  }
  return false;
}

Gemm16Path bf16_gemm_path() {
  static const Gemm16Path path = gemm16_path_available(Gemm16Path::dot)      ? Gemm16Path::dot
                                 : gemm16_path_available(Gemm16Path::native) ? Gemm16Path::native
                                                                             : Gemm16Path::widen;
  return path;
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const BFloat16* A, std::int64_t lda, const BFloat16* B, std::int64_t ldb, float beta,
          float* C, std::int64_t ldc, Gemm16Path path) {
  check_gemm_arguments("gemm (bf16)", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  DESCENT_CHECK(gemm16_path_available(path), "gemm (bf16): the ", gemm16_path_name(path),
                " path does not run on this CPU; use ", gemm16_path_name(bf16_gemm_path()));
  if (M == 0 || N == 0) return;
  if (path == Gemm16Path::widen || K == 0) {
    gemm_widened(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (path == Gemm16Path::dot) {
    gemm_bf16_dot(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const std::shared_ptr<Plan> p = plan(trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc);
  Workspace<char> scratch(p->scratch_bytes);
  std::lock_guard lock(p->mutex);
  try {
    // oneDNN takes mutable handles; A and B are only read
    p->a.set_data_handle(const_cast<BFloat16*>(A));
    p->b.set_data_handle(const_cast<BFloat16*>(B));
    p->c.set_data_handle(C);
    p->scratch.set_data_handle(scratch.get());
  } catch (const dnnl::error& e) {
    throw Error(cat("gemm (bf16): oneDNN failed for M=", M, " N=", N, " K=", K, ": ", e.what()));
  }
  onednn_run::execute(p->primitive,
                      {{DNNL_ARG_SRC, p->a.get()},
                       {DNNL_ARG_WEIGHTS, p->b.get()},
                       {DNNL_ARG_DST, p->c.get()},
                       {DNNL_ARG_SCRATCHPAD, p->scratch.get()}},
                      "gemm (bf16)");
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const Half* A, std::int64_t lda, const Half* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc) {
  check_gemm_arguments("gemm (f16)", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  gemm_widened(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(std::span<const GemmBf16> gemms, Gemm16Path path) {
  DESCENT_CHECK(gemm16_path_available(path), "gemm (bf16): the ", gemm16_path_name(path),
                " path does not run on this CPU; use ", gemm16_path_name(bf16_gemm_path()));
  check_gemm_batch("gemm (bf16)", gemms);
  const bool together =
      path == Gemm16Path::dot &&
      std::all_of(gemms.begin(), gemms.end(), [](const GemmBf16& g) { return g.K > 0; });
  if (together) {
    gemm_bf16_dot(gemms);
    return;
  }
  gemm_one_by_one(gemms, [path](const GemmBf16& g) {
    gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc,
         path);
  });
}

void gemm(std::span<const GemmOf<Half>> gemms) {
  check_gemm_batch("gemm (f16)", gemms);
  gemm_one_by_one(gemms, [](const GemmOf<Half>& g) {
    gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc);
  });
}

void gemm_bias(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const BFloat16* A, std::int64_t lda, const BFloat16* B, std::int64_t ldb,
               const float* bias, float* C, std::int64_t ldc, Gemm16Path path) {
  check_gemm_arguments("gemm_bias (bf16)", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  DESCENT_CHECK(bias != nullptr, "gemm_bias (bf16): no bias given");
  if (M == 0 || N == 0) return;
  if (path == Gemm16Path::dot && K > 0 && gemm16_path_available(path)) {
    gemm_bf16_dot(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias);
    return;
  }
  gemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, path);
  finish_gemm_rows(M, N, bias, false, C, ldc, nullptr);
}

void gemm_bias(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const Half* A, std::int64_t lda, const Half* B, std::int64_t ldb, const float* bias,
               float* C, std::int64_t ldc) {
  check_gemm_arguments("gemm_bias (f16)", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  DESCENT_CHECK(bias != nullptr, "gemm_bias (f16): no bias given");
  if (M == 0 || N == 0) return;
  gemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
  finish_gemm_rows(M, N, bias, false, C, ldc, nullptr);
}

}  // namespace descent::kernels

// Element types. bf16 and f16 are storage types (BFloat16, Half in core/half.hpp:
// conversions, no arithmetic); f32 and f64 are compute types; i32 and i64 hold labels and
// indices; u8 holds small indices saved for backward (max_pool2d's position in its window).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "descent/core/error.hpp"
#include "descent/core/half.hpp"

namespace descent {

enum class DType : std::uint8_t { f32, f64, bf16, f16, i32, i64, u8 };

constexpr std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::bf16:
      return 2;
    case DType::f16:
      return 2;
    case DType::i32:
      return 4;
    case DType::i64:
      return 8;
    case DType::u8:
      return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::bf16:
      return "bf16";
    case DType::f16:
      return "f16";
    case DType::i32:
      return "i32";
    case DType::i64:
      return "i64";
    case DType::u8:
      return "u8";
  }
  return "?";
}

constexpr bool is_floating(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64 || dtype == DType::bf16 || dtype == DType::f16;
}

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<BFloat16>() {
  return DType::bf16;
}
template <>
constexpr DType dtype_of<Half>() {
  return DType::f16;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::i64;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
  return DType::u8;
}

}  // namespace descent

namespace descent {

// Calls fn.template operator()<T>() with T the C++ type of a compute dtype (f32, f64);
// throws naming `op` for any other dtype. Usage:
//   dispatch_float(x.dtype(), "relu", [&]<typename T>() { ... });
template <typename Fn>
decltype(auto) dispatch_float(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::f32:
      return fn.template operator()<float>();
    case DType::f64:
      return fn.template operator()<double>();
    default:
      break;
  }
  throw Error(cat(op, ": expected a f32 or f64 tensor, got ", dtype_name(dtype)));
}

// As dispatch_float, for the integer dtypes (i32, i64).
template <typename Fn>
decltype(auto) dispatch_int(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::i32:
      return fn.template operator()<std::int32_t>();
    case DType::i64:
      return fn.template operator()<std::int64_t>();
    default:
      break;
  }
  throw Error(cat(op, ": expected an i32 or i64 tensor, got ", dtype_name(dtype)));
}

}  // namespace descent

// Helpers shared by the train tests: a temporary folder, raw files, bitwise comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "descent/core/error.hpp"
#include "descent/core/tensor.hpp"
#include "descent/nn/zoo.hpp"
#include "temp_dir.hpp"

namespace descent::testing {

// A zoo model ("mlp", "cnn", "lstm:8", ...) with its parameters drawn from `seed`.
inline std::shared_ptr<nn::Module> model_of(const std::string& spec, std::uint64_t seed = 1) {
  Generator gen(seed);
  return nn::build_model(nn::ModelSpec::parse(spec), gen);
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  DESCENT_CHECK(out.good(), "write_file: cannot write ", path);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The message of the Error that fn throws, or "" when it throws none.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Same shape, dtype and bytes.
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

}  // namespace descent::testing

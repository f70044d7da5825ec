// Helpers shared by the landscape tests: small models and data, bitwise snapshots.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "descent/data/synthetic.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/zoo.hpp"

namespace descent::testing {

// A flattened model from the zoo, in `dtype`.
inline std::shared_ptr<nn::Module> zoo_model(const std::string& spec, std::uint64_t seed = 0,
                                             DType dtype = DType::f32) {
  Generator gen(seed);
  std::shared_ptr<nn::Module> model = nn::build_model(nn::ModelSpec::parse(spec), gen);
  if (dtype != DType::f32) model->to(dtype);
  return model;
}

// 3 classes of 2-D points.
inline data::TensorDataset blobs(std::int64_t samples = 96, std::uint64_t seed = 3,
                                 double cluster_std = 2.0) {
  return data::make_blobs({.samples = samples,
                           .features = 2,
                           .classes = 3,
                           .cluster_std = cluster_std,
                           .center_box = 4.0,
                           .seed = seed});
}

// Every parameter and buffer, copied.
inline std::vector<std::pair<std::string, Tensor>> snapshot(const nn::Module& model) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, tensor] : model.state_dict()) out.emplace_back(name, tensor.clone());
  return out;
}

// True when the model holds exactly the snapshot's bytes.
inline void expect_bitwise_equal(const std::vector<std::pair<std::string, Tensor>>& before,
                                 const nn::Module& model) {
  const nn::StateDict now = model.state_dict();
  ASSERT_EQ(now.size(), before.size());
  for (const auto& [name, tensor] : before) {
    const Tensor& current = now.at(name);
    ASSERT_EQ(current.nbytes(), tensor.nbytes()) << name;
    EXPECT_EQ(std::memcmp(current.raw_data(), tensor.raw_data(), tensor.nbytes()), 0)
        << name << " changed";
  }
}

}  // namespace descent::testing

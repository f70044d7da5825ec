// Whether Fashion-MNIST can be found (the experiments' tests skip without it).
#pragma once

#include "descent/data/fashion_mnist.hpp"

namespace descent::testing {

inline bool have_fashion_mnist() {
  try {
    data::find_fashion_mnist();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace descent::testing

// conv2d's shape checks and geometry, shared by ops::conv2d and ops::conv2d_mixed.
#pragma once

#include "descent/core/tensor.hpp"
#include "descent/kernels/conv.hpp"
#include "descent/ops/conv.hpp"

namespace descent::ops::detail {

// Checks the shapes (x (N, C, H, W), weight (O, C, KH, KW), bias (O) when not null) and the
// options, with conv2d's messages, and returns the geometry with OH and OW filled.
kernels::Conv2dGeometry conv2d_geometry(const Shape& x, const Shape& weight, const Shape* bias,
                                        const Conv2dOptions& options);

}  // namespace descent::ops::detail

// All differentiable ops.
#pragma once

#include "descent/autograd/autograd.hpp"
#include "descent/ops/activation.hpp"
#include "descent/ops/arith.hpp"
#include "descent/ops/autocast.hpp"
#include "descent/ops/conv.hpp"
#include "descent/ops/dropout.hpp"
#include "descent/ops/embedding.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/math.hpp"
#include "descent/ops/norm.hpp"
#include "descent/ops/reduce.hpp"
#include "descent/ops/shape.hpp"

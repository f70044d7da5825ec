// The landscape layer: filter-normalized directions, loss scans and interpolation, Hessian
// curvature (top eigenvalue, trace), and the learning-rate range test.
#pragma once

#include "descent/landscape/directions.hpp"
#include "descent/landscape/eval_set.hpp"
#include "descent/landscape/hessian.hpp"
#include "descent/landscape/lr_find.hpp"
#include "descent/landscape/scan.hpp"

// Everything in nn: Module, flat parameters, initialization, layers, residual blocks, the
// model zoo and model summaries.
#pragma once

#include "descent/nn/flat.hpp"
#include "descent/nn/info.hpp"
#include "descent/nn/init.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/module.hpp"
#include "descent/nn/recurrent.hpp"
#include "descent/nn/residual.hpp"
#include "descent/nn/transformer.hpp"
#include "descent/nn/zoo.hpp"

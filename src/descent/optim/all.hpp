// Every optimizer; including this registers them all (see registry.hpp).
#pragma once

#include "descent/optim/adadelta.hpp"
#include "descent/optim/adagrad.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/adamax.hpp"
#include "descent/optim/adamw.hpp"
#include "descent/optim/lamb.hpp"
#include "descent/optim/lars.hpp"
#include "descent/optim/lion.hpp"
#include "descent/optim/nadam.hpp"
#include "descent/optim/radam.hpp"
#include "descent/optim/registry.hpp"
#include "descent/optim/rmsprop.hpp"
#include "descent/optim/sgd.hpp"

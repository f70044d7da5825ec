// The subcommands of `descent`. Each returns the exit status; errors throw (UsageError for a
// mistake in the call, exit status 2; anything else, exit status 1).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

namespace descent::cli {

// Registers `train` on `app`; the returned callback runs it once parsing succeeded.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_train(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_info(CLI::App& app);
Command add_schedule(CLI::App& app);
Command add_trace(CLI::App& app);
Command add_experiment(CLI::App& app);
Command add_landscape(CLI::App& app);  // landscape.cpp
Command add_lr_find(CLI::App& app);    // lr_find.cpp

}  // namespace descent::cli

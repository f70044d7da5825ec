// The `descent` command: train, eval, info, schedule, trace, experiment (and, as they land,
// landscape and lr-find). Each subcommand registers itself from its own file (commands.hpp).
//
// Exit status: 0 on success, 2 on a mistake in the call (an unknown flag, model or
// optimizer, a value out of range, a bad config file), 1 on an error while running (a
// missing or corrupt file, an unwritable folder, a checkpoint of another model, a NaN).
// Every error is one line on stderr: "descent: <what, naming the flag, key or file>".
#include <cstdio>
#include <exception>
#include <string>

#include "descent/cli/commands.hpp"
#include "descent/cli/config.hpp"
#include "descent/core/thread_pool.hpp"

namespace {

// Messages from the library may span lines (a list of paths tried); the command prints one.
std::string one_line(std::string message) {
  while (!message.empty() && message.back() == '\n') message.pop_back();
  std::string out;
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] != '\n') {
      out += message[i];
      continue;
    }
    const bool indented = i + 1 < message.size() && message[i + 1] == ' ';
    while (i + 1 < message.size() && message[i + 1] == ' ') ++i;
    out += indented ? " " : "; ";
  }
  return out;
}

void print_error(const char* message) {
  std::fprintf(stderr, "descent: %s\n", one_line(message).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("descent: train neural networks with the modern optimization toolkit.", "descent");
  app.require_subcommand(0, 1);
  app.footer("Run 'descent <command> --help' for a command's options.");
  const descent::cli::Command commands[] = {
      descent::cli::add_train(app),     descent::cli::add_eval(app),
      descent::cli::add_info(app),      descent::cli::add_schedule(app),
      descent::cli::add_trace(app),     descent::cli::add_experiment(app),
      descent::cli::add_landscape(app), descent::cli::add_lr_find(app)};
  CLI::App* help = app.add_subcommand("help", "Print this message");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help: the help of the command it follows
      std::fputs(app.help().c_str(), stdout);
      return 0;
    }
    print_error(e.what());
    return 2;
  }
  try {
    // DESCENT_REGIONS (core/thread_pool.hpp) is read at the first parallel region; a bad value
    // is refused here, before any work, rather than from inside the first op that runs one
    descent::region_runtime();
  } catch (const std::exception& e) {
    print_error(e.what());
    return 2;
  }
  try {
    if (help->parsed()) {  // the top-level help (app.help() would give the subcommand's)
      std::fputs(
          app.get_formatter()->make_help(&app, "descent", CLI::AppFormatMode::Normal).c_str(),
          stdout);
      return 0;
    }
    for (const descent::cli::Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const descent::cli::UsageError& e) {
    print_error(e.what());
    return 2;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}
